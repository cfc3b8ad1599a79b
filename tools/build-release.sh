#!/bin/sh
# Install the dependencies and build the Release tree (build-release/)
# that the viewer and the benchmark run from.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DFC_BUILD_TESTS=OFF \
	>/dev/null
cmake --build build-release -j "$(nproc)" >/dev/null
