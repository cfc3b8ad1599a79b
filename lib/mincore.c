/* SPDX-License-Identifier: MIT */
/*
 * mincore.c - fc_mincore(): which pages of a mapping's file the cache
 * holds, from the file's index.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "faultcache.h"
#include "mapping.h"
#include "maptab.h"
#include "radix.h"
#include "view.h"

/* System pages fc_mincore looks up per hold of cache->lock. */
#define FC_MINCORE_BATCH 4096

/*
 * vec[i] = 1 for each system page i of view bytes [lo, hi) of @m whose
 * cache page the cache holds (UPTODATE: in the store or held), else 0.
 * Context: no lock held; the caller holds a reference on @m.
 */
static void mapping_cached(struct fc_mapping *m, uint64_t lo, uint64_t hi,
			   unsigned char *vec)
{
	struct fc_cache *c = m->cache;
	size_t sp = c->sys_page, ps = c->cfg.page_size;
	uint64_t x = lo, stop, eof;

	while (x < hi) {
		struct fc_radix_cursor cur = { 0 };

		stop = hi - x > FC_MINCORE_BATCH * sp ? x + FC_MINCORE_BATCH * sp
						      : hi;
		pthread_mutex_lock(&c->lock);
		eof = fc__view_eof(m);
		for (; x < stop; x += sp, vec++) {
			struct fc_page *pg = NULL;

			if (x < eof)
				pg = fc__radix_lookup_near(&m->file->tree, &cur,
							   (m->offset + x) / ps);
			*vec = pg && pg->state == FC_PG_UPTODATE;
		}
		pthread_mutex_unlock(&c->lock);
	}
}

int fc_mincore(void *addr, size_t length, unsigned char *vec)
{
	size_t sp = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr, end;

	if (a % sp)
		return -EINVAL;
	if (!length)
		return 0;
	if (length > UINTPTR_MAX - a - sp)
		return -ENOMEM;
	if (!vec)
		return -EFAULT;
	end = a + ((length + sp - 1) & ~(uintptr_t)(sp - 1));
	while (a < end) {
		struct fc_mapping *m = fc__mapping_lookup(a);
		uintptr_t base, stop;

		if (!m)
			return -ENOMEM;
		base = (uintptr_t)m->base;
		stop = end < base + m->len ? end : base + m->len;
		mapping_cached(m, a - base, stop - base, vec);
		vec += (stop - a) / sp;
		a = stop;
		fc__mapping_put(m);
	}
	return 0;
}
