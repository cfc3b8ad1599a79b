/* SPDX-License-Identifier: MIT */
/*
 * test_readahead: the readahead state machine against tables of access
 * patterns and the windows the kernel's rules give for them (max = 32).
 */
#include <stdlib.h>

#include "helpers.h"
#include "readahead.h"

#define MAX 32
#define NR 1000

static void sizes(void **state)
{
	static const unsigned init[][2] = {
		{ 1, 4 }, { 2, 4 }, { 4, 8 }, { 8, 16 }, { 9, 32 }, { 64, 32 },
	};
	static const unsigned next[][2] = {
		{ 1, 4 }, { 2, 4 }, { 4, 8 }, { 16, 32 }, { 17, 32 }, { 32, 32 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(init) / sizeof(init[0]); i++)
		assert_int_equal(fc__ra_init_size(init[i][0], MAX), init[i][1]);
	for (i = 0; i < sizeof(next) / sizeof(next[0]); i++)
		assert_int_equal(fc__ra_next_size(next[i][0], MAX), next[i][1]);
}

struct row {
	char op;		/* 'm' miss, 'k' marker hit, 'h' plain hit */
	uint64_t index;
	uint64_t start, size, marker; /* expected window; size 0 = none */
	int has_marker;
};

static bool cached_upto_510(void *arg, uint64_t index)
{
	(void)arg;
	return index < 510;
}

static void run(const struct row *rows, size_t n, enum fc_ra_advice adv)
{
	struct fc_ra ra;
	size_t i;

	fc__ra_init(&ra, MAX);
	fc__ra_advise(&ra, adv);
	for (i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		struct fc_ra_window w = { 0, 0, 0, false };

		if (r->op == 'm')
			w = fc__ra_miss(&ra, r->index, NR);
		else if (r->op == 'k')
			w = fc__ra_marker(&ra, r->index, NR, cached_upto_510,
					  NULL);
		else
			fc__ra_hit(&ra);
		if (r->op == 'h')
			continue;
		print_message("row %zu: %c %lu -> [%lu +%lu) marker %d@%lu\n",
			      i, r->op, (unsigned long)r->index,
			      (unsigned long)w.start, (unsigned long)w.size,
			      w.has_marker, (unsigned long)w.marker);
		assert_int_equal(w.size, r->size);
		if (!r->size)
			continue;
		assert_int_equal(w.start, r->start);
		assert_int_equal(w.has_marker, r->has_marker);
		if (r->has_marker)
			assert_int_equal(w.marker, r->marker);
	}
}

/* Read-around centred on the fault, then the pipelined stream. */
static void normal_stream(void **state)
{
	static const struct row rows[] = {
		{ 'm', 100, 84, 32, 108, 1 },	/* ra_pages/2 back, async/4 */
		{ 'k', 108, 116, 32, 116, 1 },	/* expected marker: next */
		{ 'k', 116, 148, 32, 148, 1 },	/* full pipelining */
		{ 'm', 5, 0, 32, 24, 1 },	/* clipped at file start */
		{ 'm', 995, 979, 21, 0, 0 },	/* clipped at EOF: no marker */
		{ 'k', 500, 510, 32, 510, 1 },	/* context: after cached run */
	};

	(void)state;
	run(rows, sizeof(rows) / sizeof(rows[0]), FC_RA_NORMAL);
}

static void random_advice(void **state)
{
	static const struct row rows[] = {
		{ 'm', 100, 100, 1, 0, 0 },
		{ 'k', 100, 0, 0, 0, 0 },	/* no async readahead */
		{ 'm', 7, 7, 1, 0, 0 },
	};

	(void)state;
	run(rows, sizeof(rows) / sizeof(rows[0]), FC_RA_RANDOM);
}

static void sequential_advice(void **state)
{
	static const struct row rows[] = {
		{ 'm', 10, 10, 32, 26, 1 },	/* forward, full window */
		{ 'k', 26, 42, 32, 42, 1 },
		{ 'k', 42, 74, 32, 74, 1 },
	};

	(void)state;
	run(rows, sizeof(rows) / sizeof(rows[0]), FC_RA_SEQUENTIAL);
}

/* More than 100 misses without hits: read-around stops; hits restore it. */
static void miss_backoff(void **state)
{
	struct fc_ra ra;
	struct fc_ra_window w;
	int i;

	(void)state;
	fc__ra_init(&ra, MAX);
	for (i = 0; i < 100; i++) {
		w = fc__ra_miss(&ra, (uint64_t)i * 97 % NR, NR);
		assert_true(w.size > 1);
	}
	w = fc__ra_miss(&ra, 500, NR);
	assert_int_equal(w.size, 1);
	assert_int_equal(w.start, 500);
	fc__ra_hit(&ra);	/* 100 */
	w = fc__ra_miss(&ra, 500, NR);	/* 101: still off */
	assert_int_equal(w.size, 1);
	fc__ra_hit(&ra);
	fc__ra_hit(&ra);	/* 99 */
	w = fc__ra_miss(&ra, 500, NR);	/* 100: on again */
	assert_int_equal(w.size, MAX);
	/* the counter saturates: 2000 misses need only 1000 hits */
	for (i = 0; i < 2000; i++)
		fc__ra_miss(&ra, 1, NR);
	assert_int_equal(ra.mmap_miss, FC_RA_MISS_CAP);
	/* advice resets it */
	fc__ra_advise(&ra, FC_RA_NORMAL);
	assert_int_equal(fc__ra_miss(&ra, 500, NR).size, MAX);
}

/*
 * A reader going backwards misses just before each read-around window,
 * forever. Those misses continue a stream: read-around must stay on (the
 * kernel's reverse reader gets hits from fault-around in between; ours
 * are invisible, pages being installed ahead). Same for a forward reader
 * that runs past the end of a window.
 */
static void streams_keep_readaround(void **state)
{
	struct fc_ra ra;
	struct fc_ra_window w;
	uint64_t idx = 1000000;
	int i;

	(void)state;
	fc__ra_init(&ra, MAX);
	for (i = 0; i < 300; i++) {
		w = fc__ra_miss(&ra, idx, 2000000);
		assert_int_equal(w.size, MAX);
		idx = w.start - 1;	/* the page before the window */
	}
	fc__ra_init(&ra, MAX);
	idx = 0;
	for (i = 0; i < 300; i++) {
		w = fc__ra_miss(&ra, idx, 2000000);
		assert_int_equal(w.size, MAX);
		idx = w.start + w.size;	/* the page after the window */
	}
	/* random misses still switch it off */
	fc__ra_init(&ra, MAX);
	for (i = 0; i < 101; i++)
		w = fc__ra_miss(&ra, (uint64_t)i * 7919 % 1999, 2000000);
	assert_int_equal(w.size, 1);
}

/* Context readahead with no missing page within reach: nothing. */
static bool all_cached(void *arg, uint64_t index)
{
	(void)arg;
	(void)index;
	return true;
}

static void context_limits(void **state)
{
	struct fc_ra ra;

	(void)state;
	fc__ra_init(&ra, MAX);
	assert_int_equal(fc__ra_marker(&ra, 300, NR, all_cached, NULL).size, 0);
	/* a window of one page disables readahead entirely */
	fc__ra_init(&ra, 1);
	assert_int_equal(fc__ra_miss(&ra, 300, NR).size, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes),
		cmocka_unit_test(normal_stream),
		cmocka_unit_test(random_advice),
		cmocka_unit_test(sequential_advice),
		cmocka_unit_test(miss_backoff),
		cmocka_unit_test(context_limits),
		cmocka_unit_test(streams_keep_readaround),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
