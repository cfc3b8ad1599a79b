/* SPDX-License-Identifier: MIT */
/*
 * radix.h - the page cache index: a radix tree from page index to entry.
 *
 *   root --> [ 64 slots ] shift = 6 * (height - 1)
 *              |    |
 *        [64 slots] [64 slots]  ...   leaves hold entry pointers
 *
 * Invariants (checked by fc__radix_check in debug builds):
 *  - every key stored is < 64^height; the root is NULL iff the tree is empty;
 *  - a node's count equals its number of non-NULL slots and is never 0
 *    (empty nodes are freed on delete, so memory follows the live entries);
 *  - values are non-NULL pointers with the low bit clear; the tree never
 *    dereferences them.
 * Not thread-safe: the caller holds the cache lock.
 */
#ifndef FC_RADIX_H
#define FC_RADIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_RADIX_BITS 6
#define FC_RADIX_SLOTS (1u << FC_RADIX_BITS)

struct fc_radix_node {
	void *slots[FC_RADIX_SLOTS];
	unsigned count;
	unsigned shift;
};

struct fc_radix {
	struct fc_radix_node *root;
	unsigned height;	/* 0 when empty */
	size_t nr_entries;
	size_t nr_nodes;
};

void fc__radix_init(struct fc_radix *t);
/* Frees all nodes (not the values). */
void fc__radix_destroy(struct fc_radix *t);
void *fc__radix_lookup(const struct fc_radix *t, uint64_t key);
/*
 * Lookups of nearby keys: the cursor remembers the last leaf, so keys of
 * the same leaf (64 consecutive keys) cost one descent between them. Zero
 * it before use; it is valid until the next delete from @t (which may
 * free the leaf): zero it again after one.
 */
struct fc_radix_cursor {
	const struct fc_radix_node *leaf;	/* NULL: none remembered */
	uint64_t base;				/* key >> FC_RADIX_BITS of @leaf */
};
void *fc__radix_lookup_near(const struct fc_radix *t,
			    struct fc_radix_cursor *cur, uint64_t key);
/* 0, -EEXIST if key present, -ENOMEM, -EINVAL for a NULL/tagged value. */
int fc__radix_insert(struct fc_radix *t, uint64_t key, void *value);
/* Returns the removed value or NULL. */
void *fc__radix_delete(struct fc_radix *t, uint64_t key);
/*
 * Put @value (non-NULL, low bit clear) in place of the entry at @key,
 * allocating nothing. Returns the old value, or NULL (nothing stored)
 * when @key is absent.
 */
void *fc__radix_replace(struct fc_radix *t, uint64_t key, void *value);
/*
 * First entry with key >= *key; stores its key in *key. NULL when none.
 * Used to walk the whole tree (teardown) without a separate list.
 */
void *fc__radix_next(const struct fc_radix *t, uint64_t *key);
/* Walk the structure and verify every invariant above. true when sound. */
bool fc__radix_check(const struct fc_radix *t);

#endif
