/* SPDX-License-Identifier: MIT */
/* radix.c - the page cache index. See radix.h for the invariants. */
#include <errno.h>
#include <stdlib.h>

#include "radix.h"

#define MASK (FC_RADIX_SLOTS - 1)

void fc__radix_init(struct fc_radix *t)
{
	t->root = NULL;
	t->height = 0;
	t->nr_entries = 0;
	t->nr_nodes = 0;
}

static void free_node(struct fc_radix *t, struct fc_radix_node *n)
{
	unsigned i;

	if (n->shift)
		for (i = 0; i < FC_RADIX_SLOTS; i++)
			if (n->slots[i])
				free_node(t, n->slots[i]);
	free(n);
	t->nr_nodes--;
}

void fc__radix_destroy(struct fc_radix *t)
{
	if (t->root)
		free_node(t, t->root);
	fc__radix_init(t);
}

static uint64_t max_key(unsigned height)
{
	if (height * FC_RADIX_BITS >= 64)
		return UINT64_MAX;
	return ((uint64_t)1 << (height * FC_RADIX_BITS)) - 1;
}

void *fc__radix_lookup_near(const struct fc_radix *t,
			    struct fc_radix_cursor *cur, uint64_t key)
{
	const struct fc_radix_node *n = t->root;

	if (cur->leaf && cur->base == key >> FC_RADIX_BITS)
		return cur->leaf->slots[key & MASK];
	cur->leaf = NULL;
	if (!n || key > max_key(t->height))
		return NULL;
	while (n->shift) {
		n = n->slots[(key >> n->shift) & MASK];
		if (!n)
			return NULL;
	}
	cur->leaf = n;
	cur->base = key >> FC_RADIX_BITS;
	return n->slots[key & MASK];
}

void *fc__radix_lookup(const struct fc_radix *t, uint64_t key)
{
	struct fc_radix_cursor cur = { 0 };

	return fc__radix_lookup_near(t, &cur, key);
}

void *fc__radix_replace(struct fc_radix *t, uint64_t key, void *value)
{
	struct fc_radix_node *n = t->root;
	void *old;

	if (!n || !value || ((uintptr_t)value & 1) || key > max_key(t->height))
		return NULL;
	while (n->shift) {
		n = n->slots[(key >> n->shift) & MASK];
		if (!n)
			return NULL;
	}
	old = n->slots[key & MASK];
	if (old)
		n->slots[key & MASK] = value;
	return old;
}

static struct fc_radix_node *new_node(struct fc_radix *t, unsigned shift)
{
	struct fc_radix_node *n = calloc(1, sizeof(*n));

	if (n) {
		n->shift = shift;
		t->nr_nodes++;
	}
	return n;
}

/* Add levels on top until @key fits. */
static int grow(struct fc_radix *t, uint64_t key)
{
	while (key > max_key(t->height)) {
		struct fc_radix_node *n;

		if (!t->root) {
			t->height++;
			continue;
		}
		n = new_node(t, t->height * FC_RADIX_BITS);
		if (!n)
			return -ENOMEM;
		n->slots[0] = t->root;
		n->count = 1;
		t->root = n;
		t->height++;
	}
	if (!t->height)
		t->height = 1;
	return 0;
}

int fc__radix_insert(struct fc_radix *t, uint64_t key, void *value)
{
	struct fc_radix_node *n;
	int ret;

	if (!value || ((uintptr_t)value & 1))
		return -EINVAL;
	ret = grow(t, key);
	if (ret)
		return ret;
	if (!t->root) {
		t->root = new_node(t, (t->height - 1) * FC_RADIX_BITS);
		if (!t->root)
			return -ENOMEM;
	}
	n = t->root;
	while (n->shift) {
		void **slot = &n->slots[(key >> n->shift) & MASK];

		if (!*slot) {
			*slot = new_node(t, n->shift - FC_RADIX_BITS);
			if (!*slot)
				return -ENOMEM;
			n->count++;
		}
		n = *slot;
	}
	if (n->slots[key & MASK])
		return -EEXIST;
	n->slots[key & MASK] = value;
	n->count++;
	t->nr_entries++;
	return 0;
}

/*
 * An empty node left by a failed insert (-ENOMEM half way down) is also
 * reclaimed here: delete frees every node whose count drops to zero.
 */
static void *delete_rec(struct fc_radix *t, struct fc_radix_node *n,
			uint64_t key, bool *empty)
{
	void **slot = &n->slots[(key >> n->shift) & MASK];
	void *v = *slot;
	bool child_empty = false;

	*empty = false;
	if (!v)
		return NULL;
	if (n->shift) {
		v = delete_rec(t, *slot, key, &child_empty);
		if (!child_empty)
			return v;
		free(*slot);
		t->nr_nodes--;
	} else {
		t->nr_entries--;
	}
	*slot = NULL;
	*empty = --n->count == 0;
	return v;
}

/* Drop root levels that only lead to slot 0, keeping lookups short. */
static void shrink(struct fc_radix *t)
{
	while (t->root && t->root->shift && t->root->count == 1 &&
	       t->root->slots[0]) {
		struct fc_radix_node *n = t->root;

		t->root = n->slots[0];
		free(n);
		t->nr_nodes--;
		t->height--;
	}
}

void *fc__radix_delete(struct fc_radix *t, uint64_t key)
{
	bool empty = false;
	void *v;

	if (!t->root || key > max_key(t->height))
		return NULL;
	v = delete_rec(t, t->root, key, &empty);
	if (empty) {
		free(t->root);
		t->nr_nodes--;
		t->root = NULL;
		t->height = 0;
	}
	shrink(t);
	return v;
}

/* Leftmost entry with key >= @from under @n, whose first key is @base. */
static void *next_rec(const struct fc_radix_node *n, uint64_t base,
		      uint64_t from, uint64_t *out)
{
	uint64_t span = (uint64_t)1 << n->shift;
	unsigned i = from > base ? (from - base) >> n->shift : 0;

	for (; i < FC_RADIX_SLOTS; i++) {
		uint64_t k = base + i * span;
		void *v = n->slots[i];

		if (!v)
			continue;
		if (!n->shift) {
			*out = k;
			return v;
		}
		v = next_rec(v, k, from, out);
		if (v)
			return v;
	}
	return NULL;
}

void *fc__radix_next(const struct fc_radix *t, uint64_t *key)
{
	if (!t->root || *key > max_key(t->height))
		return NULL;
	return next_rec(t->root, 0, *key, key);
}

static bool check_rec(const struct fc_radix_node *n, unsigned shift,
		      size_t *entries, size_t *nodes)
{
	unsigned i, c = 0;

	(*nodes)++;
	if (n->shift != shift)
		return false;
	for (i = 0; i < FC_RADIX_SLOTS; i++) {
		if (!n->slots[i])
			continue;
		c++;
		if (!shift) {
			if ((uintptr_t)n->slots[i] & 1)
				return false;
			(*entries)++;
		} else if (!check_rec(n->slots[i], shift - FC_RADIX_BITS,
				      entries, nodes)) {
			return false;
		}
	}
	return c == n->count && c > 0;
}

bool fc__radix_check(const struct fc_radix *t)
{
	size_t entries = 0, nodes = 0;

	if (!t->root)
		return t->nr_entries == 0 && t->nr_nodes == 0;
	if (!check_rec(t->root, (t->height - 1) * FC_RADIX_BITS, &entries,
		       &nodes))
		return false;
	return entries == t->nr_entries && nodes == t->nr_nodes;
}
