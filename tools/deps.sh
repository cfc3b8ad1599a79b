#!/bin/sh
# Install what building, testing and benchmarking need on Debian 12;
# "deps.sh viewer": only what building the viewer needs (run-viewer.sh).
# Idempotent: installs only what is missing, without recommended
# packages, and says so in one line (apt's output goes to a log, shown
# if it fails). Needs root (or sudo).
set -eu
pkgs="build-essential cmake pkg-config liburing-dev libcmocka-dev libncurses-dev tmux util-linux"
# the Debian packages and the ABI check (tests/packages, tests/abi)
pkgs="$pkgs debhelper lintian abigail-tools"
if [ "${1:-}" = viewer ]; then
	pkgs="gcc libc6-dev make cmake pkg-config liburing-dev libncurses-dev"
fi
# one dpkg-query for all (the viewer's second start waits on this)
installed=" $(dpkg-query -W -f '${db:Status-Abbrev}${Package}\n' $pkgs 2>/dev/null |
	sed -n 's/^ii *//p' | tr '\n' ' ')"
missing=""
for p in $pkgs; do
	case $installed in *" $p "*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
log=$(mktemp /tmp/fcdeps.XXXXXX)
start=$(date +%s)
printf 'installing with apt-get, no recommended packages:%s ... ' "$missing"
if ! { $SUDO apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends $missing; } > "$log" 2>&1; then
	echo "failed:"
	tail -n 20 "$log"
	echo "(whole log: $log)"
	exit 1
fi
echo "done in $(($(date +%s) - start)) s"
rm -f "$log"
