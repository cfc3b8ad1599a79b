/* SPDX-License-Identifier: MIT */
/*
 * store.h - where the cached bytes live (store.c): the memfd, the files'
 * regions and aliases, writes, punches and collapses.
 */
#ifndef FC_STORE_H
#define FC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

int fc__store_init(struct fc_cache *c);
void fc__store_destroy(struct fc_cache *c);
int fc__store_region_get(struct fc_cache *c, struct fc_file *f);
int fc__store_alias_map(struct fc_cache *c, struct fc_file *f);
void fc__store_region_free(struct fc_cache *c, const struct fc_file *f);
void fc__store_alias_unmap(struct fc_file *f);
void fc__store_fork_prepare(void);
void fc__store_fork_parent(void);
void fc__store_fork_child(void);
void *fc__store_reserve(const struct fc_cache *c, size_t len, uint64_t at);
void *fc__store_map(const struct fc_cache *c, const struct fc_file *f,
		    void *at, uint64_t off, size_t len);
int fc__store_write(struct fc_file *f, uint64_t off, const void *buf,
		    uint64_t len);
bool fc__store_holds(struct fc_cache *c, struct fc_file *f, uint64_t off);
void fc__store_punch(struct fc_cache *c, struct fc_file *f, uint64_t index,
		     uint64_t nr);
int fc__store_collapse(struct fc_file *f, uint64_t off, size_t len);
void *fc__held_alloc(size_t len);
void fc__held_free(void *held, size_t len);

/*
 * The store's bytes at offset @off of @f, through its alias: copy mode's
 * reads land there and its copies are taken from there.
 */
static inline char *fc__store_alias(const struct fc_file *f, uint64_t off)
{
	return f->alias + off;
}

#endif
