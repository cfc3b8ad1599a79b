/* SPDX-License-Identifier: MIT */
/*
 * test_sigbus: inline faults resolved by the library's own SIGBUS handler.
 *
 * The other inline tests install a handler of their own that calls
 * fc_handle_sigbus() (cmocka would take the signal otherwise). Here each
 * case runs in a child process that creates its first inline cache itself,
 * so the library installs its handler, over one the child installed
 * before (the handler it chains to). Checked: the bytes equal the file;
 * no other signal runs while a fault is being resolved (the handler's
 * sa_mask blocks them all, no rt_sigprocmask call does); a SIGBUS that is
 * not the library's reaches the previous handler with the signal mask
 * that handler asked for. A SIGBUS sent with kill is what the previous
 * disposition makes of it (ignored, handled, or the end of the process),
 * and leaves the library's handler in place; a previous SA_SIGINFO
 * handler of NULL is the default. Cancelling a thread in a fault
 * (deferred at pread, asynchronous while it waits) leaves the cache
 * whole; threads that block SIGBUS, as sigwait servers do, read a
 * mapping made with it blocked; a fault whose signal is handled after
 * fc_unmap is over gets SIGSEGV, however late.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "inject_backend.h"

#define PG 4096
#define SIZE (64 * PG)

static sigjmp_buf prev_jb;
static atomic_int prev_calls;
static atomic_int prev_mask_ok;
static atomic_int usr2_ran;
static atomic_int touch_done;

/* The handler the library finds at SIGBUS and chains to. */
static void prev_handler(int sig, siginfo_t *si, void *uc)
{
	sigset_t now;

	(void)sig;
	(void)si;
	(void)uc;
	prev_calls++;
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	/* its sa_mask (SIGUSR1) and SIGBUS itself, not the library's "all" */
	prev_mask_ok = sigismember(&now, SIGUSR1) == 1 &&
		       sigismember(&now, SIGBUS) == 1 &&
		       sigismember(&now, SIGUSR2) == 0 &&
		       sigismember(&now, SIGTERM) == 0;
	siglongjmp(prev_jb, 1);
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2_ran++;
}

/* In the child: @sa before the library's handler, then an inline cache. */
static struct fc_cache *child_cache_with(const struct sigaction *sa,
					 unsigned poll_us)
{
	struct fc_config cfg;
	struct fc_cache *c;

	if (sigaction(SIGBUS, sa, NULL))
		_exit(20);
	fc_config_init(&cfg);
	cfg.flags |= FC_CONFIG_INLINE;
	cfg.poll_us = poll_us;
	c = fc_cache_create(&cfg);
	if (!c)
		_exit(errno == EPERM || errno == ENOSYS ? FC_SKIP : 21);
	alarm(60);	/* a hang ends the child (SIGALRM), and fails */
	return c;
}

/* The same with prev_handler (SIGUSR1 in its mask) before. */
static struct fc_cache *child_cache(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = prev_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	return child_cache_with(&sa, 200);
}

/* Run @fn in a child; it exits 0 when every check passed. */
static void in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("the child died of signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == FC_SKIP)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Every byte through the library's own handler equals the file. */
static int child_bytes(void)
{
	struct fc_cache *c = child_cache();
	struct th_fx *f = th_fx_file(SIZE + 100, 31);
	const unsigned char *p = fc_map(c, f->fd, 0, 0, 0);
	struct fc_stats st;

	unlink(f->path);	/* now: a failing child returns early */
	if (!p)
		return 30;
	if (memcmp(p, f->ref, SIZE + 100))
		return 31;
	if (fc_cache_stats(c, &st) || !(st.flags & FC_STATS_INLINE) ||
	    !st.faults)
		return 32;
	if (prev_calls)
		return 33;	/* none of those faults was someone else's */
	fc_unmap((void *)p);
	fc_cache_destroy(c);
	th_fx_free(f);
	return 0;
}

static void own_handler_bytes(void **state)
{
	(void)state;
	in_child(child_bytes);
}

static void *toucher(void *arg)
{
	(void)*(volatile const unsigned char *)arg;
	touch_done = 1;
	return NULL;
}

/*
 * A signal sent while a fault waits for its read runs after the fault is
 * resolved, not inside it.
 */
static int child_blocked(void)
{
	struct fc_cache *c = child_cache();
	struct th_fx *f = th_fx_file(SIZE, 32);
	struct ib *b = ib_new(f->fd, 2);
	const unsigned char *p;
	struct sigaction sa;
	pthread_t t;
	int i;

	unlink(f->path);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	ib_rule(b, IB_DELAY, 9 * PG, PG, 1, 400);
	p = fc_map_backend(c, &ib_ops, b, 0, 0, 0);
	if (!p)
		return 40;
	if (fc_advise((void *)p, SIZE, FC_ADVICE_RANDOM))
		return 41;
	pthread_create(&t, NULL, toucher, (void *)(p + 9 * PG));
	for (i = 0; i < 1000 && !ib_reads(b, NULL, NULL); i++)
		usleep(1000);
	if (!ib_reads(b, NULL, NULL))
		return 42;	/* the fault never asked for its page */
	usleep(20000);
	pthread_kill(t, SIGUSR2);
	usleep(150000);
	if (touch_done)
		return 43;	/* the read was not slow: the test proves nothing */
	if (usr2_ran)
		return 44;	/* the handler ran inside the fault */
	pthread_join(t, NULL);
	if (usr2_ran != 1)
		return 45;	/* and it does run once the fault is over */
	if (memcmp(p, f->ref, SIZE))
		return 46;
	fc_unmap((void *)p);
	fc_cache_destroy(c);
	th_fx_free(f);
	return 0;
}

static void signals_blocked_in_fault(void **state)
{
	(void)state;
	in_child(child_blocked);
}

/*
 * A SIGBUS the library does not resolve (a page past the end of a file
 * that shrank) goes to the previous handler, with that handler's mask.
 */
static int child_chain(void)
{
	struct fc_cache *c = child_cache();
	struct th_fx *f = th_fx_file(SIZE, 33);
	const volatile unsigned char *p = fc_map(c, f->fd, 0, 0, 0);
	int wfd = open(f->path, O_WRONLY);

	unlink(f->path);
	if (!p || wfd < 0)
		return 50;
	if (fc_advise((void *)p, SIZE, FC_ADVICE_RANDOM))
		return 51;
	(void)p[0];
	if (ftruncate(wfd, SIZE / 2))
		return 52;
	if (!sigsetjmp(prev_jb, 1)) {
		(void)p[SIZE - PG];
		return 53;	/* a page past the end was read */
	}
	if (prev_calls != 1)
		return 54;
	if (!prev_mask_ok)
		return 55;
	fc_unmap((void *)p);
	fc_cache_destroy(c);
	close(wfd);
	th_fx_free(f);
	return 0;
}

static void chains_with_previous_mask(void **state)
{
	(void)state;
	in_child(child_chain);
}

/* ---- SIGBUS sent with kill ---- */

static atomic_int counted;

static void counting_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	counted++;
}

/* Map a file in @c and compare every byte (inline faults). 0 when right. */
static int read_back(struct fc_cache *c, unsigned seed)
{
	struct th_fx *f = th_fx_file(SIZE, seed);
	const unsigned char *p = fc_map(c, f->fd, 0, 0, 0);
	int bad;

	unlink(f->path);
	if (!p)
		return 1;
	bad = memcmp(p, f->ref, SIZE) != 0;
	fc_unmap((void *)p);
	th_fx_free(f);
	return bad;
}

/* The library's handler, not @prev, is installed for SIGBUS. */
static bool ours_installed(void (*prev)(int, siginfo_t *, void *))
{
	struct sigaction cur;

	return !sigaction(SIGBUS, NULL, &cur) && (cur.sa_flags & SA_SIGINFO) &&
	       cur.sa_sigaction != prev && cur.sa_handler != SIG_DFL &&
	       cur.sa_handler != SIG_IGN;
}

static int child_kill_ignored(void)
{
	struct sigaction sa;
	struct fc_cache *c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	c = child_cache_with(&sa, 200);
	if (kill(getpid(), SIGBUS))
		return 60;
	if (!ours_installed(NULL))
		return 61;
	if (read_back(c, 34))	/* inline faults still served */
		return 62;
	fc_cache_destroy(c);
	return 0;
}

static int child_kill_handled(void)
{
	struct sigaction sa;
	struct fc_cache *c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = counting_handler;
	sa.sa_flags = SA_SIGINFO;
	c = child_cache_with(&sa, 200);
	if (kill(getpid(), SIGBUS) || counted != 1)
		return 63;
	if (!ours_installed(counting_handler))
		return 64;
	if (read_back(c, 35))
		return 65;
	fc_cache_destroy(c);
	return 0;
}

/* Under SIG_DFL a SIGBUS sent by kill ends the process, as without us. */
static int child_kill_default(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	child_cache_with(&sa, 200);
	kill(getpid(), SIGBUS);
	return 66;	/* survived it */
}

/* Run @fn in a child, which must die of @sig. */
static void in_child_dies(int (*fn)(void), int sig)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == FC_SKIP)
		skip();
	if (WIFEXITED(status))
		fail_msg("the child exited with %d", WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), sig);
}

/*
 * A previous handler installed with SA_SIGINFO and a NULL sa_sigaction is
 * the default disposition: a SIGBUS not the library's (a page past the
 * end of a file the kernel maps) ends the process, as without us.
 */
static int child_siginfo_null(void)
{
	struct th_fx *f;
	struct sigaction sa;
	unsigned char *q;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = NULL;
	child_cache_with(&sa, 200);
	f = th_fx_file(2 * PG, 36);
	unlink(f->path);
	q = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, f->fd, 0);
	if (q == MAP_FAILED || ftruncate(f->fd, PG))
		return 67;
	(void)*(volatile unsigned char *)(q + PG);
	return 68;	/* survived it */
}

static void kill_sigbus(void **state)
{
	(void)state;
	in_child(child_kill_ignored);
	in_child(child_kill_handled);
	in_child_dies(child_kill_default, SIGBUS);
	in_child_dies(child_siginfo_null, SIGBUS);
}

/* ---- cancellation inside a fault ---- */

static struct {
	const unsigned char *p;
	atomic_int ready, sent, touched, returned;
	bool async;
} cn;

static void *cancel_reader(void *arg)
{
	int old;

	(void)arg;
	if (cn.async)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
	cn.ready = 1;
	/* deferred: the cancel comes here, pending until a cancellation point */
	while (!cn.async && !cn.sent)
		;
	(void)*(volatile const unsigned char *)(cn.p + 9 * PG);
	cn.touched = 1;
	pthread_testcancel();
	cn.returned = 1;
	return NULL;
}

/*
 * Deferred: a cancel pending when the fault begins does not act at the
 * pread that reads the page (poll_us 0: pread), but after the fault.
 * Asynchronous: sent while the fault waits for a slow read, it acts once
 * the fault is resolved. Either way the thread ends cancelled, the page
 * reads right from another thread, and destroy returns (before: the
 * thread unwound with its page in flight, and nothing ended).
 */
static int child_cancel(bool async)
{
	struct fc_cache *c = child_cache_with(&(struct sigaction){
		.sa_handler = SIG_DFL }, 0);
	struct th_fx *f = th_fx_file(SIZE, async ? 38 : 37);
	struct ib *b = NULL;
	pthread_t t;
	int i;

	unlink(f->path);
	memset(&cn, 0, sizeof(cn));
	cn.async = async;
	if (async) {
		b = ib_new(f->fd, 2);
		ib_rule(b, IB_DELAY, 9 * PG, PG, 1, 300);
		cn.p = fc_map_backend(c, &ib_ops, b, 0, 0, 0);
	} else {
		cn.p = fc_map(c, f->fd, 0, 0, 0);
	}
	if (!cn.p || fc_advise((void *)cn.p, SIZE, FC_ADVICE_RANDOM))
		return 70;
	if (pthread_create(&t, NULL, cancel_reader, NULL))
		return 71;
	while (!cn.ready)
		usleep(1000);
	if (async) {
		for (i = 0; i < 5000 && !ib_reads(b, NULL, NULL); i++)
			usleep(1000);
		if (!ib_reads(b, NULL, NULL))
			return 72;
		usleep(20000);	/* in the fault, waiting for the read */
	}
	pthread_cancel(t);
	cn.sent = 1;
	if (pthread_join(t, NULL))
		return 73;
	if (cn.returned || (!async && !cn.touched))
		return 74;	/* not cancelled where it should be */
	if (memcmp(cn.p, f->ref, SIZE))
		return 75;
	fc_unmap((void *)cn.p);
	fc_cache_destroy(c);
	ib_free(b);
	th_fx_free(f);
	return 0;
}

static int child_cancel_deferred(void)
{
	return child_cancel(false);
}

static int child_cancel_async(void)
{
	return child_cancel(true);
}

static void cancel_in_fault(void **state)
{
	(void)state;
	in_child(child_cancel_deferred);
	in_child(child_cancel_async);
}

/* ---- threads that block SIGBUS ---- */

static void *blocked_reader(void *arg)
{
	const struct th_fx *f = arg;
	const unsigned char *p = cn.p;

	return (void *)(uintptr_t)(memcmp(p, f->ref, SIZE) != 0);
}

/*
 * A server that blocks every signal before it starts its threads and
 * takes them with sigwait: its mappings are made with SIGBUS blocked,
 * and read by threads that block it (a fault signal the kernel would
 * force on them, ending the process).
 */
static int child_sigbus_blocked(void)
{
	struct fc_cache *c = child_cache();
	struct th_fx *f = th_fx_file(SIZE, 39);
	sigset_t all;
	pthread_t t;
	void *bad;

	unlink(f->path);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	cn.p = fc_map(c, f->fd, 0, 0, 0);
	if (!cn.p)
		return 80;
	pthread_create(&t, NULL, blocked_reader, f);
	pthread_join(t, &bad);
	if (bad)
		return 81;
	if (memcmp(cn.p, f->ref, SIZE))	/* and this thread */
		return 82;
	fc_unmap((void *)cn.p);
	fc_cache_destroy(c);
	th_fx_free(f);
	return 0;
}

static void sigbus_blocked(void **state)
{
	(void)state;
	in_child(child_sigbus_blocked);
}

/* ---- a fault handled after fc_unmap is over ---- */

static struct {
	atomic_int in_handler, unmapped, sig;
	sigjmp_buf jb;
} lt;

/*
 * An application handler installed over the library's, which passes
 * inline faults on (fc_handle_sigbus) only after fc_unmap of their
 * mapping is over: a thread preempted that long between its fault and
 * its handler.
 */
static void late_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGBUS && !lt.in_handler) {
		lt.in_handler = 1;
		while (!lt.unmapped)
			usleep(1000);
		usleep(50000);
	}
	if (sig == SIGBUS && fc_handle_sigbus(si))
		return;
	lt.sig = sig;
	siglongjmp(lt.jb, 1);
}

static void *late_toucher(void *arg)
{
	if (!sigsetjmp(lt.jb, 1))
		(void)*(volatile const unsigned char *)arg;
	return NULL;
}

static int child_unmap_late(void)
{
	struct fc_cache *c = child_cache();
	struct th_fx *f = th_fx_file(SIZE, 40);
	struct sigaction sa;
	unsigned char *p;
	pthread_t t;

	unlink(f->path);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = late_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	p = fc_map(c, f->fd, 0, 0, 0);
	if (!p)
		return 90;
	pthread_create(&t, NULL, late_toucher, p + 5 * PG);
	while (!lt.in_handler)
		usleep(1000);
	if (fc_unmap(p))
		return 91;
	lt.unmapped = 1;
	pthread_join(t, NULL);
	if (lt.sig != SIGSEGV)
		return lt.sig == SIGBUS ? 92 : 93;
	fc_cache_destroy(c);
	th_fx_free(f);
	return 0;
}

static void unmap_before_handler(void **state)
{
	(void)state;
	in_child(child_unmap_late);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_handler_bytes),
		cmocka_unit_test(signals_blocked_in_fault),
		cmocka_unit_test(chains_with_previous_mask),
		cmocka_unit_test(kill_sigbus),
		cmocka_unit_test(cancel_in_fault),
		cmocka_unit_test(sigbus_blocked),
		cmocka_unit_test(unmap_before_handler),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
