/* SPDX-License-Identifier: MIT */
/*
 * pending.c - placeholders of libfaultcache the preload waits for, or
 * took over.
 *
 * fc_unmap(3) leaves an inaccessible placeholder over the mapping's
 * range while reads for it are in flight, and libfaultcache unmaps it
 * with the mapping's last reference, maybe later, from another thread.
 * munmap must leave the range free when it returns (a program maps over
 * it at once, MAP_FIXED), so the preload waits for that unmapping: a
 * WAIT slot, which libfaultcache's munmap of exactly that range clears.
 * When the preload hands a routed range back to the kernel (a mapping of
 * the file put over the view in one step, so that no reader ever faults)
 * libfaultcache's placeholder and its unmapping would destroy the new
 * mapping: a TAKEN slot, which suppresses both. A program's munmap or
 * MAP_FIXED over a pending range waits for it first, so that the range
 * is not reused while libfaultcache may still act on it.
 *
 * The slots are read and cleared without a lock (libfaultcache's calls
 * come from any thread, its handler threads too, and must never wait for
 * the preload); they are added with op_lock held.
 */
#include <errno.h>
#include <sys/mman.h>
#include <time.h>

#include "preload.h"

#define FCP_PENDING 256

struct slot {
	atomic_int kind;	/* 0 free, FCP_WAIT, FCP_TAKEN */
	atomic_uintptr_t base;
	atomic_size_t len;
};

static struct slot slots[FCP_PENDING];
static atomic_int npending;

/* A slot for [@base, @base + @len). Its index, or -1 when all are taken. */
int fcp_pending_add(uintptr_t base, size_t len, int kind)
{
	int i;

	for (i = 0; i < FCP_PENDING; i++) {
		if (atomic_load(&slots[i].kind))
			continue;
		atomic_store(&slots[i].base, base);
		atomic_store(&slots[i].len, len);
		fcp_hull_extend(base, base + len);
		atomic_fetch_add(&npending, 1);
		atomic_store_explicit(&slots[i].kind, kind,
				      memory_order_release);
		return i;
	}
	return -1;
}

/*
 * Clear slot @i if it still holds @kind. A free slot (@kind 0) is not
 * cleared again: npending counts each slot once.
 */
static bool clear(int i, int kind)
{
	if (!kind || !atomic_compare_exchange_strong(&slots[i].kind, &kind, 0))
		return false;
	atomic_fetch_sub(&npending, 1);
	return true;
}

void fcp_pending_drop(int slot)
{
	if (slot >= 0)
		clear(slot, atomic_load(&slots[slot].kind));
}

static bool overlap(int i, uintptr_t lo, uintptr_t hi)
{
	uintptr_t b = atomic_load(&slots[i].base);

	return b < hi && b + atomic_load(&slots[i].len) > lo;
}

bool fcp_pending_overlaps(uintptr_t lo, uintptr_t hi)
{
	int i;

	if (!atomic_load(&npending))
		return false;
	for (i = 0; i < FCP_PENDING; i++)
		if (atomic_load(&slots[i].kind) && overlap(i, lo, hi))
			return true;
	return false;
}

static void nap(unsigned *us)
{
	struct timespec ts = { 0, (long)*us * 1000 };

	nanosleep(&ts, NULL);
	if (*us < 1000)
		*us *= 2;
}

/*
 * Is slot @i's range unmapped already, by a path the preload did not see?
 * (Then it waits for nothing.) mincore fails with ENOMEM on a range with
 * nothing mapped.
 */
static bool gone(int i)
{
	unsigned char v;

	return fcp_raw_mincore((void *)atomic_load(&slots[i].base), fcp_page,
			       &v) && errno == ENOMEM;
}

/*
 * Wait until slot @i is cleared: libfaultcache unmapped the range. It
 * does when the reads in flight for the mapping end. After ten seconds
 * without it the wait is given up and counted (stuck=): a device that
 * slow, or libfaultcache unmapping in another way.
 * Return: true when cleared.
 */
bool fcp_pending_wait(int i)
{
	unsigned us = 10, waited = 0;
	int kind;

	if (i < 0)
		return false;
	kind = atomic_load(&slots[i].kind);
	while (kind && atomic_load(&slots[i].kind) == kind) {
		if (waited > 100 * 1000 && gone(i))
			break;
		if (waited > 10 * 1000 * 1000) {
			atomic_fetch_add(&fcp_count.stuck, 1);
			clear(i, kind);
			return false;
		}
		waited += us;
		nap(&us);
	}
	clear(i, kind);
	return true;
}

/* Wait for every slot overlapping [@lo, @hi). */
void fcp_pending_wait_range(uintptr_t lo, uintptr_t hi)
{
	int i;

	if (!atomic_load(&npending))
		return;
	for (i = 0; i < FCP_PENDING; i++)
		if (atomic_load(&slots[i].kind) && overlap(i, lo, hi))
			fcp_pending_wait(i);
}

static int find(uintptr_t base, size_t len)
{
	int i;

	if (!atomic_load(&npending))
		return -1;
	for (i = 0; i < FCP_PENDING; i++)
		if (atomic_load_explicit(&slots[i].kind, memory_order_acquire) &&
		    atomic_load(&slots[i].base) == base &&
		    atomic_load(&slots[i].len) == len)
			return i;
	return -1;
}

/*
 * libfaultcache unmaps [@addr, @addr + @len): a placeholder's end. For a
 * WAIT slot the range is unmapped, then the slot cleared; for a TAKEN
 * one the range is the kernel mapping the preload put there, and stays.
 * Return: true when handled here (the caller returns 0).
 * Context: any thread, no lock: libfaultcache's own call.
 */
bool fcp_pending_core_munmap(void *addr, size_t len)
{
	int i = find((uintptr_t)addr, len);

	if (i < 0)
		return false;
	if (atomic_load(&slots[i].kind) == FCP_WAIT)
		fcp_raw_munmap(addr, len);
	clear(i, atomic_load(&slots[i].kind));
	return true;
}

/*
 * libfaultcache maps its inaccessible placeholder over a mapping it
 * unmaps: over a TAKEN range that would destroy the kernel mapping the
 * preload put there. Return: true when suppressed (the caller returns
 * @addr). Context: as fcp_pending_core_munmap.
 */
bool fcp_pending_core_mmap(void *addr, size_t len, int prot, int flags,
			   int fd)
{
	int i;

	if (prot != PROT_NONE || !(flags & MAP_FIXED) ||
	    !(flags & MAP_ANONYMOUS) || fd >= 0)
		return false;
	i = find((uintptr_t)addr, len);
	return i >= 0 && atomic_load(&slots[i].kind) == FCP_TAKEN;
}

/* The child has none of libfaultcache's mappings: nothing to wait for. */
void fcp_pending_fork_child(void)
{
	int i;

	for (i = 0; i < FCP_PENDING; i++)
		atomic_store(&slots[i].kind, 0);
	atomic_store(&npending, 0);
}
