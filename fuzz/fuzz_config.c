/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config: the values of the FC_* variables (lib/config.c): sizes
 * (fc__parse_size), counts (fc__parse_count) and flags (fc__parse_flag),
 * fed the input as a string, against a model of the documented grammar:
 *   - a size is digits, then optionally K, M or G (either case), then
 *     optionally "i", "iB" or "ib" after a unit, or "B" or "b"; nothing
 *     else, no sign, no space;
 *   - its value is the digits times the unit exactly: one that does not
 *     fit in a size_t is refused, never wrapped;
 *   - a count is a size of at least its minimum and at most UINT_MAX;
 *   - a flag is "1" (set), "0" or empty (unset), else refused;
 *   - a refused value leaves the output untouched, and nothing reads past
 *     the string's end (ASan: the copy is exactly its length + 1).
 * The first ten bytes also make a size from a number and a unit, printed
 * as a user would write it, which must read back as that number times the
 * unit, or be refused if it overflows.
 */
#include <limits.h>
#include <stdbool.h>

#include "config.h"
#include "fuzz.h"

#define UNTOUCHED 0x5a5a5a5a5a5a5a5aull

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The grammar above, written out; false on anything else. */
static bool model_size(const char *s, size_t *out)
{
	uint64_t v = 0;
	bool big = false;
	int shift = 0;

	if (!digit(*s))
		return false;
	for (; digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			big = true;
		else
			v = v * 10 + d;
	}
	switch (*s) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	}
	if (shift) {
		s++;
		if (*s == 'i')
			s += s[1] == 'B' || s[1] == 'b' ? 2 : 1;
		else if (*s == 'B' || *s == 'b')
			s++;
	} else if (*s == 'B' || *s == 'b') {
		s++;
	}
	if (*s || big || v > (SIZE_MAX >> shift))
		return false;
	*out = (size_t)(v << shift);
	return true;
}

static void check_string(const char *s)
{
	size_t got = UNTOUCHED, want = 0;
	unsigned cnt = 0x5a5a5a5a, min;
	bool on = true, off = false, flag_ok;
	bool ok = fc__parse_size(s, &got);

	FZ_CHECK(ok == model_size(s, &want));
	FZ_CHECK(ok ? got == want : got == UNTOUCHED);
	for (min = 0; min <= 1; min++) {
		bool cok = fc__parse_count(s, min, &cnt);

		FZ_CHECK(cok == (ok && want >= min && want <= UINT_MAX));
		FZ_CHECK(cok ? cnt == want : cnt == 0x5a5a5a5a);
		cnt = 0x5a5a5a5a;
	}
	/* twice, from either value: a refusal leaves each as it was */
	flag_ok = fc__parse_flag(s, &on);
	FZ_CHECK(flag_ok == fc__parse_flag(s, &off));
	FZ_CHECK(flag_ok == (!strcmp(s, "1") || !strcmp(s, "0") || !*s));
	FZ_CHECK(flag_ok ? on == off && on == !strcmp(s, "1") : on && !off);
}

/* A size as a user writes it: @v, a unit, a suffix. */
static void check_printed(uint64_t v, unsigned unit, unsigned suffix)
{
	static const char units[] = "\0kMG";
	static const char *const suffixes[] = { "", "i", "iB", "B", "b" };
	int shift = (int)unit * 10;
	char s[64];
	size_t got = UNTOUCHED;
	bool ok;

	if (!unit && (suffix == 1 || suffix == 2))
		suffix = 0;	/* "i" only after a unit */
	snprintf(s, sizeof(s), "%llu%.1s%s", (unsigned long long)v,
		 &units[unit], suffixes[suffix]);
	ok = fc__parse_size(s, &got);
	FZ_CHECK(ok == (v <= (SIZE_MAX >> shift)));
	FZ_CHECK(ok ? got == (size_t)(v << shift) : got == UNTOUCHED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	check_string(s);
	free(s);
	if (size >= 10) {
		struct fz z = { data, size };
		uint64_t v = fz_take(&z, 8);
		unsigned how = (unsigned)fz_take(&z, 2);

		/* small numbers as often as large ones */
		if (how & 0x100)
			v >>= (how >> 9) & 63;
		check_printed(v, how & 3, (how >> 2) % 5);
	}
	return 0;
}
