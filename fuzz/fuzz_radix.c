/* SPDX-License-Identifier: MIT */
/*
 * fuzz_radix: the page cache index against a sorted array. Operations:
 * insert, delete, lookup and next over keys drawn from small, medium and
 * full 64-bit ranges (so that the tree grows, shrinks and collapses), with
 * the structural check after every step.
 */
#include "fuzz.h"
#include "radix.h"

#define MAXK 512

static uint64_t keys[MAXK];
static size_t nkeys;

/* Position of the first key >= k in the model. */
static size_t model_pos(uint64_t k)
{
	size_t lo = 0, hi = nkeys;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (keys[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The value stored for a key: derived from it, never NULL, low bit 0. */
static void *val(uint64_t k)
{
	return (void *)(uintptr_t)(((k * 0x9e3779b97f4a7c15ull) & ~7ull) | 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	struct fc_radix t;

	fc__radix_init(&t);
	nkeys = 0;
	while (z.n) {
		unsigned op = (unsigned)fz_take(&z, 1);
		uint64_t k;
		size_t pos;
		void *v;

		switch (op >> 6) {	/* key range */
		case 0: k = fz_take(&z, 1); break;
		case 1: k = fz_take(&z, 3); break;
		case 2: k = fz_take(&z, 8); break;
		default: k = nkeys ? keys[fz_take(&z, 2) % nkeys] : 0; break;
		}
		k >>= 1;	/* the index keeps keys below 2^63 */
		pos = model_pos(k);
		switch (op % 4) {
		case 0:	/* insert */
			if (nkeys == MAXK)
				break;
			if (pos < nkeys && keys[pos] == k) {
				FZ_CHECK(fc__radix_insert(&t, k, val(k)) != 0);
				break;
			}
			if (fc__radix_insert(&t, k, val(k)))
				break;	/* out of memory: model unchanged */
			memmove(&keys[pos + 1], &keys[pos],
				(nkeys - pos) * sizeof(keys[0]));
			keys[pos] = k;
			nkeys++;
			break;
		case 1:	/* delete */
			v = fc__radix_delete(&t, k);
			if (pos < nkeys && keys[pos] == k) {
				FZ_CHECK(v == val(k));
				memmove(&keys[pos], &keys[pos + 1],
					(nkeys - pos - 1) * sizeof(keys[0]));
				nkeys--;
			} else {
				FZ_CHECK(v == NULL);
			}
			break;
		case 2:	/* lookup */
			v = fc__radix_lookup(&t, k);
			FZ_CHECK(v == (pos < nkeys && keys[pos] == k ? val(k)
								      : NULL));
			break;
		default: {	/* next at or after k */
			uint64_t key = k;

			v = fc__radix_next(&t, &key);
			if (pos < nkeys) {
				FZ_CHECK(v == val(keys[pos]));
				FZ_CHECK(key == keys[pos]);
			} else {
				FZ_CHECK(v == NULL);
			}
		}
		}
		FZ_CHECK(t.nr_entries == nkeys);
		FZ_CHECK(fc__radix_check(&t));
	}
	fc__radix_destroy(&t);
	return 0;
}
