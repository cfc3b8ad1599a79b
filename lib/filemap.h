/* SPDX-License-Identifier: MIT */
/* filemap.h - filemap_fault() in userspace (filemap.c). */
#ifndef FC_FILEMAP_H
#define FC_FILEMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan.h"
#include "types.h"

struct fc_page *fc__mappable(struct fc_file *f, struct fc_radix_cursor *cur,
			     uint64_t index);
void fc__plan_around(struct plan *p, struct fc_mapping *m, uint64_t index,
		     uint64_t addr, uint64_t t0);
struct fc_io *fc__read_window(struct fc_handler *h, struct fc_mapping *m,
			      struct fc_ra_window w, uint64_t must,
			      struct fc_io **out);
void fc__async_readahead(struct fc_handler *h, struct fc_mapping *m,
			 struct fc_page *pg, struct fc_io **out);
bool fc__plan_hit(struct fc_handler *h, struct plan *p,
		  struct fc_mapping *m, struct fc_page *pg, uint64_t addr,
		  uint64_t t0, bool count, struct fc_io **out);
void fc__handle_fault(struct fc_handler *h, struct plan *p,
		      struct fc_mapping *m, uint64_t addr, uint64_t t0,
		      pid_t tid, bool retry);

#endif
