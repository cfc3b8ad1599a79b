/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

const char *th_dir(void)
{
	const char *d = getenv("FC_TEST_DIR");

	return d && *d ? d : "/var/tmp";
}

#define TH_SHMEM_THP "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

bool th_thp_get(char *out, size_t len)
{
	char buf[256], *lb, *rb;
	FILE *f = fopen(TH_SHMEM_THP, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return false;
	buf[strcspn(buf, "\n")] = 0;
	lb = strchr(buf, '[');
	rb = lb ? strchr(lb, ']') : NULL;
	if (lb && rb) {
		*rb = 0;
		memmove(buf, lb + 1, strlen(lb + 1) + 1);
	}
	if (strlen(buf) >= len)
		return false;
	memcpy(out, buf, strlen(buf) + 1);
	return true;
}

bool th_thp_set(const char *val)
{
	int fd = open(TH_SHMEM_THP, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val);
}

int th_thp_lock(void)
{
	int fd = open(TH_SHMEM_THP, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

bool th_system_tests(const char *what)
{
	const char *v = getenv("FC_TEST_SYSTEM");

	if (v && !strcmp(v, "1"))
		return true;
	printf("SKIP part: %s changes machine-wide state: needs "
	       "FC_TEST_SYSTEM=1\n", what);
	fflush(stdout);
	return false;
}

/*
 * The files th_make_file() made, unlinked at exit: a failed assertion
 * jumps past a test's own unlink, and left its file in FC_TEST_DIR. Only
 * the process that made them does it (a forked child's exit must not).
 * Tests make their files from one thread.
 */
#define TH_MAX_FILES 256
static char *made[TH_MAX_FILES];
static size_t nmade;
static pid_t made_by;

static void unlink_made(void)
{
	size_t i;

	if (getpid() != made_by)
		return;
	for (i = 0; i < nmade; i++) {
		unlink(made[i]);	/* ENOENT: the test did it */
		free(made[i]);
	}
	nmade = 0;
}

static void remember_made(const char *path)
{
	if (!made_by) {
		made_by = getpid();
		atexit(unlink_made);
	}
	if (nmade < TH_MAX_FILES && getpid() == made_by) {
		made[nmade] = strdup(path);
		if (made[nmade])
			nmade++;
	}
}

int th_make_file(char *path, size_t pathlen, off_t size, unsigned seed)
{
	return th_make_file_in(th_dir(), path, pathlen, size, seed);
}

int th_make_file_in(const char *dir, char *path, size_t pathlen, off_t size,
		    unsigned seed)
{
	uint64_t s = seed * 2654435761u + 88172645463325252ull;
	size_t chunk = 1 << 20;
	uint64_t *buf = malloc(chunk);
	off_t done = 0;
	int fd;

	snprintf(path, pathlen, "%s/fctest.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0 || !buf) {
		fprintf(stderr, "cannot create a test file in %s: %s\n",
			dir, strerror(errno));
		exit(1);
	}
	remember_made(path);
	fchmod(fd, 0644);
	while (done < size) {
		size_t n = (size_t)(size - done) < chunk ? (size_t)(size - done)
							 : chunk, i;

		for (i = 0; i < chunk / 8; i++)
			buf[i] = th_rand(&s);
		if (pwrite(fd, buf, n, done) != (ssize_t)n) {
			perror("pwrite");
			exit(1);
		}
		done += (off_t)n;
	}
	free(buf);
	fsync(fd);
	return fd;
}

unsigned char *th_read_all(int fd, off_t size)
{
	unsigned char *b = malloc(size ? (size_t)size : 1);
	off_t done = 0;

	while (b && done < size) {
		ssize_t n = pread(fd, b + done, (size_t)(size - done), done);

		if (n <= 0) {
			perror("pread");
			exit(1);
		}
		done += n;
	}
	return b;
}

static bool env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

static void install_handlers(void);

void th_config_init(struct fc_config *cfg)
{
	fc_config_init(cfg);
	if (env_on("FC_COPY"))
		cfg->flags |= FC_CONFIG_COPY;
	/*
	 * Inline faults arrive as SIGBUS: cmocka's handler, installed around
	 * each test, would take them. Ours calls fc_handle_sigbus() first, as
	 * faultcache(7) asks of an application's own handler.
	 */
	if (env_on("FC_INLINE")) {
		cfg->flags |= FC_CONFIG_INLINE;
		install_handlers();
	}
}

void th_check_mode(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_int_equal(!(st.flags & FC_STATS_ZERO_COPY), env_on("FC_COPY"));
	assert_int_equal(!!(st.flags & FC_STATS_INLINE), env_on("FC_INLINE"));
}

bool th_zero_copy(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	return st.flags & FC_STATS_ZERO_COPY;
}

struct fc_cache *th_cache_create(void)
{
	struct fc_config cfg;
	struct fc_cache *c;

	th_config_init(&cfg);
	c = fc_cache_create(&cfg);
	if (c)
		th_check_mode(c);
	return c;
}

struct th_fx *th_fx_file(off_t size, unsigned seed)
{
	return th_fx_file_in(th_dir(), size, seed);
}

struct th_fx *th_fx_file_in(const char *dir, off_t size, unsigned seed)
{
	struct th_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fd = th_make_file_in(dir, f->path, sizeof(f->path), size, seed);
	f->size = size;
	f->ref = th_read_all(f->fd, size);
	return f;
}

struct th_fx *th_fx_new(off_t size, unsigned seed, size_t budget, bool map)
{
	struct th_fx *f = th_fx_file(size, seed);
	struct fc_config cfg;

	th_config_init(&cfg);
	if (budget)
		cfg.cache_bytes = budget;
	f->c = fc_cache_create(&cfg);
	assert_non_null(f->c);
	th_check_mode(f->c);
	if (map) {
		f->p = fc_map(f->c, f->fd, 0, 0, 0);
		assert_non_null(f->p);
	}
	return f;
}

void th_fx_free(struct th_fx *f)
{
	if (f->p)
		fc_unmap(f->p);
	fc_cache_destroy(f->c);
	close(f->fd);
	unlink(f->path);
	free(f->ref);
	free(f);
}

/*
 * Only a kernel or privilege that lacks a feature is a skip: the library
 * answers EPERM when userfaultfd (or io_uring) is refused to this process,
 * ENOSYS when the kernel lacks it or a userfaultfd feature the cache needs
 * (fc__uffd_open). Any other failure is a bug in cache creation, which
 * must fail every test rather than hide as "all skipped".
 */
void th_require_uffd(void)
{
	struct fc_cache *c = th_cache_create();
	int err = errno;

	if (c) {
		fc_cache_destroy(c);
		return;
	}
	if (err == EPERM || err == ENOSYS) {
		printf("SKIP: %s: fc_cache_create: %s\n",
		       err == EPERM ? "userfaultfd or io_uring not permitted "
				      "to this process (see faultcache(7))"
				    : "the kernel lacks userfaultfd, io_uring "
				      "or a userfaultfd feature the cache needs",
		       strerror(err));
		exit(FC_SKIP);
	}
	fprintf(stderr, "FAIL: fc_cache_create: %s: not a missing kernel "
			"feature or privilege, so not a skip\n", strerror(err));
	exit(1);
}

static __thread sigjmp_buf *jb;
static __thread void *fault_addr;
static __thread volatile int fault_sig;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGBUS && fc_handle_sigbus(si))
		return;	/* an inline fault, resolved: the access is retried */
	fault_sig = sig;
	fault_addr = si->si_addr;
	if (jb)
		siglongjmp(*jb, 1);
	_exit(100 + sig);
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

int th_touch(const volatile unsigned char *p, unsigned char *out)
{
	sigjmp_buf here;

	/* every time: cmocka installs its own handlers around each test */
	install_handlers();
	fault_sig = 0;
	jb = &here;
	if (sigsetjmp(here, 1) == 0) {
		unsigned char v = *p;

		if (out)
			*out = v;
	}
	jb = NULL;
	return fault_sig;
}

int th_copy(void *dst, const void *src, size_t len)
{
	sigjmp_buf here;

	install_handlers();
	fault_sig = 0;
	jb = &here;
	if (sigsetjmp(here, 1) == 0)
		memcpy(dst, src, len);
	jb = NULL;
	return fault_sig;
}

void *th_last_fault_addr(void)
{
	return fault_addr;
}

uint64_t th_pages_read_settled(struct fc_cache *c)
{
	struct fc_stats st;
	int i;

	for (i = 0; i < 500; i++) {
		assert_int_equal(fc_cache_stats(c, &st), 0);
		if (!st.reads_inflight)
			break;
		usleep(10000);
	}
	return st.pages_read;
}

uint64_t th_store_bytes(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t total = 0;

	while (d && (e = readdir(d))) {
		char path[300], target[300];
		struct stat st;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strncmp(target, "/memfd:faultcache (deleted)", 27))
			continue;
		if (!stat(path, &st))
			total += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	return total;
}

long th_status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = strtol(line + strlen(field), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

int th_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n - 2;
}

int th_count_fds_of(const char *link)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], target[300];
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		n += !strcmp(target, link);
	}
	if (d)
		closedir(d);
	return n;
}

/* The name (comm) of thread @tid of this process, "" when it is gone. */
static void thread_name(const char *tid, char *name, size_t size)
{
	char path[300];
	FILE *f;

	name[0] = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%s/comm", tid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(name, (int)size, f))
		name[0] = 0;
	fclose(f);
	name[strcspn(name, "\n")] = 0;
}

/* Is thread @tid one of io_uring's workers (iou-wrk-N, iou-sqp-N)? */
static bool io_worker(const char *tid)
{
	char name[32];

	thread_name(tid, name, sizeof(name));
	return !strncmp(name, "iou-", 4);
}

pid_t th_thread_named(const char *comm)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char name[32];
	pid_t tid = -1;

	while (d && tid < 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		thread_name(e->d_name, name, sizeof(name));
		if (!strcmp(name, comm))
			tid = (pid_t)atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return tid;
}

int th_count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' && !io_worker(e->d_name);
	if (d)
		closedir(d);
	return n;
}

void th_check_bytes(const unsigned char *p, const struct th_fx *f, off_t off,
		    size_t len)
{
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	assert_int_equal(th_copy(buf, p, len), 0);
	assert_memory_equal(buf, f->ref + off, len);
	free(buf);
}

void th_moved_over_check(const struct th_fx *f, unsigned char *q)
{
	const size_t pg = 4096;

	th_check_bytes(q, f, 16 * pg, 8 * pg);
	th_check_bytes(q + 8 * pg, f, 0, 8 * pg);
	th_check_bytes(q + 16 * pg, f, 32 * pg, 8 * pg);
	assert_int_equal(fc_unmap(q + 8 * pg), 0);
	assert_int_equal(fc_unmap(q + 16 * pg), 0);
	assert_int_equal(fc_unmap(q), 0);
}
