/* SPDX-License-Identifier: MIT */
/*
 * mapping.c - a mapping's lifetime after fc_map(): the references fault
 * handlers hold on it, its teardown by fc_unmap() or fc_cache_destroy(),
 * and, with the last reference, its address range and its file.
 *
 * The table (maptab.c) holds one reference; handlers take more while they
 * work on a fault. fc_unmap() (the table marked it unmapping) marks the
 * mapping dead, puts a PROT_NONE placeholder over the range (which also
 * unregisters it), wakes the threads blocked in it (they retry and get
 * SIGSEGV, as after munmap), and drops the table's reference. The
 * mapping stays listed, unmapping, until its last reference goes: an
 * inline fault taken before the placeholder went in finds it there,
 * however late its handler runs, and is retried (were it passed on, the
 * thread would take SIGBUS for someone else's). The last reference takes
 * it out of the table, then unmaps the placeholder, so no address is
 * reused while a handler may still install or a fault look it up (see
 * view_close when no placeholder can be made).
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "file.h"
#include "mapping.h"
#include "maptab.h"
#include "uffd.h"
#include "view.h"

/* Drop a reference; the last frees the address range and the file ref. */
void fc__mapping_put(struct fc_mapping *m)
{
	struct fc_cache *c = m->cache;

	if (atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	fc__maptab_remove(m);	/* before the range can be reused */
	if (!m->range_gone)
		munmap(m->base, m->len);
	/* no handler can copy into it any more: its copies are gone */
	if (m->copied)
		fc__view_copied_clear(m, 0, m->len);
	pthread_mutex_lock(&c->lock);
	fc__file_put(c, m->file);
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);
	free(m->copied);
	free(m);
}

/*
 * Make @m's range fault with SIGSEGV from now on, as after munmap, while
 * other references may keep it: a PROT_NONE placeholder over the view,
 * which replaces it atomically and unregisters it. That mmap can fail (no
 * memory for the new mapping, or max_map_count): then the view itself is
 * made PROT_NONE (it is one whole mapping: nothing to split), so that a
 * touch neither gets the store's pages nor sends a fault round for ever
 * to a handler that no longer finds the mapping. Failing that too, the
 * range is unmapped now, and the last reference leaves it alone.
 */
static void view_close(struct fc_mapping *m)
{
	if (mmap(m->base, m->len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
		 0) != MAP_FAILED)
		return;
	if (!mprotect(m->base, m->len, PROT_NONE))
		return;
	munmap(m->base, m->len);
	m->range_gone = true;
	fc__maptab_remove(m);	/* the range may be reused at once */
}

/* Tear down @m (marked unmapping by the caller) and drop the table's ref. */
void fc__mapping_unmap(struct fc_mapping *m)
{
	struct fc_cache *c = m->cache;

	pthread_mutex_lock(&c->lock);
	m->dead = true;
	pthread_mutex_unlock(&c->lock);
	fc__views_link(m, false);
	view_close(m);
	/* the copies went with the view (a racing install may set a bit
	 * again: the last put clears them once more) */
	if (m->copied)
		fc__view_copied_clear(m, 0, m->len);
	fc__uffd_wake(m->uffd, m->base, m->len);
	atomic_fetch_sub(&c->nr_mappings, 1);
	fc__mapping_put(m);	/* the table's: it leaves with the last */
}

/* Unmap every mapping of @c (fc_cache_destroy). */
void fc__unmap_all(struct fc_cache *c)
{
	struct fc_mapping *m;

	while ((m = fc__maptab_unmapping_of(c)))
		fc__mapping_unmap(m);
}
