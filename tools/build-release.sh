#!/bin/sh
# build-release.sh [TARGET...]: install what building needs (deps.sh
# viewer: a compiler, cmake, liburing, ncurses) and build TARGETs (default:
# all) in the Release tree build-release/, which the viewer and the
# benchmark run from. One line per step; the compiler's output goes to
# build-release/build.log, shown if the build fails.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh viewer
b=build-release
log=$b/build.log
what=${*:-everything}
start=$(date +%s)
if [ ! -f $b/CMakeCache.txt ]; then
	printf 'configuring %s/ (Release) ... ' $b
	mkdir -p $b
	if ! cmake -S . -B $b -DCMAKE_BUILD_TYPE=Release -DFC_BUILD_TESTS=OFF \
		> $log 2>&1; then
		echo failed; cat $log; exit 1
	fi
	echo "done in $(($(date +%s) - start)) s"
fi
msg="building $what in $b/ with $(nproc) jobs"
targets=""
for t in "$@"; do targets="$targets --target $t"; done
# shellcheck disable=SC2086
cmake --build $b -j "$(nproc)" $targets > $log 2>&1 &
pid=$!
# the build's progress on one line while it runs, on a terminal
while kill -0 $pid 2>/dev/null; do
	if [ -t 1 ]; then
		pct=$(grep -o '^\[ *[0-9]*%\]' $log | tail -n 1)
		printf '\r%s ... %s' "$msg" "$pct"
	fi
	sleep 0.3
done
if ! wait $pid; then
	printf '\r%s ... failed:\n' "$msg"
	tail -n 30 $log
	exit 1
fi
if grep -q 'Building C object' $log; then
	printf '\r%s ... done in %d s\n' "$msg" $(($(date +%s) - start))
elif [ -t 1 ]; then
	printf '\r\033[K'
fi
