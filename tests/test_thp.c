/* SPDX-License-Identifier: MIT */
/*
 * test_thp: the views show the file's bytes, and the store keeps to its
 * budget, when shmem may use transparent huge pages.
 *
 * With shmem_enabled "within_size" (or "always"), a write into an empty
 * 2 MiB range of a memfd makes one huge folio, up to date, with zeros
 * around the bytes written; a view maps those zeros as if they were the
 * file's. And a fault in a mapping of the memfd allocates a whole 2 MiB
 * folio where 4 KiB was asked for. As root with FC_TEST_SYSTEM=1 the test
 * sets "within_size" for its run, in a parent process that puts the old
 * setting back however the checks end; the checks run in a child.
 * Otherwise it runs them under the host's setting, and says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "io.h"
#include "mapping.h"
#include "maptab.h"
#include "store.h"

#define MB (1024 * 1024)
#define THP "/sys/kernel/mm/transparent_hugepage/"
#define SHMEM_ENABLED THP "shmem_enabled"

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

static int run_checks(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(store_write_makes_its_page_only),
		cmocka_unit_test(retried_read_keeps_neighbours),
		cmocka_unit_test(store_within_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
	char old_thp[64];
	int status, lfd, ret;
	pid_t pid;

	th_require_uffd();
	if (!th_thp_get(old_thp, sizeof(old_thp))) {
		printf("no shmem THP on this kernel: nothing huge can happen\n");
		return run_checks();
	}
	if (geteuid() != 0 || access(SHMEM_ENABLED, W_OK)) {
		printf("not root: checks run under the host's shmem_enabled "
		       "(%s), which this test cannot set\n", old_thp);
		return run_checks();
	}
	if (!th_system_tests("setting shmem_enabled to within_size")) {
		printf("checks run under the host's shmem_enabled (%s)\n",
		       old_thp);
		return run_checks();
	}
	/* one test at a time changes the setting (the _copy/_inline runs,
	 * fcsoak --toggle-thp) */
	lfd = th_thp_lock();
	if (lfd < 0) {
		perror("lock on " SHMEM_ENABLED);
		return 1;
	}
	if (!th_thp_get(old_thp, sizeof(old_thp)) ||
	    !th_thp_set("within_size")) {
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
	if (!th_thp_set(old_thp)) {
		fprintf(stderr, "could not put back shmem_enabled %s\n",
			old_thp);
		ret = 1;
	}
	close(lfd);
	return ret;
}
