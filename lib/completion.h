/* SPDX-License-Identifier: MIT */
/* completion.h - what happens when a read ends (completion.c). */
#ifndef FC_COMPLETION_H
#define FC_COMPLETION_H

#include "io.h"
#include "plan.h"
#include "types.h"

enum fc_io_outcome fc__io_end(struct fc_handler *h, struct plan *p,
			      struct fc_io *io, enum fc_io_outcome out,
			      struct fc_mapping *to, struct fc_io **split);
void fc__on_completion(struct fc_handler *h, struct plan *p,
		       struct fc_io *io, int res);
void fc__backend_drain(struct fc_handler *h, struct plan *p);

#endif
