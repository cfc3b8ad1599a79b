/* SPDX-License-Identifier: MIT */
/*
 * filemap.c - filemap_fault() in userspace: the rules that turn a fault
 * into a plan (plan.c). A fault on a cached page is a hit (the page goes
 * in the store, or in copy mode is installed with its cached neighbours:
 * fault-around); on a page being read it waits on the read; on a missing
 * page it allocates the readahead window (readahead.c) and starts its
 * reads. The marker page of a window starts the next one (async
 * readahead).
 *
 * A fault reaches us only for a page the store lacks: the kernel maps the
 * others in the (shared) views itself. In copy mode every first touch of a
 * page in a (private) view does, and is installed with UFFDIO_COPY.
 */
#include <errno.h>
#include <stdlib.h>

#include "filemap.h"
#include "io.h"
#include "lru.h"
#include "maptab.h"
#include "plan.h"
#include "radix.h"
#include "readahead.h"
#include "reclaim.h"
#include "store.h"
#include "util.h"
#include "view.h"

/*
 * Page @index of @f if a view may map it without a fault (fault-around,
 * population): up to date and not a readahead marker; else NULL.
 * Context: cache->lock held.
 */
struct fc_page *fc__mappable(struct fc_file *f,
			     struct fc_radix_cursor *cur, uint64_t index)
{
	struct fc_page *pg;

	fc__assert_held(&f->cache->lock);
	pg = fc__radix_lookup_near(&f->tree, cur, index);
	return pg && pg->state == FC_PG_UPTODATE && !pg->marker ? pg : NULL;
}

/*
 * Fault-around, as the kernel's filemap_map_pages: map what is cached in
 * an aligned window of cfg.fault_around pages around @index. First the
 * run of cached neighbours touching the fault (continued ahead, up to the
 * readahead window, for a sequential reader), which wakes the faulting
 * thread; then, zero-copy views only, every other run of cached pages in
 * the window (a copy view would pay memory for them). Pages carrying the
 * readahead marker are left out, so the reader still reaches them and
 * starts the next async readahead. A plan that is full (an inline fault's
 * is fixed) drops the runs that do not fit.
 * Context: cache->lock held.
 */
void fc__plan_around(struct plan *p, struct fc_mapping *m, uint64_t index,
		     uint64_t addr, uint64_t t0)
{
	struct fc_cache *c = m->cache;
	size_t ps = c->cfg.page_size;
	uint64_t fa = c->cfg.fault_around, lo = index, hi = index + 1;
	uint64_t wlo = index - index % fa, whi = wlo + fa, ahead, i;
	struct fc_radix_cursor cur = { 0 };

	fc__assert_held(&c->lock);
	if (wlo < fc__view_first_page(m, ps))
		wlo = fc__view_first_page(m, ps);
	if (whi > fc__view_end_page(m, ps))
		whi = fc__view_end_page(m, ps);
	ahead = whi;
	if (m->ra.advice == FC_RA_SEQUENTIAL || index == m->ra_next) {
		ahead = index + (m->ra.max > fa ? m->ra.max : fa);
		if (ahead > fc__view_end_page(m, ps))
			ahead = fc__view_end_page(m, ps);
	}
	while (lo > wlo && fc__mappable(m->file, &cur, lo - 1))
		lo--;
	while (hi < ahead && fc__mappable(m->file, &cur, hi))
		hi++;
	m->ra_next = hi;
	if (fc__plan_install(p, m, lo, hi, addr, t0, ~0ull)) {
		fc__plan_simple(p, ACT_WAKE, m, addr, t0, 0);
		return;
	}
	if (c->copy_mode)
		return;
	for (i = wlo; i < whi;) {
		uint64_t first = i;

		if (i == lo) {
			i = hi;
		} else if (!fc__mappable(m->file, &cur, i)) {
			i++;
		} else {
			while (i < whi && i != lo && fc__mappable(m->file, &cur, i))
				i++;
			if (fc__plan_install(p, m, first, i, 0, t0, ~0ull))
				return;
		}
	}
}

/* fc_ra_cached_fn over a file's index; @arg is the struct fc_file. */
static bool is_cached(void *arg, uint64_t index)
{
	return fc__radix_lookup(&((struct fc_file *)arg)->tree, index);
}

/*
 * A new INFLIGHT page of @f at @index, in the index; NULL if none free.
 * Context: cache->lock held.
 */
static struct fc_page *page_inflight(struct fc_cache *c, struct fc_file *f,
				     uint64_t index)
{
	struct fc_page *pg;

	fc__assert_held(&c->lock);
	pg = fc__page_alloc(c);
	if (!pg)
		return NULL;
	pg->file = f;
	pg->index = index;
	pg->state = FC_PG_INFLIGHT;
	if (fc__radix_insert(&f->tree, index, pg)) {
		fc__page_free(c, pg);
		return NULL;
	}
	c->nr_inflight++;
	return pg;
}

/*
 * Allocate and start reading the missing pages of window @w. The page
 * @must (UINT64_MAX for none) is allocated first: it is the faulting one.
 * The reads are queued on @h, the one that brings @must in first (a
 * backend serving requests in turn answers the fault before readahead),
 * or, when @out is not NULL, pushed on *@out for the caller to submit (an
 * inline fault: not on the handler thread).
 * Return: the read that brings @must in, or NULL (no page could be had).
 * Context: cache->lock held; on the handler thread that owns @h unless
 * @out is given.
 */
struct fc_io *fc__read_window(struct fc_handler *h, struct fc_mapping *m,
			      struct fc_ra_window w, uint64_t must,
			      struct fc_io **out)
{
	struct fc_cache *c = h->cache;
	struct fc_file *f = m->file;
	uint64_t max_io = FC_MAX_IO_BYTES / c->cfg.page_size, i, run;
	struct fc_io *must_io = NULL;
	struct fc_page *pg;

	fc__assert_held(&c->lock);
	if (!max_io)	/* cache pages larger than one read: one per read */
		max_io = 1;
	/* never read outside what this mapping was asked to show */
	if (w.start < fc__view_first_page(m, c->cfg.page_size)) {
		uint64_t cut = fc__view_first_page(m, c->cfg.page_size) -
			       w.start;

		w.size = w.size > cut ? w.size - cut : 0;
		w.start += cut;
	}
	if (w.start + w.size > fc__view_end_page(m, c->cfg.page_size))
		w.size = w.start < fc__view_end_page(m, c->cfg.page_size) ?
			 fc__view_end_page(m, c->cfg.page_size) - w.start : 0;
	if (must != UINT64_MAX && !page_inflight(c, f, must))
		return NULL;
	for (i = w.start; i < w.start + w.size; i++) {
		if (i == must || fc__radix_lookup(&f->tree, i))
			continue;
		pg = page_inflight(c, f, i);
		if (!pg)
			break;	/* budget: read less ahead */
		pg->ra_unused = 1;
		pg->marker = w.has_marker && i == w.marker;
		c->st.ra_pages++;
	}
	/* group the new pages (INFLIGHT without a read) into reads */
	{
		uint64_t lo = w.size ? w.start : must, hi = w.start + w.size;

		if (must != UINT64_MAX && must < lo)
			lo = must;
		if (must != UINT64_MAX && must >= hi)
			hi = must + 1;
		for (i = lo; i < hi; i += run ? run : 1) {
			struct fc_io *io;
			uint64_t j;

			run = 0;
			pg = fc__radix_lookup(&f->tree, i);
			if (!pg || pg->state != FC_PG_INFLIGHT || pg->io)
				continue;
			while (run < max_io && i + run < hi &&
			       (pg = fc__radix_lookup(&f->tree, i + run)) &&
			       pg->state == FC_PG_INFLIGHT && !pg->io)
				run++;
			io = fc__io_new(f, i, (uint32_t)run);
			if (!io) {
				/* undo: these pages were never read */
				for (j = i; j < i + run; j++) {
					pg = fc__radix_delete(&f->tree, j);
					fc__page_free(c, pg);
					c->nr_inflight--;
				}
				continue;
			}
			for (j = i; j < i + run; j++) {
				pg = fc__radix_lookup(&f->tree, j);
				pg->io = io;
				if (pg->marker)
					io->marker = j;
				if (j == must)
					must_io = io;
			}
			io->async = must_io != io;
			f->refs++;
			/*
			 * The pages go into its view as they enter the store
			 * (fc__io_store), and the fault that asked is woken
			 * by that; copy mode installs ahead only for readers
			 * that are not random.
			 */
			if (!c->copy_mode || m->ra.advice != FC_RA_RANDOM) {
				fc__mapping_get(m);
				io->ra_owner = m;
			}
			c->st.reads_inflight++;
			/*
			 * The queue is a stack: the window goes out from its
			 * end, as it always has (in order, a scan took more
			 * faults and read less: docs/design.md,
			 * "Readahead"), and the fault's own read, queued
			 * last, before it.
			 */
			if (out || io != must_io)
				fc__io_hand(h, io, out);
		}
	}
	if (must_io && !out)
		fc__io_queue(h, must_io);
	fc__assert_cache(c);
	return must_io;
}

/*
 * The fault found the marker on @pg. The page is pinned meanwhile: the
 * readahead allocates, and reclaim must not take the page being faulted.
 * Context: cache->lock held.
 */
void fc__async_readahead(struct fc_handler *h, struct fc_mapping *m,
			 struct fc_page *pg, struct fc_io **out)
{
	struct fc_ra_window w;

	fc__assert_held(&m->cache->lock);
	pg->marker = 0;
	w = fc__ra_marker(&m->ra, pg->index, m->file->nr_pages, is_cached,
			  m->file);
	if (!w.size)
		return;
	pg->pins++;
	fc__read_window(h, m, w, UINT64_MAX, out);
	pg->pins--;
}

/*
 * Queue a waiter on @io: one per address, so its threads are woken, or
 * sent SIGBUS, once. A fault the kernel sends again (a thread waiting on
 * a read may be woken early and fault once more: seen in single-threaded
 * tests) finds its own waiter there. Return: 0, 1 when that thread was
 * waiting there already (the fault is not a new one), or -ENOMEM.
 * Context: cache->lock held.
 */
static int add_waiter(struct fc_io *io, struct fc_mapping *m, uint64_t addr,
		      uint64_t t0, pid_t tid)
{
	struct fc_waiter *w;

	fc__assert_held(&m->cache->lock);
	for (w = io->waiters; w; w = w->next)
		if (w->m == m && w->addr == addr)
			return w->tid == tid;
	w = fc__waiter_new(m, addr, t0, tid, io->waiters);
	if (!w)
		return -ENOMEM;
	io->waiters = w;
	return 0;
}

/*
 * A fault found @pg up to date: start the next readahead at its marker
 * (reads queued on @h, or pushed on *@out as fc__read_window), and plan what
 * resolves it. A shared view faults on a cached page only when the page
 * is held out of the store (the marker) or was stored just after the
 * fault: the page goes in the store and the thread is woken, to find the
 * kernel mapping it (an inline fault just returns). Copy mode installs
 * the page and its cached neighbours. @count: the fault counts as a hit
 * and a reference (an inline fault looking again after a wait has been
 * counted already).
 * Return: false when the fault must come back later instead: its page,
 * lost by the store, is pinned (fc-collapse holds it) and goes with its
 * last pin. Context: cache->lock held.
 */
bool fc__plan_hit(struct fc_handler *h, struct plan *p,
		  struct fc_mapping *m, struct fc_page *pg, uint64_t addr,
		  uint64_t t0, bool count, struct fc_io **out)
{
	struct fc_cache *c = m->cache;

	fc__assert_held(&c->lock);
	if (count) {
		c->st.hits++;
		fc__ra_hit(&m->ra);
	}
	if (pg->marker)
		fc__async_readahead(h, m, pg, out);
	if (count && m->ra.advice == FC_RA_NORMAL)
		fc__lru_access(&c->lru, &pg->lru);
	if (c->copy_mode) {
		fc__plan_around(p, m, pg->index, addr, t0);
		return true;
	}
	/*
	 * Dropped (store full, or not in it after all): the retry reads it,
	 * never a loop on a page the store lacks. A page being collapsed is
	 * pinned and cannot go now: marked stale, it goes with its last pin,
	 * and the fault comes back after that.
	 */
	if (pg->held) {
		fc__page_store_held(c, pg);
	} else if (!fc__store_holds(c, m->file,
				    m->offset + (addr - (uintptr_t)m->base))) {
		if (pg->pins) {
			pg->stale = 1;
			return false;
		}
		fc__page_drop(c, pg);
	}
	if (m->uffd != c->inline_uffd)	/* not an inline fault: wake it */
		fc__plan_wake(p, m, addr, t0);
	return true;
}

/**
 * fc__handle_fault - plan the resolution of one fault (filemap_fault).
 * @addr: faulting address in @m's view, system-page aligned.
 * Context: handler thread, cache->lock held.
 */
void fc__handle_fault(struct fc_handler *h, struct plan *p,
		      struct fc_mapping *m, uint64_t addr, uint64_t t0,
		      pid_t tid, bool retry)
{
	struct fc_cache *c = h->cache;
	uint64_t index = (m->offset + (addr - (uintptr_t)m->base)) /
			 c->cfg.page_size;
	struct fc_file *f = m->file;
	struct fc_page *pg;
	struct fc_ra_window w;
	struct fc_io *io;

	fc__assert_held(&c->lock);
	if (m->dead || addr >= (uintptr_t)m->base + m->len) {
		fc__plan_simple(p, ACT_WAKE, m, addr, t0, 0);
		return;
	}
	if (!retry)
		c->st.faults++;
	if (addr - (uintptr_t)m->base >= fc__view_eof(m)) {
		fc__plan_simple(p, ACT_EOF, m, addr, t0, tid);
		return;
	}
	pg = fc__radix_lookup(&f->tree, index);
	if (pg && pg->state == FC_PG_UPTODATE) {
		if (!fc__plan_hit(h, p, m, pg, addr, t0, true, NULL))
			fc__defer(h, m, addr, t0, tid);
		return;
	}
	if (pg) {	/* being read: wait for it */
		int ret;

		if (pg->marker)
			fc__async_readahead(h, m, pg, NULL);
		ret = add_waiter(pg->io, m, addr, t0, tid);
		if (ret > 0) {	/* that thread's fault again: counted */
			if (!retry)
				c->st.faults--;
			return;
		}
		c->st.misses++;
		if (ret)
			fc__defer(h, m, addr, t0, tid);
		return;
	}
	w = fc__ra_miss(&m->ra, index, f->nr_pages);
	io = fc__read_window(h, m, w, index, NULL);
	if (!io || add_waiter(io, m, addr, t0, tid)) {
		fc__defer(h, m, addr, t0, tid);
		return;
	}
	c->st.misses++;
}
