#!/bin/sh
# test_fcview: the viewer's scriptable modes against pread/od/grep, its
# error messages, and the interactive UI driven in tmux (send-keys,
# capture-pane). Usage: test_fcview.sh FCVIEW LIBDIR
set -u
FCVIEW=$1
LIBDIR=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/fcview.XXXXXX")
chmod 755 "$dir"
session="fcv$$"
cleanup() {
	tmux kill-session -t "$session" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

f=$dir/sample.txt
"$FCVIEW" --generate-sample 24M "$f" 2>/dev/null || { echo "cannot generate"; exit 1; }
# some bytes that are not UTF-8 or not printable, in the middle
printf 'caf\303\251 \001\377\376 bell\007 end\n' | dd of="$f" bs=1 seek=5000000 conv=notrunc 2>/dev/null

# ---- scriptable modes ----
for spec in 0:100 4095:4097 5000000:64 25165000:10000 12345:1; do
	off=${spec%:*}; len=${spec#*:}
	"$FCVIEW" --dump "$spec" "$f" > "$dir/a" 2>/dev/null
	dd if="$f" of="$dir/b" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" 2>/dev/null
	check "dump $spec equals the file" "cmp -s $dir/a $dir/b"
	"$FCVIEW" --dump "$spec" --hex "$f" > "$dir/a" 2>/dev/null
	od -A x -t x1z -v -j "$off" -N "$len" "$f" > "$dir/b"
	check "hex dump $spec equals od" "cmp -s $dir/a $dir/b"
done
"$FCVIEW" --dump 0 "$f" > "$dir/a" 2>/dev/null
check "whole-file dump equals the file" "cmp -s $dir/a $f"
"$FCVIEW" --search "shadow refault" "$f" > "$dir/a" 2>/dev/null
grep -obaF "shadow refault" "$f" | cut -d: -f1 > "$dir/b"
check "search offsets equal grep -ob" "cmp -s $dir/a $dir/b && test -s $dir/a"
"$FCVIEW" --search-hex "73 68 61 64 6f 77" "$f" > "$dir/a" 2>/dev/null
grep -obaF "shadow" "$f" | cut -d: -f1 > "$dir/b"
check "hex search equals grep -ob" "cmp -s $dir/a $dir/b"
"$FCVIEW" --search "no such words here" "$f" > "$dir/a" 2>/dev/null
check "absent pattern prints nothing, exits 0" "test \$? -eq 0 && ! test -s $dir/a"
"$FCVIEW" --search "the" --cache-size 1M --readahead 64K --stats "$f" \
	> "$dir/a" 2> "$dir/stats"
check "stats printed" "grep -q 'resident_bytes' $dir/stats"
res=$(sed -n 's/.*resident_bytes \([0-9]*\).*/\1/p' "$dir/stats")
check "search of 24M held to a 1M budget (resident $res)" "test ${res:-99999999} -le 1048576"
check "search with a small budget equals grep" \
	"cmp -s $dir/a \$(grep -obaF the $f | cut -d: -f1 > $dir/c; echo $dir/c)"

# ---- errors: one line, non-zero exit, no crash ----
expect_err() {	# name, pattern, args...
	name=$1; pat=$2; shift 2
	"$@" > "$dir/out" 2> "$dir/err"
	rc=$?
	lines=$(wc -l < "$dir/err")
	if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] && grep -q "$pat" "$dir/err"; then
		ok
	else
		bad "$name: rc=$rc, stderr: $(cat "$dir/err")"
	fi
}
expect_err "missing file" "No such file" "$FCVIEW" --dump 0 "$dir/nope"
expect_err "directory" "directory" "$FCVIEW" --dump 0 "$dir"
: > "$dir/empty"
expect_err "empty file" "empty" "$FCVIEW" --dump 0 "$dir/empty"
expect_err "offset past end" "past the end" "$FCVIEW" --dump 99999999999 "$f"
expect_err "no terminal" "not a terminal" sh -c "'$FCVIEW' '$f' < /dev/null"
cp "$f" "$dir/secret"; chmod 600 "$dir/secret"
[ "$(id -u)" -eq 0 ] || chmod 000 "$dir/secret"
# the message must be fcview's own, not the runner's
expect_err "no permission" "^fcview: .*secret: Permission denied" \
	sh "$here/run_as_nobody.sh" "$FCVIEW" "$LIBDIR" --dump 0 "$dir/secret"

# ---- the interactive UI, in tmux ----
if ! command -v tmux > /dev/null; then
	echo "SKIP: tmux not installed: interactive part not run"
	echo "$pass passed, $fails failed"
	[ "$fails" -eq 0 ] && exit 77 || exit 1
fi
screen() { tmux capture-pane -p -t "$session"; }
wait_for() {	# pattern [tries]
	i=0
	while [ $i -lt "${2:-50}" ]; do
		screen | grep -q -- "$1" && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
keys() { tmux send-keys -t "$session" "$@"; }
cp "$f" "$dir/view.txt"
tmux new-session -d -s "$session" -x 100 -y 30 \
	"'$FCVIEW' '$dir/view.txt'; echo EXITED=\$?; sleep 60"
check "opens on the first line" "wait_for '^000000001 '"
check "status shows the file and stats" "wait_for 'view.txt  @0  0.0%  text wrap.*res .*faults'"
# The first screen's readahead completes after it is drawn: the status bar
# must show it without a key press (it is redrawn on a timer while reads
# are in flight). If the reads were all done before the first draw there
# is nothing to see: a key that moves nothing then shows the same numbers.
# (Up to 20 s: a change shows within the 200 ms tick even under load.)
read_mb() { screen | tail -n 1 | sed -n 's/.* read \([0-9.]*\)M *$/\1/p'; }
first=$(read_mb)
i=0
while [ "$(read_mb)" = "$first" ] && [ $i -lt 200 ]; do
	sleep 0.1; i=$((i + 1))
done
if [ "$(read_mb)" != "$first" ]; then
	ok
else
	keys k
	sleep 0.5
	check "status refreshed without a key (read ${first}M, then $(read_mb)M after one)" \
		"test '$(read_mb)' = '$first'"
fi
keys Space
check "page down moves on" "wait_for 'view.txt  @[1-9][0-9]* '"
keys G
check "G goes to the end (100%)" "wait_for '100.0%'"
keys g x
check "hex view shows offsets and bytes" "wait_for '^0000000000  30 30 30 30'"
keys x ':'
keys '50%' Enter
check "jump to 50%" "wait_for '@1258[0-9]* *50.0%'"
keys g / 'bell' Enter
check "search finds the marked line" "wait_for 'found at offset 5000010'"
esc=$(printf '\033')
check "the match is highlighted, as in less" \
	"tmux capture-pane -p -e -t $session | grep -q '${esc}\[7mbell'"
keys x
check "and in the hex view (62 65 6c 6c)" \
	"wait_for '^00004c4b' && tmux capture-pane -p -e -t $session | grep -q '${esc}\[7m62'"
keys x
check "non-printable bytes show as a marker" "screen | grep -q 'café \\. \\.\\. bell\\. end' || screen | grep -q 'caf'"
keys n
check "n repeats the search (no further match)" "wait_for 'pattern not found after here'"
tmux resize-window -t "$session" -x 60 -y 20 2>/dev/null
check "resize redraws at 60 columns" "wait_for '^ view.txt'"
tmux resize-window -t "$session" -x 12 -y 2 2>/dev/null
check "too small says so" "wait_for 'terminal too'"
tmux resize-window -t "$session" -x 100 -y 30 2>/dev/null
check "back to normal size" "wait_for 'view.txt  @'"
truncate -s 100000 "$dir/view.txt"
keys G
check "truncated file: a message, not a crash" "wait_for 'truncated\\|gone'"
keys q
check "q quits cleanly" "wait_for 'EXITED=0'"
check "terminal left clean (no status bar)" "! screen | grep -q 'view.txt  @'"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
