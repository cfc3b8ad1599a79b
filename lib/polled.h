/* SPDX-License-Identifier: MIT */
/* polled.h - polled reads of inline faults (polled.c). */
#ifndef FC_POLLED_H
#define FC_POLLED_H

#include <sys/types.h>

#include "types.h"

void fc__pollers_init(struct fc_cache *c, unsigned n);
void fc__pollers_destroy(struct fc_cache *c);
ssize_t fc__read_polled(struct fc_file *f, int fd, void *dst, size_t len,
			off_t off);
/* test hooks */
void fc__poll_inject_submit_failure(int count);
void fc__poll_inject_delay(unsigned polled_us, unsigned slept_us);
void fc__poll_inject_time(unsigned polled_us, unsigned slept_us);

#endif
