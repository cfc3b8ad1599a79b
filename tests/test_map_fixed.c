/* SPDX-License-Identifier: MIT */
/*
 * test_map_fixed: fc_map_fixed(3) places a mapping at an address,
 * replacing what is there as MAP_FIXED does. Over memory of another kind
 * it is a new view; over mappings of the library it cuts them, their
 * parts outside the range staying as mappings of their own, and where
 * one shows the same pages the new one takes its view in place: those
 * pages stay mapped, and threads reading them never fault. A range
 * unmapped a moment ago can be mapped again at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define PG 4096

static struct fc_stats stats(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	return st;
}

static void *reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* Over an inaccessible reservation: the view, and nothing else changed. */
static void on_reservation(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 61, 0, false);
	unsigned char *r = reserve(16 * PG), *p, v;

	(void)state;
	p = fc_map_fixed(f->c, r + 4 * PG, f->fd, 8 * PG, 8 * PG, 0);
	assert_ptr_equal(p, r + 4 * PG);
	assert_memory_equal(p, f->ref + 8 * PG, 8 * PG);
	assert_int_equal(th_touch(r + 3 * PG, &v), SIGSEGV);
	assert_int_equal(th_touch(r + 12 * PG, &v), SIGSEGV);
	assert_int_equal(stats(f->c).mappings, 1);
	assert_int_equal(fc_unmap(p), 0);
	munmap(r, 16 * PG);
	th_fx_free(f);
}

/* Over anonymous memory with data: the middle replaced, the rest kept. */
static void over_memory(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 62, 0, false);
	unsigned char *a = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *p;

	(void)state;
	assert_true(a != MAP_FAILED);
	memset(a, 0x42, 16 * PG);
	p = fc_map_fixed(f->c, a + 4 * PG, f->fd, 0, 8 * PG, 0);
	assert_ptr_equal(p, a + 4 * PG);
	assert_memory_equal(p, f->ref, 8 * PG);
	assert_int_equal(a[4 * PG - 1], 0x42);
	assert_int_equal(a[12 * PG], 0x42);
	assert_int_equal(fc_unmap(p), 0);
	munmap(a, 16 * PG);
	th_fx_free(f);
}

/*
 * Cut a mapping in three by mapping its middle again, then unmap the
 * middle: the outer parts are mappings of their own, still mapped (no
 * fault reading them again), and unmapped by their own start address.
 */
static void keeps_parts(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 63, 0, true);
	unsigned char *p = f->p, *q, v;
	struct fc_stats st;
	uint64_t faults;

	(void)state;
	assert_memory_equal(p, f->ref, 64 * PG);
	th_pages_read_settled(f->c);
	q = fc_map_fixed(f->c, p + 16 * PG, f->fd, 16 * PG, 16 * PG, 0);
	assert_ptr_equal(q, p + 16 * PG);
	st = stats(f->c);
	assert_int_equal(st.mappings, 3);
	faults = st.faults;
	assert_memory_equal(p, f->ref, 64 * PG);	/* no part was remapped */
	assert_int_equal(stats(f->c).faults, faults);
	assert_int_equal(fc_unmap(p + 8 * PG), -EINVAL);	/* interior */
	assert_int_equal(fc_unmap(q), 0);
	assert_int_equal(th_touch(q, &v), SIGSEGV);
	assert_int_equal(stats(f->c).mappings, 2);
	assert_memory_equal(p, f->ref, 16 * PG);
	assert_memory_equal(p + 32 * PG, f->ref + 32 * PG, (size_t)f->size - 32 * PG);
	assert_int_equal(stats(f->c).faults, faults);
	/* advice and fc_mincore work on the parts */
	assert_int_equal(fc_advise(p + 32 * PG, PG, FC_ADVICE_RANDOM), 0);
	assert_int_equal(fc_mincore(p + 32 * PG, PG, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(fc_unmap(p + 32 * PG), 0);
	assert_int_equal(fc_unmap(p), 0);
	assert_int_equal(stats(f->c).mappings, 0);
	f->p = NULL;
	th_fx_free(f);
}

/*
 * Grow in place, as mremap(2) does: the old pages stay mapped, the new
 * ones come from a view over the room reserved after them.
 */
static void grows_in_place(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 64, 0, false);
	unsigned char *r = reserve(32 * PG), *p;
	uint64_t faults;

	(void)state;
	p = fc_map_fixed(f->c, r, f->fd, 0, 16 * PG, 0);
	assert_ptr_equal(p, r);
	assert_memory_equal(p, f->ref, 16 * PG);
	th_pages_read_settled(f->c);
	faults = stats(f->c).faults;
	assert_ptr_equal(fc_map_fixed(f->c, r, f->fd, 0, 32 * PG, 0), r);
	assert_int_equal(stats(f->c).mappings, 1);
	assert_memory_equal(p, f->ref, 16 * PG);
	assert_int_equal(stats(f->c).faults, faults);
	assert_memory_equal(p, f->ref, 32 * PG);
	/* and shrink again: the tail a mapping of its own, unmapped */
	assert_ptr_equal(fc_map_fixed(f->c, r + 8 * PG, f->fd, 8 * PG, 24 * PG,
				      0), r + 8 * PG);
	assert_int_equal(fc_unmap(r + 8 * PG), 0);
	assert_memory_equal(p, f->ref, 8 * PG);
	assert_int_equal(fc_unmap(p), 0);
	munmap(r, 32 * PG);
	th_fx_free(f);
}

/* Another file over the middle of a mapping: its bytes there, only. */
static void another_file(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 65, 0, true);
	struct th_fx *g = th_fx_file(1 << 20, 66);
	unsigned char *q;

	(void)state;
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	q = fc_map_fixed(f->c, f->p + 8 * PG, g->fd, 4 * PG, 8 * PG, 0);
	assert_ptr_equal(q, f->p + 8 * PG);
	assert_memory_equal(q, g->ref + 4 * PG, 8 * PG);
	assert_memory_equal(f->p, f->ref, 8 * PG);
	assert_memory_equal(f->p + 16 * PG, f->ref + 16 * PG,
			    (size_t)f->size - 16 * PG);
	assert_int_equal(stats(f->c).mappings, 3);
	assert_int_equal(fc_unmap(q), 0);
	assert_int_equal(fc_unmap(f->p + 16 * PG), 0);
	th_fx_free(f);
	th_fx_free(g);
}

/* A range just unmapped (its placeholder may still wait) mapped again. */
static void after_unmap(void **state)
{
	struct th_fx *f = th_fx_new(4 << 20, 67, 0, true);
	unsigned char *p = f->p, *q;
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		assert_int_equal(fc_advise(p, (size_t)f->size,
					   FC_ADVICE_WILLNEED), 0);
		assert_int_equal(fc_unmap(p), 0);
		q = fc_map_fixed(f->c, p, f->fd, 0, (size_t)f->size, 0);
		assert_ptr_equal(q, p);
	}
	usleep(100 * 1000);	/* the old placeholders' last references */
	assert_memory_equal(p, f->ref, (size_t)f->size);
	assert_int_equal(stats(f->c).mappings, 1);
	th_fx_free(f);
}

struct reader {
	const unsigned char *p, *ref;
	size_t len;
	atomic_bool *stop;
	int bad;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	uint64_t s = 3;
	unsigned char v;

	while (!atomic_load(r->stop)) {
		size_t off = (size_t)(th_rand(&s) % r->len);

		if (th_touch(r->p + off, &v) || v != r->ref[off])
			r->bad = 1;
	}
	return NULL;
}

/*
 * Threads read the first quarter of a mapping while its other parts are
 * cut off, mapped again and unmapped, over and over: the part they read
 * is never unmapped, so they never fault on it and never read wrong.
 */
static void readers_never_fault(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 68, 0, true);
	unsigned char *p = f->p;
	size_t q = (size_t)f->size / 4;
	atomic_bool stop = false;
	struct reader r = { p, f->ref, q, &stop, 0 };
	pthread_t th[2];
	int i, k;

	(void)state;
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, read_loop, &r), 0);
	for (k = 0; k < 100; k++) {
		/* cut the mapping at q: [0, q) adopted, the rest a mapping */
		assert_ptr_equal(fc_map_fixed(f->c, p, f->fd, 0, q, 0), p);
		assert_int_equal(fc_unmap(p + q), 0);
		/* and grow it back over the room that left */
		assert_ptr_equal(fc_map_fixed(f->c, p, f->fd, 0,
					      (size_t)f->size, 0), p);
		assert_int_equal(stats(f->c).mappings, 1);
	}
	atomic_store(&stop, true);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(r.bad, 0);
	assert_memory_equal(p, f->ref, (size_t)f->size);
	th_fx_free(f);
}

static void errors(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 69, 0, true);
	unsigned char *r = reserve(4 * PG);

	(void)state;
	errno = 0;
	assert_null(fc_map_fixed(f->c, r + 1, f->fd, 0, PG, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_fixed(f->c, NULL, f->fd, 0, PG, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_fixed(f->c, r, -1, 0, PG, 0));
	assert_int_equal(errno, EBADF);
	assert_null(fc_map_fixed(f->c, r, f->fd, 100, PG, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_fixed(f->c, r, f->fd, 0, PG, 1));
	assert_int_equal(errno, EINVAL);
	assert_null(fc_map_fixed((struct fc_cache *)f, r, f->fd, 0, PG, 0));
	assert_int_equal(errno, EINVAL);
	/* nothing changed: the mapping is whole, the reservation too */
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	assert_int_equal(stats(f->c).mappings, 1);
	munmap(r, 4 * PG);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(on_reservation),
		cmocka_unit_test(over_memory),
		cmocka_unit_test(keeps_parts),
		cmocka_unit_test(grows_in_place),
		cmocka_unit_test(another_file),
		cmocka_unit_test(after_unmap),
		cmocka_unit_test(readers_never_fault),
		cmocka_unit_test(errors),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
