/* SPDX-License-Identifier: MIT */
/*
 * collapse.c - huge store pages.
 *
 * Pages enter the store 4 KiB at a time (UFFDIO_COPY: fc__store_write),
 * which maps them with 4 KiB PTEs, one fault per 16 of them: a warm scan
 * takes many times the faults of the kernel's mmap, whose page cache
 * folios are large.
 * So 2 MiB of the store whole in it is collapsed into one huge folio by
 * MADV_COLLAPSE on its file's alias, in this background thread
 * (fc-collapse), and the views are placed so that address and store offset
 * agree modulo 2 MiB (fc__store_reserve):
 * - in a cache whose page is the PMD size (huge_store), each page once
 *   whole; the kernel maps it with one PMD;
 * - in a cache of smaller pages (chunked), each 2 MiB chunk once all its
 *   pages are in the store (counted per chunk, f->chunks), and the kernel
 *   maps it with one PMD too. A punch inside a huge folio has the kernel
 *   split it or, when it cannot, zero the bytes in place while they stay
 *   mapped, so the library never punches part of a chunk that may be one:
 *   a chunk all in the store, whoever collapsed it (khugepaged may too,
 *   where shmem_enabled lets it). Eviction takes such a chunk whole
 *   (reclaim, as the kernel evicts a large folio), and anything else that
 *   drops part of one has the rest copied back as small pages first
 *   (the store's chunk_punch).
 *
 * Why this is safe where writing huge folios was not (docs/design.md,
 * "Huge store pages by collapse"): the collapse copies the small pages into a new
 * folio that enters the store only whole and up to date, while the old
 * ones stay locked; and on a range with a hole (a page not all in the
 * store) of a MISSING-registered mapping, as all of ours are, the kernel
 * refuses to collapse (EBUSY) rather than fill the hole with zeros
 * (measured on 6.18; khugepaged behaves the same). MADV_COLLAPSE works
 * whatever shmem_enabled says except "deny", so Debian's "never" too.
 *
 * The pages are pinned (not evicted) and their file referenced while the
 * collapse runs without the lock. A collapse holds one more 2 MiB of
 * memory (the new folio) until it ends; one runs at a time. A collapse
 * that finds a small page busy (EAGAIN) is tried again, up to 7 times
 * over a quarter of a second; pages whose collapse fails otherwise (a
 * hole: EBUSY; no huge page to be had: ENOMEM) stay small. EINVAL (no
 * MADV_COLLAPSE in the kernel, or shmem THP "deny") stops the thread's
 * work for good.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chunk.h"
#include "collapse.h"
#include "file.h"
#include "radix.h"
#include "reclaim.h"
#include "store.h"
#include "util.h"

/*
 * The file of id @id, or NULL. Retained files count: their pages are
 * there for the next fc_map of the file. Context: cache->lock held.
 */
static struct fc_file *find_file(struct fc_cache *c, uint64_t id)
{
	struct fc_file *f;

	fc__assert_held(&c->lock);
	for (f = c->files; f; f = f->next)
		if (f->id == id)
			return f->defunct ? NULL : f;
	return NULL;
}

/*
 * Pin the @n pages of @f from @first for a collapse: all must be up to
 * date and whole in the store. false (nothing pinned) if one is not.
 * Context: cache->lock held.
 */
static bool pin_range(struct fc_file *f, uint64_t first, uint64_t n)
{
	struct fc_radix_cursor cur = { 0 };
	uint64_t i;

	fc__assert_held(&f->cache->lock);
	for (i = 0; i < n; i++) {
		struct fc_page *pg = fc__radix_lookup_near(&f->tree, &cur,
							   first + i);

		if (!pg || pg->state != FC_PG_UPTODATE || pg->held ||
		    pg->stale)
			return false;
	}
	memset(&cur, 0, sizeof(cur));
	for (i = 0; i < n; i++)
		((struct fc_page *)fc__radix_lookup_near(&f->tree, &cur,
							 first + i))->pins++;
	return true;
}

/*
 * Undo pin_range; pages the file's size change made stale go.
 * Context: cache->lock held.
 */
static void unpin_range(struct fc_cache *c, struct fc_file *f,
			uint64_t first, uint64_t n)
{
	uint64_t i;

	fc__assert_held(&c->lock);
	for (i = 0; i < n; i++) {
		struct fc_page *pg = fc__radix_lookup(&f->tree, first + i);

		fc__assert(pg && pg->pins);
		if (--pg->pins == 0 && pg->stale)
			fc__page_drop(c, pg);
	}
}

/*
 * Collapse the next queued page (chunk), if it is still to be had.
 * Context: cache->lock held; dropped while the collapse runs.
 */
static void collapse_one(struct fc_cache *c, struct fc_collapse *q)
{
	uint64_t id = q->ring[q->head % FC_COLLAPSE_RING].file_id;
	uint64_t first = q->ring[q->head % FC_COLLAPSE_RING].index, n = 1;
	struct fc_file *f = find_file(c, id);
	size_t len = c->cfg.page_size;
	int ret;

	fc__assert_held(&c->lock);
	q->head++;
	if (!f)
		return;
	if (c->chunked) {
		n = 1ull << c->chunk_shift;
		len *= n;
		if (fc__chunk_count(f, first >> c->chunk_shift) != n ||
		    first + n > f->nr_pages)
			return;
	}
	if (!pin_range(f, first, n))
		return;
	/* the collapse unmaps the pages from the views: read them first */
	fc__sample_harvest(c, f, first, n);
	fc__file_take(c, f);	/* a retained one is taken back meanwhile */
	q->busy = true;
	pthread_mutex_unlock(&c->lock);
	ret = fc__store_collapse(f, first * c->cfg.page_size, len);
	pthread_mutex_lock(&c->lock);
	q->busy = false;
	if (!ret) {
		c->nr_collapsed += n;
	} else {
		c->nr_collapse_failed += n;
		c->collapse_errno = ret;
	}
	unpin_range(c, f, first, n);
	fc__file_put(c, f);
	fc__assert_cache(c);
}

/*
 * EINVAL: no MADV_COLLAPSE, or THP denied; nothing is tried after it, so
 * the last failure stays the one that said so. Context: cache->lock held.
 */
static bool unsupported(const struct fc_cache *c)
{
	fc__assert_held(&c->lock);
	return c->collapse_errno == EINVAL;
}

/**
 * fc__collapse_idle - nothing queued or being collapsed (for tests).
 * Context: cache->lock held.
 */
bool fc__collapse_idle(const struct fc_cache *c)
{
	const struct fc_collapse *q = c->collapse;

	fc__assert_held(&c->lock);
	return !q || (q->head == q->tail && !q->busy) || unsupported(c);
}

static void *collapse_main(void *arg)
{
	struct fc_cache *c = arg;
	struct fc_collapse *q = c->collapse;
	struct sched_param sp = { 0 };

	/*
	 * Low priority, as khugepaged (nice 19), not SCHED_IDLE: this thread
	 * takes cache->lock and holds references to files, and an idle-class
	 * thread on a busy CPU can wait seconds for its turn while faults wait
	 * for the lock and a backend's release() waits for the reference.
	 * The policy is set too: a thread inherits its creator's, which may be
	 * real-time. Best effort (a policy the process may not leave stays).
	 */
	pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	pthread_mutex_lock(&c->lock);
	while (!q->stop) {
		if (q->head == q->tail || unsupported(c)) {
			pthread_cond_wait(&q->cond, &c->lock);
			continue;
		}
		collapse_one(c, q);
		if (c->zombies) {	/* a backend file it held the last of */
			pthread_mutex_unlock(&c->lock);
			fc__files_reap(c);
			pthread_mutex_lock(&c->lock);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/**
 * fc__collapse_start - start fc-collapse for a cache of huge store pages.
 * Return: 0 or -errno. Context: fc_cache_create, no lock.
 */
int fc__collapse_start(struct fc_cache *c)
{
	struct fc_collapse *q = calloc(1, sizeof(*q));
	int ret;

	fc__assert_not_held(&c->lock);
	if (!q)
		return -ENOMEM;
	pthread_cond_init(&q->cond, NULL);
	c->collapse = q;
	ret = pthread_create(&q->thread, NULL, collapse_main, c);
	if (ret) {
		c->collapse = NULL;
		pthread_cond_destroy(&q->cond);
		free(q);
		return -ret;
	}
	pthread_setname_np(q->thread, "fc-collapse");
	return 0;
}

/**
 * fc__collapse_stop - stop and free fc-collapse (if any); a collapse in
 * progress ends first. Context: fc_cache_destroy, no lock.
 */
void fc__collapse_stop(struct fc_cache *c)
{
	struct fc_collapse *q = c->collapse;

	fc__assert_not_held(&c->lock);
	if (!q)
		return;
	pthread_mutex_lock(&c->lock);
	q->stop = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(q->thread, NULL);
	pthread_mutex_lock(&c->lock);
	c->collapse = NULL;
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
}
