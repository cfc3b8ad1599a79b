#!/bin/sh
# abi_check.sh LIBRARY HEADERS_DIR [BASELINE]: fail on an ABI change of
# the freshly built LIBRARY (with debug info) that would break a program
# built against the last release, whose ABI dump is BASELINE (default: the
# newest tests/abi/libfaultcache-*.abi).
#
# The rule. With the same SONAME, the new library passes only if:
#  1. every symbol of the baseline is still exported, with its version
#     node (fc_cache_stats@FAULTCACHE_0.1 as well as @FAULTCACHE_0.4);
#  2. a symbol it did not have is in a version node it did not have:
#     new functions go in a new node (FAULTCACHE_0.6), never in a
#     released one;
#  3. a symbol's default version (@@) stays, or moves to a new node;
#  4. abidiff --leaf-changes-only reports no removed or changed function,
#     and no changed type, except data members added after the old end of
#       struct fc_config: it starts with its size (fc_config_init), so the
#         library knows how much of it an older caller has;
#       struct fc_stats: only when fc_cache_stats's default version moved
#         to a new node in the same change (rule 3), so that older callers
#         keep getting the old size through the old version.
#     Such a report is exactly "type size changed from A to B" and "data
#     member insertion" lines at offsets of A bits or more; any other line
#     about a type, a member or a function fails.
# A new SONAME (libfaultcache.so.1) allows anything: a new major version.
# At a release, make the new baseline from a RelWithDebInfo build:
#   sh tests/abi/abi_check.sh --dump build/libfaultcache.so.X.Y.Z include \
#       > tests/abi/libfaultcache-X.Y.Z.abi
set -eu
dump() {	# LIBRARY HEADERS_DIR: the dump, without the builder's paths
	abidw --headers-dir "$2" --drop-private-types --no-corpus-path \
		--no-comp-dir-path --no-show-locs "$1" |
		sed "s|path='[^']*/lib/|path='lib/|"
}
if ! command -v abidw > /dev/null; then
	echo "SKIP: abigail-tools (abidw, abidiff) is not installed"
	exit 77
fi
if [ "$1" = --dump ]; then
	dump "$2" "$3"
	exit 0
fi
lib=$1
hdr=$2
base=${3:-$(ls "$(dirname "$0")"/libfaultcache-*.abi | sort -V | tail -n 1)}
if ! readelf -S "$lib" | grep -q '\.debug_info'; then
	echo "FAIL: $lib has no debug info: build with RelWithDebInfo or Debug"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dump "$lib" "$hdr" > "$tmp/new.abi"
echo "baseline $(basename "$base"), library $lib"

soname() { sed -n "s/^<abi-corpus .*soname='\([^']*\)'.*/\1/p" "$1"; }
# "name version default" per exported symbol
syms() {
	sed -n "s/.*<elf-symbol name='\([^']*\)' version='\([^']*\)' is-default-version='\([a-z]*\)'.*is-defined='yes'.*/\1 \2 \3/p" "$1" |
		sort
}
old_so=$(soname "$base")
new_so=$(soname "$tmp/new.abi")
if [ "$old_so" != "$new_so" ]; then
	echo "SONAME $old_so -> $new_so: a new major version, no ABI kept;" \
	     "add its baseline (see the top of $0)"
	exit 0
fi
syms "$base" > "$tmp/old.syms"
syms "$tmp/new.abi" > "$tmp/new.syms"

# rules 1-3; prints "stats_versioned" when fc_cache_stats moved to a new node
awk -v out="$tmp/sym.verdict" '
	FNR == NR { old[$1 " " $2] = $3; node[$2] = 1; next }
	{ new[$1 " " $2] = $3; if ($3 == "yes") newdef[$1] = $2 }
	END {
		bad = 0
		for (k in old) {
			split(k, s, " ")
			if (!(k in new)) {
				print "FAIL: " s[1] "@" s[2] " is no longer exported"
				bad = 1
			} else if (old[k] == "yes" && new[k] == "no" &&
				   (newdef[s[1]] == "" || newdef[s[1]] in node)) {
				print "FAIL: the default version of " s[1] \
				      " moved from " s[2] " to a released node"
				bad = 1
			} else if (old[k] == "no" && new[k] == "yes") {
				print "FAIL: " s[1] "@@" s[2] " became the default " \
				      "again, a released node"
				bad = 1
			}
		}
		for (k in new) {
			split(k, s, " ")
			if (k in old)
				continue
			if (s[2] in node) {
				print "FAIL: " s[1] " added to " s[2] \
				      ", a released node: add a new node"
				bad = 1
			} else {
				print "ok: " s[1] "@" s[2] " added in a new node"
				if (s[1] == "fc_cache_stats" && new[k] == "yes")
					print "stats_versioned" > out
			}
		}
		exit bad
	}' "$tmp/old.syms" "$tmp/new.syms" || sym_bad=1
stats_versioned=0
grep -q stats_versioned "$tmp/sym.verdict" 2>/dev/null && stats_versioned=1

# rule 4
abidiff --leaf-changes-only "$base" "$tmp/new.abi" > "$tmp/diff" || true
awk -v stats_versioned="$stats_versioned" '
	function fail(msg) { print "FAIL: " msg; bad = 1 }
	/^$/ || /summary: / { next }
	/^[0-9]+ (Removed|Changed) (function|variable)/ { sect = "bad"; type = ""; next }
	/^[0-9]+ Added (function|variable)/ { sect = "added"; type = ""; next }
	/^[0-9]+ (function|variable)s? with some/ { sect = "bad"; type = ""; next }
	/^  \[A\] / && sect == "added" { next }
	/^  \[[DC]\] / { fail("abidiff: " $0); next }
	/^'"'"'struct fc_(config|stats)'"'"'.* changed:$/ {
		type = ($0 ~ /fc_config/) ? "fc_config" : "fc_stats"
		oldsize = -1; sect = "type"
		if (type == "fc_stats" && !stats_versioned)
			fail("struct fc_stats changed without a new default " \
			     "version of fc_cache_stats")
		next
	}
	sect == "type" && /^  type size changed from [0-9]+ to [0-9]+ \(in bits\)$/ {
		oldsize = $5 + 0; next
	}
	sect == "type" && /^  [0-9]+ data member insertions?:$/ { next }
	sect == "type" && /^    .*, at offset [0-9]+ \(in bits\)/ {
		off = $0; sub(/.*, at offset /, "", off); off += 0
		if (oldsize < 0 || off < oldsize)
			fail("struct " type ": a member inserted at bit " off \
			     ", before the old end (" oldsize ")")
		else
			print "ok: struct " type ": member added at its end (bit " off ")"
		next
	}
	{ fail("abidiff: " $0) }
	END { exit bad }' "$tmp/diff" || diff_bad=1

if [ -n "${sym_bad:-}" ] || [ -n "${diff_bad:-}" ]; then
	echo "--- abidiff --leaf-changes-only $(basename "$base") new:"
	cat "$tmp/diff"
	echo "FAIL: an incompatible ABI change without a new SONAME or version node"
	exit 1
fi
echo "ABI compatible with $(basename "$base")"
