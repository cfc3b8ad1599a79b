/* SPDX-License-Identifier: MIT */
/*
 * test_errors: read errors injected below the library (white-box hook in
 * the I/O engine). A transient error is retried and never surfaces; a
 * persistent one gives SIGBUS, with the fault address, to the thread that
 * touches the page and to no other; a failed readahead page gives nothing;
 * and a page the store lost under the index is read again, once its
 * pin (a collapse's) lets it go if it has one.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "io.h"
#include "mapping.h"
#include "maptab.h"
#include "radix.h"
#include "reclaim.h"
#include "store.h"
#include "uffd.h"

#define SIZE (4 * 1024 * 1024)

static struct {
	unsigned char *p, *ref;
	atomic_int bad;
	atomic_int stop;
} g;

/* The file mapped whole; g.p and g.ref point into the fixture. */
static struct th_fx *setup(void)
{
	struct th_fx *f = th_fx_new(SIZE, 51, 0, true);

	g.p = f->p;
	g.ref = f->ref;
	return f;
}

static void transient(void **state)
{
	struct th_fx *f = setup();
	struct fc_stats st;

	(void)state;
	fc__io_inject_error(100 * 4096, 1, EIO);	/* fails once */
	assert_int_equal(th_touch(g.p + 100 * 4096, NULL), 0);
	assert_memory_equal(g.p, g.ref, SIZE);
	fc_cache_stats(f->c, &st);
	assert_int_equal(st.io_errors, 1);
	assert_true(st.io_retries >= 1);
	assert_int_equal(st.sigbus, 0);
	th_fx_free(f);
}

static void *other_reader(void *arg)
{
	uint64_t s = 3;

	(void)arg;
	while (!g.stop) {
		uint64_t off = (th_rand(&s) % (SIZE / 2)) + SIZE / 2;

		if (g.p[off] != g.ref[off])
			g.bad++;
	}
	return NULL;
}

static void persistent(void **state)
{
	struct th_fx *f = setup();
	unsigned char *x;
	pthread_t t;
	struct fc_stats st;
	unsigned char v;
	bool inl;

	(void)state;
	fc_cache_stats(f->c, &st);
	inl = st.flags & FC_STATS_INLINE;
	x = g.p + 200 * 4096 + 17;
	g.stop = 0;
	/*
	 * every read of it fails until cleared (below): the other reader's
	 * read-around (8 MiB, the whole file) may read it too, and a fault
	 * that only joined that read's retry reads the page again itself.
	 * Set before the other reader starts, whose first read-around would
	 * otherwise cache the page, and then the touch below reads it.
	 */
	fc__io_inject_error(200 * 4096, 1 << 30, EIO);
	pthread_create(&t, NULL, other_reader, NULL);
	assert_int_equal(th_touch(x, &v), SIGBUS);
	assert_ptr_equal(th_last_fault_addr(), x);
	/*
	 * The page stays failed in this mapping until DONTNEED; inline, it
	 * is read again at the next touch (as the kernel does: a poisoned
	 * page's SIGBUS could not be told from a fault's), and fails again.
	 */
	assert_int_equal(th_touch(x, &v), SIGBUS);
	assert_ptr_equal(th_last_fault_addr(), x);
	/* neighbours and other threads are fine */
	assert_memory_equal(g.p + 201 * 4096, g.ref + 201 * 4096, 4096);
	assert_memory_equal(g.p, g.ref, 199 * 4096);
	g.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(g.bad, 0);
	fc_cache_stats(f->c, &st);
	assert_int_equal(st.sigbus, inl ? 2 : 1);
	/* a read and its retry per SIGBUS, at least */
	assert_true(st.io_errors >= (inl ? 4 : 2));
	fc__io_inject_error(0, 0, 0);	/* the device heals */
	/* clear it: the next touch reads again, and the device is healthy */
	assert_int_equal(fc_advise(g.p + 200 * 4096, 4096, FC_ADVICE_DONTNEED),
			 0);
	assert_int_equal(th_touch(x, &v), 0);
	assert_int_equal(v, g.ref[200 * 4096 + 17]);
	assert_memory_equal(g.p, g.ref, SIZE);
	th_fx_free(f);
}

/*
 * As on a kernel without UFFDIO_POISON (before 6.6): the faulting thread
 * still gets SIGBUS (sent by tgkill, so without si_addr) and does not hang;
 * once the device is healthy the next touch reads the page.
 */
static void persistent_without_poison(void **state)
{
	struct th_fx *f = setup();
	unsigned char *x = g.p + 300 * 4096 + 5;
	struct fc_stats st;
	unsigned char v;

	(void)state;
	fc__uffd_disable_poison(true);
	fc__io_inject_error(300 * 4096, 2, EIO);
	assert_int_equal(th_touch(x, &v), SIGBUS);
	fc_cache_stats(f->c, &st);
	assert_int_equal(st.sigbus, 1);
	assert_int_equal(th_touch(x, &v), 0);	/* nothing sticks: read again */
	assert_int_equal(v, g.ref[300 * 4096 + 5]);
	fc__uffd_disable_poison(false);
	assert_memory_equal(g.p, g.ref, SIZE);
	th_fx_free(f);
}

/* A page that only readahead wanted fails: nobody gets a signal. */
static void readahead_failure_is_silent(void **state)
{
	struct th_fx *f = setup();
	struct fc_stats st;

	(void)state;
	fc__io_inject_error(5 * 4096, 2, EIO);	/* inside the first window */
	assert_int_equal(th_touch(g.p, NULL), 0);	/* fault on page 0 */
	assert_memory_equal(g.p, g.ref, SIZE);	/* page 5 read again */
	fc_cache_stats(f->c, &st);
	assert_int_equal(st.sigbus, 0);
	assert_int_equal(st.io_errors, 2);
	th_fx_free(f);
}

/*
 * A page the index holds but the store lost (here punched behind the
 * library's back, which nothing in it does) is read again at the next
 * touch: never a fault sent back to fault again for ever, never zeros.
 * Copy mode copies from the store's pages without a fault to check on,
 * so it is the default and inline modes' test only.
 */
static void lost_store_page_is_read_again(void **state)
{
	struct th_fx *f = setup();
	struct fc_mapping *m;
	uint64_t before;

	(void)state;
	if (!th_zero_copy(f->c)) {
		th_fx_free(f);
		skip();
	}
	assert_int_equal(fc_advise(g.p, SIZE, FC_ADVICE_RANDOM), 0);
	assert_int_equal(th_touch(g.p + 200 * 4096, NULL), 0);
	before = th_pages_read_settled(f->c);
	m = fc__mapping_lookup((uintptr_t)g.p);
	assert_non_null(m);
	pthread_mutex_lock(&f->c->lock);
	fc__store_punch(f->c, m->file, 200, 1);	/* the view loses it too */
	pthread_mutex_unlock(&f->c->lock);
	fc__mapping_put(m);
	assert_memory_equal(g.p + 200 * 4096, g.ref + 200 * 4096, 4096);
	assert_int_equal(th_pages_read_settled(f->c), before + 1);
	assert_memory_equal(g.p, g.ref, SIZE);
	th_fx_free(f);
}

static void *toucher(void *arg)
{
	unsigned char v;

	if (th_touch(arg, &v) || v != g.ref[(unsigned char *)arg - g.p])
		atomic_fetch_add(&g.bad, 1);
	return NULL;
}

/*
 * The same loss while the page is pinned, as fc-collapse pins a chunk
 * while it collapses it (found with MADV_REMOVE on a view during
 * collapse): the fault must not drop a pinned page, whose pinner finds it
 * again to unpin it (collapse dereferenced NULL). It is marked stale,
 * dropped with its last pin, and then read again.
 */
static void lost_pinned_page_waits_for_its_pin(void **state)
{
	struct th_fx *f = setup();
	struct fc_mapping *m;
	struct fc_page *pg;
	struct fc_stats st;
	uint64_t faults;
	bool marked, kept;
	pthread_t t;

	(void)state;
	if (!th_zero_copy(f->c)) {
		th_fx_free(f);
		skip();
	}
	assert_int_equal(fc_advise(g.p, SIZE, FC_ADVICE_RANDOM), 0);
	assert_int_equal(th_touch(g.p + 300 * 4096, NULL), 0);
	th_pages_read_settled(f->c);
	m = fc__mapping_lookup((uintptr_t)g.p);
	assert_non_null(m);
	pthread_mutex_lock(&f->c->lock);
	pg = fc__radix_lookup(&m->file->tree, 300);
	assert_non_null(pg);
	pg->pins++;				/* what collapse's pin_range does */
	fc__store_punch(f->c, m->file, 300, 1);
	pthread_mutex_unlock(&f->c->lock);
	fc_cache_stats(f->c, &st);
	faults = st.faults;
	g.bad = 0;
	assert_int_equal(pthread_create(&t, NULL, toucher,
					g.p + 300 * 4096), 0);
	do {	/* until the toucher's fault found it (or dropped it) */
		usleep(1000);
		pthread_mutex_lock(&f->c->lock);
		pg = fc__radix_lookup(&m->file->tree, 300);
		marked = pg && pg->stale;
		pthread_mutex_unlock(&f->c->lock);
	} while (pg && !marked);
	pthread_mutex_lock(&f->c->lock);	/* collapse's unpin_range */
	pg = fc__radix_lookup(&m->file->tree, 300);
	kept = pg && pg->pins == 1;
	if (kept && --pg->pins == 0 && pg->stale)
		fc__page_drop(f->c, pg);
	pthread_mutex_unlock(&f->c->lock);
	assert_true(kept);
	fc_cache_stats(f->c, &st);
	assert_true(st.faults >= faults + 1);
	fc__mapping_put(m);
	pthread_join(t, NULL);
	assert_int_equal(g.bad, 0);
	assert_memory_equal(g.p, g.ref, SIZE);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(transient),
		cmocka_unit_test(persistent),
		cmocka_unit_test(persistent_without_poison),
		cmocka_unit_test(readahead_failure_is_silent),
		cmocka_unit_test(lost_store_page_is_read_again),
		cmocka_unit_test(lost_pinned_page_waits_for_its_pin),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
