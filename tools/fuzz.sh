#!/bin/sh
# Run the libFuzzer harnesses (docs/reliability.md) and keep what they find.
#   sh tools/fuzz.sh [seconds per harness, default 300]
# New inputs are merged (minimised) into fuzz/corpus/NAME, which CTest
# replays; inputs named regress-* (each the input that showed a fixed bug)
# are kept whether or not they add coverage. A crash leaves crash-* in
# build-fuzz/ and a non-zero exit.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-300}
sh tools/deps.sh
if ! command -v clang >/dev/null 2>&1 || ! [ -d /usr/lib/llvm-14/lib/clang ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libclang-rt-14-dev >/dev/null
fi
CC=clang cmake -S . -B build-fuzz -DFC_FUZZ=ON -DFC_BUILD_EXAMPLES=OFF \
	-DFC_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_radix fuzz_lru fuzz_readahead fuzz_net \
	fuzz_config fuzz_memlimit >/dev/null
for name in radix lru readahead net config memlimit; do
	corpus=fuzz/corpus/$name
	new=$(mktemp -d)
	echo "=== fuzz_$name for $secs s"
	(cd build-fuzz && ./fuzz/fuzz_$name -max_total_time="$secs" \
		-print_final_stats=1 "$new" "../$corpus" 2>&1 | \
		grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==.*ERROR)' || true)
	# keep a minimal corpus covering everything found so far
	merged=$(mktemp -d)
	./build-fuzz/fuzz/fuzz_$name -merge=1 "$merged" "$corpus" "$new" 2>/dev/null
	cp "$corpus"/regress-* "$merged"/ 2>/dev/null || true
	rm -rf "$corpus" && mkdir -p "$corpus" && cp "$merged"/* "$corpus"/
	echo "corpus $corpus: $(ls "$corpus" | wc -l) inputs"
	rm -rf "$new" "$merged"
done
ls build-fuzz/crash-* 2>/dev/null && exit 1
exit 0
