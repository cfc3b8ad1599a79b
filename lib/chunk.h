/* SPDX-License-Identifier: MIT */
/* chunk.h - the store's chunks whole in it, and the collapse queue. */
#ifndef FC_CHUNK_H
#define FC_CHUNK_H

#include <stdbool.h>
#include <stdint.h>

#include "types.h"

uint64_t fc__chunk_count(const struct fc_file *f, uint64_t k);
void fc__chunk_page_gone(struct fc_cache *c, const struct fc_page *pg);
bool fc__chunk_whole(const struct fc_cache *c, const struct fc_file *f,
		     uint64_t index);
void fc__collapse_queue(struct fc_cache *c, struct fc_page *pg);

#endif
