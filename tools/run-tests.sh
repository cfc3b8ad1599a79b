#!/bin/sh
# The test command of the README and of CI (.ci/run): installs the
# dependencies, then builds and runs the whole suite three times (plain
# with warnings as errors, ASan+UBSan with the debug build's assertions
# (FC_DEBUG), TSan), then installs the library
# into a scratch prefix and builds a consumer through pkg-config and
# find_package, as C and as C++.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
sh tools/deps.sh
jobs=$(nproc)
# test files go to a world-readable place on a real file system so that
# O_DIRECT is exercised and the unprivileged test (as nobody) can use it:
# a directory of this run, which must be empty after each suite (tests
# leave nothing behind) and is removed at the end
scratch=""	# what this script made and removes at exit
trap 'rm -rf $scratch' EXIT
if [ -z "${FC_TEST_DIR:-}" ]; then
	FC_TEST_DIR=$(mktemp -d /var/tmp/fctests.XXXXXX)
	chmod 1777 "$FC_TEST_DIR"	# as /var/tmp: test_unpriv runs as nobody
	scratch="$FC_TEST_DIR"
fi
export FC_TEST_DIR
if [ "${FC_TEST_SYSTEM:-}" = 1 ]; then
	echo "FC_TEST_SYSTEM=1: tests labelled 'system' change machine-wide settings (README)"
fi

run_suite() {	# name, cmake args...
	name=$1; shift
	echo "=== $name build"
	cmake -S . -B "build-$name" -DFC_WERROR=ON "$@" >/dev/null
	cmake --build "build-$name" -j "$jobs" >/dev/null
	echo "=== $name tests"
	(cd "build-$name" && ctest -j 2 --output-on-failure --timeout 600 \
		-O ctest.log)
	# skips only for what this machine lacks (tests/CMakeLists.txt)
	sh tools/check-skips.sh "build-$name" "build-$name/ctest.log"
	left=$(ls -A "$FC_TEST_DIR")
	if [ -n "$left" ]; then
		echo "FAIL: the $name suite left files in $FC_TEST_DIR: $left"
		exit 1
	fi
}

run_suite plain -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite asan -DCMAKE_BUILD_TYPE=Debug "-DFC_SANITIZE=address;undefined" \
	-DFC_DEBUG=ON
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	run_suite tsan -DCMAKE_BUILD_TYPE=Debug -DFC_SANITIZE=thread

echo "=== install and consumers"
prefix=$(mktemp -d)
scratch="$scratch $prefix"
cmake --install build-plain --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
libdir=$(pkg-config --variable=libdir libfaultcache)
# the preload library beside the library, finding it from there
test -f "$prefix/share/man/man7/libfaultcache-preload.7"
FC_PRELOAD_STATS=1 LD_PRELOAD="$libdir/libfaultcache-preload.so" /bin/true 2>&1 |
	grep -q '^faultcache: '
cc -Wall -Werror -o "$prefix/pc_consumer" tests/consumer/main.c \
	$(pkg-config --cflags --libs libfaultcache) -Wl,-rpath,"$libdir"
"$prefix/pc_consumer"
FC_INLINE=1 "$prefix/pc_consumer"
cmake -S tests/consumer -B "$prefix/cm" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_BUILD_RPATH="$libdir" >/dev/null
cmake --build "$prefix/cm" >/dev/null
"$prefix/cm/consumer_c"
"$prefix/cm/consumer_cxx"
test -f "$prefix/include/faultcache/version.h"
test -f "$prefix/share/man/man3/fc_map.3"
test -f "$prefix/share/man/man3/fc_map_backend.3"
test -f "$prefix/share/man/man3/fc_handle_sigbus.3"
test -x "$prefix/bin/fcget"
test -f "$prefix/share/man/man1/fcget.1"
test -f "$prefix/share/man/man3/fc_net_open.3"
test -f "$prefix/include/faultcache-net.h"
cc -Wall -Werror -o "$prefix/net_pc_consumer" net/tests/consumer/main.c \
	$(pkg-config --cflags --libs libfaultcache-net) -Wl,-rpath,"$libdir"
"$prefix/net_pc_consumer"
cmake -S net/tests/consumer -B "$prefix/netcm" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_BUILD_RPATH="$libdir" >/dev/null
cmake --build "$prefix/netcm" >/dev/null
"$prefix/netcm/net_consumer_c"
"$prefix/netcm/net_consumer_cxx"
test -f "$prefix/share/man/man1/fcview.1"
test -x "$prefix/bin/fcview"
echo "=== all suites passed"
