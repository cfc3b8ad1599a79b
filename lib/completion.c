/* SPDX-License-Identifier: MIT */
/*
 * completion.c - a read ended: its pages enter the store and are up to
 * date, and its waiters (handler faults and inline faults) are resolved;
 * or it failed, and is retried page by page once, then dropped with
 * SIGBUS for the faults that wanted it. Reads end on the handler thread
 * (io_uring completions, backend completions) or in an inline fault's
 * thread (a read it did itself).
 */
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chunk.h"
#include "completion.h"
#include "file.h"
#include "filemap.h"
#include "io.h"
#include "lru.h"
#include "plan.h"
#include "radix.h"
#include "reclaim.h"
#include "store.h"
#include "util.h"
#include "view.h"

/*
 * Wake the inline faults waiting on @io with @how: FC_IWAIT_AGAIN (its
 * read ended, or was split: look the page up again) or FC_IWAIT_FAILED
 * (it failed for good: SIGBUS). Context: cache->lock held.
 */
static void iwake(struct fc_io *io, unsigned how)
{
	struct fc_iwait *w, *next;

	fc__assert_held(&io->file->cache->lock);
	for (w = io->iwaiters; w; w = next) {
		next = w->next;
		atomic_store(&w->done, how);
		syscall(SYS_futex, &w->done, FUTEX_WAKE_PRIVATE, 1, NULL,
			NULL, 0);
	}
	io->iwaiters = NULL;
}

/* Context: cache->lock held. */
static void io_release(struct fc_cache *c, struct plan *p, struct fc_io *io)
{
	fc__assert_held(&c->lock);
	if (io->ra_owner)
		fc__plan_put(p, io->ra_owner);
	c->st.reads_inflight--;
	fc__file_put(c, io->file);
	fc__io_free(io);
}

/*
 * @pg had the readahead marker, and fc__io_store kept its bytes out of the
 * store (@io->held): keep them with the page, so that the reader's touch
 * faults to us, unless a fault already took the marker while it was read
 * (that fault ran the readahead): then it goes in the store now.
 * Return: false when the store could not take it and @pg was dropped
 * (freed). Context: cache->lock held.
 */
static bool hold(struct fc_cache *c, struct fc_io *io, struct fc_page *pg)
{
	fc__assert_held(&c->lock);
	pg->held = io->held;
	pg->held_len = io->held_len;
	io->held = NULL;
	return pg->marker || fc__page_store_held(c, pg);
}

/*
 * Read done: pages become UPTODATE; waiters and the reader get them. Pages
 * the file's size changed under (stale) are dropped instead, and their
 * waiters' faults run again.
 * Context: cache->lock held.
 */
static void io_done(struct fc_handler *h, struct plan *p, struct fc_io *io)
{
	struct fc_cache *c = h->cache;
	struct fc_file *f = io->file;
	struct fc_mapping *owner = io->ra_owner;
	struct fc_waiter *w, *next;
	uint64_t i, mk = ~0ull;

	fc__assert_held(&c->lock);
	c->nr_inflight -= io->nr;
	iwake(io, FC_IWAIT_AGAIN);
	for (i = io->index; i < io->index + io->nr; i++) {
		struct fc_page *pg = fc__radix_lookup(&f->tree, i);
		bool queued = false;

		pg->io = NULL;
		if (pg->stale) {
			fc__page_drop(c, pg);
			owner = NULL;	/* no install ahead over a hole */
			continue;
		}
		pg->state = FC_PG_UPTODATE;
		if (pg->marker)
			mk = i;
		if (i == io->marker && io->held) {
			if (!hold(c, io, pg))
				continue;	/* dropped: the next touch reads it */
			/* stored now (its marker was taken): queued already */
			queued = !pg->held;
		}
		if (owner && !c->copy_mode && i != io->marker &&
		    i >= fc__view_first_page(owner, c->cfg.page_size) &&
		    i < fc__view_end_page(owner, c->cfg.page_size))
			fc__mapped_ahead(owner, pg);	/* by fc__io_store */
		fc__lru_insert(&c->lru, &pg->lru, fc__page_refault(c, pg));
		if (pg->lru.active)
			c->st.refaults_active++;
		if (!queued)	/* huge store pages only */
			fc__collapse_queue(c, pg);
	}
	c->st.pages_read += io->nr;
	c->st.bytes_read += io->len;
	fc__cache_age(c);
	for (w = io->waiters; w; w = next) {
		uint64_t idx = (w->m->offset + w->addr - (uintptr_t)w->m->base) /
			       c->cfg.page_size;
		struct fc_page *pg = fc__radix_lookup(&f->tree, idx);

		next = w->next;
		if (!pg) {	/* dropped as stale: fault again */
			fc__defer(h, w->m, w->addr, w->t0, w->tid);
			fc__plan_put(p, w->m);
			free(w);
			continue;
		}
		/* the demand fault is the page's first reference */
		if (w->m->ra.advice == FC_RA_NORMAL)
			fc__lru_access(&c->lru, &pg->lru);
		if (pg->held)	/* the marker, faulted on while read */
			fc__page_store_held(c, pg);
		if (w->m->dead)
			fc__plan_simple(p, ACT_WAKE, w->m, w->addr, w->t0, 0);
		else if (!c->copy_mode)	/* in the store: the kernel maps it */
			fc__plan_wake(p, w->m, w->addr, w->t0);
		else
			fc__plan_around(p, w->m, idx, w->addr, w->t0);
		fc__plan_put(p, w->m);
		free(w);
	}
	io->waiters = NULL;
	/*
	 * install ahead of the reader, all but the marker page (copy mode:
	 * the default mode's fc__io_store mapped them into the reader's view)
	 */
	if (owner && !owner->dead && c->copy_mode) {
		uint64_t lo = io->index, hi = io->index + io->nr;
		size_t ps = c->cfg.page_size;

		if (lo < fc__view_first_page(owner, ps))
			lo = fc__view_first_page(owner, ps);
		if (hi > fc__view_end_page(owner, ps))
			hi = fc__view_end_page(owner, ps);
		if (lo < hi)
			fc__plan_install(p, owner, lo, hi, 0, 0, mk);
	}
}

/*
 * Read failed for good: drop the pages. Threads that waited on a read of
 * their page before this one (this is its retry) get SIGBUS; a thread
 * that came to a retry someone else's failure started has seen one read
 * fail, not two, and its fault runs again (the kernel, too, reads a page
 * readahead failed once more for the fault that wants it).
 * Context: cache->lock held.
 */
static void io_fail(struct fc_handler *h, struct plan *p, struct fc_io *io)
{
	struct fc_cache *c = h->cache;
	struct fc_file *f = io->file;
	struct fc_waiter *w, *next;
	uint64_t i;

	fc__assert_held(&c->lock);
	c->nr_inflight -= io->nr;
	iwake(io, FC_IWAIT_FAILED);
	for (i = io->index; i < io->index + io->nr; i++) {
		struct fc_page *pg = fc__radix_delete(&f->tree, i);

		fc__page_free(c, pg);
	}
	/* whatever part of the read landed must not stay outside the budget */
	fc__store_punch(c, f, io->index, io->nr);
	for (w = io->waiters; w; w = next) {
		next = w->next;
		if (w->own || !io->retried) {
			fc__plan_simple(p, ACT_POISON, w->m, w->addr, w->t0,
				    w->tid);
			c->st.sigbus++;
		} else {
			fc__defer(h, w->m, w->addr, w->t0, w->tid);
		}
		fc__plan_put(p, w->m);
		free(w);
	}
	io->waiters = NULL;
}

/*
 * First failure: retry every page on its own, once (the kernel re-reads
 * a page that is not up to date once before SIGBUS). Waiters follow their
 * page. The new reads are queued on @h, or pushed on *@out (an inline
 * fault's). Returns false when the split could not be made.
 * Context: cache->lock held.
 */
static bool io_split(struct fc_handler *h, struct fc_io *io,
		     struct fc_io **out)
{
	struct fc_cache *c = h->cache;
	struct fc_file *f = io->file;
	struct fc_io **one = c->split;	/* FC_MAX_IO_BYTES / 4096 */
	struct fc_waiter *w, *next;
	uint64_t i;

	fc__assert_held(&c->lock);
	for (i = 0; i < io->nr; i++) {
		one[i] = fc__io_new(f, io->index + i, 1);
		if (!one[i]) {
			while (i--)
				fc__io_free(one[i]);
			return false;
		}
		one[i]->retried = 1;
	}
	for (w = io->waiters; w; w = next) {
		uint64_t idx = (w->m->offset + w->addr - (uintptr_t)w->m->base) /
			       c->cfg.page_size;

		next = w->next;
		w->own = true;
		w->next = one[idx - io->index]->waiters;
		one[idx - io->index]->waiters = w;
	}
	io->waiters = NULL;
	iwake(io, FC_IWAIT_AGAIN);	/* they wait on its page's new read */
	for (i = 0; i < io->nr; i++) {
		struct fc_page *pg = fc__radix_lookup(&f->tree, io->index + i);

		pg->io = one[i];
		f->refs++;
		c->st.reads_inflight++;
		c->st.io_retries++;
		fc__io_hand(h, one[i], out);
	}
	return true;
}

/*
 * @io's source ended early, io->done bytes in, and its size was looked at
 * again since. A file still as long as the read wanted did not shrink:
 * the read failed. Otherwise the bytes before that point are the file's;
 * the zeros put in place of the rest are its bytes only if it still ends
 * there, and it may have grown back meanwhile (truncated, then written
 * again): the pages from the one the read stopped in are stale, dropped
 * when the read ends, and read again by the next fault on them (those
 * past a shrink seen were marked so already). The store takes the pages
 * before the first stale one only (io->store_len cut there): a stale
 * page put in the store, or copied into a view, would be mapped, and its
 * waiters woken, with its zeros until io_done drops it. Its waiters
 * instead fault again when it is dropped, and get the bytes the file has
 * then, or SIGBUS past its end.
 * Return: FC_IO_DONE or FC_IO_FAILED. Context: cache->lock held.
 */
static enum fc_io_outcome io_eof(struct fc_io *io)
{
	struct fc_file *f = io->file;
	uint64_t ps = f->cache->cfg.page_size, i;

	fc__assert_held(&f->cache->lock);
	if ((uint64_t)f->size >= io->index * ps + io->len) {
		/*
		 * Whole again when looked at: cut short and written back
		 * while it was read (a log rotated in place), which marked
		 * its pages stale; they are dropped and their faults run
		 * again. Failing them instead would count two such races
		 * as an I/O error and leave a SIGBUS marker inside the file
		 * that no growth clears. A source that ends early and
		 * changed nothing is failing.
		 */
		for (i = 0; i < io->nr; i++) {
			struct fc_page *pg = fc__radix_lookup(&f->tree,
							      io->index + i);

			if (pg->stale)
				break;
		}
		if (i == io->nr)
			return FC_IO_FAILED;
	}
	for (i = 0; i < io->nr; i++) {
		struct fc_page *pg = fc__radix_lookup(&f->tree, io->index + i);

		if (i >= io->done / ps)
			pg->stale = 1;
		if (pg->stale && io->store_len > i * ps)
			io->store_len = i * ps;
	}
	return FC_IO_DONE;
}

/*
 * @io's read ended with @out (a completion, or a read done in the faulting
 * thread): a source that ended early is checked for a shrink; then its
 * pages enter the store (mapped into @to's view on the way, when given)
 * and are up to date, or failed: a first failure is retried page by
 * page (the reads go to @h, or on *@split, as io_split), a second one
 * drops them. Return: FC_IO_DONE when they are up to date, FC_IO_AGAIN
 * when they are read again page by page, FC_IO_FAILED when dropped.
 * Context: no locks held.
 */
enum fc_io_outcome fc__io_end(struct fc_handler *h, struct plan *p,
			      struct fc_io *io, enum fc_io_outcome out,
			      struct fc_mapping *to, struct fc_io **split)
{
	struct fc_cache *c = h->cache;
	int64_t mapped = 0;

	fc__assert_not_held(&c->lock);
	if (out == FC_IO_EOF) {
		/* the source ended early: did it shrink? */
		fc__file_revalidate(c, io->file);
		pthread_mutex_lock(&c->lock);
		out = io_eof(io);
		pthread_mutex_unlock(&c->lock);
	}
	if (out == FC_IO_DONE && !c->copy_mode) {
		mapped = fc__io_store(io, to);
		if (mapped < 0)
			out = FC_IO_FAILED;
	}
	pthread_mutex_lock(&c->lock);
	if (out == FC_IO_DONE) {
		c->st.pages_installed += (uint64_t)mapped / c->cfg.page_size;
		io_done(h, p, io);
	} else {
		c->st.io_errors++;
		out = !io->retried && io_split(h, io, split) ? FC_IO_AGAIN
							      : FC_IO_FAILED;
		if (out == FC_IO_FAILED)
			io_fail(h, p, io);
	}
	io_release(c, p, io);
	fc__assert_cache(c);
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);
	return out;
}

/*
 * One completion of @io, @res bytes or -errno: the rest is queued again,
 * or the read is put on @h's list of ended reads, which the handler
 * finishes after the faults waiting now. Context: handler thread, no lock.
 */
void fc__on_completion(struct fc_handler *h, struct plan *p,
		       struct fc_io *io, int res)
{
	struct fc_cache *c = h->cache;
	enum fc_io_outcome out;
	int err = 0;

	fc__assert_not_held(&c->lock);
	(void)p;
	out = fc__io_complete(h, io, res, &err);
	if (out == FC_IO_AGAIN) {
		pthread_mutex_lock(&c->lock);
		c->st.io_retries++;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	/* the handler finishes it (finish_reads) after the faults waiting */
	io->end_out = (uint8_t)out;
	io->next = NULL;
	if (h->ended_tail)
		h->ended_tail->next = io;
	else
		h->ended = io;
	h->ended_tail = io;
}

/*
 * Completions that backends reported from their own threads.
 * Context: handler thread, cache->lock NOT held.
 */
void fc__backend_drain(struct fc_handler *h, struct plan *p)
{
	struct fc_backend_req *r = atomic_exchange(&h->bdone, NULL), *rev = NULL;

	fc__assert_not_held(&h->cache->lock);
	while (r) {	/* oldest first */
		struct fc_backend_req *next = r->next;

		r->next = rev;
		rev = r;
		r = next;
	}
	for (; rev; rev = r) {
		ssize_t res = rev->res;

		r = rev->next;
		if (res < -4095 || res > INT32_MAX)
			res = -EIO;	/* nonsense from the backend */
		fc__on_completion(h, p, rev->io, (int)res);
	}
}
