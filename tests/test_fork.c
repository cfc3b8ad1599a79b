/* SPDX-License-Identifier: MIT */
/*
 * test_fork: after fork() the child never reads silent zeros from a
 * mapping. The library's choice: mappings are MADV_DONTFORK, so the child
 * has nothing at those addresses and a touch faults (SIGSEGV) cleanly,
 * whether the parent had the page populated or not. The parent is
 * unaffected, and an exec'd program inherits none of the library's
 * descriptors. A mapping the program made MADV_DOFORK is unmapped in the
 * child all the same: inherited, it would have no userfaultfd behind it,
 * and its missing pages would be zeroed pages in the store the parent
 * shares.
 *
 * The child may use the library itself (fc_map(3), "fork"): its default
 * cache is a new one, made on first use; a cache of the parent's fails
 * with ECHILD; the parent's mappings are not in its table; it holds none
 * of the parent's descriptors; and a fork while other threads fault
 * leaves it no lock held.
 */
#include <dirent.h>
#include <execinfo.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define SIZE (2 * 1024 * 1024)

static void child_faults_cleanly(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 21, 0, true);
	unsigned char *ref = f->ref, *p = f->p;
	int status, i;
	pid_t pid;

	(void)state;
	assert_non_null(p);
	assert_int_equal(fc_advise(p, SIZE, FC_ADVICE_RANDOM), 0);
	assert_int_equal(p[0], ref[0]);	/* populated in the parent */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const size_t offs[] = { 0, SIZE / 2, SIZE - 1 };
		unsigned char v;
		int bad = 0;

		for (i = 0; i < 3; i++) {
			int sig = th_touch(p + offs[i], &v);

			/* either the file's byte or a clean fault, never 0s */
			if (sig == 0 && v != ref[offs[i]])
				bad = 1;
			if (sig != 0 && sig != SIGSEGV)
				bad = 2;
		}
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent goes on as before */
	assert_memory_equal(p, ref, SIZE);
	th_fx_free(f);
}

static void exec_inherits_nothing(void **state)
{
	struct th_fx *fx = th_fx_new(SIZE, 22, 0, true);
	unsigned char *p = fx->p;
	char line[512];
	int own = 0;
	FILE *f;

	(void)state;
	assert_non_null(p);
	assert_int_not_equal(p[100] + 1, 0);	/* handlers busy, reads done */
	f = popen("ls -l /proc/self/fd/", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		assert_null(strstr(line, "faultcache"));
		assert_null(strstr(line, "userfaultfd"));
		assert_null(strstr(line, "io_uring"));
		assert_null(strstr(line, "eventfd"));
		assert_null(strstr(line, "inotify"));
		if (strstr(line, fx->path))
			own++;
	}
	pclose(f);
	assert_int_equal(own, 1);	/* only the test's own descriptor */
	th_fx_free(fx);
}

/*
 * Wait for @pid for up to @secs seconds: its exit status, or -1 after
 * killing it when it did not end (a hang: what the fork tests look for).
 */
static void child_stuck(int sig)
{
	void *at[64];
	int n = backtrace(at, 64);
	static const char msg[] = "test_fork: child stuck, where:\n";

	write(2, msg, sizeof(msg) - 1);
	backtrace_symbols_fd(at, n, 2);
	_exit(128 + sig);
}

/*
 * In a child: end it after @secs, as a timeout, saying where it was (a
 * failure in CI must tell a hang from slowness). backtrace() was called
 * once before the fork (main), so that it allocates nothing here.
 */
static void child_watchdog(unsigned secs)
{
	signal(SIGALRM, child_stuck);
	alarm(secs);
}

static int wait_bounded(pid_t pid, int secs)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int status, i;

	for (i = 0; i < secs * 100; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status)
						 : 128 + WTERMSIG(status);
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/*
 * In a child: map @path (@size bytes) with the default cache and compare
 * every byte with pread. 0 when right, else a code saying what failed.
 */
static int child_reads(const char *path, const unsigned char *ref, off_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *p;
	struct fc_stats st;

	if (fd < 0)
		return 10;
	p = fc_map(NULL, fd, 0, 0, 0);
	close(fd);
	if (!p)
		return 11;
	if (memcmp(p, ref, (size_t)size))
		return 12;
	if (fc_cache_stats(NULL, &st) || st.mappings != 1 || !st.faults)
		return 13;
	if (fc_unmap(p))
		return 14;
	return 0;
}

/* Descriptors of the library (by what /proc/self/fd shows) and of @path. */
static void count_fds(const char *path, int *lib, int *file)
{
	char link[300], target[512];
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");

	*lib = *file = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strstr(target, "faultcache") || strstr(target, "userfaultfd") ||
		    strstr(target, "io_uring") || strstr(target, "eventfd") ||
		    strstr(target, "inotify") || strstr(target, "pagemap"))
			(*lib)++;
		if (!strcmp(target, path))
			(*file)++;
	}
	closedir(d);
}

/*
 * A child uses the library on its own: the default cache is a new one;
 * the parent's cache, mappings and descriptors are not its.
 */
/*
 * TSan cannot follow a child that starts threads after a fork of a
 * process with threads: it ends it ("starting new threads after
 * multi-threaded fork is not supported"), or with die_after_fork=0 fails
 * in its own books ("dup thread with used id"). The tests whose child
 * starts the library's threads run in the other builds.
 */
#ifdef __SANITIZE_THREAD__
#define NOT_UNDER_TSAN(what)                                                 \
	do {                                                                 \
		printf("%s: not under TSan (threads in a forked child)\n",   \
		       what);                                                \
		return;                                                      \
	} while (0)
#else
#define NOT_UNDER_TSAN(what) ((void)0)
#endif

static void child_uses_library(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 23, 0, true);
	unsigned char *dflt;
	struct fc_stats st;
	pid_t pid;
	int fd;

	(void)state;
#ifdef __SANITIZE_THREAD__
	th_fx_free(f);
	NOT_UNDER_TSAN("child_uses_library");
#endif
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	/* the parent's default cache too, with a mapping of its own */
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	dflt = fc_map(NULL, fd, 0, 0, 0);
	close(fd);
	assert_non_null(dflt);
	assert_memory_equal(dflt, f->ref, (size_t)f->size);
#ifdef __SANITIZE_ADDRESS__
	/* no read ends (and frees) in a handler thread as it forks: GCC
	 * 12's ASan allocator is not fork-safe (fork_while_faulting) */
	th_pages_read_settled(f->c);
	th_pages_read_settled(NULL);
#endif
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int lib, file, ret;

		child_watchdog(60);
		/* nothing of the parent's caches is open in the child */
		count_fds(f->path, &lib, &file);
		if (lib || file != 1)	/* only the test's own descriptor */
			_exit(1);
		/* the parent's cache: a clear error, and nothing changes */
		errno = 0;
		if (fc_map(f->c, f->fd, 0, 0, 0) || errno != ECHILD)
			_exit(2);
		if (fc_cache_stats(f->c, &st) != -ECHILD)
			_exit(3);
		fc_cache_destroy(f->c);	/* does nothing in the child */
		/* the parent's mappings are not in the child's table */
		if (fc_unmap(f->p) != -EINVAL || fc_unmap(dflt) != -EINVAL)
			_exit(4);
		/* a new default cache, with none of the parent's counts */
		ret = child_reads(f->path, f->ref, f->size);
		if (ret)
			_exit(ret);
		/* and an explicit one */
		f->c = fc_cache_create(NULL);
		if (!f->c)
			_exit(20);
		fd = open(f->path, O_RDONLY | O_CLOEXEC);
		f->p = fc_map(f->c, fd, 0, 0, 0);
		if (!f->p || memcmp(f->p, f->ref, (size_t)f->size))
			_exit(21);
		fc_unmap(f->p);
		fc_cache_destroy(f->c);
		_exit(0);
	}
	assert_int_equal(wait_bounded(pid, 120), 0);
	/* the parent's caches go on as before */
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	assert_memory_equal(dflt, f->ref, (size_t)f->size);
	assert_int_equal(fc_cache_stats(f->c, &st), 0);
	assert_int_equal(st.mappings, 1);
	assert_int_equal(fc_unmap(dflt), 0);
	th_fx_free(f);
}

#define FAULTERS 4
#define FORKS 20

struct faulter {
	struct th_fx *f;
	atomic_bool *stop;
	unsigned seed;
	int bad;
};

/* Cold random reads in a cache far smaller than the file. */
static void *fault_loop(void *arg)
{
	struct faulter *t = arg;
	uint64_t s = t->seed;

	while (!atomic_load(t->stop)) {
		size_t off = (size_t)(th_rand(&s) % (uint64_t)t->f->size);

		if (t->f->p[off] != t->f->ref[off])
			t->bad = 1;
	}
	return NULL;
}

/*
 * fork while other threads fault, map and unmap: the child must not find
 * a lock held by a thread it does not have (it would hang), and must read
 * right with the library. Each child is bounded by a timeout.
 */
static void fork_while_faulting(void **state)
{
	struct th_fx *f = th_fx_new(32 << 20, 24, 4 << 20, true);
	struct faulter t[FAULTERS];
	pthread_t th[FAULTERS];
	atomic_bool stop = false;
	int i, k, status = 0;

	(void)state;
#ifdef __SANITIZE_ADDRESS__
	/*
	 * GCC 12's ASan allocator takes no lock across fork: a child forked
	 * while the library's threads free memory can find its lock held
	 * and hang in malloc. The plain build runs this (not TSan: above).
	 */
	printf("fork_while_faulting: not under ASan (its allocator is not "
	       "fork-safe)\n");
	th_fx_free(f);
	return;
#endif
#ifdef __SANITIZE_THREAD__
	th_fx_free(f);
	NOT_UNDER_TSAN("fork_while_faulting");
#endif
	assert_int_equal(fc_advise(f->p, (size_t)f->size, FC_ADVICE_RANDOM),
			 0);
	for (i = 0; i < FAULTERS; i++) {
		t[i] = (struct faulter){ f, &stop, 100u + (unsigned)i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, fault_loop, &t[i]),
				 0);
	}
	/* failures are noted, not asserted, until the threads are joined */
	for (k = 0; k < FORKS && !status; k++) {
		pid_t pid;
		int fd = open(f->path, O_RDONLY | O_CLOEXEC);
		unsigned char *q;

		/* map and unmap in this thread too: maptab.lock taken */
		q = fd >= 0 ? fc_map(f->c, fd, 0, 1 << 20, 0) : NULL;
		if (fd >= 0)
			close(fd);
		if (!q) {
			status = 1000;
			break;
		}
		pid = fork();
		if (pid == 0) {
			child_watchdog(120);
			_exit(child_reads(f->path, f->ref, 1 << 20));
		}
		status = pid < 0 ? 1002 : wait_bounded(pid, 240);
		if (fc_unmap(q) && !status)
			status = 1001;
	}
	atomic_store(&stop, true);
	for (i = 0; i < FAULTERS; i++)
		pthread_join(th[i], NULL);
	if (status)
		printf("fork %d of %d: child status %d\n", k, FORKS, status);
	assert_int_equal(status, 0);
	for (i = 0; i < FAULTERS; i++)
		assert_int_equal(t[i].bad, 0);
	th_fx_free(f);
}

/* Set by main: this program, to exec as a child (argv[0] may be relative). */
static char self[4096];

/*
 * fork, then exec a program that uses the library: it starts clean, with
 * none of the parent's descriptors, and reads right.
 */
static void fork_exec_uses_library(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 25, 0, true);
	pid_t pid;

	(void)state;
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(self, self, "--child-reads", f->path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(wait_bounded(pid, 120), 0);
	th_fx_free(f);
}

/* The exec'd side of fork_exec_uses_library. */
static int exec_child(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	unsigned char *ref;
	int lib, file, ret;

	if (fd < 0 || size <= 0)
		return 30;
	count_fds(path, &lib, &file);
	if (lib)	/* the parent's cache left it nothing */
		return 31;
	ref = th_read_all(fd, size);
	close(fd);
	ret = child_reads(path, ref, size);
	free(ref);
	return ret;
}

/*
 * MADV_DOFORK, then fork: the child gets SIGSEGV on every page, cached
 * or not, and the parent's mappings of the file still show its bytes.
 */
static void dofork_child_faults(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 22, 0, true);
	unsigned char *p = f->p, *q, *buf;
	size_t i;
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(p);
	assert_int_equal(fc_advise(p, SIZE, FC_ADVICE_RANDOM), 0);
	for (i = 0; i < SIZE; i += 3 * 4096)	/* some pages cached */
		assert_int_equal(p[i], f->ref[i]);
	assert_int_equal(madvise(p, SIZE, MADV_DOFORK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char v;

		for (i = 0; i < SIZE; i += 4096)
			if (th_touch(p + i, &v) != SIGSEGV)
				_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	buf = malloc(SIZE);
	assert_non_null(buf);
	assert_int_equal(th_copy(buf, p, SIZE), 0);
	assert_memory_equal(buf, f->ref, SIZE);
	q = fc_map(f->c, f->fd, 0, SIZE, 0);
	assert_non_null(q);
	assert_int_equal(th_copy(buf, q, SIZE), 0);
	assert_memory_equal(buf, f->ref, SIZE);
	assert_int_equal(fc_unmap(q), 0);
	free(buf);
	th_fx_free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(child_faults_cleanly),
		cmocka_unit_test(dofork_child_faults),
		cmocka_unit_test(exec_inherits_nothing),
		cmocka_unit_test(child_uses_library),
		cmocka_unit_test(fork_while_faulting),
		cmocka_unit_test(fork_exec_uses_library),
	};

	void *at[1];

	if (argc == 3 && !strcmp(argv[1], "--child-reads"))
		return exec_child(argv[2]);
	backtrace(at, 1);	/* loads what it needs: see child_watchdog */
	if (!realpath("/proc/self/exe", self))
		return 1;
	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
