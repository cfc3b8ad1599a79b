/* SPDX-License-Identifier: MIT */
/* invalidate.h - a range of a file dropped from the cache (invalidate.c). */
#ifndef FC_INVALIDATE_H
#define FC_INVALIDATE_H

#include <stdint.h>
#include <sys/stat.h>

#include "types.h"

int fc__file_invalidate(struct fc_cache *c, const struct stat *st,
			uint64_t off, uint64_t len);

#endif
