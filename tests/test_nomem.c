/* SPDX-License-Identifier: MIT */
/*
 * test_nomem: every undo path of fc_cache_create, fc_map, fc_map_backend
 * and a fault, walked by making one call fail: the Nth allocation
 * (malloc, calloc, realloc), mmap, io_uring setup, eventfd, memfd or
 * thread start, for each N until the operation no longer reaches the Nth
 * (tests/wrap.c, ld --wrap). After each failure: the documented errno,
 * nothing changed (descriptors, threads, mappings, the store's free
 * space), and no leak (LeakSanitizer in the ASan build). A fault whose
 * read meets one failure still gives the file's bytes (it is retried),
 * and never hangs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "cache.h"
#include "inject_backend.h"
#include "types.h"
#include "wrap.h"

#define PG 4096
#define SIZE (1024 * PG)
#define MAX_N 400	/* more calls than any of these makes */

static const struct {
	unsigned kind;
	int err;		/* what the call fails with */
	const char *name;
} kinds[] = {
	{ TW_MALLOC, ENOMEM, "malloc" },
	{ TW_MMAP, ENOMEM, "mmap" },
	{ TW_URING, ENOMEM, "io_uring setup" },
	{ TW_EVENTFD, EMFILE, "eventfd" },
	{ TW_MEMFD, EMFILE, "memfd_create" },
	{ TW_THREAD, EAGAIN, "pthread_create" },
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* What a failed call may say: the failure given, or ENOMEM for it. */
static void expect_errno(int got, int injected)
{
	if (got != injected && got != ENOMEM)
		fail_msg("errno %d (%s) after a failure with %s", got,
			 strerror(got), strerror(injected));
}

/* Threads come and go (io_uring's workers): wait for the count. */
static void expect_threads(int want)
{
	int i;

	for (i = 0; i < 1000 && th_count_threads() != want; i++)
		usleep(10000);
	assert_int_equal(th_count_threads(), want);
}

static void create(void **state)
{
	int fds = th_count_fds(), thr = th_count_threads();
	struct fc_config cfg;
	size_t k;
	long n;

	(void)state;
	th_config_init(&cfg);
	for (k = 0; k < NKINDS; k++) {
		for (n = 1; n < MAX_N; n++) {
			struct fc_cache *c;
			int err;

			tw_arm(kinds[k].kind, n, kinds[k].err);
			c = fc_cache_create(&cfg);
			err = errno;
			tw_disarm();
			if (!tw_failed()) {	/* made without the Nth call */
				assert_non_null(c);
				fc_cache_destroy(c);
				break;
			}
			if (c) {	/* a failure it can do without */
				fc_cache_destroy(c);
			} else {
				expect_errno(err, kinds[k].err);
			}
			assert_int_equal(th_count_fds(), fds);
			expect_threads(thr);
		}
		assert_true(n < MAX_N);
	}
}

/* Free space of @c's store: what its regions do not take. */
static uint64_t store_free(struct fc_cache *c)
{
	uint64_t free_bytes;
	size_t i;

	pthread_mutex_lock(&c->lock);
	free_bytes = FC_MEMFD_SPAN - c->next_region;
	for (i = 0; i < c->nr_extents; i++)
		free_bytes += c->extents[i].len;
	pthread_mutex_unlock(&c->lock);
	return free_bytes;
}

/*
 * fc_map of a file the cache does not hold yet (a new cache for each
 * kind: a file kept after its mapping would be found, not made).
 */
static void map(void **state)
{
	struct th_fx *f = th_fx_file(SIZE, 21);
	struct fc_stats st;
	size_t k;
	long n;

	(void)state;
	for (k = 0; k < 2; k++) {	/* malloc, mmap */
		struct fc_cache *c = th_cache_create();
		int fds = th_count_fds();
		uint64_t room;

		assert_non_null(c);
		room = store_free(c);
		for (n = 1; n < MAX_N; n++) {
			unsigned char *p;
			int err;

			tw_arm(kinds[k].kind, n, kinds[k].err);
			p = fc_map(c, f->fd, 0, 0, 0);
			err = errno;
			tw_disarm();
			if (p) {
				assert_memory_equal(p, f->ref, SIZE);
				assert_int_equal(fc_unmap(p), 0);
				break;
			}
			assert_true(tw_failed());
			expect_errno(err, kinds[k].err);
			assert_int_equal(fc_cache_stats(c, &st), 0);
			assert_int_equal(st.mappings, 0);
			/* no file object left behind, nor its region */
			assert_int_equal(th_count_fds(), fds);
			assert_true(store_free(c) == room);
		}
		assert_true(n < MAX_N);
		fc_cache_destroy(c);
	}
	th_fx_free(f);
}

static void map_backend(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 22, 0, false);
	struct ib *b = ib_new(f->fd, 2);
	uint64_t room = store_free(f->c);
	unsigned char *p = NULL;
	struct fc_stats st;
	size_t k;
	long n;

	(void)state;
	for (k = 0; k < 2; k++) {
		for (n = 1; n < MAX_N; n++) {
			int err;

			tw_arm(kinds[k].kind, n, kinds[k].err);
			p = fc_map_backend(f->c, &ib_ops, b, 0, 0, 0);
			err = errno;
			tw_disarm();
			if (p)
				break;	/* the backend is the cache's now */
			assert_true(tw_failed());
			expect_errno(err, kinds[k].err);
			assert_false(ib_released(b));	/* still the caller's */
			assert_int_equal(fc_cache_stats(f->c, &st), 0);
			assert_int_equal(st.mappings, 0);
			assert_true(store_free(f->c) == room);
		}
		assert_true(n < MAX_N);
		assert_memory_equal(p, f->ref, SIZE);
		assert_int_equal(fc_unmap(p), 0);
		/* released with the last read in flight (readahead's) */
		for (n = 0; n < 1000 && !ib_released(b); n++)
			usleep(10000);
		assert_true(ib_released(b));
		ib_free(b);
		b = ib_new(f->fd, 2);
	}
	ib_free(b);
	th_fx_free(f);
}

/*
 * One failure in a fault (the Nth call of a kind from its start): the
 * read is retried, the fault deferred, or the allocation done without;
 * the thread gets the file's bytes, never SIGBUS, never a hang. Each
 * fault is on a page not read yet (RANDOM advice: one page a read).
 */
static void fault(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 23, 0, true);
	size_t page = 0, k;
	long n;

	(void)state;
	assert_int_equal(fc_advise(f->p, SIZE, FC_ADVICE_RANDOM), 0);
	for (k = 0; k < 2; k++) {
		for (n = 1; n < 40 && page < SIZE / PG; n++, page++) {
			unsigned char v;
			int sig;

			th_pages_read_settled(f->c);
			tw_arm(kinds[k].kind, n, kinds[k].err);
			sig = th_touch(f->p + page * PG + 5, &v);
			tw_disarm();
			assert_int_equal(sig, 0);
			assert_int_equal(v, f->ref[page * PG + 5]);
			if (!tw_failed())
				break;
		}
	}
	th_pages_read_settled(f->c);
	assert_memory_equal(f->p, f->ref, SIZE);
	th_fx_free(f);
}

/*
 * One allocation failure from an mremap of a view over another view
 * (the Nth from the move): the table follows the move all the same (its
 * handler tries again), so the moved range shows its own file offsets,
 * never those of the view it went over, and both unmap by their new
 * pointers. The moved range is faulted only once the move is applied.
 */
static void remap(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 24, 0, false);
	long n;

	(void)state;
	for (n = 1; n < 40; n++) {
		unsigned char *p = fc_map(f->c, f->fd, 0, 8 * PG, 0);
		unsigned char *q = fc_map(f->c, f->fd, 16 * PG, 24 * PG, 0);
		unsigned char *np;

		assert_non_null(p);
		assert_non_null(q);
		th_pages_read_settled(f->c);
		tw_arm(TW_MALLOC, n, ENOMEM);
		np = mremap(p, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
			    q + 8 * PG);
		fc__remaps_settle();
		tw_disarm();
		assert_ptr_equal(np, q + 8 * PG);
		th_moved_over_check(f, q);
		if (!tw_failed())
			break;
	}
	assert_true(n > 1);	/* the move allocated */
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create),
		cmocka_unit_test(map),
		cmocka_unit_test(map_backend),
		cmocka_unit_test(fault),
		cmocka_unit_test(remap),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
