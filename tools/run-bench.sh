#!/bin/sh
# The main job of the README: install dependencies, build (Release) and
# run fcbench. Arguments go to fcbench (see --help); by default the full
# method of docs/benchmarks.md: a 4 GiB file created on first use, every
# workload and engine, cold and warm, 5 repetitions.
set -eu
cd "$(dirname "$0")/.."
sh tools/build-release.sh fcbench
exec ./build-release/bench/fcbench "$@"
