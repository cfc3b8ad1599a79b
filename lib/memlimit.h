/* SPDX-License-Identifier: MIT */
/* memlimit.h - the memory this process may use, by its memory cgroup. */
#ifndef FC_MEMLIMIT_H
#define FC_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t fc__memory_limit(const char *root);
/* the parsers of what it reads, pure for fuzz/fuzz_memlimit.c */
void fc__cgroup_paths(char *text, char *v1, char *v2, size_t len);
bool fc__cgroup_mount(char *text, bool v1, char *mnt, char *mroot,
		      size_t len);
bool fc__cgroup_dir(const char *root, const char *mnt, const char *mroot,
		    const char *cg, char *dir, size_t len, size_t *base);
bool fc__cgroup_value(char *text, const char *key, uint64_t *out);

#endif
