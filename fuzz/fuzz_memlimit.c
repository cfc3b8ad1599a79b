/* SPDX-License-Identifier: MIT */
/*
 * fuzz_memlimit: the parsers of the memory cgroup limit (lib/memlimit.c)
 * fed arbitrary text as /proc/self/cgroup, /proc/self/mountinfo, a cgroup
 * file (memory.max, memory.limit_in_bytes, memory.stat) or the parts of a
 * cgroup's directory. The first byte chooses which, the second the room
 * given (small, to reach every "does not fit"), the rest is the text.
 * Rules any correct reader keeps:
 *   - nothing reads or writes out of bounds (ASan: each text is a copy of
 *     exactly its length + 1), results are terminated within their room;
 *   - the cgroup paths are those of the last line of their hierarchy, as
 *     a model reading the lines finds them, absolute;
 *   - a mount found is that of the first line of its file system type,
 *     its fields unescaped as the kernel escapes them (\040 space, \011
 *     tab, \012 newline, \134 backslash), its mount point absolute; and a
 *     line the harness builds from a path of any bytes, escaped so, gives
 *     that path back;
 *   - a value is "max" (no limit) or digits alone that fit in 64 bits,
 *     read exactly: no sign, space or trailing text;
 *   - a cgroup's directory is the mount point followed by the cgroup's
 *     path below the mount's root, never a path with "." or ".." in it
 *     (outside the mount); the mount itself if the cgroup is not below.
 */
#include <limits.h>
#include <stdbool.h>

#include "fuzz.h"
#include "memlimit.h"

#define ROOM (2 * PATH_MAX)

/* @n bytes of @p as a string of its own, in memory to free(). */
static char *dup_text(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

/* Line @i of @text (0-based) into @line; false past the last. */
static bool nth_line(const char *text, size_t i, char *line, size_t cap)
{
	const char *e;

	while (i--) {
		text = strchr(text, '\n');
		if (!text)
			return false;
		text++;
	}
	if (!*text)
		return false;
	e = strchrnul(text, '\n');
	if ((size_t)(e - text) >= cap)
		abort();
	memcpy(line, text, (size_t)(e - text));
	line[e - text] = 0;
	return true;
}

static bool word_in(const char *list, size_t n, const char *w)
{
	size_t wl = strlen(w), i = 0;

	while (i <= n) {
		size_t j = i;

		while (j < n && list[j] != ',')
			j++;
		if (j - i == wl && !memcmp(list + i, w, wl))
			return true;
		i = j + 1;
	}
	return false;
}

static void check_paths(const char *text, size_t len)
{
	char *copy = strdup(text), *v1 = malloc(len), *v2 = malloc(len);
	char *line = malloc(strlen(text) + 1);
	char want1[ROOM] = "", want2[ROOM] = "";
	size_t i;

	fc__cgroup_paths(copy, v1, v2, len);
	for (i = 0; nth_line(text, i, line, strlen(text) + 1); i++) {
		char *c1 = strchr(line, ':'), *c2, *path;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		path = c2 + 1;
		if (*path != '/' || strlen(path) >= len)
			continue;
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
			strcpy(want2, path);
		else if (word_in(c1 + 1, (size_t)(c2 - c1 - 1), "memory"))
			strcpy(want1, path);
	}
	FZ_CHECK(!strcmp(v1, want1) && !strcmp(v2, want2));
	FZ_CHECK(!*v1 || *v1 == '/');
	free(copy);
	free(v1);
	free(v2);
	free(line);
}

/* The kernel's escaping of a mountinfo field, undone; @n bytes of @s. */
static void unescape(const char *s, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 3 < n &&
		    (!strncmp(s + i + 1, "040", 3) ||
		     !strncmp(s + i + 1, "011", 3) ||
		     !strncmp(s + i + 1, "012", 3) ||
		     !strncmp(s + i + 1, "134", 3))) {
			*out++ = (char)((s[i + 1] - '0') * 64 +
					(s[i + 2] - '0') * 8 + s[i + 3] - '0');
			i += 3;
		} else {
			*out++ = s[i];
		}
	}
	*out = 0;
}

/* The mountinfo line of the hierarchy: the model of fc__cgroup_mount. */
static bool model_mount(const char *text, bool v1, char *mnt, char *mroot,
			size_t len)
{
	char *line = malloc(strlen(text) + 1);
	bool found = false;
	size_t i;

	for (i = 0; !found && nth_line(text, i, line, strlen(text) + 1);
	     i++) {
		char *sep = strstr(line, " - "), *f[8] = { 0 }, *save = NULL;
		char *t;
		int k = 0;

		if (!sep)
			continue;
		*sep = 0;
		for (t = strtok_r(line, " ", &save); t && k < 5;
		     t = strtok_r(NULL, " ", &save))
			f[k++] = t;
		if (k < 5)
			continue;
		save = NULL;
		f[5] = strtok_r(sep + 3, " ", &save);	/* type */
		f[6] = f[5] ? strtok_r(NULL, " ", &save) : NULL;
		f[7] = f[6] ? strtok_r(NULL, " ", &save) : NULL;
		if (!f[5])
			continue;
		if (v1 ? strcmp(f[5], "cgroup") ||
			 !f[7] || !word_in(f[7], strlen(f[7]), "memory")
		       : strcmp(f[5], "cgroup2"))
			continue;
		unescape(f[3], strlen(f[3]), mroot);
		unescape(f[4], strlen(f[4]), mnt);
		if (strlen(mroot) >= len || strlen(mnt) >= len || *mnt != '/')
			continue;
		found = true;
	}
	free(line);
	return found;
}

static void check_mount(const char *text, bool v1, size_t len)
{
	char *copy = strdup(text), *mnt = malloc(len), *mroot = malloc(len);
	char *wmnt = malloc(strlen(text) + 1), *wroot = malloc(strlen(text) + 1);
	bool found = fc__cgroup_mount(copy, v1, mnt, mroot, len);

	FZ_CHECK(found == model_mount(text, v1, wmnt, wroot, len));
	if (found) {
		FZ_CHECK(!strcmp(mnt, wmnt) && !strcmp(mroot, wroot));
		FZ_CHECK(*mnt == '/');
	}
	free(copy);
	free(mnt);
	free(mroot);
	free(wmnt);
	free(wroot);
}

/* @s escaped as the kernel does for mountinfo. */
static void escape(const char *s, char *out)
{
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
			out += sprintf(out, "\\%03o", (unsigned char)*s);
		else
			*out++ = *s;
	}
	*out = 0;
}

/* A mountinfo of a cgroup2 mount at "/" + the bytes of @p: found as it. */
static void check_mount_roundtrip(const uint8_t *p, size_t n)
{
	char path[256], root[256], emnt[1024], eroot[1024], text[8192];
	char mnt[ROOM], mroot[ROOM];
	size_t i, k = 0, half = n / 2;

	path[k++] = '/';
	for (i = 0; i < half && k < 120; i++)
		if (p[i])
			path[k++] = (char)p[i];
	path[k] = 0;
	root[0] = '/';
	for (k = 1, i = half; i < n && k < 120; i++)
		if (p[i])
			root[k++] = (char)p[i];
	root[k] = 0;
	escape(path, emnt);
	escape(root, eroot);
	snprintf(text, sizeof(text),
		 "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
		 "30 23 0:27 %s %s rw,nosuid shared:9 - cgroup2 cgroup2 "
		 "rw,nsdelegate\n"
		 "35 31 0:32 %s %s rw master:3 - cgroup cgroup rw,memory\n",
		 eroot, emnt, eroot, emnt);
	for (i = 0; i < 2; i++) {
		char *copy = strdup(text);

		FZ_CHECK(fc__cgroup_mount(copy, i, mnt, mroot, sizeof(mnt)));
		FZ_CHECK(!strcmp(mnt, path) && !strcmp(mroot, root));
		free(copy);
	}
}

/* Line @key (or the first line) read as the rules say; false if none. */
static bool model_value(const char *text, const char *key, uint64_t *out)
{
	char *line = malloc(strlen(text) + 1);
	bool ok = false;
	size_t i;

	for (i = 0; !ok && nth_line(text, i, line, strlen(text) + 1); i++) {
		const char *v = line;
		uint64_t x = 0;

		if (key) {
			size_t kl = strlen(key);

			if (strncmp(line, key, kl) || line[kl] != ' ')
				continue;
			v += kl + 1;
		}
		if (!strcmp(v, "max")) {
			*out = UINT64_MAX;
			ok = true;
		} else if (*v) {
			for (ok = true; *v && ok; v++) {
				ok = *v >= '0' && *v <= '9' &&
				     x <= (UINT64_MAX - (uint64_t)(*v - '0')) / 10;
				x = x * 10 + (uint64_t)(*v - '0');
			}
			if (ok)
				*out = x;
		}
		if (!key)
			break;
	}
	free(line);
	return ok;
}

static void check_value(const char *text, const char *key)
{
	char *copy = strdup(text);
	uint64_t got = 0, want = 0;
	bool ok = fc__cgroup_value(copy, key, &got);

	FZ_CHECK(ok == model_value(text, key, &want));
	FZ_CHECK(!ok || got == want);
	free(copy);
}

/* Does path @s hold a component "." or ".."? */
static bool has_dots(const char *s)
{
	const char *c = s;

	for (;;) {
		size_t cl = strcspn(c, "/");

		if ((cl == 1 && c[0] == '.') ||
		    (cl == 2 && c[0] == '.' && c[1] == '.'))
			return true;
		if (!c[cl])
			return false;
		c += cl + 1;
	}
}

/* mnt, mroot and cg, NUL-separated in @text (@n bytes) */
static void check_dir(const char *text, size_t n, size_t len)
{
	const char *mnt = text, *mroot, *cg, *rel;
	const char *root = len & 1 ? "" : "/tmp/fc.root";
	char *dir = malloc(len), want[3 * ROOM + 64];
	size_t base = 0, rl;
	bool ok;

	mroot = mnt + strlen(mnt) + 1;
	if (mroot > text + n)
		mroot = "";
	cg = mroot + strlen(mroot) + 1;
	if (cg > text + n || !*mroot)
		cg = "";
	if (*mnt != '/' || *cg != '/')
		goto out;	/* as fc__cgroup_mount and _paths give them */
	rl = strlen(mroot);
	if (!strcmp(mroot, "/"))
		rel = cg;
	else if (!strncmp(cg, mroot, rl) && (cg[rl] == '/' || !cg[rl]))
		rel = cg + rl;
	else
		rel = "";
	if (has_dots(rel))
		rel = "";	/* outside the mount: take the mount */
	if (!strcmp(rel, "/"))
		rel = "";
	snprintf(want, sizeof(want), "%s%s%s", root, mnt, rel);
	ok = fc__cgroup_dir(root, mnt, mroot, cg, dir, len, &base);
	FZ_CHECK(ok == (strlen(want) < len));
	if (ok) {
		FZ_CHECK(!strcmp(dir, want));
		FZ_CHECK(base == strlen(root) + strlen(mnt));
		FZ_CHECK(!has_dots(dir + base));
	}
out:
	free(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	unsigned mode = (unsigned)fz_take(&z, 1) % 6;
	unsigned r = (unsigned)fz_take(&z, 1);
	size_t len = r & 0x80 ? 1 + (r & 0x3f) : PATH_MAX;
	char *text = dup_text(z.p, z.n);

	switch (mode) {
	case 0:
		check_paths(text, len);
		break;
	case 1:
	case 2:
		check_mount(text, mode == 1, len);
		break;
	case 3:
		check_value(text, r & 1 ? "hierarchical_memory_limit" : NULL);
		break;
	case 4:
		check_dir(text, z.n, r & 0x80 ? len : ROOM);
		break;
	case 5:
		check_mount_roundtrip(z.p, z.n);
		break;
	}
	free(text);
	return 0;
}
