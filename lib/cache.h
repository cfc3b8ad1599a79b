/* SPDX-License-Identifier: MIT */
/* cache.h - the cache object and the default cache (cache.c). */
#ifndef FC_CACHE_H
#define FC_CACHE_H

#include <stdbool.h>

#include "types.h"

int fc__cache_usable(const struct fc_cache *c);
struct fc_cache *fc__default_cache(void);
struct fc_cache *fc__default_cache_peek(void);

void fc__remaps_settle(void);

#endif
