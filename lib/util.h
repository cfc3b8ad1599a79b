/* SPDX-License-Identifier: MIT */
/*
 * util.h - what every module may use: compiler hints (for the fault path
 * only) and the monotonic clock.
 */
#ifndef FC_UTIL_H
#define FC_UTIL_H

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

#endif
