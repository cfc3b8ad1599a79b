#!/bin/sh
# in_root.sh DIR: run by test_packages.sh inside the throw-away root, with
# the .deb files and tests/consumer in DIR. Installs the packages, checks
# what they hold, builds and runs the consumers against them, and removes
# the packages again.
set -eu
d=$1
cd "$d"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
	    gcc -print-multiarch)
libdir=/usr/lib/$multiarch
fail() { echo "FAIL: $*"; exit 1; }

dpkg -i ./*.deb > dpkg.log 2>&1 || { cat dpkg.log; fail "dpkg -i"; }
for p in libfaultcache0 libfaultcache-dev libfaultcache-net0 \
	 libfaultcache-net-dev faultcache-tools; do
	echo "  installed $p $(dpkg-query -W -f '${Version}' $p):" \
		"$(dpkg -L $p | while read -r f; do [ -d "$f" ] || echo; done | wc -l) files"
done

# what each package must hold, and must not
test -e "$libdir/libfaultcache.so.0" || fail "no libfaultcache.so.0"
test "$(dpkg -S "$libdir/libfaultcache.so.0" | cut -d: -f1)" = libfaultcache0 ||
	fail "libfaultcache.so.0 is not in libfaultcache0"
for f in /usr/include/faultcache.h "$libdir/libfaultcache.so" \
	 "$libdir/pkgconfig/libfaultcache.pc" \
	 "$libdir/cmake/faultcache/faultcacheConfig.cmake" \
	 /usr/share/man/man3/fc_map.3.gz /usr/share/man/man7/faultcache.7.gz; do
	dpkg -S "$f" | grep -q '^libfaultcache-dev:' || fail "$f not in libfaultcache-dev"
done
for f in /usr/bin/fcview /usr/bin/fcbench /usr/bin/fcget \
	 /usr/share/man/man1/fcview.1.gz /usr/share/man/man1/fcbench.1.gz \
	 /usr/share/man/man1/fcget.1.gz; do
	dpkg -S "$f" | grep -q '^faultcache-tools:' || fail "$f not in faultcache-tools"
done
test "$(dpkg -S "$libdir/libfaultcache-net.so.0" | cut -d: -f1)" = \
	libfaultcache-net0 || fail "libfaultcache-net.so.0 is not in libfaultcache-net0"
for f in /usr/include/faultcache-net.h "$libdir/libfaultcache-net.so" \
	 "$libdir/pkgconfig/libfaultcache-net.pc" \
	 "$libdir/cmake/faultcache/faultcacheNetTargets.cmake" \
	 /usr/share/man/man3/fc_net_open.3.gz; do
	dpkg -S "$f" | grep -q '^libfaultcache-net-dev:' ||
		fail "$f not in libfaultcache-net-dev"
done
test ! -e "$libdir/libfaultcache.a" || fail "a static library is installed"
nm -D --defined-only "$libdir/libfaultcache.so.0" | grep -q ' fc__' &&
	fail "the library exports fc__ internals"

# consumers, through pkg-config and find_package, as C and C++
pc_libdir=$(pkg-config --variable=libdir libfaultcache)
test "$(readlink -f "$pc_libdir")" = "$libdir" ||
	fail "pkg-config finds libfaultcache in $pc_libdir"
cc -Wall -Werror -o pc_consumer consumer/main.c \
	$(pkg-config --cflags --libs libfaultcache)
loaded=$(ldd ./pc_consumer | sed -n 's/.*libfaultcache.so.0 => \([^ ]*\).*/\1/p')
test "$(readlink -f "$loaded")" = "$(readlink -f "$libdir/libfaultcache.so.0")" ||
	fail "pc_consumer loads '$loaded', not the packaged library"
./pc_consumer
FC_INLINE=1 ./pc_consumer
cmake -S consumer -B cm > cmake.log 2>&1 || { cat cmake.log; fail "find_package"; }
cmake --build cm > build.log 2>&1 || { cat build.log; fail "consumer build"; }
./cm/consumer_c
./cm/consumer_cxx
cc -Wall -Werror -o net_pc_consumer net_consumer/main.c \
	$(pkg-config --cflags --libs libfaultcache-net)
./net_pc_consumer
cmake -S net_consumer -B netcm > cmake.log 2>&1 ||
	{ cat cmake.log; fail "find_package(faultcache COMPONENTS net)"; }
cmake --build netcm > build.log 2>&1 || { cat build.log; fail "net consumer build"; }
./netcm/net_consumer_c
./netcm/net_consumer_cxx

# the tools, and their manual pages where man(1) looks
head -c 100 /etc/os-release > want
fcview --dump 0:100 /etc/os-release > got
cmp -s want got || fail "fcview --dump differs from the file"
fcbench --help > /dev/null || fail "fcbench --help"
if command -v man > /dev/null; then
	for page in fcview fcbench fcget fc_map fc_unmap fc_net_open faultcache; do
		man -w "$page" > /dev/null || fail "man $page finds no page"
	done
fi

dpkg --purge faultcache-tools libfaultcache-net-dev libfaultcache-dev \
	libfaultcache-net0 libfaultcache0 > dpkg.log 2>&1 ||
	{ cat dpkg.log; fail "dpkg --purge"; }
test ! -e "$libdir/libfaultcache.so.0" || fail "libfaultcache.so.0 left after purge"
echo "  consumers built and ran through pkg-config and find_package; packages purged"
