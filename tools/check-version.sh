#!/bin/sh
# check-version.sh SOURCE-DIR BUILD-DIR VERSION - everything that states
# the version agrees with VERSION, CMake's project(VERSION) (the one place
# that defines it):
#  - the generated faultcache/version.h, the pkg-config file and the CMake
#    package version file of BUILD-DIR say VERSION, and include/faultcache.h
#    defines no version of its own;
#  - every man page's .TH footer says "libfaultcache MAJOR.MINOR", or, for
#    the network backend's pages, "libfaultcache-net X.Y" after its own
#    version, FC_NET_VERSION in net/CMakeLists.txt;
#  - the newest node of lib/libfaultcache.map is FAULTCACHE_MAJOR.MINOR or
#    an older release's: a release that adds or changes no symbol adds no
#    node, and no node may name a release after VERSION;
#  - the newest entry of CHANGELOG.md is "## VERSION";
#  - debian/changelog, if there is one, packages VERSION upstream (its
#    newest entry, without epoch and Debian revision).
set -eu
src=$1
build=$2
v=$3
bad=0
fail() {
	echo "check-version: $*" >&2
	bad=1
}

major=${v%%.*}
rest=${v#*.}
minor=${rest%%.*}
patch=${rest#*.}
case "$major.$minor.$patch" in
*[!0-9.]* | *..* | .* | *.) echo "check-version: bad version '$v'" >&2; exit 2 ;;
esac

hdr=$build/include/faultcache/version.h
for f in "MAJOR $major" "MINOR $minor" "PATCH $patch" "STRING \"$v\""; do
	grep -q "^#define FC_VERSION_$f\$" "$hdr" 2>/dev/null ||
		fail "$hdr: no '#define FC_VERSION_$f'"
done
if grep -q '^#define FC_VERSION_\(MAJOR\|MINOR\|PATCH\|STRING\)' \
	"$src/include/faultcache.h"; then
	fail "include/faultcache.h defines a version: it comes from version.h"
fi
grep -q "^Version: $v\$" "$build/libfaultcache.pc" ||
	fail "libfaultcache.pc: not 'Version: $v'"
grep -q "^set(PACKAGE_VERSION \"$v\")\$" "$build/faultcacheConfigVersion.cmake" ||
	fail "faultcacheConfigVersion.cmake: not PACKAGE_VERSION $v"

netv=$(sed -n 's/^set(FC_NET_VERSION \([0-9.]*\)).*/\1/p' \
	"$src/net/CMakeLists.txt" 2>/dev/null || true)
net_mm=${netv%.*}
n=0
for page in "$src"/docs/man/man*/*.[1-9]; do
	th=$(grep '^\.TH ' "$page" || true)
	[ -n "$th" ] || continue	# a .so link to another page
	n=$((n + 1))
	case $th in
	*"\"libfaultcache $major.$minor\""*) ;;
	*"\"libfaultcache-net $net_mm\""*) [ -n "$netv" ] ||
		fail "${page#"$src"/}: a libfaultcache-net page, and no FC_NET_VERSION" ;;
	*) fail "${page#"$src"/}: footer is not \"libfaultcache $major.$minor\": $th" ;;
	esac
done
[ "$n" -gt 0 ] || fail "no man page found under $src/docs/man"

node=$(sed -n 's/^FAULTCACHE_\([0-9]*\)\.\([0-9]*\) *{.*/\1 \2/p' \
	"$src/lib/libfaultcache.map" | sort -n -k1,1 -k2,2 | tail -1)
if [ -z "$node" ]; then
	fail "lib/libfaultcache.map: no FAULTCACHE_X.Y node"
else
	set -- $node
	if [ "$1" -gt "$major" ] ||
		{ [ "$1" -eq "$major" ] && [ "$2" -gt "$minor" ]; }; then
		fail "lib/libfaultcache.map: node FAULTCACHE_$1.$2 is newer than $v"
	fi
fi

top=$(sed -n 's/^## \([^ ]*\).*/\1/p' "$src/CHANGELOG.md" 2>/dev/null | head -1)
[ "$top" = "$v" ] || fail "CHANGELOG.md: newest entry is '$top', not $v"

if [ -f "$src/debian/changelog" ]; then
	deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$src/debian/changelog")
	up=${deb#*:}
	up=${up%-*}
	[ "$up" = "$v" ] ||
		fail "debian/changelog: packages $deb (upstream $up), not $v"
fi

[ $bad -eq 0 ] && echo "check-version: $v everywhere ($n man pages)"
exit $bad
