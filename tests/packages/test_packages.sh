#!/bin/sh
# test_packages.sh SRCDIR: build the Debian packages from a copy of the
# tree, check them with lintian (no error, no warning), install them into a
# throw-away root and build and run consumers there through pkg-config and
# find_package, as C and C++. The host is left as it was: the root is an
# overlay of / in a private mount namespace whose writes go to a tmpfs, so
# dpkg -i changes nothing outside it, and everything goes at the end.
#
# Needs root (mount namespace, overlay, chroot); exit 77 otherwise.
set -eu
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: the install root is a mount namespace and a chroot: needs root"
	exit 77
fi
for tool in dpkg-buildpackage dh lintian unshare; do
	command -v $tool > /dev/null || {
		echo "FAIL: $tool missing: tools/deps.sh installs it"
		exit 1
	}
done
work=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/fcpkg.XXXXXX")
trap 'rm -rf "$work"' EXIT
# every tool's temporary files in $work too (lintian leaves some in /tmp)
mkdir -m 1777 "$work/tmp"
export TMPDIR="$work/tmp"
step() { printf '%s: %s\n' "$(date +%T)" "$*"; }

# ---- build, from a copy of the tree without build trees --------------
step "copying the tree"
mkdir "$work/src"
if git -C "$src" rev-parse --git-dir > /dev/null 2>&1; then
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		(cd "$src" && xargs -0 tar -cf - --no-recursion) |
		tar -xf - -C "$work/src"
else
	tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . |
		tar -xf - -C "$work/src"
fi
step "dpkg-buildpackage -us -uc -b (log: build.log)"
if ! (cd "$work/src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1; then
	tail -40 "$work/build.log"
	echo "FAIL: the package build failed"
	exit 1
fi
changes=$(ls "$work"/*.changes)
debs=$(ls "$work"/*.deb | grep -v -- '-dbgsym_')
echo "$debs" | sed 's|.*/|  built |'

# the upstream version is CMake's project version
cmake_version=$(sed -n 's/^project(faultcache VERSION \([0-9.]*\).*/\1/p' \
	"$src/CMakeLists.txt")
deb_version=$(dpkg-deb -f "$work"/libfaultcache0_*.deb Version)
if [ "${deb_version%-*}" != "$cmake_version" ]; then
	echo "FAIL: the packages are $deb_version, CMake says $cmake_version"
	exit 1
fi

# ---- lintian ---------------------------------------------------------
step "lintian"
# not as root (lintian says it should not be), with nothing to write
chmod -R a+rX "$work"
lint=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
	env HOME=/nonexistent lintian --fail-on error,warning "$changes" 2>&1) ||
	{ echo "$lint"; echo "FAIL: lintian reports errors or warnings"; exit 1; }
[ -z "$lint" ] || echo "$lint"

# ---- the install root ------------------------------------------------
step "installing into an overlay of / (private mount namespace)"
mkdir "$work/layer" "$work/ovl"
cp $debs "$work/layer/"
cp -r "$src/tests/consumer" "$work/layer/consumer"
cp -r "$src/net/tests/consumer" "$work/layer/net_consumer"
cp "$here/in_root.sh" "$work/layer/"
unshare -m --propagation private sh -eu -c '
	w=$1
	mount -t tmpfs -o size=2g,mode=0755 fcpkg "$w/ovl"
	mkdir "$w/ovl/upper" "$w/ovl/work" "$w/root"
	mount -t overlay fcpkg -o lowerdir=/,upperdir="$w/ovl/upper",workdir="$w/ovl/work" "$w/root"
	r=$w/root
	mount --rbind /dev "$r/dev"
	mount -t proc proc "$r/proc"
	mount --rbind /sys "$r/sys"
	# a clean root: nothing the host installed by hand
	for d in usr/local opt root tmp; do
		mount -t tmpfs -o mode=0755 fcpkg "$r/$d"
	done
	mkdir "$r/tmp/pkg"
	cp -r "$w/layer/." "$r/tmp/pkg/"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		chroot "$r" sh /tmp/pkg/in_root.sh /tmp/pkg
' fcpkg "$work"
step "packages passed; the install root is gone"
