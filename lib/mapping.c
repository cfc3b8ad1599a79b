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
 * it out of the table and unmaps the placeholder in one step under the
 * table lock (fc__maptab_remove_unmap): no address is reused while a
 * handler may still install or a fault look it up, and a fault handled
 * later finds nothing mapped there, and is retried (see view_close when
 * no placeholder can be made).
 *
 * fc_map_fixed replaces mappings in part or whole (map.c): the parts it
 * keeps are adopted by new mappings in place (fc__mapping_adopt: the
 * same view, never unmapped or mapped again, so a thread reading them
 * meanwhile never faults), and the old mapping is retired
 * (fc__mapping_retire): out of use, its range no longer its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "file.h"
#include "mapping.h"
#include "maptab.h"
#include "readahead.h"
#include "uffd.h"
#include "view.h"

/* Drop a reference; the last frees the address range and the file ref. */
void fc__mapping_put(struct fc_mapping *m)
{
	if (atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	fc__maptab_remove_unmap(m);
	/*
	 * no handler can copy into it any more: its copies are gone (or
	 * were moved to the mappings that adopted its range)
	 */
	if (m->copied)
		fc__view_copied_clear(m, 0, m->len);
	fc__mapping_discard(m);
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
	fc__maptab_remove_unmap(m);	/* the range may be reused at once */
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

/* Wait until @m's only reference is the caller's: installs have ended. */
void fc__mapping_quiesce(struct fc_mapping *m)
{
	while (atomic_load(&m->refs) > 1)
		usleep(50);
}

/**
 * fc__mapping_adopt - a new mapping of view bytes [@lo, @hi) (addresses)
 * of @m, in place: the same file, file offsets, userfaultfd and handler,
 * and @m's advice, over the view @m has there, which stays as it is.
 * Not in the table yet; copy mode's copies move over with
 * fc__mapping_take_copies once the caller commits.
 * Return: the mapping (one reference), or NULL (no memory).
 * Context: no lock held; @m claimed by the caller.
 */
struct fc_mapping *fc__mapping_adopt(struct fc_mapping *m, uintptr_t lo,
				     uintptr_t hi)
{
	struct fc_cache *c = m->cache;
	struct fc_mapping *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cache = c;
	r->file = m->file;
	r->h = m->h;
	r->uffd = m->uffd;
	r->base = (char *)lo;
	r->len = hi - lo;
	r->offset = m->offset + (lo - (uintptr_t)m->base);
	atomic_store(&r->refs, 1);
	if (c->copy_mode && fc__view_copies_alloc(r)) {
		free(r);
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	fc__ra_init(&r->ra, (unsigned)(c->cfg.readahead_max /
				       c->cfg.page_size));
	fc__ra_advise(&r->ra, m->ra.advice);
	fc__file_take(c, m->file);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/*
 * Free @r and put its file: a mapping out of every table and view (its
 * last reference gone, or made by fc__mapping_adopt or fc_map and never
 * committed).
 */
void fc__mapping_discard(struct fc_mapping *r)
{
	struct fc_cache *c = r->cache;

	pthread_mutex_lock(&c->lock);
	fc__file_put(c, r->file);
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);
	fc__view_copies_free(r);
	free(r);
}

/*
 * Copy mode: the copies where @r's range overlaps @m's, which @r took in
 * place, were counted in @m's bits; they are @r's now (the count of
 * copies does not change). An install @m still had in flight may set a
 * bit of @m's afterwards, which its last reference clears: that copy
 * stays uncounted until it is zapped.
 */
void fc__mapping_take_copies(struct fc_mapping *r, struct fc_mapping *m)
{
	size_t sp = r->cache->sys_page;
	uintptr_t lo = (uintptr_t)(r->base > m->base ? r->base : m->base);
	uintptr_t rend = (uintptr_t)r->base + r->len;
	uintptr_t mend = (uintptr_t)m->base + m->len;
	uintptr_t hi = rend < mend ? rend : mend;

	if (!r->copied || !m->copied || lo >= hi)
		return;
	fc__view_copies_move(r, (lo - (uintptr_t)r->base) / sp, m,
			     (lo - (uintptr_t)m->base) / sp, (hi - lo) / sp);
}

/**
 * fc__mapping_retire - take @m (claimed, and out of the table by
 * fc__maptab_swap) out of use: fc_map_fixed gave its range to other
 * mappings. It is dead (no install is planned for it any more) and off
 * its file's list; its range is never unmapped for it. View bytes [@lo,
 * @hi) (offsets in @m) that no mapping adopted are replaced at once by an
 * inaccessible placeholder, which unregisters them, for a new view to go
 * over once @m's installs in flight are done (fc__mapping_quiesce).
 * Threads blocked in @m are woken: they fault again and find the
 * mappings now there. The caller still holds the table's reference.
 */
void fc__mapping_retire(struct fc_mapping *m, uint64_t lo, uint64_t hi)
{
	struct fc_cache *c = m->cache;

	pthread_mutex_lock(&c->lock);
	m->dead = true;
	pthread_mutex_unlock(&c->lock);
	fc__views_link(m, false);
	m->keep_range = true;
	if (hi > lo)
		mmap(m->base + lo, hi - lo, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		     -1, 0);
	fc__uffd_wake(m->uffd, m->base, m->len);
	atomic_fetch_sub(&c->nr_mappings, 1);
}

/* The mappings a remap event makes: 4 per one moved, 2 per other. */
struct remap_pieces {
	struct fc_mapping **v;
	struct fc_mapping **src;	/* the mapping each adopts */
	intptr_t *shift;		/* how far it moved */
	size_t n;
};

static int piece(struct remap_pieces *p, struct fc_mapping *m, uintptr_t lo,
		 uintptr_t hi, intptr_t shift)
{
	struct fc_mapping *r;

	if (lo >= hi)
		return 0;
	r = fc__mapping_adopt(m, lo, hi);
	if (!r)
		return -ENOMEM;
	r->base += shift;
	p->v[p->n] = r;
	p->src[p->n] = m;
	p->shift[p->n++] = shift;
	return 0;
}

/*
 * Copy mode: @r's copies, counted in @src's bits where @r's range lay
 * before it moved by @shift (private pages move with mremap); as
 * fc__mapping_take_copies.
 */
static void take_moved_copies(struct fc_mapping *r, struct fc_mapping *src,
			      intptr_t shift)
{
	size_t sp = r->cache->sys_page;
	uintptr_t was = (uintptr_t)r->base - (uintptr_t)shift;

	if (!r->copied || !src->copied)
		return;
	fc__view_copies_move(r, 0, src, (was - (uintptr_t)src->base) / sp,
			     r->len / sp);
}

/*
 * Claim the live mappings overlapping [@lo, @hi) but those in
 * @mine[0..@nmine), claimed already, waiting a little.
 */
static int remap_claim(uintptr_t lo, uintptr_t hi,
		       struct fc_mapping *const *mine, size_t nmine,
		       struct fc_mapping ***v, size_t *n)
{
	int tries = 0, err;

	/* one being unmapped goes soon */
	while ((err = fc__maptab_claim_except(lo, hi, mine, nmine, v, n)) ==
		       -EAGAIN &&
	       ++tries < 100)
		usleep(100);
	return err;
}

/*
 * The pieces claimed mapping @m becomes when view bytes [@from, @from +
 * @len) move to @to: each stretch of it outside both ranges stays, the
 * source's moves (and stays too with MREMAP_DONTUNMAP), the
 * destination's is gone (the moved bytes lie there now). The kernel
 * refuses a move onto its own source, so the two ranges are apart; both
 * may lie in @m. At most six pieces. 0 or -ENOMEM.
 */
static int cut(struct remap_pieces *p, struct fc_mapping *m, uintptr_t from,
	       uintptr_t to, size_t len, bool dontunmap)
{
	uintptr_t lo = (uintptr_t)m->base, hi = lo + m->len, s, e, t;
	uintptr_t pt[6] = { lo, hi, from, from + len, to, to + len };
	intptr_t shift = (intptr_t)(to - from);
	size_t i, j;

	for (i = 1; i < 6; i++)
		for (j = i; j && pt[j - 1] > pt[j]; j--) {
			t = pt[j];
			pt[j] = pt[j - 1];
			pt[j - 1] = t;
		}
	for (i = 0; i + 1 < 6; i++) {
		s = pt[i] > lo ? pt[i] : lo;
		e = pt[i + 1] < hi ? pt[i + 1] : hi;
		if (s >= e)
			continue;
		if (s >= from && e <= from + len) {
			if (piece(p, m, s, e, shift) ||
			    (dontunmap && piece(p, m, s, e, 0)))
				return -ENOMEM;
		} else if (!(s >= to && e <= to + len) &&
			   piece(p, m, s, e, 0)) {
			return -ENOMEM;
		}
	}
	return 0;
}

/**
 * fc__mapping_remap - the kernel moved view bytes [@from, @from+@len) to
 * @to (UFFD_EVENT_REMAP: mremap of a view; the moved range stays
 * registered with its uffd): the table follows. Each mapping the move
 * cut is replaced, as fc_map_fixed does, by mappings adopting its parts:
 * the part moved, at its new address, and the parts left in place
 * (around it; and the moved part too with MREMAP_DONTUNMAP, which leaves
 * the old range mapped and registered: told from a mapping made there
 * since by its registration). Mappings the destination
 * overlapped (MREMAP_FIXED over another view) lose that part. The range
 * given up is the kernel's: never unmapped for the old mappings.
 * Return: 0, or -ENOMEM or -EAGAIN (a mapping there is being unmapped
 * for over 10 ms) with the table as it was (which would answer for a
 * view the move went over: the caller tries again for memory).
 * Context: the thread that read the event; no locks held.
 */
int fc__mapping_remap(uintptr_t from, uintptr_t to, size_t len)
{
	struct fc_mapping **a = NULL, **b = NULL, **old = NULL;
	struct remap_pieces p = { NULL, NULL, NULL, 0 };
	size_t na = 0, nb = 0, i;
	bool dontunmap = fc__addr_registered(from);
	int err;

	err = remap_claim(from, from + len, NULL, 0, &a, &na);
	if (err)
		return err;
	/* the source's mappings may reach the destination: claimed once */
	if (!na || (err = remap_claim(to, to + len, a, na, &b, &nb))) {
		fc__maptab_unclaim(a, na);
		free(a);
		return err;
	}
	err = -ENOMEM;
	old = malloc((na + nb) * sizeof(*old));
	p.v = malloc(6 * (na + nb) * sizeof(*p.v));
	p.src = malloc(6 * (na + nb) * sizeof(*p.src));
	p.shift = malloc(6 * (na + nb) * sizeof(*p.shift));
	if (!old || !p.v || !p.src || !p.shift)
		goto undo;
	for (i = 0; i < na; i++)
		if (cut(&p, a[i], from, to, len, dontunmap))
			goto undo;
	for (i = 0; i < nb; i++)
		if (cut(&p, b[i], from, to, len, dontunmap))
			goto undo;
	memcpy(old, a, na * sizeof(*old));
	memcpy(old + na, b, nb * sizeof(*old));
	err = fc__maptab_swap(old, na + nb, p.v, p.n);
	if (err)
		goto undo;
	/* the moved parts take their copies first: their pages moved */
	for (i = 0; i < p.n; i++)
		if (p.shift[i])
			take_moved_copies(p.v[i], p.src[i], p.shift[i]);
	for (i = 0; i < p.n; i++) {
		if (!p.shift[i])
			fc__mapping_take_copies(p.v[i], p.src[i]);
		fc__views_link(p.v[i], true);
	}
	if (p.n)
		atomic_fetch_add(&p.v[0]->cache->nr_mappings, (long)p.n);
	for (i = 0; i < na + nb; i++) {
		old[i]->keep_range = true;
		fc__mapping_retire(old[i], 0, 0);
	}
	for (i = 0; i < na + nb; i++)
		fc__mapping_put(old[i]);	/* the table's */
	err = 0;
	goto out;

undo:
	for (i = 0; i < p.n; i++)
		fc__mapping_discard(p.v[i]);
	fc__maptab_unclaim(a, na);
	fc__maptab_unclaim(b, nb);
out:
	free(old);
	free(p.v);
	free(p.src);
	free(p.shift);
	free(a);
	free(b);
	return err;
}
