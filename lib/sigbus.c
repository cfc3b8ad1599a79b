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
 * must call fc_handle_sigbus() first (faultcache(7)). When the library is
 * unloaded (dlclose) with no inline cache left, the handler it replaced
 * is put back if ours is still the one installed: it would point into
 * unmapped text.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#include "faultcache.h"
#include "inline.h"
#include "sigbus.h"
#include "util.h"

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;		/* lock: install */
/* lock: install; written once, before ours can run, read-only after */
static struct sigaction prev;
static atomic_uint inline_caches;	/* live; lock: none, atomic */

static bool uffd_sigbus(const siginfo_t *si)
{
	return si && si->si_signo == SIGBUS && si->si_code == BUS_ADRERR;
}

/*
 * Every signal is blocked while a fault is resolved, as the kernel defers
 * all but fatal signals while a thread waits in a page fault: a handler
 * that ran in the middle could leave the thread (pthread_exit, longjmp)
 * with a lock held, a read half done, or a waiter on its stack. So is
 * cancellation: the C library's cancellation signal is one that no mask
 * blocks (sigfillset leaves it out), and pread and usleep on the way are
 * cancellation points; a thread cancelled there unwound with its page in
 * flight for good (pthread_setcancelstate is a flag in the thread's own
 * descriptor in glibc, safe here). A cancel that came meanwhile acts when
 * it is enabled again, the fault resolved: at once for asynchronous
 * cancellation, at the next cancellation point otherwise.
 *
 * resolve: @si is a userfaultfd SIGBUS (uffd_sigbus); 1 if it was ours.
 */
static int resolve(const siginfo_t *si)
{
	int saved = errno, ours, cs;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	ours = fc__inline_fault((uint64_t)(uintptr_t)si->si_addr);
#ifdef __SANITIZE_ADDRESS__
	/*
	 * A pending asynchronous cancel acts inside the call below and
	 * unwinds the signal frame and the faulting code's frames without
	 * ASan seeing it: their redzones would stay poisoned, and the
	 * thread's exit, writing there, would be reported. Unpoisoned first,
	 * as ASan asks before any jump that does not return.
	 */
	if (cs == PTHREAD_CANCEL_ENABLE)
		__asan_handle_no_return();
#endif
	pthread_setcancelstate(cs, NULL);
	errno = saved;
	return ours;
}

/* Called from someone else's handler, whose mask is its own: block. */
int fc_handle_sigbus(const siginfo_t *si)
{
	sigset_t all, old;
	int ours, saved = errno;

	if (!uffd_sigbus(si))
		return 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ours = resolve(si);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return ours;
}

/*
 * The default action of SIGBUS for a signal a process sent (kill,
 * sigqueue, tgkill): end the process, as it would have without us. The
 * default disposition is put back and the signal raised again in this
 * thread, unblocked; should the process live on (it cannot), ours is
 * put back.
 */
static void default_action(void)
{
	struct sigaction dfl, ours;
	sigset_t bus;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &dfl, &ours);
	syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGBUS);
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
	sigaction(SIGBUS, &ours, NULL);
}

/*
 * Not ours: what the disposition we replaced would have done. A handler
 * runs, with the mask it would have run with (ours runs with every
 * signal blocked); SA_SIGINFO or not, a handler of SIG_DFL (NULL) or
 * SIG_IGN is that disposition, not a function. The default: a fault (sent
 * by the kernel, si_code > 0) comes again when the access is retried,
 * and ends the process then, as the kernel forces a fault signal; so the
 * default disposition is put back for it. A SIGBUS a process sent ends it
 * now. Ignored: a fault cannot be (the kernel would force the default),
 * a sent SIGBUS is, and ours stays installed.
 */
static void chain(int sig, siginfo_t *si, void *uc)
{
	const ucontext_t *u = uc;
	bool fault = si && si->si_code > 0;
	sigset_t mask;
	int s;

	if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
		if (fault)
			signal(SIGBUS, SIG_DFL);
		else if (prev.sa_handler == SIG_DFL)
			default_action();
		return;
	}
	if (u) {
		mask = u->uc_sigmask;
		for (s = 1; s < NSIG; s++)
			if (sigismember(&prev.sa_mask, s) == 1)
				sigaddset(&mask, s);
		if (!(prev.sa_flags & SA_NODEFER))
			sigaddset(&mask, SIGBUS);
		pthread_sigmask(SIG_SETMASK, &mask, NULL);
	}
	if (prev.sa_flags & SA_SIGINFO)
		prev.sa_sigaction(sig, si, uc);
	else
		prev.sa_handler(sig);
}

/*
 * The kernel has blocked every signal for us (sa_mask, below), so the
 * fault is resolved without the two rt_sigprocmask calls
 * fc_handle_sigbus makes; sigreturn puts the thread's mask back. errno
 * is the interrupted code's: what runs here must leave it as it was.
 */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	if (!uffd_sigbus(si) || !resolve(si)) {
		errno = saved;
		chain(sig, si, uc);
	}
	errno = saved;
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

/* An inline cache is made (hold) or destroyed (release): see below. */
void fc__sigbus_hold(void)
{
	atomic_fetch_add(&inline_caches, 1);
}

void fc__sigbus_release(void)
{
	atomic_fetch_sub(&inline_caches, 1);
}

/*
 * The library is unloaded (dlclose), or the process exits: with no inline
 * cache left, put back the handler ours replaced, if ours is still the
 * one installed (else someone chains to us, and must stop before the
 * library goes). With inline caches alive (a process exiting with its
 * caches, whose other threads may still fault) ours stays.
 */
__attribute__((destructor)) static void sigbus_uninstall(void)
{
	struct sigaction cur;

	pthread_mutex_lock(&install_lock);
	if (installed && !atomic_load(&inline_caches) &&
	    !sigaction(SIGBUS, NULL, &cur) && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_sigbus && !sigaction(SIGBUS, &prev, NULL))
		installed = false;
	pthread_mutex_unlock(&install_lock);
}

/*
 * fork (cache.c takes the process's locks around it): the child must not
 * inherit install_lock held by a thread it does not have.
 */
void fc__sigbus_fork_prepare(void)
{
	pthread_mutex_lock(&install_lock);
}

void fc__sigbus_fork_parent(void)
{
	pthread_mutex_unlock(&install_lock);
}

/* The handler stays installed in the child, as every disposition does. */
void fc__sigbus_fork_child(void)
{
	fc__fork_child_mutex(&install_lock);
}
