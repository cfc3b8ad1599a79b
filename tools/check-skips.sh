#!/bin/sh
# check-skips.sh BUILD_DIR CTEST_LOG: fail if a test skipped that must run
# on this machine.
#
# A test may exit 77 (SKIP) only for a need this machine lacks; its needs
# are its CTest labels "needs:X" (tests/CMakeLists.txt says which X
# exist). This script finds what the machine has, reads the skipped tests
# from ctest's log (ctest -O), and fails for every skipped test none of
# whose needs is missing here: on a root machine with Linux 6.6 or later
# and FC_TEST_SYSTEM=1 nothing may skip at all, so a regression in cache
# creation cannot pass as "all skipped".
set -eu
build=$1
log=$2

# missing X: does this machine lack need X?
kernel_at_least() {	# MAJOR MINOR
	v=$(uname -r)
	maj=${v%%.*}; rest=${v#*.}; min=${rest%%[!0-9]*}
	[ "$maj" -gt "$1" ] || { [ "$maj" -eq "$1" ] && [ "$min" -ge "$2" ]; }
}
missing() {
	case $1 in
	root) [ "$(id -u)" -ne 0 ] ;;
	system) [ "${FC_TEST_SYSTEM:-}" != 1 ] ;;
	thp) [ ! -e /sys/kernel/mm/transparent_hugepage/shmem_enabled ] ;;
	abidiff) ! command -v abidiff > /dev/null ;;
	lease) [ "$(cat /proc/sys/fs/leases-enable 2>/dev/null || echo 0)" != 1 ] ;;
	# every userfaultfd feature the library can use is in 6.6
	# (UFFD_FEATURE_POISON); root may use it; io_uring_disabled=2
	# refuses io_uring even to root
	uffd) [ "$(id -u)" -ne 0 ] || ! kernel_at_least 6 6 ||
		[ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 2 ] ;;
	*) return 1 ;;
	esac
}

# the SKIP lines the test printed: ctest keeps every output in LastTest.log,
# which the ctest -N below overwrites, so a copy is read
outputs=$(mktemp)
trap 'rm -f "$outputs"' EXIT
cp "$build/Testing/Temporary/LastTest.log" "$outputs" 2>/dev/null || true
reason() {
	awk -v t="$1" '$0 ~ " Test: " t "$" { f = 1 }
		f && /SKIP/ { print "    " $0 }
		f && /^<end of output>/ { f = 0 }' "$outputs"
}

skipped=$(sed -n '/The following tests did not run:/,/^$/s/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$log")
[ -n "$skipped" ] || exit 0
bad=0
for t in $skipped; do
	why=""
	labels=$(cd "$build" && ctest -N -V -FA '.*' -R "^$t\$" 2>/dev/null |
		sed -n 's/^Labels://p')
	for l in $labels; do
		case $l in needs:*) ;; *) continue ;; esac
		if missing "${l#needs:}"; then
			why="$why ${l#needs:}"
		fi
	done
	if [ -n "$why" ]; then
		echo "skip allowed: $t (this machine lacks:$why)"
	else
		echo "FAIL: $t skipped, but this machine has all it needs" \
			"(labels:${labels:- none})"
		bad=1
	fi
	reason "$t"
done
exit $bad
