/* SPDX-License-Identifier: MIT */
/*
 * maptab.c - the process-wide table from addresses to mappings. Fault
 * handlers and inline faults look their mapping up here; fc_map()
 * inserts (map.c). The table holds one reference on each live mapping.
 * fc_unmap() marks its mapping unmapping and drops that reference, but
 * the mapping stays listed until its last reference goes (mapping.c):
 * while any reference keeps its range reserved, a fault there is known
 * for one of ours, and retried (it meets the placeholder: SIGSEGV, as
 * documented) rather than passed on as someone else's SIGBUS, however
 * late its inline handler runs. The range then leaves the table and the
 * address space in one step under the table lock: a fault handled after
 * that finds nothing mapped, and is retried too (SIGSEGV).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maptab.h"
#include "util.h"
#include "view.h"

/*
 * The table: maptab.lock in types.h's lock table. A mapping's range
 * leaves it and the address space in one step (fc__maptab_remove_unmap):
 * under the lock, a range is either listed or not ours.
 */
static struct {
	pthread_rwlock_t lock;
	/* lock: maptab */
	struct fc_mapping **v;	/* sorted by base; ranges never overlap */
	size_t n, cap;
} maptab = { PTHREAD_RWLOCK_INITIALIZER, NULL, 0, 0 };

/*
 * maptab.lock, taken and dropped. The debug build counts this thread's
 * holds, for maptab_assert_held().
 */
#ifdef FC_DEBUG
static __thread unsigned maptab_holds;
#define maptab_assert_held() fc__assert(maptab_holds)
#define maptab_assert_not_held() fc__assert(!maptab_holds)
#define maptab_note(d) (maptab_holds += (unsigned)(d))
#else
#define maptab_assert_held() ((void)0)
#define maptab_assert_not_held() ((void)0)
#define maptab_note(d) ((void)0)
#endif

static void maptab_read(void)
{
	pthread_rwlock_rdlock(&maptab.lock);
	maptab_note(1);
}

static void maptab_write(void)
{
	pthread_rwlock_wrlock(&maptab.lock);
	maptab_note(1);
}

static void maptab_unlock(void)
{
	maptab_note(-1);
	pthread_rwlock_unlock(&maptab.lock);
}

/* Index of the first mapping with base > addr. Context: maptab.lock held. */
static size_t upper_bound(uintptr_t addr)
{
	size_t lo = 0, hi = maptab.n;

	maptab_assert_held();
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if ((uintptr_t)maptab.v[mid]->base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The mapping containing @addr, at *@pos, or NULL.
 * Context: maptab.lock held.
 */
static struct fc_mapping *find_locked(uintptr_t addr, size_t *pos)
{
	size_t i;
	struct fc_mapping *m;

	maptab_assert_held();
	i = upper_bound(addr);
	if (!i)
		return NULL;
	m = maptab.v[i - 1];
	if (addr >= (uintptr_t)m->base + m->len)
		return NULL;
	*pos = i - 1;
	return m;
}

/* Put @m in the table. 0 or -ENOMEM. */
int fc__maptab_insert(struct fc_mapping *m)
{
	size_t i;

	maptab_write();
	if (maptab.n == maptab.cap) {
		size_t cap = maptab.cap ? 2 * maptab.cap : 64;
		struct fc_mapping **v = realloc(maptab.v, cap * sizeof(*v));

		if (!v) {
			maptab_unlock();
			return -ENOMEM;
		}
		maptab.v = v;
		maptab.cap = cap;
	}
	i = upper_bound((uintptr_t)m->base);
	memmove(&maptab.v[i + 1], &maptab.v[i],
		(maptab.n - i) * sizeof(maptab.v[0]));
	maptab.v[i] = m;
	maptab.n++;
	maptab_unlock();
	return 0;
}

/* Context: maptab.lock held for writing. */
static void table_remove_at(size_t i)
{
	maptab_assert_held();
	memmove(&maptab.v[i], &maptab.v[i + 1],
		(maptab.n - i - 1) * sizeof(maptab.v[0]));
	maptab.n--;
}

void fc__mapping_get(struct fc_mapping *m)
{
	atomic_fetch_add(&m->refs, 1);
}

/**
 * fc__mapping_lookup - the live mapping containing @addr, referenced;
 * not one being unmapped. Return: the mapping or NULL.
 * Context: any thread, no locks held.
 */
struct fc_mapping *fc__mapping_lookup(uint64_t addr)
{
	struct fc_mapping *m;
	size_t pos;

	maptab_assert_not_held();
	maptab_read();
	m = find_locked((uintptr_t)addr, &pos);
	if (m && m->unmapping)
		m = NULL;
	if (m)
		fc__mapping_get(m);
	maptab_unlock();
	return m;
}

/*
 * Remap events of inline caches read and not yet applied (handler.c,
 * inline_events): the kernel lets the mremap return once its event is
 * read, so the program may touch the new range before the table lists
 * it; an inline fault there is retried meanwhile, not passed on.
 * lock: none, atomic.
 */
static atomic_uint remaps_busy;

void fc__maptab_remap_begin(void)
{
	atomic_fetch_add(&remaps_busy, 1);
}

void fc__maptab_remap_end(void)
{
	atomic_fetch_sub(&remaps_busy, 1);
}

/*
 * Nothing at all is mapped at @addr now: touching it again gives SIGSEGV
 * (mincore says ENOMEM for an address outside every mapping).
 */
static bool nothing_mapped(uint64_t addr)
{
	size_t sp = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char v;

	return mincore((void *)(uintptr_t)(addr & ~(uint64_t)(sp - 1)), sp,
		       &v) && errno == ENOMEM;
}

/**
 * fc__mapping_lookup_inline - as fc__mapping_lookup, for an inline fault:
 * NULL unless the mapping is served by SIGBUS (its cache's inline uffd),
 * and then the cache's inline_active count is raised under the table
 * lock, so that fc_cache_destroy, which waits for the count to fall to 0
 * after marking every mapping unmapping, cannot miss this fault. The
 * caller drops both when done. @gone is set when the fault is to be
 * retried: @addr is in a mapping being unmapped (the retry meets its
 * placeholder), or in nothing at all any more (its last reference went
 * before this handler ran: the retry gets SIGSEGV, as after munmap), or
 * the table is following a program's mremap.
 * Context: a SIGBUS handler; no locks held.
 */
struct fc_mapping *fc__mapping_lookup_inline(uint64_t addr, bool *gone)
{
	struct fc_mapping *m;
	size_t pos;
	bool found, busy;

	maptab_read();
	/*
	 * A remap being read or applied: look again once it is. A mapping
	 * the move went over may still cover the moved range, and nothing
	 * is found yet where a view moved to.
	 */
	busy = atomic_load(&remaps_busy);
	m = find_locked((uintptr_t)addr, &pos);
	found = m;
	*gone = m && m->unmapping;
	if (m && !m->unmapping && !busy &&
	    m->uffd == m->cache->inline_uffd) {
		fc__mapping_get(m);
		atomic_fetch_add(&m->cache->inline_active, 1);
	} else {
		m = NULL;
	}
	/* under the lock: a range leaves the table and the address space
	 * together (fc__maptab_remove_unmap) */
	if (!found)
		*gone = nothing_mapped(addr);
	maptab_unlock();
	if (!*gone && busy) {
		usleep(50);
		*gone = true;
	}
	return m;
}

/**
 * fc__maptab_foreign - @addr, where a view's userfaultfd reported a fault,
 * is mapped but in no mapping of the table, live or being unmapped: a
 * part the program added to a view with mremap (grown in place, or the
 * growth of a move), which no mapping serves. Context: no locks held.
 */
bool fc__maptab_foreign(uint64_t addr)
{
	bool foreign;
	size_t pos;

	maptab_assert_not_held();
	maptab_read();
	foreign = !find_locked((uintptr_t)addr, &pos) && !nothing_mapped(addr);
	maptab_unlock();
	return foreign;
}

/**
 * fc__addr_registered - the mapping at @addr is registered with a
 * userfaultfd for missing pages ("um" in its VmFlags in
 * /proc/self/smaps): after a move, the old range left by
 * MREMAP_DONTUNMAP, not something mapped since where the kernel unmapped
 * it. Reads smaps up to that mapping only; for remap events, which are
 * rare. Context: no locks held; not in a signal handler.
 */
bool fc__addr_registered(uint64_t addr)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	bool in = false, um = false;

	if (nothing_mapped(addr))
		return false;
	fp = fopen("/proc/self/smaps", "re");
	if (!fp)
		return false;
	while (getline(&line, &cap, fp) > 0) {
		unsigned long lo, hi;

		if (!in) {
			if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
			    addr >= lo && addr < hi)
				in = true;
			continue;
		}
		if (!strncmp(line, "VmFlags:", 8)) {
			um = strstr(line, " um") != NULL;
			break;
		}
	}
	free(line);
	fclose(fp);
	return um;
}

/**
 * fc__mapping_clear_eof - @f grew from @old_size: clear the SIGBUS markers
 * that faults past the old end left in its views, so the new bytes fault
 * in on the next touch. Context: no locks held.
 */
void fc__mapping_clear_eof(struct fc_file *f, uint64_t old_size)
{
	size_t sp = f->cache->sys_page, i;
	uint64_t from = (old_size + sp - 1) & ~(uint64_t)(sp - 1);

	fc__assert_not_held(&f->cache->lock);
	maptab_assert_not_held();
	maptab_read();
	for (i = 0; i < maptab.n; i++) {
		struct fc_mapping *m = maptab.v[i];
		uint64_t lo = from > m->offset ? from - m->offset : 0;

		if (m->file != f || lo >= m->len || m->unmapping)
			continue;
		fc__view_zap(m, lo, m->len);
	}
	maptab_unlock();
}

/**
 * fc__maptab_remove_unmap - take @m, marked unmapping, out of the table
 * (if it is still there) and give its range back (unless that was done
 * already, m->range_gone, or fc_map_fixed took it over, m->keep_range),
 * in one step under the table lock. A lookup of an address in it (an
 * inline fault whose handler runs late) then finds either the mapping,
 * unmapping, or nothing mapped there at all: never the placeholder
 * without its entry, which would pass the fault on as someone else's
 * SIGBUS. And no fc_map or fc_map_fixed can be given the range while
 * the entry is listed, nor map over it before it is unmapped.
 * Context: its last reference went, or fc_unmap could make no
 * placeholder; no locks held.
 */
void fc__maptab_remove_unmap(struct fc_mapping *m)
{
	size_t pos;

	maptab_assert_not_held();
	maptab_write();
	if (find_locked((uintptr_t)m->base, &pos) == m)
		table_remove_at(pos);
	if (!m->range_gone && !m->keep_range) {
		munmap(m->base, m->len);
		m->range_gone = true;
	}
	maptab_unlock();
}

/**
 * fc__maptab_unmapping - the mapping whose view starts at @addr, marked
 * unmapping (fc_unmap has begun, and no other fc_unmap may begin it);
 * NULL if there is none or it is being unmapped already.
 */
struct fc_mapping *fc__maptab_unmapping(const void *addr)
{
	struct fc_mapping *m;
	size_t pos;

	maptab_write();
	m = find_locked((uintptr_t)addr, &pos);
	if (!m || m->base != addr || m->unmapping)
		m = NULL;
	else
		m->unmapping = true;
	maptab_unlock();
	return m;
}

/*
 * A mapping of @c not yet being unmapped, marked unmapping as
 * fc__maptab_unmapping; NULL when none is left (fc_cache_destroy).
 */
struct fc_mapping *fc__maptab_unmapping_of(const struct fc_cache *c)
{
	struct fc_mapping *m = NULL;
	size_t i;

	maptab_write();
	for (i = 0; i < maptab.n; i++) {
		if (maptab.v[i]->cache == c && !maptab.v[i]->unmapping) {
			m = maptab.v[i];
			m->unmapping = true;
			break;
		}
	}
	maptab_unlock();
	return m;
}

static bool overlaps(const struct fc_mapping *m, uintptr_t lo, uintptr_t hi)
{
	return (uintptr_t)m->base < hi && (uintptr_t)m->base + m->len > lo;
}

static bool claimed_by(const struct fc_mapping *m,
			struct fc_mapping *const *mine, size_t nmine)
{
	size_t i;

	for (i = 0; i < nmine; i++)
		if (mine[i] == m)
			return true;
	return false;
}

/**
 * fc__maptab_claim_except - fc__maptab_claim, but the mappings in
 * @mine[0..@nmine), which the caller claimed already, are left out (a
 * move within one view meets the view at both ends).
 */
int fc__maptab_claim_except(uintptr_t lo, uintptr_t hi,
			    struct fc_mapping *const *mine, size_t nmine,
			    struct fc_mapping ***out, size_t *n)
{
	struct fc_mapping **v;
	size_t i, j, k;

	maptab_write();
	i = upper_bound(lo);
	if (i && overlaps(maptab.v[i - 1], lo, hi))
		i--;
	for (j = i; j < maptab.n && (uintptr_t)maptab.v[j]->base < hi; j++) {
		if (maptab.v[j]->unmapping &&
		    !claimed_by(maptab.v[j], mine, nmine)) {
			maptab_unlock();
			return -EAGAIN;
		}
	}
	v = malloc((j - i + 1) * sizeof(*v));
	if (!v) {
		maptab_unlock();
		return -ENOMEM;
	}
	for (k = 0; i < j; i++) {
		if (claimed_by(maptab.v[i], mine, nmine))
			continue;
		v[k] = maptab.v[i];
		v[k++]->unmapping = true;
	}
	maptab_unlock();
	*out = v;
	*n = k;
	return 0;
}

/**
 * fc__maptab_claim - the live mappings overlapping [@lo, @hi), marked
 * unmapping (no fc_unmap or other fc_map_fixed may begin them) for
 * fc_map_fixed, in a malloc'ed array at *@out (*@n of them, base order).
 * Return: 0; -EAGAIN when one of them is being unmapped (the caller
 * waits and tries again: its placeholder is about to be unmapped, with
 * its entry: fc__maptab_remove_unmap); -ENOMEM.
 */
int fc__maptab_claim(uintptr_t lo, uintptr_t hi, struct fc_mapping ***out,
		     size_t *n)
{
	return fc__maptab_claim_except(lo, hi, NULL, 0, out, n);
}

/* Undo fc__maptab_claim (fc_map_fixed failed before changing anything). */
void fc__maptab_unclaim(struct fc_mapping **v, size_t n)
{
	size_t i;

	maptab_write();
	for (i = 0; i < n; i++)
		v[i]->unmapping = false;
	maptab_unlock();
}

/**
 * fc__maptab_swap - in one step, take the claimed mappings @old[0..@nold)
 * out of the table and put @add[0..@nadd) in, so that a fault finds a
 * mapping at every address that has one all along. The table's
 * references move with them: the caller drops the old ones' and the new
 * ones' references (1) become the table's.
 * Return: 0, or -ENOMEM with the table unchanged.
 */
int fc__maptab_swap(struct fc_mapping **old, size_t nold,
		    struct fc_mapping **add, size_t nadd)
{
	size_t i, pos, need;

	maptab_write();
	need = maptab.n - nold + nadd;
	if (need > maptab.cap) {
		size_t cap = maptab.cap ? 2 * maptab.cap : 64;
		struct fc_mapping **v;

		while (cap < need)
			cap *= 2;
		v = realloc(maptab.v, cap * sizeof(*v));
		if (!v) {
			maptab_unlock();
			return -ENOMEM;
		}
		maptab.v = v;
		maptab.cap = cap;
	}
	for (i = 0; i < nold; i++)
		if (find_locked((uintptr_t)old[i]->base, &pos) == old[i])
			table_remove_at(pos);
	for (i = 0; i < nadd; i++) {
		pos = upper_bound((uintptr_t)add[i]->base);
		memmove(&maptab.v[pos + 1], &maptab.v[pos],
			(maptab.n - pos) * sizeof(maptab.v[0]));
		maptab.v[pos] = add[i];
		maptab.n++;
	}
	maptab_unlock();
	return 0;
}

/*
 * fork (cache.c's handlers, in the lock order of types.h): the table is
 * write-locked across the fork, so that the child does not inherit it
 * half changed or locked by a thread it does not have.
 */
void fc__maptab_fork_prepare(void)
{
	maptab_write();
}

void fc__maptab_fork_parent(void)
{
	maptab_unlock();
}

/*
 * In the child no mapping is inherited (views are MADV_DONTFORK, and
 * one the program made MADV_DOFORK is unmapped here): the table starts
 * empty. Its entries belong to the parent's caches, which the
 * child may not use; their memory is left alone. The lock is made anew (a
 * rwlock records its writer's thread id, which the child's thread does
 * not have).
 */
void fc__maptab_fork_child(void)
{
	size_t i;

	/*
	 * A view the program made MADV_DOFORK was inherited, without its
	 * userfaultfd registration: a touch of a page the store lacks would
	 * put a zeroed page in the store the parent shares (or, in copy
	 * mode, show the child zeros). Gone, as if never inherited: SIGSEGV.
	 */
	for (i = 0; i < maptab.n; i++) {
		struct fc_mapping *m = maptab.v[i];

		if (!m->range_gone && !m->keep_range)
			munmap(m->base, m->len);
	}
	maptab_note(-1);
	maptab.n = 0;
#ifdef __SANITIZE_THREAD__
	/*
	 * TSan's books keep the lock write-locked across a new init, and a
	 * child's first lookup was reported: the unlock tells TSan. glibc
	 * takes it for a reader's unlock (the writer's id is the parent
	 * thread's), which touches only the lock made anew below.
	 */
	pthread_rwlock_unlock(&maptab.lock);
#endif
	pthread_rwlock_init(&maptab.lock, NULL);
}
