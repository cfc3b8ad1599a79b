/* SPDX-License-Identifier: MIT */
/*
 * fuzz_lru: the two-list eviction policy against a model made of two plain
 * arrays with the same rules (insert at the tail, a second reference while
 * inactive promotes, the active list is trimmed from its head, victims come
 * from the inactive head, busy nodes are passed over in place, a victim found
 * in use goes to the active tail). Every step
 * compares both lists in order; moving the sampling hand (fc__lru_age)
 * must change neither, and fc__lru_check holds its invariants. Also the
 * shadow table: a refault it reports must be a key the model evicted
 * within the distance (it may forget keys, never invent them).
 */
#include <stdbool.h>

#include "fuzz.h"
#include "lru.h"

#define N 64
#define NKEYS 256

struct mnode {
	bool linked, active, referenced, busy;
};

static struct fc_lru_node nodes[N];
static struct mnode m[N];
static int list[2][N];	/* model lists, head first */
static size_t cnt[2];
static size_t active_max;

static int id(const struct fc_lru_node *n)
{
	return (int)(n - nodes);
}

static void m_unlink(int i)
{
	int w = m[i].active;
	size_t j;

	for (j = 0; j < cnt[w] && list[w][j] != i; j++)
		;
	memmove(&list[w][j], &list[w][j + 1], (cnt[w] - j - 1) * sizeof(int));
	cnt[w]--;
	m[i].linked = false;
}

static void m_tail(int i, int w)
{
	list[w][cnt[w]++] = i;
	m[i].active = w;
	m[i].linked = true;
}

static void m_balance(void)
{
	while (cnt[1] > active_max) {
		int i = list[1][0];

		m_unlink(i);
		m[i].referenced = false;
		m_tail(i, 0);
	}
}

static int m_scan(int w)
{
	size_t j;

	for (j = 0; j < cnt[w]; j++) {
		int i = list[w][j];

		if (!m[i].busy) {
			m_unlink(i);
			return i;
		}
	}
	return -1;
}

static bool busy(struct fc_lru_node *n, void *arg)
{
	(void)arg;
	return m[id(n)].busy;
}

/* fc__lru_age's callback: passed nodes are inactive, and linked. */
static void count_pass(struct fc_lru_node *n, void *arg)
{
	FZ_CHECK(n->linked && !n->active && n->passed);
	FZ_CHECK(!m[id(n)].active);
	++*(size_t *)arg;
}

static void compare(const struct fc_lru *lru)
{
	int w;

	FZ_CHECK(fc__lru_check(lru));
	for (w = 0; w < 2; w++) {
		const struct fc_lru_node *n = lru->list[w].next;
		size_t j;

		FZ_CHECK(lru->count[w] == cnt[w]);
		for (j = 0; j < cnt[w]; j++, n = n->next)
			FZ_CHECK(id(n) == list[w][j]);
	}
}

static void shadows(struct fz *z)
{
	static uint64_t evicted_at[NKEYS];	/* model clock, 0 = never */
	struct fc_shadows s;
	uint64_t clock = 0;
	size_t nr = (size_t)fz_take(z, 1) % 64 + 1;

	if (fc__shadows_init(&s, nr))
		return;
	memset(evicted_at, 0, sizeof(evicted_at));
	while (z->n) {
		unsigned op = (unsigned)fz_take(z, 1);
		uint64_t key = fz_take(z, 1) % NKEYS;
		size_t dist = (size_t)fz_take(z, 1);

		if (op & 1) {
			fc__shadow_evicted(&s, key);
			evicted_at[key] = ++clock;
		} else if (fc__shadow_refault(&s, key, dist)) {
			FZ_CHECK(evicted_at[key]);
			FZ_CHECK(clock - evicted_at[key] <= dist);
			evicted_at[key] = 0;	/* consumed */
		}
	}
	fc__shadows_destroy(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	struct fc_lru lru;
	size_t cap, passed, seen = 0;

	if (!z.n)
		return 0;
	if (fz_take(&z, 1) & 1) {
		shadows(&z);
		return 0;
	}
	cap = (size_t)fz_take(&z, 1) % N + 1;
	fc__lru_init(&lru, cap);
	active_max = lru.active_max;
	memset(nodes, 0, sizeof(nodes));
	memset(m, 0, sizeof(m));
	cnt[0] = cnt[1] = 0;
	while (z.n) {
		unsigned op = (unsigned)fz_take(&z, 1);
		int i = (int)(fz_take(&z, 1) % N), v;
		struct fc_lru_node *n;

		switch (op % 6) {
		case 0:	/* insert, maybe activated (a refault) */
			if (m[i].linked)
				break;
			fc__lru_insert(&lru, &nodes[i], op & 8);
			m[i].referenced = false;
			m_tail(i, (op & 8) ? 1 : 0);
			m_balance();
			break;
		case 1:	/* access */
			fc__lru_access(&lru, &nodes[i]);
			if (!m[i].linked)
				break;
			if (m[i].active) {
				m_unlink(i);
				m_tail(i, 1);
			} else if (!m[i].referenced) {
				m[i].referenced = true;
			} else {
				m_unlink(i);
				m[i].referenced = false;
				m_tail(i, 1);
				m_balance();
			}
			break;
		case 2:	/* remove */
			fc__lru_remove(&lru, &nodes[i]);
			if (m[i].linked)
				m_unlink(i);
			break;
		case 3:	/* pin or unpin */
			m[i].busy = !m[i].busy;
			break;
		case 4:	/* move the front hand: order and lists unchanged */
			passed = fc__lru_age(&lru, (uint32_t)(op >> 4),
					     (size_t)i % 9, count_pass, &seen);
			FZ_CHECK(passed == seen && passed <= (size_t)i % 9);
			seen = 0;
			break;
		default:	/* evict one */
			n = fc__lru_victim(&lru, busy, NULL);
			v = m_scan(0);
			if (v < 0)
				v = m_scan(1);
			FZ_CHECK(n ? id(n) == v : v < 0);
			if (n)
				FZ_CHECK(!n->linked && !m[v].busy);
			if (n && (op & 16)) {	/* found in use: spared */
				fc__lru_activate(&lru, n);
				m[v].referenced = false;
				m_tail(v, 1);
				m_balance();
			}
		}
		compare(&lru);
	}
	return 0;
}
