/* SPDX-License-Identifier: MIT */
/*
 * table.c - the table of routed mappings: one entry per mapping of
 * libfaultcache the preload made, sorted by address, never two
 * overlapping (as the kernel's mappings). A mapping the program cuts
 * (munmap of a part, mremap) becomes several entries, as libfaultcache's
 * mapping becomes several (fc_map_fixed(3)).
 *
 * The entries live in memory of their own (mmap'd once, never moved), so
 * that a reader never follows a freed pointer, and the preload never
 * calls malloc from an interposed call. Writers hold op_lock and, for a
 * moment, tab_lock; readers hold tab_lock (read) with every signal
 * blocked. The hull [lo, hi) covers every entry and pending placeholder:
 * outside it, no lock is taken at all (fcp_maybe_routed).
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "preload.h"

#define FCP_MAPS (1u << 16)	/* routed mappings at once; more: kernel's */

static pthread_rwlock_t tab_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct fcp_map *tab;	/* lock: tab (written with op_lock held) */
static size_t ntab;
static atomic_size_t nlive;	/* ntab, for the lock-free check */
static atomic_uintptr_t hull_lo = UINTPTR_MAX, hull_hi;

/* Grow the hull to cover [lo, hi). Context: op_lock held. */
void fcp_hull_extend(uintptr_t lo, uintptr_t hi)
{
	if (lo < atomic_load(&hull_lo))
		atomic_store(&hull_lo, lo);
	if (hi > atomic_load(&hull_hi))
		atomic_store(&hull_hi, hi);
}

/*
 * Might [lo, hi) hold a routed mapping or a pending placeholder? False
 * means surely not: lock-free, for every munmap, mremap, madvise and
 * mprotect of the process (malloc's included).
 */
bool fcp_maybe_routed(uintptr_t lo, uintptr_t hi)
{
	if (!atomic_load_explicit(&nlive, memory_order_acquire) &&
	    !fcp_pending_overlaps(lo, hi))
		return false;
	return lo < atomic_load(&hull_hi) && hi > atomic_load(&hull_lo);
}

void fcp_tab_read_lock(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	pthread_rwlock_rdlock(&tab_lock);
}

void fcp_tab_read_unlock(const sigset_t *old)
{
	pthread_rwlock_unlock(&tab_lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void write_lock(void)
{
	pthread_rwlock_wrlock(&tab_lock);
}

static void write_unlock(void)
{
	atomic_store_explicit(&nlive, ntab, memory_order_release);
	pthread_rwlock_unlock(&tab_lock);
}

/* Index of the first entry that ends after @addr. Context: tab_lock. */
static size_t lower(uintptr_t addr)
{
	size_t lo = 0, hi = ntab;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (tab[mid].base + tab[mid].len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The entries overlapping [@lo, @hi): their number, the first at
 * *@first. Context: tab_lock (read) or op_lock held.
 */
size_t fcp_tab_find(uintptr_t lo, uintptr_t hi, size_t *first)
{
	size_t i, j;

	if (!tab)
		return 0;
	i = lower(lo);
	for (j = i; j < ntab && tab[j].base < hi; j++)
		;
	*first = i;
	return j - i;
}

/* Entry @i. Context: as fcp_tab_find; valid until the table changes. */
struct fcp_map *fcp_tab_at(size_t i)
{
	return &tab[i];
}

size_t fcp_tab_count(void)
{
	return ntab;
}

static int ensure_storage(void)
{
	void *p;

	if (tab)
		return 0;
	p = fcp_raw_mmap(NULL, FCP_MAPS * sizeof(*tab), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	tab = p;
	return 0;
}

/*
 * Add @m (not overlapping any entry), and count it against its file.
 * 0, or -1 when the table is full. Context: op_lock held.
 */
int fcp_tab_insert(const struct fcp_map *m)
{
	size_t i;

	if (ensure_storage() || ntab == FCP_MAPS)
		return -1;
	fcp_hull_extend(m->base, m->base + m->len);
	write_lock();
	i = lower(m->base);
	memmove(&tab[i + 1], &tab[i], (ntab - i) * sizeof(*tab));
	tab[i] = *m;
	ntab++;
	write_unlock();
	m->file->maps++;
	return 0;
}

/* Remove the entry at @base. Context: op_lock held. */
void fcp_tab_remove(uintptr_t base)
{
	struct fcp_file *f = NULL;
	size_t i;

	write_lock();
	i = lower(base);
	if (i < ntab && tab[i].base == base) {
		f = tab[i].file;
		memmove(&tab[i], &tab[i + 1], (ntab - i - 1) * sizeof(*tab));
		ntab--;
	}
	write_unlock();
	if (f)
		fcp_file_put(f);
}

/*
 * What fc_map_fixed did to libfaultcache's mappings over [@lo, @hi): the
 * entries there lose that part; their parts outside stay, as entries of
 * their own. Context: op_lock held.
 */
void fcp_tab_trim(uintptr_t lo, uintptr_t hi)
{
	struct fcp_map keep[2];
	size_t i, n, k = 0;

	n = fcp_tab_find(lo, hi, &i);
	if (!n)
		return;
	if (tab[i].base < lo) {
		keep[k] = tab[i];
		keep[k++].len = lo - tab[i].base;
	}
	if (tab[i + n - 1].base + tab[i + n - 1].len > hi) {
		struct fcp_map *e = &tab[i + n - 1];

		keep[k] = *e;
		keep[k].base = hi;
		keep[k].len = e->base + e->len - hi;
		keep[k].off = e->off + (hi - e->base);
		k++;
	}
	for (n = 0; n < k; n++)	/* their file stays open meanwhile */
		keep[n].file->maps++;
	n = fcp_tab_find(lo, hi, &i);
	while (n--)
		fcp_tab_remove(tab[i].base);
	for (n = 0; n < k; n++) {
		fcp_tab_insert(&keep[n]);	/* room: entries were removed */
		fcp_file_put(keep[n].file);
	}
}

/*
 * Fork: the child's table is the parent's, until ops.c maps each entry
 * again; its lock is made anew (a rwlock records its writer's thread).
 */
void fcp_tab_fork_child(void)
{
	pthread_rwlock_init(&tab_lock, NULL);
}
