/* SPDX-License-Identifier: MIT */
/*
 * test_lifetime: fc_unmap while other threads fault in the range,
 * fc_cache_destroy with live mappings, and 10,000 live mappings.
 * Documented behaviour: a thread touching a range after (or while) it is
 * unmapped gets SIGSEGV, as after munmap; nothing hangs, bytes read before
 * are the file's, and descriptors and memory come back.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define SIZE (32 * 1024 * 1024)
#define NT 4

static struct {
	unsigned char *p, *ref;
	int bad, segv;
} g;

/* Read random bytes until the mapping goes away under us. */
static void *toucher(void *arg)
{
	uint64_t s = 77 + (uint64_t)(uintptr_t)arg;

	for (;;) {
		uint64_t off = th_rand(&s) % SIZE;
		unsigned char v;
		int sig = th_touch(g.p + off, &v);

		if (sig == SIGSEGV) {
			__atomic_add_fetch(&g.segv, 1, __ATOMIC_RELAXED);
			return NULL;
		}
		if (sig || v != g.ref[off]) {
			__atomic_add_fetch(&g.bad, 1, __ATOMIC_RELAXED);
			return NULL;
		}
	}
}

static void race(bool destroy)
{
	char path[256];
	int fd = th_make_file(path, sizeof(path), SIZE, 61), fds0;
	struct fc_config cfg;
	struct fc_cache *c;
	pthread_t t[NT];
	long i;

	g.ref = th_read_all(fd, SIZE);
	fds0 = th_count_fds();
	th_config_init(&cfg);
	cfg.cache_bytes = 4 * 1024 * 1024;	/* reads in flight all the time */
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	th_check_mode(c);
	g.p = fc_map(c, fd, 0, 0, 0);
	assert_non_null(g.p);
	g.bad = g.segv = 0;
	for (i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, toucher, (void *)i);
	usleep(100 * 1000);
	if (destroy) {
		fc_cache_destroy(c);	/* with the mapping still live */
	} else {
		assert_int_equal(fc_unmap(g.p), 0);
		assert_int_equal(fc_unmap(g.p), -EINVAL);
	}
	for (i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(g.bad, 0);
	assert_int_equal(g.segv, NT);
	if (!destroy)
		fc_cache_destroy(c);
	assert_int_equal(th_count_fds(), fds0);
	free(g.ref);
	close(fd);
	unlink(path);
}

static void unmap_while_faulting(void **state)
{
	(void)state;
	race(false);
}

static void destroy_with_live_mappings(void **state)
{
	(void)state;
	race(true);
}

static void ten_thousand_mappings(void **state)
{
	enum { N = 10000 };
	char path[256];
	int fd = th_make_file(path, sizeof(path), 8 * 1024 * 1024, 62);
	unsigned char *ref = th_read_all(fd, 8 * 1024 * 1024);
	unsigned char **m = calloc(N, sizeof(*m));
	int fds_start = th_count_fds();	/* before the cache's own */
	struct fc_cache *c = th_cache_create();
	int i, fds0 = th_count_fds();
	struct fc_stats st;

	(void)state;
	for (i = 0; i < N; i++) {
		off_t off = (off_t)(i % 2047) * 4096;

		m[i] = fc_map(c, fd, off, 8192, 0);
		assert_non_null(m[i]);
	}
	fc_cache_stats(c, &st);
	assert_int_equal(st.mappings, N);
	assert_int_equal(th_count_fds(), fds0 + 2);	/* one file: 2 fds */
	for (i = 0; i < N; i++) {
		off_t off = (off_t)(i % 2047) * 4096;

		assert_memory_equal(m[i], ref + off, 8192);
	}
	for (i = 0; i < N; i++)
		assert_int_equal(fc_unmap(m[i]), 0);
	fc_cache_stats(c, &st);
	assert_int_equal(st.mappings, 0);
	/* the file is retained with its pages (fc_map(3)): its 2 fds stay */
	assert_int_equal(th_count_fds(), fds0 + 2);
	/* and again, interleaving map, touch and unmap */
	for (i = 0; i < N; i++) {
		off_t off = (off_t)(i % 2000) * 4096;
		unsigned char *p = fc_map(c, fd, off, 4096, 0);

		assert_non_null(p);
		assert_int_equal(p[i % 4096], ref[off + i % 4096]);
		assert_int_equal(fc_unmap(p), 0);
	}
	assert_int_equal(th_count_fds(), fds0 + 2);
	fc_cache_destroy(c);
	assert_int_equal(th_count_fds(), fds_start);
	free(m);
	free(ref);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unmap_while_faulting),
		cmocka_unit_test(destroy_with_live_mappings),
		cmocka_unit_test(ten_thousand_mappings),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
