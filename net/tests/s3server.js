// s3server.js DIR SECRET PORT - run the S3 server of the tests
// (@20minutes/s3rver, which checks SigV4 signatures) on 127.0.0.1 with
// one bucket, "bkt", and one account, key id "S3RVER" with SECRET.
// Prints "port N" once it listens. Port 0: any free port.
'use strict';
const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');

const [dir, secret, port] = process.argv.slice(2);
AWSAccount.registry.clear();
const account = new AWSAccount('123456789000', 'S3RVER');
account.createKeyPair('S3RVER', secret);
AWSAccount.registry.set('S3RVER', account);

new S3rver({
	address: '127.0.0.1',
	port: Number(port),
	directory: dir,
	silent: true,
	configureBuckets: [{ name: 'bkt' }],
})
	.run()
	.then((addr) => console.log(`port ${addr.port}`))
	.catch((e) => {
		console.error(e);
		process.exit(1);
	});
// SIGHUP: the secret becomes the contents of DIR.secret (a rotated key:
// requests signed with the old one get 403 SignatureDoesNotMatch)
process.on('SIGHUP', () => {
	const fs = require('fs');
	account.accessKeys.set('S3RVER', fs.readFileSync(`${dir}.secret`, 'utf8').trim());
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => process.exit(0));
