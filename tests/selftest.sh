# selftest.sh - sourced by the checkers' self-tests (check_*_self.sh).
# Before sourcing, set $selftest to a name; after it, define
#   make_tree NAME   build the case NAME under $tmp/NAME
#   run_check NAME   run the checker on it
# then call "expect NAME EXIT-STATUS MESSAGE" per case and "exit $status".
set -eu
tmp=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/$selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0

# expect NAME EXIT-STATUS MESSAGE: the checker ends so, and says MESSAGE
expect() {
	make_tree "$1"
	rc=0
	run_check "$1" >"$tmp/$1.out" 2>&1 || rc=$?
	if [ $rc -ne "$2" ] || ! grep -q "$3" "$tmp/$1.out"; then
		echo "FAIL: $1: exit $rc (want $2), output:"
		cat "$tmp/$1.out"
		status=1
	else
		echo "ok: $1"
	fi
}
