/* SPDX-License-Identifier: MIT */
/*
 * test_regions: the store's address space over a long-lived process's
 * life. Each file takes a region of the store as long as the file; the
 * holes freed regions leave merge with their neighbours and give the top
 * back, so files of ever-changing sizes reuse the space for good (issue
 * 24: holes kept apart filled the store, each too small for the next
 * larger file).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "collapse.h"
#include "file.h"

#define PG 4096

/*
 * TSan keeps its own map of the address space, which has no room for
 * mappings of a TiB: the growing file runs in the other builds.
 */
#ifdef __SANITIZE_THREAD__
#define TIB_MAPPINGS 0
#else
#define TIB_MAPPINGS 1
#endif
#define TIB (1ull << 40)
#define MIB (1ull << 20)

/* Under TSan, say that test @name does not run, and why: true. */
static bool no_room_for_tib(const char *name)
{
	if (TIB_MAPPINGS)
		return false;
	printf("%s: not under TSan (no room for mappings of a TiB in its "
	       "map of the address space)\n", name);
	return true;
}

/*
 * A log-like sparse file of over a TiB that grows by 2 MiB between maps:
 * each map takes a region of a new size, every one succeeds, and its last
 * page reads as pread says. (That the space comes back for good, however
 * large the store, is holes_merge's check.)
 */
static void growing_sparse_file(void **state)
{
	unsigned char mark[PG], got[PG];
	unsigned char *p;
	struct th_fx *x;
	off_t size;
	int r;

	(void)state;
	if (no_room_for_tib(__func__))
		return;
	x = th_fx_file(PG, 71);
	x->c = th_cache_create();
	assert_non_null(x->c);
	for (r = 0; r < 80; r++) {
		size = (off_t)(TIB + (uint64_t)r * 2 * MIB);
		memset(mark, r + 1, sizeof(mark));
		assert_int_equal(pwrite(x->fd, mark, PG, size - PG), PG);
		p = fc_map(x->c, x->fd, 0, 0, 0);
		if (!p)
			fail_msg("map %d of a %lld-byte file: %s", r,
				 (long long)size, strerror(errno));
		assert_int_equal(th_copy(got, p + size - PG, PG), 0);
		assert_memory_equal(got, mark, PG);
		assert_int_equal(fc_unmap(p), 0);
	}
	th_fx_free(x);
}

/*
 * A page-long window at the end of a 15 TiB sparse file (a disk image, a
 * log's tail): it maps and reads as pread says, and so do more windows
 * of the same file and a window of a second such file at once. The
 * store's region is the file's length, so this needs the store's span.
 */
static void window_at_end_of_huge_file(void **state)
{
	const off_t size = (off_t)(15 * TIB);
	unsigned char got[PG], *p[3];
	struct th_fx *x, *y;
	int i;

	(void)state;
	if (no_room_for_tib(__func__))
		return;
	x = th_fx_file(PG, 73);
	y = th_fx_file(PG, 74);
	x->c = th_cache_create();
	assert_non_null(x->c);
	assert_int_equal(ftruncate(x->fd, size), 0);
	assert_int_equal(pwrite(x->fd, x->ref, PG, size - PG), PG);
	assert_int_equal(ftruncate(y->fd, size), 0);
	assert_int_equal(pwrite(y->fd, y->ref, PG, size - PG), PG);
	for (i = 0; i < 3; i++) {
		p[i] = fc_map(x->c, i < 2 ? x->fd : y->fd, size - PG, PG, 0);
		if (!p[i])
			fail_msg("window %d: %s", i, strerror(errno));
		assert_int_equal(th_copy(got, p[i], PG), 0);
		assert_memory_equal(got, i < 2 ? x->ref : y->ref, PG);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(fc_unmap(p[i]), 0);
	th_fx_free(y);
	th_fx_free(x);
}

/* The line @key of /proc/self/status (VmRSS:, VmHWM:), in bytes. */
static uint64_t status_bytes(const char *key)
{
	FILE *fp = fopen("/proc/self/status", "re");
	unsigned long long kib = 0;
	char line[256];
	bool found = false;

	assert_non_null(fp);
	while (!found && fgets(line, sizeof(line), fp))
		found = !strncmp(line, key, strlen(key)) &&
			sscanf(line + strlen(key), "%llu", &kib) == 1;
	fclose(fp);
	assert_true(found);
	return kib << 10;
}

/*
 * Copy mode counts, for each page of a view, whether it holds a copy:
 * those bits cost memory where pages were read, not for the whole view.
 * A whole 8 TiB sparse file is mapped, its first and last pages read,
 * and the view unmapped: the process's resident set never grows by the
 * bits of the rest (a flat bitmap of 256 MiB, which an unmap cleared
 * whole, made every page of it resident).
 */
static void copy_bits_where_read(void **state)
{
	const off_t size = (off_t)(8 * TIB);
	unsigned char got[PG], *p;
	struct fc_config cfg;
	uint64_t rss, peak;
	struct th_fx *x;
	int fd;

	(void)state;
	if (no_room_for_tib(__func__))
		return;
	x = th_fx_file(PG, 75);
	th_config_init(&cfg);
	cfg.flags |= FC_CONFIG_COPY;
	x->c = fc_cache_create(&cfg);
	assert_non_null(x->c);
	assert_int_equal(ftruncate(x->fd, size), 0);
	assert_int_equal(pwrite(x->fd, x->ref, PG, size - PG), PG);
	p = fc_map(x->c, x->fd, 0, 0, 0);
	assert_non_null(p);
	assert_int_equal(th_copy(got, p, PG), 0);
	assert_memory_equal(got, x->ref, PG);
	assert_int_equal(th_copy(got, p + size - PG, PG), 0);
	assert_memory_equal(got, x->ref, PG);
	rss = status_bytes("VmRSS:");
	fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "5", 1), 1);	/* VmHWM := VmRSS */
	close(fd);
	assert_int_equal(fc_unmap(p), 0);
	peak = status_bytes("VmHWM:");
	print_message("resident %llu MiB, peak through the unmap %llu MiB\n",
		      (unsigned long long)(rss >> 20),
		      (unsigned long long)(peak >> 20));
	assert_true(peak < rss + 64 * MIB);
	th_fx_free(x);
}

/* A sparse file of @size bytes whose first 16 are @seed's, open. */
static int sparse_file(char *path, size_t len, off_t size, unsigned seed)
{
	unsigned char head[16];
	int fd;

	snprintf(path, len, "%s/fcregion.XXXXXX", th_dir());
	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(head, (int)seed, sizeof(head));
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(pwrite(fd, head, sizeof(head), 0), sizeof(head));
	return fd;
}

/*
 * Sparse files of many sizes mapped and unmapped in random order: once
 * none is left (retained ones let go too, once no read or collapse holds
 * them), no hole is left either and the store's space is all free at its
 * start.
 */
static void holes_merge(void **state)
{
	struct th_fx *x = th_fx_file(PG, 72);
	unsigned char *live[16] = { NULL };
	struct fc_config cfg;
	struct fc_cache *c;
	uint64_t seed = 5;
	char path[256];
	unsigned char v;
	int i, k, fd;

	(void)state;
	th_config_init(&cfg);
	cfg.flags |= FC_CONFIG_NO_COLLAPSE;	/* nothing to wait for at the end */
	c = x->c = fc_cache_create(&cfg);
	assert_non_null(c);
	for (i = 0; i < 400; i++) {
		k = (int)(th_rand(&seed) % 16);
		if (live[k])
			assert_int_equal(fc_unmap(live[k]), 0);
		fd = sparse_file(path, sizeof(path),
				 (off_t)(16 + th_rand(&seed) % (8 * MIB)),
				 (unsigned)i);
		live[k] = fc_map(c, fd, 0, 0, 0);
		assert_non_null(live[k]);
		assert_int_equal(th_touch(live[k], &v), 0);
		assert_int_equal(v, (unsigned char)i);
		close(fd);
		unlink(path);
	}
	for (k = 0; k < 16; k++)
		assert_int_equal(fc_unmap(live[k]), 0);
	th_pages_read_settled(c);
	for (;;) {	/* fc-collapse holds a file while it works on it */
		pthread_mutex_lock(&c->lock);
		if (fc__collapse_idle(c) && !c->nr_inflight)
			break;
		pthread_mutex_unlock(&c->lock);
		usleep(1000);
	}
	fc__retained_trim(c, 0);
	print_message("holes left %zu, top %llu\n", c->nr_extents,
		      (unsigned long long)c->next_region);
	assert_int_equal(c->nr_extents, 0);
	assert_int_equal(c->next_region, 0);
	pthread_mutex_unlock(&c->lock);
	th_fx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(growing_sparse_file),
		cmocka_unit_test(window_at_end_of_huge_file),
		cmocka_unit_test(copy_bits_where_read),
		cmocka_unit_test(holes_merge),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
