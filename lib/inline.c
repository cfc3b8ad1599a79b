/* SPDX-License-Identifier: MIT */
/*
 * inline.c - FC_CONFIG_INLINE: a fault resolved by the thread that took
 * it, in the library's SIGBUS handler (sigbus.c), as the kernel's own
 * fault path does: it applies the filemap rules itself, reads its own
 * page (polled for where that pays, polled.c) and puts it in the store
 * and its view; readahead beyond the page is handed to the mapping's
 * handler thread. Nothing here may take a signal: every signal is
 * blocked while a fault is resolved.
 */
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "completion.h"
#include "file.h"
#include "filemap.h"
#include "handler.h"
#include "inline.h"
#include "io.h"
#include "mapping.h"
#include "maptab.h"
#include "plan.h"
#include "radix.h"
#include "readahead.h"
#include "stats.h"
#include "util.h"
#include "view.h"

static enum fc_io_outcome inline_end(struct fc_mapping *m, struct fc_io *io,
				     enum fc_io_outcome out);

/*
 * Hand reads planned by an inline fault to the handler thread. If it is
 * stopping (the cache is being destroyed), read them here instead, or
 * fail a backend's, so that nothing stays INFLIGHT for ever.
 */
static void inline_submit(struct fc_mapping *m, struct fc_io *ios)
{
	struct fc_cmd *cmd = calloc(1, sizeof(*cmd));
	struct fc_io *io;
	int err;

	if (cmd) {
		fc__mapping_get(m);
		cmd->kind = FC_CMD_SUBMIT;
		cmd->m = m;
		cmd->ios = ios;
		if (!fc__handler_post(m->h, cmd))
			return;
		fc__mapping_put(m);
		free(cmd);
	}
	while ((io = ios)) {
		ios = io->next;
		io->next = NULL;
		if (io->file->bops) {
			io->retried = 1;	/* nobody left to retry it */
			inline_end(m, io, FC_IO_FAILED);
		} else {
			inline_end(m, io, fc__io_sync(io, &err));
		}
	}
}

/*
 * Finish @io (planned by an inline fault on @m), read in this thread with
 * outcome @out, as a completion is finished: its pages go in the store,
 * mapped into @m's view. A first failure gives every page a read of its
 * own, handed to the handler; the fault then waits for its page's.
 * Return: as fc__io_end (FC_IO_FAILED: dropped, SIGBUS).
 */
static enum fc_io_outcome inline_end(struct fc_mapping *m, struct fc_io *io,
				     enum fc_io_outcome out)
{
	struct fc_io *split = NULL;
	INLINE_PLAN(p);

	out = fc__io_end(m->h, &p, io, out, m, &split);
	fc__act(m->h, &p);
	if (split)
		inline_submit(m, split);
	return out;
}

/* Wait for an inline waiter's read to end. Context: no locks held. */
static void iwait_sleep(struct fc_cache *c, struct fc_iwait *w)
{
	fc__assert_not_held(&c->lock);
	while (!atomic_load(&w->done))
		syscall(SYS_futex, &w->done, FUTEX_WAIT_PRIVATE, 0, NULL,
			NULL, 0);
	/* the waker holds the lock until it is done with @w */
	pthread_mutex_lock(&c->lock);
	pthread_mutex_unlock(&c->lock);
}

/*
 * The access must raise SIGBUS: the signal being handled is delivered to
 * the application as it is (si_addr the faulting byte). Nothing is
 * poisoned: a poisoned page's SIGBUS carries the same si_code as a uffd
 * fault's and could not be told apart, so the next touch of the page
 * reads it again, as the kernel's own fault path does. Return: false.
 */
static bool inline_sigbus(struct fc_mapping *m)
{
	pthread_mutex_lock(&m->cache->lock);
	m->cache->st.sigbus++;
	pthread_mutex_unlock(&m->cache->lock);
	return false;
}

/* A page past the end: look at the size again, else SIGBUS. */
static bool inline_eof(struct fc_mapping *m, uint64_t addr)
{
	struct fc_cache *c = m->cache;
	bool inside;

	fc__file_revalidate(c, m->file);
	pthread_mutex_lock(&c->lock);
	inside = addr - (uintptr_t)m->base < fc__view_eof(m);
	pthread_mutex_unlock(&c->lock);
	return inside || inline_sigbus(m);
}

enum inline_next {
	INL_DONE,	/* installed, or the access will fault for good */
	INL_READ,	/* read @mine here, then look again */
	INL_WAIT,	/* wait for the read of the page, then look again */
	INL_WAIT_OWN,	/* the same, for a read this fault started */
	INL_RETRY,	/* no page to be had now: pause, then look again */
	INL_EOF,	/* past the end of the file */
};

/*
 * Plan one look at the faulting page (fc__handle_fault for the faulting
 * thread itself): a hit is pinned for installation in @p, a miss
 * allocates the readahead window and leaves the read of the faulting page
 * to this thread (*@mine), the rest to the handler (*@others).
 * Context: cache->lock held.
 */
static enum inline_next inline_plan(struct fc_mapping *m, struct plan *p,
				    uint64_t addr, uint64_t t0, bool first,
				    struct fc_iwait *wt, struct fc_io **mine,
				    struct fc_io **others)
{
	struct fc_cache *c = m->cache;
	struct fc_file *f = m->file;
	uint64_t index = (m->offset + (addr - (uintptr_t)m->base)) /
			 c->cfg.page_size;
	struct fc_page *pg;

	fc__assert_held(&c->lock);
	if (m->dead)	/* the access meets the placeholder: SIGSEGV */
		return INL_DONE;
	if (first)
		c->st.faults++;
	if (addr - (uintptr_t)m->base >= fc__view_eof(m))
		return INL_EOF;
	pg = fc__radix_lookup(&f->tree, index);
	if (pg && pg->state == FC_PG_UPTODATE) {
		return fc__plan_hit(m->h, p, m, pg, addr, t0, first, others) ?
		       INL_DONE : INL_RETRY;
	}
	if (first)
		c->st.misses++;
	if (pg) {	/* being read: wait for it */
		if (pg->marker)
			fc__async_readahead(m->h, m, pg, others);
		wt->next = pg->io->iwaiters;
		pg->io->iwaiters = wt;
		return INL_WAIT;
	}
	*mine = fc__read_window(m->h, m, fc__ra_miss(&m->ra, index, f->nr_pages),
			    index, others);
	if (!*mine)
		return INL_RETRY;
	/* take it off the list: this thread reads it (a backend's too, but
	 * through the handler, waited for like any read in flight) */
	{
		struct fc_io **pp = others;

		while (*pp != *mine)
			pp = &(*pp)->next;
		*pp = (*mine)->next;
		(*mine)->next = NULL;
	}
	if (f->bops) {
		wt->next = (*mine)->iwaiters;
		(*mine)->iwaiters = wt;
		(*mine)->next = *others;
		*others = *mine;
		*mine = NULL;
		return INL_WAIT_OWN;
	}
	return INL_READ;
}

/**
 * fc__inline_fault - resolve the fault at @addr in the faulting thread.
 * Called from the library's SIGBUS handler (FC_CONFIG_INLINE: the views'
 * uffd has UFFD_FEATURE_SIGBUS, so a missing or minor fault raises SIGBUS
 * in the thread that took it instead of queueing a message). The thread
 * reads its own page, as the kernel's fault path does: no handler thread
 * and no wake-up between threads on the way. Readahead beyond the page is
 * handed to the mapping's handler thread.
 * Return: true when the access can be retried (resolved, or its mapping
 * was unmapped a moment ago: the retry meets the placeholder); false when
 * @addr is not in a view of an inline cache, or is and the SIGBUS being
 * handled must go to the application as it is (past EOF, unreadable).
 * Context: signal handler of a synchronous SIGBUS; takes cache->lock,
 * may allocate and block on I/O.
 */
bool fc__inline_fault(uint64_t addr)
{
	bool first = true, retry = true, gone, own = false, rejoined = false;
	struct fc_mapping *m = fc__mapping_lookup_inline(addr, &gone);
	uint64_t t0 = fc__now_ns();
	enum inline_next next;
	struct fc_cache *c;
	int err;

	if (!m)
		return gone;
	c = m->cache;
	fc__assert_not_held(&c->lock);
	addr &= ~(uint64_t)(c->sys_page - 1);
	do {
		struct fc_io *mine = NULL, *others = NULL;
		struct fc_iwait wt = { 0 };
		INLINE_PLAN(p);

		pthread_mutex_lock(&c->lock);
		next = inline_plan(m, &p, addr, t0, first, &wt, &mine, &others);
		pthread_mutex_unlock(&c->lock);
		first = false;
		if (others)
			inline_submit(m, others);
		own |= next == INL_READ || next == INL_WAIT_OWN;
		if (next == INL_READ) {
			enum fc_io_outcome out =
				inline_end(m, mine, fc__io_sync(mine, &err));

			/*
			 * Read and stored (and mapped: the retry runs); or
			 * dropped: SIGBUS; or retried page by page: look
			 * again, and wait for it.
			 */
			if (out == FC_IO_FAILED)
				retry = inline_sigbus(m);
			if (out != FC_IO_AGAIN)
				next = INL_DONE;
		} else if (next == INL_WAIT || next == INL_WAIT_OWN) {
			iwait_sleep(c, &wt);
			/*
			 * A read failed for good: SIGBUS if this fault's own
			 * read (and its retry) failed. A fault that only joined
			 * someone else's read (readahead's) reads the page
			 * once itself first, as the kernel re-reads a page
			 * readahead could not: a failed readahead never raises
			 * SIGBUS by itself.
			 */
			if (atomic_load(&wt.done) == FC_IWAIT_FAILED) {
				if (own || rejoined) {
					retry = inline_sigbus(m);
					next = INL_DONE;
				}
				rejoined = true;
			}
		} else if (next == INL_RETRY) {
			usleep(100);
		} else if (next == INL_EOF) {
			retry = inline_eof(m, addr);
			next = INL_DONE;
		}
		fc__act(m->h, &p);
	} while (next != INL_DONE);
	if (retry && !c->copy_mode) {	/* copy mode times it in unpin() */
		pthread_mutex_lock(&c->lock);
		fc__stat_latency(c, t0);
		pthread_mutex_unlock(&c->lock);
	}
	fc__mapping_put(m);
	atomic_fetch_sub(&c->inline_active, 1);	/* c may go after this */
	return retry;
}
