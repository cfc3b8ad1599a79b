#!/bin/sh
# test_net_s3.sh FCGET NET_CHECK NODE_MODULES CURL: s3:// through an
# S3-compatible server that checks SigV4 signatures (@20minutes/s3rver,
# npm-installed into the build tree by the s3server_install test), run on
# loopback here: signed ranged GETs compared with the file, credentials
# from the environment and from a shared credentials file, a missing key,
# a wrong secret at open and mid-run (403 -> SIGBUS with the offset and
# S3's error code), and many concurrent readers.
set -eu
FCGET=$1
CHECK=$2
MODULES=$3
NET_SRC=$(cd "$(dirname "$0")" && pwd)
. "$NET_SRC/servers.sh"
command -v node >/dev/null 2>&1 || net_skip "node not installed (tools/deps.sh)"
command -v curl >/dev/null 2>&1 || net_skip "curl not installed (tools/deps.sh)"
dir=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/fcnet-s3.XXXXXX")
cleanup() {
	net_stop_all "$dir"
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=good-secret
export AWS_REGION=us-east-1 AWS_CONFIG_FILE=$dir/none
export AWS_SHARED_CREDENTIALS_FILE=$dir/credentials
s3_start "$dir" "$MODULES" good-secret || fail "S3 server"
export AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT

put() {	# FILE KEY: upload with curl, signed the same way
	code=$(curl -sS -o "$dir/put.out" -w '%{http_code}' \
		--aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$1" \
		"$AWS_ENDPOINT_URL/bkt/$2")
	[ "$code" = 200 ] || fail "PUT $2: $code $(cat "$dir/put.out")"
}
want() {	# OFFSET LENGTH FILE -> $dir/want
	tail -c +$(($1 + 1)) "$3" | head -c "$2" > "$dir/want"
}

head -c 25165829 /dev/urandom > "$dir/obj"
put "$dir/obj" "dir/my%20obj"	# the key "dir/my obj"

echo "== signed GETs: whole object and ranges"
url="s3://bkt/dir/my obj"
"$FCGET" --stats "$url" > "$dir/out" 2> "$dir/err" || fail "get: $(cat "$dir/err")"
cmp "$dir/out" "$dir/obj" || fail "whole object differs"
cat "$dir/err"
for r in "0 1" "4095 2" "5000 3000000" "25165828 1"; do
	set -- $r
	"$FCGET" --offset "$1" --length "$2" "$url" > "$dir/out" ||
		fail "range $1+$2"
	want "$1" "$2" "$dir/obj"
	cmp "$dir/out" "$dir/want" || fail "range $1+$2 differs"
done

echo "== credentials from the shared credentials file, a profile"
printf '[default]\naws_access_key_id = nobody\naws_secret_access_key = x\n[t]\naws_access_key_id = S3RVER\naws_secret_access_key = good-secret\n' \
	> "$dir/credentials"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
 AWS_PROFILE=t "$FCGET" --length 1M "$url" > "$dir/out") || fail "profile t"
want 0 1048576 "$dir/obj"
cmp "$dir/out" "$dir/want" || fail "profile t differs"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
 "$FCGET" --length 1M "$url" > "$dir/out" 2> "$dir/err") &&
	fail "the default profile's unknown key was accepted"
grep -q "HTTP 403" "$dir/err" || fail "unknown key: $(cat "$dir/err")"

echo "== a missing key, a wrong secret"
"$FCGET" "s3://bkt/no-such-key" > "$dir/out" 2> "$dir/err" &&
	fail "a missing key was opened"
grep -q "HTTP 404 Not Found" "$dir/err" || fail "missing: $(cat "$dir/err")"
cat "$dir/err"
AWS_SECRET_ACCESS_KEY=wrong "$FCGET" "$url" > "$dir/out" 2> "$dir/err" &&
	fail "a wrong secret was accepted"
grep -q "HTTP 403 Forbidden" "$dir/err" || fail "wrong secret: $(cat "$dir/err")"
cat "$dir/err"

echo "== many concurrent readers"
"$CHECK" random "$url" "$dir/obj" 16 50 || fail "16 readers"
pids=""
for i in 1 2 3 4 5 6 7 8; do
	"$FCGET" --offset $((i * 1000003)) --length 2000000 "$url" \
		> "$dir/out.$i" 2> "$dir/err.$i" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "a concurrent fcget failed"; done
for i in 1 2 3 4 5 6 7 8; do
	want $((i * 1000003)) 2000000 "$dir/obj"
	cmp "$dir/out.$i" "$dir/want" || fail "concurrent reader $i differs"
done

echo "== the key is rotated mid-run: 403 -> SIGBUS at the offset"
mkfifo "$dir/fifo"
"$FCGET" --cache-size 4M --readahead 1M "$url" > "$dir/fifo" 2> "$dir/err" &
pid=$!
exec 3< "$dir/fifo"
dd bs=1M count=4 iflag=fullblock status=none <&3 > "$dir/out"
echo rotated-secret > "$dir/s3data.secret"
kill -HUP "$(cat "$dir/s3.pid")"
cat <&3 >> "$dir/out"
exec 3<&-
if wait $pid; then fail "fcget read with a revoked secret"; fi
cat "$dir/err"
grep -q "read error at offset [0-9]*: HTTP 403 Forbidden (SignatureDoesNotMatch" \
	"$dir/err" || fail "mid-run 403: $(cat "$dir/err")"
n=$(stat -c %s "$dir/out")
want 0 "$n" "$dir/obj"
cmp "$dir/out" "$dir/want" || fail "bytes before the 403 differ"
echo "PASS"
