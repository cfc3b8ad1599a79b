#!/bin/sh
# Install what building, testing and benchmarking need on Debian 12.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -eu
pkgs="build-essential cmake pkg-config liburing-dev libcmocka-dev libncurses-dev tmux util-linux"
# the Debian packages and the ABI check (tests/packages, tests/abi)
pkgs="$pkgs debhelper lintian abigail-tools"
missing=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
