/* SPDX-License-Identifier: MIT */
/*
 * readahead.h - the readahead rules of Linux's filemap_fault(), as a pure
 * state machine over page indices (units of the cache page size).
 *
 * One fc_ra per mapping (the kernel keeps one per open file). The fault
 * handler calls:
 *   fc__ra_miss()   on a fault whose page is not cached (sync read-around);
 *   fc__ra_hit()    on a fault whose page is cached or being read;
 *   fc__ra_marker() when that page carries the readahead marker (async);
 * and reads the window each returns. Nothing here touches memory or I/O,
 * so the rules are tested with tables of access patterns (test_readahead).
 *
 * A window covers [start, start + size); its last @async_size pages are the
 * asynchronous tail and the marker goes on the first of them:
 *
 *   start                    marker = start + size - async_size
 *     |------ size ------------|----- async_size -----|
 */
#ifndef FC_READAHEAD_H
#define FC_READAHEAD_H

#include <stdbool.h>
#include <stdint.h>

#define FC_RA_MMAP_LOTSAMISS 100	/* mmap_miss above this: no read-around */
#define FC_RA_MISS_CAP (FC_RA_MMAP_LOTSAMISS * 10)

enum fc_ra_advice {
	FC_RA_NORMAL = 0,
	FC_RA_RANDOM = 1,
	FC_RA_SEQUENTIAL = 2,
};

struct fc_ra {
	uint64_t start;
	uint64_t size;
	uint64_t async_size;
	unsigned mmap_miss;
	unsigned max;		/* ra_pages: the largest window */
	enum fc_ra_advice advice;
};

/* What to read: [start, start + size), marker on @marker if has_marker. */
struct fc_ra_window {
	uint64_t start;
	uint64_t size;
	uint64_t marker;
	bool has_marker;
};

/*
 * Answers "is page @index cached (or being read)?" for context readahead.
 * @arg is the caller's; the callback must not change the cache.
 */
typedef bool (*fc_ra_cached_fn)(void *arg, uint64_t index);

void fc__ra_init(struct fc_ra *ra, unsigned max_pages);
unsigned fc__ra_init_size(unsigned req, unsigned max);
unsigned fc__ra_next_size(unsigned cur, unsigned max);
/*
 * Sync readahead for a miss on @index in a file of @nr_pages pages.
 * Always returns a window that contains @index (size 1 = no read-around).
 */
struct fc_ra_window fc__ra_miss(struct fc_ra *ra, uint64_t index,
				uint64_t nr_pages);
/* A fault found its page in the cache: decay the miss counter. */
void fc__ra_hit(struct fc_ra *ra);
/*
 * Async readahead: the fault on @index found the marker. Returns a window to
 * read (pages already cached in it are skipped by the caller), or size 0.
 */
struct fc_ra_window fc__ra_marker(struct fc_ra *ra, uint64_t index,
				  uint64_t nr_pages, fc_ra_cached_fn cached,
				  void *arg);
/* fc_advise(): RANDOM/SEQUENTIAL/NORMAL. */
void fc__ra_advise(struct fc_ra *ra, enum fc_ra_advice advice);

#endif
