/* SPDX-License-Identifier: MIT */
/* internal.h - the prototypes of the library's modules (being split up). */
#ifndef FC_INTERNAL_H
#define FC_INTERNAL_H

#include "chunk.h"
#include "completion.h"
#include "config.h"
#include "file.h"
#include "filemap.h"
#include "handler.h"
#include "inline.h"
#include "io.h"
#include "mapping.h"
#include "maptab.h"
#include "memlimit.h"
#include "polled.h"
#include "plan.h"
#include "reclaim.h"
#include "sigbus.h"
#include "stats.h"
#include "store.h"
#include "types.h"
#include "uffd.h"
#include "view.h"

/* cache.c */
bool fc__cache_valid(const struct fc_cache *c);

/* collapse.c */
int fc__collapse_start(struct fc_cache *c);
void fc__collapse_stop(struct fc_cache *c);
bool fc__collapse_idle(const struct fc_cache *c);
struct fc_cache *fc__default_cache(void);

#endif
