/* SPDX-License-Identifier: MIT */
/*
 * test_huge: huge store pages, in caches whose page is the PMD size
 * (2 MiB), or, with FC_TEST_HUGE_PAGE=4096 (test_chunk), in caches of
 * 4 KiB pages, whose 2 MiB chunks are collapsed once all in the store.
 *
 * Pages (chunks) whole in the store are collapsed into huge folios in the
 * background (lib/collapse.c) and a fresh view maps them with PMDs; the
 * bytes stay the file's through collapse, eviction of collapsed pages,
 * advice on part of one, dropping one page of a collapsed chunk, and a
 * partial last page (chunk), which has a hole and is never collapsed.
 * Copy mode has no huge store pages: the same bytes, nothing collapsed.
 * Runs under the host's shmem_enabled: MADV_COLLAPSE works under every
 * value but "deny" (then nothing is collapsed, said).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "chunk.h"
#include "collapse.h"
#include "config.h"
#include "mapping.h"
#include "maptab.h"
#include "reclaim.h"

#define MB (1024 * 1024)
#define PMD (2 * MB)

static size_t PS = PMD;	/* the caches' page size */

static struct fc_cache *huge_cache(size_t budget, unsigned flags)
{
	struct fc_config cfg;
	struct fc_cache *c;

	th_config_init(&cfg);
	cfg.page_size = PS;
	cfg.cache_bytes = budget;
	/*
	 * windows of 4 pages: the reader reaches a window's marker while it
	 * is read, which once queued that page for collapse twice (18-19
	 * collapses counted for 16 pages)
	 */
	cfg.readahead_max = 8 * MB;
	cfg.flags |= flags;
	c = fc_cache_create(&cfg);
	assert_non_null(c);
	return c;
}

static uint64_t collapsed(struct fc_cache *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = c->nr_collapsed;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Can this host collapse at all (THP compiled in, shmem not "deny")? */
/* Read only: the test changes no setting (so needs no FC_TEST_SYSTEM). */
static bool can_collapse(void)
{
	char v[64];

	return access("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
		      R_OK) == 0 &&
	       (!th_thp_get(v, sizeof(v)) || strcmp(v, "deny"));
}

/*
 * Wait (up to 20 s) until @c has nothing left to collapse: no read in
 * flight either (a page mapped ahead into the reader's view is read
 * before its read is finished and queued).
 */
static uint64_t wait_collapsed(struct fc_cache *c)
{
	bool idle = false;
	int i;

	for (i = 0; i < 2000 && !idle; i++) {
		pthread_mutex_lock(&c->lock);
		idle = fc__collapse_idle(c) && !c->nr_inflight;
		pthread_mutex_unlock(&c->lock);
		if (!idle)
			usleep(10000);
	}
	assert_true(idle);
	return collapsed(c);
}

/* kB of @p's mapping mapped by PMDs, from /proc/self/smaps. */
static long pmd_mapped_kb(const void *p)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "re");
	unsigned long a = (unsigned long)p, s, e;
	bool in = false;
	long kb = -1;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = a >= s && a < e;
			continue;
		}
		if (in && !strncmp(line, "ShmemPmdMapped:", 15)) {
			kb = atol(line + 15);
			break;
		}
	}
	if (f)
		fclose(f);
	return kb;
}

/* Every byte of @p (a mapping of @ref's file of @size) is the file's. */
static void check_all(const unsigned char *p, const unsigned char *ref,
		      size_t size)
{
	size_t off;

	for (off = 0; off < size; off += MB) {
		size_t n = size - off < MB ? size - off : MB;

		assert_memory_equal(p + off, ref + off, n);
	}
}

/*
 * fc-collapse (which has collapsed by now, so its priority is set) is low
 * priority but not SCHED_IDLE: it takes cache->lock and holds file
 * references, and an idle-class thread on a busy CPU waits for seconds,
 * with faults waiting for the lock and a backend's release() for the
 * reference (test_backend failed so under load).
 */
static void collapser_not_idle_class(void)
{
	pid_t tid = th_thread_named("fc-collapse");

	assert_true(tid > 0);
	assert_int_equal(sched_getscheduler(tid), SCHED_OTHER);
	errno = 0;
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tid), 19);
	assert_int_equal(errno, 0);
}

/*
 * A file read whole is collapsed page by page, and a fresh view of it maps
 * the huge folios with PMDs, every byte the file's.
 */
static void collapsed_and_pmd_mapped(void **state)
{
	size_t size = 32 * MB;
	struct fc_cache *c = huge_cache(64 * MB, 0);
	char path[256];
	int fd = th_make_file(path, sizeof(path), (off_t)size, 61);
	unsigned char *ref = th_read_all(fd, (off_t)size), *p;
	struct fc_stats st;
	uint64_t n;
	long kb;

	(void)state;
	p = fc_map(c, fd, 0, 0, 0);
	assert_non_null(p);
	check_all(p, ref, size);
	if (!th_zero_copy(c)) {	/* copy mode: no huge store pages */
		assert_false(c->huge_store || c->chunked);
		usleep(200000);
		assert_int_equal(collapsed(c), 0);
		goto out;
	}
	assert_true(PS == PMD ? c->huge_store : c->chunked);
	if (!can_collapse()) {
		print_message("no THP for shmem here: nothing to collapse\n");
		goto out;
	}
	n = wait_collapsed(c);
	collapser_not_idle_class();
	print_message("%lu of %zu pages collapsed, %lu failed (last: %s)\n",
		      (unsigned long)n, size / PS,
		      (unsigned long)c->nr_collapse_failed,
		      strerror(c->collapse_errno));
	/*
	 * Every page is tried; the only failure allowed is the host having
	 * no free huge page (ENOMEM, memory too fragmented), which is not
	 * the library's: most pages must still make it.
	 */
	assert_int_equal(n + c->nr_collapse_failed, size / PS);
	if (c->nr_collapse_failed)
		assert_int_equal(c->collapse_errno, ENOMEM);
	assert_true(n >= size / PS / 2);
	assert_int_equal(fc_cache_stats(c, &st), 0);	/* the public counts */
	assert_int_equal(st.collapses, n);
	assert_int_equal(st.collapse_failures, c->nr_collapse_failed);
	fc_unmap(p);
	p = fc_map(c, fd, 0, 0, 0);	/* a fresh view */
	assert_non_null(p);
	check_all(p, ref, size);
	kb = pmd_mapped_kb(p);
	print_message("fresh view: %ld kB PMD-mapped of %zu\n", kb,
		      size / 1024);
	assert_true(kb >= (long)(n * PS / 1024) - 2048);
out:
	fc_unmap(p);
	fc_cache_destroy(c);
	close(fd);
	unlink(path);
	free(ref);
}

/*
 * Collapsed pages evicted (a second file through the same budget), then
 * read again; advice dropping part of a collapsed page; all bytes right.
 */
static void evicted_and_dropped(void **state)
{
	size_t size = 24 * MB;
	struct fc_cache *c = huge_cache(32 * MB, 0);
	char pa[256], pb[256];
	int fa = th_make_file(pa, sizeof(pa), (off_t)size, 62);
	int fb = th_make_file(pb, sizeof(pb), (off_t)size, 63);
	unsigned char *ra = th_read_all(fa, (off_t)size);
	unsigned char *rb = th_read_all(fb, (off_t)size);
	unsigned char *a, *b;
	struct fc_stats st;

	(void)state;
	a = fc_map(c, fa, 0, 0, 0);
	b = fc_map(c, fb, 0, 0, 0);
	assert_non_null(a);
	assert_non_null(b);
	check_all(a, ra, size);
	if (th_zero_copy(c) && can_collapse())
		assert_int_equal(wait_collapsed(c) + c->nr_collapse_failed,
				 size / PS);
	check_all(b, rb, size);		/* evicts most of a */
	fc_cache_stats(c, &st);
	assert_true(st.evictions >= (size - 8 * MB) / PS);
	pthread_mutex_lock(&c->lock);
	print_message("%lu evictions, %lu chunks split to evict part\n",
		      (unsigned long)st.evictions,
		      (unsigned long)c->nr_chunk_splits);
	pthread_mutex_unlock(&c->lock);
	assert_true(st.resident_bytes <= 32 * MB);
	check_all(a, ra, size);		/* read again, over collapsed ones */
	/* how many of b's and a's new pages are collapsed before eviction
	 * takes them depends on timing: only wait for the queue */
	if (th_zero_copy(c) && can_collapse())
		wait_collapsed(c);
	/* 12 KiB in the middle of a (maybe collapsed) page, then all */
	assert_int_equal(fc_advise(a + 5 * MB + 8192, 12288,
				   FC_ADVICE_DONTNEED), 0);
	check_all(a, ra, size);
	check_all(b, rb, size);
	fc_unmap(a);
	fc_unmap(b);
	fc_cache_destroy(c);
	close(fa);
	close(fb);
	unlink(pa);
	unlink(pb);
	free(ra);
	free(rb);
}

/*
 * A file that ends inside a page: that page has a hole past the end, and
 * the kernel refuses to collapse it (the views are registered for missing
 * faults) rather than fill the hole; the bytes are the file's, the tail of
 * the last system page zeros.
 */
static void partial_last_page(void **state)
{
	size_t size = 6 * MB + 5000, sp = (size_t)sysconf(_SC_PAGESIZE);
	struct fc_cache *c = huge_cache(32 * MB, 0);
	char path[256];
	int fd = th_make_file(path, sizeof(path), (off_t)size, 64);
	unsigned char *ref = th_read_all(fd, (off_t)size), *p;
	size_t end = (size + sp - 1) / sp * sp, i;
	uint64_t n;

	(void)state;
	p = fc_map(c, fd, 0, 0, 0);
	assert_non_null(p);
	check_all(p, ref, size);
	for (i = size; i < end; i++)
		assert_int_equal(p[i], 0);
	if (th_zero_copy(c) && can_collapse()) {
		/*
		 * the three whole pages (ENOMEM aside), not the last: EBUSY;
		 * a last chunk of smaller pages is never whole, never tried
		 */
		n = wait_collapsed(c);
		assert_true(n <= 3 * PMD / PS);
		assert_int_equal(n + c->nr_collapse_failed,
				 PS == PMD ? 4 : 3 * PMD / PS);
	}
	fc_unmap(p);
	p = fc_map(c, fd, 0, 0, 0);
	assert_non_null(p);
	check_all(p, ref, size);
	for (i = size; i < end; i++)
		assert_int_equal(p[i], 0);
	fc_unmap(p);
	fc_cache_destroy(c);
	close(fd);
	unlink(path);
	free(ref);
}

/* mincore of the store page behind page @index of @f (its alias). */
static bool in_store(struct fc_file *f, uint64_t index)
{
	unsigned char v = 0;

	assert_int_equal(mincore(f->alias + index * PS, 4096, &v), 0);
	return v & 1;
}

/*
 * 4 KiB pages: one page of a collapsed chunk dropped on its own (what a
 * file that shrank does to its pages past the end). The chunk is split:
 * copied out, punched whole, the rest put back small. That page is gone
 * from the store, its neighbours are there, and every byte read again
 * through a fresh view is the file's. A drop in a chunk that is not all
 * in the store splits nothing.
 */
static void part_of_chunk_dropped(void **state)
{
	size_t size = 8 * MB, per = PMD / PS;
	struct th_fx *x = th_fx_file((off_t)size, 66);
	struct fc_cache *c = x->c = huge_cache(32 * MB, 0);
	uint64_t victim = 2 * per + 7, splits;
	struct fc_page *pg;
	struct fc_file *f;

	(void)state;
	if (PS == PMD || !th_zero_copy(c)) {
		th_fx_free(x);
		skip();
	}
	x->p = fc_map(c, x->fd, 0, 0, 0);
	assert_non_null(x->p);
	check_all(x->p, x->ref, size);
	if (can_collapse())
		print_message("%lu pages collapsed\n",
			      (unsigned long)wait_collapsed(c));
	pthread_mutex_lock(&c->lock);
	f = c->files;
	splits = c->nr_chunk_splits;
	assert_true(fc__chunk_whole(c, f, victim));
	pg = fc__radix_lookup(&f->tree, victim);
	assert_non_null(pg);
	assert_int_equal(pg->pins, 0);
	fc__page_drop(c, pg);
	assert_int_equal(c->nr_chunk_splits, splits + 1);
	assert_false(fc__chunk_whole(c, f, victim));
	assert_false(in_store(f, victim));
	assert_true(in_store(f, victim - 1));
	assert_true(in_store(f, victim + 1));
	assert_true(in_store(f, 2 * per));
	assert_true(in_store(f, 3 * per - 1));
	/* the chunk is not whole now: another drop in it splits nothing */
	fc__page_drop(c, fc__radix_lookup(&f->tree, victim + 1));
	assert_int_equal(c->nr_chunk_splits, splits + 1);
	assert_true(in_store(f, victim + 2));
	pthread_mutex_unlock(&c->lock);
	check_all(x->p, x->ref, size);	/* the old view: the kernel's mapping */
	fc_unmap(x->p);
	x->p = fc_map(c, x->fd, 0, 0, 0);	/* a fresh one: the two read again */
	assert_non_null(x->p);
	check_all(x->p, x->ref, size);
	pthread_mutex_lock(&c->lock);
	assert_true(in_store(f, victim));
	pthread_mutex_unlock(&c->lock);
	th_fx_free(x);
}

/*
 * FC_CONFIG_NO_COLLAPSE (and FC_NO_COLLAPSE=1 for the default cache):
 * no huge store pages, nothing collapsed or PMD-mapped, the same bytes.
 */
static void no_collapse(void **state)
{
	size_t size = 8 * MB;
	struct th_fx *x = th_fx_file((off_t)size, 67);
	struct fc_config cfg;
	struct fc_cache *c;

	(void)state;
	setenv("FC_NO_COLLAPSE", "1", 1);
	assert_int_equal(fc__config_from_env(&cfg), 0);
	assert_true(cfg.flags & FC_CONFIG_NO_COLLAPSE);
	unsetenv("FC_NO_COLLAPSE");
	c = x->c = huge_cache(32 * MB, FC_CONFIG_NO_COLLAPSE);
	assert_false(c->huge_store || c->chunked);
	assert_null(c->collapse);
	x->p = fc_map(c, x->fd, 0, 0, 0);
	assert_non_null(x->p);
	check_all(x->p, x->ref, size);
	usleep(200000);
	assert_int_equal(collapsed(c), 0);
	fc_unmap(x->p);
	x->p = fc_map(c, x->fd, 0, 0, 0);
	assert_non_null(x->p);
	check_all(x->p, x->ref, size);
	assert_true(pmd_mapped_kb(x->p) <= 0);
	th_fx_free(x);
}

/* Destroy the cache while collapses are queued: it waits, nothing leaks. */
static void destroy_while_collapsing(void **state)
{
	size_t size = 48 * MB;
	int fds = th_count_fds(), k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct fc_cache *c = huge_cache(64 * MB, 0);
		char path[256];
		int fd = th_make_file(path, sizeof(path), (off_t)size, 65 + k);
		unsigned char *ref = th_read_all(fd, (off_t)size);
		unsigned char *p = fc_map(c, fd, 0, 0, 0);

		assert_non_null(p);
		check_all(p, ref, size);
		fc_cache_destroy(c);	/* the mapping with it */
		close(fd);
		unlink(path);
		free(ref);
	}
	assert_int_equal(th_count_fds(), fds);
}

int main(void)
{
	const char *ps = getenv("FC_TEST_HUGE_PAGE");

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(collapsed_and_pmd_mapped),
		cmocka_unit_test(evicted_and_dropped),
		cmocka_unit_test(partial_last_page),
		cmocka_unit_test(part_of_chunk_dropped),
		cmocka_unit_test(no_collapse),
		cmocka_unit_test(destroy_while_collapsing),
	};

	if (ps && *ps)
		PS = strtoul(ps, NULL, 0);
	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
