/* SPDX-License-Identifier: MIT */
/* io.h - outcome of one io_uring completion, decided by fc__io_complete. */
#ifndef FC_IO_H
#define FC_IO_H

#include "internal.h"

enum fc_io_outcome {
	FC_IO_DONE,		/* all bytes read (zero-filled past EOF) */
	FC_IO_AGAIN,		/* resubmitted: short read or -EAGAIN */
	FC_IO_FAILED,		/* error; *err says which */
	FC_IO_EOF,		/* the source ended early (rest zeroed) */
};

enum fc_io_outcome fc__io_complete(struct fc_handler *h, struct fc_io *io,
				   int res, int *err);
enum fc_io_outcome fc__io_sync(struct fc_io *io, int *err);
int64_t fc__io_store(struct fc_io *io, struct fc_mapping *m);

#define FC_TAG_UFFD ((uint64_t)1)
#define FC_TAG_EVFD ((uint64_t)2)
#define FC_TAG_INOTIFY ((uint64_t)3)

#endif
