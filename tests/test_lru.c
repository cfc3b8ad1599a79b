/* SPDX-License-Identifier: MIT */
/* test_lru: the eviction policy, deterministically, without the kernel. */
#include <stdlib.h>

#include "helpers.h"
#include "lru.h"

struct item {
	struct fc_lru_node n;	/* first */
	int id;
	int busy;
	int cached;
};

static bool busy_fn(struct fc_lru_node *n, void *arg)
{
	(void)arg;
	return ((struct item *)n)->busy;
}

/*
 * A tiny cache over the policy: @cap slots; access(id) hits or misses,
 * evicting through fc__lru_victim. Returns 1 on a hit.
 */
struct sim {
	struct fc_lru lru;
	struct fc_shadows sh;
	struct item *items;
	size_t cap, used;
	bool shadows;
};

static int sim_access(struct sim *s, int id)
{
	struct item *it = &s->items[id];

	if (it->cached) {
		fc__lru_access(&s->lru, &it->n);
		return 1;
	}
	if (s->used == s->cap) {
		struct item *v = (struct item *)fc__lru_victim(&s->lru, busy_fn,
							       NULL);

		assert_non_null(v);
		v->cached = 0;
		if (s->shadows)
			fc__shadow_evicted(&s->sh, (uint64_t)v->id);
		s->used--;
	}
	it->cached = 1;
	s->used++;
	fc__lru_insert(&s->lru, &it->n,
		       s->shadows && fc__shadow_refault(&s->sh, (uint64_t)id,
							s->cap));
	fc__lru_access(&s->lru, &it->n);	/* the fault is a reference */
	return 0;
}

static void sim_init(struct sim *s, size_t cap, size_t ids, bool shadows)
{
	s->items = calloc(ids, sizeof(*s->items));
	s->cap = cap;
	s->used = 0;
	s->shadows = shadows;
	fc__lru_init(&s->lru, cap);
	assert_int_equal(fc__shadows_init(&s->sh, cap), 0);
	for (size_t i = 0; i < ids; i++)
		s->items[i].id = (int)i;
}

static void sim_free(struct sim *s)
{
	assert_true(fc__lru_check(&s->lru));
	fc__shadows_destroy(&s->sh);
	free(s->items);
}

/* A page referenced twice outlives a one-pass scan of 4x the capacity. */
static void two_touch_beats_scan(void **state)
{
	struct sim s;
	int i, hits = 0;

	(void)state;
	sim_init(&s, 100, 1000, false);
	for (i = 0; i < 50; i++) {	/* hot set: half the cache, twice */
		sim_access(&s, i);
		sim_access(&s, i);
	}
	for (i = 500; i < 900; i++)	/* scan 4x the cache, once each */
		sim_access(&s, i);
	for (i = 0; i < 50; i++)
		hits += sim_access(&s, i);
	assert_int_equal(hits, 50);
	sim_free(&s);
}

/* Plain LRU would lose it: a page touched once does not survive. */
static void one_touch_is_evicted(void **state)
{
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, 100, 1000, false);
	sim_access(&s, 1);
	for (i = 500; i < 700; i++)
		sim_access(&s, i);
	assert_int_equal(sim_access(&s, 1), 0);
	sim_free(&s);
}

/*
 * Busy pages are never returned, and keep their place: once no longer
 * busy, the oldest is the next victim again. All busy gives NULL.
 */
static void busy_pages_skipped(void **state)
{
	struct fc_lru_node *out[4];
	struct sim s;
	struct item *v;
	int i;

	(void)state;
	sim_init(&s, 16, 16, false);
	for (i = 0; i < 16; i++)
		sim_access(&s, i);
	s.items[0].busy = 1;
	v = (struct item *)fc__lru_victim(&s.lru, busy_fn, NULL);
	assert_int_equal(v->id, 1);
	s.items[0].busy = 0;
	v = (struct item *)fc__lru_victim(&s.lru, busy_fn, NULL);
	assert_int_equal(v->id, 0);
	/* a batch passes over busy ones: 3 and 5 busy, 2, 4, 6, 7 taken */
	s.items[3].busy = s.items[5].busy = 1;
	assert_int_equal(fc__lru_victims(&s.lru, busy_fn, NULL, out, 4), 4);
	assert_int_equal(((struct item *)out[0])->id, 2);
	assert_int_equal(((struct item *)out[1])->id, 4);
	assert_int_equal(((struct item *)out[2])->id, 6);
	assert_int_equal(((struct item *)out[3])->id, 7);
	for (i = 0; i < 16; i++)
		s.items[i].busy = 1;
	assert_null(fc__lru_victim(&s.lru, busy_fn, NULL));
	assert_true(fc__lru_check(&s.lru));
	/* the busy ones are all still there, in their order */
	assert_int_equal(fc__lru_size(&s.lru), 10);
	s.items[3].busy = 0;
	v = (struct item *)fc__lru_victim(&s.lru, busy_fn, NULL);
	assert_int_equal(v->id, 3);
	sim_free(&s);
}

/* The active list never holds more than 3/4 of the capacity. */
static void active_is_bounded(void **state)
{
	struct sim s;
	int i, round;

	(void)state;
	sim_init(&s, 64, 64, false);
	for (round = 0; round < 2; round++)
		for (i = 0; i < 64; i++)
			sim_access(&s, i);
	assert_true(s.lru.count[1] <= 48);
	assert_int_equal(fc__lru_size(&s.lru), 64);
	sim_free(&s);
}

/*
 * Working-set transition (mm/workingset.c): set A (60 pages) was hot and
 * sits in the active list; the program moves on to set B (60 pages) used
 * in a loop. B cycles through an inactive list of ~40 pages and each page
 * is evicted before its second touch, so without shadows B never gets a
 * hit while stale A keeps the active list. Shadows see B's refaults come
 * back within the cache size and activate them.
 */
static int transition(bool shadows)
{
	struct sim s;
	int round, i, hits = 0;

	sim_init(&s, 100, 200, shadows);
	for (round = 0; round < 3; round++)
		for (i = 0; i < 60; i++)
			sim_access(&s, i);
	for (round = 0; round < 20; round++)
		for (i = 100; i < 160; i++)
			hits += round >= 10 ? sim_access(&s, i)
					    : (sim_access(&s, i), 0);
	sim_free(&s);
	return hits;
}

static void shadows_follow_new_working_set(void **state)
{
	int plain = transition(false), shadow = transition(true);

	(void)state;
	print_message("set B hits: plain %d, shadows %d of 600\n", plain,
		      shadow);
	assert_int_equal(plain, 0);
	assert_true(shadow >= 540);
}

static void shadow_table(void **state)
{
	struct fc_shadows s;
	int i;

	(void)state;
	assert_int_equal(fc__shadows_init(&s, 100), 0);
	assert_int_equal(s.nr, 128);
	fc__shadow_evicted(&s, 7);
	assert_true(fc__shadow_refault(&s, 7, 10));
	assert_false(fc__shadow_refault(&s, 7, 10));	/* consumed */
	fc__shadow_evicted(&s, 8);
	for (i = 0; i < 20; i++)
		fc__shadow_evicted(&s, 1000 + (uint64_t)i * 128 * 7919 + 1);
	/* too long ago (or overwritten): not a working-set refault */
	assert_false(fc__shadow_refault(&s, 8, 10));
	assert_false(fc__shadow_refault(&s, 99, 1000));
	fc__shadows_destroy(&s);
}

static void count_passed(struct fc_lru_node *n, void *arg)
{
	(void)n;
	++*(int *)arg;
}

/*
 * The sampling hand passes inactive nodes oldest first, only once they
 * are @age insertions old, and never changes what is evicted when: the
 * nodes it passed leave first, and a passed node that leaves inactive
 * (promoted, removed) is no longer counted.
 */
static void hand_passes_old_nodes(void **state)
{
	struct item it[8] = { 0 };
	struct fc_lru lru;
	int i, seen = 0;

	(void)state;
	fc__lru_init(&lru, 8);
	for (i = 0; i < 8; i++) {
		it[i].id = i;
		fc__lru_insert(&lru, &it[i].n, false);
	}
	/* 8 inserted: nodes 0..3 are at least 4 insertions old */
	assert_int_equal(fc__lru_age(&lru, 4, 100, count_passed, &seen), 4);
	assert_int_equal(seen, 4);
	assert_int_equal(lru.behind, 4);
	assert_true(it[3].n.passed && !it[4].n.passed);
	assert_true(fc__lru_check(&lru));
	/* at most @max at a time, and nothing younger */
	assert_int_equal(fc__lru_age(&lru, 4, 100, count_passed, &seen), 0);
	assert_int_equal(fc__lru_age(&lru, 0, 2, count_passed, &seen), 2);
	assert_int_equal(lru.behind, 6);
	/* a passed node promoted by a second reference leaves the count */
	fc__lru_access(&lru, &it[2].n);
	fc__lru_access(&lru, &it[2].n);
	assert_true(it[2].n.active && !it[2].n.passed);
	assert_int_equal(lru.behind, 5);
	/* the hand's node removed: the hand steps back */
	fc__lru_remove(&lru, &it[5].n);
	assert_ptr_equal(lru.hand, &it[4].n);
	assert_true(fc__lru_check(&lru));
	/* eviction order is unchanged: oldest inactive first */
	assert_ptr_equal(fc__lru_victim(&lru, busy_fn, NULL), &it[0].n);
	assert_ptr_equal(fc__lru_victim(&lru, busy_fn, NULL), &it[1].n);
	assert_ptr_equal(fc__lru_victim(&lru, busy_fn, NULL), &it[3].n);
	assert_int_equal(lru.behind, 1);
	assert_true(fc__lru_check(&lru));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_touch_beats_scan),
		cmocka_unit_test(one_touch_is_evicted),
		cmocka_unit_test(busy_pages_skipped),
		cmocka_unit_test(active_is_bounded),
		cmocka_unit_test(shadows_follow_new_working_set),
		cmocka_unit_test(shadow_table),
		cmocka_unit_test(hand_passes_old_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
