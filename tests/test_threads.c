/* SPDX-License-Identifier: MIT */
/*
 * test_threads: 8 application threads fault at once, on a cache smaller
 * than the file, through one mapping and through several; every byte is
 * compared with pread. Also: many threads on the same page at once.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define MB (1024 * 1024)
#define NT 8

static struct {
	unsigned char *ref;
	off_t size;
	unsigned char *map[NT];
	pthread_barrier_t bar;
	int bad;
} g;

static void *reader(void *arg)
{
	long id = (long)arg;
	unsigned char *p = g.map[id];
	uint64_t s = 1000 + (uint64_t)id;
	int i;

	pthread_barrier_wait(&g.bar);
	for (i = 0; i < 6000; i++) {
		uint64_t off = th_rand(&s) % (uint64_t)g.size;
		size_t n = 1 + th_rand(&s) % 8192;

		if (i % 3 == 0)	/* some sequential stretches */
			off = ((uint64_t)id * (uint64_t)g.size / NT +
			       (uint64_t)i * 4096) % (uint64_t)g.size;
		if (off + n > (uint64_t)g.size)
			n = (size_t)((uint64_t)g.size - off);
		if (memcmp(p + off, g.ref + off, n))
			__atomic_add_fetch(&g.bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void run(int fd, struct fc_cache *c, bool per_thread_map)
{
	pthread_t t[NT];
	long i;

	for (i = 0; i < NT; i++) {
		g.map[i] = (i == 0 || per_thread_map) ? fc_map(c, fd, 0, 0, 0)
						      : g.map[0];
		assert_non_null(g.map[i]);
	}
	pthread_barrier_init(&g.bar, NULL, NT);
	for (i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, reader, (void *)i);
	for (i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&g.bar);
	assert_int_equal(g.bad, 0);
	for (i = 0; i < NT; i++)
		if (i == 0 || per_thread_map)
			assert_int_equal(fc_unmap(g.map[i]), 0);
}

static void eight_threads(void **state)
{
	char path[256];
	int fd = th_make_file(path, sizeof(path), 48 * MB + 999, 5);
	struct fc_config cfg;
	struct fc_cache *c;
	struct fc_stats st;

	(void)state;
	g.size = 48 * MB + 999;
	g.ref = th_read_all(fd, g.size);
	th_config_init(&cfg);
	cfg.cache_bytes = 12 * MB;	/* a quarter of the file */
	cfg.handler_threads = 3;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	th_check_mode(c);
	run(fd, c, false);	/* one mapping, 8 threads */
	run(fd, c, true);	/* 8 mappings of one file, spread on 3 uffds */
	fc_cache_stats(c, &st);
	assert_true(st.evictions > 0);
	assert_true(st.resident_bytes <= 12 * MB);
	assert_int_equal(st.sigbus, 0);
	fc_cache_destroy(c);
	free(g.ref);
	close(fd);
	unlink(path);
}

/* All threads touch the same cold page at once: one read, all get it. */
static void *same_page(void *arg)
{
	unsigned char *p = arg;

	pthread_barrier_wait(&g.bar);
	if (memcmp(p, g.ref + 40 * 4096, 4096))
		__atomic_add_fetch(&g.bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void thundering_herd(void **state)
{
	char path[256];
	int fd = th_make_file(path, sizeof(path), 1 * MB, 6);
	struct fc_cache *c = th_cache_create();
	pthread_t t[32];
	struct fc_stats st;
	unsigned char *p;
	int i;

	(void)state;
	g.ref = th_read_all(fd, 1 * MB);
	p = fc_map(c, fd, 0, 0, 0);
	assert_non_null(p);
	assert_int_equal(fc_advise(p, 1 * MB, FC_ADVICE_RANDOM), 0);
	pthread_barrier_init(&g.bar, NULL, 32);
	for (i = 0; i < 32; i++)
		pthread_create(&t[i], NULL, same_page, p + 40 * 4096);
	for (i = 0; i < 32; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&g.bar);
	assert_int_equal(g.bad, 0);
	/*
	 * one read however many; counted when the read has ended, which is
	 * just after the threads it woke may have run
	 */
	assert_int_equal(th_pages_read_settled(c), 1);
	fc_cache_stats(c, &st);
	assert_int_equal(st.faults, st.hits + st.misses);
	fc_unmap(p);
	fc_cache_destroy(c);
	free(g.ref);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(eight_threads),
		cmocka_unit_test(thundering_herd),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
