/* SPDX-License-Identifier: MIT */
/*
 * test_memory: memory that follows use (issue 23). A large budget costs
 * nothing until pages are used.
 */
#include <stdint.h>

#include <faultcache.h>

#include "helpers.h"

#define MIB (1024ul * 1024)

static struct fc_stats stats(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	return st;
}

/*
 * A 2 GiB budget over a 1 MiB file: the cache's own memory is what the
 * file's pages take, not a share of the budget (page entries made for the
 * whole budget at creation took 40 MiB of RssAnon here).
 */
static void large_budget_costs_nothing_until_used(void **state)
{
	struct th_fx *f = th_fx_file(MIB, 41);
	struct fc_config cfg;
	long anon0, anon;

	(void)state;
	th_config_init(&cfg);
	cfg.cache_bytes = 2048 * MIB;
	anon0 = th_status_kb("RssAnon:");
	f->c = fc_cache_create(&cfg);
	assert_non_null(f->c);
	f->p = fc_map(f->c, f->fd, 0, 0, 0);
	assert_non_null(f->p);
	th_check_bytes(f->p, f, 0, MIB);
	th_pages_read_settled(f->c);
	anon = th_status_kb("RssAnon:") - anon0;
	/* a copy mode's copies of the file, staging, threads' stacks */
	print_message("RssAnon grew by %ld KiB\n", anon);
	assert_true(anon < 16 * 1024);
	assert_int_equal(stats(f->c).budget_bytes, 2048 * MIB);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(large_budget_costs_nothing_until_used),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
