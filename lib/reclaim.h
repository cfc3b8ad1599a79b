/* SPDX-License-Identifier: MIT */
/* reclaim.h - the cache's pages: allocation, LRU, sampling, eviction. */
#ifndef FC_RECLAIM_H
#define FC_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "types.h"
#include "util.h"

int fc__reclaim_init(struct fc_cache *c);
void fc__reclaim_destroy(struct fc_cache *c);
struct fc_page *fc__page_alloc(struct fc_cache *c);
void fc__page_free(struct fc_cache *c, struct fc_page *pg);
void fc__page_drop(struct fc_cache *c, struct fc_page *pg);
bool fc__page_store_held(struct fc_cache *c, struct fc_page *pg);
bool fc__page_refault(struct fc_cache *c, struct fc_page *pg);
uint64_t fc__shadow_key(const struct fc_page *pg);
void fc__cache_age(struct fc_cache *c);
void fc__sample_harvest(struct fc_cache *c, struct fc_file *f, uint64_t first,
			uint64_t n);
bool fc__copy_room(struct fc_cache *c, uint64_t pages);
uint64_t fc__copy_trim(struct fc_cache *c);
/* what fc__reclaim_to() did */
enum fc_reclaim_to {
	FC_RECLAIM_FITS,	/* the cache holds at most the pages asked */
	FC_RECLAIM_MORE,	/* evicted its batches: call again */
	FC_RECLAIM_STUCK,	/* what is left is being read or pinned */
};
/* victims evicted per call of reclaim() */
#define FC_RECLAIM_BATCH 32
/* reclaim calls per hold of cache->lock when evicting many pages */
#define FC_TRIM_BATCHES 64
uint64_t fc__held_pages(struct fc_cache *c);
enum fc_reclaim_to fc__reclaim_to(struct fc_cache *c, uint64_t pages,
				  unsigned batches);
void fc__budget_set(struct fc_cache *c, size_t pages);
bool fc__cache_check(struct fc_cache *c, bool deep);

/*
 * The debug build (FC_DEBUG) checks @c's page accounting where it must
 * hold, and one time in 64 walks the LRU and the indexes too.
 */
#ifdef FC_DEBUG
#define fc__assert_cache(c) fc__assert(fc__cache_check((c), fc__debug_sample()))
#else
#define fc__assert_cache(c) ((void)sizeof(c))
#endif

#endif
