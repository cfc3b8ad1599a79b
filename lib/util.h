/* SPDX-License-Identifier: MIT */
/*
 * util.h - what every module may use: compiler hints (for the fault path
 * only), the monotonic clock, and the assertions of the debug build.
 */
#ifndef FC_UTIL_H
#define FC_UTIL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __cold __attribute__((cold))

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t fc__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Assertions, on in the debug build only (cmake -DFC_DEBUG=ON); in other
 * builds they compile to nothing and their arguments are not evaluated.
 *   fc__assert(cond)             abort, saying where, if @cond is false;
 *   fc__assert_held(&mutex)      the calling thread holds @mutex, as the
 *                                kernel's lockdep_assert_held();
 *   fc__assert_not_held(&mutex)  it does not (the function takes it, or
 *                                does what must not run under it).
 * Ownership is read from glibc's mutex (__data.__owner, the holder's
 * thread id, which it records for the normal and adaptive mutexes the
 * library uses; lock elision, off by default, would leave it 0).
 * A failed assertion may be in a signal handler (inline faults): it
 * writes its message with write(2) and aborts.
 */
#ifdef FC_DEBUG
#ifndef __GLIBC__
#error "FC_DEBUG reads mutex owners the glibc way"
#endif
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Append what fits of @s to @buf (@cap bytes) at *@n. */
static inline void fc__buf_add(char *buf, size_t cap, size_t *n,
			       const char *s)
{
	while (*s && *n < cap)
		buf[(*n)++] = *s++;
}

static inline __attribute__((noreturn, cold)) void
fc__assert_fail(const char *what, const char *file, unsigned line,
		const char *func)
{
	char buf[512], num[12];
	size_t n = 0, i = sizeof(num) - 1;

	num[i] = 0;
	do
		num[--i] = (char)('0' + line % 10);
	while ((line /= 10));
	fc__buf_add(buf, sizeof(buf), &n, "faultcache: ");
	fc__buf_add(buf, sizeof(buf), &n, file);
	fc__buf_add(buf, sizeof(buf), &n, ":");
	fc__buf_add(buf, sizeof(buf), &n, num + i);
	fc__buf_add(buf, sizeof(buf), &n, ": ");
	fc__buf_add(buf, sizeof(buf), &n, func);
	fc__buf_add(buf, sizeof(buf), &n, ": assertion failed: ");
	fc__buf_add(buf, sizeof(buf), &n, what);
	fc__buf_add(buf, sizeof(buf), &n, "\n");
	if (write(2, buf, n) < 0) {
		/* nowhere to say it: abort all the same */
	}
	abort();
}

static inline bool fc__mutex_owned(const pthread_mutex_t *m)
{
	return m->__data.__owner == (int)syscall(SYS_gettid);
}

#define fc__assert(cond)                                                   \
	((cond) ? (void)0                                                  \
		: fc__assert_fail(#cond, __FILE__, __LINE__, __func__))
#define fc__assert_held(m) fc__assert(fc__mutex_owned(m))
#define fc__assert_not_held(m) fc__assert(!fc__mutex_owned(m))

/* True once in 64 calls (per file): when a costly check runs. */
static inline bool fc__debug_sample(void)
{
	static _Atomic unsigned n;

	return !(__atomic_fetch_add(&n, 1, __ATOMIC_RELAXED) & 63);
}
#else
#define fc__assert(cond) ((void)sizeof(!(cond)))
#define fc__assert_held(m) ((void)sizeof(m))
#define fc__assert_not_held(m) ((void)sizeof(m))
#endif

/*
 * In the child of a fork: make anew mutex @m, which the forking thread
 * took in a prepare handler. Under TSan it is unlocked first: TSan's
 * books keep a lock held across a new init, and reported the child's
 * next use of it (a normal mutex's unlock does not look at its owner).
 */
static inline void fc__fork_child_mutex(pthread_mutex_t *m)
{
#ifdef __SANITIZE_THREAD__
	pthread_mutex_unlock(m);
#endif
	pthread_mutex_init(m, NULL);
}

/* A busy-wait's pause: lets the sibling hyperthread run and saves power. */
static inline void fc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
