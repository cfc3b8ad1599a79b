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
 * namespace, or "/.." parts) is taken as the mount itself, and nothing
 * outside the mount is read. Anything missing or unreadable means no
 * limit: the check can only refuse what would certainly fail.
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
 * The whole of file @path, NUL-terminated, in memory to free(); NULL if it
 * cannot be read. Read whole, not by lines into a fixed buffer: a line
 * longer than the buffer would be cut, and its tail parsed as a line of
 * its own (a cgroup path holding ":memory:/x" would be taken as one).
 */
static char *read_text(const char *path)
{
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap), *bigger;
	FILE *f = fopen(path, "re");

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 < cap)
			continue;
		bigger = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
		if (!bigger) {	/* no /proc or cgroup file is this big */
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = bigger;
		cap *= 2;
	}
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* The next line of *@text, its '\n' made the end; NULL at the end. */
static char *next_line(char **text)
{
	char *line = *text, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl)
		*nl++ = 0;
	*text = nl;
	return line;
}

/**
 * fc__cgroup_paths - the cgroup path of this process in the v2 hierarchy
 * (@v2) and in the v1 hierarchy with the memory controller (@v1), each
 * "" when absent or not shorter than @len, from @text, the contents of
 * /proc/self/cgroup (changed: split into lines). Pure.
 */
void fc__cgroup_paths(char *text, char *v1, char *v2, size_t len)
{
	char *line;

	*v1 = *v2 = 0;
	while ((line = next_line(&text))) {
		char *ctl = strchr(line, ':'), *cg;

		if (!ctl || !(cg = strchr(ctl + 1, ':')))
			continue;
		*ctl++ = 0;
		*cg++ = 0;
		if (strlen(cg) >= len || *cg != '/')
			continue;
		if (!strcmp(line, "0") && !*ctl)
			memcpy(v2, cg, strlen(cg) + 1);
		else if (has_word(ctl, "memory"))
			memcpy(v1, cg, strlen(cg) + 1);
	}
}

/*
 * A field of mountinfo as it names the file, in place: the kernel writes
 * a space, tab, newline or backslash in a path as \040, \011, \012 or
 * \134 (show_mountinfo), which fopen would take literally.
 */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (*s == '\\' && (!strncmp(s + 1, "040", 3) ||
				    !strncmp(s + 1, "011", 3) ||
				    !strncmp(s + 1, "012", 3) ||
				    !strncmp(s + 1, "134", 3))) {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					s[3] - '0');
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = 0;
}

/**
 * fc__cgroup_mount - where the hierarchy is mounted: for cgroup2 (@v1
 * false) or the v1 hierarchy with the memory controller, the mount point
 * (@mnt) and the cgroup mounted there (@mroot), from @text, the contents
 * of /proc/self/mountinfo (changed). Pure. Return: false if not mounted.
 */
bool fc__cgroup_mount(char *text, bool v1, char *mnt, char *mroot,
		      size_t len)
{
	char *line;

	while ((line = next_line(&text))) {
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
		super = strtok_r(NULL, " ", &save);
		if (!type)
			continue;
		unescape(fld[3]);
		unescape(fld[4]);
		if (strlen(fld[3]) >= len || strlen(fld[4]) >= len ||
		    *fld[4] != '/')	/* relative: to our working directory */
			continue;
		if (v1 ? !strcmp(type, "cgroup") && has_word(super, "memory")
		       : !strcmp(type, "cgroup2")) {
			memcpy(mroot, fld[3], strlen(fld[3]) + 1);
			memcpy(mnt, fld[4], strlen(fld[4]) + 1);
			return true;
		}
	}
	return false;
}

/* Does path @s have a part "." or ".."? */
static bool has_dot_part(const char *s)
{
	for (;;) {
		size_t n = strcspn(s, "/");

		if ((n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return true;
		if (!s[n])
			return false;
		s += n + 1;
	}
}

/**
 * fc__cgroup_dir - the directory of cgroup @cg in a hierarchy mounted at
 * @mnt (which shows cgroup @mroot) into @dir, *@base the length of the
 * mount's part of it, @root its prefix. Pure.
 * Return: false if it does not fit in @len.
 */
bool fc__cgroup_dir(const char *root, const char *mnt, const char *mroot,
		    const char *cg, char *dir, size_t len, size_t *base)
{
	size_t rl = strlen(mroot);
	const char *rel = cg;

	if (!strcmp(mroot, "/"))
		rel = cg;
	else if (!strncmp(cg, mroot, rl) && (cg[rl] == '/' || !cg[rl]))
		rel = cg + rl;
	else		/* not below the mount's root: a cgroup namespace */
		rel = "";
	/*
	 * A cgroup outside our namespace's root is shown as "/../..": above
	 * the mount as well, so the same. Followed, it would read files
	 * outside the cgroup file system, and v2_limit's walk up more.
	 */
	if (has_dot_part(rel))
		rel = "";
	if (snprintf(dir, len, "%s%s", root, mnt) >= (int)len)
		return false;
	*base = strlen(dir);
	if (*rel && strcmp(rel, "/") &&
	    snprintf(dir + *base, len - *base, "%s", rel) >= (int)(len - *base))
		return false;
	return true;
}

/**
 * fc__cgroup_value - the number in @text, the contents of a cgroup file
 * (changed), or of its line @key if @key; "max" is UINT64_MAX. Pure.
 * Return: false if none (*@out untouched), or if not digits alone.
 */
bool fc__cgroup_value(char *text, const char *key, uint64_t *out)
{
	char *line;

	while ((line = next_line(&text))) {
		const char *v = line;
		unsigned long long n;
		char *end;

		if (key) {
			size_t kl = strlen(key);

			if (strncmp(line, key, kl) || line[kl] != ' ')
				continue;
			v = line + kl + 1;
		}
		if (!strcmp(v, "max")) {	/* v2: no limit */
			*out = NO_LIMIT;
			return true;
		}
		/* digits alone: strtoull takes " -1" as 2^64 - 1 */
		errno = 0;
		n = strtoull(v, &end, 10);
		if (*v >= '0' && *v <= '9' && !errno && !*end) {
			*out = n;
			return true;
		}
		if (!key)
			break;
	}
	return false;
}

/* The cgroup paths of this process, from @root/proc/self/cgroup. */
static void cgroup_paths(const char *root, char *v1, char *v2, size_t len)
{
	char path[PATH_MAX + 32], *text;

	snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
	text = read_text(path);
	*v1 = *v2 = 0;
	if (text)
		fc__cgroup_paths(text, v1, v2, len);
	free(text);
}

/* The hierarchy's mount, from @root/proc/self/mountinfo. */
static bool cgroup_mount(const char *root, bool v1, char *mnt, char *mroot,
			 size_t len)
{
	char path[PATH_MAX + 32], *text;
	bool found;

	snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
	text = read_text(path);
	found = text && fc__cgroup_mount(text, v1, mnt, mroot, len);
	free(text);
	return found;
}

/* The number in @dir/@name, its line @key if @key; false if none. */
static bool read_value(const char *dir, const char *name, const char *key,
		       uint64_t *out)
{
	char path[DIR_MAX + 32], *text;
	bool ok;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return false;
	text = read_text(path);
	ok = text && fc__cgroup_value(text, key, out);
	free(text);
	return ok;
}

static uint64_t v1_limit(const char *root, const char *cg)
{
	char mnt[PATH_MAX], mroot[PATH_MAX], dir[DIR_MAX];
	size_t base;
	uint64_t v;

	if (!*cg || !cgroup_mount(root, true, mnt, mroot, sizeof(mnt)) ||
	    !fc__cgroup_dir(root, mnt, mroot, cg, dir, sizeof(dir), &base))
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
	    !fc__cgroup_dir(root, mnt, mroot, cg, dir, sizeof(dir), &base))
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
