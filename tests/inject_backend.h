/* SPDX-License-Identifier: MIT */
/*
 * inject_backend.h - a fault-injection backend for the tests: serves a
 * real file through fc_map_backend() from worker threads, and fails,
 * shortens or delays the reads that overlap chosen ranges.
 */
#ifndef FC_INJECT_BACKEND_H
#define FC_INJECT_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <faultcache.h>

enum ib_kind {
	IB_FAIL,	/* complete with -err */
	IB_SHORT,	/* complete with half the bytes (at least one) */
	IB_DELAY,	/* sleep ms first */
	IB_SYNC_FAIL,	/* read() itself returns -err */
	IB_OVERCOUNT,	/* read the bytes, report arg more than asked */
	IB_BADERR,	/* complete with arg, not a valid -errno */
};

struct ib;

/* A backend over @fd (not closed) with @workers threads. */
struct ib *ib_new(int fd, unsigned workers);
/*
 * Reads overlapping [off, off + len) get @kind, @count times (-1: always).
 * @arg is the errno for IB_FAIL/IB_SYNC_FAIL, milliseconds for IB_DELAY.
 */
void ib_rule(struct ib *b, enum ib_kind kind, uint64_t off, uint64_t len,
	     int count, int arg);
/* Every read asked of the backend so far: count, lowest and highest byte. */
uint64_t ib_reads(struct ib *b, uint64_t *lo, uint64_t *hi);
/* True once the library called release(). */
bool ib_released(struct ib *b);
/* Free after release (or when the backend was never mapped). */
void ib_free(struct ib *b);

extern const struct fc_backend_ops ib_ops;

#endif
