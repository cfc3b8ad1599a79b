#!/bin/sh
# The main job of the README: install dependencies, build, and open the
# lazy-loading viewer. With no argument it opens a sample of real text
# (2 GiB, written on first use to $FC_SAMPLE or /var/tmp/fcview-sample.txt):
# the first screen appears at once, only the pages shown are read.
set -eu
cd "$(dirname "$0")/.."
sh tools/build-release.sh
fcview=./build-release/examples/fcview
if [ $# -eq 0 ]; then
	sample=${FC_SAMPLE:-/var/tmp/fcview-sample.txt}
	if [ ! -s "$sample" ]; then
		"$fcview" --generate-sample 2G "$sample"
	fi
	set -- "$sample"
fi
exec "$fcview" "$@"
