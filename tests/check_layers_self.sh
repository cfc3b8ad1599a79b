#!/bin/sh
# check_layers_self.sh CHECK-LAYERS: the layer checker passes a sound
# two-module tree and fails each rule broken on purpose, with its message.
set -eu
check=$1
selftest=check_layers
. "$(dirname "$0")/selftest.sh"

# a tree of two modules, a above b; $1 names the breakage
make_tree() {
	d=$tmp/$1
	mkdir -p "$d"
	printf '#ifndef B_H\n#define B_H\nint b_fn(int x);\n#endif\n' >"$d/b.h"
	printf '#include "b.h"\nint b_fn(int x)\n{\n\treturn x + 1;\n}\n' >"$d/b.c"
	printf '#ifndef A_H\n#define A_H\nint a_fn(int x);\n#endif\n' >"$d/a.h"
	printf '#include "a.h"\n#include "b.h"\nint a_fn(int x)\n{\n\treturn b_fn(x);\n}\n' >"$d/a.c"
	case $1 in
	cycle)	# b calls a back
		printf '#include "a.h"\n#include "b.h"\nint b_fn(int x)\n{\n\treturn x ? a_fn(x - 1) : 0;\n}\n' >"$d/b.c" ;;
	hidden)	# a calls b through its own prototype
		printf '#include "a.h"\nint b_fn(int x);\nint a_fn(int x)\n{\n\treturn b_fn(x);\n}\n' >"$d/a.c" ;;
	foreign)	# a.h declares b's function
		printf '#ifndef A_H\n#define A_H\nint a_fn(int x);\nint b_fn(int x);\n#endif\n' >"$d/a.h" ;;
	unused)	# a includes b.h for nothing
		printf '#include "a.h"\n#include "b.h"\nint a_fn(int x)\n{\n\treturn x;\n}\n' >"$d/a.c" ;;
	long)	# a.c over the limit
		i=0
		while [ $i -lt 700 ]; do echo "/* $i */"; i=$((i + 1)); done >>"$d/a.c" ;;
	esac
	for c in a b; do
		cc -c -o "$d/$c.c.o" "$d/$c.c"
	done
}

run_check() {
	sh "$check" "$tmp/$1" "$tmp/$1/a.c.o;$tmp/$1/b.c.o"
}

expect good 0 'layer  1: a'
expect cycle 1 'cycle among: a b'
expect hidden 1 'a.c calls b_fn() of b.c without including b.h'
expect foreign 1 'a.h declares b_fn(), which a.c does not define (b.c does)'
expect unused 1 'a.c includes b.h and uses nothing of it'
expect long 1 'a.c has 706 lines (at most 700)'
exit $status
