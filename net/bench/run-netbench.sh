#!/bin/sh
# run-netbench.sh [--reps N] [--size BYTES] [--pages N] [--out DIR]
#                 [--engines "E1 E2 ..."] [--workloads "seq rand"]
#
# The remote benchmark of docs/net.md: one object (1 GiB by default,
# random bytes, made once in $FC_BENCH_DIR or /var/tmp) served on loopback
# by nginx and by the tests' S3 server, read by:
#   curl+read   curl downloads the whole object to a file, then the file is
#               read (seq: all of it; rand: the pages); the baseline
#   fcnet       libfaultcache-net over nginx (HTTP/1.1)
#   fcnet-s3    libfaultcache-net over the S3 server (signed)
#   s3fs+mmap   s3fs (FUSE) mounted on the S3 server, the file mapped with
#               kernel mmap; the peer
# each with seq (the whole object, in order) and rand (N random 4 KiB
# pages, the same pages for every engine). Each run is cold: a new
# process, a new cache, a fresh s3fs mount. The runs of one repetition
# alternate engines. Requests and bytes are counted by the servers
# (nginx's log; the S3 server's counters), so every engine is measured
# the same way. Prints a table (median and min-max over the repetitions)
# and writes it, with every run, to DIR (default bench-results/).
# Needs root for the FUSE mount. The build tree is build-release/ (made
# by tools/build-release.sh), or $FC_BUILD.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
reps=5; size=$((1 << 30)); pages=4096; out=bench-results
engines="curl+read fcnet fcnet-s3 s3fs+mmap"; workloads="seq rand"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--pages) pages=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--engines) engines=$2; shift 2 ;;
	--workloads) workloads=$2; shift 2 ;;
	*) echo "usage: $0 [--reps N] [--size BYTES] [--pages N] [--out DIR] [--engines LIST] [--workloads LIST]" >&2; exit 2 ;;
	esac
done
build=${FC_BUILD:-build-release}
if [ -z "${FC_BUILD:-}" ]; then
	sh tools/build-release.sh
fi
bench=$top/$build/net/fcnetbench
[ -x "$bench" ] || bench=$top/$build/net/bench/fcnetbench
[ -x "$bench" ] || { echo "no fcnetbench in $build" >&2; exit 1; }
modules=$top/$build/net/tests/s3server/node_modules
sh net/tests/s3server_install.sh net/tests/s3server "$top/$build/net/tests/s3server" >/dev/null
NET_SRC=$top/net/tests
. net/tests/servers.sh

bdir=${FC_BENCH_DIR:-/var/tmp}
obj=$bdir/fcnet-bench-$size.bin
if [ ! -s "$obj" ] || [ "$(stat -c %s "$obj")" != "$size" ]; then
	echo "making $obj"
	head -c "$size" /dev/urandom > "$obj.tmp" && mv "$obj.tmp" "$obj"
fi
dir=$(mktemp -d "$bdir/fcnet-bench.XXXXXX")
chmod 755 "$dir"
mnt=$dir/mnt
cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
	net_stop_all "$dir"
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/www" "$mnt"
ln "$obj" "$dir/www/obj.bin" 2>/dev/null || ln -s "$obj" "$dir/www/obj.bin"
nginx_start "$dir" "log_format bytes \"\$body_bytes_sent\"; access_log $dir/bytes.log bytes;"
S3_ALLOW_MISMATCH=1 s3_start "$dir" "$modules" bench-secret
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=bench-secret
export AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
echo "uploading the object to the S3 server"
curl -sS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$obj" \
	"$AWS_ENDPOINT_URL/bkt/obj.bin"
echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" > "$dir/s3pw"
chmod 600 "$dir/s3pw"
http=http://127.0.0.1:$NGINX_PORT/obj.bin

nginx_counts() {	# -> "requests bytes" since the last call
	awk '{n++; b+=$1} END {printf "%d %d", n, b}' "$dir/bytes.log"
	: > "$dir/bytes.log"
}
s3_counts() {	# -> "requests bytes" since the last call
	rm -f "$dir/s3data.counts"
	kill -USR2 "$(cat "$dir/s3.pid")"
	while [ ! -s "$dir/s3data.counts" ]; do sleep 0.05; done
	cat "$dir/s3data.counts"
}

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
results=$dir/runs.txt
: > "$results"
one() {	# ENGINE WORKLOAD REP
	eng=$1; wl=$2; r=$3
	case $eng in
	curl+read)
		nginx_counts >/dev/null
		t0=$(date +%s.%N)
		first=$(curl -sS -o "$dir/dl" -w '%{time_starttransfer}' "$http")
		line=$("$bench" read "$dir/dl" "$wl" --pages "$pages")
		t1=$(date +%s.%N)
		rm -f "$dir/dl"
		secs=$(calc "$t1 - $t0")
		first=$(calc "$first * 1000")
		counts=$(nginx_counts) ;;
	fcnet)
		nginx_counts >/dev/null
		line=$("$bench" fcnet "$http" "$wl" --pages "$pages")
		counts=$(nginx_counts) ;;
	fcnet-s3)
		s3_counts >/dev/null
		line=$("$bench" fcnet "s3://bkt/obj.bin" "$wl" --pages "$pages")
		counts=$(s3_counts) ;;
	s3fs+mmap)
		s3_counts >/dev/null
		t0=$(date +%s.%N)
		s3fs bkt "$mnt" -o "url=$AWS_ENDPOINT_URL,use_path_request_style,passwd_file=$dir/s3pw,dbglevel=warn"
		while ! mountpoint -q "$mnt"; do sleep 0.01; done
		line=$("$bench" mmap "$mnt/obj.bin" "$wl" --pages "$pages")
		t1=$(date +%s.%N)
		umount "$mnt"
		counts=$(s3_counts) ;;
	esac
	used=$(echo "$line" | sed 's/.*used=\([0-9]*\).*/\1/')
	[ "$eng" = curl+read ] || secs=$(echo "$line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
	[ "$eng" = curl+read ] || first=$(echo "$line" | sed 's/.*first_ms=\([0-9.]*\).*/\1/')
	if [ "$eng" = s3fs+mmap ]; then	# the mount is part of its time
		secs=$(calc "$t1 - $t0")
		inner=$(echo "$line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
		first=$(calc "$first + ($secs - $inner) * 1000")
	fi
	set -- $counts
	printf "%s %s %s %.6f %s %s %s %.3f\n" "$eng" "$wl" "$r" "$secs" "$used" \
		"$1" "$2" "$first" >> "$results"
	printf "  %-10s %-4s rep %s: %8.3f s, %4d requests, %.3f fetched/used, first byte %.2f ms\n" \
		"$eng" "$wl" "$r" "$secs" "$1" "$(calc "$2 / $used")" "$first"
}

echo "host $(hostname), $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //')"
rep=1
while [ $rep -le "$reps" ]; do
	echo "repetition $rep of $reps"
	for wl in $workloads; do
		for eng in $engines; do
			one "$eng" "$wl" "$rep"
		done
	done
	rep=$((rep + 1))
done
echo "load after: $(uptime | sed 's/.*load average: //')"

mkdir -p "$out"
stamp=$(date +%Y%m%d-%H%M%S)
cp "$results" "$out/net-$stamp.runs"
# engine workload rep secs used reqs bytes first_ms
awk -v size="$size" '
function med(a, n,   i, j, t) {	# a[1..n] sorted in place; the median
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	k = $1 " " $2; n = ++cnt[k]; keys[k] = 1
	mbs[k, n] = $5 / $4 / 1e6; rps[k, n] = $6 / $4
	amp[k, n] = $7 / $5; fb[k, n] = $8
}
END {
	for (k in keys) {
		n = cnt[k]
		for (i = 1; i <= n; i++) { a[i] = mbs[k, i]; b[i] = rps[k, i]; c[i] = amp[k, i]; d[i] = fb[k, i] }
		m = med(a, n); lo = a[1]; hi = a[n]
		split(k, kk, " ")
		printf "| %s | %s | %.1f (%.1f-%.1f) | %.1f | %.3f | %.1f |\n", kk[1], kk[2], m, lo, hi, med(b, n), med(c, n), med(d, n)
	}
}' "$results" | sort -t'|' -k3,3 -k2,2 > "$dir/rows"
{
	echo "| engine | workload | MB/s used, median (min-max) | requests/s | fetched / used | first byte, ms |"
	echo "| --- | --- | --- | --- | --- | --- |"
	cat "$dir/rows"
} | tee "$out/net-$stamp.md"
