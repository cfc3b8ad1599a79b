#!/bin/sh
# check-layers.sh LIBDIR OBJECT... - the layering rules of lib/
# (lib/README.md), checked on the sources and the built objects:
#  - no lib/*.c over 700 lines;
#  - a header declares functions of its own .c only (a header without a
#    .c declares none: it may define types, macros and static inlines);
#  - a .c includes the header of every module it calls (from the
#    objects' symbols: calls, not guesses), and includes no module header
#    it uses nothing of (no call, macro, inline, type or constant);
#  - no cycle among the modules, counting includes and calls.
# It prints the modules by layer (0: calls and includes no other).
# Calls through function pointers (callbacks) are invisible to it:
# lib/README.md lists them. The objects may be given as one ;-separated
# argument (a CMake list). Needs nm (binutils) and a POSIX awk.
set -eu
lib=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
max_lines=700

printf '%s\n' "$@" | tr ';' '\n' | grep '\.o$' >"$tmp/objs" || true
if [ ! -s "$tmp/objs" ]; then
	echo "check-layers: no object files given" >&2
	exit 2
fi

# C source without comments (so a word in a comment justifies nothing)
strip_comments() {
	awk '{
		out = ""; s = $0
		while (s != "") {
			if (inc) {
				i = index(s, "*/")
				if (!i) { s = ""; break }
				s = substr(s, i + 2); inc = 0
			} else {
				i = index(s, "/*")
				if (!i) { out = out s; s = ""; break }
				out = out substr(s, 1, i - 1) " "
				s = substr(s, i + 2); inc = 1
			}
		}
		print out
	}' "$1"
}

: >"$tmp/facts"
for f in "$lib"/*.c "$lib"/*.h; do
	b=${f##*/}
	m=${b%.*}
	echo "MOD $m" >>"$tmp/facts"
	case $b in *.c) echo "CODE $m $(wc -l <"$f")" >>"$tmp/facts" ;; esac
	sed -n 's/^#include "\([A-Za-z0-9_]*\)\.h".*/\1/p' "$f" |
		while read -r t; do
			if [ -f "$lib/$t.h" ] && [ "$t" != "$m" ]; then
				echo "INC $b $m $t" >>"$tmp/facts"
			fi
		done
	strip_comments "$f" >"$tmp/nc.$b"
done

# what each header defines (macros, inlines, types, enum constants) and
# declares (prototypes)
for h in "$lib"/*.h; do
	b=${h##*/}
	awk -v h="$b" '
	/^#[ \t]*define[ \t]/ {
		n = $0; sub(/^#[ \t]*define[ \t]+/, "", n); sub(/[^A-Za-z0-9_].*/, "", n)
		if (n !~ /_H$/) print "HDEF", h, n
		next
	}
	/^(struct|enum|union)[ \t]+[A-Za-z0-9_]+[ \t]*\{/ {
		n = $2; print "HDEF", h, $1 " " n
		if ($1 == "enum") inenum = 1
		next
	}
	inenum && /^\}/ { inenum = 0; next }
	inenum && /^[ \t]+[A-Za-z_][A-Za-z0-9_]*/ {
		n = $1; sub(/[^A-Za-z0-9_].*/, "", n); print "HDEF", h, n; next
	}
	/^typedef/ {
		n = $0; sub(/;.*/, "", n)
		if (n ~ /\(\*/) { sub(/^.*\(\*/, "", n); sub(/\).*/, "", n) }
		else sub(/^.*[ \t*]/, "", n)
		print "HDEF", h, n; next
	}
	/^static/ && /\(/ {
		n = $0; sub(/\(.*/, "", n); sub(/^.*[ \t*]/, "", n)
		print "HDEF", h, n; prev = $0; next
	}
	/^[A-Za-z_]/ && /\(/ && !/^(return|if|for|while|switch)\b/ {
		n = $0; sub(/\(.*/, "", n); sub(/^.*[ \t*]/, "", n)
		# the name line of a static function whose type came first
		if (prev ~ /^static/ && prev !~ /[;{}][ \t]*$/)
			print "HDEF", h, n
		else
			print "PROTO", h, n
	}
	{ if ($0 ~ /[^ \t]/) prev = $0 }' "$tmp/nc.$b" >>"$tmp/facts"
done

while read -r o; do
	m=${o##*/}
	m=${m%.o}
	m=${m%.c}
	nm --defined-only -g "$o" | awk -v m="$m" 'NF == 3 { print "DEF", m, $3 }'
	nm -u "$o" | awk -v m="$m" 'NF >= 2 { print "USE", m, $2 }'
done <"$tmp/objs" >>"$tmp/facts"

# the words each file uses, and whether it names a struct/enum tag
for f in "$tmp"/nc.*; do
	b=${f##*/nc.}
	tr -c 'A-Za-z0-9_\n' ' ' <"$f" | tr ' ' '\n' | grep . | sort -u |
		sed "s/^/WORD $b /" >>"$tmp/facts"
	grep -o '\(struct\|enum\|union\)[ \t][ \t]*[A-Za-z0-9_]*' "$f" |
		awk -v b="$b" '{ print "WORD", b, $1 " " $2 }' | sort -u >>"$tmp/facts"
done

awk -v max="$max_lines" '
# the words of @s, sorted, for a stable output
function sorted(s,    v, n, a, b, x, out) {
	n = split(s, v, " ")
	for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++)
		if (v[b] < v[a]) { x = v[a]; v[a] = v[b]; v[b] = x }
	for (a = 1; a <= n; a++) out = out " " v[a]
	return out
}
function err(msg) { errs = errs "check-layers: " msg "\n"; bad = 1 }
$1 == "MOD"   { mod[$2] = 1 }
$1 == "CODE"  { code[$2] = 1; lines[$2] = $3 }
$1 == "INC"   { inc[$2, $4] = 1; incl[++ni] = $2 SUBSEP $3 SUBSEP $4 }
$1 == "HDEF"  { t = $3; for (i = 4; i <= NF; i++) t = t " " $i
		hdef[$2, t] = 1; hdefs[$2] = hdefs[$2] SUBSEP t }
$1 == "PROTO" { proto[++np] = $2 SUBSEP $3 }
$1 == "DEF"   { def[$3] = $2; defin[$2, $3] = 1 }
$1 == "USE"   { use[++nu] = $2 SUBSEP $3 }
$1 == "WORD"  { t = $3; for (i = 4; i <= NF; i++) t = t " " $i; word[$2, t] = 1 }
END {
	for (m in lines)
		if (lines[m] > max)
			err(m ".c has " lines[m] " lines (at most " max ")")
	for (i = 1; i <= np; i++) {
		split(proto[i], p, SUBSEP); h = p[1]; m = h; sub(/\.h$/, "", m)
		if (!code[m])
			err(h " declares " p[2] "() but has no .c: prototypes belong to a module")
		else if (!defin[m, p[2]])
			err(h " declares " p[2] "(), which " m ".c does not define" \
			    (p[2] in def ? " (" def[p[2]] ".c does)" : ""))
	}
	for (i = 1; i <= nu; i++) {
		split(use[i], u, SUBSEP)
		if (!(u[2] in def) || def[u[2]] == u[1])
			continue
		t = def[u[2]]
		if (!((u[1], t) in call)) call[u[1], t] = u[2]
		edge[u[1], t] = 1
		if (!inc[u[1] ".c", t])
			err(u[1] ".c calls " u[2] "() of " t ".c without including " t ".h")
	}
	for (i = 1; i <= ni; i++) {
		split(incl[i], e, SUBSEP); f = e[1]; m = e[2]; t = e[3]
		edge[m, t] = 1
		if ((m, t) in call && f ~ /\.c$/)
			continue
		n = split(hdefs[t ".h"], ids, SUBSEP); ok = 0
		for (k = 2; k <= n && !ok; k++)
			if (word[f, ids[k]]) ok = 1
		for (k = 1; k <= np && !ok; k++) {
			split(proto[k], p, SUBSEP)
			if (p[1] == t ".h" && word[f, p[2]] && f ~ /\.h$/) ok = 1
		}
		if (!ok)
			err(f " includes " t ".h and uses nothing of it")
	}
	# layers: a module sits one above the highest it includes or calls
	left = 0
	for (m in mod) left++
	do {
		progress = 0
		for (m in mod) {
			if (m in level) continue
			top = -1; ready = 1
			for (t in mod) {
				if (t == m || !((m, t) in edge)) continue
				if (!(t in level)) { ready = 0; break }
				if (level[t] > top) top = level[t]
			}
			if (ready) { level[m] = top + 1; left--; progress = 1 }
		}
	} while (progress && left)
	if (left) {
		s = ""
		for (m in mod) if (!(m in level)) s = s " " m
		err("cycle among:" sorted(s))
	}
	maxl = -1
	for (m in level) if (level[m] > maxl) maxl = level[m]
	for (l = 0; l <= maxl; l++) {
		s = ""
		for (m in level) if (level[m] == l) s = s " " m (code[m] ? "" : ".h")
		printf "layer %2d:%s\n", l, sorted(s)
	}
	printf "%s", errs
	exit bad
}' "$tmp/facts"
