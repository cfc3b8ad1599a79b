/* SPDX-License-Identifier: MIT */
/*
 * store.c - where the cached bytes live: one memfd per cache (the store).
 * Each file owns a region of it, and an alias, a read-write mapping of the
 * region through which pages enter the store (fc__store_write) and, in
 * copy mode, reads land and copies are taken. Views map the region
 * read-only and shared (fc__store_map). This is the only module that
 * knows the memfd and the alias: the regions, the reservations views and
 * aliases are placed in, writes, the hole punch that frees a page (and
 * splits a huge chunk it would cut into), and MADV_COLLAPSE.
 */
#include <errno.h>
#include <pthread.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chunk.h"
#include "radix.h"
#include "store.h"
#include "uffd.h"
#include "util.h"
#include "view.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define MIB (1024ul * 1024)
#define FC_REGION_ALIGN (2ul << 20)

/* The size of a PMD mapping (THP's hpage_pmd_size), or 0 without THP. */
static size_t pmd_size(void)
{
	unsigned long v = 0;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
			"re");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return (size_t)v;
}

/**
 * fc__store_init - the store of @c: its memfd and the uffd pages enter it
 * through, and whether its pages are made huge folios (collapse.c).
 * Return: 0 or -errno. Context: fc_cache_create.
 */
int fc__store_init(struct fc_cache *c)
{
	uint64_t features;
	bool umo;
	int fd;

	/*
	 * Huge store pages (collapse.c) for shared views, where the PMD is
	 * 2 MiB: each page of a cache of 2 MiB pages, or each 2 MiB chunk
	 * of smaller ones. sysfs is read only when they are possible.
	 */
	if (!c->copy_mode && !(c->cfg.flags & FC_CONFIG_NO_COLLAPSE) &&
	    pmd_size() == 2 * MIB) {
		c->huge_store = c->cfg.page_size == 2 * MIB;
		c->chunked = !c->huge_store;
		c->chunk_shift = (unsigned)__builtin_ctzl(2 * MIB /
							  c->cfg.page_size);
	}
	c->memfd = memfd_create("faultcache", MFD_CLOEXEC);
	if (c->memfd < 0)
		return -errno;
	if (ftruncate(c->memfd, (off_t)FC_MEMFD_SPAN))
		return -errno;
	/*
	 * The uffd through which pages enter the store (fc__store_write).
	 * Nothing reads it: no fault in an alias is expected, and SIGBUS
	 * makes one a crash, where a message nobody reads would hang it.
	 */
	if (!c->copy_mode) {
		fd = fc__uffd_open(UFFD_FEATURE_SIGBUS |
					   UFFD_FEATURE_MISSING_SHMEM,
				   &features, &umo);
		if (fd < 0)
			return fd;
		c->store_uffd = fd;
	}
	return 0;
}

/* Context: fc_cache_destroy (no file left), or a failed fc_cache_create. */
void fc__store_destroy(struct fc_cache *c)
{
	free(c->extents);
	if (c->memfd >= 0)
		close(c->memfd);
	if (c->store_uffd >= 0)
		close(c->store_uffd);
}

/* Store offsets a region of @len bytes takes: it, and its gap after. */
static uint64_t region_span(uint64_t len)
{
	return ((len + FC_REGION_ALIGN - 1) & ~(uint64_t)(FC_REGION_ALIGN - 1)) +
	       FC_REGION_GAP;
}

/*
 * The store's address space: regions below next_region, and the holes
 * freed regions left (c->extents, sorted by start, none adjacent to
 * another or ending at next_region: a freed region is merged with its
 * neighbours, and a hole reaching next_region lowers it). So a process
 * that maps files of ever-changing sizes reuses the space for good, where
 * holes kept apart would each be too small for the next larger file.
 */

/* Allocate a store region: first fit among the holes, else bump. */
static int region_alloc(struct fc_cache *c, size_t len, uint64_t *out)
{
	uint64_t need = region_span(len);
	size_t i;

	for (i = 0; i < c->nr_extents; i++) {
		struct fc_extent *e = &c->extents[i];

		if (e->len < need)
			continue;
		*out = e->start;
		e->start += need;
		e->len -= need;
		if (!e->len) {
			memmove(e, e + 1,
				(c->nr_extents - i - 1) * sizeof(*e));
			c->nr_extents--;
		}
		return 0;
	}
	if (need > FC_MEMFD_SPAN - c->next_region)
		return -ENOMEM;
	*out = c->next_region;
	c->next_region += need;
	return 0;
}

/*
 * Give @f's region back (its pages are punched already), merged with the
 * holes beside it.
 * Context: cache->lock held.
 */
void fc__store_region_free(struct fc_cache *c, const struct fc_file *f)
{
	uint64_t start = f->region, len = region_span(f->region_len);
	struct fc_extent *e;
	size_t i;

	fc__assert_held(&c->lock);
	if (!len)
		return;
	for (i = 0; i < c->nr_extents && c->extents[i].start < start; i++)
		;
	/* the hole before: grows by this one */
	if (i && c->extents[i - 1].start + c->extents[i - 1].len == start) {
		start = c->extents[--i].start;
		len += c->extents[i].len;
		memmove(&c->extents[i], &c->extents[i + 1],
			(c->nr_extents - i - 1) * sizeof(*e));
		c->nr_extents--;
	}
	/* the hole after: taken in */
	if (i < c->nr_extents && start + len == c->extents[i].start) {
		len += c->extents[i].len;
		memmove(&c->extents[i], &c->extents[i + 1],
			(c->nr_extents - i - 1) * sizeof(*e));
		c->nr_extents--;
	}
	if (start + len == c->next_region) {	/* the top: given back */
		c->next_region = start;
		return;
	}
	if (c->nr_extents == c->cap_extents) {
		size_t cap = c->cap_extents ? 2 * c->cap_extents : 16;

		e = realloc(c->extents, cap * sizeof(*e));
		if (!e)
			return;	/* leaks address space of the store, not memory */
		c->extents = e;
		c->cap_extents = cap;
	}
	memmove(&c->extents[i + 1], &c->extents[i],
		(c->nr_extents - i) * sizeof(*e));
	c->extents[i].start = start;
	c->extents[i].len = len;
	c->nr_extents++;
}

/**
 * fc__store_reserve - address space for a mapping of @len bytes of the store
 * from offset @at: an inaccessible reservation to map over with
 * MAP_FIXED. With huge store pages it is placed so that address and store
 * offset agree modulo the PMD size, which a PMD mapping (and
 * MADV_COLLAPSE) needs; the slack around it is given back.
 * Return: the address, or MAP_FAILED with errno set.
 */
void *fc__store_reserve(const struct fc_cache *c, size_t len, uint64_t at)
{
	size_t pmd = c->huge_store ? c->cfg.page_size : FC_REGION_ALIGN, lead;
	char *p;

	if (!c->huge_store && !c->chunked)
		return mmap(NULL, len, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	p = mmap(NULL, len + pmd, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return p;
	lead = (at - (uintptr_t)p) & (pmd - 1);
	if (lead)
		munmap(p, lead);
	munmap(p + lead + len, pmd - lead);
	return p + lead;
}

/**
 * fc__store_region_get - give @f its region of the store.
 * Return: 0 or -ENOMEM (the store's offsets are all taken).
 * Context: cache->lock held.
 */
int fc__store_region_get(struct fc_cache *c, struct fc_file *f)
{
	fc__assert_held(&c->lock);
	return region_alloc(c, f->region_len, &f->region);
}

/*
 * An alias is mapped shared and writable before it is made MADV_DONTFORK:
 * a fork in between would give the child a writable mapping of the
 * store. The two are done under alias_fork_lock, which fork_prepare takes
 * (fc__store_fork_prepare). A mutex, not a rwlock: a child cannot give
 * back a rwlock its parent's thread took (glibc tells a writer by its
 * thread id), and the calls it covers are short.
 */
static pthread_mutex_t alias_fork_lock = PTHREAD_MUTEX_INITIALIZER;

void fc__store_fork_prepare(void)
{
	pthread_mutex_lock(&alias_fork_lock);
}

void fc__store_fork_parent(void)
{
	pthread_mutex_unlock(&alias_fork_lock);
}

void fc__store_fork_child(void)
{
	fc__fork_child_mutex(&alias_fork_lock);
}

/**
 * fc__store_alias_map - map @f's alias over its region (which it has).
 * Its system calls run without cache->lock, which every fault takes: the
 * region is @f's alone before the file is listed, so nothing else can
 * look at it meanwhile.
 * Return: 0 or -errno, and then @f has no alias (its region it keeps, for
 * the caller to free under the lock). Context: cache->lock NOT held.
 */
int fc__store_alias_map(struct fc_cache *c, struct fc_file *f)
{
	void *at;
	int ret;

	fc__assert_not_held(&c->lock);
	at = fc__store_reserve(c, f->region_len, f->region);
	if (at == MAP_FAILED)
		return -errno;
	pthread_mutex_lock(&alias_fork_lock);
	f->alias = mmap(at, f->region_len, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_FIXED, c->memfd, (off_t)f->region);
	if (f->alias == MAP_FAILED) {
		ret = -errno;
		pthread_mutex_unlock(&alias_fork_lock);
		f->alias = NULL;
		munmap(at, f->region_len);
		return ret;
	}
	/* a child must not share (or write) the store through the alias */
	madvise(f->alias, f->region_len, MADV_DONTFORK);
	pthread_mutex_unlock(&alias_fork_lock);
	/*
	 * Copy mode's reads fault pages in here: with shmem THP enabled
	 * (shmem_enabled "always" or "within_size") each 4 KiB read would
	 * allocate a 2 MiB folio, 512 times the budget's count of it (even
	 * "force" gives way to this on 6.18). Best effort: a kernel without
	 * THP says EINVAL. Not with huge store pages, collapsed through it
	 * (copy mode has none).
	 */
	if (!c->huge_store && !c->chunked)
		madvise(f->alias, f->region_len, MADV_NOHUGEPAGE);
	if (c->store_uffd >= 0) {
		ret = fc__uffd_register(c->store_uffd, f->alias,
					f->region_len);
		if (ret) {
			munmap(f->alias, f->region_len);
			f->alias = NULL;
			return ret;
		}
	}
	return 0;
}

/* Unmap @f's alias, if it has one. */
void fc__store_alias_unmap(struct fc_file *f)
{
	if (f->alias && f->alias != MAP_FAILED)
		munmap(f->alias, f->region_len);
}

/*
 * Map @len bytes of @f's region from file offset @off at @at (MAP_FIXED),
 * read-only and shared: a view of the store. Return: as mmap.
 */
void *fc__store_map(const struct fc_cache *c, const struct fc_file *f,
		    void *at, uint64_t off, size_t len)
{
	return mmap(at, len, PROT_READ, MAP_SHARED | MAP_FIXED, c->memfd,
		    (off_t)(f->region + off));
}

/* pwrite all of @len bytes of @buf at store offset @at. 0 / -errno. */
static int store_pwrite(struct fc_cache *c, uint64_t at, const char *buf,
			uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(c->memfd, buf + done, (size_t)(len - done),
				   (off_t)(at + done));

		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		done += (uint64_t)n;
	}
	return 0;
}

/**
 * fc__store_write - put @len bytes of @buf (system pages, page aligned)
 * in @f's store region at offset @off, each page whole.
 *
 * Not with pwrite: when shmem may allocate huge folios on a write
 * (shmem_enabled "always", "within_size" or "force", which an
 * administrator can set at any time), a write into an empty 2 MiB range
 * makes a whole huge folio, up to date with zeros outside the bytes
 * written, and the views map those zeros, as cached data, where the file
 * has other bytes. UFFDIO_COPY into the alias (registered for missing
 * faults with store_uffd) allocates each page on its own, whatever the
 * setting, and fills it before it is visible, as pwrite does. A page the
 * store holds already is overwritten in place (pwrite into a folio that
 * exists allocates nothing).
 * Return: 0, or -errno (-ENOMEM when the store takes nothing more).
 */
int fc__store_write(struct fc_file *f, uint64_t off, const void *buf,
		    uint64_t len)
{
	struct fc_cache *c = f->cache;
	uint64_t done = 0, sp = c->sys_page;
	int ret;

	while (done < len) {
		/* nobody waits on the alias: no wake */
		done += fc__uffd_copy(c->store_uffd, f->alias + off + done,
				      (const char *)buf + done, len - done,
				      false);
		if (done == len)
			break;
		if (errno != EEXIST)
			return -errno;
		ret = store_pwrite(c, f->region + off + done,
				   (const char *)buf + done, sp);
		if (ret)
			return ret;
		done += sp;
	}
	return 0;
}

/**
 * fc__held_alloc - memory for a held page's bytes (struct fc_page), or
 * NULL. A mapping of its own: page aligned, as UFFDIO_COPY wants it, and
 * given back when freed. From malloc, freed 2 MiB copies stayed in its
 * arenas (its mmap threshold rises to the size of a chunk freed), and the
 * memory of a cache of 2 MiB pages grew far past its budget.
 */
void *fc__held_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void fc__held_free(void *held, size_t len)
{
	if (held)
		munmap(held, len);
}

/**
 * fc__store_holds - does the store hold the system page at file offset
 * @off of @f? A fault on a page the index says is cached and stored is a
 * race with the store's write (then it is there now) and nothing else; if
 * it is not there, the caller reads it again rather than send the thread
 * back to a fault that would come again for ever. Asked of the alias,
 * which maps nothing in the default mode: mincore reports the memfd's
 * page cache. Return: true, also when it cannot tell.
 * Context: cache->lock held.
 */
bool fc__store_holds(struct fc_cache *c, struct fc_file *f, uint64_t off)
{
	unsigned char v = 1;

	fc__assert_held(&c->lock);
	off &= ~(uint64_t)(c->sys_page - 1);
	if (mincore(f->alias + off, c->sys_page, &v))
		return true;
	return v & 1;
}

/* pread all of @len bytes at @at of the store. */
static bool store_read(struct fc_cache *c, char *buf, size_t len, off_t at)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(c->memfd, buf + done, len - done,
				  at + (off_t)done);

		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

/*
 * Put back in the store the pages of chunk [@first, @end) of @f outside
 * [@lo, @hi) that the index holds as stored and @vec (mincore of the
 * alias before the punch) saw there, from @buf (the chunk's bytes).
 */
static void chunk_put_back(struct fc_cache *c, struct fc_file *f,
			   uint64_t first, uint64_t end, uint64_t lo,
			   uint64_t hi, const char *buf,
			   const unsigned char *vec)
{
	size_t ps = c->cfg.page_size, spp = ps / c->sys_page, j;
	struct fc_radix_cursor cur = { 0 };
	uint64_t i;

	for (i = first; i < end; i++) {
		struct fc_page *pg;
		bool there = true;

		if (i >= lo && i < hi)
			continue;
		pg = fc__radix_lookup_near(&f->tree, &cur, i);
		if (!pg || pg->state != FC_PG_UPTODATE || pg->held)
			continue;
		for (j = 0; j < spp; j++)
			there = there && (vec[(i - first) * spp + j] & 1);
		if (there)
			fc__store_write(f, i * ps, buf + (i - first) * ps, ps);
	}
}

/*
 * Whole chunk @k of @f loses pages [@lo, @hi) but not all of it: a punch
 * inside a huge folio has the kernel split it or, failing that, zero the
 * bytes in place while they stay mapped. So the chunk is copied out and
 * punched whole (the folio goes whole), and the pages it keeps go back as
 * small pages: those the index holds as stored and the store had (a page
 * the store lacked would go back as zeros). Faults on them meanwhile wait
 * for the lock we hold. Without memory for the copy they are punched too,
 * and stay in the index only: a fault on one finds the store without it
 * and reads it again (fc__plan_hit). Context: cache->lock held.
 */
static void split_chunk(struct fc_cache *c, struct fc_file *f, uint64_t k,
			uint64_t lo, uint64_t hi)
{
	size_t ps = c->cfg.page_size, len = ps << c->chunk_shift;
	uint64_t first = k << c->chunk_shift, end = first + (len / ps);
	off_t at = (off_t)(f->region + first * ps);
	unsigned char vec[FC_REGION_ALIGN / 4096];
	char *buf = fc__held_alloc(len);
	bool ok = buf && !mincore(f->alias + first * ps, len, vec) &&
		  store_read(c, buf, len, at);

	fc__assert_held(&c->lock);
	fallocate(c->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at,
		  (off_t)len);
	c->nr_chunk_splits++;
	if (ok)
		chunk_put_back(c, f, first, end, lo, hi, buf, vec);
	fc__held_free(buf, len);
}

/**
 * chunk_punch - pages [@index, @index + @nr) of @f are about to be
 * punched: no chunk that may be a huge folio is cut into. One the range
 * covers whole goes with the punch; one it covers in part is split first.
 * Context: cache->lock held, before the punch.
 */
static void chunk_punch(struct fc_cache *c, struct fc_file *f,
			uint64_t index, uint64_t nr)
{
	uint64_t per = 1ull << c->chunk_shift, end = index + nr, k;

	fc__assert_held(&c->lock);
	if (!c->chunked)
		return;
	for (k = index >> c->chunk_shift; k * per < end; k++) {
		uint64_t lo = k * per, hi = lo + per;

		if (index > lo || end < hi) {
			if (fc__chunk_whole(c, f, lo))
				split_chunk(c, f, k, index > lo ? index : lo,
					    end < hi ? end : hi);
		} else if (!f->chunks_lost) {	/* skip to the next counted */
			uint64_t next = k + 1;

			if (!fc__radix_next(&f->chunks, &next))
				break;
			k = next - 1;
		}
	}
}

/*
 * Free the store memory behind @nr pages of @f from @index.
 * Context: cache->lock held.
 */
void fc__store_punch(struct fc_cache *c, struct fc_file *f, uint64_t index,
		  uint64_t nr)
{
	size_t ps = c->cfg.page_size;

	fc__assert_held(&c->lock);
	chunk_punch(c, f, index, nr);
	fallocate(c->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(f->region + index * ps), (off_t)(nr * ps));
	if (c->copy_mode && f->views)
		fc__views_zap(f, index * ps, nr * ps, false);
}

/**
 * fc__store_collapse - make @len bytes of @f's store from file offset
 * @off, all in the store, one huge folio (MADV_COLLAPSE on the alias).
 * Return: 0 or the errno. Context: fc-collapse, no lock held.
 */
int fc__store_collapse(struct fc_file *f, uint64_t off, size_t len)
{
	char *at = f->alias + off;
	int ret = 0, tries;

	fc__assert_not_held(&f->cache->lock);
	/*
	 * EAGAIN: a small page was locked or not yet on an LRU list (a
	 * page just added can sit in another CPU's batch): soon over.
	 */
	for (tries = 0; tries < 8; tries++) {
		ret = madvise(at, len, MADV_COLLAPSE) ? errno : 0;
		if (ret != EAGAIN)
			break;
		usleep(1000u << tries);		/* 1 ms .. 128 ms */
	}
	/*
	 * The collapse maps the new folio in the alias, which would count
	 * it twice in RSS with a view's mapping of it; the alias needs none.
	 */
	if (!ret)
		madvise(at, len, MADV_DONTNEED);
	return ret;
}
