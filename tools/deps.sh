#!/bin/sh
# Install what building, testing and benchmarking need on Debian 12;
# "deps.sh viewer": only what building the viewer needs (run-viewer.sh).
# Idempotent: installs only what is missing, without recommended
# packages, and says so in one line (apt's output goes to a log, shown
# if it fails). Needs root (or sudo).
#
# nginx is installed for the tests of the network backend (net/), which
# run their own nginx processes on loopback ports; the package's service
# is never started (policy-rc.d forbids it during the install), so nothing
# listens on port 80 afterwards. Node.js and npm are taken from Debian
# only where no node is on the PATH: the tests npm-install an S3 server
# into the build tree.
set -eu
pkgs="build-essential cmake pkg-config liburing-dev libcmocka-dev libncurses-dev tmux util-linux"
# the Debian packages and the ABI check (tests/packages, tests/abi)
pkgs="$pkgs debhelper lintian abigail-tools"
# the network backend and its tests (net/)
pkgs="$pkgs libcurl4-openssl-dev curl openssl ca-certificates nginx s3fs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
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
# Packages must not start services (nginx's would listen on port 80): a
# policy-rc.d that refuses every start, removed again if it was ours.
rcd=/usr/sbin/policy-rc.d
ours=""
log=$(mktemp /tmp/fcdeps.XXXXXX)
trap '[ -z "$ours" ] || $SUDO rm -f "$rcd"; rm -f "$log"' EXIT
if [ ! -e "$rcd" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rcd" >/dev/null
	$SUDO chmod 755 "$rcd"
	ours=1
fi
start=$(date +%s)
printf 'installing with apt-get, no recommended packages:%s ... ' "$missing"
if ! { $SUDO apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends $missing; } > "$log" 2>&1; then
	echo "failed:"
	tail -n 20 "$log"
	cp "$log" /tmp/fcdeps-failed.log
	echo "(whole log: /tmp/fcdeps-failed.log)"
	exit 1
fi
echo "done in $(($(date +%s) - start)) s"
# and not at boot either
case " $missing " in
*" nginx "*)
	if command -v systemctl >/dev/null 2>&1; then
		$SUDO systemctl disable nginx.service >/dev/null 2>&1 || true
	fi
	$SUDO update-rc.d nginx disable >/dev/null 2>&1 || true ;;
esac
