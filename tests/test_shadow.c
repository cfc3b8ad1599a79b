/* SPDX-License-Identifier: MIT */
/*
 * test_shadow: the key by which a workingset shadow is found, from a
 * page's file and index (fc__shadow_key). A shadow tells a page read
 * again soon after its eviction (a refault: it goes to the active list)
 * from one read for the first time, so two pages must not share a key in
 * any systematic way. (id << 44) ^ index gave files 2^20 apart the same
 * key for every index, and a file's page 2^44 apart in index that of
 * another file's. Pure: the key of made-up pages.
 */
#include <stdint.h>

#include "helpers.h"
#include "reclaim.h"

static uint64_t key(uint64_t id, uint64_t index)
{
	struct fc_file f = { .id = id };
	struct fc_page pg = { .file = &f, .index = index };

	return fc__shadow_key(&pg);
}

static void distinct_keys(void **state)
{
	uint64_t id, i;

	(void)state;
	for (i = 0; i < 64; i++) {
		/* files 2^20 apart (the shift dropped their high bits) */
		assert_true(key(1, i) != key(1 + (1ull << 20), i));
		assert_true(key(7, i) != key(7 + (5ull << 20), i));
		/* indexes reaching into the file id's bits */
		assert_true(key(2, i) != key(1, i ^ (3ull << 44)));
	}
	/* one file: every index its own key (the mixing is a bijection) */
	for (id = 1; id < 4; id++)
		for (i = 0; i < 4096; i++)
			assert_true(key(id, i) != key(id, i + 1));
	/* the same page, the same key */
	assert_true(key(3, 99) == key(3, 99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(distinct_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
