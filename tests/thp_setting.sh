#!/bin/sh
# thp_setting.sh save|restore FILE: the CTest fixture around the tests that
# change the machine's shmem THP setting (test_thp, the soak_thp runs).
# Each of them puts the old value back itself; this puts it back after
# them even if one was killed (a CTest timeout kills with SIGKILL).
# Not root, or FC_TEST_SYSTEM is not 1 (those tests then leave the
# setting alone): nothing to save, nothing to put back.
set -eu
knob=/sys/kernel/mm/transparent_hugepage/shmem_enabled
current() { sed -n 's/.*\[\([a-z_]*\)\].*/\1/p' "$knob"; }
case "$1" in
save)
	rm -f "$2"
	if [ "${FC_TEST_SYSTEM:-}" != 1 ]; then
		echo "FC_TEST_SYSTEM is not 1: the tests leave shmem_enabled alone"
	elif [ "$(id -u)" -eq 0 ] && [ -w "$knob" ]; then
		current > "$2"
		echo "shmem_enabled is $(cat "$2")"
	else
		echo "not root or no shmem THP: the setting is not changed"
	fi ;;
restore)
	[ -s "$2" ] || exit 0
	want=$(cat "$2")
	if [ "$(current)" != "$want" ]; then
		echo "shmem_enabled was left at $(current): put back to $want"
		echo "$want" > "$knob"
	else
		echo "shmem_enabled is $want, as before the tests"
	fi
	rm -f "$2" ;;
*)
	echo "usage: thp_setting.sh save|restore FILE" >&2
	exit 2 ;;
esac
