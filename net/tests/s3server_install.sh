#!/bin/sh
# s3server_install.sh SRC DEST: npm-install the tests' S3 server into the
# build tree (DEST/node_modules), from the package.json and lock file in
# SRC, unless the same lock file is installed there already. Skips (77)
# only when npm is missing or the registry cannot be reached.
set -eu
src=$1
dest=$2
command -v npm >/dev/null 2>&1 || { echo "SKIP: npm not installed (tools/deps.sh)"; exit 77; }
mkdir -p "$dest"
if [ -d "$dest/node_modules/@20minutes/s3rver" ] &&
   cmp -s "$src/package-lock.json" "$dest/package-lock.json"; then
	echo "S3 server already installed in $dest"
	exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
if ! (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error) > "$dest/npm.log" 2>&1; then
	cat "$dest/npm.log"
	if grep -qE "ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH" "$dest/npm.log"; then
		echo "SKIP: the npm registry cannot be reached"
		exit 77
	fi
	exit 1
fi
echo "S3 server installed in $dest"
