/* SPDX-License-Identifier: MIT */
/*
 * memcg.c - the kernel engines at equal memory: a memory cgroup whose
 * limit is the fc budget, made for one run, joined by the child process
 * that runs it (fcbench.c, run_job), and removed after it.
 *
 * Without a limit the kernel's page cache of the bench file grows into all
 * free memory, while fc holds to its budget; in a cgroup of that budget
 * the kernel must reclaim its own pages, as fc does. The cgroup holds
 * what the child allocates in it (the page cache it reads, its new
 * anonymous memory), and its peak usage is reported. Root only: fcbench
 * says why when it cannot.
 *
 *   v1 (a "memory" hierarchy): a child of the process's own memory cgroup,
 *       memory.limit_in_bytes, memory.max_usage_in_bytes; emptied with
 *       memory.force_empty before rmdir.
 *   v2 (the unified hierarchy): a sibling of the process's own cgroup, in
 *       the parent, which must have "memory" in cgroup.subtree_control (a
 *       cgroup with processes cannot have children with controllers):
 *       memory.max, memory.peak (5.19+).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

static struct {
	int version;		/* 1, 2, or 0: none */
	pid_t owner;		/* the process that makes the cgroups */
	char home[800];		/* the cgroup the process came from */
	char parent[800];	/* where the run's cgroup is made */
	char dir[900];		/* the run's cgroup, while it exists */
	char why[1000];		/* why there is none */
} cg;

static int write_str(const char *dir, const char *file, const char *val)
{
	char path[1000];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

static uint64_t read_u64(const char *dir, const char *file)
{
	char path[1000], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtoull(buf, NULL, 10);
}

/*
 * The mount point of the v1 memory hierarchy (@v1) or of cgroup2, from
 * /proc/self/mountinfo: 0, or -1 when there is none.
 */
static int mount_of(bool v1, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	int ret = -1;

	while (f && ret && fgets(line, sizeof(line), f)) {
		char root[256], mnt[256], *dash = strstr(line, " - ");
		char fstype[64] = "", opts[512] = "";

		if (!dash || sscanf(line, "%*s %*s %*s %255s %255s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %511s", fstype, opts) < 1)
			continue;
		if (strcmp(root, "/"))
			continue;	/* a bind mount of a subtree */
		if (v1 ? !strcmp(fstype, "cgroup") &&
			 (strstr(opts, ",memory") || !strncmp(opts, "memory", 6))
		       : !strcmp(fstype, "cgroup2")) {
			snprintf(out, len, "%s", mnt);
			ret = 0;
		}
	}
	if (f)
		fclose(f);
	return ret;
}

/* The process's cgroup in hierarchy @key ("memory" or "" for v2). */
static int own_path(const char *key, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[1024];
	int ret = -1;

	while (f && ret && fgets(line, sizeof(line), f)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

		if (!b)
			continue;
		*b = 0;
		b[1 + strcspn(b + 1, "\n")] = 0;
		if (*key ? !strcmp(a + 1, key) : !a[1] && !strncmp(line, "0", 1)) {
			snprintf(out, len, "%s", b + 1);
			ret = 0;
		}
	}
	if (f)
		fclose(f);
	return ret;
}

static bool has_word(const char *dir, const char *file, const char *word)
{
	char path[1000], buf[512] = "", *t, *save = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	for (t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		if (!strcmp(t, word))
			return true;
	return false;
}

int memcg_init(void)
{
	char mnt[256], own[512];

	if (geteuid() != 0) {
		snprintf(cg.why, sizeof(cg.why), "making a memory cgroup needs root");
		return -1;
	}
	if (!mount_of(true, mnt, sizeof(mnt)) && !own_path("memory", own, sizeof(own))) {
		cg.version = 1;
		snprintf(cg.home, sizeof(cg.home), "%s%s", mnt,
			 strcmp(own, "/") ? own : "");
		snprintf(cg.parent, sizeof(cg.parent), "%s", cg.home);
		return 0;
	}
	if (mount_of(false, mnt, sizeof(mnt)) || own_path("", own, sizeof(own))) {
		snprintf(cg.why, sizeof(cg.why), "no memory cgroup hierarchy "
			 "(neither cgroup v1 memory nor cgroup2 is mounted)");
		return -1;
	}
	snprintf(cg.home, sizeof(cg.home), "%s%s", mnt, strcmp(own, "/") ? own : "");
	/* a sibling: the process's own cgroup may hold processes */
	snprintf(cg.parent, sizeof(cg.parent), "%s", cg.home);
	if (strcmp(own, "/"))
		*strrchr(cg.parent, '/') = 0;
	if (!has_word(cg.parent, "cgroup.subtree_control", "memory")) {
		snprintf(cg.why, sizeof(cg.why), "cgroup v2: the memory controller "
			 "is not enabled in %s/cgroup.subtree_control", cg.parent);
		return -1;
	}
	cg.version = 2;
	return 0;
}

const char *memcg_status(void)
{
	static char s[1100];

	if (cg.version)
		snprintf(s, sizeof(s), "cgroup v%d, made in %s", cg.version,
			 cg.parent);
	else
		snprintf(s, sizeof(s), "not measured: %s", cg.why);
	return s;
}

bool memcg_available(void)
{
	return cg.version != 0;
}

/* At exit (fcbench dies in a run): remove the run's cgroup. */
static void memcg_cleanup(void)
{
	if (getpid() == cg.owner && cg.dir[0])
		memcg_remove();
}

int memcg_create(uint64_t limit)
{
	static bool cleanup;
	char val[32];
	int ret;

	if (!cleanup) {
		cg.owner = getpid();
		atexit(memcg_cleanup);
		cleanup = true;
	}
	snprintf(cg.dir, sizeof(cg.dir), "%s/fcbench.%d", cg.parent,
		 (int)getpid());
	if (mkdir(cg.dir, 0755) && errno != EEXIST) {
		cg.dir[0] = 0;
		return -errno;
	}
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	ret = write_str(cg.dir, cg.version == 1 ? "memory.limit_in_bytes"
						 : "memory.max", val);
	if (!ret && cg.version == 2)	/* no swapping out instead */
		write_str(cg.dir, "memory.swap.max", "0");
	if (ret) {
		rmdir(cg.dir);
		cg.dir[0] = 0;
	}
	return ret;
}

int memcg_join(void)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", (int)getpid());
	return write_str(cg.dir, "cgroup.procs", val);
}

uint64_t memcg_remove(void)
{
	uint64_t peak;
	int i;

	if (!cg.dir[0])
		return 0;
	peak = read_u64(cg.dir, cg.version == 1 ? "memory.max_usage_in_bytes"
						: "memory.peak");
	if (cg.version == 1)
		write_str(cg.dir, "memory.force_empty", "1");
	/* the last charges may take a moment to go after the child exits */
	for (i = 0; rmdir(cg.dir) && errno == EBUSY && i < 200; i++)
		usleep(10000);
	cg.dir[0] = 0;
	return peak;
}
