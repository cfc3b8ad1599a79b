/* SPDX-License-Identifier: MIT */
/*
 * test_memlimit: the budget and the process's memory cgroup limit.
 *
 * The store is shmem, which without swap the kernel cannot reclaim: a
 * budget above the cgroup's limit ends in the OOM killer. fc__memory_limit
 * finds the limit (cgroup v1 and v2, read from /proc/self/cgroup and
 * mountinfo); checked here on made-up trees, every layout it reads. As
 * root with FC_TEST_SYSTEM=1 the last case makes a memory cgroup of
 * 192 MiB (removed at its end), moves a child
 * process into it, and checks what the child sees: that limit, a default
 * budget of half of it, a larger budget refused with ENOMEM (without
 * swap), and a file of 1.5 times the limit read right through the default
 * cache without the process being killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "memlimit.h"

#define MB (1024ull * 1024)

/* Sanitizer runtimes' shadow memory is charged to the cgroup too. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static char root[256];

/* Write @text to @root/@rel, making its directories. */
static void put(const char *rel, const char *text)
{
	char path[512], *s;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		mkdir(path, 0755);
		*s = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int tree_new(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/fctest.cg.XXXXXX", th_dir());
	return mkdtemp(root) ? 0 : -1;
}

static int tree_free(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

#define MI_V1 "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup " \
	      "cgroup rw,memory\n"
#define MI_V2 "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 " \
	      "rw,nsdelegate\n"
#define MI_OTHER "22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw\n" \
		 "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"

/* v1: the kernel's hierarchical limit, which already takes the least */
static void v1_hierarchical(void **state)
{
	(void)state;
	put("proc/self/cgroup", "5:cpu:/\n4:memory:/a/b\n0::/\n");
	put("proc/self/mountinfo", MI_OTHER MI_V1);
	put("sys/fs/cgroup/memory/a/b/memory.stat",
	    "cache 0\nrss 4096\nhierarchical_memory_limit 67108864\n"
	    "hierarchical_memsw_limit 9223372036854771712\n");
	put("sys/fs/cgroup/memory/a/b/memory.limit_in_bytes",
	    "9223372036854771712\n");
	assert_int_equal(fc__memory_limit(root), 64 * MB);
}

/* v1 without memory.stat: memory.limit_in_bytes; its "unlimited" is none */
static void v1_limit_file(void **state)
{
	(void)state;
	put("proc/self/cgroup", "4:memory:/c\n");
	put("proc/self/mountinfo", MI_V1);
	put("sys/fs/cgroup/memory/c/memory.limit_in_bytes", "134217728\n");
	assert_int_equal(fc__memory_limit(root), 128 * MB);
	put("sys/fs/cgroup/memory/c/memory.limit_in_bytes",
	    "9223372036854771712\n");
	assert_true(fc__memory_limit(root) == UINT64_MAX);
}

/* v2: the least memory.max of the cgroup and its ancestors */
static void v2_ancestors(void **state)
{
	(void)state;
	put("proc/self/cgroup", "0::/x/y\n");
	put("proc/self/mountinfo", MI_OTHER MI_V2);
	put("sys/fs/cgroup/x/y/memory.max", "max\n");
	put("sys/fs/cgroup/x/memory.max", "100000000\n");
	assert_int_equal(fc__memory_limit(root), 100000000);
	put("sys/fs/cgroup/x/y/memory.max", "50000000\n");
	assert_int_equal(fc__memory_limit(root), 50000000);
	put("sys/fs/cgroup/x/y/memory.max", "max\n");
	put("sys/fs/cgroup/x/memory.max", "max\n");
	assert_true(fc__memory_limit(root) == UINT64_MAX);
}

/*
 * v2 in a cgroup namespace: the process's cgroup is "/" and is what is
 * mounted, with a memory.max of its own (the host's root has none).
 */
static void v2_namespace_root(void **state)
{
	(void)state;
	put("proc/self/cgroup", "0::/\n");
	put("proc/self/mountinfo", MI_V2);
	put("sys/fs/cgroup/memory.max", "268435456\n");
	assert_int_equal(fc__memory_limit(root), 256 * MB);
	/*
	 * a cgroup above the namespace's root ("/../.." from inside): the
	 * mount's, never a file above the mount
	 */
	put("proc/self/cgroup", "0::/../../app\n");
	put("sys/app/memory.max", "4194304\n");
	put("sys/memory.max", "4194304\n");
	assert_int_equal(fc__memory_limit(root), 256 * MB);
}

/* a mount of a sub-tree: paths are taken relative to the mount's root */
static void mount_of_subtree(void **state)
{
	(void)state;
	put("proc/self/cgroup", "0::/svc/app\n");
	put("proc/self/mountinfo", "30 23 0:27 /svc /sys/fs/cgroup rw - "
				   "cgroup2 cgroup2 rw\n");
	put("sys/fs/cgroup/app/memory.max", "33554432\n");
	assert_int_equal(fc__memory_limit(root), 32 * MB);
	/* a cgroup outside the mounted tree: the mount's own cgroup */
	put("proc/self/cgroup", "0::/other\n");
	put("sys/fs/cgroup/memory.max", "16777216\n");
	assert_int_equal(fc__memory_limit(root), 16 * MB);
}

/* mountinfo escapes a space in a path as \040: the directory has one */
static void mount_point_escaped(void **state)
{
	(void)state;
	put("proc/self/cgroup", "0::/a b\\c\n");
	put("proc/self/mountinfo", "30 23 0:27 / /sys/fs/my\\040cg\\134x rw - "
				   "cgroup2 cgroup2 rw\n");
	put("sys/fs/my cg\\x/a b\\c/memory.max", "41943040\n");
	assert_int_equal(fc__memory_limit(root), 40 * MB);
}

/* v1 and v2 both limit (a hybrid host): the lesser */
static void hybrid_takes_least(void **state)
{
	(void)state;
	put("proc/self/cgroup", "4:memory:/m\n0::/u\n");
	put("proc/self/mountinfo", MI_V1 "30 23 0:27 / /sys/fs/cgroup/unified "
				   "rw - cgroup2 cgroup2 rw\n");
	put("sys/fs/cgroup/memory/m/memory.limit_in_bytes", "80000000\n");
	put("sys/fs/cgroup/unified/u/memory.max", "70000000\n");
	assert_int_equal(fc__memory_limit(root), 70000000);
}

/* missing, empty or nonsense files mean no limit, never a crash or 0 */
static void unreadable_means_none(void **state)
{
	char slash[sizeof(root) + 1];

	(void)state;
	assert_true(fc__memory_limit(root) == UINT64_MAX);	/* nothing */
	put("proc/self/cgroup", "garbage\n::\n4:memory\n0::relative\n");
	put("proc/self/mountinfo", "short line\n - cgroup2\n");
	assert_true(fc__memory_limit(root) == UINT64_MAX);
	/* a relative mount point, which would be taken from the cwd */
	put("proc/self/cgroup", "0::/\n");
	put("proc/self/mountinfo", "30 23 0:27 / rel rw - cgroup2 cgroup2 rw\n");
	put("rel/memory.max", "4194304\n");
	snprintf(slash, sizeof(slash), "%s/", root);
	assert_true(fc__memory_limit(slash) == UINT64_MAX);
	put("proc/self/cgroup", "0::/x\n4:memory:/x\n");
	put("proc/self/mountinfo", MI_V1 MI_V2);
	put("sys/fs/cgroup/x/memory.max", "12ab\n");
	put("sys/fs/cgroup/memory/x/memory.stat", "hierarchical_memory_limit\n");
	put("sys/fs/cgroup/memory/x/memory.limit_in_bytes", "");
	assert_true(fc__memory_limit(root) == UINT64_MAX);
	put("sys/fs/cgroup/x/memory.max", "99999999999999999999999\n");
	assert_true(fc__memory_limit(root) == UINT64_MAX);
	/* strtoull would take these as 2^64 - 5 and 5: not numbers here */
	put("sys/fs/cgroup/x/memory.max", "-5\n");
	assert_true(fc__memory_limit(root) == UINT64_MAX);
	put("sys/fs/cgroup/x/memory.max", " 5\n");
	assert_true(fc__memory_limit(root) == UINT64_MAX);
}

/* ---- a real memory cgroup (root only) ---- */

#define LIMIT (192 * MB)

/* This process's cgroup directory in the hierarchy with memory, and the
 * name of its limit file. False if there is none to make one under. */
static bool own_memcg(char *dir, size_t len, const char **limit_file)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");
	bool found = false;
	struct stat st;

	while (!found && f && fgets(line, sizeof(line), f)) {
		char *p = strrchr(line, ':');

		line[strcspn(line, "\n")] = 0;
		if (!p)
			continue;
		if (strstr(line, ":memory:") &&
		    !stat("/sys/fs/cgroup/memory", &st)) {
			snprintf(dir, len, "/sys/fs/cgroup/memory%s", p + 1);
			*limit_file = "memory.limit_in_bytes";
			found = true;
		} else if (!strncmp(line, "0::", 3) &&
			   !stat("/sys/fs/cgroup/cgroup.controllers", &st)) {
			snprintf(dir, len, "/sys/fs/cgroup%s", p + 1);
			*limit_file = "memory.max";
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static bool write_file(const char *dir, const char *name, const char *val)
{
	char path[600];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val);
}

/* In the cgroup: what the library sees and does. 0 or a failed step. */
static int inside(void)
{
	struct fc_config cfg;
	struct fc_cache *c;
	struct sysinfo si;
	unsigned char *p, *buf;
	char path[256];
	off_t size = (off_t)(LIMIT + LIMIT / 2);
	size_t chunk = 1 << 20;
	off_t off;
	int fd;

	if (fc__memory_limit("") != LIMIT)
		return 10;
	fc_config_init(&cfg);
	if (cfg.cache_bytes != LIMIT / 2)
		return 11;
	cfg.cache_bytes = LIMIT + 64 * MB;
	c = fc_cache_create(&cfg);
	if (!sysinfo(&si) && !si.totalswap) {
		if (c || errno != ENOMEM)
			return 12;	/* would have been OOM-killed later */
	} else {
		printf("swap present: a budget over the limit is allowed\n");
		fc_cache_destroy(c);
	}
	if (SANITIZED) {
		printf("sanitizer build: the runtime's shadow memory is charged "
		       "to the cgroup, so the read over 1.5x the limit is not "
		       "done here (it is in the plain build)\n");
		return 0;
	}
	th_config_init(&cfg);	/* the mode CTest asks, default budget */
	c = fc_cache_create(&cfg);
	fd = th_make_file(path, sizeof(path), size, 77);
	buf = malloc(chunk);
	if (!c || !buf)
		return 13;
	p = fc_map(c, fd, 0, 0, 0);
	if (!p)
		return 14;
	for (off = 0; off < size; off += (off_t)chunk) {
		if (pread(fd, buf, chunk, off) != (ssize_t)chunk)
			return 15;
		if (memcmp(p + off, buf, chunk))
			return 16;
	}
	fc_unmap(p);
	fc_cache_destroy(c);
	close(fd);
	unlink(path);
	free(buf);
	return 0;
}

static void real_cgroup(void **state)
{
	char own[400], dir[500], val[32], pid[32];
	const char *limit_file = NULL;
	int status = 0;
	pid_t child;

	(void)state;
	if (geteuid() != 0 || !own_memcg(own, sizeof(own), &limit_file)) {
		printf("not root, or no memory cgroup: the real-cgroup case "
		       "needs both\n");
		skip();
	}
	if (!th_system_tests("the real-cgroup case (makes a memory cgroup)"))
		skip();
	snprintf(dir, sizeof(dir), "%s/fctest.%d", own, (int)getpid());
	snprintf(val, sizeof(val), "%llu", (unsigned long long)LIMIT);
	if (mkdir(dir, 0755) || !write_file(dir, limit_file, val)) {
		printf("cannot make a memory cgroup under %s (%s): skipped\n",
		       own, strerror(errno));
		rmdir(dir);
		skip();
	}
	fflush(stdout);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		if (!write_file(dir, "cgroup.procs", pid))
			_exit(9);
		exit(inside());	/* exit: th_make_file's files go at exit */
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	while (rmdir(dir) && errno == EBUSY)
		usleep(10000);
	if (WIFSIGNALED(status))
		fail_msg("the child was killed by signal %d (%s)",
			 WTERMSIG(status), WTERMSIG(status) == SIGKILL ?
			 "the OOM killer" : "a crash");
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("the child failed at step %d (see inside())",
			 WEXITSTATUS(status));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(v1_hierarchical, tree_new,
						tree_free),
		cmocka_unit_test_setup_teardown(v1_limit_file, tree_new,
						tree_free),
		cmocka_unit_test_setup_teardown(v2_ancestors, tree_new,
						tree_free),
		cmocka_unit_test_setup_teardown(v2_namespace_root, tree_new,
						tree_free),
		cmocka_unit_test_setup_teardown(mount_of_subtree, tree_new,
						tree_free),
		cmocka_unit_test_setup_teardown(mount_point_escaped, tree_new,
						tree_free),
		cmocka_unit_test_setup_teardown(hybrid_takes_least, tree_new,
						tree_free),
		cmocka_unit_test_setup_teardown(unreadable_means_none,
						tree_new, tree_free),
		cmocka_unit_test(real_cgroup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
