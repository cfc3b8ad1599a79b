/* SPDX-License-Identifier: MIT */
/* plan.h - the plan/act phases of resolving faults (plan.c). */
#ifndef FC_PLAN_H
#define FC_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "types.h"

enum act_kind {
	ACT_INSTALL,
	ACT_POISON,	/* the read failed: SIGBUS */
	ACT_WAKE,
	ACT_EOF,	/* past the end: look at the size again, else SIGBUS */
};

/* One thing to do after the lock is dropped. Holds a mapping reference. */
struct act {
	enum act_kind kind;
	struct fc_mapping *m;
	uint64_t first, end;	/* pinned cache pages [first, end) */
	uint64_t addr;		/* fault address, 0 for install-ahead */
	uint64_t t0;
	pid_t tid;		/* faulting thread (for SIGBUS), 0 if unknown */
	uint64_t skip;		/* page not to install (marker), or ~0 */
	uint64_t lim;		/* bytes of the view inside the file */
	uint64_t reserved;	/* copy mode: pages in cache->copy_reserved */
	bool fault_only;	/* copy mode, over budget: the fault page only */
	bool timed;		/* ACT_WAKE that resolves a fault: latency */
};

struct plan {
	struct act *v;
	size_t n, cap;
	struct fc_mapping **puts;	/* references to drop after the lock */
	size_t nputs, capputs;
	bool fixed;	/* v and puts are the caller's arrays: never grown */
};

/*
 * A plan on the stack of an inline fault: it never allocates, so a fault
 * on a cached page allocates nothing (and what does not fit is done by
 * the fault coming again).
 */
#define INLINE_PLAN(name)                                                  \
	struct act name##_v[8];                                            \
	struct fc_mapping *name##_puts[16];                                \
	struct plan name = { name##_v, 0, 8, name##_puts, 0, 16, true }

void fc__plan_put(struct plan *p, struct fc_mapping *m);
int fc__plan_install(struct plan *p, struct fc_mapping *m, uint64_t first,
		     uint64_t end, uint64_t addr, uint64_t t0, uint64_t skip);
void fc__plan_simple(struct plan *p, enum act_kind kind,
		     struct fc_mapping *m, uint64_t addr, uint64_t t0,
		     pid_t tid);
void fc__plan_wake(struct plan *p, struct fc_mapping *m, uint64_t addr,
		   uint64_t t0);
void fc__mapped_ahead(struct fc_mapping *m, struct fc_page *pg);
void fc__act(struct fc_handler *h, struct plan *p);
struct fc_waiter *fc__waiter_new(struct fc_mapping *m, uint64_t addr,
				 uint64_t t0, pid_t tid,
				 struct fc_waiter *next);
void fc__defer(struct fc_handler *h, struct fc_mapping *m, uint64_t addr,
	       uint64_t t0, pid_t tid);

#endif
