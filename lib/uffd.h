/* SPDX-License-Identifier: MIT */
/*
 * uffd.h - userfaultfd: opening one (with the unprivileged fallbacks),
 * registering ranges, and the ioctls that resolve faults (uffd.c).
 */
#ifndef FC_UFFD_H
#define FC_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int fc__uffd_open(uint64_t want, uint64_t *features, bool *user_mode_only);
int fc__uffd_register(int uffd, void *addr, size_t len);
int64_t fc__uffd_install(int uffd, char *lo, char *hi, const char *src,
			 bool wake);
int fc__uffd_wake(int uffd, char *addr, size_t len);
uint64_t fc__uffd_copy(int uffd, char *dst, const char *src, uint64_t len,
		       bool wake);
int fc__uffd_poison(int uffd, char *addr, size_t len);
/* test hook: behave as a kernel without UFFDIO_POISON (before 6.6) */
void fc__uffd_disable_poison(bool off);

#endif
