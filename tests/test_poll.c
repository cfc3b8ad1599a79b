/* SPDX-License-Identifier: MIT */
/*
 * test_poll: polled inline reads (FC_CONFIG_INLINE with cfg.poll_us).
 *
 * A faulting thread of an inline cache reads its own page; with poll_us it
 * does so in one of the cache's rings and polls for the completion, then
 * sleeps in the ring once poll_us is over, and reads with pread (asleep)
 * when every ring is taken or more faults are under way than rings. Each
 * path must give the file's bytes: compared with pread, page by page, on
 * one thread and on several, with the polls counted so that the path under
 * test is known to have been taken. Which way a read goes is measured per
 * file (polled only while polled reads are the faster); the tests of the
 * ring paths pin it to polling, and the tests of the choice make one way
 * slow on purpose.
 */
#include <errno.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "config.h"
#include "mapping.h"
#include "maptab.h"
#include "polled.h"

#define MB (1024 * 1024)
#define PG 4096

/* A file of @size random bytes, written back and out of the page cache. */
static struct th_fx *cold_file(off_t size, unsigned seed)
{
	struct th_fx *f = th_fx_file(size, seed);

	assert_int_equal(fdatasync(f->fd), 0);
	posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
	return f;
}

static struct fc_cache *inline_cache(unsigned poll_us)
{
	struct fc_config cfg;
	struct fc_cache *c;

	th_config_init(&cfg);	/* $FC_INLINE set in main: handlers too */
	assert_true(cfg.flags & FC_CONFIG_INLINE);
	cfg.poll_us = poll_us;
	cfg.cache_bytes = 64 * MB;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	c->poll_fixed = true;	/* the ring paths; the choice: chooses_* */
	return c;
}

/* Pages [0, n) in an order of @seed (a permutation). */
static size_t *shuffled(size_t n, unsigned seed)
{
	size_t *o = malloc(n * sizeof(*o)), i;

	assert_non_null(o);
	for (i = 0; i < n; i++)
		o[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand_r(&seed) % (i + 1), t = o[i];

		o[i] = o[j];
		o[j] = t;
	}
	return o;
}

/*
 * Touch pages [@from, @from + @n) of @f, mapped at @p, in an order of
 * @seed, each compared with the file's.
 */
static void touch_range(unsigned char *p, struct th_fx *f, size_t from,
			size_t n, unsigned seed)
{
	size_t *o = shuffled(n, seed), i;

	for (i = 0; i < n; i++)
		assert_memory_equal(p + (from + o[i]) * PG,
				    f->ref + (from + o[i]) * PG, PG);
	free(o);
}

/*
 * Map @f in @c with FC_ADVICE_RANDOM (every fault reads its own page in
 * the faulting thread, no readahead handed on), touch its pages in a
 * random order and compare each with the file's.
 */
static void read_random(struct fc_cache *c, struct th_fx *f, unsigned seed)
{
	unsigned char *p = fc_map(c, f->fd, 0, 0, 0);

	assert_non_null(p);
	assert_int_equal(fc_advise(p, (size_t)f->size, FC_ADVICE_RANDOM), 0);
	touch_range(p, f, 0, (size_t)f->size / PG, seed);
	assert_memory_equal(p, f->ref, (size_t)f->size);
	assert_int_equal(fc_unmap(p), 0);
}

static bool is_tmpfs(const char *dir)
{
	struct statfs s;

	return !statfs(dir, &s) && s.f_type == TMPFS_MAGIC;
}

/*
 * cold_file(), for the tests of polling: a tmpfs file's reads are never
 * polled for (memory_fs, below), so these need FC_TEST_DIR on a disk.
 */
static struct th_fx *disk_file(off_t size, unsigned seed)
{
	if (is_tmpfs(th_dir())) {
		printf("# %s is tmpfs: its reads are not polled for\n",
		       th_dir());
		skip();
	}
	return cold_file(size, seed);
}

/* The default: pollers, and one thread's reads polled for. */
static void polled_one_thread(void **state)
{
	struct th_fx *f = disk_file(8 * MB, 1);
	struct fc_config cfg;
	struct fc_stats st;
	struct fc_cache *c;

	(void)state;
	fc_config_init(&cfg);
	assert_int_equal(cfg.poll_us, 200);
	c = inline_cache(cfg.poll_us);
	assert_true(c->nr_pollers >= 1);
	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_true(st.flags & FC_STATS_POLL);
	read_random(c, f, 7);
	/*
	 * one thread faults at a time: every read it made was polled (a
	 * short read is continued: one more)
	 */
	assert_true(atomic_load(&c->nr_polled) >=
		    (unsigned long)(f->size / PG));
	fc_cache_destroy(c);
	th_fx_free(f);
}

/*
 * poll_us 1: the poll is over before any device read completes, so the
 * thread waits in the ring.
 */
static void poll_time_out(void **state)
{
	struct th_fx *f = disk_file(4 * MB, 2);
	struct fc_cache *c = inline_cache(1);

	(void)state;
	read_random(c, f, 8);
	assert_true(atomic_load(&c->nr_polled) >=
		    (unsigned long)(f->size / PG));
	assert_true(atomic_load(&c->nr_poll_slept) > 0);
	fc_cache_destroy(c);
	th_fx_free(f);
}

/* poll_us 0: no rings, pread as before. */
static void no_poll(void **state)
{
	struct th_fx *f = cold_file(4 * MB, 3);
	struct fc_cache *c = inline_cache(0);
	struct fc_stats st;

	(void)state;
	assert_int_equal(c->nr_pollers, 0);
	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_false(st.flags & FC_STATS_POLL);
	read_random(c, f, 9);
	assert_int_equal(atomic_load(&c->nr_polled), 0);
	fc_cache_destroy(c);
	th_fx_free(f);
}

/*
 * A file on tmpfs: its reads are copies from memory, which io_uring hands
 * to a worker thread, so they are read with pread, never polled for, with
 * rings free for the disk files of the same cache (polled as ever).
 */
static void memory_fs(void **state)
{
	const char *dir = "/dev/shm";
	struct fc_cache *c = inline_cache(200);
	struct th_fx *f;
	struct fc_stats st;

	(void)state;
	if (!is_tmpfs(dir)) {
		fc_cache_destroy(c);
		printf("# %s is not tmpfs\n", dir);
		skip();
	}
	f = th_fx_file_in(dir, 4 * MB, 12);
	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_true(st.flags & FC_STATS_POLL);	/* rings there, unused */
	read_random(c, f, 13);
	assert_int_equal(atomic_load(&c->nr_polled), 0);
	if (!is_tmpfs(th_dir())) {	/* and a disk file's reads are */
		struct th_fx *g = cold_file(4 * MB, 14);

		read_random(c, g, 15);
		assert_true(atomic_load(&c->nr_polled) >=
			    (unsigned long)(g->size / PG));
		th_fx_free(g);
	}
	fc_cache_destroy(c);
	th_fx_free(f);
}

struct worker {
	struct th_fx *f;
	unsigned char *p;
	unsigned seed;
	size_t bad;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	size_t n = (size_t)w->f->size / PG, i, *o = shuffled(n, w->seed);

	for (i = 0; i < n; i++)
		w->bad += memcmp(w->p + o[i] * PG, w->f->ref + o[i] * PG,
				 PG) != 0;
	free(o);
	return NULL;
}

/*
 * Threads faulting at once on the same pages, in their own orders, with
 * rings for half of them (more than this host's CPUs may give): reads
 * polled for in rings that pass from thread to thread, the others (rings
 * taken, or more faults under way than rings) read with pread; every byte
 * the file's, whichever path.
 */
static void threads(void **state)
{
	enum { NT = 6 };
	struct th_fx *f = disk_file(16 * MB, 4);
	struct fc_cache *c = inline_cache(200);
	struct worker w[NT];
	struct fc_stats st;
	pthread_t t[NT];
	unsigned char *p = fc_map(c, f->fd, 0, 0, 0);
	int i;

	(void)state;
	assert_non_null(p);
	fc__pollers_destroy(c);
	fc__pollers_init(c, NT / 2);
	assert_int_equal(c->nr_pollers, NT / 2);
	assert_int_equal(fc_advise(p, (size_t)f->size, FC_ADVICE_RANDOM), 0);
	for (i = 0; i < NT; i++) {
		w[i] = (struct worker){ .f = f, .p = p, .seed = 100u + i };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (i = 0; i < NT; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	assert_memory_equal(p, f->ref, (size_t)f->size);
	printf("# %lu of the reads polled for\n",
	       (unsigned long)atomic_load(&c->nr_polled));
	assert_true(atomic_load(&c->nr_polled) > 0);
	assert_int_equal(fc_cache_stats(c, &st), 0);	/* the public count */
	assert_int_equal(st.polled_reads, atomic_load(&c->nr_polled));
	assert_int_equal(st.polled_slept, atomic_load(&c->nr_poll_slept));
	assert_int_equal(fc_unmap(p), 0);
	fc_cache_destroy(c);
	th_fx_free(f);
}

/*
 * A read the ring did not take (io_uring_submit failing: no memory, a
 * full completion queue) stays prepared in the ring. The ring must not be
 * used again, since a later submit would start that read into a buffer
 * reused by then; the read itself is done with pread. With two rings:
 * after one failure the other ring polls every read; after a second no
 * read is polled for, the stats no longer say FC_STATS_POLL, and the
 * cache still frees its rings with the reads left in them. The bytes are
 * the file's throughout.
 */
static void submit_fails(void **state)
{
	struct th_fx *f = disk_file(4 * MB, 5), *g = disk_file(4 * MB, 6);
	struct fc_cache *c = inline_cache(200);
	struct fc_stats st;
	unsigned long polled;

	(void)state;
	fc__pollers_destroy(c);
	fc__pollers_init(c, 2);
	assert_int_equal(c->nr_pollers, 2);
	fc__poll_inject_submit_failure(1);
	read_random(c, f, 10);
	assert_int_equal(atomic_load(&c->nr_poll_retired), 1);
	polled = atomic_load(&c->nr_polled);
	/* all but the failed one, by the ring left */
	assert_true(polled >= (unsigned long)(f->size / PG) - 1);
	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_true(st.flags & FC_STATS_POLL);
	fc__poll_inject_submit_failure(1);
	read_random(c, g, 11);
	assert_int_equal(atomic_load(&c->nr_poll_retired), 2);
	assert_int_equal(atomic_load(&c->nr_polled), polled);
	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_false(st.flags & FC_STATS_POLL);
	fc_cache_destroy(c);
	th_fx_free(f);
	th_fx_free(g);
}

/* The cache's file behind mapping @p. */
static struct fc_file *file_of(unsigned char *p)
{
	struct fc_mapping *m = fc__mapping_lookup((uintptr_t)p);
	struct fc_file *file;

	assert_non_null(m);
	file = m->file;
	fc__mapping_put(m);
	return file;
}

/*
 * An inline cache that chooses per file whether to poll, with polled
 * reads made @polled_us slower and slept ones @slept_us, and @f mapped
 * for random access at *@p.
 */
static struct fc_cache *choosing(struct th_fx *f, unsigned char **p,
				 unsigned polled_us, unsigned slept_us)
{
	struct fc_cache *c = inline_cache(200);

	c->poll_fixed = false;
	fc__poll_inject_delay(polled_us, slept_us);
	*p = fc_map(c, f->fd, 0, 0, 0);
	assert_non_null(*p);
	assert_int_equal(fc_advise(*p, (size_t)f->size, FC_ADVICE_RANDOM), 0);
	return c;
}

static void chosen_done(struct fc_cache *c, unsigned char *p,
			struct th_fx *f)
{
	fc__poll_inject_delay(0, 0);
	assert_memory_equal(p, f->ref, (size_t)f->size);
	assert_int_equal(fc_unmap(p), 0);
	fc_cache_destroy(c);
	th_fx_free(f);
}

/*
 * One way made 2 ms slower (polled reads with @poll_slow, else slept
 * ones): after one read each way, the other is taken by all reads but
 * one in FC_POLL_EXPLORE (16), the one that keeps measuring (1/16 of the
 * reads polled for, or 15/16, on an idle machine; the bounds leave room
 * for a loaded one, whose stalls move the means too).
 */
static void chooses(bool poll_slow, unsigned seed)
{
	struct th_fx *f = disk_file(8 * MB, seed);
	size_t n = (size_t)f->size / PG;
	uint64_t pa, sa;
	unsigned long polled;
	unsigned char *p;
	struct fc_cache *c = choosing(f, &p, poll_slow ? 2000 : 0,
				      poll_slow ? 0 : 2000);

	touch_range(p, f, 0, n, seed + 1);
	polled = atomic_load(&c->nr_polled);
	printf("# %lu of %zu reads polled for\n", polled, n);
	pa = atomic_load(&file_of(p)->poll_avg_ns);
	sa = atomic_load(&file_of(p)->sleep_avg_ns);
	if (poll_slow) {
		assert_true(polled >= n / 32 && polled <= n / 4);
		assert_true(pa > sa);
	} else {
		assert_true(polled >= n * 3 / 4);
		assert_true(pa < sa);
	}
	chosen_done(c, p, f);
}

static void chooses_sleep(void **state)
{
	(void)state;
	chooses(true, 20);
}

static void chooses_poll(void **state)
{
	(void)state;
	chooses(false, 22);
}

/*
 * The host changes its mind: polled reads slow for the first half of the
 * file, then slept ones. The reads that keep measuring bring the choice
 * round within a few hundred reads: most of the second half is polled.
 */
static void chooses_again(void **state)
{
	struct th_fx *f = disk_file(16 * MB, 24);
	size_t half = (size_t)f->size / PG / 2;
	unsigned long polled;
	unsigned char *p;
	struct fc_cache *c = choosing(f, &p, 2000, 0);

	(void)state;
	touch_range(p, f, 0, half, 25);
	polled = atomic_load(&c->nr_polled);
	assert_true(polled <= half / 4);
	fc__poll_inject_delay(0, 2000);
	touch_range(p, f, half, half, 26);
	polled = atomic_load(&c->nr_polled) - polled;
	printf("# %lu of %zu reads polled for after the change\n", polled,
	       half);
	assert_true(polled >= half * 3 / 4);
	chosen_done(c, p, f);
}

/*
 * A stall that made polled reads slow (20 ms, as a busy disk or a lost
 * CPU does) while sleep was chosen, then slept reads 2 ms slower: the
 * polled mean, left high by the stall and measured on one read in 16
 * only, must come down at its first fast reads, so most reads are polled
 * for again within a few of those (about 440 of 512). A mean that fell by
 * 1/8 per read chose the slower way for about 260 reads after each such
 * stall (a loaded CI run: 1500 of 2048 polled in chooses_poll): about 230
 * of 512. The reads are measured as the times given, not as they took:
 * on a loaded machine a preempted polled read takes more than the 2 ms
 * between the ways, and a few in a row would move the choice.
 */
static void chooses_again_after_stall(void **state)
{
	struct th_fx *f = disk_file(4 * MB, 27);
	unsigned long polled;
	unsigned char *p;
	struct fc_cache *c = choosing(f, &p, 0, 0);

	(void)state;
	fc__poll_inject_time(20100, 100);
	touch_range(p, f, 0, 64, 28);
	fc__poll_inject_time(100, 2100);
	polled = atomic_load(&c->nr_polled);
	touch_range(p, f, 64, 512, 29);
	polled = atomic_load(&c->nr_polled) - polled;
	printf("# %lu of 512 reads polled for after the stall\n", polled);
	assert_true(polled >= 512 * 3 / 4);
	chosen_done(c, p, f);
}

/* poll_us checked; a configuration from before it gets the default. */
static void config(void **state)
{
	struct fc_config cfg;
	struct fc_cache *c;

	(void)state;
	th_config_init(&cfg);
	cfg.poll_us = 1000001;
	errno = 0;
	assert_null(fc_cache_create(&cfg));
	assert_int_equal(errno, EINVAL);
	cfg.poll_us = 1000000;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	fc_cache_destroy(c);
	/* a caller built against 0.3: its struct ends before poll_us */
	th_config_init(&cfg);
	cfg.size = offsetof(struct fc_config, poll_us);
	cfg.poll_us = 12345;	/* past its size: not read */
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	assert_int_equal(c->cfg.poll_us, 200);
	fc_cache_destroy(c);
	/* FC_POLL_US for the default cache */
	setenv("FC_POLL_US", "0", 1);
	assert_int_equal(fc__config_from_env(&cfg), 0);
	assert_int_equal(cfg.poll_us, 0);
	setenv("FC_POLL_US", "50", 1);
	assert_int_equal(fc__config_from_env(&cfg), 0);
	assert_int_equal(cfg.poll_us, 50);
	setenv("FC_POLL_US", "lots", 1);
	assert_int_equal(fc__config_from_env(&cfg), -EINVAL);
	unsetenv("FC_POLL_US");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(polled_one_thread),
		cmocka_unit_test(poll_time_out),
		cmocka_unit_test(no_poll),
		cmocka_unit_test(memory_fs),
		cmocka_unit_test(threads),
		cmocka_unit_test(submit_fails),
		cmocka_unit_test(chooses_sleep),
		cmocka_unit_test(chooses_poll),
		cmocka_unit_test(chooses_again),
		cmocka_unit_test(chooses_again_after_stall),
		cmocka_unit_test(config),
	};

	th_require_uffd();
	setenv("FC_INLINE", "1", 1);	/* th_config_init: inline, handlers */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
