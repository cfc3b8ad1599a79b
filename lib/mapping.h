/* SPDX-License-Identifier: MIT */
/* mapping.h - a mapping's references and teardown (mapping.c). */
#ifndef FC_MAPPING_H
#define FC_MAPPING_H

#include "types.h"

void fc__mapping_put(struct fc_mapping *m);
void fc__mapping_unmap(struct fc_mapping *m);
void fc__unmap_all(struct fc_cache *c);

#endif
