/* SPDX-License-Identifier: MIT */
/*
 * view.h - a mapping's view (view.c), and where it lies in its file: the
 * small geometry the fault path asks on every fault, inline.
 */
#ifndef FC_VIEW_H
#define FC_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"
#include "util.h"

#define FC_PAGEMAP_BATCH 512	/* pagemap entries read per pread */

static inline uint64_t fc__view_first_page(const struct fc_mapping *m,
					   size_t ps)
{
	return m->offset / ps;
}

/* One past the last cache page the view shows. */
static inline uint64_t fc__view_end_page(const struct fc_mapping *m,
					 size_t ps)
{
	return (m->offset + m->len + ps - 1) / ps;
}

/*
 * Bytes of @m's view that lie inside its file (rounded up to a system page,
 * as the kernel maps the last partial page): installs stop there and
 * faults past it get SIGBUS. Context: cache->lock held.
 */
static inline uint64_t fc__view_eof(const struct fc_mapping *m)
{
	size_t sp = m->cache->sys_page;
	uint64_t end = ((uint64_t)m->file->size + sp - 1) & ~(uint64_t)(sp - 1);

	fc__assert_held(&m->cache->lock);
	if (end <= m->offset)
		return 0;
	return end - m->offset < m->len ? end - m->offset : m->len;
}

int fc__view_copies_alloc(struct fc_mapping *m);
void fc__view_copies_free(struct fc_mapping *m);
void fc__view_copied(struct fc_mapping *m, const char *addr, size_t len);
void fc__view_copied_clear(struct fc_mapping *m, uint64_t lo, uint64_t hi);
void fc__view_copies_move(struct fc_mapping *dst, uint64_t d,
			  struct fc_mapping *src, uint64_t s, uint64_t n);
void fc__view_zap(struct fc_mapping *m, uint64_t lo, uint64_t hi);
void fc__views_zap(struct fc_file *f, uint64_t off, uint64_t len,
		   bool watched);
bool fc__views_watched(const struct fc_file *f);
void fc__views_present(struct fc_file *f, uint64_t index, uint64_t nr,
		       bool *present);
void fc__views_link(struct fc_mapping *m, bool on);

#endif
