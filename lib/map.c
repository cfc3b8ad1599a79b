/* SPDX-License-Identifier: MIT */
/*
 * map.c - fc_map(), fc_unmap(), fc_advise() and the process-wide table
 * from addresses to mappings.
 *
 * Shape of a mapping of a file of size S at offset O, length L:
 *
 *   base                          base + view_len            base + len
 *   |--- view: MAP_SHARED of the store, ----|--- tail: empty memfd ---|
 *   |    registered MISSING|MINOR           |    touching it = SIGBUS |
 *                                     (file pages end at round_up(S))
 *
 * Lifetime: the table holds one reference; handlers take more while they
 * work on a fault. fc_unmap() removes the mapping from the table, puts a
 * PROT_NONE placeholder over the range (which also unregisters it), wakes
 * the threads blocked in it (they retry and get SIGSEGV, as after munmap)
 * and drops the table's reference. The placeholder is unmapped by the last
 * reference, so no address is reused while a handler may still install.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static struct {
	pthread_rwlock_t lock;
	struct fc_mapping **v;	/* sorted by base */
	size_t n, cap;
} maptab = { PTHREAD_RWLOCK_INITIALIZER, NULL, 0, 0 };

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

/* Drop a reference; the last frees the address range and the file ref. */
void fc__mapping_put(struct fc_mapping *m)
{
	struct fc_cache *c = m->cache;

	if (atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	munmap(m->base, m->len);
	pthread_mutex_lock(&c->lock);
	fc__file_put(c, m->file);
	pthread_mutex_unlock(&c->lock);
	free(m);
}

/* Tear down a mapping already removed from the table. */
static void unmap_detached(struct fc_mapping *m)
{
	struct fc_cache *c = m->cache;

	pthread_mutex_lock(&c->lock);
	m->dead = true;
	pthread_mutex_unlock(&c->lock);
	/* replaces the view atomically and unregisters it */
	mmap(m->base, m->len, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	if (m->view_len)
		fc__uffd_wake(m->h->uffd, m->base, m->view_len);
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
	if (!m || m->base != addr) {
		pthread_rwlock_unlock(&maptab.lock);
		return -EINVAL;
	}
	table_remove_at(pos);
	pthread_rwlock_unlock(&maptab.lock);
	unmap_detached(m);
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
			if (maptab.v[i]->cache == c) {
				m = maptab.v[i];
				table_remove_at(i);
				break;
			}
		}
		pthread_rwlock_unlock(&maptab.lock);
		if (!m)
			return;
		unmap_detached(m);
	}
}

/* Validate the arguments of fc_map(). 0 or a positive errno. */
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
	if (*length == 0) {
		if (offset >= st->st_size)
			return EINVAL;
		*length = (size_t)(st->st_size - offset);
	}
	/* the rounded range must fit the address space and off_t */
	if (*length > ((size_t)1 << 47) ||
	    (uint64_t)offset + *length > (uint64_t)INT64_MAX - sys_page)
		return EINVAL;
	return 0;
}

/* Build the view and the SIGBUS tail inside the reservation at m->base. */
static int map_view(struct fc_cache *c, struct fc_mapping *m)
{
	uint64_t file_end = ((uint64_t)m->file->size + c->sys_page - 1) &
			    ~(uint64_t)(c->sys_page - 1);
	int ret;

	m->view_len = file_end > m->offset ? file_end - m->offset : 0;
	if (m->view_len > m->len)
		m->view_len = m->len;
	if (m->view_len &&
	    mmap(m->base, m->view_len, PROT_READ, MAP_SHARED | MAP_FIXED,
		 c->memfd, (off_t)(m->file->region + m->offset)) == MAP_FAILED)
		return -errno;
	if (m->len > m->view_len &&
	    mmap(m->base + m->view_len, m->len - m->view_len, PROT_READ,
		 MAP_SHARED | MAP_FIXED, c->sigbus_fd, 0) == MAP_FAILED)
		return -errno;
	/* a forked child has no mapping here: it faults, never reads zeros */
	if (madvise(m->base, m->len, MADV_DONTFORK))
		return -errno;
	if (!m->view_len)
		return 0;
	ret = fc__uffd_register(m->h->uffd, m->base, m->view_len);
	return ret == -EINVAL ? -ENOMEM : ret;
}

void *fc_map(struct fc_cache *c, int fd, off_t offset, size_t length,
	     int flags)
{
	struct fc_mapping *m;
	struct stat st;
	int err;

	if (!c) {
		c = fc__default_cache();
		if (!c)
			return NULL;
	}
	err = check_args(fd, offset, &length, flags, &st, c->sys_page);
	if (err)
		goto out;
	m = calloc(1, sizeof(*m));
	err = ENOMEM;
	if (!m)
		goto out;
	m->cache = c;
	m->offset = (uint64_t)offset;
	m->len = (length + c->sys_page - 1) & ~(c->sys_page - 1);
	m->h = &c->handlers[atomic_fetch_add(&c->next_handler, 1) %
			    c->nr_handlers];
	atomic_store(&m->refs, 1);
	fc__ra_init(&m->ra, (unsigned)(c->cfg.readahead_max /
				       c->cfg.page_size));
	m->file = fc__file_get(c, fd, &st, &err);
	if (!m->file)
		goto free_m;
	m->base = mmap(NULL, m->len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
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
	atomic_fetch_add(&c->nr_mappings, 1);
	/*
	 * Pages of this file already in the cache are mapped into the new view
	 * by its handler, in the background: a fresh mapping of a warm file
	 * then takes no faults at all (best effort: on failure, faults do it).
	 */
	if (m->view_len)
		post_cmd(m, FC_CMD_POPULATE, m->offset, m->view_len);
	return m->base;

unmap:
	munmap(m->base, m->len);
put_file:
	pthread_mutex_lock(&c->lock);
	fc__file_put(c, m->file);
	pthread_mutex_unlock(&c->lock);
free_m:
	free(m);
out:
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
		break;
	default:
		ret = -EINVAL;
	}
out:
	fc__mapping_put(m);
	return ret;
}
