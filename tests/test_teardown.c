/* SPDX-License-Identifier: MIT */
/*
 * test_teardown: the library's teardown against what other threads are
 * doing at that moment, and teardown steps that fail. White-box: linked
 * with wrap.c (ld --wrap), which makes chosen C library calls fail or
 * stops a thread inside one.
 *
 * Covered: fc_cache_destroy while backend completions come from their own
 * threads (fc_backend_complete publishes the result, then writes the
 * handler's eventfd: the handler must outlive that write, which a thread
 * held inside it proves, and many rounds with several completer threads
 * stress); a command whose wake-up write fails is still run, once
 * (fc_advise says 0); fc_unmap whose PROT_NONE placeholder cannot be
 * mapped still leaves the range faulting with SIGSEGV, never serving the
 * store's bytes or looping; an inline fault whose handler runs while the
 * mapping's last reference goes (held inside its munmap) gets SIGSEGV.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "wrap.h"

#define PG 4096
#define SIZE (256 * PG)

/* ---- a backend whose reads are completed by a pool of threads ---- */

struct job {
	struct job *next;
	uint64_t off;
	void *buf;
	size_t len;
	struct fc_backend_req *req;
};

struct pool {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head;
	bool stop;
	bool gate;		/* closed: reads wait */
	pthread_t thr[8];
	unsigned nthr;
	uint64_t seed;
	atomic_bool released;
};

static __thread bool in_completer;

static void *completer(void *arg)
{
	struct pool *pl = arg;

	in_completer = true;
	for (;;) {
		struct job *j;
		ssize_t n;
		unsigned spin;

		pthread_mutex_lock(&pl->lock);
		while ((!pl->head || pl->gate) && !pl->stop)
			pthread_cond_wait(&pl->cond, &pl->lock);
		j = pl->head;
		if (j)
			pl->head = j->next;
		spin = (unsigned)(th_rand(&pl->seed) % 2000);
		pthread_mutex_unlock(&pl->lock);
		if (!j)
			return NULL;
		n = pread(pl->fd, j->buf, j->len, (off_t)j->off);
		while (spin--)	/* completions end in a varied order */
			__asm__ volatile("" ::: "memory");
		fc_backend_complete(j->req, n < 0 ? -errno : n);
		free(j);
	}
}

static int pool_read(void *ctx, uint64_t off, void *buf, size_t len,
		     struct fc_backend_req *req)
{
	struct pool *pl = ctx;
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->off = off;
	j->buf = buf;
	j->len = len;
	j->req = req;
	pthread_mutex_lock(&pl->lock);
	j->next = pl->head;	/* a stack: the newest read completes first */
	pl->head = j;
	pthread_cond_signal(&pl->cond);
	pthread_mutex_unlock(&pl->lock);
	return 0;
}

static int pool_size(void *ctx, uint64_t *size)
{
	struct pool *pl = ctx;
	off_t end = lseek(pl->fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

/* Unlike inject_backend's, release() does not wait for the completers. */
static void pool_release(void *ctx)
{
	atomic_store(&((struct pool *)ctx)->released, true);
}

static const struct fc_backend_ops pool_ops = {
	.size = sizeof(struct fc_backend_ops),
	.read = pool_read,
	.get_size = pool_size,
	.release = pool_release,
};

static struct pool *pool_new(int fd, unsigned nthr, uint64_t seed)
{
	struct pool *pl = calloc(1, sizeof(*pl));
	unsigned i;

	assert_non_null(pl);
	pl->fd = fd;
	pl->seed = seed;
	pthread_mutex_init(&pl->lock, NULL);
	pthread_cond_init(&pl->cond, NULL);
	for (i = 0; i < nthr; i++)
		assert_int_equal(pthread_create(&pl->thr[i], NULL, completer,
						pl), 0);
	pl->nthr = nthr;
	return pl;
}

/* Close (hold every read) or open the gate. */
static void pool_gate(struct pool *pl, bool closed)
{
	pthread_mutex_lock(&pl->lock);
	pl->gate = closed;
	pthread_cond_broadcast(&pl->cond);
	pthread_mutex_unlock(&pl->lock);
}

static void pool_free(struct pool *pl)
{
	unsigned i;

	pthread_mutex_lock(&pl->lock);
	pl->stop = true;
	pthread_cond_broadcast(&pl->cond);
	pthread_mutex_unlock(&pl->lock);
	for (i = 0; i < pl->nthr; i++)
		pthread_join(pl->thr[i], NULL);
	assert_null(pl->head);
	pthread_mutex_destroy(&pl->lock);
	pthread_cond_destroy(&pl->cond);
	free(pl);
}

/* ---- destroy racing a completion held between publish and wake-up ---- */

static struct {
	atomic_int held;	/* completers inside the hook */
	atomic_bool destroyed;	/* fc_cache_destroy returned */
	atomic_int late;	/* completer writes after destroy returned */
} r;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A completer's write is fc_backend_complete's wake-up of the handler,
 * made after the result is published. Hold it until fc_cache_destroy has
 * returned, or for 2 s: a library that lets destroy free the handler
 * meanwhile is caught writing a closed (or reused) descriptor. One that
 * waits for the completer makes this wait out its 2 s.
 */
static int hold_completer(int fd)
{
	double until = now_s() + 2;

	(void)fd;
	if (!in_completer)
		return 0;
	atomic_fetch_add(&r.held, 1);
	while (!atomic_load(&r.destroyed) && now_s() < until)
		usleep(1000);
	if (atomic_load(&r.destroyed))
		atomic_fetch_add(&r.late, 1);
	return 0;
}

static void destroy_during_completion(void **state)
{
	struct th_fx *f = th_fx_file(SIZE, 11);
	struct fc_cache *c;
	struct pool *pl;
	unsigned char *p;
	int round, i;

	(void)state;
	for (round = 0; round < 2; round++) {
		c = th_cache_create();
		assert_non_null(c);
		pl = pool_new(f->fd, 1, 7);
		p = fc_map_backend(c, &pool_ops, pl, 0, 0, 0);
		assert_non_null(p);
		atomic_store(&r.held, 0);
		atomic_store(&r.destroyed, false);
		atomic_store(&r.late, 0);
		tw_write_hook(hold_completer);
		/* a read in flight that no thread waits for */
		assert_int_equal(fc_advise(p, PG, FC_ADVICE_WILLNEED), 0);
		for (i = 0; i < 10000 && !atomic_load(&r.held); i++)
			usleep(1000);
		assert_int_equal(atomic_load(&r.held), 1);
		/*
		 * The handler learns of the completion from its own stop
		 * wake-up, finishes the read, and would exit.
		 */
		fc_cache_destroy(c);
		atomic_store(&r.destroyed, true);
		pool_free(pl);	/* joins the completer */
		tw_write_hook(NULL);
		assert_int_equal(atomic_load(&r.late), 0);
	}
	th_fx_free(f);
}

/*
 * Many rounds: several completer threads finish reads in a varied order
 * while readers fault and the cache is destroyed under them (its
 * mappings taken away: the readers get SIGSEGV or the bytes).
 */
static struct {
	unsigned char *p;
	const unsigned char *ref;
	atomic_int bad;
} s;

static void *reader(void *arg)
{
	uint64_t seed = (uintptr_t)arg + 1;
	int i;

	for (i = 0; i < 16; i++) {
		size_t off = th_rand(&seed) % (SIZE / PG) * PG;
		unsigned char v;
		int sig = th_touch(s.p + off, &v);

		if (sig == SIGSEGV)
			break;	/* destroyed under it */
		if (sig || v != s.ref[off])
			atomic_fetch_add(&s.bad, 1);
	}
	return NULL;
}

static void destroy_races_completions(void **state)
{
	struct th_fx *f = th_fx_file(SIZE, 12);
	int round, i;

	(void)state;
	s.ref = f->ref;
	for (round = 0; round < 60; round++) {
		struct fc_cache *c = th_cache_create();
		struct pool *pl = pool_new(f->fd, 4, (uint64_t)round + 1);
		pthread_t t[4];

		assert_non_null(c);
		s.p = fc_map_backend(c, &pool_ops, pl, 0, 0, 0);
		assert_non_null(s.p);
		assert_int_equal(fc_advise(s.p, SIZE, FC_ADVICE_RANDOM), 0);
		assert_int_equal(fc_advise(s.p + (round % 8) * 16 * PG,
					   16 * PG, FC_ADVICE_WILLNEED), 0);
		for (i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, reader,
				       (void *)(uintptr_t)(round * 4 + i));
		if (round & 1)
			usleep(200);
		fc_cache_destroy(c);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		assert_true(atomic_load(&pl->released));
		pool_free(pl);
	}
	assert_int_equal(atomic_load(&s.bad), 0);
	th_fx_free(f);
}

/* ---- a command whose wake-up write fails ---- */

static __thread int fail_writes;	/* this thread's next writes fail */

static int fail_mine(int fd)
{
	(void)fd;
	if (fail_writes <= 0)
		return 0;
	fail_writes--;
	return EAGAIN;
}

static void post_wakeup_fails(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 13, 0, true);
	struct fc_stats st;
	int i;

	(void)state;
	assert_int_equal(fc_advise(f->p, SIZE, FC_ADVICE_RANDOM), 0);
	tw_write_hook(fail_mine);
	fail_writes = 1;
	/*
	 * The command is on the handler's list when the wake-up write
	 * fails: the advice was taken, and is run when the handler wakes.
	 */
	assert_int_equal(fc_advise(f->p, 8 * PG, FC_ADVICE_WILLNEED), 0);
	assert_int_equal(fail_writes, 0);	/* it was the one that failed */
	tw_write_hook(NULL);
	/* wakes the handler: both commands run (the first one once) */
	assert_int_equal(fc_advise(f->p + 64 * PG, 8 * PG,
				   FC_ADVICE_WILLNEED), 0);
	for (i = 0; i < 500; i++) {
		assert_int_equal(fc_cache_stats(f->c, &st), 0);
		if (st.pages_read >= 16 && !st.reads_inflight)
			break;
		usleep(10000);
	}
	assert_true(st.pages_read >= 16);
	assert_memory_equal(f->p, f->ref, SIZE);
	th_fx_free(f);
}

/* ---- fc_unmap without its placeholder ---- */

/*
 * The placeholder matters while someone else holds the mapping (a read
 * for it in flight): the view stays until the last reference goes. It
 * must not show the store's pages meanwhile, nor send a fault round in a
 * loop (inline: pass it on as SIGBUS), but give SIGSEGV.
 */
static void unmap_placeholder_fails(void **state)
{
	struct th_fx *f = th_fx_file(SIZE, 14);
	struct fc_cache *c = th_cache_create();
	struct pool *pl = pool_new(f->fd, 1, 3);
	unsigned char *p, v;

	(void)state;
	assert_non_null(c);
	p = fc_map_backend(c, &pool_ops, pl, 0, 0, 0);
	assert_non_null(p);
	assert_int_equal(fc_advise(p, SIZE, FC_ADVICE_RANDOM), 0);
	assert_int_equal(th_touch(p, &v), 0);	/* cached and mapped */
	assert_int_equal(v, f->ref[0]);
	pool_gate(pl, true);
	assert_int_equal(fc_advise(p + 200 * PG, PG, FC_ADVICE_WILLNEED), 0);
	tw_arm(TW_MMAP, 1, ENOMEM);
	assert_int_equal(fc_unmap(p), 0);
	tw_disarm();
	assert_true(tw_failed());
	/* a page the view had mapped, and one it never had */
	assert_int_equal(th_touch(p, &v), SIGSEGV);
	assert_int_equal(th_touch(p + 100 * PG, &v), SIGSEGV);
	pool_gate(pl, false);
	fc_cache_destroy(c);
	assert_true(atomic_load(&pl->released));
	pool_free(pl);
	th_fx_free(f);
}

/* ---- an inline fault handled while the last reference goes ---- */

static struct {
	unsigned char *p;
	atomic_int armed, tid, in_handler, go, looking, done, sig;
	sigjmp_buf jb;
} lp;

/*
 * The application's handler, installed over the library's: it passes the
 * first inline fault on (fc_handle_sigbus) only once the mapping's last
 * reference is going (lp.go): a thread preempted that long between its
 * fault and its handler.
 */
static void lp_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGBUS && !lp.in_handler) {
		lp.tid = gettid();
		lp.in_handler = 1;
		while (!lp.go)
			usleep(1000);
		lp.looking = 1;
		if (fc_handle_sigbus(si)) {
			lp.done = 1;
			return;	/* retried: meets what is there now */
		}
		lp.done = 1;
	} else if (sig == SIGBUS && fc_handle_sigbus(si)) {
		return;
	}
	lp.sig = sig;
	siglongjmp(lp.jb, 1);
}

static void *lp_toucher(void *arg)
{
	if (!sigsetjmp(lp.jb, 1))
		(void)*(volatile const unsigned char *)arg;
	return NULL;
}

/* Is thread @tid asleep in a futex (a lock) now? */
static bool in_futex(int tid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return atol(buf) == SYS_futex;
}

/*
 * The munmap of the view's range by its last reference: the faulting
 * thread's handler runs now, and this munmap waits until it is done, or
 * blocked on a lock (the library's: the range leaves the table and the
 * address space in one step, so its lookup waits for both).
 */
static void lp_munmap(void *addr, size_t len)
{
	(void)len;
	if (addr != lp.p || !atomic_exchange(&lp.armed, 0))
		return;
	lp.go = 1;
	while (!lp.done && !(lp.looking && in_futex(lp.tid)))
		usleep(1000);
}

/*
 * A fault taken before fc_unmap whose inline handler runs while the last
 * reference takes the mapping out of the table and unmaps its range:
 * SIGSEGV, as after munmap, never passed on as someone else's SIGBUS
 * (with the default disposition before the library's, that would end the
 * process at the next inline fault).
 */
static void fault_at_last_put(void **state)
{
	struct th_fx *f = th_fx_file(SIZE, 15);
	struct sigaction sa, old_bus, old_segv;
	struct fc_config cfg;
	struct fc_cache *c;
	pthread_t t;

	(void)state;
	th_config_init(&cfg);
	cfg.flags = (cfg.flags & ~FC_CONFIG_COPY) | FC_CONFIG_INLINE;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	memset(&lp, 0, sizeof(lp));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = lp_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	lp.p = fc_map(c, f->fd, 0, 0, 0);
	assert_non_null(lp.p);
	lp.armed = 1;
	tw_munmap_hook(lp_munmap);
	pthread_create(&t, NULL, lp_toucher, lp.p + 5 * PG);
	while (!lp.in_handler)
		usleep(1000);
	assert_int_equal(fc_unmap(lp.p), 0);
	pthread_join(t, NULL);
	tw_munmap_hook(NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	assert_int_equal(lp.armed, 0);	/* the hook ran */
	assert_int_equal(lp.sig, SIGSEGV);
	fc_cache_destroy(c);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(destroy_during_completion),
		cmocka_unit_test(destroy_races_completions),
		cmocka_unit_test(post_wakeup_fails),
		cmocka_unit_test(unmap_placeholder_fails),
		cmocka_unit_test(fault_at_last_put),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
