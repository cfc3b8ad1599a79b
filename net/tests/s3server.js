// s3server.js DIR SECRET PORT - run the S3 server of the tests
// (@20minutes/s3rver, which checks SigV4 signatures) on 127.0.0.1 with
// one bucket, "bkt", and one account, key id "S3RVER" with SECRET.
// Prints "port N" once it listens. Port 0: any free port.
'use strict';
const fs = require('fs');
const http = require('http');

// SIGUSR2 writes "REQUESTS BYTES" (bytes sent on the sockets since the
// last time, headers included) to DIR.counts, for the benchmark
let requests = 0, sent = 0, reported = 0;
const live = new Set();
const createServer = http.createServer;
http.createServer = (...args) => {
	const server = createServer(...args);
	server.on('request', () => requests++);
	server.on('connection', (sock) => {
		live.add(sock);
		sock.on('close', () => { sent += sock.bytesWritten; live.delete(sock); });
	});
	return server;
};
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
	// the benchmark's peer, s3fs 1.90, signs path-style requests in a way
	// this server refuses; S3_ALLOW_MISMATCH=1 lets it through there
	allowMismatchedSignatures: process.env.S3_ALLOW_MISMATCH === '1',
	configureBuckets: [{ name: 'bkt' }],
})
	.run()
	.then((addr) => console.log(`port ${addr.port}`))
	.catch((e) => {
		console.error(e);
		process.exit(1);
	});
process.on('SIGUSR2', () => {
	let total = sent;
	for (const sock of live) total += sock.bytesWritten;
	fs.writeFileSync(`${dir}.counts`, `${requests} ${total - reported}\n`);
	reported = total;
	requests = 0;
});
// SIGHUP: the secret becomes the contents of DIR.secret (a rotated key:
// requests signed with the old one get 403 SignatureDoesNotMatch)
process.on('SIGHUP', () => {
	account.accessKeys.set('S3RVER', fs.readFileSync(`${dir}.secret`, 'utf8').trim());
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => process.exit(0));
