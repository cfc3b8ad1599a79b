/* SPDX-License-Identifier: MIT */
/*
 * reclaim.c - the cache's pages: the page entries (one per page of the
 * budget, made as the cache first needs them), their allocation and
 * freeing, the LRU, sampling (the accessed bit userspace lacks), eviction,
 * the budget changed at run time and trimming, and copy mode's charge of
 * the copies against the budget. All under cache->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "chunk.h"
#include "io.h"
#include "lru.h"
#include "radix.h"
#include "reclaim.h"
#include "store.h"
#include "util.h"
#include "view.h"

/* reclaim calls fc__page_alloc makes at most for one page */
#define FC_ALLOC_BATCHES 4
/* pages the sampling hand passes at most per call */
#define FC_SAMPLE_MAX (8 * FC_RECLAIM_BATCH)

/*
 * The budget is @pages now, and what the LRU and sampling measure by
 * follows it. Context: cache->lock held, or fc_cache_create.
 */
static void set_budget(struct fc_cache *c, size_t pages)
{
	c->nr_slots = pages;
	c->nr_working = c->copy_mode ? pages / 2 : pages;
	if (!c->nr_working)
		c->nr_working = 1;
	fc__lru_set_capacity(&c->lru, c->nr_working);
	if (c->shadows.slots)	/* after fc__reclaim_init */
		fc__shadows_resize(&c->shadows, c->nr_working);
	c->st.budget_bytes = pages * c->cfg.page_size;
	fc__stage_set_max(c, c->st.budget_bytes / 16);
}

/**
 * fc__reclaim_init - the page entries of @c, the LRU and the shadows.
 * The entries of the whole budget are reserved as address space only: an
 * entry's memory is first touched when the cache first needs that many
 * pages at once (fc__page_alloc), so metadata follows use, not the budget,
 * and no entry is ever allocated on the fault path (which may run in a
 * SIGBUS handler, where malloc may not). Return: 0 or -ENOMEM.
 * Context: fc_cache_create.
 */
int fc__reclaim_init(struct fc_cache *c)
{
	void *p;

	c->max_slots = c->cfg.cache_bytes / c->cfg.page_size;
	c->entries_bytes = (c->max_slots * sizeof(*c->pages) + c->sys_page -
			    1) & ~(c->sys_page - 1);
	p = mmap(NULL, c->entries_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	c->sampled = calloc(FC_SAMPLE_MAX, sizeof(*c->sampled));
	c->pagemap_buf = calloc(FC_PAGEMAP_BATCH, sizeof(*c->pagemap_buf));
	c->split = calloc(FC_MAX_IO_BYTES / 4096, sizeof(*c->split));
	if (p == MAP_FAILED || !c->sampled || !c->pagemap_buf || !c->split) {
		if (p != MAP_FAILED)
			munmap(p, c->entries_bytes);
		return -ENOMEM;
	}
	c->pages = p;
	fc__lru_init(&c->lru, 1);
	set_budget(c, c->max_slots);
	/* refaults are told apart over the largest budget */
	return fc__shadows_init(&c->shadows, c->nr_working);
}

/* Context: fc_cache_destroy, or a failed fc_cache_create. */
void fc__reclaim_destroy(struct fc_cache *c)
{
	if (c->pages)
		munmap(c->pages, c->entries_bytes);
	c->pages = NULL;
	free(c->sampled);
	free(c->pagemap_buf);
	free(c->split);
	fc__shadows_destroy(&c->shadows);
}

static bool page_busy(struct fc_lru_node *n, void *arg)
{
	(void)arg;
	return ((struct fc_page *)n)->pins > 0;
}

/* splitmix64's finaliser: a bijection of 64-bit words that mixes them */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * The key of @pg's shadow: its file and index mixed into 64 bits, so that
 * two pages share one only by chance (a refault taken for a first read or
 * the reverse: a policy slip, never wrong bytes). (id << 44) ^ index
 * shared them for files 2^20 apart, and for indexes past 2^44.
 */
uint64_t fc__shadow_key(const struct fc_page *pg)
{
	return mix64(pg->file->id ^ mix64(pg->index));
}

static bool page_before(const struct fc_page *x, const struct fc_page *y)
{
	if (x->file != y->file)
		return x->file->id < y->file->id;
	return x->index < y->index;
}

/*
 * Sort @v[0..@n) by (file, index) in place. Insertion sort: the pages come
 * in LRU order, nearly sorted already, and n is at most FC_SAMPLE_MAX; and
 * unlike qsort, which may malloc, it is safe in an inline fault's signal
 * handler (sampling runs there when the fault's read completes).
 */
static void sort_pages(struct fc_page **v, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		struct fc_page *x = v[i];

		for (j = i; j > 0 && page_before(x, v[j - 1]); j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/*
 * FC_CONFIG_COPY: cache pages' worth of memory charged to the budget:
 *
 *   store pages + copies in views + copies planned (copy_reserved)
 *                + one copy for each page being read (nr_inflight)
 *
 * A page being read is charged for the copy it is read for in advance,
 * when it is allocated: once it is read, it is pinned for installation and
 * cannot be evicted, so room made only then could not be found when the
 * store is full of such pages, and the copies went well over the budget.
 * On completion the charge moves to copy_reserved for the pages installed.
 */
static uint64_t charged_pages(struct fc_cache *c)
{
	uint64_t copies = atomic_load(&c->nr_copies) * c->sys_page;

	return c->nr_used + c->copy_reserved + c->nr_inflight +
	       (copies + c->cfg.page_size - 1) / c->cfg.page_size;
}

/*
 * FC_CONFIG_COPY: can @pages more copies be made without going over the
 * budget? Always true in the default mode. Context: cache->lock held.
 */
bool fc__copy_room(struct fc_cache *c, uint64_t pages)
{
	fc__assert_held(&c->lock);
	return !c->copy_mode || charged_pages(c) + pages <= c->nr_slots;
}

/* End of the run of adjacent pages of one file in sorted @v from @i. */
static size_t run_end(struct fc_page **v, size_t i, size_t n)
{
	size_t j;

	for (j = i + 1; j < n && v[j]->file == v[i]->file &&
			v[j]->index == v[j - 1]->index + 1; j++)
		;
	return j;
}

/* Zap (or punch) the sorted pages @v[0..@n) in runs, one call per run. */
static void zap_runs(struct fc_cache *c, struct fc_page **v, size_t n,
		     bool punch)
{
	size_t ps = c->cfg.page_size, i, j;

	for (i = 0; i < n; i = j) {
		j = run_end(v, i, n);
		if (punch)
			fc__store_punch(c, v[i]->file, v[i]->index, j - i);
		else
			fc__views_zap(v[i]->file, v[i]->index * ps,
				      (j - i) * ps, !c->copy_mode);
	}
}

struct sampling {
	struct fc_page **v;	/* cache->sampled: FC_SAMPLE_MAX */
	size_t n;
	bool copy;
};

static void sample_one(struct fc_lru_node *node, void *arg)
{
	struct sampling *s = arg;
	struct fc_page *pg = (struct fc_page *)node;

	/*
	 * Copy mode: the copies the library made in views that count. The
	 * default mode: any page the kernel may have mapped, in a view that
	 * counts (it maps the store's pages without telling us).
	 */
	if (s->copy ? pg->sample != FC_SAMPLE_MAPPED || !pg->file->views
		    : pg->held || !fc__views_watched(pg->file))
		return;
	pg->sample = FC_SAMPLE_ZAPPED;
	node->referenced = 1;	/* in use through the view: one reference */
	s->v[s->n++] = pg;
}

/**
 * fc__cache_age - sampling, the accessed bit userspace lacks.
 * A page mapped in a view may be in use there without a fault the
 * library could see. The front hand of a two-handed clock (eviction, at
 * the inactive head, is the back hand) passes each inactive page once
 * half a cache's worth of pages were read after it: a page it passes that
 * may be mapped where accesses count is zapped from those views (the
 * store keeps the data) and counted as referenced once. If it is touched
 * before eviction reaches it, that is its second reference and promotes
 * it, as a young PTE does in the kernel's reclaim: in the default mode the
 * kernel maps it again at the touch, and reclaim finds it mapped
 * (fc__views_present); in copy mode the touch is a fault, and so is being
 * mapped again by fault-around (fc__plan_install). Measured by age in pages
 * read, not by position: the pages a reader had installed ahead are
 * young, and a cache that stops reading stops zapping. Off while the
 * files mapped fit in the cache (nothing will be evicted). At most
 * FC_SAMPLE_MAX pages per call, to bound the time under the lock.
 * Context: cache->lock held.
 */
void fc__cache_age(struct fc_cache *c)
{
	struct sampling s;

	fc__assert_held(&c->lock);
	if (c->file_pages <= c->nr_working)	/* it all fits: no eviction */
		return;
	s.v = c->sampled;
	s.n = 0;
	s.copy = c->copy_mode;
	if (!fc__lru_age(&c->lru, (uint32_t)(c->nr_working / 2), FC_SAMPLE_MAX,
			 sample_one, &s))
		return;
	sort_pages(s.v, s.n);
	zap_runs(c, s.v, s.n, false);
}

/*
 * The default mode's back hand: of the sorted victims @v[0..@n), give the
 * ones sampling zapped and a watched view maps again (they were touched
 * since) another round, on the active list, and keep the rest in @v.
 * Return: how many are left to evict.
 */
static size_t spare_touched(struct fc_cache *c, struct fc_page **v, size_t n)
{
	bool seen[FC_RECLAIM_BATCH];
	size_t i, j, k = 0;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n; i = j) {
		j = run_end(v, i, n);
		if (v[i]->file->views)
			fc__views_present(v[i]->file, v[i]->index, j - i,
					  &seen[i]);
	}
	for (i = 0; i < n; i++) {
		if (seen[i] && v[i]->sample == FC_SAMPLE_ZAPPED) {
			v[i]->sample = FC_SAMPLE_NONE;
			fc__lru_activate(&c->lru, &v[i]->lru);
		} else {
			v[k++] = v[i];
		}
	}
	return k;
}

/**
 * fc__sample_harvest - pages [@first, @first + @n) of @f are about to be
 * unmapped from every view by something other than sampling (a collapse
 * replaces their store pages): the ones sampling zapped and a watched
 * view maps again were touched since, and that is their second reference
 * now, as spare_touched() would find at eviction, before the unmapping
 * erases the evidence. At most one 2 MiB chunk of pages.
 * Context: cache->lock held.
 */
void fc__sample_harvest(struct fc_cache *c, struct fc_file *f, uint64_t first,
			uint64_t n)
{
	bool seen[(2u << 20) / 4096];
	struct fc_radix_cursor cur = { 0 };
	uint64_t i;

	fc__assert_held(&c->lock);
	if (c->copy_mode || !f->views || n > sizeof(seen))
		return;
	memset(seen, 0, sizeof(seen));
	fc__views_present(f, first, n, seen);
	for (i = 0; i < n; i++) {
		struct fc_page *pg = fc__radix_lookup_near(&f->tree, &cur,
							   first + i);

		if (pg && seen[i] && pg->sample == FC_SAMPLE_ZAPPED) {
			pg->sample = FC_SAMPLE_NONE;
			fc__lru_access(&c->lru, &pg->lru);
		}
	}
}

/*
 * Evict @pg, whose store page is punched and which the caller took out of
 * the index: off the LRU (a victim is off it already), a shadow left for
 * its refault, freed.
 */
static void evict_page(struct fc_cache *c, struct fc_page *pg)
{
	fc__lru_remove(&c->lru, &pg->lru);
	fc__shadow_evicted(&c->shadows, fc__shadow_key(pg));
	fc__page_free(c, pg);
	c->st.evictions++;
}

/*
 * Chunked caches: of the sorted victims @v[0..@n), those in a chunk all
 * in the store (which may be a huge folio) take the rest of the chunk with
 * them, as the kernel's reclaim takes a whole large folio: one punch of
 * the whole chunk, where evicting them alone would have the chunk copied
 * back into small pages first (the store's chunk_punch). Not when a page
 * of the chunk is pinned (or, with counts lost, being read or held):
 * those victims go alone. Return: the victims left, in @v, to evict as usual.
 */
static size_t evict_huge(struct fc_cache *c, struct fc_page **v, size_t n)
{
	uint64_t per = 1ull << c->chunk_shift, first, x;
	size_t i, j, k = 0;

	for (i = 0; i < n; i = j) {
		struct fc_file *f = v[i]->file;
		struct fc_radix_cursor cur = { 0 };
		struct fc_page *pg;
		bool whole;

		first = v[i]->index & ~(per - 1);
		for (j = i + 1; j < n && v[j]->file == f &&
				v[j]->index < first + per; j++)
			;
		/* all of it idle in the store (no read, no pin, none held) */
		whole = fc__chunk_whole(c, f, first);
		for (x = first; x < first + per && whole; x++) {
			pg = fc__radix_lookup_near(&f->tree, &cur, x);
			whole = !pg || (pg->state == FC_PG_UPTODATE &&
					!pg->pins && !pg->held);
		}
		if (!whole) {
			while (i < j)
				v[k++] = v[i++];
			continue;
		}
		fc__store_punch(c, f, first, per);
		for (x = first; x < first + per; x++) {
			pg = fc__radix_delete(&f->tree, x);
			if (pg)
				evict_page(c, pg);
		}
	}
	return k;
}

/*
 * Evict up to FC_RECLAIM_BATCH pages. The hole punch runs under the lock on
 * purpose: a page's store location is fixed by (file, index), so a new read
 * of the same index must not start before the old data is gone, and it
 * cannot while the page is still in the index and we hold the lock.
 * Neighbouring victims are punched with one call (a scan evicts in runs).
 * In the default mode victims sampling finds touched are spared, and the
 * next ones looked at, once round the LRU at most.
 * Context: cache->lock held.
 */
static size_t reclaim(struct fc_cache *c)
{
	struct fc_lru_node *nodes[FC_RECLAIM_BATCH];
	struct fc_page *v[FC_RECLAIM_BATCH];
	size_t n, i, looked = 0, lru = fc__lru_size(&c->lru);
	uint64_t evicted = c->st.evictions;

	fc__assert_held(&c->lock);
	fc__cache_age(c);
	do {
		n = fc__lru_victims(&c->lru, page_busy, NULL, nodes,
				    FC_RECLAIM_BATCH);
		for (i = 0; i < n; i++)
			v[i] = (struct fc_page *)nodes[i];
		looked += n;
		sort_pages(v, n);
		if (!c->copy_mode)
			n = spare_touched(c, v, n);
		/* all of them touched: look further, once round the LRU */
	} while (!n && looked && looked < lru);
	if (c->chunked)
		n = evict_huge(c, v, n);
	zap_runs(c, v, n, true);
	for (i = 0; i < n; i++) {
		fc__radix_delete(&v[i]->file->tree, v[i]->index);
		evict_page(c, v[i]);
	}
	fc__assert_cache(c);
	return (size_t)(c->st.evictions - evicted);
}

/**
 * fc__copy_trim - FC_CONFIG_COPY: evict until everything charged (see
 * charged_pages) fits the budget. Pinned and in-flight pages stay.
 * Return: the cache pages still charged over the budget (0 when it fits,
 * always 0 in the default mode); the caller gives up planned copies for it.
 * Context: cache->lock held.
 */
uint64_t fc__copy_trim(struct fc_cache *c)
{
	uint64_t charged;

	fc__assert_held(&c->lock);
	if (!c->copy_mode)
		return 0;
	/* bounded: after a lowered budget the rest goes at later calls */
	fc__reclaim_to(c, c->nr_slots, FC_TRIM_BATCHES);
	charged = charged_pages(c);
	return charged > c->nr_slots ? charged - c->nr_slots : 0;
}

/**
 * fc__page_alloc - a free page entry, evicting if the budget is used up.
 * Return: the page (state FREE, not in any index) or NULL when every
 * cached page is busy or being read. Context: cache->lock held.
 */
struct fc_page *fc__page_alloc(struct fc_cache *c)
{
	struct fc_page *pg;
	unsigned i;

	fc__assert_held(&c->lock);
	/*
	 * More than one batch only when the budget was lowered while pages
	 * were being read or pinned: fc_cache_set_budget evicted the rest,
	 * and a few batches here bound the time under the lock (a fault
	 * that finds none waits and tries again, as for a full store).
	 */
	for (i = 0; c->nr_used >= c->nr_slots; i++)
		if (i == FC_ALLOC_BATCHES || !reclaim(c))
			return NULL;
	/*
	 * In copy mode the copies take their share of the budget too, and
	 * the new page is charged twice (itself and its copy to come): when
	 * nothing more can be evicted (pages being read or installed), the
	 * caller waits as it does for a full store (its fault is deferred).
	 */
	for (; c->copy_mode && charged_pages(c) + 2 > c->nr_slots; i++)
		if (i == FC_ALLOC_BATCHES || !reclaim(c))
			return NULL;
	pg = c->free_list;
	if (pg) {
		c->free_list = pg->free_next;
		pg->free_next = NULL;
	} else {
		/* never used before: all zero, as fc__page_free leaves one */
		fc__assert(c->nr_fresh < c->max_slots);
		pg = &c->pages[c->nr_fresh++];
	}
	c->nr_used++;
	return pg;
}

/*
 * Return @pg (already out of index and LRU) to the free list.
 * Context: cache->lock held.
 */
void fc__page_free(struct fc_cache *c, struct fc_page *pg)
{
	fc__assert_held(&c->lock);
	fc__assert(!pg->pins && !pg->lru.linked);
	fc__chunk_page_gone(c, pg);
	fc__held_free(pg->held, pg->held_len);
	memset(pg, 0, sizeof(*pg));
	pg->free_next = c->free_list;
	c->free_list = pg;
	c->nr_used--;
}

/*
 * Forget one page now: out of the index and the LRU, its store memory
 * punched (which also unmaps it from every view). The page must be neither
 * pinned nor being read. Context: cache->lock held.
 */
void fc__page_drop(struct fc_cache *c, struct fc_page *pg)
{
	struct fc_file *f = pg->file;

	fc__assert_held(&c->lock);
	fc__assert(!pg->pins);
	fc__radix_delete(&f->tree, pg->index);
	if (pg->state == FC_PG_UPTODATE)
		fc__lru_remove(&c->lru, &pg->lru);
	fc__store_punch(c, f, pg->index, 1);
	fc__page_free(c, pg);
}

/**
 * fc__page_store_held - put held page @pg (its bytes kept out of the store,
 * see struct fc_page) in the store now: a fault reached it, and the views
 * may map it from here on. On failure (the store cannot take it) the page
 * is dropped: the next touch reads it again.
 * Return: false when it was dropped. Context: cache->lock held (a page's
 * store location is fixed: nothing else may write it meanwhile).
 */
bool fc__page_store_held(struct fc_cache *c, struct fc_page *pg)
{
	fc__assert_held(&c->lock);
	if (fc__store_write(pg->file, pg->index * c->cfg.page_size, pg->held,
			    pg->held_len)) {
		fc__page_drop(c, pg);
		return false;
	}
	fc__held_free(pg->held, pg->held_len);
	pg->held = NULL;
	fc__collapse_queue(c, pg);
	return true;
}

/*
 * True when a shadow says @pg's index was evicted recently.
 * Context: cache->lock held.
 */
bool fc__page_refault(struct fc_cache *c, struct fc_page *pg)
{
	fc__assert_held(&c->lock);
	return fc__shadow_refault(&c->shadows, fc__shadow_key(pg),
				  c->nr_working);
}

/* What @c holds in cache pages: charged_pages in copy mode. Context:
 * cache->lock held. */
uint64_t fc__held_pages(struct fc_cache *c)
{
	return c->copy_mode ? charged_pages(c) : c->nr_used;
}

/**
 * fc__reclaim_to - evict the coldest pages until @c holds at most @pages
 * (copies counted in copy mode), hot ones too if it takes that, in at most
 * @batches calls of reclaim (FC_RECLAIM_BATCH pages each): the caller
 * bounds the time it holds the lock. Pages being read or pinned stay.
 * Context: cache->lock held.
 */
enum fc_reclaim_to fc__reclaim_to(struct fc_cache *c, uint64_t pages,
				  unsigned batches)
{
	fc__assert_held(&c->lock);
	while (fc__held_pages(c) > pages) {
		if (!batches--)
			return FC_RECLAIM_MORE;
		/*
		 * A batch can come back empty when every victim looked at
		 * was spared as touched: those are active now, no longer
		 * spared, and the next call takes them.
		 */
		if (!reclaim(c) && !reclaim(c))
			return FC_RECLAIM_STUCK;
	}
	return FC_RECLAIM_FITS;
}

/**
 * fc__budget_set - make the budget @pages (at most max_slots). The caller
 * evicts down to it (fc__reclaim_to); what it cannot yet evict goes
 * before the cache next takes a page (fc__page_alloc).
 * Context: cache->lock held.
 */
void fc__budget_set(struct fc_cache *c, size_t pages)
{
	fc__assert_held(&c->lock);
	fc__assert(pages <= c->max_slots);
	set_budget(c, pages);
}

/**
 * fc__cache_check - are @c's pages accounted for? nr_used page entries
 * are each in exactly one index of a file on cache->files; the LRU holds
 * the UPTODATE ones, nr_inflight counts the INFLIGHT ones. With @deep,
 * the LRU and every index are walked as well (fc__lru_check,
 * fc__radix_check): a pass over every page. The debug build asserts it
 * where it must hold (fc__assert_cache).
 * Return: true when sound. Context: cache->lock held, not in the middle
 * of an eviction or of a page's allocation.
 */
bool fc__cache_check(struct fc_cache *c, bool deep)
{
	const struct fc_file *f;
	uint64_t indexed = 0;

	fc__assert_held(&c->lock);
	for (f = c->files; f; f = f->next) {
		indexed += f->tree.nr_entries;
		if (deep && (!fc__radix_check(&f->tree) ||
			     !fc__radix_check(&f->chunks)))
			return false;
	}
	if (c->nr_used != indexed ||
	    fc__lru_size(&c->lru) + c->nr_inflight != c->nr_used ||
	    c->nr_fresh > c->max_slots)
		return false;
	return !deep || fc__lru_check(&c->lru);
}
