#!/bin/sh
# check_version_self.sh CHECK-VERSION: the version checker passes a tree
# where everything says one version, and fails each place made to differ.
set -eu
check=$1
selftest=check_version
. "$(dirname "$0")/selftest.sh"

# a source and build tree of version 1.2.3; $1 names what is made wrong
make_tree() {
	s=$tmp/$1/src
	b=$tmp/$1/build
	mkdir -p "$s/include" "$s/lib" "$s/docs/man/man3" "$s/debian" \
		"$b/include/faultcache"
	printf '#define FC_VERSION_MAJOR 1\n#define FC_VERSION_MINOR 2\n#define FC_VERSION_PATCH 3\n#define FC_VERSION_STRING "1.2.3"\n' \
		>"$b/include/faultcache/version.h"
	printf '#include "faultcache/version.h"\n' >"$s/include/faultcache.h"
	printf 'Version: 1.2.3\n' >"$b/libfaultcache.pc"
	printf 'set(PACKAGE_VERSION "1.2.3")\n' >"$b/faultcacheConfigVersion.cmake"
	printf '.TH FC_MAP 3 2026-01-01 "libfaultcache 1.2" "libfaultcache Manual"\n' \
		>"$s/docs/man/man3/fc_map.3"
	printf '.so man3/fc_map.3\n' >"$s/docs/man/man3/fc_unmap.3"
	mkdir -p "$s/net"
	printf 'set(FC_NET_VERSION 0.4.1)\n' >"$s/net/CMakeLists.txt"
	printf '.TH FC_NET_OPEN 3 2026-01-01 "libfaultcache-net 0.4" "libfaultcache Manual"\n' \
		>"$s/docs/man/man3/fc_net_open.3"
	printf 'FAULTCACHE_0.1 {\n};\n\nFAULTCACHE_1.1 {\n} FAULTCACHE_0.1;\n' \
		>"$s/lib/libfaultcache.map"
	printf '# Changelog\n\n## 1.2.3 - 2026-01-01\n\n## 1.2.2\n' >"$s/CHANGELOG.md"
	printf 'libfaultcache (1:1.2.3-2) unstable; urgency=medium\n' \
		>"$s/debian/changelog"
	case $1 in
	header) printf '#define FC_VERSION_MINOR 3\n' >>"$s/include/faultcache.h" ;;
	pc) printf 'Version: 1.2.4\n' >"$b/libfaultcache.pc" ;;
	man) sed -i 's/libfaultcache 1.2"/libfaultcache 1.1"/' "$s/docs/man/man3/fc_map.3" ;;
	netman) sed -i 's/-net 0.4"/-net 0.3"/' "$s/docs/man/man3/fc_net_open.3" ;;
	map) printf '\nFAULTCACHE_1.3 {\n} FAULTCACHE_1.1;\n' >>"$s/lib/libfaultcache.map" ;;
	changelog) sed -i 's/## 1.2.3/## 1.2.4/' "$s/CHANGELOG.md" ;;
	debian) sed -i 's/1:1.2.3-2/1.2.2-1/' "$s/debian/changelog" ;;
	esac
}

run_check() {
	sh "$check" "$tmp/$1/src" "$tmp/$1/build" 1.2.3
}

expect good 0 '1.2.3 everywhere (2 man pages)'
expect header 1 'include/faultcache.h defines a version'
expect pc 1 'libfaultcache.pc: not'
expect man 1 'fc_map.3: footer is not "libfaultcache 1.2"'
expect netman 1 'fc_net_open.3: footer is not "libfaultcache 1.2"'
expect map 1 'node FAULTCACHE_1.3 is newer than 1.2.3'
expect changelog 1 "newest entry is '1.2.4'"
expect debian 1 'packages 1.2.2-1 (upstream 1.2.2)'
exit $status
