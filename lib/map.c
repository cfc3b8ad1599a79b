/* SPDX-License-Identifier: MIT */
/*
 * map.c - the API on mappings: fc_map(), fc_map_fixed(), fc_map_backend(),
 * fc_unmap() and fc_advise(); and fc_invalidate(), on a file.
 *
 * A mapping of a file at offset O, length L is one view: a MAP_SHARED
 * mapping of the file's store region from O, registered MISSING over all
 * of L. The kernel maps, at the first touch, any page the store holds;
 * only a touch of a page it lacks faults to the library. Pages past the
 * end of the file (which may move: truncate and extend) are never in the
 * store; a fault there is answered with SIGBUS by UFFDIO_POISON, and those
 * markers are cleared when the file grows.
 * With FC_CONFIG_COPY the view is private anonymous memory registered
 * MISSING, filled by UFFDIO_COPY; a bitmap counts its copies (budget), and
 * the file's list of views lets eviction zap them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cache.h"
#include "file.h"
#include "handler.h"
#include "invalidate.h"
#include "mapping.h"
#include "maptab.h"
#include "readahead.h"
#include "store.h"
#include "uffd.h"
#include "view.h"

static int post_cmd(struct fc_mapping *m, enum fc_cmd_kind kind, uint64_t off,
		    size_t len);

int fc_unmap(void *addr)
{
	struct fc_mapping *m;

	if (!addr)
		return -EINVAL;
	fc__remaps_settle();	/* the table follows a program's mremap */
	m = fc__maptab_unmapping(addr);
	if (!m)
		return -EINVAL;
	fc__mapping_unmap(m);
	return 0;
}

/* Validate the arguments of fc_map(). 0 or a positive errno. */
/*
 * @length 0 means to the end of @size bytes of data; the rounded range must
 * fit the address space and off_t. 0 or EINVAL.
 */
static int check_length(off_t offset, size_t *length, uint64_t size,
			size_t sys_page)
{
	if (*length == 0) {
		if ((uint64_t)offset >= size)
			return EINVAL;
		*length = (size_t)(size - (uint64_t)offset);
	}
	if (*length > ((size_t)1 << 47) ||
	    (uint64_t)offset + *length > (uint64_t)INT64_MAX - sys_page)
		return EINVAL;
	return 0;
}

/*
 * A file of a pseudo file system (/proc, /sys, ...): its size is not its
 * contents, which are made up at each read; mmap refuses most of them.
 */
static bool pseudo_fs(int fd)
{
	static const long magic[] = {
		PROC_SUPER_MAGIC, SYSFS_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC,
		CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, SECURITYFS_MAGIC,
		BPF_FS_MAGIC, EFIVARFS_MAGIC, PSTOREFS_MAGIC,
	};
	struct statfs s;
	size_t i;

	if (fstatfs(fd, &s))
		return false;
	for (i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if ((long)s.f_type == magic[i])
			return true;
	return false;
}

static int check_args(int fd, off_t offset, size_t *length, int flags,
		      struct stat *st, size_t sys_page)
{
	int fl;

	if (fd < 0 || fstat(fd, st))
		return EBADF;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return EBADF;
	if ((fl & O_ACCMODE) == O_WRONLY || (fl & O_PATH))
		return EACCES;
	if (!S_ISREG(st->st_mode) || pseudo_fs(fd))
		return ENODEV;
	if (flags || offset < 0 || (uint64_t)offset % sys_page)
		return EINVAL;
	return check_length(offset, length, (uint64_t)st->st_size, sys_page);
}

/* Build the view inside the reservation at m->base. */
static int map_view(struct fc_cache *c, struct fc_mapping *m)
{
	void *v;
	int ret;

	if (c->copy_mode) {
		if (fc__view_copies_alloc(m))
			return -ENOMEM;
		v = mmap(m->base, m->len, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				 MAP_NORESERVE, -1, 0);
	} else {
		v = fc__store_map(c, m->file, m->base, m->offset, m->len);
	}
	if (v == MAP_FAILED)
		return -errno;
	/* a forked child has no mapping here: it faults, never reads zeros */
	if (madvise(m->base, m->len, MADV_DONTFORK))
		return -errno;
	/*
	 * khugepaged must not collapse a view's range of the store into a
	 * huge folio in a cache of smaller pages that does not keep count of
	 * its 2 MiB chunks (FC_CONFIG_NO_COLLAPSE, copy mode): evicting one
	 * page would then punch inside the folio, which the kernel splits or,
	 * failing that, zeroes in place while it stays mapped; chunked caches
	 * never punch part of a chunk that may be one (the store's
	 * chunk_punch). (It does not fill holes: on 6.18 a range with one,
	 * in a MISSING-registered mapping, is left alone; docs/design.md,
	 * "Huge store pages by collapse".) Best effort, as for the alias.
	 */
	if (!c->huge_store && !c->chunked)	/* meant to be huge */
		madvise(m->base, m->len, MADV_NOHUGEPAGE);
	ret = fc__uffd_register(m->uffd, m->base, m->len);
	return ret == -EINVAL ? -ENOMEM : ret;
}

/* The cache to use for @c (NULL = default). NULL with errno set. */
static struct fc_cache *cache_or_default(struct fc_cache *c)
{
	int ret;

	if (!c)
		return fc__default_cache();
	ret = fc__cache_usable(c);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	return c;
}

/*
 * FC_CONFIG_INLINE serves a mapping by SIGBUS in the faulting thread. A
 * thread that blocks SIGBUS cannot take it: the kernel forces a fault
 * signal that is blocked, resetting the handler, and ends the process. A
 * server that blocks every signal before it starts its threads and takes
 * them with sigwait makes its mappings with SIGBUS blocked, and its
 * threads block it too: such a mapping is served by the handler threads,
 * as without FC_CONFIG_INLINE (faultcache(7)).
 */
static bool sigbus_blocked(void)
{
	sigset_t cur;

	return !pthread_sigmask(SIG_BLOCK, NULL, &cur) &&
	       sigismember(&cur, SIGBUS) == 1;
}

static struct fc_mapping *mapping_new(struct fc_cache *c, off_t offset,
				      size_t length)
{
	struct fc_mapping *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cache = c;
	m->offset = (uint64_t)offset;
	m->len = (length + c->sys_page - 1) & ~(c->sys_page - 1);
	m->h = &c->handlers[atomic_fetch_add(&c->next_handler, 1) %
			    c->nr_handlers];
	m->uffd = c->inline_mode && !sigbus_blocked() ? c->inline_uffd
						      : m->h->uffd;
	atomic_store(&m->refs, 1);
	fc__ra_init(&m->ra, (unsigned)(c->cfg.readahead_max /
				       c->cfg.page_size));
	return m;
}

/* The end of @m in the file, rounded to cache pages: its store need. */
static uint64_t mapping_need(const struct fc_cache *c, off_t offset,
			     size_t length)
{
	size_t ps = c->cfg.page_size;

	return ((uint64_t)offset + length + ps - 1) & ~(uint64_t)(ps - 1);
}

static void *map_file(struct fc_cache *c, struct fc_mapping *m);
static void *map_fixed(struct fc_cache *c, struct fc_mapping *m);

/*
 * A new mapping of @fd for fc_map and fc_map_fixed, with its file.
 * NULL with *@err set.
 */
static struct fc_mapping *mapping_of_fd(struct fc_cache *c, int fd,
					off_t offset, size_t length,
					int flags, int *err)
{
	struct fc_mapping *m;
	struct stat st;

	*err = check_args(fd, offset, &length, flags, &st, c->sys_page);
	if (*err)
		return NULL;
	m = mapping_new(c, offset, length);
	*err = ENOMEM;
	if (!m)
		return NULL;
	m->file = fc__file_get(c, fd, &st, mapping_need(c, offset, length),
			       err);
	if (!m->file) {
		free(m);
		return NULL;
	}
	return m;
}

void *fc_map(struct fc_cache *c, int fd, off_t offset, size_t length,
	     int flags)
{
	struct fc_mapping *m;
	int err;

	c = cache_or_default(c);
	if (!c)
		return NULL;
	m = mapping_of_fd(c, fd, offset, length, flags, &err);
	if (!m) {
		errno = err;
		return NULL;
	}
	return map_file(c, m);
}

void *fc_map_fixed(struct fc_cache *c, void *addr, int fd, off_t offset,
		   size_t length, int flags)
{
	struct fc_mapping *m;
	int err;

	c = cache_or_default(c);
	if (!c)
		return NULL;
	if (!addr || (uintptr_t)addr % c->sys_page) {
		errno = EINVAL;
		return NULL;
	}
	m = mapping_of_fd(c, fd, offset, length, flags, &err);
	if (m && (uintptr_t)addr + m->len < (uintptr_t)addr) {
		fc__mapping_discard(m);
		m = NULL;
		err = EINVAL;
	}
	if (!m) {
		errno = err;
		return NULL;
	}
	m->base = addr;
	fc__remaps_settle();	/* as map_file: @addr may be a range given up */
	return map_fixed(c, m);
}

void *fc_map_backend(struct fc_cache *c, const struct fc_backend_ops *ops,
		     void *ctx, off_t offset, size_t length, int flags)
{
	struct fc_mapping *m;
	uint64_t size;
	int err = EINVAL;

	c = cache_or_default(c);
	if (!c)
		return NULL;
	if (!ops || ops->size < offsetof(struct fc_backend_ops, release) ||
	    ops->size > sizeof(*ops) || !ops->read || !ops->get_size ||
	    flags || offset < 0 || (uint64_t)offset % c->sys_page)
		goto out;
	err = ops->get_size(ctx, &size);
	if (err) {
		err = err < 0 ? -err : EIO;
		goto out;
	}
	err = size > (uint64_t)INT64_MAX ? EINVAL
					  : check_length(offset, &length, size,
							 c->sys_page);
	if (err)
		goto out;
	m = mapping_new(c, offset, length);
	err = ENOMEM;
	if (!m)
		goto out;
	m->file = fc__file_backend(c, ops, ctx, size,
				   mapping_need(c, offset, length), &err);
	if (!m->file) {
		free(m);
		goto out;
	}
	return map_file(c, m);
out:
	errno = err;
	return NULL;
}

/* Finish fc_map*(): @m has its file; build and publish the view. */
static void *map_file(struct fc_cache *c, struct fc_mapping *m)
{
	char *base;
	int err;

	/*
	 * A range a program's mremap gave up may still be listed for the
	 * view it left until its handler applies the move, and the kernel
	 * may hand it out again now: the table must have let go of it first.
	 */
	fc__remaps_settle();
	m->base = fc__store_reserve(c, m->len, m->file->region + m->offset);
	if (m->base == MAP_FAILED) {
		err = errno;
		goto put_file;
	}
	err = -map_view(c, m);
	if (err)
		goto unmap;
	err = -fc__maptab_insert(m);
	if (err)
		goto unmap;
	fc__views_link(m, true);
	base = m->base;
	/*
	 * Copy mode: pages of this file already in the cache are copied into
	 * the new view by its handler, in the background: a fresh mapping of
	 * a warm file then takes no faults at all (best effort: on failure,
	 * faults do it). A shared view needs none of it: the kernel maps what
	 * the store holds at the first touch.
	 */
	if (c->copy_mode)
		post_cmd(m, FC_CMD_POPULATE, m->offset, m->len);
	/*
	 * Last, after every use of m: once the program has the address it
	 * may mremap the view, and the handler that applies the move frees
	 * m. The kernel orders the two; this count (which the handler
	 * changes too) tells ThreadSanitizer so.
	 */
	atomic_fetch_add(&c->nr_mappings, 1);
	return base;

unmap:
	munmap(m->base, m->len);
	fc__view_copies_free(m);
put_file:
	pthread_mutex_lock(&c->lock);
	m->file->owns_ctx = false;	/* the caller keeps a backend's ctx */
	fc__file_put(c, m->file);
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);
	free(m);
	errno = err;
	return NULL;
}

/* ---- fc_map_fixed ---- */

/*
 * Does @o show, where it overlaps @m, the pages @m is to show there, so
 * that @m may adopt its view in place? The same cache and file object
 * (so the same store region, and in copy mode copies of the same pages)
 * and the same file offset at each address.
 */
static bool same_pages(const struct fc_mapping *o, const struct fc_mapping *m)
{
	return o->cache == m->cache && o->file == m->file &&
	       o->offset - (uintptr_t)o->base == m->offset - (uintptr_t)m->base;
}

/* [@lo, @hi) of view bytes of @m (offsets) overlapped by @o. */
static void overlap(const struct fc_mapping *o, const struct fc_mapping *m,
		    uint64_t *lo, uint64_t *hi)
{
	uintptr_t a = (uintptr_t)m->base, b = a + m->len;
	uintptr_t oa = (uintptr_t)o->base, ob = oa + o->len;

	*lo = (oa > a ? oa : a) - a;
	*hi = (ob < b ? ob : b) - a;
}

/*
 * Map view bytes [@lo, @hi) of @m, over whatever is there, registered
 * with its userfaultfd. Copy mode's anonymous view is registered before
 * it is readable: a touch in between would fill a zero page that later
 * faults never replace. 0 or -errno.
 */
static int map_part(struct fc_cache *c, struct fc_mapping *m, uint64_t lo,
		    uint64_t hi)
{
	char *at = m->base + lo;
	size_t len = hi - lo;
	void *v;
	int ret;

	if (c->copy_mode)
		v = mmap(at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_FIXED | MAP_NORESERVE, -1, 0);
	else
		v = fc__store_map(c, m->file, at, m->offset + lo, len);
	if (v == MAP_FAILED)
		return -errno;
	if (madvise(at, len, MADV_DONTFORK))
		return -errno;
	if (!c->huge_store && !c->chunked)	/* as map_view */
		madvise(at, len, MADV_NOHUGEPAGE);
	ret = fc__uffd_register(m->uffd, at, len);
	if (ret)
		return ret == -EINVAL ? -ENOMEM : ret;
	if (c->copy_mode && mprotect(at, len, PROT_READ))
		return -errno;
	return 0;
}

/*
 * Map the parts of @m no mapping in @old[0..@n) gave it (@adopted[i]:
 * old[i]'s part was adopted). 0 or -errno.
 */
static int map_fresh(struct fc_cache *c, struct fc_mapping *m,
		     struct fc_mapping **old, const bool *adopted, size_t n)
{
	uint64_t pos = 0, lo, hi;
	size_t i;
	int ret;

	for (i = 0; i <= n; i++) {	/* @old is in address order */
		if (i < n && !adopted[i])
			continue;
		if (i < n)
			overlap(old[i], m, &lo, &hi);
		else
			lo = hi = m->len;
		if (lo > pos) {
			ret = map_part(c, m, pos, lo);
			if (ret)
				return ret;
		}
		pos = hi > pos ? hi : pos;
	}
	return 0;
}

/*
 * The parts of the claimed @old[0..@n) (address order) outside @m: new
 * mappings in place, in @add (at most two: only the first can start
 * before @m, only the last end after it), each from @src[i].
 */
static int adopt_outside(struct fc_mapping *m, struct fc_mapping **old,
			 size_t n, struct fc_mapping **add,
			 struct fc_mapping **src, size_t *nadd)
{
	uintptr_t lo = (uintptr_t)m->base, hi = lo + m->len;
	size_t i;

	for (i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)old[i]->base, b = a + old[i]->len;

		if (a < lo) {
			src[*nadd] = old[i];
			add[*nadd] = fc__mapping_adopt(old[i], a, lo);
			if (!add[*nadd])
				return -ENOMEM;
			(*nadd)++;
		}
		if (b > hi) {
			src[*nadd] = old[i];
			add[*nadd] = fc__mapping_adopt(old[i], hi, b);
			if (!add[*nadd])
				return -ENOMEM;
			(*nadd)++;
		}
	}
	return 0;
}

/*
 * Finish fc_map_fixed: @m, with its file and base, replaces what is at
 * its range. The mappings of the library there are claimed; the parts of
 * them outside the range become mappings of their own, in place; where
 * one shows the very pages @m is to show, @m adopts its view in place;
 * the rest of the range gets a new view, once the replaced mappings'
 * installs in flight are over (else one could land in the new view).
 * A mapping there being unmapped (after fc_unmap, until its last
 * reference unmaps its placeholder) is waited for.
 */
static void *map_fixed(struct fc_cache *c, struct fc_mapping *m)
{
	uintptr_t lo = (uintptr_t)m->base, hi = lo + m->len;
	struct fc_mapping **old = NULL, *add[3], *src[2];
	size_t nold = 0, nadd = 0, i;
	bool *adopted = NULL, have = false;
	uint64_t a, b;
	int err;

	while ((err = fc__maptab_claim(lo, hi, &old, &nold)) == -EAGAIN)
		usleep(100);
	if (err)
		goto put_file;
	adopted = calloc(nold + 1, sizeof(*adopted));
	err = -ENOMEM;
	if (!adopted)
		goto unclaim;
	/* the first mapping showing the same pages gives m its uffd */
	for (i = 0; i < nold; i++) {
		if (!same_pages(old[i], m) || (have && old[i]->uffd != m->uffd))
			continue;
		if (!have) {
			m->h = old[i]->h;
			m->uffd = old[i]->uffd;
			have = true;
		}
		adopted[i] = true;
	}
	err = adopt_outside(m, old, nold, add, src, &nadd);
	if (err)
		goto unclaim;
	err = -ENOMEM;
	if (c->copy_mode && fc__view_copies_alloc(m))
		goto unclaim;
	add[nadd] = m;
	err = fc__maptab_swap(old, nold, add, nadd + 1);
	if (err)
		goto unclaim;
	/*
	 * Committed: the new mappings are in the table, and on the file's
	 * list before the old ones leave it (a file without views is taken
	 * for unmapped).
	 */
	for (i = 0; i < nadd; i++) {
		fc__mapping_take_copies(add[i], src[i]);
		fc__views_link(add[i], true);
	}
	for (i = 0; i < nold; i++)
		if (adopted[i])
			fc__mapping_take_copies(m, old[i]);
	fc__views_link(m, true);
	atomic_fetch_add(&c->nr_mappings, (long)nadd + 1);
	for (i = 0; i < nold; i++) {
		overlap(old[i], m, &a, &b);
		a += (uintptr_t)m->base - (uintptr_t)old[i]->base;
		b += (uintptr_t)m->base - (uintptr_t)old[i]->base;
		if (adopted[i])
			a = b;
		fc__mapping_retire(old[i], a, b);
	}
	for (i = 0; i < nold; i++)
		if (!adopted[i])
			fc__mapping_quiesce(old[i]);
	err = map_fresh(c, m, old, adopted, nold);
	for (i = 0; i < nold; i++)
		fc__mapping_put(old[i]);	/* the table's */
	free(old);
	free(adopted);
	if (err) {
		/* as mmap(MAP_FIXED) may, leave the range unmapped */
		if (fc__maptab_unmapping(m->base) == m)
			fc__mapping_unmap(m);
		errno = -err;
		return NULL;
	}
	if (c->copy_mode)
		post_cmd(m, FC_CMD_POPULATE, m->offset, m->len);
	return m->base;

unclaim:
	for (i = 0; i < nadd; i++)
		fc__mapping_discard(add[i]);
	fc__maptab_unclaim(old, nold);
put_file:
	free(old);
	free(adopted);
	fc__mapping_discard(m);
	errno = -err;
	return NULL;
}

static int post_cmd(struct fc_mapping *m, enum fc_cmd_kind kind, uint64_t off,
		    size_t len)
{
	struct fc_cmd *cmd = calloc(1, sizeof(*cmd));
	size_t ps = m->cache->cfg.page_size;
	int ret;

	if (!cmd)
		return -ENOMEM;
	fc__mapping_get(m);
	cmd->kind = kind;
	cmd->m = m;
	cmd->first = off / ps;
	cmd->last = (off + len - 1) / ps;
	ret = fc__handler_post(m->h, cmd);
	if (ret) {
		fc__mapping_put(m);
		free(cmd);
	}
	return ret;
}

int fc_advise(void *addr, size_t length, int advice)
{
	struct fc_mapping *m;
	uint64_t start = (uintptr_t)addr, off;
	size_t sys_page = (size_t)sysconf(_SC_PAGESIZE);
	int ret = 0;

	if (!addr || start % sys_page)
		return -EINVAL;
	m = fc__mapping_lookup(start);
	if (!m)
		return -EINVAL;
	if (length > m->len || start + length > (uintptr_t)m->base + m->len) {
		ret = -EINVAL;
		goto out;
	}
	off = m->offset + (start - (uintptr_t)m->base);
	switch (advice) {
	case FC_ADVICE_NORMAL:
	case FC_ADVICE_RANDOM:
	case FC_ADVICE_SEQUENTIAL:
		pthread_mutex_lock(&m->cache->lock);
		fc__ra_advise(&m->ra, (enum fc_ra_advice)advice);
		pthread_mutex_unlock(&m->cache->lock);
		break;
	case FC_ADVICE_WILLNEED:
		if (length && off < (uint64_t)m->file->size)
			ret = post_cmd(m, FC_CMD_WILLNEED, off, length);
		break;
	case FC_ADVICE_DONTNEED:
		/* drop the view's PTEs (and poison); the data stays cached */
		length = (length + sys_page - 1) & ~(sys_page - 1);
		if (length && madvise(addr, length, MADV_DONTNEED))
			ret = -errno;
		else if (m->copied)
			fc__view_copied_clear(m, start - (uintptr_t)m->base,
				     start - (uintptr_t)m->base + length);
		break;
	default:
		ret = -EINVAL;
	}
out:
	fc__mapping_put(m);
	return ret;
}

int fc_invalidate(struct fc_cache *c, int fd, off_t offset, size_t length)
{
	struct stat st;
	int ret;

	if (c) {
		ret = fc__cache_usable(c);
		if (ret)
			return ret;
	}
	if (fd < 0 || fstat(fd, &st))
		return -EBADF;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	if (offset < 0 || length > (uint64_t)INT64_MAX - (uint64_t)offset)
		return -EINVAL;
	if (!c)	/* a default cache not made yet holds nothing */
		c = fc__default_cache_peek();
	if (!c)
		return 0;
	return fc__file_invalidate(c, &st, (uint64_t)offset, length);
}
