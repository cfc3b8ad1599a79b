/* SPDX-License-Identifier: MIT */
/* io.h - reads: io_uring, backends, staging, and into the store (io.c). */
#ifndef FC_IO_H
#define FC_IO_H

#include <stdint.h>

#include "types.h"

#define FC_MAX_IO_BYTES (1u << 20)	/* the longest read */

/* How a read (or one completion of it) ended. */
enum fc_io_outcome {
	FC_IO_DONE,		/* all bytes read (zero-filled past EOF) */
	FC_IO_AGAIN,		/* resubmitted: short read or -EAGAIN */
	FC_IO_FAILED,		/* error; *err says which */
	FC_IO_EOF,		/* the source ended early (rest zeroed) */
};

int fc__io_ring_init(struct fc_handler *h);
struct fc_io *fc__io_new(struct fc_file *f, uint64_t index, uint32_t nr);
void fc__io_free(struct fc_io *io);
void fc__io_queue(struct fc_handler *h, struct fc_io *io);
void fc__io_hand(struct fc_handler *h, struct fc_io *io, struct fc_io **out);
void fc__io_submit(struct fc_handler *h);
enum fc_io_outcome fc__io_complete(struct fc_handler *h, struct fc_io *io,
				   int res, int *err);
enum fc_io_outcome fc__io_sync(struct fc_io *io, int *err);
int64_t fc__io_store(struct fc_io *io, struct fc_mapping *m);
void fc__stage_init(struct fc_cache *c);
void fc__stage_destroy(struct fc_cache *c);
void fc__stage_set_max(struct fc_cache *c, size_t idle_max);
void fc__stage_shrink(struct fc_cache *c, bool all);
/* test hook: make reads covering file offset @off fail @count times */
void fc__io_inject_error(uint64_t off, int count, int err);

#endif
