/* SPDX-License-Identifier: MIT */
/* test_radix: the page cache index against a reference array. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "helpers.h"
#include "radix.h"

#define V(k) ((void *)(uintptr_t)(((k) + 1) << 1))

static void basic(void **state)
{
	struct fc_radix t;
	uint64_t k;

	(void)state;
	fc__radix_init(&t);
	assert_null(fc__radix_lookup(&t, 0));
	assert_int_equal(fc__radix_insert(&t, 5, V(5)), 0);
	assert_int_equal(fc__radix_insert(&t, 5, V(5)), -EEXIST);
	assert_int_equal(fc__radix_insert(&t, 6, NULL), -EINVAL);
	assert_int_equal(fc__radix_insert(&t, 6, (void *)3), -EINVAL);
	assert_ptr_equal(fc__radix_lookup(&t, 5), V(5));
	assert_null(fc__radix_lookup(&t, 4));
	/* growing to a huge key keeps the small one */
	assert_int_equal(fc__radix_insert(&t, UINT64_MAX, V(7)), 0);
	assert_ptr_equal(fc__radix_lookup(&t, 5), V(5));
	assert_ptr_equal(fc__radix_lookup(&t, UINT64_MAX), V(7));
	assert_true(fc__radix_check(&t));
	k = 6;
	assert_ptr_equal(fc__radix_next(&t, &k), V(7));
	assert_true(k == UINT64_MAX);
	/* replace: in place, nothing allocated, absent keys untouched */
	k = t.nr_nodes;
	assert_ptr_equal(fc__radix_replace(&t, UINT64_MAX, V(8)), V(7));
	assert_ptr_equal(fc__radix_lookup(&t, UINT64_MAX), V(8));
	assert_null(fc__radix_replace(&t, 6, V(6)));
	assert_null(fc__radix_lookup(&t, 6));
	assert_null(fc__radix_replace(&t, 5, (void *)3));
	assert_ptr_equal(fc__radix_lookup(&t, 5), V(5));
	assert_int_equal(t.nr_nodes, k);
	assert_int_equal(t.nr_entries, 2);
	assert_ptr_equal(fc__radix_replace(&t, UINT64_MAX, V(7)), V(8));
	assert_true(fc__radix_check(&t));
	assert_ptr_equal(fc__radix_delete(&t, UINT64_MAX), V(7));
	assert_null(fc__radix_delete(&t, UINT64_MAX));
	/* the tree shrinks back */
	assert_int_equal(t.height, 1);
	assert_ptr_equal(fc__radix_delete(&t, 5), V(5));
	assert_null(t.root);
	assert_int_equal(t.nr_nodes, 0);
	assert_true(fc__radix_check(&t));
	fc__radix_destroy(&t);
}

/* Random operations mirrored in a plain array, checked after every step. */
static void random_vs_reference(void **state)
{
	enum { N = 20000, OPS = 200000 };
	void **ref = calloc(N, sizeof(*ref));
	struct fc_radix t;
	uint64_t s = 42, k;
	int i;

	(void)state;
	fc__radix_init(&t);
	for (i = 0; i < OPS; i++) {
		uint64_t key = th_rand(&s) % N;

		if (th_rand(&s) % 3) {
			int r = fc__radix_insert(&t, key, V(key));

			assert_int_equal(r, ref[key] ? -EEXIST : 0);
			ref[key] = V(key);
		} else {
			assert_ptr_equal(fc__radix_delete(&t, key), ref[key]);
			ref[key] = NULL;
		}
		if (i % 10000 == 0)
			assert_true(fc__radix_check(&t));
	}
	assert_true(fc__radix_check(&t));
	for (k = 0; k < N; k++)
		assert_ptr_equal(fc__radix_lookup(&t, k), ref[k]);
	/* next() visits exactly the present keys, in order */
	k = 0;
	for (i = 0; i < N; i++) {
		uint64_t want = (uint64_t)i;
		void *v;

		if (!ref[i])
			continue;
		v = fc__radix_next(&t, &k);
		assert_ptr_equal(v, ref[i]);
		assert_true(k == want);
		k++;
	}
	assert_null(fc__radix_next(&t, &k));
	/* delete everything: memory follows the entries back to zero */
	for (k = 0; k < N; k++)
		fc__radix_delete(&t, k);
	assert_int_equal(t.nr_entries, 0);
	assert_int_equal(t.nr_nodes, 0);
	fc__radix_destroy(&t);
	free(ref);
}

/* Sparse keys far apart (file offsets of a huge file). */
static void sparse(void **state)
{
	struct fc_radix t;
	uint64_t keys[] = { 0, 63, 64, 4095, 4096, 1ull << 30, 1ull << 40,
			    (1ull << 52) + 3 };
	size_t i;

	(void)state;
	fc__radix_init(&t);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(fc__radix_insert(&t, keys[i], V(i)), 0);
	assert_true(fc__radix_check(&t));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint64_t probe = keys[i] + 2;	/* never another key here */

		assert_ptr_equal(fc__radix_lookup(&t, keys[i]), V(i));
		assert_null(fc__radix_lookup(&t, probe));
	}
	fc__radix_destroy(&t);
	assert_int_equal(t.nr_nodes, 0);
}

/*
 * Cursor lookups equal plain ones for walks of nearby keys in both
 * directions, across leaves, through empty subtrees and past the largest
 * key the tree can hold; and after inserts, which never move a leaf.
 */
static void cursor_matches_lookup(void **state)
{
	struct fc_radix t;
	struct fc_radix_cursor cur = { 0 };
	uint64_t s = 7, k;
	int i;

	(void)state;
	fc__radix_init(&t);
	assert_null(fc__radix_lookup_near(&t, &cur, 3));
	for (i = 0; i < 3000; i++) {	/* clusters, with empty leaves between */
		k = (th_rand(&s) % 40) * 256 + th_rand(&s) % 100;
		fc__radix_insert(&t, k, V(k));
	}
	for (i = 0; i < 20000; i++) {
		uint64_t step = th_rand(&s) % 8;

		switch (th_rand(&s) % 4) {
		case 0:
			k += step;
			break;
		case 1:
			k = k > step ? k - step : 0;
			break;
		case 2:
			k = th_rand(&s) % (41 * 256);
			break;
		default:	/* beyond the tree's reach, then back */
			k = th_rand(&s) % 2 ? (1ull << 40) + step : k;
		}
		assert_ptr_equal(fc__radix_lookup_near(&t, &cur, k),
				 fc__radix_lookup(&t, k));
		if (i % 1000 == 0) {	/* inserts keep the cursor valid */
			uint64_t n = th_rand(&s) % (41 * 256);

			fc__radix_insert(&t, n, V(n));
		}
	}
	/* a delete may free the leaf: start again from a zeroed cursor */
	for (k = 0; k < 41 * 256; k++)
		if (k % 3)
			fc__radix_delete(&t, k);
	cur = (struct fc_radix_cursor){ 0 };
	for (k = 0; k < 41 * 256; k++)
		assert_ptr_equal(fc__radix_lookup_near(&t, &cur, k),
				 fc__radix_lookup(&t, k));
	assert_true(fc__radix_check(&t));
	fc__radix_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basic),
		cmocka_unit_test(random_vs_reference),
		cmocka_unit_test(sparse),
		cmocka_unit_test(cursor_matches_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
