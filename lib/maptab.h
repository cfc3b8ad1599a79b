/* SPDX-License-Identifier: MIT */
/* maptab.h - the table from addresses to mappings (maptab.c). */
#ifndef FC_MAPTAB_H
#define FC_MAPTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

int fc__maptab_insert(struct fc_mapping *m);
void fc__maptab_remove_unmap(struct fc_mapping *m);
int fc__maptab_claim_except(uintptr_t lo, uintptr_t hi,
			    struct fc_mapping *const *mine, size_t nmine,
			    struct fc_mapping ***out, size_t *n);
int fc__maptab_claim(uintptr_t lo, uintptr_t hi, struct fc_mapping ***out,
		     size_t *n);
void fc__maptab_unclaim(struct fc_mapping **v, size_t n);
int fc__maptab_swap(struct fc_mapping **old, size_t nold,
		    struct fc_mapping **add, size_t nadd);
struct fc_mapping *fc__maptab_unmapping(const void *addr);
struct fc_mapping *fc__maptab_unmapping_of(const struct fc_cache *c);
void fc__mapping_get(struct fc_mapping *m);
struct fc_mapping *fc__mapping_lookup(uint64_t addr);
struct fc_mapping *fc__mapping_lookup_inline(uint64_t addr, bool *gone);
bool fc__maptab_foreign(uint64_t addr);
bool fc__addr_registered(uint64_t addr);
void fc__maptab_remap_begin(void);
void fc__maptab_remap_end(void);
void fc__mapping_clear_eof(struct fc_file *f, uint64_t old_size);
void fc__maptab_fork_prepare(void);
void fc__maptab_fork_parent(void);
void fc__maptab_fork_child(void);

#endif
