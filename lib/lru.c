/* SPDX-License-Identifier: MIT */
/* lru.c - eviction policy. See lru.h for the model and invariants. */
#include <errno.h>
#include <stdlib.h>

#include "lru.h"

static void list_init(struct fc_lru_node *h)
{
	h->prev = h->next = h;
}

static void unlink_node(struct fc_lru *lru, struct fc_lru_node *n)
{
	if (lru->hand == n)
		lru->hand = n->prev;	/* passed too, or the head */
	if (n->passed) {
		lru->behind--;
		n->passed = 0;
	}
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
	lru->count[n->active]--;
	n->linked = 0;
}

static void add_tail(struct fc_lru *lru, struct fc_lru_node *n, int which)
{
	struct fc_lru_node *h = &lru->list[which];

	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
	n->active = (uint8_t)which;
	n->linked = 1;
	n->seq = lru->clock;
	lru->count[which]++;
}

void fc__lru_init(struct fc_lru *lru, size_t capacity)
{
	list_init(&lru->list[0]);
	list_init(&lru->list[1]);
	lru->count[0] = lru->count[1] = 0;
	lru->hand = &lru->list[0];
	lru->behind = 0;
	lru->clock = 0;
	fc__lru_set_capacity(lru, capacity);
}

/* Keep the active list within bounds by demoting its oldest pages. */
static void balance(struct fc_lru *lru)
{
	while (lru->count[1] > lru->active_max) {
		struct fc_lru_node *n = lru->list[1].next;

		unlink_node(lru, n);
		n->referenced = 0;
		add_tail(lru, n, 0);
	}
}

/* The cache holds @capacity pages now: the active list's bound follows. */
void fc__lru_set_capacity(struct fc_lru *lru, size_t capacity)
{
	/* leave a quarter for new pages so a scan cannot flush the hot set */
	lru->active_max = capacity - capacity / 4;
	if (!lru->active_max)
		lru->active_max = 1;
	balance(lru);
}

void fc__lru_insert(struct fc_lru *lru, struct fc_lru_node *n, bool activate)
{
	n->referenced = 0;
	lru->clock++;
	add_tail(lru, n, activate ? 1 : 0);
	balance(lru);
}

void fc__lru_access(struct fc_lru *lru, struct fc_lru_node *n)
{
	if (!n->linked)
		return;
	if (n->active) {
		/* refresh: move to the tail of active */
		unlink_node(lru, n);
		add_tail(lru, n, 1);
		return;
	}
	if (!n->referenced) {
		n->referenced = 1;
		return;
	}
	unlink_node(lru, n);
	n->referenced = 0;
	add_tail(lru, n, 1);
	balance(lru);
}

void fc__lru_activate(struct fc_lru *lru, struct fc_lru_node *n)
{
	n->referenced = 0;
	add_tail(lru, n, 1);
	balance(lru);
}

void fc__lru_remove(struct fc_lru *lru, struct fc_lru_node *n)
{
	if (n->linked)
		unlink_node(lru, n);
}

/*
 * Unlink up to @max nodes of list @which that are not busy, from its
 * head, into @out[*n..]. A busy node stays where it is, with its age and
 * its sampling state: moved to the tail, it would come back young, and a
 * page pinned a while (a collapse at nice 19 on a busy machine)
 * could then be zapped by the front hand and evicted unseen at once.
 */
static void take(struct fc_lru *lru, int which,
		 bool (*busy)(struct fc_lru_node *, void *), void *arg,
		 struct fc_lru_node **out, size_t *n, size_t max)
{
	struct fc_lru_node *h = &lru->list[which], *x, *next;

	for (x = h->next; x != h && *n < max; x = next) {
		next = x->next;
		if (busy(x, arg))
			continue;
		unlink_node(lru, x);
		out[(*n)++] = x;
	}
}

size_t fc__lru_victims(struct fc_lru *lru,
		       bool (*busy)(struct fc_lru_node *, void *), void *arg,
		       struct fc_lru_node **out, size_t max)
{
	size_t n = 0;

	take(lru, 0, busy, arg, out, &n, max);
	take(lru, 1, busy, arg, out, &n, max);
	return n;
}

struct fc_lru_node *fc__lru_victim(struct fc_lru *lru,
				   bool (*busy)(struct fc_lru_node *, void *),
				   void *arg)
{
	struct fc_lru_node *n;

	return fc__lru_victims(lru, busy, arg, &n, 1) ? n : NULL;
}

size_t fc__lru_age(struct fc_lru *lru, uint32_t age, size_t max,
		   void (*fn)(struct fc_lru_node *, void *), void *arg)
{
	size_t n = 0;

	while (n < max && lru->hand->next != &lru->list[0]) {
		struct fc_lru_node *x = lru->hand->next;

		if ((uint32_t)(lru->clock - x->seq) < age)
			break;
		x->passed = 1;
		lru->behind++;
		lru->hand = x;
		n++;
		fn(x, arg);
	}
	return n;
}

size_t fc__lru_size(const struct fc_lru *lru)
{
	return lru->count[0] + lru->count[1];
}

bool fc__lru_check(const struct fc_lru *lru)
{
	int w;

	for (w = 0; w < 2; w++) {
		const struct fc_lru_node *h = &lru->list[w], *n;
		const struct fc_lru_node *last = h;	/* last passed node */
		size_t c = 0, passed = 0;

		for (n = h->next; n != h; n = n->next) {
			if (n->active != w || !n->linked || n->next->prev != n)
				return false;
			if (++c > lru->count[w])
				return false;
			if (n->passed) {	/* a prefix of inactive */
				if (w || passed + 1 != c)
					return false;
				passed++;
				last = n;
			}
		}
		if (c != lru->count[w])
			return false;
		if (!w && (passed != lru->behind || last != lru->hand))
			return false;
	}
	return true;
}

int fc__shadows_init(struct fc_shadows *s, size_t nr)
{
	size_t n = 1;

	while (n < nr)
		n <<= 1;
	s->slots = calloc(n, sizeof(*s->slots));
	if (!s->slots)
		return -ENOMEM;
	s->nr = s->cap = n;
	s->clock = 0;
	return 0;
}

/*
 * A smaller budget hashes over fewer slots, so that evictions touch no
 * more of the table than the budget's share: shadows left in the others
 * are forgotten, or found again if it grows (a refault taken for a first
 * read or the reverse: a policy slip, never wrong bytes).
 */
void fc__shadows_resize(struct fc_shadows *s, size_t nr)
{
	size_t n = 1;

	while (n < nr && n < s->cap)
		n <<= 1;
	s->nr = n;
}

void fc__shadows_destroy(struct fc_shadows *s)
{
	free(s->slots);
	s->slots = NULL;
}

static struct fc_shadow_slot *slot_of(struct fc_shadows *s, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;

	return &s->slots[(h >> 17) & (s->nr - 1)];
}

void fc__shadow_evicted(struct fc_shadows *s, uint64_t key)
{
	struct fc_shadow_slot *sl = slot_of(s, key);

	sl->key = key;
	sl->clock = ++s->clock;
}

bool fc__shadow_refault(struct fc_shadows *s, uint64_t key, size_t distance)
{
	struct fc_shadow_slot *sl = slot_of(s, key);
	bool hit;

	if (!sl->clock || sl->key != key)
		return false;
	hit = s->clock - sl->clock <= distance;
	sl->clock = 0;
	return hit;
}
