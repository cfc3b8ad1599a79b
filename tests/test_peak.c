/* SPDX-License-Identifier: MIT */
/*
 * test_peak: fc_stats.peak_resident_bytes (since 0.6) is the highest
 * resident_bytes since the cache was made: it starts at 0, follows what
 * reads take, never falls (not when pages are dropped, nor when the cache
 * evicts), is never below resident_bytes, and never above the budget.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

static struct fc_stats stats(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_true(st.peak_resident_bytes >= st.resident_bytes);
	assert_true(st.peak_resident_bytes <= st.budget_bytes);
	return st;
}

static void starts_at_zero(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 31, 0, true);
	struct fc_stats st = stats(f->c);

	(void)state;
	assert_int_equal(st.resident_bytes, 0);
	assert_int_equal(st.peak_resident_bytes, 0);
	th_fx_free(f);
}

/* Reading takes pages; dropping them (truncation) lowers resident only. */
static void follows_reads_and_stays(void **state)
{
	struct th_fx *f = th_fx_new(4 << 20, 32, 64 << 20, true);
	struct fc_stats st;
	uint64_t peak;
	int i;

	(void)state;
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	th_pages_read_settled(f->c);
	st = stats(f->c);
	assert_true(st.resident_bytes >= (uint64_t)f->size);
	assert_true(st.peak_resident_bytes >= (uint64_t)f->size);
	peak = st.peak_resident_bytes;
	/* the file shrinks to nothing: its pages go, the peak stays */
	assert_int_equal(ftruncate(f->fd, 0), 0);
	for (i = 0; i < 500; i++) {
		st = stats(f->c);
		if (st.resident_bytes < (uint64_t)f->size)
			break;
		usleep(10000);
	}
	assert_true(st.resident_bytes < (uint64_t)f->size);
	assert_int_equal(st.peak_resident_bytes, peak);
	th_fx_free(f);
}

/*
 * A file four times the budget: the cache evicts. The peak reaches the
 * budget (the default and inline modes evict only once every page is in
 * use) and no more, and never falls between snapshots.
 */
static void bounded_by_budget(void **state)
{
	struct th_fx *f = th_fx_new(16 << 20, 33, 4 << 20, true);
	struct fc_stats st;
	uint64_t last = 0;
	size_t off;

	(void)state;
	for (off = 0; off < (size_t)f->size; off += 1 << 20) {
		assert_memory_equal(f->p + off, f->ref + off, 1 << 20);
		st = stats(f->c);
		assert_true(st.peak_resident_bytes >= last);
		last = st.peak_resident_bytes;
	}
	st = stats(f->c);
	assert_true(st.evictions > 0);
	if (th_zero_copy(f->c))
		assert_int_equal(st.peak_resident_bytes, st.budget_bytes);
	else	/* copies count too, and make room before they are taken */
		assert_true(st.peak_resident_bytes >= st.budget_bytes / 2);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starts_at_zero),
		cmocka_unit_test(follows_reads_and_stays),
		cmocka_unit_test(bounded_by_budget),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
