/* SPDX-License-Identifier: MIT */
/* file.h - the cache's file objects (file.c). */
#ifndef FC_FILE_H
#define FC_FILE_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "types.h"

struct fc_file *fc__file_get(struct fc_cache *c, int fd,
			     const struct stat *st, uint64_t need, int *err);
struct fc_file *fc__file_backend(struct fc_cache *c,
				 const struct fc_backend_ops *ops, void *ctx,
				 uint64_t size, uint64_t need, int *err);
void fc__file_take(struct fc_cache *c, struct fc_file *f);
void fc__file_put(struct fc_cache *c, struct fc_file *f);
void fc__files_reap(struct fc_cache *c);
void fc__file_revalidate(struct fc_cache *c, struct fc_file *f);
void fc__file_revalidate_locked(struct fc_cache *c, struct fc_file *f);
void fc__files_revalidate_put(struct fc_cache *c, struct fc_file **v,
			      size_t n);
void fc__file_size_lock(struct fc_file *f);
void fc__file_size_unlock(struct fc_file *f);
void fc__files_notified(struct fc_cache *c);
void fc__retained_trim(struct fc_cache *c, unsigned keep);

#endif
