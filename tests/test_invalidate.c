/* SPDX-License-Identifier: MIT */
/*
 * test_invalidate: fc_invalidate(3) after a write through another
 * descriptor. Every mapping of the file in the cache shows the new bytes
 * once it returns (and a mapping made later, of a file kept after its last
 * unmap), pages outside the range stay cached, size changes are followed,
 * and reads in flight over the range when it is called never bring the
 * old bytes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define PG 4096

/* Write @len bytes of @val at @off through @fd, and into @ref. */
static void write_bytes(int fd, unsigned char *ref, off_t off, size_t len,
			unsigned char val)
{
	unsigned char *b = malloc(len);

	assert_non_null(b);
	memset(b, val, len);
	assert_int_equal(pwrite(fd, b, len, off), (ssize_t)len);
	if (ref)
		memcpy(ref + off, b, len);
	free(b);
}

static void sees_own_writes(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 51, 0, true);
	size_t n = (size_t)f->size / PG;
	unsigned char *v = malloc(n);

	(void)state;
	assert_non_null(v);
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	th_pages_read_settled(f->c);
	/* a page and a half from the middle of page 10, and a few bytes */
	write_bytes(f->fd, f->ref, 10 * PG + 100, PG + PG / 2, 0x5a);
	write_bytes(f->fd, f->ref, 200 * PG + 7, 3, 0xa5);
	assert_int_equal(fc_invalidate(f->c, f->fd, 10 * PG + 100, PG + PG / 2),
			 0);
	assert_int_equal(fc_invalidate(f->c, f->fd, 200 * PG + 7, 3), 0);
	/*
	 * the pages written are gone from the cache (the others may be
	 * too: a write the library sees by itself, through inotify, drops
	 * every page of the file)
	 */
	assert_int_equal(fc_mincore(f->p, (size_t)f->size, v), 0);
	assert_int_equal(v[10], 0);
	assert_int_equal(v[11], 0);
	assert_int_equal(v[200], 0);
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	free(v);
	th_fx_free(f);
}

/* Every mapping of the file, and one made later of a retained file. */
static void every_mapping(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 52, 0, true);
	unsigned char *q = fc_map(f->c, f->fd, 16 * PG, 32 * PG, 0);
	unsigned char *r = fc_map(f->c, f->fd, 128 * PG, 16 * PG, 0);

	(void)state;
	assert_non_null(q);
	assert_non_null(r);
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	assert_memory_equal(q, f->ref + 16 * PG, 32 * PG);
	assert_memory_equal(r, f->ref + 128 * PG, 16 * PG);
	th_pages_read_settled(f->c);
	assert_int_equal(fc_unmap(r), 0);	/* kept, with its pages */
	write_bytes(f->fd, f->ref, 0, (size_t)f->size, 0x77);
	assert_int_equal(fc_invalidate(f->c, f->fd, 0, 0), 0);
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	assert_memory_equal(q, f->ref + 16 * PG, 32 * PG);
	r = fc_map(f->c, f->fd, 128 * PG, 16 * PG, 0);
	assert_non_null(r);
	assert_memory_equal(r, f->ref + 128 * PG, 16 * PG);
	assert_int_equal(fc_unmap(r), 0);
	assert_int_equal(fc_unmap(q), 0);
	th_fx_free(f);
}

/* Truncation and growth through the descriptor are followed at once. */
static void size_changes(void **state)
{
	struct th_fx *f = th_fx_file(64 * PG, 53);
	unsigned char *p, v;

	(void)state;
	f->c = th_cache_create();
	assert_non_null(f->c);
	p = fc_map(f->c, f->fd, 0, 128 * PG, 0);	/* reaches past EOF */
	assert_non_null(p);
	assert_memory_equal(p, f->ref, 64 * PG);
	th_pages_read_settled(f->c);
	/* shrink to 10 pages and 10 bytes */
	assert_int_equal(ftruncate(f->fd, 10 * PG + 10), 0);
	assert_int_equal(fc_invalidate(f->c, f->fd, 10 * PG + 10, 0), 0);
	assert_int_equal(th_touch(p + 10 * PG + 9, &v), 0);
	assert_int_equal(v, f->ref[10 * PG + 9]);
	assert_int_equal(th_touch(p + 10 * PG + 10, &v), 0);
	assert_int_equal(v, 0);		/* zeros to the end of the page */
	assert_int_equal(th_touch(p + 11 * PG, &v), SIGBUS);
	/* grow again, with new bytes: readable at once */
	write_bytes(f->fd, NULL, 10 * PG + 10, 90 * PG - 10, 0x3c);
	assert_int_equal(fc_invalidate(f->c, f->fd, 10 * PG + 10, 90 * PG - 10),
			 0);
	assert_int_equal(th_touch(p + 10 * PG + 10, &v), 0);
	assert_int_equal(v, 0x3c);
	assert_int_equal(th_touch(p + 99 * PG, &v), 0);
	assert_int_equal(v, 0x3c);
	assert_int_equal(th_touch(p + 100 * PG, &v), SIGBUS);
	assert_int_equal(fc_unmap(p), 0);
	th_fx_free(f);
}

struct reader {
	unsigned char *p;
	size_t len;
	atomic_bool *stop;
	atomic_uint *gen;
	int bad;
	unsigned seed;
};

#define READERS 3

/* Cold random reads: the range is being read when it is invalidated. */
static void *read_loop(void *arg)
{
	struct reader *r = arg;
	uint64_t s = r->seed * 7919;

	while (!atomic_load(r->stop)) {
		size_t off = (size_t)(th_rand(&s) % r->len);
		unsigned g = atomic_load(r->gen);
		unsigned char b = r->p[off];

		/* a byte of this generation, of the one before, or the next */
		if (b != (unsigned char)g && b != (unsigned char)(g - 1) &&
		    b != (unsigned char)(g + 1))
			r->bad = 1;
	}
	return NULL;
}

/*
 * A thread keeps reading a range the cache cannot hold whole, so that
 * reads over it are in flight when the file is rewritten and
 * invalidated. Once fc_invalidate returns, every byte of the range must
 * be the new one: a read in flight that read the old bytes is dropped
 * when it ends.
 */
static void reads_in_flight_never_come_back(void **state)
{
	struct th_fx *f = th_fx_file(4 << 20, 54);
	struct fc_config cfg;
	atomic_bool stop = false;
	atomic_uint gen = 1;
	struct reader r[READERS];
	pthread_t th[READERS];
	unsigned g;
	size_t i;

	(void)state;
	write_bytes(f->fd, f->ref, 0, (size_t)f->size, 1);
	th_config_init(&cfg);
	cfg.cache_bytes = 1 << 20;
	f->c = fc_cache_create(&cfg);
	assert_non_null(f->c);
	f->p = fc_map(f->c, f->fd, 0, 0, 0);
	assert_non_null(f->p);
	assert_int_equal(fc_advise(f->p, (size_t)f->size, FC_ADVICE_RANDOM), 0);
	for (i = 0; i < READERS; i++) {
		r[i] = (struct reader){ f->p, (size_t)f->size, &stop, &gen, 0,
					(unsigned)i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, read_loop, &r[i]),
				 0);
	}
	for (g = 2; g < 18; g++) {
		write_bytes(f->fd, NULL, 0, (size_t)f->size, (unsigned char)g);
		atomic_store(&gen, g);
		assert_int_equal(fc_invalidate(f->c, f->fd, 0, 0), 0);
		for (i = 0; i < (size_t)f->size; i += PG)
			assert_int_equal(f->p[i + g % PG], g);
	}
	atomic_store(&stop, true);
	for (i = 0; i < READERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].bad, 0);
	}
	th_fx_free(f);
}

static void errors(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 55, 0, true);
	int dir = open(th_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct th_fx *other = th_fx_file(PG, 56);

	(void)state;
	assert_true(dir >= 0);
	assert_int_equal(fc_invalidate(f->c, -1, 0, 0), -EBADF);
	assert_int_equal(fc_invalidate(f->c, dir, 0, 0), -ENODEV);
	assert_int_equal(fc_invalidate(f->c, f->fd, -4096, 0), -EINVAL);
	assert_int_equal(fc_invalidate(f->c, f->fd, 4096, SIZE_MAX), -EINVAL);
	assert_int_equal(fc_invalidate((struct fc_cache *)f, f->fd, 0, 0),
			 -EINVAL);
	/* a file the cache never saw, an empty range: nothing to do */
	assert_int_equal(fc_invalidate(f->c, other->fd, 0, 0), 0);
	assert_int_equal(fc_invalidate(f->c, f->fd, (off_t)f->size * 4, 10), 0);
	/* nothing dropped by those */
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	close(dir);
	th_fx_free(other);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sees_own_writes),
		cmocka_unit_test(every_mapping),
		cmocka_unit_test(size_changes),
		cmocka_unit_test(reads_in_flight_never_come_back),
		cmocka_unit_test(errors),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
