/* SPDX-License-Identifier: MIT */
/*
 * test_map: mapping semantics on real files of random content, always
 * compared with pread: sequential and random reads, offsets, the EOF tail,
 * SIGBUS past EOF, two mappings of one file, and every bad input.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define MB (1024 * 1024)

static struct th_fx *fx_new(off_t size, size_t budget)
{
	return th_fx_new(size, (unsigned)size, budget, false);
}

static void sequential(void **state)
{
	struct th_fx *f = fx_new(24 * MB + 123, 0);
	unsigned char *p = fc_map(f->c, f->fd, 0, 0, 0);
	struct fc_stats st;
	off_t i;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < f->size; i += 4096)	/* fault in order */
		assert_int_equal(p[i], f->ref[i]);
	assert_memory_equal(p, f->ref, (size_t)f->size);
	/* pages installed ahead are readable before their read is counted */
	th_pages_read_settled(f->c);
	assert_int_equal(fc_cache_stats(f->c, &st), 0);
	/* readahead and install-ahead: far fewer faults than pages */
	assert_true(st.faults * 20 < (uint64_t)f->size / 4096);
	assert_true(st.ra_pages > 0 && st.ra_used > 0);
	assert_int_equal(st.bytes_read, (uint64_t)f->size);
	assert_int_equal(st.pages_read, (f->size + 4095) / 4096);
	assert_true(fc_stats_latency_quantile(&st, 0.5) > 0);
	assert_int_equal(st.mappings, 1);
	assert_int_equal(fc_unmap(p), 0);
	th_fx_free(f);
}

static void random_access(void **state)
{
	struct th_fx *f = fx_new(32 * MB, 8 * MB);
	unsigned char *p = fc_map(f->c, f->fd, 0, 0, 0);
	uint64_t s = 7;
	struct fc_stats st;
	int i;

	(void)state;
	assert_non_null(p);
	assert_int_equal(fc_advise(p, (size_t)f->size, FC_ADVICE_RANDOM), 0);
	for (i = 0; i < 20000; i++) {
		uint64_t off = th_rand(&s) % (uint64_t)f->size;
		size_t n = 1 + th_rand(&s) % 300;

		if (off + n > (uint64_t)f->size)
			n = (size_t)((uint64_t)f->size - off);
		assert_memory_equal(p + off, f->ref + off, n);
	}
	fc_cache_stats(f->c, &st);
	assert_int_equal(st.ra_pages, 0);	/* RANDOM: no readahead */
	assert_true(st.evictions > 0);
	assert_true(st.resident_bytes <= 8 * MB);
	fc_unmap(p);
	th_fx_free(f);
}

static void offsets_and_lengths(void **state)
{
	struct th_fx *f = fx_new(5 * MB + 777, 0);
	static const off_t offs[] = { 0, 4096, 12288, 1 * MB, 5 * MB };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		size_t len = (size_t)(f->size - offs[i]);
		unsigned char *p = fc_map(f->c, f->fd, offs[i], 0, 0);
		unsigned char *q = fc_map(f->c, f->fd, offs[i], 5000, 0);

		assert_non_null(p);
		assert_non_null(q);
		assert_memory_equal(p, f->ref + offs[i], len);
		assert_memory_equal(q, f->ref + offs[i],
				    len < 5000 ? len : 5000);
		assert_int_equal(fc_unmap(q), 0);
		assert_int_equal(fc_unmap(p), 0);
	}
	th_fx_free(f);
}

/* Bytes past EOF in the last page are zero; pages wholly past it SIGBUS. */
static void eof(void **state)
{
	struct th_fx *f = fx_new(3 * 4096 + 100, 0);
	unsigned char *p = fc_map(f->c, f->fd, 0, 8 * 4096, 0);
	unsigned char v = 1;
	int i;

	(void)state;
	assert_non_null(p);
	assert_memory_equal(p, f->ref, (size_t)f->size);
	for (i = (int)f->size; i < 4 * 4096; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(th_touch(p + 4 * 4096, &v), SIGBUS);
	assert_ptr_equal(th_last_fault_addr(), p + 4 * 4096);
	assert_int_equal(th_touch(p + 8 * 4096 - 1, &v), SIGBUS);
	/* still fine afterwards */
	assert_int_equal(th_touch(p + 5, &v), 0);
	assert_int_equal(v, f->ref[5]);
	fc_unmap(p);
	th_fx_free(f);
}

/*
 * Two mappings of one file share the cache: a page read once serves both,
 * and the second one takes no fault of the library's (the kernel maps the
 * pages the store holds; in copy mode each is a hit).
 */
static void shared_file(void **state)
{
	struct th_fx *f = fx_new(4 * MB, 0);
	int fd2 = open(f->path, O_RDONLY);
	unsigned char *a = fc_map(f->c, f->fd, 0, 0, 0);
	unsigned char *b = fc_map(f->c, fd2, 0, 0, 0);
	struct fc_stats s1, s2;
	uint64_t read1;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	close(fd2);	/* the library keeps its own reference */
	assert_memory_equal(a, f->ref, (size_t)f->size);
	/*
	 * pages installed ahead are readable before their read is counted:
	 * count once every read has ended
	 */
	read1 = th_pages_read_settled(f->c);
	fc_cache_stats(f->c, &s1);
	assert_memory_equal(b, f->ref, (size_t)f->size);
	fc_cache_stats(f->c, &s2);
	assert_int_equal(th_pages_read_settled(f->c), read1); /* no new reads */
	if (s2.flags & FC_STATS_ZERO_COPY)
		assert_int_equal(s2.faults, s1.faults);
	else
		assert_true(s2.hits > s1.hits);
	fc_unmap(a);
	assert_memory_equal(b, f->ref, (size_t)f->size);
	fc_unmap(b);
	th_fx_free(f);
}

static void close_fd_after_map(void **state)
{
	struct th_fx *f = fx_new(1 * MB, 0);
	int fd = open(f->path, O_RDONLY);
	unsigned char *p = fc_map(f->c, fd, 0, 0, 0);

	(void)state;
	assert_non_null(p);
	close(fd);
	assert_memory_equal(p, f->ref, (size_t)f->size);
	fc_unmap(p);
	th_fx_free(f);
}

#define EXPECT_MAP_ERR(err, ...)                                               \
	do {                                                                   \
		errno = 0;                                                     \
		assert_null(fc_map(__VA_ARGS__));                              \
		assert_int_equal(errno, (err));                                \
	} while (0)

static void bad_input(void **state)
{
	struct th_fx *f = fx_new(64 * 1024, 0);
	int wo = open(f->path, O_WRONLY), dir = open(th_dir(), O_RDONLY);
	int pfd[2], sv[2], nul = open("/dev/null", O_RDONLY);
	int empty_fd;
	char empty[256];
	struct fc_config cfg;
	struct fc_stats st;
	struct stat st0, st1;
	int nfds;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	empty_fd = th_make_file(empty, sizeof(empty), 0, 1);
	EXPECT_MAP_ERR(EBADF, f->c, -1, 0, 0, 0);
	EXPECT_MAP_ERR(EBADF, f->c, 9999, 0, 0, 0);
	EXPECT_MAP_ERR(EACCES, f->c, wo, 0, 0, 0);
	EXPECT_MAP_ERR(ENODEV, f->c, dir, 0, 0, 0);
	EXPECT_MAP_ERR(ENODEV, f->c, pfd[0], 0, 0, 0);
	EXPECT_MAP_ERR(ENODEV, f->c, sv[0], 0, 0, 0);
	EXPECT_MAP_ERR(ENODEV, f->c, nul, 0, 0, 0);
	{	/* pseudo files: regular, but their size is not their bytes */
		int pr = open("/proc/self/status", O_RDONLY);
		int sy = open("/sys/kernel/mm/transparent_hugepage/enabled",
			      O_RDONLY);

		assert_true(pr >= 0);
		EXPECT_MAP_ERR(ENODEV, f->c, pr, 0, 4096, 0);
		close(pr);
		if (sy >= 0) {
			EXPECT_MAP_ERR(ENODEV, f->c, sy, 0, 0, 0);
			close(sy);
		}
	}
	EXPECT_MAP_ERR(EINVAL, f->c, f->fd, 100, 4096, 0);	/* unaligned */
	EXPECT_MAP_ERR(EINVAL, f->c, f->fd, -4096, 4096, 0);
	EXPECT_MAP_ERR(EINVAL, f->c, f->fd, 64 * 1024, 0, 0);	/* at EOF */
	EXPECT_MAP_ERR(EINVAL, f->c, f->fd, 1 << 20, 0, 0);	/* past EOF */
	EXPECT_MAP_ERR(EINVAL, f->c, empty_fd, 0, 0, 0);	/* empty */
	EXPECT_MAP_ERR(EINVAL, f->c, f->fd, 4096, SIZE_MAX - 100, 0);
	EXPECT_MAP_ERR(EINVAL, f->c, f->fd, 0, 4096, 1);	/* flags */
	/* unmap / advise / stats on things that are not mappings */
	assert_int_equal(fc_unmap(NULL), -EINVAL);
	assert_int_equal(fc_unmap(f->ref), -EINVAL);
	assert_int_equal(fc_advise(NULL, 1, FC_ADVICE_NORMAL), -EINVAL);
	assert_int_equal(fc_advise(f->ref, 1, FC_ADVICE_NORMAL), -EINVAL);
	assert_int_equal(fc_cache_stats(f->c, NULL), -EINVAL);
	{
		unsigned char *p = fc_map(f->c, f->fd, 0, 0, 0);

		assert_non_null(p);
		assert_int_equal(fc_unmap(p + 4096), -EINVAL);	/* interior */
		assert_int_equal(fc_advise(p, 4096, 99), -EINVAL);
		assert_int_equal(fc_advise(p + 1, 4096, FC_ADVICE_RANDOM),
				 -EINVAL);
		assert_int_equal(fc_advise(p, 1 << 30, FC_ADVICE_DONTNEED),
				 -EINVAL);
		assert_memory_equal(p, f->ref, 64 * 1024);	/* unharmed */
		assert_int_equal(fc_unmap(p), 0);
		assert_int_equal(fc_unmap(p), -EINVAL);	/* double unmap */
	}
	/*
	 * bad configurations: refused, and nothing of the process touched
	 * (a failed create once closed descriptor 0 for its uffds)
	 */
	if (fcntl(0, F_GETFD) < 0)
		assert_int_equal(dup2(nul, 0), 0);
	assert_int_equal(fstat(0, &st0), 0);
	nfds = th_count_fds();
	fc_config_init(&cfg);
	cfg.page_size = 12288;
	errno = 0;
	assert_null(fc_cache_create(&cfg));
	assert_int_equal(errno, EINVAL);
	fc_config_init(&cfg);
	cfg.page_size = 4 * MB;
	assert_null(fc_cache_create(&cfg));
	fc_config_init(&cfg);
	cfg.cache_bytes = 4096;
	assert_null(fc_cache_create(&cfg));
	fc_config_init(&cfg);
	cfg.size = 3;
	assert_null(fc_cache_create(&cfg));
	fc_config_init(&cfg);
	cfg.flags = 0x80;
	assert_null(fc_cache_create(&cfg));
	fc_config_init(&cfg);
	cfg.handler_threads = 100000;
	assert_null(fc_cache_create(&cfg));
	assert_int_equal(errno, EINVAL);
	fc_config_init(&cfg);
	cfg.cache_bytes = (size_t)1 << 62;	/* more than the store */
	errno = 0;
	assert_null(fc_cache_create(&cfg));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(th_count_fds(), nfds);
	assert_int_equal(fstat(0, &st1), 0);
	assert_true(st1.st_dev == st0.st_dev && st1.st_ino == st0.st_ino);
	fc_cache_destroy(NULL);
	fc_config_init(NULL);
	/* a pointer that is not a cache */
	memset(&cfg, 0x5a, sizeof(cfg));
	EXPECT_MAP_ERR(EINVAL, (struct fc_cache *)&cfg, f->fd, 0, 0, 0);
	assert_int_equal(fc_cache_stats((struct fc_cache *)&cfg, &st),
			 -EINVAL);
	fc_cache_destroy((struct fc_cache *)&cfg);	/* refused, no crash */
	/* quantiles of nothing, or out of range */
	memset(&st, 0, sizeof(st));
	st.latency_hist[3] = 1;
	assert_int_equal(fc_stats_latency_quantile(NULL, 0.5), 0);
	assert_int_equal(fc_stats_latency_quantile(&st, -0.1), 0);
	assert_int_equal(fc_stats_latency_quantile(&st, 1.5), 0);
	assert_int_equal(fc_stats_latency_quantile(&st, NAN), 0);
	assert_int_equal(fc_stats_latency_quantile(&st, 0.5), 16);
	/* a stack address, inside no mapping */
	assert_int_equal(fc_unmap(&cfg), -EINVAL);
	assert_int_equal(fc_advise(&cfg, 1, FC_ADVICE_WILLNEED), -EINVAL);
	assert_int_equal(fc_cache_stats(f->c, &st), 0);
	assert_int_equal(st.mappings, 0);
	assert_int_equal(st.faults, st.hits + st.misses);
	close(wo);
	close(dir);
	close(nul);
	close(pfd[0]);
	close(pfd[1]);
	close(sv[0]);
	close(sv[1]);
	close(empty_fd);
	unlink(empty);
	th_fx_free(f);
}

/* Larger cache pages (64 KiB, 2 MiB) with mappings at 4 KiB offsets. */
static void big_pages(void **state)
{
	static const size_t pages[] = { 64 * 1024, 2 * MB };
	static const off_t offs[] = { 4096, 8192 };
	off_t size = 5 * MB + 5;
	char path[256];
	int fd = th_make_file(path, sizeof(path), size, 99);
	unsigned char *ref = th_read_all(fd, size);
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct fc_config cfg;
		struct fc_cache *c;
		unsigned char *p;

		fc_config_init(&cfg);
		cfg.page_size = pages[i];
		cfg.cache_bytes = 16 * pages[i];	/* the minimum */
		c = fc_cache_create(&cfg);
		assert_non_null(c);
		p = fc_map(c, fd, offs[i], 0, 0);
		assert_non_null(p);
		assert_memory_equal(p, ref + offs[i], (size_t)(size - offs[i]));
		fc_unmap(p);
		fc_cache_destroy(c);
	}
	free(ref);
	close(fd);
	unlink(path);
}

static void advice(void **state)
{
	struct th_fx *f = fx_new(8 * MB, 0);
	unsigned char *p = fc_map(f->c, f->fd, 0, 0, 0);
	struct fc_stats a, b;
	int i;

	(void)state;
	assert_non_null(p);
	/* WILLNEED reads ahead of any touch */
	assert_int_equal(fc_advise(p, 2 * MB, FC_ADVICE_WILLNEED), 0);
	for (i = 0; i < 200; i++) {
		fc_cache_stats(f->c, &a);
		if (a.pages_read >= 512)
			break;
		usleep(10000);
	}
	assert_true(a.pages_read >= 512);
	assert_memory_equal(p, f->ref, 2 * MB);
	fc_cache_stats(f->c, &a);
	assert_int_equal(a.pages_read, 512);	/* all served from cache */
	/*
	 * DONTNEED drops the mapping's pages but keeps them cached: the next
	 * touch faults again, and the kernel maps them from the store without
	 * the library (copy mode: the library copies them again)
	 */
	assert_int_equal(fc_advise(p, 2 * MB, FC_ADVICE_DONTNEED), 0);
	assert_memory_equal(p, f->ref, 2 * MB);
	fc_cache_stats(f->c, &b);
	if (b.flags & FC_STATS_ZERO_COPY)
		assert_int_equal(b.faults, a.faults);
	else
		assert_true(b.faults > a.faults);
	assert_int_equal(b.pages_read, a.pages_read);
	/* SEQUENTIAL reads forward */
	assert_int_equal(fc_advise(p, 8 * MB, FC_ADVICE_SEQUENTIAL), 0);
	assert_memory_equal(p + 4 * MB, f->ref + 4 * MB, 4 * MB);
	assert_int_equal(fc_advise(p, 8 * MB, FC_ADVICE_NORMAL), 0);
	fc_unmap(p);
	th_fx_free(f);
}

/* Faults taken so far by @c's mappings. */
static uint64_t faults_of(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	return st.faults;
}

/*
 * Cached pages a mapping no longer maps (DONTNEED) come back without a
 * fault of the library's: the kernel maps what the store holds, with its
 * own fault-around. In copy mode the library's fault-around copies the
 * run of cached pages touching the fault, and no further (the other
 * copies would cost memory), so each other cached page is a fault.
 */
static void refault_cached(void **state)
{
	static const int cached[] = { 0, 2, 5, 9, 15, 17 };
	int copy;

	(void)state;
	for (copy = 0; copy < 2; copy++) {
		struct th_fx *f = fx_new(64 * 4096, 0);
		struct fc_config cfg;
		struct fc_cache *c;
		unsigned char *p;
		uint64_t n;
		size_t i;

		fc_config_init(&cfg);
		if (copy)
			cfg.flags |= FC_CONFIG_COPY;
		c = fc_cache_create(&cfg);
		assert_non_null(c);
		p = fc_map(c, f->fd, 0, 0, 0);
		assert_non_null(p);
		/* RANDOM: each miss reads its own page only */
		assert_int_equal(fc_advise(p, 64 * 4096, FC_ADVICE_RANDOM), 0);
		for (i = 0; i < sizeof(cached) / sizeof(cached[0]); i++)
			assert_int_equal(p[cached[i] * 4096 + 7],
					 f->ref[cached[i] * 4096 + 7]);
		assert_int_equal(th_pages_read_settled(c), 6);
		assert_int_equal(fc_advise(p, 64 * 4096, FC_ADVICE_DONTNEED),
				 0);
		n = faults_of(c);
		assert_memory_equal(p + 5 * 4096, f->ref + 5 * 4096, 4096);
		assert_int_equal(faults_of(c), copy ? n + 1 : n);
		assert_memory_equal(p, f->ref, 4096);
		assert_memory_equal(p + 2 * 4096, f->ref + 2 * 4096, 4096);
		assert_memory_equal(p + 9 * 4096, f->ref + 9 * 4096, 4096);
		assert_memory_equal(p + 15 * 4096, f->ref + 15 * 4096, 4096);
		assert_int_equal(faults_of(c), copy ? n + 5 : n);
		assert_memory_equal(p + 17 * 4096, f->ref + 17 * 4096, 4096);
		assert_int_equal(faults_of(c), copy ? n + 6 : n);
		/* and a page not cached is a fault, and a read */
		assert_memory_equal(p + 30 * 4096, f->ref + 30 * 4096, 4096);
		assert_int_equal(faults_of(c), copy ? n + 7 : n + 1);
		assert_int_equal(th_pages_read_settled(c), 7);
		assert_int_equal(fc_unmap(p), 0);
		fc_cache_destroy(c);
		th_fx_free(f);
	}
}

/*
 * A file on tmpfs: O_DIRECT may be refused there (EINVAL at open or at the
 * first read, depending on the kernel), and the library must fall back to
 * buffered reads without a visible difference. FC_CONFIG_NO_DIRECT forces
 * the same path on any file system.
 */
static void buffered_fallback(void **state)
{
	static const char *const dirs[] = { "/dev/shm", NULL };
	const char *saved = getenv("FC_TEST_DIR");
	char *orig = saved ? strdup(saved) : NULL;
	struct fc_config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		char path[256];
		const char *d = dirs[i] ? dirs[i] : th_dir();
		int fd, tfd;
		unsigned char *ref, *p;
		struct fc_cache *c;

		snprintf(path, sizeof(path), "%s/fctest-fb.XXXXXX", d);
		tfd = mkstemp(path);
		if (tfd < 0)
			continue;	/* no tmpfs here */
		close(tfd);
		unlink(path);
		setenv("FC_TEST_DIR", d, 1);
		fd = th_make_file(path, sizeof(path), 3 * MB + 77, 8);
		if (orig)
			setenv("FC_TEST_DIR", orig, 1);
		else
			unsetenv("FC_TEST_DIR");
		ref = th_read_all(fd, 3 * MB + 77);
		fc_config_init(&cfg);
		if (!dirs[i])
			cfg.flags = FC_CONFIG_NO_DIRECT;
		c = fc_cache_create(&cfg);
		assert_non_null(c);
		p = fc_map(c, fd, 0, 0, 0);
		assert_non_null(p);
		assert_memory_equal(p, ref, 3 * MB + 77);
		fc_unmap(p);
		fc_cache_destroy(c);
		free(ref);
		close(fd);
		unlink(path);
	}
	free(orig);
}

/*
 * The library loaded, and the headers this test was built with, are the
 * version CMake's project(VERSION) names: FC_EXPECTED_VERSION, passed on
 * by tests/CMakeLists.txt apart from the headers.
 */
static void version(void **state)
{
	unsigned major, minor, patch;

	(void)state;
	assert_int_equal(sscanf(FC_EXPECTED_VERSION, "%u.%u.%u", &major,
				&minor, &patch), 3);
	assert_string_equal(fc_version_string(), FC_EXPECTED_VERSION);
	assert_int_equal(fc_version(), major * 10000 + minor * 100 + patch);
	assert_string_equal(FC_VERSION_STRING, FC_EXPECTED_VERSION);
	assert_int_equal(FC_VERSION_NUMBER, fc_version());
}

/* Threads of this process named @name (from /proc/self/task/N/comm). */
static int threads_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, name, strlen(name)) &&
		    comm[strlen(name)] == '\n')
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* Handler threads carry a name tools show; they go with the cache. */
static void thread_names(void **state)
{
	struct fc_config cfg;
	struct fc_cache *c;

	(void)state;
	th_config_init(&cfg);
	cfg.handler_threads = 2;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	assert_int_equal(threads_named("fc-handler0"), 1);
	assert_int_equal(threads_named("fc-handler1"), 1);
	fc_cache_destroy(c);
	assert_int_equal(threads_named("fc-handler0"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version),
		cmocka_unit_test(thread_names),
		cmocka_unit_test(sequential),
		cmocka_unit_test(random_access),
		cmocka_unit_test(offsets_and_lengths),
		cmocka_unit_test(eof),
		cmocka_unit_test(shared_file),
		cmocka_unit_test(close_fd_after_map),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(big_pages),
		cmocka_unit_test(advice),
		cmocka_unit_test(refault_cached),
		cmocka_unit_test(buffered_fallback),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
