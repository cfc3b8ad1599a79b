/* SPDX-License-Identifier: MIT */
/*
 * map.c - fc_map(), fc_unmap(), fc_advise() and the process-wide table
 * from addresses to mappings.
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
 *
 * Lifetime: the table holds one reference; handlers take more while they
 * work on a fault. fc_unmap() marks the mapping dead, puts a PROT_NONE
 * placeholder over the range (which also unregisters it), wakes the
 * threads blocked in it (they retry and get SIGSEGV, as after munmap),
 * and only then removes it from the table and drops the table's
 * reference: a fault taken before the placeholder is in still finds its
 * mapping (an inline fault that did not would take the signal for someone
 * else's). The placeholder is unmapped by the last reference, so no
 * address is reused while a handler may still install.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Ranges taken out of the table lately (FC_CONFIG_INLINE): a SIGBUS raised
 * by a fault just before fc_unmap put its placeholder in can be handled
 * just after the mapping left the table. Such a fault is retried (it meets
 * the placeholder: SIGSEGV, as documented) rather than passed on as
 * someone else's SIGBUS. Entries count for FC_TOMB_NS only, so that a
 * real SIGBUS at a reused address is never retried for long.
 */
#define FC_TOMBS 64
#define FC_TOMB_NS (10 * 1000 * 1000ull)

struct fc_tomb {
	uintptr_t lo, hi;
	uint64_t t;		/* fc__now_ns() when it left the table */
};

static struct {
	pthread_rwlock_t lock;
	struct fc_mapping **v;	/* sorted by base */
	size_t n, cap;
	struct fc_tomb tombs[FC_TOMBS];
	unsigned next_tomb;
} maptab = { PTHREAD_RWLOCK_INITIALIZER, NULL, 0, 0, { { 0, 0, 0 } }, 0 };

static int post_cmd(struct fc_mapping *m, enum fc_cmd_kind kind, uint64_t off,
		    size_t len);

/* Index of the first mapping with base > addr. Context: maptab.lock held. */
static size_t upper_bound(uintptr_t addr)
{
	size_t lo = 0, hi = maptab.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if ((uintptr_t)maptab.v[mid]->base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct fc_mapping *find_locked(uintptr_t addr, size_t *pos)
{
	size_t i = upper_bound(addr);
	struct fc_mapping *m;

	if (!i)
		return NULL;
	m = maptab.v[i - 1];
	if (addr >= (uintptr_t)m->base + m->len)
		return NULL;
	*pos = i - 1;
	return m;
}

static int table_insert(struct fc_mapping *m)
{
	size_t i;

	pthread_rwlock_wrlock(&maptab.lock);
	if (maptab.n == maptab.cap) {
		size_t cap = maptab.cap ? 2 * maptab.cap : 64;
		struct fc_mapping **v = realloc(maptab.v, cap * sizeof(*v));

		if (!v) {
			pthread_rwlock_unlock(&maptab.lock);
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
	pthread_rwlock_unlock(&maptab.lock);
	return 0;
}

static void table_remove_at(size_t i)
{
	memmove(&maptab.v[i], &maptab.v[i + 1],
		(maptab.n - i - 1) * sizeof(maptab.v[0]));
	maptab.n--;
}

void fc__mapping_get(struct fc_mapping *m)
{
	atomic_fetch_add(&m->refs, 1);
}

/**
 * fc__mapping_lookup - the live mapping containing @addr, referenced.
 * Return: the mapping or NULL. Context: any thread, no locks held.
 */
struct fc_mapping *fc__mapping_lookup(uint64_t addr)
{
	struct fc_mapping *m;
	size_t pos;

	pthread_rwlock_rdlock(&maptab.lock);
	m = find_locked((uintptr_t)addr, &pos);
	if (m)
		fc__mapping_get(m);
	pthread_rwlock_unlock(&maptab.lock);
	return m;
}

/* @addr was in an inline mapping unmapped in the last FC_TOMB_NS. */
static bool tomb_recent(uintptr_t addr)
{
	uint64_t now = fc__now_ns();
	unsigned i;

	for (i = 0; i < FC_TOMBS; i++) {
		const struct fc_tomb *t = &maptab.tombs[i];

		if (addr >= t->lo && addr < t->hi && now - t->t < FC_TOMB_NS)
			return true;
	}
	return false;
}

/**
 * fc__mapping_lookup_inline - as fc__mapping_lookup, for an inline fault:
 * NULL unless the mapping is in an inline cache, and the cache's
 * inline_active count is raised under the table lock, so that
 * fc_cache_destroy, which waits for the count to fall to 0 after taking
 * every mapping out of the table, cannot miss this fault. The caller
 * drops both when done. @gone is set when @addr was in an inline mapping
 * unmapped a moment ago (the fault is to be retried, see FC_TOMBS).
 */
struct fc_mapping *fc__mapping_lookup_inline(uint64_t addr, bool *gone)
{
	struct fc_mapping *m;
	size_t pos;

	*gone = false;
	pthread_rwlock_rdlock(&maptab.lock);
	m = find_locked((uintptr_t)addr, &pos);
	if (m && m->cache->inline_mode) {
		fc__mapping_get(m);
		atomic_fetch_add(&m->cache->inline_active, 1);
	} else {
		if (!m)
			*gone = tomb_recent((uintptr_t)addr);
		m = NULL;
	}
	pthread_rwlock_unlock(&maptab.lock);
	return m;
}

/* Drop a reference; the last frees the address range and the file ref. */
void fc__mapping_put(struct fc_mapping *m)
{
	struct fc_cache *c = m->cache;

	if (atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	munmap(m->base, m->len);
	/* no handler can copy into it any more: its copies are gone */
	if (m->copied)
		fc__view_copied_clear(m, 0, m->len);
	pthread_mutex_lock(&c->lock);
	fc__file_put(c, m->file);
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);
	free(m->copied);
	free(m);
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

	pthread_rwlock_rdlock(&maptab.lock);
	for (i = 0; i < maptab.n; i++) {
		struct fc_mapping *m = maptab.v[i];
		uint64_t lo = from > m->offset ? from - m->offset : 0;

		if (m->file != f || lo >= m->len)
			continue;
		fc__view_zap(m, lo, m->len);
	}
	pthread_rwlock_unlock(&maptab.lock);
}

/* Take @m, already marked unmapping, out of the table. */
static void table_remove(struct fc_mapping *m)
{
	size_t pos;

	pthread_rwlock_wrlock(&maptab.lock);
	if (find_locked((uintptr_t)m->base, &pos) == m)
		table_remove_at(pos);
	if (m->cache->inline_mode) {
		struct fc_tomb *t = &maptab.tombs[maptab.next_tomb++ % FC_TOMBS];

		t->lo = (uintptr_t)m->base;
		t->hi = (uintptr_t)m->base + m->len;
		t->t = fc__now_ns();
	}
	pthread_rwlock_unlock(&maptab.lock);
}

/* Tear down @m (marked unmapping by the caller) and drop the table's ref. */
static void unmap_view(struct fc_mapping *m)
{
	struct fc_cache *c = m->cache;

	pthread_mutex_lock(&c->lock);
	m->dead = true;
	pthread_mutex_unlock(&c->lock);
	fc__views_link(m, false);
	/* replaces the view atomically and unregisters it */
	mmap(m->base, m->len, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	/* the copies went with the view (a racing install may set a bit
	 * again: the last put clears them once more) */
	if (m->copied)
		fc__view_copied_clear(m, 0, m->len);
	fc__uffd_wake(m->uffd, m->base, m->len);
	table_remove(m);
	atomic_fetch_sub(&c->nr_mappings, 1);
	fc__mapping_put(m);
}

int fc_unmap(void *addr)
{
	struct fc_mapping *m;
	size_t pos;

	if (!addr)
		return -EINVAL;
	pthread_rwlock_wrlock(&maptab.lock);
	m = find_locked((uintptr_t)addr, &pos);
	if (!m || m->base != addr || m->unmapping) {
		pthread_rwlock_unlock(&maptab.lock);
		return -EINVAL;
	}
	m->unmapping = true;
	pthread_rwlock_unlock(&maptab.lock);
	unmap_view(m);
	return 0;
}

/* Unmap every mapping of @c (fc_cache_destroy). */
void fc__unmap_all(struct fc_cache *c)
{
	for (;;) {
		struct fc_mapping *m = NULL;
		size_t i;

		pthread_rwlock_wrlock(&maptab.lock);
		for (i = 0; i < maptab.n; i++) {
			if (maptab.v[i]->cache == c && !maptab.v[i]->unmapping) {
				m = maptab.v[i];
				m->unmapping = true;
				break;
			}
		}
		pthread_rwlock_unlock(&maptab.lock);
		if (!m)
			return;
		unmap_view(m);
	}
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
	if (!S_ISREG(st->st_mode))
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
	if (!c)
		return fc__default_cache();
	if (!fc__cache_valid(c)) {
		errno = EINVAL;
		return NULL;
	}
	return c;
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
	m->uffd = c->inline_mode ? c->inline_uffd : m->h->uffd;
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

void *fc_map(struct fc_cache *c, int fd, off_t offset, size_t length,
	     int flags)
{
	struct fc_mapping *m;
	struct stat st;
	bool changed;
	int err;

	c = cache_or_default(c);
	if (!c)
		return NULL;
	err = check_args(fd, offset, &length, flags, &st, c->sys_page);
	if (err)
		goto out;
	m = mapping_new(c, offset, length);
	err = ENOMEM;
	if (!m)
		goto out;
	m->file = fc__file_get(c, fd, &st, mapping_need(c, offset, length),
			       &err);
	if (!m->file) {
		free(m);
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	changed = m->file->size != st.st_size;
	pthread_mutex_unlock(&c->lock);
	if (changed)	/* cached under an older size: check again */
		fc__file_revalidate(c, m->file);
	return map_file(c, m);
out:
	errno = err;
	return NULL;
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
	int err;

	m->base = fc__store_reserve(c, m->len, m->file->region + m->offset);
	if (m->base == MAP_FAILED) {
		err = errno;
		goto put_file;
	}
	err = -map_view(c, m);
	if (err)
		goto unmap;
	err = -table_insert(m);
	if (err)
		goto unmap;
	fc__views_link(m, true);
	atomic_fetch_add(&c->nr_mappings, 1);
	/*
	 * Copy mode: pages of this file already in the cache are copied into
	 * the new view by its handler, in the background: a fresh mapping of
	 * a warm file then takes no faults at all (best effort: on failure,
	 * faults do it). A shared view needs none of it: the kernel maps what
	 * the store holds at the first touch.
	 */
	if (c->copy_mode)
		post_cmd(m, FC_CMD_POPULATE, m->offset, m->len);
	return m->base;

unmap:
	munmap(m->base, m->len);
	free(m->copied);
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
