/* SPDX-License-Identifier: MIT */
/*
 * test_backend: mappings served by a custom backend (the fault-injection
 * backend in inject_backend.c, which reads a real file on worker threads).
 * Every byte is compared with pread of the file. Covered: plain service
 * and release, isolation (no read outside the mapping), transient and
 * persistent errors (SIGBUS to the toucher only, with its address), a
 * fault that joins a failing retry (reads the page again, no SIGBUS),
 * short reads, a slow read not holding up other faults, signals and
 * thread exit during a fault, unmap/destroy while a read is in flight, and
 * bad arguments to fc_map_backend().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "inject_backend.h"

#define SIZE (8 * 1024 * 1024)
#define PG 4096

static struct {
	int fd;
	unsigned char *ref;
	unsigned char *p;
	atomic_int stop, bad, sigs;
	atomic_int in_fault;
} g;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct bk {
	struct th_fx *fx;	/* the file and its bytes; fx->c the cache */
	struct ib *b;
	unsigned char *p;
};

/* A backend over a fresh file; the mapping is made by the caller. */
static struct bk *bk_new(unsigned seed, size_t budget)
{
	struct bk *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	k->fx = th_fx_new(SIZE, seed, budget, false);
	k->b = ib_new(k->fx->fd, 4);
	assert_non_null(k->b);
	g.fd = k->fx->fd;
	g.ref = k->fx->ref;
	return k;
}

static void bk_map(struct bk *k, off_t off, size_t len)
{
	k->p = fc_map_backend(k->fx->c, &ib_ops, k->b, off, len, 0);
	assert_non_null(k->p);
	g.p = k->p;
}

/* Unmap, check release() ran once the reads were done, free it all. */
static void bk_free(struct bk *k)
{
	struct fc_stats st;
	int i;

	if (k->p)
		assert_int_equal(fc_unmap(k->p), 0);
	/* the last reference may be a read still completing */
	for (i = 0; i < 500 && !ib_released(k->b); i++)
		usleep(10000);
	assert_true(ib_released(k->b));
	assert_int_equal(fc_cache_stats(k->fx->c, &st), 0);
	assert_int_equal(st.reads_inflight, 0);
	ib_free(k->b);
	th_fx_free(k->fx);
	free(k);
}

static void serves_and_releases(void **state)
{
	struct bk *k = bk_new(1, 0);
	struct fc_stats st;

	(void)state;
	bk_map(k, 0, 0);
	assert_memory_equal(k->p, g.ref, SIZE);
	assert_int_equal(fc_cache_stats(k->fx->c, &st), 0);
	assert_true(st.misses > 0);
	assert_int_equal(st.io_errors, 0);
	assert_false(ib_released(k->b));
	bk_free(k);
}

/* The library never reads outside the mapped range, readahead included. */
static void isolation(void **state)
{
	struct bk *k = bk_new(2, 0);
	uint64_t lo, hi, n;
	size_t i;

	(void)state;
	bk_map(k, 1024 * 1024, 2 * 1024 * 1024);
	for (i = 0; i < 2 * 1024 * 1024; i += PG)	/* sequential: readahead */
		assert_int_equal(k->p[i], g.ref[1024 * 1024 + i]);
	assert_memory_equal(k->p, g.ref + 1024 * 1024, 2 * 1024 * 1024);
	n = ib_reads(k->b, &lo, &hi);
	assert_true(n > 0);
	assert_true(lo >= 1024 * 1024);
	assert_true(hi < 3 * 1024 * 1024);
	bk_free(k);
}

static void transient_error(void **state)
{
	struct bk *k = bk_new(3, 0);
	struct fc_stats st;

	(void)state;
	ib_rule(k->b, IB_FAIL, 100 * PG, PG, 1, EIO);
	ib_rule(k->b, IB_SYNC_FAIL, 900 * PG, PG, 1, EAGAIN);
	bk_map(k, 0, 0);
	assert_int_equal(th_touch(k->p + 100 * PG, NULL), 0);
	assert_int_equal(th_touch(k->p + 900 * PG, NULL), 0);
	assert_memory_equal(k->p, g.ref, SIZE);
	fc_cache_stats(k->fx->c, &st);
	assert_int_equal(st.io_errors, 1);
	assert_true(st.io_retries >= 2);
	assert_int_equal(st.sigbus, 0);
	bk_free(k);
}

/*
 * A fault that comes to a page while the page's retry (after a failed
 * readahead it did not ask for) is being read, and that retry fails too:
 * the fault has seen one read fail, not two, so it reads the page once
 * more (as the kernel does) and gets the data, not SIGBUS.
 */
static void joined_retry_fails(void **state)
{
	struct bk *k = bk_new(12, 0);
	struct fc_stats st;
	unsigned char v;
	double t0;
	int i;

	(void)state;
	ib_rule(k->b, IB_DELAY, 5 * PG, PG, -1, 500);
	ib_rule(k->b, IB_FAIL, 5 * PG, PG, 2, EIO);	/* readahead, retry */
	bk_map(k, 0, 0);
	assert_int_equal(th_touch(k->p, &v), 0);	/* window over page 5 */
	assert_int_equal(v, g.ref[0]);
	for (i = 0; i < 500; i++) {	/* the window failed: retries go */
		assert_int_equal(fc_cache_stats(k->fx->c, &st), 0);
		if (st.io_errors)
			break;
		usleep(10000);
	}
	assert_int_equal(st.io_errors, 1);
	t0 = now_ms();
	assert_int_equal(th_touch(k->p + 5 * PG + 9, &v), 0);
	assert_int_equal(v, g.ref[5 * PG + 9]);
	print_message("joined a failing retry, got the page in %.0f ms\n",
		      now_ms() - t0);
	assert_memory_equal(k->p, g.ref, SIZE);
	fc_cache_stats(k->fx->c, &st);
	assert_int_equal(st.io_errors, 2);
	assert_int_equal(st.sigbus, 0);
	bk_free(k);
}

/* Results no backend should give: too many bytes, a non-errno error. */
static void nonsense_results(void **state)
{
	struct bk *k = bk_new(11, 0);
	struct fc_stats st;

	(void)state;
	ib_rule(k->b, IB_OVERCOUNT, 40 * PG, PG, 1, 1 << 20);
	ib_rule(k->b, IB_BADERR, 600 * PG, PG, 1, -100000);
	bk_map(k, 0, 0);
	assert_int_equal(th_touch(k->p + 40 * PG, NULL), 0);
	assert_int_equal(th_touch(k->p + 600 * PG, NULL), 0);
	assert_memory_equal(k->p, g.ref, SIZE);
	fc_cache_stats(k->fx->c, &st);
	assert_int_equal(st.io_errors, 1);	/* the bad error, as EIO */
	assert_int_equal(st.sigbus, 0);		/* and its retry succeeded */
	bk_free(k);
}

static void short_reads(void **state)
{
	struct bk *k = bk_new(4, 0);
	struct fc_stats st;

	(void)state;
	ib_rule(k->b, IB_SHORT, 0, SIZE, -1, 0);
	bk_map(k, 0, 0);
	assert_memory_equal(k->p, g.ref, SIZE);
	fc_cache_stats(k->fx->c, &st);
	assert_true(st.io_retries > 0);
	assert_int_equal(st.io_errors, 0);
	bk_free(k);
}

/* Read every page but @skip, comparing, until told to stop. */
static void *reader(void *arg)
{
	uint64_t skip = (uint64_t)(uintptr_t)arg, s = 5;

	while (!g.stop) {
		uint64_t off = th_rand(&s) % SIZE;
		unsigned char v;

		if (off / PG == skip)
			continue;
		if (th_touch(g.p + off, &v) || v != g.ref[off])
			g.bad++;
	}
	return NULL;
}

/*
 * A page that cannot be read: SIGBUS at its address for the thread that
 * touches it, and for no other; other pages and mappings keep working.
 */
static void persistent_error(void **state)
{
	struct bk *k = bk_new(5, 0);
	struct fc_stats st;
	pthread_t t[3];
	unsigned char *other;
	int i, fd2;

	(void)state;
	ib_rule(k->b, IB_FAIL, 300 * PG, PG, -1, EIO);
	bk_map(k, 0, 0);
	fd2 = dup(k->fx->fd);
	other = fc_map(k->fx->c, fd2, 0, 0, 0);	/* the file path: unaffected */
	assert_non_null(other);
	g.stop = 0;
	g.bad = 0;
	for (i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)300);
	for (i = 0; i < 3; i++) {	/* again and again: still SIGBUS */
		assert_int_equal(th_touch(k->p + 300 * PG + 17, NULL), SIGBUS);
		assert_ptr_equal(th_last_fault_addr(), k->p + 300 * PG + 17);
	}
	usleep(200000);
	g.stop = 1;
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(g.bad, 0);
	assert_memory_equal(other, g.ref, SIZE);
	assert_memory_equal(k->p, g.ref, 300 * PG);
	assert_memory_equal(k->p + 301 * PG, g.ref + 301 * PG,
			    SIZE - 301 * PG);
	fc_cache_stats(k->fx->c, &st);
	assert_true(st.io_errors >= 2);	/* the read and its retry */
	assert_true(st.sigbus >= 1);
	assert_int_equal(fc_unmap(other), 0);
	close(fd2);
	bk_free(k);
}

static void *slow_toucher(void *arg)
{
	unsigned char v;

	g.in_fault = 1;
	if (th_touch((unsigned char *)arg, &v) ||
	    v != g.ref[(unsigned char *)arg - g.p])
		g.bad++;
	g.in_fault = 2;
	return NULL;
}

/*
 * While one read takes two seconds, faults on cached pages and reads of
 * other pages from other threads go on at their usual speed.
 */
static void slow_read(void **state)
{
	struct bk *k = bk_new(6, 0);
	pthread_t t;
	double t0, worst = 0;
	int i;

	(void)state;
	bk_map(k, 0, 0);
	ib_rule(k->b, IB_DELAY, SIZE - PG, PG, -1, 2000);
	/* no readahead: the slow page is read only when touched */
	assert_int_equal(fc_advise(k->p, SIZE, FC_ADVICE_RANDOM), 0);
	assert_memory_equal(k->p, g.ref, SIZE / 2);	/* cache the first half */
	g.bad = 0;
	g.in_fault = 0;
	pthread_create(&t, NULL, slow_toucher, k->p + SIZE - PG);
	while (!g.in_fault)
		usleep(1000);
	usleep(50000);
	/* unmap our PTEs: each touch below is a fault on a cached page */
	assert_int_equal(fc_advise(k->p, SIZE / 2, FC_ADVICE_DONTNEED), 0);
	for (i = 0; i < 200; i++) {
		size_t off = (size_t)i * 37 * PG % (SIZE / 2);
		double a = now_ms();

		assert_int_equal(k->p[off], g.ref[off]);
		if (now_ms() - a > worst)
			worst = now_ms() - a;
	}
	/* and an uncached page elsewhere is read meanwhile */
	t0 = now_ms();
	assert_int_equal(k->p[SIZE / 2 + 5 * PG], g.ref[SIZE / 2 + 5 * PG]);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(g.in_fault, 1);	/* the slow read is still going */
	print_message("worst cached fault during a 2 s read: %.2f ms\n", worst);
	assert_true(worst < 500);
	pthread_join(t, NULL);
	assert_int_equal(g.bad, 0);
	bk_free(k);
}

static void on_usr1(int sig)
{
	(void)sig;
	g.sigs++;
}

/*
 * A backend whose read of page @page takes @ms, @fn as @sig's handler, and
 * a thread running @body on that page, returned once it is in the fault.
 */
static struct bk *slow_fault(unsigned seed, size_t page, int ms, int sig,
			     void (*fn)(int), void *(*body)(void *),
			     bool detached, pthread_t *t)
{
	struct bk *k = bk_new(seed, 0);
	struct sigaction sa;
	pthread_attr_t attr;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigaction(sig, &sa, NULL);
	bk_map(k, 0, 0);
	ib_rule(k->b, IB_DELAY, page * PG, PG, 1, ms);
	g.bad = 0;
	g.sigs = 0;
	g.in_fault = 0;
	pthread_attr_init(&attr);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_create(t, &attr, body, k->p + page * PG);
	pthread_attr_destroy(&attr);
	while (!g.in_fault)
		usleep(1000);
	return k;
}

/* Signals delivered to a thread blocked in a fault: it resumes correctly. */
static void signals_in_fault(void **state)
{
	pthread_t t;
	struct bk *k = slow_fault(7, 50, 500, SIGUSR1, on_usr1, slow_toucher,
				  false, &t);
	int i;

	(void)state;
	for (i = 0; i < 40; i++) {
		pthread_kill(t, SIGUSR1);
		usleep(5000);
	}
	pthread_join(t, NULL);
	assert_int_equal(g.bad, 0);
	assert_true(g.sigs > 0);
	assert_memory_equal(k->p, g.ref, SIZE);
	bk_free(k);
}

static void on_usr2_exit(int sig)
{
	(void)sig;
	syscall(SYS_exit, 0);	/* this thread ends here, mid-fault */
}

static atomic_int dying_tid;

static void *dying_toucher(void *arg)
{
	dying_tid = (int)syscall(SYS_gettid);
	g.in_fault = 1;
	(void)*(volatile unsigned char *)arg;
	g.bad++;	/* never reached */
	return NULL;
}

/* A thread that exits while its fault is being read leaves no trace. */
static void thread_exit_in_fault(void **state)
{
	pthread_t t;	/* detached: gone by exit(2), unjoinable under TSan */
	struct bk *k = slow_fault(8, 70, 300, SIGUSR2, on_usr2_exit,
				  dying_toucher, true, &t);
	char task[64];
	int i;

	(void)state;
	usleep(50000);
	snprintf(task, sizeof(task), "/proc/self/task/%d", (int)dying_tid);
	syscall(SYS_tgkill, getpid(), (int)dying_tid, SIGUSR2);
	for (i = 0; i < 500 && access(task, F_OK) == 0; i++)
		usleep(10000);
	assert_int_not_equal(access(task, F_OK), 0);	/* it is gone */
	assert_int_equal(g.bad, 0);
	assert_memory_equal(k->p, g.ref, SIZE);
	signal(SIGUSR2, SIG_DFL);
	bk_free(k);
}

/* fc_unmap, then fc_cache_destroy, while a read is in flight. */
static void unmap_destroy_inflight(void **state)
{
	struct bk *k = bk_new(9, 0);
	struct fc_cache *c;
	struct ib *b2;
	unsigned char *p2;
	pthread_t t;
	int sig;

	(void)state;
	bk_map(k, 0, 0);
	ib_rule(k->b, IB_DELAY, 10 * PG, PG, 1, 300);
	assert_int_equal(fc_advise(k->p + 10 * PG, PG, FC_ADVICE_WILLNEED), 0);
	usleep(20000);
	assert_int_equal(fc_unmap(k->p), 0);	/* read still in flight */
	k->p = NULL;
	sig = th_touch(g.p + 10 * PG, NULL);
	assert_int_equal(sig, SIGSEGV);
	assert_false(ib_released(k->b));	/* not before the read is done */
	bk_free(k);

	/* destroy with a thread blocked on a slow read */
	c = th_cache_create();
	assert_non_null(c);
	b2 = ib_new(g.fd = open("/proc/self/exe", O_RDONLY), 2);
	ib_rule(b2, IB_DELAY, 0, PG, 1, 300);
	p2 = fc_map_backend(c, &ib_ops, b2, 0, 0, 0);
	assert_non_null(p2);
	g.p = p2;
	g.in_fault = 0;
	pthread_create(&t, NULL, slow_toucher, p2);	/* SIGSEGV: counted bad */
	while (!g.in_fault)
		usleep(1000);
	usleep(20000);
	fc_cache_destroy(c);	/* waits for the read, then releases */
	assert_true(ib_released(b2));
	pthread_join(t, NULL);
	ib_free(b2);
	close(g.fd);
}

static int bad_size(void *ctx, uint64_t *size)
{
	(void)ctx;
	(void)size;
	return -ENOENT;
}

static void bad_arguments(void **state)
{
	struct bk *k = bk_new(10, 0);
	struct fc_backend_ops ops = ib_ops;
	struct fc_stats st0, st1;
	struct fc_cache *c = k->fx->c;

	(void)state;
	fc_cache_stats(c, &st0);
	errno = 0;
	assert_null(fc_map_backend(c, NULL, k->b, 0, 0, 0));
	assert_int_equal(errno, EINVAL);
	ops.size = 0;
	assert_null(fc_map_backend(c, &ops, k->b, 0, 0, 0));
	assert_int_equal(errno, EINVAL);
	ops = ib_ops;
	ops.read = NULL;
	assert_null(fc_map_backend(c, &ops, k->b, 0, 0, 0));
	assert_int_equal(errno, EINVAL);
	ops = ib_ops;
	ops.get_size = bad_size;
	assert_null(fc_map_backend(c, &ops, k->b, 0, 0, 0));
	assert_int_equal(errno, ENOENT);
	assert_null(fc_map_backend(c, &ib_ops, k->b, 100, 0, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_backend(c, &ib_ops, k->b, 0, 0, 1));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_backend(c, &ib_ops, k->b, 0, (size_t)1 << 60, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_backend(c, &ib_ops, k->b, SIZE, 0, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_backend((struct fc_cache *)&ops, &ib_ops, k->b, 0,
				   0, 0));
	assert_int_equal(errno, EINVAL);
	assert_false(ib_released(k->b));	/* failures never release */
	assert_int_equal(ib_reads(k->b, NULL, NULL), 0);
	fc_cache_stats(c, &st1);
	assert_int_equal(st1.mappings, st0.mappings);
	fc_backend_complete(NULL, 0);	/* ignored */
	/* a mapping past the end: bytes there raise SIGBUS, not zeros */
	bk_map(k, 0, SIZE + 8 * PG);
	assert_int_equal(th_touch(k->p + SIZE + PG, NULL), SIGBUS);
	assert_memory_equal(k->p, g.ref, SIZE);
	bk_free(k);
}

/*
 * fc_map_backend beside fc_map of a file in the same cache: a new backend
 * file must be whole (its ops set) before another fc_map's file lookup
 * can see it. TSan reports a race otherwise.
 */
static struct {
	struct fc_cache *c;
	int fd;
	atomic_int bad;
} mb;

static void *map_files(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 300; i++) {
		unsigned char *p = fc_map(mb.c, mb.fd, 0, 2 * PG, 0);

		if (!p || fc_unmap(p))
			mb.bad++;
	}
	return NULL;
}

static void map_backend_beside_map(void **state)
{
	struct bk *k = bk_new(11, 0);
	struct fc_backend_ops ops = ib_ops;
	pthread_t t;
	int i;

	(void)state;
	ops.release = NULL;	/* one context for many mappings */
	mb.c = k->fx->c;
	mb.fd = k->fx->fd;
	mb.bad = 0;
	pthread_create(&t, NULL, map_files, NULL);
	for (i = 0; i < 300; i++) {
		unsigned char *p = fc_map_backend(mb.c, &ops, k->b, 0,
						  2 * PG, 0);

		assert_non_null(p);
		assert_int_equal(fc_unmap(p), 0);
	}
	pthread_join(t, NULL);
	assert_int_equal(mb.bad, 0);
	th_fx_free(k->fx);	/* the cache first: no read is left */
	ib_free(k->b);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(serves_and_releases),
		cmocka_unit_test(isolation),
		cmocka_unit_test(transient_error),
		cmocka_unit_test(joined_retry_fails),
		cmocka_unit_test(short_reads),
		cmocka_unit_test(nonsense_results),
		cmocka_unit_test(persistent_error),
		cmocka_unit_test(slow_read),
		cmocka_unit_test(signals_in_fault),
		cmocka_unit_test(thread_exit_in_fault),
		cmocka_unit_test(unmap_destroy_inflight),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(map_backend_beside_map),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
