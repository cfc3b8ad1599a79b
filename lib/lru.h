/* SPDX-License-Identifier: MIT */
/*
 * lru.h - eviction policy: the kernel's two lists with workingset shadows.
 *
 *   insert --> [ inactive FIFO ] --2nd ref--> [ active FIFO ]
 *                 |   ^                           |
 *        victim <-+   +------- demote head -------+  (active > active_max)
 *           |
 *           +--> shadow(key, eviction clock) in a fixed-size table
 *
 * A page enters inactive. A second reference (a fault on the cached page)
 * while inactive promotes it to active, so a page used twice outlives a
 * one-pass scan. Victims come from the inactive head; busy pages (pinned,
 * being installed) are passed over where they stand, not evicted. When an
 * evicted page is read again within "refault distance" <= the number of
 * pages the cache holds, it was part of a working set that the inactive
 * list was too short to detect, and it is inserted straight into active
 * (mm/workingset.c).
 *
 * Userspace cannot read accessed bits, so a reference is a fault the
 * library sees, or (sampling) a page found mapped again after it was
 * zapped from the views; see docs/design.md.
 *
 * Invariants (fc__lru_check): every node is on exactly the list its
 * @active flag names; the counts equal the list lengths; the passed nodes
 * are a prefix of inactive ending at the hand, @behind of them.
 * Not thread-safe: the caller holds the cache lock.
 */
#ifndef FC_LRU_H
#define FC_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_lru_node {
	struct fc_lru_node *prev, *next;
	uint8_t active;		/* on the active list */
	uint8_t referenced;	/* referenced once while inactive */
	uint8_t linked;		/* on a list at all */
	uint8_t passed;		/* inactive, and the hand went past it */
	uint32_t seq;		/* lru->clock when it joined its list */
};

struct fc_lru {
	struct fc_lru_node list[2];	/* heads: [0] inactive, [1] active */
	size_t count[2];
	size_t active_max;		/* active list is trimmed above this */
	/*
	 * The front hand of a two-handed clock over inactive: the nodes from
	 * the head to @hand (the head itself when none) are passed, @behind
	 * of them. Victims are taken at the head, the back hand.
	 */
	struct fc_lru_node *hand;
	size_t behind;
	uint32_t clock;			/* nodes inserted so far (wraps) */
};

struct fc_shadow_slot {
	uint64_t key;
	uint64_t clock;		/* eviction clock at eviction; 0 = empty */
};

struct fc_shadows {
	struct fc_shadow_slot *slots;
	size_t nr;		/* power of two: the slots in use */
	size_t cap;		/* power of two: the slots allocated */
	uint64_t clock;		/* evictions so far */
};

void fc__lru_init(struct fc_lru *lru, size_t capacity);
void fc__lru_set_capacity(struct fc_lru *lru, size_t capacity);
/* New page; @activate when a shadow said it refaulted within distance. */
void fc__lru_insert(struct fc_lru *lru, struct fc_lru_node *n, bool activate);
/* A reference (fault) to a cached page. */
void fc__lru_access(struct fc_lru *lru, struct fc_lru_node *n);
void fc__lru_remove(struct fc_lru *lru, struct fc_lru_node *n);
/*
 * A victim (unlinked by fc__lru_victim) turned out to be in use: to the
 * active tail instead of eviction, as the kernel's reclaim activates a
 * folio whose accessed bit it finds set.
 */
void fc__lru_activate(struct fc_lru *lru, struct fc_lru_node *n);
/*
 * Move the front hand over inactive nodes not yet passed, oldest first,
 * while the next one joined inactive at least @age insertions ago, @max
 * at most; @fn(node, arg) is called on each (it may change the node's
 * referenced flag, not unlink it). Nodes are unpassed again when they
 * leave inactive. Returns how many were passed. This is how the caller
 * looks at pages some time before they are evicted (fc__cache_age()).
 */
size_t fc__lru_age(struct fc_lru *lru, uint32_t age, size_t max,
		   void (*fn)(struct fc_lru_node *, void *), void *arg);
/*
 * Pick up to @max victims, oldest first, unlink them and store them in
 * @out: from the inactive head, then, if that has too few, the active
 * head. @busy(node, arg) says whether a node may not be evicted now: it
 * is passed over and stays where it is. Returns how many were taken.
 */
size_t fc__lru_victims(struct fc_lru *lru,
		       bool (*busy)(struct fc_lru_node *, void *), void *arg,
		       struct fc_lru_node **out, size_t max);
/* The same for one victim: NULL if every page is busy. */
struct fc_lru_node *fc__lru_victim(struct fc_lru *lru,
				   bool (*busy)(struct fc_lru_node *, void *),
				   void *arg);
size_t fc__lru_size(const struct fc_lru *lru);
bool fc__lru_check(const struct fc_lru *lru);

/* Shadow table with @nr slots (rounded up to a power of two). -ENOMEM. */
int fc__shadows_init(struct fc_shadows *s, size_t nr);
void fc__shadows_destroy(struct fc_shadows *s);
/* Use the first @nr slots (rounded up, at most those allocated) only. */
void fc__shadows_resize(struct fc_shadows *s, size_t nr);
/* Remember that @key was just evicted; advances the eviction clock. */
void fc__shadow_evicted(struct fc_shadows *s, uint64_t key);
/*
 * @key is being read again: true when it was evicted no more than
 * @distance evictions ago (its shadow is consumed either way).
 */
bool fc__shadow_refault(struct fc_shadows *s, uint64_t key, size_t distance);

#endif
