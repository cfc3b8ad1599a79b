/* SPDX-License-Identifier: MIT */
/*
 * test_memory: memory that follows use (issue 23). A large budget costs
 * nothing until pages are used; fc_cache_set_budget() lowers the budget
 * and raises it again at run time, fc_cache_trim() gives pages back on
 * request, and either keeps every byte equal to the file, alone and while
 * other threads read; bad input is refused and changes nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define MIB (1024ul * 1024)

/* Sanitizer runtimes grow RSS on their own (quarantine, shadow memory). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_IS_OURS 0
#else
#define RSS_IS_OURS 1
#endif
#define FILE_SIZE (32 * MIB)
#define BUDGET (64 * MIB)

static struct fc_stats stats(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	return st;
}

/*
 * fc_cache_trim(@c, @bytes) until it fits. With every read settled only
 * fc-collapse can pin pages, one 2 MiB chunk at a time and briefly:
 * -EBUSY while it does. At most 10 s.
 */
static void trim_until_fits(struct fc_cache *c, size_t bytes)
{
	int ret, i;

	for (i = 0; i < 1000; i++) {
		ret = fc_cache_trim(c, bytes);
		if (ret != -EBUSY)
			break;
		usleep(10000);
	}
	assert_int_equal(ret, 0);
}

/*
 * A fixture over a FILE_SIZE file with a cache of @budget and readahead
 * of 256 KiB (so that budgets down to 2 MiB are allowed), mapped whole.
 */
static struct th_fx *fixture(unsigned seed, size_t budget)
{
	struct th_fx *f = th_fx_file(FILE_SIZE, seed);
	struct fc_config cfg;

	th_config_init(&cfg);
	cfg.cache_bytes = budget;
	cfg.readahead_max = 256 * 1024;
	f->c = fc_cache_create(&cfg);
	assert_non_null(f->c);
	th_check_mode(f->c);
	f->p = fc_map(f->c, f->fd, 0, 0, 0);
	assert_non_null(f->p);
	return f;
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
	if (RSS_IS_OURS)
		assert_true(anon < 16 * 1024);
	assert_int_equal(stats(f->c).budget_bytes, 2048 * MIB);
	th_fx_free(f);
}

/* Lowered, the budget holds at once and through a new scan; raised, the
 * cache grows again. Every byte read stays the file's. */
static void lower_then_raise(void **state)
{
	struct th_fx *f = fixture(42, BUDGET);
	struct fc_stats st;

	(void)state;
	th_check_bytes(f->p, f, 0, FILE_SIZE);
	th_pages_read_settled(f->c);
	st = stats(f->c);
	assert_true(st.resident_bytes >= FILE_SIZE / 2);

	assert_int_equal(fc_cache_set_budget(f->c, 4 * MIB), 0);
	st = stats(f->c);
	assert_int_equal(st.budget_bytes, 4 * MIB);
	/*
	 * and what was pinned then: a chunk fc-collapse works on (2 MiB)
	 * and the pages of one read being installed (at most 1 MiB)
	 */
	assert_true(st.resident_bytes <= 7 * MIB);
	assert_true(st.evictions > 0);
	trim_until_fits(f->c, 4 * MIB);
	assert_true(stats(f->c).resident_bytes <= 4 * MIB);
	th_check_bytes(f->p, f, 0, FILE_SIZE);
	th_pages_read_settled(f->c);
	st = stats(f->c);
	assert_true(st.resident_bytes <= 4 * MIB);
	/* the peak of before the change stays, and is above the budget now */
	assert_true(st.peak_resident_bytes >= FILE_SIZE / 2);

	assert_int_equal(fc_cache_set_budget(f->c, BUDGET), 0);
	assert_int_equal(stats(f->c).budget_bytes, BUDGET);
	th_check_bytes(f->p, f, 0, FILE_SIZE);
	th_pages_read_settled(f->c);
	assert_true(stats(f->c).resident_bytes > 8 * MIB);
	th_fx_free(f);
}

/* Trimmed to nothing, the cache holds nothing, its store is empty, and
 * the mapping reads the file again. */
static void trim_to_nothing(void **state)
{
	struct th_fx *f = fixture(43, BUDGET);
	struct fc_stats st;
	uint64_t store0;

	(void)state;
	th_check_bytes(f->p, f, 0, FILE_SIZE);
	th_pages_read_settled(f->c);
	store0 = th_store_bytes();
	assert_true(store0 >= FILE_SIZE / 2);
	trim_until_fits(f->c, 0);
	st = stats(f->c);
	assert_int_equal(st.resident_bytes, 0);
	assert_int_equal(st.budget_bytes, BUDGET);
	assert_true(th_store_bytes() < MIB);
	th_check_bytes(f->p, f, 0, FILE_SIZE);

	/* to a size: at most that much is left */
	th_pages_read_settled(f->c);
	trim_until_fits(f->c, 8 * MIB + 100);
	st = stats(f->c);
	assert_true(st.resident_bytes <= 8 * MIB);
	assert_true(st.resident_bytes > 0);
	th_check_bytes(f->p, f, 0, FILE_SIZE);
	th_fx_free(f);
}

/* Bad input is refused with EINVAL and the budget stays. */
static void bad_input_changes_nothing(void **state)
{
	struct th_fx *f = fixture(44, BUDGET);
	struct fc_config cfg;
	struct fc_cache *c;

	(void)state;
	assert_int_equal(fc_cache_set_budget(f->c, 0), -EINVAL);
	/* under 16 pages */
	assert_int_equal(fc_cache_set_budget(f->c, 15 * 4096), -EINVAL);
	/* above the budget the cache was made with */
	assert_int_equal(fc_cache_set_budget(f->c, BUDGET + 4096), -EINVAL);
	assert_int_equal(fc_cache_set_budget(f->c, SIZE_MAX), -EINVAL);
	assert_int_equal(stats(f->c).budget_bytes, BUDGET);
	th_check_bytes(f->p, f, 0, FILE_SIZE);

	/* under four readahead windows (eight in copy mode) */
	th_config_init(&cfg);
	cfg.cache_bytes = BUDGET;
	cfg.readahead_max = 4 * MIB;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	assert_int_equal(fc_cache_set_budget(c, 8 * MIB), -EINVAL);
	assert_int_equal(fc_cache_set_budget(c, 32 * MIB), 0);
	assert_int_equal(stats(c).budget_bytes, 32 * MIB);
	fc_cache_destroy(c);
	th_fx_free(f);
}

/* A parent's cache in a forked child: -ECHILD, as for every call. */
static void parent_cache_in_child(void **state)
{
	struct th_fx *f = fixture(45, BUDGET);
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fc_cache_set_budget(f->c, 4 * MIB) == -ECHILD &&
		      fc_cache_trim(f->c, 0) == -ECHILD ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(stats(f->c).budget_bytes, BUDGET);
	th_fx_free(f);
}

struct reader {
	struct th_fx *f;
	unsigned seed;
	atomic_bool *stop;
	unsigned long pages;
};

static void *reader(void *arg)
{
	struct reader *r = arg;
	size_t npages = FILE_SIZE / 4096;

	while (!atomic_load(r->stop)) {
		size_t pg = (size_t)rand_r(&r->seed) % npages;
		size_t n = 1 + (size_t)rand_r(&r->seed) % 64;

		if (pg + n > npages)
			n = npages - pg;
		th_check_bytes(r->f->p + pg * 4096, r->f, (off_t)(pg * 4096),
			       n * 4096);
		r->pages += n;
	}
	return NULL;
}

struct raiser {
	struct fc_cache *c;
	atomic_bool *stop;
};

/* Raises the budget back while the main thread lowers it. */
static void *raiser(void *arg)
{
	struct raiser *r = arg;

	while (!atomic_load(r->stop)) {
		assert_int_equal(fc_cache_set_budget(r->c, BUDGET), 0);
		usleep(3000);
	}
	return NULL;
}

/*
 * Four threads read random runs while the main thread lowers, raises and
 * trims, and another raises: every byte stays the file's, and a budget
 * lowered last holds.
 */
static void changes_under_readers(void **state)
{
	struct th_fx *f = fixture(46, BUDGET);
	struct reader r[4];
	pthread_t t[4], tr;
	atomic_bool stop = false, stop_raiser = false;
	struct raiser ra = { f->c, &stop_raiser };
	unsigned long total = 0;
	struct fc_stats st;
	int i, ret;

	(void)state;
	for (i = 0; i < 4; i++) {
		r[i] = (struct reader){ f, 100u + (unsigned)i, &stop, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, reader, &r[i]), 0);
	}
	assert_int_equal(pthread_create(&tr, NULL, raiser, &ra), 0);
	for (i = 0; i < 200; i++) {
		size_t b = (i % 3 == 0) ? 2 * MIB : (i % 3 == 1) ? 12 * MIB
								  : BUDGET;

		assert_int_equal(fc_cache_set_budget(f->c, b), 0);
		ret = fc_cache_trim(f->c, (size_t)(i % 5) * MIB);
		assert_true(ret == 0 || ret == -EBUSY);
		usleep(2000);
	}
	atomic_store(&stop_raiser, true);
	assert_int_equal(pthread_join(tr, NULL), 0);
	assert_int_equal(fc_cache_set_budget(f->c, 2 * MIB), 0);
	usleep(50000);
	atomic_store(&stop, true);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += r[i].pages;
	}
	print_message("%lu pages read by the readers\n", total);
	assert_true(total > 0);
	th_pages_read_settled(f->c);
	/* the budget lowered last holds through a scan */
	th_check_bytes(f->p, f, 0, FILE_SIZE);
	th_pages_read_settled(f->c);
	st = stats(f->c);
	assert_int_equal(st.budget_bytes, 2 * MIB);
	assert_true(st.resident_bytes <= 2 * MIB);
	trim_until_fits(f->c, 0);
	assert_int_equal(stats(f->c).resident_bytes, 0);
	th_check_bytes(f->p, f, 0, FILE_SIZE);
	th_fx_free(f);
}

struct scanner {
	struct th_fx *f;
	atomic_bool *stop;
};

/* Reads the file from start to end, 4 MiB at a time, until told. */
static void *scanner(void *arg)
{
	struct scanner *s = arg;
	off_t off = 0;

	while (!atomic_load(s->stop)) {
		th_check_bytes(s->f->p + off, s->f, off, 4 * MIB);
		off = (off + (off_t)(4 * MIB)) % s->f->size;
	}
	return NULL;
}

/*
 * Two threads scan a file three times the budget with the default
 * readahead, each fault bringing up to 8 MiB in, while the cache is
 * trimmed to nothing: each call ends (0, or -EBUSY when the scans took
 * pages faster than it gave them back), as the test's time limit checks.
 */
static void trim_ends_under_scans(void **state)
{
	struct th_fx *f = th_fx_file(96 * MIB, 47);
	struct scanner s[2];
	atomic_bool stop = false;
	struct fc_config cfg;
	pthread_t t[2];
	int i, ret, busy = 0;

	(void)state;
	th_config_init(&cfg);
	cfg.cache_bytes = 32 * MIB;
	f->c = fc_cache_create(&cfg);
	assert_non_null(f->c);
	f->p = fc_map(f->c, f->fd, 0, 0, 0);
	assert_non_null(f->p);
	for (i = 0; i < 2; i++) {
		s[i] = (struct scanner){ f, &stop };
		assert_int_equal(pthread_create(&t[i], NULL, scanner, &s[i]), 0);
	}
	for (i = 0; i < 50; i++) {
		ret = fc_cache_trim(f->c, 0);
		assert_true(ret == 0 || ret == -EBUSY);
		busy += ret == -EBUSY;
		usleep(5000);
	}
	atomic_store(&stop, true);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	print_message("%d of 50 trims said EBUSY\n", busy);
	th_pages_read_settled(f->c);
	trim_until_fits(f->c, 0);
	assert_int_equal(stats(f->c).resident_bytes, 0);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(large_budget_costs_nothing_until_used),
		cmocka_unit_test(lower_then_raise),
		cmocka_unit_test(trim_to_nothing),
		cmocka_unit_test(bad_input_changes_nothing),
		cmocka_unit_test(parent_cache_in_child),
		cmocka_unit_test(changes_under_readers),
		cmocka_unit_test(trim_ends_under_scans),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
