/* SPDX-License-Identifier: MIT */
/*
 * test_mincore: fc_mincore(3) says, per system page of a mapping, whether
 * the cache holds it: set for pages read (by any mapping of the file),
 * whether or not this view maps them now, clear for pages never read,
 * evicted, or past the end of the file; mincore(2)'s errors otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define PG 4096

static size_t count(const unsigned char *v, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += v[i] & 1;
	return k;
}

/* Pages touched are held; others not; dropping the PTEs changes nothing. */
static void touched_pages_are_held(void **state)
{
	struct th_fx *f = th_fx_new(4 << 20, 41, 0, true);
	size_t n = (size_t)f->size / PG;
	unsigned char *v = malloc(n);
	static const size_t pages[] = { 0, 5, 100, 1023 };
	size_t i;

	(void)state;
	assert_non_null(v);
	assert_int_equal(fc_advise(f->p, (size_t)f->size, FC_ADVICE_RANDOM), 0);
	memset(v, 0xee, n);
	assert_int_equal(fc_mincore(f->p, (size_t)f->size, v), 0);
	assert_int_equal(count(v, n), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(v[i], 0);	/* no other bit set */
	for (i = 0; i < 4; i++)
		assert_int_equal(f->p[pages[i] * PG + 7], f->ref[pages[i] * PG + 7]);
	th_pages_read_settled(f->c);
	assert_int_equal(fc_mincore(f->p, (size_t)f->size, v), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(v[pages[i]], 1);
	assert_int_equal(count(v, n), 4);
	/* a sub-range, its start page-aligned, its length not */
	assert_int_equal(fc_mincore(f->p + 5 * PG, PG + 1, v), 0);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 0);
	/* the view's PTEs dropped: the cache still holds the pages */
	assert_int_equal(fc_advise(f->p, (size_t)f->size, FC_ADVICE_DONTNEED), 0);
	assert_int_equal(fc_mincore(f->p, (size_t)f->size, v), 0);
	assert_int_equal(count(v, n), 4);
	free(v);
	th_fx_free(f);
}

/* The cache is per file: a page read through one mapping, seen in another. */
static void shared_between_mappings(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 42, 0, true);
	unsigned char *q = fc_map(f->c, f->fd, 64 * PG, 16 * PG, 0);
	unsigned char v[16];

	(void)state;
	assert_non_null(q);
	assert_int_equal(fc_advise(f->p, (size_t)f->size, FC_ADVICE_RANDOM), 0);
	assert_int_equal(fc_advise(q, 16 * PG, FC_ADVICE_RANDOM), 0);
	assert_int_equal(f->p[70 * PG], f->ref[70 * PG]);
	th_pages_read_settled(f->c);
	assert_int_equal(fc_mincore(q, sizeof(v) * PG, v), 0);
	assert_int_equal(count(v, 16), 1);
	assert_int_equal(v[6], 1);
	assert_int_equal(fc_unmap(q), 0);
	th_fx_free(f);
}

/* Past the end of the file: never held, as the kernel has no page there. */
static void past_eof(void **state)
{
	struct th_fx *f = th_fx_file(3 * PG + 100, 43);
	unsigned char v[8];
	unsigned char *p;
	size_t i;

	(void)state;
	f->c = th_cache_create();
	assert_non_null(f->c);
	p = fc_map(f->c, f->fd, 0, 8 * PG, 0);
	assert_non_null(p);
	for (i = 0; i < (size_t)f->size; i += PG)
		assert_int_equal(p[i], f->ref[i]);
	th_pages_read_settled(f->c);
	assert_int_equal(fc_mincore(p, 8 * PG, v), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(v[i], i < 4);
	assert_int_equal(fc_unmap(p), 0);
	th_fx_free(f);
}

/* A cache that evicts: the pages gone are no longer held. */
static void evicted_pages_are_not_held(void **state)
{
	struct th_fx *f = th_fx_new(8 << 20, 44, 1 << 20, true);
	size_t n = (size_t)f->size / PG;
	unsigned char *v = malloc(n);
	struct fc_stats st;

	(void)state;
	assert_non_null(v);
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	th_pages_read_settled(f->c);
	assert_int_equal(fc_cache_stats(f->c, &st), 0);
	assert_true(st.evictions > 0);
	assert_int_equal(fc_mincore(f->p, (size_t)f->size, v), 0);
	/* at most the budget's pages held, and the first ones went */
	assert_true(count(v, n) * PG <= st.budget_bytes);
	assert_int_equal(v[0], 0);
	free(v);
	th_fx_free(f);
}

static void errors(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 45, 0, true);
	unsigned char v[300];
	void *anon;

	(void)state;
	assert_int_equal(fc_mincore(f->p + 1, PG, v), -EINVAL);
	assert_int_equal(fc_mincore(f->p, 0, v), 0);
	assert_int_equal(fc_mincore(f->p, PG, NULL), -EFAULT);
	/* running past the mapping's end */
	assert_int_equal(fc_mincore(f->p, (size_t)f->size + PG, v), -ENOMEM);
	/* memory that is not a mapping of the library */
	anon = malloc(2 * PG);
	assert_non_null(anon);
	assert_int_equal(fc_mincore((void *)(((uintptr_t)anon + PG) & ~(uintptr_t)(PG - 1)),
				    PG, v), -ENOMEM);
	free(anon);
	assert_int_equal(fc_mincore((void *)(uintptr_t)PG, PG, v), -ENOMEM);
	/* an unmapped mapping */
	assert_int_equal(fc_unmap(f->p), 0);
	assert_int_equal(fc_mincore(f->p, PG, v), -ENOMEM);
	f->p = NULL;
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(touched_pages_are_held),
		cmocka_unit_test(shared_between_mappings),
		cmocka_unit_test(past_eof),
		cmocka_unit_test(evicted_pages_are_not_held),
		cmocka_unit_test(errors),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
