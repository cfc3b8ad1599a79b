/* SPDX-License-Identifier: MIT */
/*
 * stats.c - a cache's statistics: the fault latency histogram and what
 * fc_cache_stats() reports (the versioned entry points are in cache.c).
 */
#include <stdatomic.h>

#include "stats.h"
#include "util.h"

/* Memory the cache holds now: pages in use, and copies (copy mode). */
static uint64_t resident_now(struct fc_cache *c)
{
	return c->nr_used * c->cfg.page_size +
	       atomic_load(&c->nr_copies) * c->sys_page;
}

/**
 * fc__stats_note - look at resident memory for peak_resident_bytes.
 * Called where it may have risen (a fault resolved: its read's and its
 * readahead's pages were taken) and before it falls (pages dropped by a
 * size change or an invalidation, a file freed), and by fc_cache_stats.
 * An eviction since the last look means that the budget ran out,
 * which is the only time the default and inline modes evict
 * (fc__page_alloc) but on request (fc_cache_set_budget, fc_cache_trim,
 * which mark theirs seen): every page of the budget was in use then.
 * Context: cache->lock held.
 */
void fc__stats_note(struct fc_cache *c)
{
	uint64_t r = resident_now(c);

	fc__assert_held(&c->lock);
	if (!c->copy_mode && c->st.evictions != c->peak_evictions) {
		uint64_t full = c->nr_slots * c->cfg.page_size;

		c->peak_evictions = c->st.evictions;
		if (full > r)
			r = full;
	}
	if (r > c->peak_resident)
		c->peak_resident = r;
}

/* Context: cache->lock held. */
void fc__stat_latency(struct fc_cache *c, uint64_t t0)
{
	uint64_t d = fc__now_ns() - t0;
	int b = d ? 63 - __builtin_clzll(d) : 0;

	fc__assert_held(&c->lock);
	if (b >= FC_LAT_BUCKETS)
		b = FC_LAT_BUCKETS - 1;
	c->st.latency_hist[b]++;
	fc__stats_note(c);
}

uint64_t fc_stats_latency_quantile(const struct fc_stats *st, double q)
{
	uint64_t total = 0, acc = 0;
	int i;

	if (!st || !(q >= 0 && q <= 1))	/* NaN too */
		return 0;
	for (i = 0; i < FC_LAT_BUCKETS; i++)
		total += st->latency_hist[i];
	if (!total)
		return 0;
	for (i = 0; i < FC_LAT_BUCKETS; i++) {
		acc += st->latency_hist[i];
		if ((double)acc >= q * (double)total)
			return (uint64_t)1 << (i + 1);	/* bucket upper bound */
	}
	return (uint64_t)1 << FC_LAT_BUCKETS;
}

/* The statistics of @c now, into @out. Context: cache->lock NOT held. */
void fc__stats_read(struct fc_cache *c, struct fc_stats *out)
{
	fc__assert_not_held(&c->lock);
	pthread_mutex_lock(&c->lock);
	fc__stats_note(c);
	*out = c->st;
	out->resident_bytes = resident_now(c);
	out->peak_resident_bytes = c->peak_resident;
	out->page_size = (uint32_t)c->cfg.page_size;
	out->collapses = c->nr_collapsed;
	out->collapse_failures = c->nr_collapse_failed;
	pthread_mutex_unlock(&c->lock);
	out->polled_reads = atomic_load(&c->nr_polled);
	out->polled_slept = atomic_load(&c->nr_poll_slept);
	out->mappings = (uint64_t)atomic_load(&c->nr_mappings);
	out->flags = (c->copy_mode ? 0 : FC_STATS_ZERO_COPY) |
		     (c->user_mode_only || c->inline_mode ?
			      FC_STATS_USER_MODE_ONLY : 0) |
		     (c->inline_mode ? FC_STATS_INLINE : 0) |
		     (c->nr_pollers > atomic_load(&c->nr_poll_retired) ?
			      FC_STATS_POLL : 0);
}
