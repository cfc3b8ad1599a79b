/* SPDX-License-Identifier: MIT */
/* memlimit.h - the memory this process may use, by its memory cgroup. */
#ifndef FC_MEMLIMIT_H
#define FC_MEMLIMIT_H

#include <stdint.h>

uint64_t fc__memory_limit(const char *root);

#endif
