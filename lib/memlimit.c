/* SPDX-License-Identifier: MIT */
/*
 * memlimit.c - the memory this process may use, by its memory cgroup.
 *
 * The store is shmem: without swap the kernel cannot reclaim it, so a
 * budget above the process's memory cgroup limit does not end in reclaim,
 * as the kernel's own page cache would, but in the OOM killer once the
 * store reaches the limit. fc_cache_create refuses such a budget, and the
 * default budget is cut to half the limit (docs/design.md, "Memory
 * budget").
 *
 * cgroup v2: memory.max of the process's cgroup and of each ancestor up
 * to the mount, the least of them. cgroup v1: hierarchical_memory_limit in
 * the memory controller's memory.stat (the least over the ancestors,
 * computed by the kernel), else memory.limit_in_bytes. The cgroup's path
 * comes from /proc/self/cgroup and the hierarchy's mount point from
 * /proc/self/mountinfo; a path outside the mount's root (a cgroup
 * namespace) is taken as the mount itself. Anything missing or unreadable
 * means no limit: the check can only refuse what would certainly fail.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memlimit.h"

#define NO_LIMIT UINT64_MAX
#define DIR_MAX (2 * PATH_MAX)	/* a prefix, a mount point, a cgroup */
/* v1 reports "unlimited" as the largest page multiple below 2^63 */
#define V1_UNLIMITED (1ull << 62)

/* Is @tok one of the comma-separated words of @list? */
static bool has_word(const char *list, const char *tok)
{
	size_t n = strlen(tok);

	while (list && *list) {
		if (!strncmp(list, tok, n) && (list[n] == ',' || !list[n]))
			return true;
		list = strchr(list, ',');
		if (list)
			list++;
	}
	return false;
}

/*
 * The cgroup path of this process in the v2 hierarchy (@v2) and in the
 * v1 hierarchy with the memory controller (@v1), from @root/proc/self/
 * cgroup; "" when absent.
 */
static void cgroup_paths(const char *root, char *v1, char *v2, size_t len)
{
	char path[PATH_MAX + 32], line[PATH_MAX + 64];
	FILE *f;

	*v1 = *v2 = 0;
	snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *cg;

		if (!ctl || !(cg = strchr(ctl + 1, ':')))
			continue;
		*ctl++ = 0;
		*cg++ = 0;
		cg[strcspn(cg, "\n")] = 0;
		if (strlen(cg) >= len || *cg != '/')
			continue;
		if (!strcmp(line, "0") && !*ctl)
			memcpy(v2, cg, strlen(cg) + 1);
		else if (has_word(ctl, "memory"))
			memcpy(v1, cg, strlen(cg) + 1);
	}
	if (f)
		fclose(f);
}

/*
 * Where the hierarchy is mounted: for cgroup2 (@v1 false) or the v1
 * hierarchy with the memory controller, the mount point (@mnt) and the
 * cgroup mounted there (@mroot). False if not mounted.
 */
static bool cgroup_mount(const char *root, bool v1, char *mnt, char *mroot,
			 size_t len)
{
	char path[PATH_MAX + 32], line[3 * PATH_MAX];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
	f = fopen(path, "re");
	while (!found && f && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), *fld[5], *save = NULL;
		char *type, *super;
		int i;

		if (!sep)
			continue;
		*sep = 0;
		/* id parent major:minor root mountpoint ... */
		fld[0] = strtok_r(line, " ", &save);
		for (i = 1; i < 5 && fld[i - 1]; i++)
			fld[i] = strtok_r(NULL, " ", &save);
		if (i < 5 || !fld[4])
			continue;
		type = strtok_r(sep + 3, " ", &save);
		strtok_r(NULL, " ", &save);		/* source */
		super = strtok_r(NULL, " \n", &save);
		if (!type || strlen(fld[3]) >= len || strlen(fld[4]) >= len)
			continue;
		if (v1 ? !strcmp(type, "cgroup") && has_word(super, "memory")
		       : !strcmp(type, "cgroup2")) {
			memcpy(mroot, fld[3], strlen(fld[3]) + 1);
			memcpy(mnt, fld[4], strlen(fld[4]) + 1);
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/*
 * The directory of cgroup @cg in a hierarchy mounted at @mnt (which shows
 * cgroup @mroot) into @dir, *@base the length of the mount's part of it.
 * Return: false if it does not fit.
 */
static bool cgroup_dir(const char *root, const char *mnt,
		       const char *mroot, const char *cg, char *dir,
		       size_t len, size_t *base)
{
	size_t rl = strlen(mroot);
	const char *rel = cg;

	if (!strcmp(mroot, "/"))
		rel = cg;
	else if (!strncmp(cg, mroot, rl) && (cg[rl] == '/' || !cg[rl]))
		rel = cg + rl;
	else		/* not below the mount's root: a cgroup namespace */
		rel = "";
	if (snprintf(dir, len, "%s%s", root, mnt) >= (int)len)
		return false;
	*base = strlen(dir);
	if (*rel && strcmp(rel, "/") &&
	    snprintf(dir + *base, len - *base, "%s", rel) >= (int)(len - *base))
		return false;
	return true;
}

/* The number in @dir/@name, its line @key if @key; false if none. */
static bool read_value(const char *dir, const char *name, const char *key,
		       uint64_t *out)
{
	char path[DIR_MAX + 32], line[256];
	bool ok = false;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return false;
	f = fopen(path, "re");
	while (!ok && f && fgets(line, sizeof(line), f)) {
		const char *v = line;
		char *end;

		if (key) {
			size_t kl = strlen(key);

			if (strncmp(line, key, kl) || line[kl] != ' ')
				continue;
			v = line + kl + 1;
		}
		if (!strncmp(v, "max", 3)) {	/* v2: no limit */
			*out = NO_LIMIT;
			ok = true;
			break;
		}
		errno = 0;
		*out = strtoull(v, &end, 10);
		ok = end != v && !errno && (*end == '\n' || !*end);
		if (!key)
			break;
	}
	if (f)
		fclose(f);
	return ok;
}

static uint64_t v1_limit(const char *root, const char *cg)
{
	char mnt[PATH_MAX], mroot[PATH_MAX], dir[DIR_MAX];
	size_t base;
	uint64_t v;

	if (!*cg || !cgroup_mount(root, true, mnt, mroot, sizeof(mnt)) ||
	    !cgroup_dir(root, mnt, mroot, cg, dir, sizeof(dir), &base))
		return NO_LIMIT;
	if (!read_value(dir, "memory.stat", "hierarchical_memory_limit", &v) &&
	    !read_value(dir, "memory.limit_in_bytes", NULL, &v))
		return NO_LIMIT;
	return v >= V1_UNLIMITED ? NO_LIMIT : v;
}

static uint64_t v2_limit(const char *root, const char *cg)
{
	char mnt[PATH_MAX], mroot[PATH_MAX], dir[DIR_MAX];
	uint64_t least = NO_LIMIT, v;
	size_t base;

	if (!*cg || !cgroup_mount(root, false, mnt, mroot, sizeof(mnt)) ||
	    !cgroup_dir(root, mnt, mroot, cg, dir, sizeof(dir), &base))
		return NO_LIMIT;
	for (;;) {	/* the cgroup, then each ancestor up to the mount's */
		char *slash;

		/* the true root has no memory.max; a namespace's root has */
		if (read_value(dir, "memory.max", NULL, &v) && v < least)
			least = v;
		if (strlen(dir) <= base)
			break;
		slash = strrchr(dir + base, '/');
		if (!slash)
			break;
		*slash = 0;
	}
	return least;
}

/**
 * fc__memory_limit - the most memory this process may use by its memory
 * cgroup, in bytes; UINT64_MAX when it has no limit or none can be read.
 * @root: prefix of the /proc and cgroup paths read ("" but in tests).
 * Context: any; reads a few small files.
 */
uint64_t fc__memory_limit(const char *root)
{
	char v1[PATH_MAX], v2[PATH_MAX];
	uint64_t a, b;

	cgroup_paths(root, v1, v2, sizeof(v1));
	a = v1_limit(root, v1);
	b = v2_limit(root, v2);
	return a < b ? a : b;
}
