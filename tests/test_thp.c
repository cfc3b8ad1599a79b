/* SPDX-License-Identifier: MIT */
/*
 * test_thp: the views show the file's bytes, and the store keeps to its
 * budget, when shmem may use transparent huge pages.
 *
 * With shmem_enabled "within_size" (or "always"), a write into an empty
 * 2 MiB range of a memfd makes one huge folio, up to date, with zeros
 * around the bytes written; a view maps those zeros as if they were the
 * file's. And a fault in a mapping of the memfd allocates a whole 2 MiB
 * folio where 4 KiB was asked for. A cache of 2 MiB pages, on the other
 * hand, is meant to get huge folios, and views that map them with PMDs.
 * As root the test sets "within_size"
 * for its run, in a parent process that puts the old setting back however
 * the checks end; the checks run in a child. Not as root it runs them
 * under the host's setting, and says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "internal.h"

#define MB (1024 * 1024)
#define THP "/sys/kernel/mm/transparent_hugepage/"
#define SHMEM_ENABLED THP "shmem_enabled"

/* The word in [brackets] of a sysfs choice file, or the whole value. */
static bool read_setting(const char *path, char *out, size_t len)
{
	char buf[256], *lb, *rb;
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return false;
	buf[strcspn(buf, "\n")] = 0;
	lb = strchr(buf, '[');
	rb = lb ? strchr(lb, ']') : NULL;
	if (lb && rb) {
		*rb = 0;
		memmove(buf, lb + 1, strlen(lb + 1) + 1);
	}
	if (strlen(buf) >= len)
		return false;
	memcpy(out, buf, strlen(buf) + 1);
	return true;
}

static bool write_setting(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val);
}

/*
 * A page put in the store where nothing of its 2 MiB range is stored
 * (fc__store_write, as for a read whose view is gone or a retried one)
 * makes that page only: its neighbours are not in the store, as zeros or
 * otherwise, and the view reads them from the file. Copy mode has no
 * store writes (its reads land in the alias).
 */
static void store_write_makes_its_page_only(void **state)
{
	off_t size = 8 * MB, at = 2 * MB;
	struct th_fx *f = th_fx_new(size, 31, 0, true);
	struct fc_mapping *m;
	unsigned char v[2] = { 0, 0 };
	struct fc_stats st;
	void *page = NULL;

	(void)state;
	fc_cache_stats(f->c, &st);
	if (!(st.flags & FC_STATS_ZERO_COPY)) {
		print_message("copy mode: no store writes\n");
		th_fx_free(f);
		return;
	}
	m = fc__mapping_lookup((uintptr_t)f->p);
	assert_non_null(m);
	assert_int_equal(posix_memalign(&page, 4096, 4096), 0);
	memcpy(page, f->ref + at, 4096);
	assert_int_equal(fc__store_write(m->file, (uint64_t)at, page, 4096), 0);
	assert_int_equal(mincore(m->file->alias + at, 8192, v), 0);
	assert_int_equal(v[0] & 1, 1);
	assert_int_equal(v[1] & 1, 0);	/* no huge folio around it */
	fc__mapping_put(m);
	free(page);
	assert_memory_equal(f->p + at, f->ref + at, 2 * MB);
	assert_memory_equal(f->p, f->ref, (size_t)size);
	th_fx_free(f);
}

/*
 * A read that fails once is retried a page at a time; those pages enter
 * the store on their own, in 2 MiB ranges nothing else is in. Every byte
 * of the view must be the file's afterwards.
 */
static void retried_read_keeps_neighbours(void **state)
{
	off_t size = 8 * MB;
	struct th_fx *f = th_fx_new(size, 34, 0, true);
	struct fc_stats st;

	(void)state;
	fc__io_inject_error(2 * MB + 3 * 4096, 1, EIO);	/* fails once */
	assert_int_equal(th_touch(f->p + 2 * MB + 3 * 4096, NULL), 0);
	assert_memory_equal(f->p, f->ref, (size_t)size);
	fc_cache_stats(f->c, &st);
	assert_int_equal(st.io_errors, 1);
	assert_int_equal(st.sigbus, 0);
	th_fx_free(f);
}

/*
 * Random pages of a 32 MiB file through a 4 MiB budget: the store (and in
 * copy mode the alias its reads land in) holds 4 KiB per page, not a huge
 * folio for each, which would take it to the file's 32 MiB. A reclaim
 * batch may be in flight on top of the budget (as in test_budget).
 */
static void store_within_budget(void **state)
{
	off_t size = 32 * MB;
	size_t budget = 4 * MB;
	struct th_fx *f = th_fx_new(size, 32, budget, true);
	uint64_t seed = 7, peak = 0, now;
	int i;

	(void)state;
	assert_int_equal(fc_advise(f->p, (size_t)size,
				   FC_ADVICE_RANDOM), 0);
	for (i = 0; i < 4096; i++) {
		off_t off = (off_t)(th_rand(&seed) % ((uint64_t)size / 4096)) *
			    4096;

		assert_int_equal(f->p[off + 11], f->ref[off + 11]);
		if (i % 64 == 0) {
			now = th_store_bytes();
			peak = now > peak ? now : peak;
		}
	}
	print_message("store peak %lu KiB for a budget of %zu KiB\n",
		      (unsigned long)(peak / 1024), budget / 1024);
	assert_true(peak <= budget + 32 * 4096);
	th_fx_free(f);
}

/* The ShmemPmdMapped of the mapping at @base in /proc/self/smaps, KiB. */
static long pmd_mapped_kb(const void *base)
{
	char line[256], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in = false;
	long kb = -1;

	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)base);
	while (f && fgets(line, sizeof(line), f)) {
		/* a mapping's line starts with its address (lower-case
		 * hex), each field's with its name (upper-case) */
		if ((line[0] >= '0' && line[0] <= '9') ||
		    (line[0] >= 'a' && line[0] <= 'f'))
			in = !strncmp(line, want, strlen(want));
		else if (in && sscanf(line, "ShmemPmdMapped: %ld", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

/*
 * 2 MiB cache pages: each enters the store whole, so shmem makes it one
 * huge folio (where shmem_enabled allows it, as it does for this test as
 * root) and the kernel maps it with one PMD. The bytes are the file's,
 * the file's partial last page included, cold and warm.
 */
static void huge_store_pages(void **state)
{
	off_t size = 8 * MB + 5000;	/* a partial last page */
	struct fc_config cfg;
	struct th_fx *f = th_fx_new(size, 35, 0, false);
	char mode[64] = "";
	struct fc_stats st;
	unsigned char *p;
	long kb;

	(void)state;
	fc_cache_destroy(f->c);
	th_config_init(&cfg);
	cfg.page_size = 2 * MB;
	cfg.readahead_max = 4 * MB;
	cfg.cache_bytes = 64 * MB;
	f->c = fc_cache_create(&cfg);
	assert_non_null(f->c);
	p = fc_map(f->c, f->fd, 0, 0, 0);
	assert_non_null(p);
	assert_memory_equal(p, f->ref, (size_t)size);
	kb = pmd_mapped_kb(p);
	read_setting(SHMEM_ENABLED, mode, sizeof(mode));
	print_message("shmem_enabled %s: ShmemPmdMapped %ld KiB of the view\n",
		      mode, kb);
	fc_cache_stats(f->c, &st);
	if ((st.flags & FC_STATS_ZERO_COPY) &&
	    (!strcmp(mode, "within_size") || !strcmp(mode, "always")))
		assert_true(kb >= 2048);
	assert_int_equal(fc_unmap(p), 0);
	p = fc_map(f->c, f->fd, 0, 0, 0);	/* warm: from the store */
	assert_non_null(p);
	assert_memory_equal(p, f->ref, (size_t)size);
	assert_memory_equal(p + 2 * MB + 4096, f->ref + 2 * MB + 4096, 4096);
	assert_int_equal(fc_unmap(p), 0);
	/* a view from an offset inside a page: placed to match the store */
	p = fc_map(f->c, f->fd, 4096, 6 * MB, 0);
	assert_non_null(p);
	if (st.flags & FC_STATS_ZERO_COPY)
		assert_int_equal(((uintptr_t)p - 4096) % (2 * MB), 0);
	assert_memory_equal(p, f->ref + 4096, 6 * MB);
	assert_int_equal(fc_unmap(p), 0);
	th_fx_free(f);
}

static int run_checks(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(store_write_makes_its_page_only),
		cmocka_unit_test(retried_read_keeps_neighbours),
		cmocka_unit_test(store_within_budget),
		cmocka_unit_test(huge_store_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
	char old_thp[64], lock[512];
	int status, lfd, ret;
	pid_t pid;

	th_require_uffd();
	if (!read_setting(SHMEM_ENABLED, old_thp, sizeof(old_thp))) {
		printf("no shmem THP on this kernel: nothing huge can happen\n");
		return run_checks();
	}
	if (geteuid() != 0 || access(SHMEM_ENABLED, W_OK)) {
		printf("not root: checks run under the host's shmem_enabled "
		       "(%s), which this test cannot set\n", old_thp);
		return run_checks();
	}
	/* one test at a time changes the settings (the _copy/_inline runs) */
	snprintf(lock, sizeof(lock), "%s/fctest-thp.lock", th_dir());
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (lfd < 0 || flock(lfd, LOCK_EX)) {
		perror(lock);
		return 1;
	}
	if (!read_setting(SHMEM_ENABLED, old_thp, sizeof(old_thp)) ||
	    !write_setting(SHMEM_ENABLED, "within_size")) {
		fprintf(stderr, "cannot set shmem THP for the test: %s\n",
			strerror(errno));
		return 1;
	}
	printf("shmem_enabled within_size for the test (was %s)\n", old_thp);
	fflush(stdout);
	pid = fork();
	if (pid == 0)	/* exit, not _exit: th_make_file's files go at exit */
		exit(run_checks());
	ret = 1;
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		ret = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (!write_setting(SHMEM_ENABLED, old_thp)) {
		fprintf(stderr, "could not put back shmem_enabled %s\n",
			old_thp);
		ret = 1;
	}
	close(lfd);
	return ret;
}
