/* SPDX-License-Identifier: MIT */
/* reclaim.h - the cache's pages: allocation, LRU, sampling, eviction. */
#ifndef FC_RECLAIM_H
#define FC_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "types.h"

int fc__reclaim_init(struct fc_cache *c);
void fc__reclaim_destroy(struct fc_cache *c);
struct fc_page *fc__page_alloc(struct fc_cache *c);
void fc__page_free(struct fc_cache *c, struct fc_page *pg);
void fc__page_drop(struct fc_cache *c, struct fc_page *pg);
bool fc__page_store_held(struct fc_cache *c, struct fc_page *pg);
bool fc__page_refault(struct fc_cache *c, struct fc_page *pg);
void fc__cache_age(struct fc_cache *c);
bool fc__copy_room(struct fc_cache *c, uint64_t pages);
uint64_t fc__copy_trim(struct fc_cache *c);

#endif
