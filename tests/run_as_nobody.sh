#!/bin/sh
# run_as_nobody.sh PROGRAM LIBDIR [ARGS...]: run PROGRAM as nobody, with
# no capabilities. The build tree may sit where nobody cannot go (a clone
# under /root), so the program and libfaultcache are copied to a
# world-readable scratch directory first. Not root: run it directly.
set -eu
prog=$1; libdir=$2; shift 2
if [ "$(id -u)" -ne 0 ]; then
	exec "$prog" "$@"
fi
if ! command -v setpriv > /dev/null; then
	echo "SKIP: setpriv (util-linux) not installed"
	exit 77
fi
tmp=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/fcnobody.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$prog" "$tmp/"
cp -P "$libdir"/libfaultcache.so* "$tmp/"
chmod -R a+rX "$tmp"
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
	env LD_LIBRARY_PATH="$tmp" "$tmp/$(basename "$prog")" "$@"
