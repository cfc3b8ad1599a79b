/* SPDX-License-Identifier: MIT */
/* collapse.h - the fc-collapse thread (collapse.c). */
#ifndef FC_COLLAPSE_H
#define FC_COLLAPSE_H

#include <stdbool.h>

#include "types.h"

int fc__collapse_start(struct fc_cache *c);
void fc__collapse_stop(struct fc_cache *c);
bool fc__collapse_idle(const struct fc_cache *c);

#endif
