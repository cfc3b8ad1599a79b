/* SPDX-License-Identifier: MIT */
/*
 * plan.c - how a fault is resolved without an ioctl under cache->lock:
 * in two phases,
 *   plan (lock held): look pages up, start reads, pin the pages to install;
 *   act  (no lock):   UFFDIO_COPY / POISON / WAKE, then unpin.
 * A plan is a list of acts, each holding a reference on its mapping, and
 * of mapping references to drop once the lock is released. Also here: the
 * waiters a fault leaves on a read, or on its handler when no page could
 * be had (deferred).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "file.h"
#include "lru.h"
#include "mapping.h"
#include "maptab.h"
#include "plan.h"
#include "radix.h"
#include "reclaim.h"
#include "stats.h"
#include "store.h"
#include "uffd.h"
#include "util.h"
#include "view.h"

/*
 * Drop @m's reference once the lock is released (the last reference
 * takes the lock itself). If no room can be found, drop it now: the plan
 * entries just taken keep it above zero except in the dead-mapping case,
 * where the extra reference is leaked rather than deadlocking.
 */
void fc__plan_put(struct plan *p, struct fc_mapping *m)
{
	if (p->nputs == p->capputs) {
		size_t cap = p->capputs ? 2 * p->capputs : 64;
		struct fc_mapping **v = p->fixed ? NULL
						 : realloc(p->puts, cap * sizeof(*v));

		if (!v) {
			int r = atomic_load(&m->refs);

			/* one step: two threads must not both see 2 and drop */
			while (r > 1 &&
			       !atomic_compare_exchange_weak(&m->refs, &r, r - 1))
				;
			return;
		}
		p->puts = v;
		p->capputs = cap;
	}
	p->puts[p->nputs++] = m;
}

static struct act *plan_add(struct plan *p)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct act *v = p->fixed ? NULL : realloc(p->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	memset(&p->v[p->n], 0, sizeof(p->v[0]));
	p->v[p->n].skip = ~0ull;
	return &p->v[p->n++];
}

static void mark_used(struct fc_cache *c, struct fc_page *pg)
{
	if (pg->ra_unused) {
		pg->ra_unused = 0;
		c->st.ra_used++;
	}
}

/*
 * @pg is mapped in @m's view now: it counts as used, and is watched by
 * sampling when @m's accesses count as references. Context: cache->lock held.
 */
void fc__mapped_ahead(struct fc_mapping *m, struct fc_page *pg)
{
	fc__assert_held(&m->cache->lock);
	mark_used(m->cache, pg);
	if (m->ra.advice == FC_RA_NORMAL)
		pg->sample = FC_SAMPLE_MAPPED;
}

/*
 * Pin [first, end) of @m's file and queue its installation. The caller has
 * checked every page in the range is UPTODATE.
 * Context: cache->lock held.
 */
int fc__plan_install(struct plan *p, struct fc_mapping *m, uint64_t first,
		     uint64_t end, uint64_t addr, uint64_t t0, uint64_t skip)
{
	struct act *a = plan_add(p);
	struct fc_radix_cursor cur = { 0 };
	uint64_t i;

	fc__assert_held(&m->cache->lock);
	if (!a)
		return -ENOMEM;
	for (i = first; i < end; i++) {
		struct fc_page *pg = fc__radix_lookup_near(&m->file->tree,
							   &cur, i);

		if (i == skip)
			continue;
		pg->pins++;
		mark_used(m->cache, pg);
		if (m->ra.advice != FC_RA_NORMAL) {
			if (pg->sample == FC_SAMPLE_ZAPPED)
				pg->sample = FC_SAMPLE_NONE;	/* unwatched */
			continue;
		}
		/*
		 * A sampled page mapped again along with a fault on a
		 * neighbour counts as used, as the kernel's fault-around
		 * PTEs are young: one fault brings a block of a hot set
		 * back, not one page.
		 */
		if (pg->sample == FC_SAMPLE_ZAPPED)
			fc__lru_access(&m->cache->lru, &pg->lru);
		pg->sample = FC_SAMPLE_MAPPED;
	}
	if (m->cache->copy_mode) {	/* room is made before fc__act() copies */
		a->reserved = end - first;
		m->cache->copy_reserved += a->reserved;
	}
	fc__mapping_get(m);
	a->kind = ACT_INSTALL;
	a->m = m;
	a->first = first;
	a->end = end;
	a->addr = addr;
	a->t0 = t0;
	a->skip = skip;
	a->lim = fc__view_eof(m);
	return 0;
}

void fc__plan_simple(struct plan *p, enum act_kind kind,
		     struct fc_mapping *m, uint64_t addr, uint64_t t0,
		     pid_t tid)
{
	struct act *a = plan_add(p);

	if (!a)
		return;	/* the thread is woken by its duplicate fault */
	fc__mapping_get(m);
	a->kind = kind;
	a->m = m;
	a->addr = addr;
	a->t0 = t0;
	a->tid = tid;
}

/* Wake the thread faulting at @addr in @m, and time its fault. */
void fc__plan_wake(struct plan *p, struct fc_mapping *m, uint64_t addr,
		   uint64_t t0)
{
	fc__plan_simple(p, ACT_WAKE, m, addr, t0, 0);
	if (p->n && p->v[p->n - 1].m == m && p->v[p->n - 1].addr == addr)
		p->v[p->n - 1].timed = true;
}

struct fc_waiter *fc__waiter_new(struct fc_mapping *m, uint64_t addr,
				 uint64_t t0, pid_t tid,
				 struct fc_waiter *next)
{
	struct fc_waiter *w = malloc(sizeof(*w));

	if (!w)
		return NULL;
	fc__mapping_get(m);
	w->m = m;
	w->addr = addr;
	w->t0 = t0;
	w->tid = tid;
	w->own = false;
	w->next = next;
	return w;
}

/* No page to be had now: retry the fault after the next completion. */
void fc__defer(struct fc_handler *h, struct fc_mapping *m, uint64_t addr,
	       uint64_t t0, pid_t tid)
{
	struct fc_waiter *w = fc__waiter_new(m, addr, t0, tid, h->deferred);

	if (w)	/* else the re-sent fault message brings it back */
		h->deferred = w;
}

/* ---- the act phase (no lock) ---- */

/* Address of cache page @index in @m, clipped to [base, base + lim]. */
static char *page_addr(const struct fc_mapping *m, uint64_t index, size_t ps,
		       uint64_t lim)
{
	uint64_t off = index * ps;

	if (off < m->offset)
		off = m->offset;
	if (off > m->offset + lim)
		off = m->offset + lim;
	return m->base + (off - m->offset);
}

/*
 * Install view bytes [lo, hi) of @m: map the store's pages, or copy them
 * from the alias (FC_CONFIG_COPY) and count the copies.
 */
static int64_t install(struct fc_mapping *m, char *lo, char *hi, bool wake)
{
	const char *src = NULL;
	int64_t n;

	if (m->copied)
		src = fc__store_alias(m->file,
				      m->offset + (uint64_t)(lo - m->base));
	n = fc__uffd_install(m->uffd, lo, hi, src, wake);
	if (n > 0 && m->copied)
		fc__view_copied(m, lo, (size_t)n);
	return n;
}

static void do_install(struct fc_cache *c, struct act *a)
{
	size_t ps = c->cfg.page_size, sp = c->sys_page;
	struct fc_mapping *m = a->m;
	char *lo = page_addr(m, a->first, ps, a->lim);
	char *hi = page_addr(m, a->end, ps, a->lim);
	char *fault = (char *)(uintptr_t)a->addr;
	int64_t ret;

	if (m->dead || (a->fault_only && !fault))
		return;
	if (a->skip != ~0ull) {	/* install ahead around the marker */
		char *s = page_addr(m, a->skip, ps, a->lim);
		char *e = page_addr(m, a->skip + 1, ps, a->lim);

		install(m, lo, s, true);
		install(m, e, hi, true);
		return;
	}
	if (!fault) {
		install(m, lo, hi, true);
		return;
	}
	/*
	 * The faulting page alone first, so its thread runs again after one
	 * page, not after the whole run, then its neighbours without waking
	 * anyone (docs/design.md, "Wake first").
	 */
	fault = (char *)((uintptr_t)fault & ~(uintptr_t)(sp - 1));
	if (fault >= hi) {	/* the file shrank since the plan */
		fc__uffd_wake(m->uffd, fault, sp);
		return;
	}
	ret = install(m, fault, fault + sp, true);
	if (ret < 0 && ret != -ENOENT && ret != -EINVAL)
		fc__uffd_wake(m->uffd, fault, sp);
	if (a->fault_only)
		return;
	install(m, fault + sp, hi, false);
	install(m, lo, fault, false);
}

static void do_poison(struct fc_cache *c, struct act *a)
{
	size_t sp = c->sys_page;
	char *fault = (char *)((uintptr_t)a->addr & ~(uintptr_t)(sp - 1));

	if (a->m->dead)
		return;
	/*
	 * Without UFFDIO_POISON (before 6.6), signal the faulting thread
	 * (known from UFFD_FEATURE_THREAD_ID) and wake it: it takes SIGBUS
	 * on its way back to user mode, without si_addr (fc_map(3)).
	 */
	if (fc__uffd_poison(a->m->uffd, fault, sp)) {
		if (a->tid > 0)
			syscall(SYS_tgkill, getpid(), a->tid, SIGBUS);
		fc__uffd_wake(a->m->uffd, fault, sp);
	}
}

/* Context: cache->lock held. */
static void unpin(struct fc_cache *c, struct act *a)
{
	struct fc_radix_cursor cur = { 0 };
	uint64_t i;

	fc__assert_held(&c->lock);
	for (i = a->first; i < a->end; i++) {
		struct fc_page *pg = fc__radix_lookup_near(&a->m->file->tree,
							   &cur, i);

		if (i != a->skip && pg) {
			fc__assert(pg->pins);
			pg->pins--;
			if (!a->fault_only)
				c->st.pages_installed++;
			if (pg->stale && !pg->pins) {	/* the file changed */
				fc__page_drop(c, pg);
				cur.leaf = NULL;	/* it may free the leaf */
			}
		}
	}
	if (a->fault_only && a->addr)
		c->st.pages_installed++;
	c->copy_reserved -= a->reserved;
	if (a->addr)
		fc__stat_latency(c, a->t0);
}

/*
 * A fault past the end of the file: the file may have grown (the size is
 * looked at again, and the fault retried); else SIGBUS, as the kernel
 * gives past the end of a mapped file.
 */
static void do_eof(struct fc_handler *h, struct act *a)
{
	struct fc_cache *c = h->cache;
	bool inside;

	if (a->m->dead) {
		fc__uffd_wake(a->m->uffd, (char *)(uintptr_t)a->addr,
			      c->sys_page);
		return;
	}
	/* no growth may clear the markers between the check and the poison */
	fc__file_size_lock(a->m->file);
	fc__file_revalidate_locked(c, a->m->file);
	pthread_mutex_lock(&c->lock);
	inside = a->addr - (uintptr_t)a->m->base < fc__view_eof(a->m);
	if (!inside)
		c->st.sigbus++;
	else
		fc__defer(h, a->m, a->addr, a->t0, a->tid);
	pthread_mutex_unlock(&c->lock);
	if (!inside)
		do_poison(c, a);
	fc__file_size_unlock(a->m->file);
}

/*
 * Copy mode, @excess cache pages over the budget after eviction (the rest
 * is pinned or being read): give up planned copies until it fits, the
 * speculative ones first (install-ahead, then a fault's neighbours). The
 * faulting page itself is always copied, so the overshoot is bounded by
 * one page per fault being resolved. Context: cache->lock held.
 */
static void copy_shed(struct fc_cache *c, struct plan *p, uint64_t excess)
{
	int pass;
	size_t i;

	fc__assert_held(&c->lock);
	for (pass = 0; pass < 2 && excess; pass++) {
		for (i = 0; i < p->n && excess; i++) {
			struct act *a = &p->v[i];
			bool ahead = !a->addr;	/* no thread waits for it */
			uint64_t keep = ahead ? 0 : 1, give;

			if (a->kind != ACT_INSTALL || a->fault_only ||
			    ahead != (pass == 0) || a->reserved <= keep)
				continue;
			give = a->reserved - keep;
			a->fault_only = true;
			a->reserved = keep;
			c->copy_reserved -= give;
			excess = excess > give ? excess - give : 0;
		}
	}
}

/*
 * Carry out @p, then release its pins and references.
 * Context: cache->lock NOT held.
 */
void fc__act(struct fc_handler *h, struct plan *p)
{
	struct fc_cache *c = h->cache;
	size_t i;

	fc__assert_not_held(&c->lock);
	/*
	 * Copy mode: evict for the planned copies now that their pages are
	 * pinned (not while planning: the planner still holds page pointers);
	 * what eviction cannot cover is not copied.
	 */
	if (c->copy_mode && p->n) {
		pthread_mutex_lock(&c->lock);
		copy_shed(c, p, fc__copy_trim(c));
		pthread_mutex_unlock(&c->lock);
	}
	for (i = 0; i < p->n; i++) {
		struct act *a = &p->v[i];

		if (a->kind == ACT_INSTALL)
			do_install(c, a);
		else if (a->kind == ACT_POISON)
			do_poison(c, a);
		else if (a->kind == ACT_EOF)
			do_eof(h, a);
		else
			fc__uffd_wake(a->m->uffd,
				      (char *)((uintptr_t)a->addr &
					       ~(uintptr_t)(c->sys_page - 1)),
				      c->sys_page);
	}
	for (i = 0; i < p->n && !c->copy_mode; i++)
		if (p->v[i].kind == ACT_INSTALL || p->v[i].timed)
			break;
	if (i < p->n || c->copy_mode) {	/* else nothing to do locked */
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < p->n; i++) {
			if (p->v[i].kind == ACT_INSTALL)
				unpin(c, &p->v[i]);
			else if (p->v[i].timed)
				fc__stat_latency(c, p->v[i].t0);
		}
		fc__copy_trim(c);
		fc__assert_cache(c);
		pthread_mutex_unlock(&c->lock);
	}
	for (i = 0; i < p->n; i++)
		fc__mapping_put(p->v[i].m);
	for (i = 0; i < p->nputs; i++)
		fc__mapping_put(p->puts[i]);
	p->n = 0;
	p->nputs = 0;
}
