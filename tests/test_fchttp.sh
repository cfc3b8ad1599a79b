#!/bin/sh
# test_fchttp.sh FCHTTP: the HTTP range backend example against its own
# server on loopback. Whole file and ranges are compared with the file;
# a server that starts failing gives an error with the offset, and the
# bytes written before it are right; bad URLs and dead servers are clear
# errors.
set -eu
FCHTTP=$1
dir=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/fchttp.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

serve() {	# serve FILE [args] -> sets $port
	"$FCHTTP" serve "$@" > "$dir/port.$$" &
	pids="$pids $!"
	i=0
	while ! grep -q port "$dir/port.$$" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "server did not start"
		sleep 0.05
	done
	port=$(awk '{print $2}' "$dir/port.$$")
	rm -f "$dir/port.$$"
}

head -c 25165829 /dev/urandom > "$dir/data"	# 24 MiB + 5: a partial page
serve "$dir/data"
url=http://127.0.0.1:$port/data

"$FCHTTP" get --stats "$url" > "$dir/out" 2> "$dir/err" || fail "get: $(cat "$dir/err")"
cmp "$dir/out" "$dir/data" || fail "whole file differs"
grep -q "0 io errors" "$dir/err" || fail "stats: $(cat "$dir/err")"

# ranges, including unaligned starts and the last byte
for r in "0 1" "4095 2" "5000 1000000" "16777216 4096" "25165828 1" "12345 0"; do
	set -- $r
	if [ "$2" = 0 ]; then
		"$FCHTTP" get --offset "$1" "$url" > "$dir/out"
		tail -c +$(($1 + 1)) "$dir/data" > "$dir/want"
	else
		"$FCHTTP" get --offset "$1" --length "$2" "$url" > "$dir/out"
		tail -c +$(($1 + 1)) "$dir/data" | head -c "$2" > "$dir/want"
	fi
	cmp "$dir/out" "$dir/want" || fail "range $1+$2 differs"
done

# a small budget: the file is streamed through 1 MiB of cache
"$FCHTTP" get --cache-size 1M "$url" | cmp - "$dir/data" || fail "1M budget"

# errors are reported, never zeros
if "$FCHTTP" get --offset 25165830 "$url" > /dev/null 2> "$dir/err"; then
	fail "range past the end accepted"
fi
grep -q "past the end" "$dir/err" || fail "past end message: $(cat "$dir/err")"
if "$FCHTTP" get "ftp://x/" > /dev/null 2> "$dir/err"; then fail "ftp accepted"; fi
grep -q "not an http:// URL" "$dir/err" || fail "url message"
if "$FCHTTP" get "http://127.0.0.1:1/" > /dev/null 2> "$dir/err"; then
	fail "dead server accepted"
fi
grep -q "cannot connect" "$dir/err" || fail "connect message"

# a server that fails after 5 ranges: error with the offset, good prefix
serve "$dir/data" --fail-after 5
if "$FCHTTP" get "http://127.0.0.1:$port/" > "$dir/out" 2> "$dir/err"; then
	fail "failing server gave success"
fi
grep -q "read error at offset" "$dir/err" || fail "error message: $(cat "$dir/err")"
n=$(wc -c < "$dir/out")
[ "$n" -gt 0 ] || fail "nothing written before the error"
head -c "$n" "$dir/data" | cmp - "$dir/out" || fail "prefix before the error differs"
echo "test_fchttp: ok"
