/* SPDX-License-Identifier: MIT */
/* inline.h - faults resolved by the faulting thread (inline.c). */
#ifndef FC_INLINE_H
#define FC_INLINE_H

#include <stdbool.h>
#include <stdint.h>

bool fc__inline_fault(uint64_t addr);

#endif
