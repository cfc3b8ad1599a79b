/* SPDX-License-Identifier: MIT */
/* stats.h - a cache's statistics (stats.c). */
#ifndef FC_STATS_H
#define FC_STATS_H

#include <stdint.h>

#include "types.h"

void fc__stat_latency(struct fc_cache *c, uint64_t t0);
void fc__stats_note(struct fc_cache *c);
void fc__stats_read(struct fc_cache *c, struct fc_stats *out);

#endif
