#!/bin/sh
# run-preload-bench.sh [ARGS]: the benchmark of real programs under
# libfaultcache-preload.so (bench/preload-programs.py; docs/benchmarks.md,
# "Real programs under the preload"): install the programs (Debian
# packages, only those missing, no recommended packages), build the
# preload library (Release, build-release/), and run the bench with ARGS
# (see --help). As root: it drops the machine's page cache before every
# run and makes memory cgroups.
set -eu
cd "$(dirname "$0")/.."
pkgs="fio silversearcher-ag sqlite3 lmdb-utils python3-lmdb python3-numpy git"
missing=""
for p in $pkgs; do
	dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null |
		grep -q '^ii' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing with apt-get, no recommended packages:$missing"
	log=$(mktemp /tmp/fcpbench-apt.XXXXXX)
	# shellcheck disable=SC2086
	if ! { apt-get update -qq &&
	       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing; } > "$log" 2>&1; then
		tail -n 20 "$log"
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
fi
sh tools/build-release.sh faultcache_preload
exec /usr/bin/python3 bench/preload-programs.py "$@"
