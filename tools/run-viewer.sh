#!/bin/sh
# The main job of the README: install what building needs, build, and
# open the lazy-loading viewer. With no argument it opens a sample of real
# text, written on first use to $FC_SAMPLE (default
# /var/tmp/fcview-sample.txt): 1 GiB, four times the default cache budget,
# so that the viewer shows a file larger than its memory; the first screen
# appears at once, only the pages shown are read. One line per step.
set -eu
cd "$(dirname "$0")/.."
sh tools/build-release.sh fcview
fcview=./build-release/examples/fcview
if [ $# -eq 0 ]; then
	sample=${FC_SAMPLE:-/var/tmp/fcview-sample.txt}
	size=${FC_SAMPLE_SIZE:-1G}
	if [ ! -s "$sample" ]; then
		dir=$(dirname "$sample")
		free_k=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
		need_k=$(echo "$size" | awk '/[Gg]$/ { print $1 * 1048576; next }
			/[Mm]$/ { print $1 * 1024; next } { print int($1 / 1024) }')
		if [ "$free_k" -lt $((need_k + 262144)) ]; then
			echo "not enough space for a $size sample in $dir" \
			     "($((free_k / 1024)) MiB free): set FC_SAMPLE to" \
			     "another place, or give a file: $0 FILE" >&2
			exit 1
		fi
		start=$(date +%s)
		printf 'writing a %s sample of text to %s (%s GiB free there) ... ' \
			"$size" "$sample" "$((free_k / 1048576))"
		"$fcview" --generate-sample "$size" "$sample.part"
		mv "$sample.part" "$sample"
		echo "done in $(($(date +%s) - start)) s"
	fi
	set -- "$sample"
fi
echo "opening $1 (keys: h; manual: man -l docs/man/man1/fcview.1)"
exec "$fcview" "$@"
