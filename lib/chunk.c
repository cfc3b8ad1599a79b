/* SPDX-License-Identifier: MIT */
/*
 * chunk.c - what of the store is whole and may be a huge folio: the count
 * of each 2 MiB chunk's pages in the store (chunked caches), and the queue
 * of pages (chunks) whole in it that fc-collapse makes huge folios
 * (collapse.c). The store's punch asks it which chunks it must not cut
 * into (fc__chunk_whole).
 */
#include <pthread.h>

#include "chunk.h"
#include "radix.h"
#include "util.h"

/*
 * A chunk's entry in f->chunks: its pages in the store, times CHUNK_ONE
 * (radix values are non-NULL with the low bit clear).
 */
#define CHUNK_ONE ((uintptr_t)2)

/*
 * Pages of chunk @k of @f in the store, as counted.
 * Context: cache->lock held.
 */
uint64_t fc__chunk_count(const struct fc_file *f, uint64_t k)
{
	fc__assert_held(&f->cache->lock);
	return (uintptr_t)fc__radix_lookup(&f->chunks, k) / CHUNK_ONE;
}

/*
 * Count @n pages for chunk @k. A new entry that finds no memory marks the
 * file's counts as short (chunks_lost): every chunk of it is then taken
 * for a whole one. Context: cache->lock held.
 */
static void chunk_set(struct fc_file *f, uint64_t k, uint64_t n)
{
	void *v = (void *)(uintptr_t)(n * CHUNK_ONE);

	fc__assert_held(&f->cache->lock);
	if (!n)
		fc__radix_delete(&f->chunks, k);
	else if (!fc__radix_replace(&f->chunks, k, v) &&
		 fc__radix_insert(&f->chunks, k, v))
		f->chunks_lost = true;
}

/**
 * fc__collapse_queue - @pg is now whole in the store: have it (its chunk,
 * once all of that is in the store) made a huge folio. Does nothing in
 * caches of neither kind, or when the queue is full.
 * Context: cache->lock held.
 */
void fc__collapse_queue(struct fc_cache *c, struct fc_page *pg)
{
	struct fc_collapse *q = c->collapse;
	struct fc_file *f = pg->file;
	uint64_t index = pg->index;

	fc__assert_held(&c->lock);
	if (!q || pg->held)
		return;
	if (c->chunked) {
		uint64_t k = index >> c->chunk_shift, per = 1ull << c->chunk_shift;
		uint64_t n = fc__chunk_count(f, k) + 1;

		chunk_set(f, k, n);
		if (n != per || (k + 1) * per > f->nr_pages)
			return;
		index = k * per;
	}
	if (q->tail - q->head >= FC_COLLAPSE_RING)
		return;
	q->ring[q->tail % FC_COLLAPSE_RING].file_id = f->id;
	q->ring[q->tail % FC_COLLAPSE_RING].index = index;
	q->tail++;
	pthread_cond_signal(&q->cond);
}

/**
 * fc__chunk_page_gone - @pg (in the store when it was counted: up to date,
 * not held) leaves the cache: one page fewer in its chunk. Called after
 * its store page is punched (or before the whole region is).
 * Context: cache->lock held.
 */
void fc__chunk_page_gone(struct fc_cache *c, const struct fc_page *pg)
{
	uint64_t k, n;

	fc__assert_held(&c->lock);
	if (!c->chunked || !pg->file || pg->state != FC_PG_UPTODATE ||
	    pg->held)
		return;
	k = pg->index >> c->chunk_shift;
	n = fc__chunk_count(pg->file, k);
	if (n)
		chunk_set(pg->file, k, n - 1);
}

/**
 * fc__chunk_whole - may the chunk of page @index of @f be one huge folio?
 * It may once all its pages are in the store, whoever collapsed it (we,
 * or khugepaged where shmem_enabled lets it). Context: cache->lock held.
 */
bool fc__chunk_whole(const struct fc_cache *c, const struct fc_file *f,
		     uint64_t index)
{
	fc__assert_held(&c->lock);
	return c->chunked && (f->chunks_lost ||
			      fc__chunk_count(f, index >> c->chunk_shift) ==
				      1ull << c->chunk_shift);
}
