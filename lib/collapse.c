/* SPDX-License-Identifier: MIT */
/*
 * collapse.c - huge store pages for caches of 2 MiB pages.
 *
 * Pages enter the store 4 KiB at a time (UFFDIO_COPY: fc__store_write),
 * which maps them with 4 KiB PTEs, one fault per 16 of them: a warm scan
 * runs at a tenth of the kernel's mmap, whose page cache folios are large.
 * In a cache whose page is the PMD size, a page whole in the store is
 * then collapsed into one huge folio by MADV_COLLAPSE on its file's alias,
 * in this background thread (fc-collapse), and the views are placed so
 * that the kernel maps it with one PMD (fc__reserve).
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
 * The page is pinned (not evicted) and its file referenced while the
 * collapse runs without the lock. A collapse holds one more page of
 * memory (the new folio) until it ends; one runs at a time. A collapse
 * that finds a small page busy (EAGAIN) is tried again, up to 7 times
 * over a quarter of a second; a page whose collapse fails otherwise (a
 * hole: EBUSY; no huge page to be had: ENOMEM) stays small. EINVAL (no
 * MADV_COLLAPSE in the kernel, or shmem THP "deny") stops the thread's
 * work for good.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define RING 4096	/* pages waiting; more are left small */

struct fc_collapse {
	pthread_t thread;
	pthread_cond_t cond;	/* with cache->lock */
	bool stop;
	bool busy;		/* a collapse runs without the lock */
	uint64_t head, tail;	/* ring[head % RING] .. ring[tail % RING] */
	struct {
		uint64_t file_id, index;
	} ring[RING];
};

/**
 * fc__collapse_queue - have @pg, now whole in the store, made a huge
 * folio. Does nothing in other caches, or when the queue is full.
 * Context: cache->lock held.
 */
void fc__collapse_queue(struct fc_cache *c, struct fc_page *pg)
{
	struct fc_collapse *q = c->collapse;

	if (!q || q->tail - q->head >= RING || pg->held)
		return;
	q->ring[q->tail % RING].file_id = pg->file->id;
	q->ring[q->tail % RING].index = pg->index;
	q->tail++;
	pthread_cond_signal(&q->cond);
}

/*
 * The file of id @id, or NULL. Retained files count: their pages are
 * there for the next fc_map of the file. Context: lock.
 */
static struct fc_file *find_file(struct fc_cache *c, uint64_t id)
{
	struct fc_file *f;

	for (f = c->files; f; f = f->next)
		if (f->id == id)
			return f->defunct ? NULL : f;
	return NULL;
}

/* Collapse the next queued page, if it is still to be had. Lock held. */
static void collapse_one(struct fc_cache *c, struct fc_collapse *q)
{
	uint64_t id = q->ring[q->head % RING].file_id;
	uint64_t index = q->ring[q->head % RING].index;
	struct fc_file *f = find_file(c, id);
	struct fc_page *pg;
	int ret = 0, tries;

	q->head++;
	pg = f ? fc__radix_lookup(&f->tree, index) : NULL;
	if (!pg || pg->state != FC_PG_UPTODATE || pg->held || pg->stale)
		return;
	pg->pins++;
	fc__file_take(c, f);	/* a retained one is taken back meanwhile */
	q->busy = true;
	pthread_mutex_unlock(&c->lock);
	/*
	 * EAGAIN: a small page was locked or not yet on an LRU list (a
	 * page just added can sit in another CPU's batch): soon over.
	 */
	for (tries = 0; tries < 8; tries++) {
		ret = madvise(f->alias + index * c->cfg.page_size,
			      c->cfg.page_size, MADV_COLLAPSE) ? errno : 0;
		if (ret != EAGAIN)
			break;
		usleep(1000u << tries);		/* 1 ms .. 128 ms */
	}
	pthread_mutex_lock(&c->lock);
	q->busy = false;
	if (!ret) {
		c->nr_collapsed++;
	} else {
		c->nr_collapse_failed++;
		c->collapse_errno = ret;
	}
	pg->pins--;
	if (pg->stale && !pg->pins)	/* the file changed meanwhile */
		fc__page_drop(c, pg);
	fc__file_put(c, f);
}

/*
 * EINVAL: no MADV_COLLAPSE, or THP denied; nothing is tried after it, so
 * the last failure stays the one that said so. Context: lock.
 */
static bool unsupported(const struct fc_cache *c)
{
	return c->collapse_errno == EINVAL;
}

/**
 * fc__collapse_idle - nothing queued or being collapsed (for tests).
 * Context: cache->lock held.
 */
bool fc__collapse_idle(const struct fc_cache *c)
{
	const struct fc_collapse *q = c->collapse;

	return !q || (q->head == q->tail && !q->busy) || unsupported(c);
}

static void *collapse_main(void *arg)
{
	struct fc_cache *c = arg;
	struct fc_collapse *q = c->collapse;
	struct sched_param sp = { 0 };

	/* only CPU time nobody else wants (best effort) */
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
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
