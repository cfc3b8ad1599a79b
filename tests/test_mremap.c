/* SPDX-License-Identifier: MIT */
/*
 * test_mremap: a program moves, shrinks or grows a pointer fc_map()
 * returned with mremap(2), as programs that follow a growing file do.
 * The library follows a move (the view stays registered with its
 * userfaultfd, and the table learns the new address): the moved range
 * shows the file's bytes, fc_unmap() takes the new pointer, and another
 * mapping of the same file keeps showing the file's bytes (a moved range
 * the kernel served itself would allocate zeroed pages in the store every
 * view shares). A part added by growing is not the library's: each of
 * its pages shows the file's bytes or raises SIGBUS, never zeros or
 * another file's bytes. Every byte is compared with pread of the file.
 * (MADV_DOFORK and fork: test_fork.)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define PG 4096
#define LEN (64 * PG)

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static struct fc_stats stats(struct fc_cache *c)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(c, &st), 0);
	assert_true(st.resident_bytes <= st.budget_bytes);
	return st;
}

/* An address range nothing is mapped at (for MREMAP_FIXED). */
static unsigned char *hole(size_t len)
{
	unsigned char *r = mmap(NULL, len, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(r != MAP_FAILED);
	return r;
}

/*
 * Nothing of the view is mapped at [@p, @p+@len) any more: the range a
 * move gave up. Asked of the kernel by mapping it (MAP_FIXED_NOREPLACE
 * fails on any mapping there), not by a touch, which would meet whatever
 * the process mapped there since. That may happen between the move and
 * this check: a handler thread's allocation, or a sanitizer's allocator,
 * takes such a hole at once (EEXIST then says nothing either way).
 */
static void gone(unsigned char *p, size_t len)
{
	void *r = mmap(p, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (r == MAP_FAILED) {
		assert_int_equal(errno, EEXIST);
		return;
	}
	assert_ptr_equal(r, p);
	assert_int_equal(munmap(r, len), 0);
}

/* Touch every 3rd page of [p, p+len): some pages cached before a move. */
static void warm(const unsigned char *p, size_t len)
{
	unsigned char v;
	size_t i;

	for (i = 0; i < len; i += 3 * PG)
		assert_int_equal(th_touch(p + i, &v), 0);
}

/* The whole mapping moved, to an address chosen by the program. */
static void move_fixed(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 91, 0, false);
	unsigned char *p = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *q = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *to = hole(LEN), *np, v;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	warm(p, LEN);
	th_pages_read_settled(f->c);
	np = mremap(p, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	assert_ptr_equal(np, to);
	gone(p, LEN);		/* the old range */
	th_check_bytes(np, f, 0, LEN);	/* missing pages read, not zeros */
	th_check_bytes(q, f, 0, LEN);	/* the store kept the file's bytes */
	assert_int_equal(fc_unmap(p), -EINVAL);
	assert_int_equal(fc_unmap(np), 0);
	assert_int_equal(stats(f->c).mappings, 1);
	assert_int_equal(th_touch(np, &v), SIGSEGV);
	th_check_bytes(q, f, 0, LEN);
	assert_int_equal(fc_unmap(q), 0);
	assert_int_equal(stats(f->c).mappings, 0);
	th_fx_free(f);
}

/*
 * A part of a view moved onto another part of the same view: the view
 * is met at both ends of the move. The moved pages, never read before,
 * are read at their new address as the file's, and the store keeps the
 * file's bytes for a second mapping; the view becomes four mappings.
 */
static void move_within_view(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 101, 0, false);
	unsigned char *p = fc_map(f->c, f->fd, 0, 32 * PG, 0);
	unsigned char *q = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *np;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	np = mremap(p, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
		    p + 16 * PG);
	assert_ptr_equal(np, p + 16 * PG);
	gone(p, 8 * PG);			/* the source */
	th_check_bytes(np, f, 0, 8 * PG);		/* the moved pages */
	th_check_bytes(p + 8 * PG, f, 8 * PG, 8 * PG);	/* left in place */
	th_check_bytes(p + 24 * PG, f, 24 * PG, 8 * PG);
	th_check_bytes(q, f, 0, LEN);
	assert_int_equal(stats(f->c).mappings, 4);
	assert_int_equal(fc_unmap(np), 0);
	assert_int_equal(fc_unmap(p + 8 * PG), 0);
	assert_int_equal(fc_unmap(p + 24 * PG), 0);
	th_check_bytes(q, f, 0, LEN);
	assert_int_equal(fc_unmap(q), 0);
	assert_int_equal(stats(f->c).mappings, 0);
	th_fx_free(f);
}

/* A part moved: the mapping becomes three, each unmapped by its pointer. */
static void move_part(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 92, 0, false);
	unsigned char *p = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *to = hole(8 * PG), *np;

	(void)state;
	assert_non_null(p);
	np = mremap(p + 16 * PG, 8 * PG, 8 * PG,
		    MREMAP_MAYMOVE | MREMAP_FIXED, to);
	assert_ptr_equal(np, to);
	gone(p + 16 * PG, 8 * PG);
	th_check_bytes(np, f, 16 * PG, 8 * PG);
	th_check_bytes(p, f, 0, 16 * PG);
	th_check_bytes(p + 24 * PG, f, 24 * PG, LEN - 24 * PG);
	/* fc_unmap finds the table updated (the event is applied) */
	assert_int_equal(fc_unmap(np), 0);
	assert_int_equal(stats(f->c).mappings, 2);
	assert_int_equal(fc_unmap(p + 24 * PG), 0);
	th_check_bytes(p, f, 0, 16 * PG);
	assert_int_equal(fc_unmap(p), 0);
	assert_int_equal(stats(f->c).mappings, 0);
	th_fx_free(f);
}


/*
 * The growth of view @np, bytes [@from, @to): the file's bytes or SIGBUS,
 * never anything else.
 */
static void check_growth(unsigned char *np, struct th_fx *f, size_t from,
			 size_t to)
{
	unsigned char v;
	size_t i;
	int sig;

	for (i = from; i < to; i += PG) {
		sig = th_touch(np + i, &v);
		assert_true(sig == 0 || sig == SIGBUS);
		if (!sig)
			th_check_bytes(np + i, f, (off_t)i, PG);
	}
}
/* Moved by the kernel's choice, growing: the old length is served. */
static void grow_moved(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 93, 0, false);
	unsigned char *p = fc_map(f->c, f->fd, 0, LEN / 2, 0);
	unsigned char *q = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *guard, *np;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	/* something right after the view: the growth must move it */
	guard = mmap(p + LEN / 2, PG, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	warm(p, LEN / 2);
	th_check_bytes(q + 3 * LEN / 4, f, 3 * LEN / 4, LEN / 4); /* cached */
	np = mremap(p, LEN / 2, LEN, MREMAP_MAYMOVE);
	assert_true(np != MAP_FAILED);
	if (guard != MAP_FAILED) {
		assert_ptr_not_equal(np, p);
		munmap(guard, PG);
	}
	th_check_bytes(np, f, 0, LEN / 2);
	check_growth(np, f, LEN / 2, LEN);
	th_check_bytes(q, f, 0, LEN);
	assert_int_equal(fc_unmap(np), 0);
	munmap(np + LEN / 2, LEN / 2);	/* the growth is the program's */
	th_check_bytes(q, f, 0, LEN);
	assert_int_equal(fc_unmap(q), 0);
	stats(f->c);
	th_fx_free(f);
}

/*
 * The growth of a view reaches past its file's part of the store: there
 * lie other files' pages, which it must never show. A second file of the
 * same cache, read whole, is cached right there unless the store keeps
 * the growth of a view clear.
 */
static void grow_past_file(void **state)
{
	struct th_fx *f = th_fx_new(16 * PG, 98, 0, false);
	struct th_fx *g = th_fx_file(4 << 20, 99);
	unsigned char *p = fc_map(f->c, f->fd, 0, 16 * PG, 0);
	unsigned char *q = fc_map(f->c, g->fd, 0, 4 << 20, 0);
	size_t grow = 64 << 20, i;
	unsigned char *np, v;
	int sig;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	th_check_bytes(q, g, 0, 4 << 20);	/* the other file cached */
	th_check_bytes(p, f, 0, 16 * PG);
	np = mremap(p, 16 * PG, grow, MREMAP_MAYMOVE);
	assert_true(np != MAP_FAILED);
	th_check_bytes(np, f, 0, 16 * PG);
	for (i = 16 * PG; i < grow; i += PG) {
		sig = th_touch(np + i, &v);
		assert_int_equal(sig, SIGBUS);	/* past the file: nothing */
	}
	assert_int_equal(fc_unmap(np), 0);
	munmap(np + 16 * PG, grow - 16 * PG);
	th_check_bytes(q, g, 0, 4 << 20);
	assert_int_equal(fc_unmap(q), 0);
	stats(f->c);
	th_fx_free(g);
	th_fx_free(f);
}

/*
 * Grown in place (nothing after the view): the growth is not the
 * library's, but shows the file's bytes or raises SIGBUS.
 */
static void grow_in_place(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 100, 0, false);
	unsigned char *r = hole(LEN), *p, *np;

	(void)state;
	p = fc_map_fixed(f->c, r, f->fd, 0, LEN / 2, 0);
	assert_ptr_equal(p, r);
	warm(p, LEN / 2);
	/* the rest of the reservation given up just before (malloc may
	 * take free address space) */
	assert_int_equal(munmap(r + LEN / 2, LEN / 2), 0);
	np = mremap(p, LEN / 2, LEN, 0);
	assert_ptr_equal(np, p);
	th_check_bytes(np, f, 0, LEN / 2);
	check_growth(np, f, LEN / 2, LEN);
	assert_int_equal(fc_unmap(np), 0);
	munmap(np + LEN / 2, LEN / 2);
	stats(f->c);
	th_fx_free(f);
}

/* Shrunk in place: what is left is served, and unmapped by its pointer. */
static void shrink(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 94, 0, false);
	unsigned char *p = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *np;

	(void)state;
	assert_non_null(p);
	warm(p, LEN);
	np = mremap(p, LEN, LEN / 4, 0);
	assert_ptr_equal(np, p);
	th_check_bytes(np, f, 0, LEN / 4);
	assert_int_equal(fc_unmap(np), 0);
	stats(f->c);
	th_fx_free(f);
}

/* MREMAP_DONTUNMAP: both ranges show the file, both unmapped by fc_unmap. */
static void dontunmap(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 95, 0, false);
	unsigned char *p = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *q = fc_map(f->c, f->fd, 0, LEN, 0);
	unsigned char *to = hole(LEN), *np;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	warm(p, LEN);
	np = mremap(p, LEN, LEN,
		    MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to);
	if (np == MAP_FAILED) {	/* shared mappings: Linux 5.13 */
		assert_int_equal(errno, EINVAL);
		munmap(to, LEN);
	} else {
		assert_ptr_equal(np, to);
		th_check_bytes(np, f, 0, LEN);
		th_check_bytes(p, f, 0, LEN);
		th_check_bytes(q, f, 0, LEN);
		assert_int_equal(fc_unmap(np), 0);
		assert_int_equal(stats(f->c).mappings, 2);
	}
	th_check_bytes(p, f, 0, LEN);
	assert_int_equal(fc_unmap(p), 0);
	th_check_bytes(q, f, 0, LEN);
	assert_int_equal(fc_unmap(q), 0);
	th_fx_free(f);
}

/* Moved over part of another mapping: that part is gone, the rest stays. */
static void move_over_view(void **state)
{
	struct th_fx *f = th_fx_new(LEN, 96, 0, false);
	unsigned char *p = fc_map(f->c, f->fd, 0, 8 * PG, 0);
	unsigned char *q = fc_map(f->c, f->fd, 16 * PG, 24 * PG, 0), *np;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	np = mremap(p, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
		    q + 8 * PG);
	assert_ptr_equal(np, q + 8 * PG);
	th_check_bytes(q, f, 16 * PG, 8 * PG);
	th_check_bytes(np, f, 0, 8 * PG);
	th_check_bytes(q + 16 * PG, f, 32 * PG, 8 * PG);
	assert_int_equal(fc_unmap(np), 0);
	assert_int_equal(stats(f->c).mappings, 2);
	assert_int_equal(fc_unmap(q + 16 * PG), 0);
	assert_int_equal(fc_unmap(q), 0);
	assert_int_equal(stats(f->c).mappings, 0);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(move_fixed),
		cmocka_unit_test(move_part),
		cmocka_unit_test(move_within_view),
		cmocka_unit_test(grow_moved),
		cmocka_unit_test(grow_past_file),
		cmocka_unit_test(grow_in_place),
		cmocka_unit_test(shrink),
		cmocka_unit_test(dontunmap),
		cmocka_unit_test(move_over_view),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
