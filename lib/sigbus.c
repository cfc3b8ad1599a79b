/* SPDX-License-Identifier: MIT */
/*
 * sigbus.c - FC_CONFIG_INLINE: the process's SIGBUS handler.
 *
 * The views of an inline cache are registered with a uffd that has
 * UFFD_FEATURE_SIGBUS. A missing fault in them (a page the store lacks:
 * the kernel maps the others) does not queue a message for a handler
 * thread: it raises SIGBUS (si_code BUS_ADRERR) in the thread that
 * faulted. That thread resolves its own fault in the handler below
 * (fc__inline_fault: look up, read, UFFDIO_COPY into the store and its
 * view) and returns, and the access is retried. A fault past the end of the file or
 * on a page that cannot be read is not resolved: the signal goes, like
 * every SIGBUS that is not ours, to the handler installed before ours
 * (the default one ends the process, as the kernel's SIGBUS would).
 *
 *   application thread                     no handler thread on the way
 *   touches a view page -> SIGBUS -> on_sigbus -> fc_handle_sigbus
 *                                       | ours: resolve, return, retry
 *                                       | not ours: previous handler
 *
 * The handler is installed once per process, by the first inline cache.
 * It is not installed again: a handler installed later that chains to
 * ours keeps working, and re-installing over one could make the two call
 * each other. A handler the application installs later without chaining
 * must call fc_handle_sigbus() first (faultcache(7)).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "faultcache.h"
#include "inline.h"
#include "sigbus.h"

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;		/* lock: install */
/* lock: install; written once, before ours can run, read-only after */
static struct sigaction prev;

static bool uffd_sigbus(const siginfo_t *si)
{
	return si && si->si_signo == SIGBUS && si->si_code == BUS_ADRERR;
}

/*
 * Every signal is blocked while a fault is resolved, as the kernel defers
 * all but fatal signals while a thread waits in a page fault: a handler
 * that ran in the middle could leave the thread (pthread_exit, longjmp)
 * with a lock held, a read half done, or a waiter on its stack.
 *
 * resolve: @si is a userfaultfd SIGBUS (uffd_sigbus); 1 if it was ours.
 */
static int resolve(const siginfo_t *si)
{
	int saved = errno, ours;

	ours = fc__inline_fault((uint64_t)(uintptr_t)si->si_addr);
	errno = saved;
	return ours;
}

/* Called from someone else's handler, whose mask is its own: block. */
int fc_handle_sigbus(const siginfo_t *si)
{
	sigset_t all, old;
	int ours;

	if (!uffd_sigbus(si))
		return 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ours = resolve(si);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ours;
}

/*
 * Not ours: what the handler we replaced would have done, with the mask
 * it would have run with (ours runs with every signal blocked).
 */
static void chain(int sig, siginfo_t *si, void *uc)
{
	const ucontext_t *u = uc;
	sigset_t mask;
	int s;

	if (u) {
		mask = u->uc_sigmask;
		for (s = 1; s < NSIG; s++)
			if (sigismember(&prev.sa_mask, s) == 1)
				sigaddset(&mask, s);
		if (!(prev.sa_flags & SA_NODEFER))
			sigaddset(&mask, SIGBUS);
		pthread_sigmask(SIG_SETMASK, &mask, NULL);
	}
	if (prev.sa_flags & SA_SIGINFO) {
		if (prev.sa_sigaction)
			prev.sa_sigaction(sig, si, uc);
		return;
	}
	if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
		prev.sa_handler(sig);
		return;
	}
	/*
	 * Default (or ignored, which a fault cannot be): the access faults
	 * again on return and the default action ends the process, as it
	 * would have without us.
	 */
	signal(SIGBUS, SIG_DFL);
}

/*
 * The kernel has blocked every signal for us (sa_mask, below), so the
 * fault is resolved without the two rt_sigprocmask calls
 * fc_handle_sigbus makes; sigreturn puts the thread's mask back.
 */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (!uffd_sigbus(si) || !resolve(si))
		chain(sig, si, uc);
}

/**
 * fc__sigbus_install - make sure the library's SIGBUS handler is in place
 * (the first inline cache installs it; later calls do nothing).
 * Return: 0 or -errno from sigaction.
 * Context: fc_cache_create; any thread.
 */
int fc__sigbus_install(void)
{
	struct sigaction sa;
	int ret = 0;

	pthread_mutex_lock(&install_lock);
	if (!installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		/* not SA_ONSTACK: a fault is resolved on the thread's own
		 * stack, not on an alternate one sized for crash reports */
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigfillset(&sa.sa_mask);	/* on_sigbus: all blocked */
		/* @prev first: ours may run as soon as it is installed */
		if (sigaction(SIGBUS, NULL, &prev) || sigaction(SIGBUS, &sa, NULL))
			ret = -errno;
		else
			installed = true;
	}
	pthread_mutex_unlock(&install_lock);
	return ret;
}
