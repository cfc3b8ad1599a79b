/* SPDX-License-Identifier: MIT */
/*
 * test_churn: a long-lived process that maps many files of many sizes,
 * over and over. 1000 files (a few bytes to 6 MiB: most small, one in 20
 * over 2 MiB; sparse, with data every 64 KiB) are mapped, read at random
 * places (compared with pread) and unmapped in random order, up to 64
 * mapped at once, three times over, in a cache whose budget is far below
 * them. Every fc_map succeeds; descriptors and threads come back to the
 * same count after each pass (files kept after their last mapping are
 * bounded: 32); memory (RSS without the store's pages) does not grow
 * between the first pass and the last by more than one budget; and
 * fc_cache_destroy gives back every descriptor and thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define NF 1000
#define LIVE 64
#define PASSES 3
#define BUDGET (8u << 20)
#define PG 4096

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_IS_OURS 0	/* the sanitizer runtimes grow it on their own */
#else
#define RSS_IS_OURS 1
#endif

static char dir[256];
static size_t sizes[NF];

static int remove_dir(void **state)
{
	char path[512];
	int i;

	(void)state;
	for (i = 0; i < NF && *dir; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		unlink(path);
	}
	if (*dir)
		rmdir(dir);
	return 0;
}

/* File @i: @size bytes, sparse, 4 KiB of data every 64 KiB. */
static void make_file(int i, size_t size, uint64_t *seed)
{
	unsigned char block[PG];
	char path[512];
	size_t off, j;
	int fd;

	snprintf(path, sizeof(path), "%s/f%d", dir, i);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	for (off = 0; off < size; off += 64 * 1024) {
		size_t n = size - off < PG ? size - off : PG;

		for (j = 0; j < n; j++)
			block[j] = (unsigned char)th_rand(seed);
		assert_int_equal(pwrite(fd, block, n, (off_t)off), (ssize_t)n);
	}
	close(fd);
}

static int make_files(void **state)
{
	uint64_t seed = 1234;
	int i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/fctest.churn.XXXXXX", th_dir());
	if (!mkdtemp(dir)) {
		*dir = 0;
		return -1;
	}
	for (i = 0; i < NF; i++) {
		uint64_t r = th_rand(&seed);

		sizes[i] = r % 20 ? 1 + r / 20 % (256 * 1024)
				  : (2u << 20) + r / 20 % (4u << 20);
		make_file(i, sizes[i], &seed);
	}
	return 0;
}

struct live {
	int i, fd;
	unsigned char *p;
};

/* Read a few places of @l's mapping, each compared with pread. */
static void check(const struct live *l, uint64_t *seed)
{
	unsigned char a, b;
	int k;

	for (k = 0; k < 4; k++) {
		size_t off = th_rand(seed) % sizes[l->i];

		assert_int_equal(th_touch(l->p + off, &a), 0);
		assert_int_equal(pread(l->fd, &b, 1, (off_t)off), 1);
		assert_int_equal(a, b);
	}
}

static void unmap_one(struct live *v, int *n, int k)
{
	assert_int_equal(fc_unmap(v[k].p), 0);
	close(v[k].fd);
	v[k] = v[--*n];
}

/* One pass: every file mapped once, in random order. */
static void pass(struct fc_cache *c, uint64_t *seed)
{
	static int order[NF];
	struct live v[LIVE];
	char path[512];
	int n = 0, i, j;

	for (i = 0; i < NF; i++)
		order[i] = i;
	for (i = NF - 1; i > 0; i--) {
		int t;

		j = (int)(th_rand(seed) % (uint64_t)(i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < NF; i++) {
		struct live *l;

		if (n == LIVE)
			unmap_one(v, &n, (int)(th_rand(seed) % LIVE));
		l = &v[n++];
		l->i = order[i];
		snprintf(path, sizeof(path), "%s/f%d", dir, l->i);
		l->fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(l->fd >= 0);
		l->p = fc_map(c, l->fd, 0, 0, 0);
		if (!l->p)
			fail_msg("fc_map of file %d (%zu bytes): %s", l->i,
				 sizes[l->i], strerror(errno));
		check(l, seed);
		if (th_rand(seed) % 4 == 0)	/* some go at once */
			unmap_one(v, &n, n - 1);
	}
	while (n)
		unmap_one(v, &n, n - 1);
}

static long rss_kb(void)
{
	return th_status_kb("VmRSS:") - th_status_kb("RssShmem:");
}

/* Descriptors and threads settle (reads in flight keep a file a moment). */
static void settle(struct fc_cache *c, int fds, int threads)
{
	int i;

	if (c)
		th_pages_read_settled(c);
	for (i = 0; i < 500; i++) {
		if (th_count_fds() <= fds && th_count_threads() == threads)
			break;
		usleep(10000);
	}
	assert_true(th_count_fds() <= fds);
	assert_int_equal(th_count_threads(), threads);
}

static void map_unmap_churn(void **state)
{
	int fds0 = th_count_fds(), thr0 = th_count_threads(), fds1, thr1, p;
	struct fc_config cfg;
	struct fc_cache *c;
	uint64_t seed = 99;
	long rss_warm = 0;

	(void)state;
	th_config_init(&cfg);
	cfg.cache_bytes = BUDGET;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	fds1 = th_count_fds();
	thr1 = th_count_threads();
	for (p = 0; p < PASSES; p++) {
		pass(c, &seed);
		/* at most 32 files kept after their last mapping, 2 fds each */
		settle(c, fds1 + 2 * 32, thr1);
		if (p == 0)
			rss_warm = rss_kb();
	}
	print_message("RSS-shmem KiB: after pass 1 %ld, after pass %d %ld\n",
		      rss_warm, PASSES, rss_kb());
	if (RSS_IS_OURS)
		assert_true(rss_kb() - rss_warm < (long)(BUDGET >> 10));
	fc_cache_destroy(c);
	assert_int_equal(th_count_fds(), fds0);
	settle(NULL, fds0, thr0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(map_unmap_churn),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, make_files, remove_dir);
}
