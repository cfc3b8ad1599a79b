#!/bin/sh
# test_net_http.sh FCGET NET_CHECK: libfaultcache-net and fcget against
# nginx on loopback (started and stopped here): plain HTTP, HTTPS verified
# against a certificate made here, HTTP/2 (TLS and prior knowledge), a
# redirect; the whole object and ranges compared with the file; 404, 403
# and 500 (nginx "return"); a server that stalls one range while other
# pages are read; a server stopped mid-run; an object replaced mid-run;
# 1 MiB of cache over a 64 MiB object.
set -eu
FCGET=$1
CHECK=$2
NET_SRC=$(cd "$(dirname "$0")" && pwd)
. "$NET_SRC/servers.sh"
dir=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/fcnet-http.XXXXXX")
chmod 755 "$dir"
cleanup() {
	net_stop_all "$dir"
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
www=$dir/www
mkdir -p "$www"

head -c 25165829 /dev/urandom > "$www/data.bin"	# 24 MiB + 5: a partial page
head -c 67108864 /dev/urandom > "$www/big.bin"
cat > "$dir/nginx-locations.conf" <<'EOF'
location = /moved/data.bin { return 302 /data.bin; }
location /e403/ { if ($request_method = GET) { return 403; } alias WWW/; }
location /e404/ { if ($request_method = GET) { return 404; } alias WWW/; }
location /e500/ { if ($request_method = GET) { return 500; } alias WWW/; }
# ranges from 10,000,000 on fail: the bytes before them must come out
location /late500/ {
	if ($http_range ~ "^bytes=(1[0-9]{7}|[2-9][0-9]{7}|[0-9]{9,})-") {
		return 500;
	}
	alias WWW/;
}
location /stall/ { limit_rate $stall_rate; alias WWW/; }
EOF
sed -i "s|WWW|$www|g" "$dir/nginx-locations.conf"
stall_off=16777216
stall_map="map \$http_range \$stall_rate { default 0; \"~^bytes=$stall_off-\" 1; }"
nginx_start "$dir" "$stall_map" || fail "nginx"
http=http://127.0.0.1:$NGINX_PORT
https=https://127.0.0.1:$NGINX_TLS_PORT
h2c=http://127.0.0.1:$NGINX_H2C_PORT

want() {	# OFFSET LENGTH FILE -> $dir/want
	tail -c +$(($1 + 1)) "$3" | head -c "$2" > "$dir/want"
}

echo "== whole object, plain HTTP"
"$FCGET" --stats "$http/data.bin" > "$dir/out" 2> "$dir/err" ||
	fail "get: $(cat "$dir/err")"
cmp "$dir/out" "$www/data.bin" || fail "whole object differs"
grep -q "25165829 bytes fetched (1.000 per byte out)" "$dir/err" ||
	fail "stats: $(cat "$dir/err")"
grep -q "HTTP/1.1" "$dir/err" || fail "not HTTP/1.1: $(cat "$dir/err")"
cat "$dir/err"

echo "== ranges"
for r in "0 1" "4095 2" "5000 1000000" "16777216 4096" "25165828 1" \
	 "12345 0" "25165824 5"; do
	set -- $r
	if [ "$2" = 0 ]; then
		"$FCGET" --offset "$1" "$http/data.bin" > "$dir/out"
		want "$1" 100000000 "$www/data.bin"
	else
		"$FCGET" --offset "$1" --length "$2" "$http/data.bin" > "$dir/out"
		want "$1" "$2" "$www/data.bin"
	fi
	cmp "$dir/out" "$dir/want" || fail "range $1+$2 differs"
done
"$CHECK" random "$http/data.bin" "$www/data.bin" 4 100 || fail "random ranges"

echo "== HTTPS, verified against the test's certificate, HTTP/2"
"$FCGET" --stats --cacert "$NGINX_CA" "$https/data.bin" > "$dir/out" \
	2> "$dir/err" || fail "https: $(cat "$dir/err")"
cmp "$dir/out" "$www/data.bin" || fail "https differs"
grep -q "HTTP/2.0" "$dir/err" || fail "not HTTP/2: $(cat "$dir/err")"
CURL_CA_BUNDLE=$NGINX_CA "$FCGET" --offset 1M --length 100000 \
	"$https/data.bin" > "$dir/out" || fail "CURL_CA_BUNDLE"
want 1048576 100000 "$www/data.bin"
cmp "$dir/out" "$dir/want" || fail "https range differs"
"$FCGET" --stats --http1.1 --cacert "$NGINX_CA" --length 3M \
	"$https/data.bin" > "$dir/out" 2> "$dir/err" || fail "https 1.1"
grep -q "HTTP/1.1" "$dir/err" || fail "--http1.1: $(cat "$dir/err")"
if "$FCGET" "$https/data.bin" > "$dir/out" 2> "$dir/err"; then
	fail "an unknown certificate was accepted"
fi
grep -q "certificate" "$dir/err" || fail "message: $(cat "$dir/err")"
[ ! -s "$dir/out" ] || fail "bytes written despite the failed check"
"$FCGET" -k --length 1M "$https/data.bin" > "$dir/out" || fail "-k"
"$FCGET" --stats --http2-prior-knowledge --offset 3 --length 5000000 \
	"$h2c/data.bin" > "$dir/out" 2> "$dir/err" || fail "h2c: $(cat "$dir/err")"
want 3 5000000 "$www/data.bin"
cmp "$dir/out" "$dir/want" || fail "h2c differs"
grep -q "HTTP/2.0" "$dir/err" || fail "h2c: $(cat "$dir/err")"
CURL_CA_BUNDLE=$NGINX_CA "$CHECK" random "$https/data.bin" "$www/data.bin" 4 50 ||
	fail "random ranges over HTTP/2"

echo "== redirect"
"$FCGET" --length 2M "$http/moved/data.bin" > "$dir/out" || fail "redirect"
want 0 2097152 "$www/data.bin"
cmp "$dir/out" "$dir/want" || fail "redirect differs"

echo "== errors: open, and reads (SIGBUS with the offset)"
if "$FCGET" "$http/nothing.bin" > /dev/null 2> "$dir/err"; then
	fail "a missing object was opened"
fi
grep -q "HTTP 404 Not Found" "$dir/err" || fail "404 message: $(cat "$dir/err")"
for e in 403:13:Forbidden 404:2:Not 500:5:Internal; do
	code=${e%%:*}; rest=${e#*:}; errno=${rest%%:*}; word=${rest#*:}
	if "$FCGET" --retry 1 --retry-delay 0.01 --offset 8192 \
	   "$http/e$code/data.bin" > "$dir/out" 2> "$dir/err"; then
		fail "HTTP $code read"
	fi
	grep -q "read error at offset 8192: HTTP $code $word" "$dir/err" ||
		fail "$code message: $(cat "$dir/err")"
	[ ! -s "$dir/out" ] || fail "bytes written for $code"
	cat "$dir/err"
	"$CHECK" fail "$http/e$code/data.bin" 1234567 "$errno" "HTTP $code" ||
		fail "$code through the API"
done
grep -q "2 attempts" "$dir/err" || fail "500 not retried: $(cat "$dir/err")"
"$FCGET" --retry 2 --retry-delay 0.01 --stats "$http/late500/data.bin" \
	> "$dir/out" 2> "$dir/err" && fail "late 500"
cat "$dir/err"
off=$(sed -n 's/.*read error at offset \([0-9]*\): HTTP 500.*/\1/p' "$dir/err")
[ -n "$off" ] && [ "$off" -ge 10000000 ] || fail "late 500 offset: $(cat "$dir/err")"
n=$(stat -c %s "$dir/out")
[ "$n" -le "$off" ] && [ "$n" -ge 8388608 ] || fail "$n bytes written, error at $off"
want 0 "$n" "$www/data.bin"
cmp "$dir/out" "$dir/want" || fail "bytes before the error differ"

echo "== 1 MiB of cache over a 64 MiB object"
"$FCGET" --stats --cache-size 1M --readahead 256K "$http/big.bin" \
	> "$dir/out" 2> "$dir/err" || fail "budget: $(cat "$dir/err")"
cmp "$dir/out" "$www/big.bin" || fail "budget: differs"
cat "$dir/err"

echo "== an object replaced mid-run"
"$CHECK" change "$http/big.bin" "$www/big.bin" || fail "replaced object"

echo "== a stalled range holds up nothing else"
rm -f "$dir/flag"
"$CHECK" stall "$http/stall/data.bin" "$www/data.bin" $stall_off \
	"$dir/flag" > "$dir/stall.out" 2>&1 &
pid=$!
while [ ! -e "$dir/flag" ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
# the stalled connection is cut (reload: new workers take new connections
# at once, the old one is closed after worker_shutdown_timeout)
sed -i "s|\"~^bytes=$stall_off-\" 1;|\"~^never\" 1;|" "$dir/nginx.conf"
kill -HUP "$(cat "$dir/nginx.master")"
wait $pid || { cat "$dir/stall.out"; fail "stall"; }
cat "$dir/stall.out"

echo "== the server stopped mid-run"
mkfifo "$dir/fifo"
"$FCGET" --cache-size 4M --readahead 1M --retry 1 --retry-delay 0.01 \
	"$http/big.bin" > "$dir/fifo" 2> "$dir/err" &
pid=$!
exec 3< "$dir/fifo"
dd bs=1M count=4 iflag=fullblock status=none <&3 > "$dir/out"
nginx_stop "$dir"
# fcget ends at its next read (a refused connection, a retry, then the
# error): a hang is reported with what it said, well before the test's
# own time limit
if ! timeout 60 cat <&3 >> "$dir/out"; then
	cat "$dir/err"
	kill -KILL $pid 2>/dev/null || true
	fail "fcget still running 60 s after its server stopped"
fi
exec 3<&-
if wait $pid; then fail "fcget went on without its server"; fi
cat "$dir/err"
grep -q "read error at offset [0-9]*: .*curl error 7" "$dir/err" ||
	fail "stopped server: $(cat "$dir/err")"
n=$(stat -c %s "$dir/out")
want 0 "$n" "$www/big.bin"
cmp "$dir/out" "$dir/want" || fail "bytes before the stop differ"
echo "PASS"
