/* SPDX-License-Identifier: MIT */
/* mapping.h - a mapping's references and teardown (mapping.c). */
#ifndef FC_MAPPING_H
#define FC_MAPPING_H

#include <stdint.h>

#include "types.h"

void fc__mapping_put(struct fc_mapping *m);
void fc__mapping_unmap(struct fc_mapping *m);
void fc__unmap_all(struct fc_cache *c);
void fc__mapping_quiesce(struct fc_mapping *m);
struct fc_mapping *fc__mapping_adopt(struct fc_mapping *m, uintptr_t lo,
				     uintptr_t hi);
void fc__mapping_discard(struct fc_mapping *r);
void fc__mapping_take_copies(struct fc_mapping *r, struct fc_mapping *m);
void fc__mapping_retire(struct fc_mapping *m, uint64_t lo, uint64_t hi);
int fc__mapping_remap(uintptr_t from, uintptr_t to, size_t len);

#endif
