/* SPDX-License-Identifier: MIT */
/*
 * view.c - operations on a mapping's view that the cache below the API
 * needs: its copies (FC_CONFIG_COPY), zapping what it maps, asking which
 * pages it maps (sampling), and the file's list of its views.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "view.h"

#define WORD_BITS (8 * sizeof(unsigned long))

/* ---- copies (FC_CONFIG_COPY) ---- */

/*
 * The copy bits are a two-level map: a leaf of LEAF_WORDS words for each
 * 128 MiB of view (4 KiB pages), made at the first copy in its range. A
 * flat bitmap cost one bit per page of the whole view however little was
 * read (up to 4 GiB of address space for a view of 128 TiB), and every
 * unmap cleared all of it, touching each of its pages.
 */
#define LEAF_WORDS 512
#define LEAF_BITS (LEAF_WORDS * WORD_BITS)

/* Bits from @b to the end of its leaf, at most @n. */
static uint64_t leaf_run(uint64_t b, uint64_t n)
{
	uint64_t run = LEAF_BITS - b % LEAF_BITS;

	return run < n ? run : n;
}

static size_t nr_leaves(const struct fc_mapping *m)
{
	return (m->len / m->cache->sys_page + LEAF_BITS - 1) / LEAF_BITS;
}

/* Give copy-mode view @m its (empty) map of copies. 0 or -ENOMEM. */
int fc__view_copies_alloc(struct fc_mapping *m)
{
	size_t n = nr_leaves(m);

	m->copied = calloc(n ? n : 1, sizeof(*m->copied));
	return m->copied ? 0 : -ENOMEM;
}

void fc__view_copies_free(struct fc_mapping *m)
{
	size_t i;

	if (!m->copied)
		return;
	for (i = 0; i < nr_leaves(m); i++)
		free(atomic_load(&m->copied[i]));
	free(m->copied);
	m->copied = NULL;
}

/*
 * The word holding bit @b of @m's map; its leaf made if absent and @make.
 * NULL: absent (or no memory to make it).
 */
static _Atomic unsigned long *copy_word(struct fc_mapping *m, uint64_t b,
					bool make)
{
	_Atomic(_Atomic unsigned long *) *slot = &m->copied[b / LEAF_BITS];
	_Atomic unsigned long *leaf = atomic_load(slot), *none = NULL;

	if (!leaf && make) {
		leaf = calloc(LEAF_WORDS, sizeof(*leaf));
		if (leaf && !atomic_compare_exchange_strong(slot, &none, leaf)) {
			free(leaf);	/* another thread made it first */
			leaf = none;
		}
	}
	return leaf ? &leaf[(b % LEAF_BITS) / WORD_BITS] : NULL;
}

/*
 * Drop the copies of @m's system pages [@b, @b + @n), which no bit can
 * count (no memory for a leaf): a copy the budget does not see must not
 * stay. They fault again.
 */
static void copies_drop(struct fc_mapping *m, uint64_t b, uint64_t n)
{
	size_t sp = m->cache->sys_page;

	madvise(m->base + b * sp, n * sp, MADV_DONTNEED);
}

/*
 * Set (@set) or clear the copy bits of view bytes [lo, hi) (system-page
 * aligned) and move cache->nr_copies by the bits that changed.
 */
static void copied_update(struct fc_mapping *m, uint64_t lo, uint64_t hi,
			  bool set)
{
	size_t sp = m->cache->sys_page;
	uint64_t b = lo / sp, e = hi / sp;
	unsigned long n = 0;

	while (b < e) {
		uint64_t s = b % WORD_BITS;
		uint64_t cnt = e - b < WORD_BITS - s ? e - b : WORD_BITS - s;
		unsigned long mask = (cnt == WORD_BITS ? ~0ul
				      : ((1ul << cnt) - 1)) << s;
		_Atomic unsigned long *w = copy_word(m, b, set);
		unsigned long old;

		if (!w) {	/* nothing to clear: on to the next leaf */
			cnt = leaf_run(b, e - b);
			if (set)
				copies_drop(m, b, cnt);
		} else if (set) {
			old = atomic_fetch_or(w, mask);
			n += (unsigned long)__builtin_popcountl(~old & mask);
		} else {
			old = atomic_fetch_and(w, ~mask);
			n += (unsigned long)__builtin_popcountl(old & mask);
		}
		b += cnt;
	}
	if (set)
		atomic_fetch_add(&m->cache->nr_copies, n);
	else
		atomic_fetch_sub(&m->cache->nr_copies, n);
}

void fc__view_copied_clear(struct fc_mapping *m, uint64_t lo, uint64_t hi)
{
	copied_update(m, lo, hi, false);
}

/**
 * fc__view_copied - @len bytes at @addr of @m were just filled by
 * UFFDIO_COPY. Context: any, no lock needed.
 */
void fc__view_copied(struct fc_mapping *m, const char *addr, size_t len)
{
	uint64_t lo = (uint64_t)(addr - m->base);

	copied_update(m, lo, lo + len, true);
}

/**
 * fc__view_copies_move - the copies counted for @src's system pages
 * [@s, @s + @n) are @dst's pages [@d, @d + @n) now (the view's pages
 * stayed, or moved with mremap, and @dst adopted them): their bits move,
 * and the count of copies does not change. Absent leaves of @src are
 * passed over whole. Context: any, no lock needed.
 */
void fc__view_copies_move(struct fc_mapping *dst, uint64_t d,
			  struct fc_mapping *src, uint64_t s, uint64_t n)
{
	while (n) {
		uint64_t run = leaf_run(s, n);

		if (!atomic_load(&src->copied[s / LEAF_BITS])) {
			s += run;
			d += run;
			n -= run;
			continue;
		}
		for (; run; run--, s++, d++, n--) {
			unsigned long bit = 1ul << (s % WORD_BITS);
			_Atomic unsigned long *w = copy_word(src, s, false);

			if (!(atomic_fetch_and(w, ~bit) & bit))
				continue;
			w = copy_word(dst, d, true);
			if (w) {
				atomic_fetch_or(w, 1ul << (d % WORD_BITS));
			} else {
				copies_drop(dst, d, 1);
				atomic_fetch_sub(&dst->cache->nr_copies, 1);
			}
		}
	}
}

/* Drop view bytes [lo, hi) of @m (PTEs, copies and SIGBUS markers). */
void fc__view_zap(struct fc_mapping *m, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return;
	madvise(m->base + lo, hi - lo, MADV_DONTNEED);
	if (m->copied)
		fc__view_copied_clear(m, lo, hi);
}

/* A view whose accesses count as references (sampling watches it). */
static bool view_watched(const struct fc_mapping *m)
{
	return m->ra.advice == FC_RA_NORMAL && !atomic_load(&m->dead);
}

/*
 * View bytes of @m showing file bytes [@off, @off + @len), system-page
 * rounded, in [*lo, *hi). Return: false when they do not meet.
 */
static bool view_span(const struct fc_mapping *m, uint64_t off, uint64_t len,
		      uint64_t *lo, uint64_t *hi)
{
	size_t sp = m->cache->sys_page;

	if (off + len <= m->offset || off >= m->offset + m->len)
		return false;
	*lo = (off > m->offset ? off - m->offset : 0) & ~(uint64_t)(sp - 1);
	*hi = off + len - m->offset;
	if (*hi > m->len)
		*hi = m->len;
	*hi = (*hi + sp - 1) & ~(uint64_t)(sp - 1);
	return true;
}

/**
 * fc__views_zap - drop what the views of @f map of file bytes [@off,
 * @off + @len): the copies of pages that left the store (FC_CONFIG_COPY;
 * shared views lose them with the hole punch), or, with @watched, the
 * PTEs of the views sampling watches (the store keeps the data: the next
 * touch is a fault, for the kernel to map again). Context: cache->lock held.
 */
void fc__views_zap(struct fc_file *f, uint64_t off, uint64_t len,
		   bool watched)
{
	struct fc_mapping *m;
	uint64_t lo, hi;

	fc__assert_held(&f->cache->lock);
	for (m = f->views; m; m = m->fnext)
		if ((!watched || view_watched(m)) &&
		    view_span(m, off, len, &lo, &hi))
			fc__view_zap(m, lo, hi);
}

/*
 * Does any view of @f count its accesses as references?
 * Context: cache->lock held.
 */
bool fc__views_watched(const struct fc_file *f)
{
	const struct fc_mapping *m;

	fc__assert_held(&f->cache->lock);
	for (m = f->views; m; m = m->fnext)
		if (view_watched(m))
			return true;
	return false;
}

#define PM_PRESENT (1ull << 63)	/* /proc/PID/pagemap: a page is mapped */

/*
 * Mark in @present[i] each cache page @index + i of [0, @nr) that @m maps
 * now (any of its system pages), read from /proc/self/pagemap.
 */
static void view_present(struct fc_mapping *m, int pmfd, uint64_t index,
			 uint64_t nr, bool *present)
{
	size_t ps = m->cache->cfg.page_size, sp = m->cache->sys_page;
	uint64_t *ent = m->cache->pagemap_buf, lo, hi, pos;

	if (!view_span(m, index * ps, nr * ps, &lo, &hi))
		return;
	for (pos = lo; pos < hi;) {
		uint64_t n = (hi - pos) / sp, i;
		uint64_t va = (uintptr_t)m->base + pos;
		ssize_t got;

		if (n > FC_PAGEMAP_BATCH)
			n = FC_PAGEMAP_BATCH;
		got = pread(pmfd, ent, n * sizeof(ent[0]),
			    (off_t)(va / sp * sizeof(ent[0])));
		if (got <= 0)
			return;
		n = (uint64_t)got / sizeof(ent[0]);
		for (i = 0; i < n; i++)
			if (ent[i] & PM_PRESENT)
				present[(m->offset + pos + i * sp) / ps - index] =
					true;
		pos += n * sp;
	}
}

/**
 * fc__views_present - which of cache pages [@index, @index + @nr) of @f a
 * watched view maps now: the kernel maps a page the store holds at the
 * touch without telling us, so a page zapped by sampling and mapped again
 * since was touched (the accessed bit userspace does not have). Sets
 * @present[i] (the caller clears the array). Context: cache->lock held.
 */
void fc__views_present(struct fc_file *f, uint64_t index, uint64_t nr,
		       bool *present)
{
	int pmfd = f->cache->pagemap_fd;
	struct fc_mapping *m;

	fc__assert_held(&f->cache->lock);
	if (pmfd < 0)
		return;
	for (m = f->views; m; m = m->fnext)
		if (view_watched(m))
			view_present(m, pmfd, index, nr, present);
}

/*
 * Link @m on (@on) or off its file's list of views.
 * Context: cache->lock NOT held (it takes it).
 */
void fc__views_link(struct fc_mapping *m, bool on)
{
	struct fc_cache *c = m->cache;
	struct fc_mapping **pp;

	fc__assert_not_held(&c->lock);
	pthread_mutex_lock(&c->lock);
	if (on && !m->listed) {
		m->fnext = m->file->views;
		m->file->views = m;
		m->listed = true;
	} else if (!on && m->listed) {
		for (pp = &m->file->views; *pp != m; pp = &(*pp)->fnext)
			;
		*pp = m->fnext;
		m->listed = false;
	}
	pthread_mutex_unlock(&c->lock);
}
