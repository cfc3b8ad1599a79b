/* SPDX-License-Identifier: MIT */
/*
 * file.c - the cache's file objects: one per (device, inode) mapped, or
 * per fc_map_backend(); found, referenced and released; kept with their
 * pages after the last mapping goes (retained); resized when the file
 * changes size (inotify, or a fault past the end), and discarded when it
 * changes unmapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "file.h"
#include "lru.h"
#include "maptab.h"
#include "radix.h"
#include "reclaim.h"
#include "stats.h"
#include "store.h"
#include "util.h"
#include "watch.h"

#define FC_RETAIN_FILES 32	/* unmapped files kept with their pages */

/*
 * Free @f: its watch, alias and descriptors (its pages and region are
 * gone already, or it never had them). Context: cache->lock NOT held:
 * munmap, close and inotify_rm_watch would delay every fault, and a
 * backend's release() is user code.
 */
static void file_free(struct fc_file *f)
{
	fc__assert_not_held(&f->cache->lock);
	if (f->owns_ctx && f->bops->release)
		f->bops->release(f->bctx);
	if (f->watch)	/* per inode: counted by every file that uses it */
		fc__watch_drop(f->watch);
	fc__store_alias_unmap(f);
	if (f->fd >= 0)
		close(f->fd);
	if (f->dfd_orig >= 0)
		close(f->dfd_orig);
	fc__radix_destroy(&f->tree);
	fc__radix_destroy(&f->chunks);
	pthread_mutex_destroy(&f->size_lock);
	free(f);
}

/*
 * A file system whose reads are copies from memory (tmpfs, ramfs): a read
 * never waits for a device, and io_uring hands shmem's reads to a worker
 * thread, so polling for one only waits for that worker to be scheduled
 * (design.md, "Polling for the read").
 */
static bool in_memory_fs(int fd)
{
	struct statfs s;

	return !fstatfs(fd, &s) &&
	       (s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC);
}

static int reopen_direct(int fd, const struct stat *st)
{
	char path[64];
	struct stat dst;
	int dfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	if (fstat(dfd, &dst) || dst.st_dev != st->st_dev ||
	    dst.st_ino != st->st_ino) {
		close(dfd);
		return -1;
	}
	return dfd;
}

/* Build a file object outside the lock. NULL with *err on failure. */
static struct fc_file *file_new(struct fc_cache *c, int fd,
				const struct stat *st, uint64_t need, int *err)
{
	size_t ps = c->cfg.page_size;
	struct fc_file *f = calloc(1, sizeof(*f));

	if (!f) {
		*err = ENOMEM;
		return NULL;
	}
	f->cache = c;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
	f->ctime = st->st_ctim;
	f->nr_pages = ((uint64_t)st->st_size + ps - 1) / ps;
	f->region_len = f->nr_pages * ps;
	if (f->region_len < need)
		f->region_len = (need + ps - 1) & ~(ps - 1);
	if (!f->region_len)
		f->region_len = ps;
	f->dfd_orig = -1;
	pthread_mutex_init(&f->size_lock, NULL);
	fc__radix_init(&f->tree);
	fc__radix_init(&f->chunks);
	if (fd < 0) {		/* a backend: no descriptors */
		f->fd = -1;
		atomic_store(&f->dfd, -1);
		f->refs = 1;
		return f;
	}
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (f->fd < 0) {
		*err = errno;
		goto fail;
	}
	if (!(c->cfg.flags & FC_CONFIG_NO_DIRECT))
		f->dfd_orig = reopen_direct(fd, st);
	atomic_store(&f->dfd, f->dfd_orig);
	f->in_memory = in_memory_fs(fd);
	f->refs = 1;
	return f;
fail:
	file_free(f);
	return NULL;
}

/*
 * List @f, with its region, alias and watch. Context: cache->lock held.
 */
static void file_link(struct fc_cache *c, struct fc_file *f)
{
	fc__assert_held(&c->lock);
	f->id = ++c->next_file_id;
	f->next = c->files;
	c->files = f;
	c->file_pages += f->region_len / c->cfg.page_size;
}

static void file_destroy(struct fc_cache *c, struct fc_file *f);

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * Is @f as its source was when @st was taken: size, modification and
 * change time? Context: cache->lock held.
 */
static bool file_same(const struct fc_file *f, const struct stat *st)
{
	fc__assert_held(&f->cache->lock);
	return f->size == st->st_size && same_time(&f->mtime, &st->st_mtim) &&
	       same_time(&f->ctime, &st->st_ctim);
}

/* Is retained @f still the file @st describes, and big enough for @need? */
static bool file_current(const struct fc_file *f, const struct stat *st,
			 uint64_t need)
{
	return f->region_len >= need && file_same(f, st);
}

/*
 * @f has no mapping and the file changed since it was cached: free it if
 * nothing holds it, else (a read in flight) let no one find it again.
 * Context: cache->lock held.
 */
static void file_discard(struct fc_cache *c, struct fc_file *f)
{
	fc__assert_held(&c->lock);
	if (f->released)
		file_destroy(c, f);
	else
		f->defunct = true;
}

/*
 * A file object for @st whose region covers @need bytes. One without a
 * live mapping (retained, or held only by reads still in flight) is used
 * only if the file is unchanged since it was cached (size, mtime, ctime)
 * and big enough; otherwise it is discarded: its pages would show old
 * bytes. Context: cache->lock held.
 */
static struct fc_file *file_find(struct fc_cache *c, const struct stat *st,
				 uint64_t need)
{
	struct fc_file *f, *next;

	fc__assert_held(&c->lock);
	for (f = c->files; f; f = next) {
		next = f->next;
		if (f->bops || f->defunct || f->dev != st->st_dev ||
		    f->ino != st->st_ino)
			continue;
		if (f->views) {
			if (f->region_len >= need)
				return f;
		} else if (file_current(f, st, need)) {
			return f;
		} else {
			file_discard(c, f);
		}
	}
	return NULL;
}

/*
 * Take a reference on @f, mapping a retained file again.
 * Context: cache->lock held.
 */
void fc__file_take(struct fc_cache *c, struct fc_file *f)
{
	fc__assert_held(&c->lock);
	if (f->released) {
		f->released = 0;
		c->nr_retained--;
		c->file_pages += f->region_len / c->cfg.page_size;
	}
	f->refs++;
}

/*
 * Give new @f a region of the store, then its alias and watch: the system
 * calls without cache->lock, which every fault waits for (only the
 * region's allocation takes it). @f is not listed yet.
 * Return: 0 or -errno, and then @f has none of them.
 * Context: cache->lock NOT held.
 */
static int file_prepare(struct fc_cache *c, struct fc_file *f)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = fc__store_region_get(c, f);
	pthread_mutex_unlock(&c->lock);
	if (ret)
		return ret;
	ret = fc__store_alias_map(c, f);
	if (ret) {
		pthread_mutex_lock(&c->lock);
		fc__store_region_free(c, f);
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	/* writes, truncate and extend raise IN_MODIFY (best effort) */
	if (f->fd >= 0 && c->inotify_fd >= 0) {
		f->watch = fc__watch_add(f->fd);
		if (f->watch)
			f->watch_seen = fc__watch_events(f->watch);
	}
	return 0;
}

/**
 * fc__file_get - the cache's file object for @fd, taking a reference.
 * Files are shared by every mapping of the same (device, inode), so a
 * page read for one mapping is a hit for another. Its store region holds
 * at least @need bytes (the end of the mapping, which may lie past EOF); a
 * mapping reaching past the region of the existing object gets a new one.
 * Return: the file, or NULL with *err set. Context: cache->lock NOT held.
 */
struct fc_file *fc__file_get(struct fc_cache *c, int fd, const struct stat *st,
			     uint64_t need, int *err)
{
	struct fc_file *f, *nf;
	bool changed = false;
	int ret;

	fc__assert_not_held(&c->lock);
	/* a retained file written before this call must not be reused */
	if (c->inotify_fd >= 0)
		fc__files_notified(c);
	pthread_mutex_lock(&c->lock);
	f = file_find(c, st, need);
	if (f) {
		fc__file_take(c, f);
		changed = !file_same(f, st);
	}
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);	/* retained files file_find discarded */
	/*
	 * Mapped already and changed since it was last looked at (no event
	 * read yet, or none to come: NFS): every mapping of it sees the file
	 * as it is now, from this call on.
	 */
	if (f && changed)
		fc__file_revalidate(c, f);
	if (f)
		return f;
	nf = file_new(c, fd, st, need, err);
	if (!nf)
		return NULL;
	ret = file_prepare(c, nf);
	if (ret) {
		*err = -ret;
		file_free(nf);
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	f = file_find(c, st, need);	/* lost a race with another fc_map? */
	if (f) {
		fc__file_take(c, f);
		fc__store_region_free(c, nf);
	} else {
		file_link(c, nf);
	}
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);	/* retained files file_find discarded */
	if (!f)
		return nf;
	file_free(nf);
	return f;
}

/**
 * fc__file_backend - a new file object served by @ops on @ctx (never
 * shared: each fc_map_backend() owns its context).
 * Return: the file, or NULL with *err set. Context: cache->lock NOT held.
 */
struct fc_file *fc__file_backend(struct fc_cache *c,
				 const struct fc_backend_ops *ops, void *ctx,
				 uint64_t size, uint64_t need, int *err)
{
	struct stat st;
	struct fc_file *f;
	int ret;

	fc__assert_not_held(&c->lock);
	memset(&st, 0, sizeof(st));
	st.st_size = (off_t)size;
	f = file_new(c, -1, &st, need, err);
	if (!f)
		return NULL;
	ret = file_prepare(c, f);
	if (ret) {
		*err = -ret;
		file_free(f);	/* not owned: the caller keeps ctx */
		return NULL;
	}
	/* whole before it is listed: file_find reads bops under the lock */
	f->bops = ops;
	f->bctx = ctx;
	f->owns_ctx = true;	/* from here on release() runs when it goes */
	pthread_mutex_lock(&c->lock);
	file_link(c, f);
	pthread_mutex_unlock(&c->lock);
	return f;
}

/*
 * Free the files destroyed under cache->lock (file_destroy), after it:
 * see file_free. Context: cache->lock NOT held.
 */
void fc__files_reap(struct fc_cache *c)
{
	struct fc_file *f, *next;

	fc__assert_not_held(&c->lock);
	pthread_mutex_lock(&c->lock);
	f = c->zombies;
	c->zombies = NULL;
	pthread_mutex_unlock(&c->lock);
	for (; f; f = next) {
		next = f->next;
		file_free(f);
	}
}

/* What a file's source says of it. */
struct source_state {
	off_t size;
	struct timespec mtime, ctime;	/* a backend's: as cached */
};

/*
 * The source of @f is now as @now says. A file whose modification or
 * change time moved was written, or truncated and written again (cp,
 * shell redirection, editors: open with O_TRUNC, then write), and the
 * library cannot tell which bytes changed: every cached page is stale. A
 * backend's pages are stale from the one holding the smaller of the old
 * and new ends on (past a new end, or zero-filled past the old one).
 * Stale pages are dropped, which unmaps them from every view, or marked
 * to be dropped when their read or installation ends (their waiters
 * fault again). Faults past a new end get SIGBUS.
 * Context: cache->lock held, and f->size_lock.
 */
static void file_changed(struct fc_cache *c, struct fc_file *f,
			 const struct source_state *now)
{
	size_t ps = c->cfg.page_size;
	uint64_t cut, key, cap = f->region_len / ps;
	struct fc_page *pg;
	bool written;

	fc__assert_held(&c->lock);
	written = !same_time(&f->mtime, &now->mtime) ||
		  !same_time(&f->ctime, &now->ctime);
	if (now->size < 0 || (now->size == f->size && !written))
		return;
	fc__stats_note(c);	/* before pages go: peak_resident_bytes */
	cut = written ? 0 : (uint64_t)(now->size < f->size ? now->size
							   : f->size) / ps;
	f->size = now->size;
	f->mtime = now->mtime;
	f->ctime = now->ctime;
	f->nr_pages = ((uint64_t)now->size + ps - 1) / ps;
	if (f->nr_pages > cap)	/* beyond every mapping: never cached */
		f->nr_pages = cap;
	key = cut;
	while ((pg = fc__radix_next(&f->tree, &key))) {
		key = pg->index + 1;
		if (pg->state == FC_PG_UPTODATE && !pg->pins)
			fc__page_drop(c, pg);
		else
			pg->stale = 1;
	}
	fc__assert_cache(c);
}

/*
 * What @f's source says of it now, in @s. 0 or -errno.
 * Context: f->size_lock held (a backend's get_size runs under it), no
 * cache->lock.
 */
static int file_source_state(struct fc_file *f, struct source_state *s)
{
	struct stat st;
	uint64_t sz;
	int ret;

	fc__assert_not_held(&f->cache->lock);
	if (f->bops) {
		if (!f->bops->get_size)
			return -ENOSYS;
		ret = f->bops->get_size(f->bctx, &sz);
		if (ret)
			return ret < 0 ? ret : -EIO;
		if (sz > (uint64_t)INT64_MAX)
			return -EFBIG;
		s->size = (off_t)sz;
		pthread_mutex_lock(&f->cache->lock);
		s->mtime = f->mtime;
		s->ctime = f->ctime;
		pthread_mutex_unlock(&f->cache->lock);
		return 0;
	}
	if (fstat(f->fd, &st))
		return -errno;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	s->ctime = st.st_ctim;
	return 0;
}

/* Size checks of @f, one at a time (see file->size_lock). */
void fc__file_size_lock(struct fc_file *f)
{
	pthread_mutex_lock(&f->size_lock);
}

void fc__file_size_unlock(struct fc_file *f)
{
	pthread_mutex_unlock(&f->size_lock);
}

/**
 * fc__file_revalidate_locked - look at @f's source again and apply what
 * changed (file_changed). A file that grew has its views' SIGBUS markers
 * past the old end cleared, so the new bytes are seen on the next touch.
 * The source is read and the answer applied under f->size_lock, so an
 * older answer never overwrites a newer one, and no marker is set past
 * an end (plan.c, do_eof) after a growth cleared them.
 * Context: f->size_lock held, no other lock; the caller holds a
 * reference on @f.
 */
void fc__file_revalidate_locked(struct fc_cache *c, struct fc_file *f)
{
	struct source_state now = { 0, { 0, 0 }, { 0, 0 } };
	off_t old;

	fc__assert_not_held(&c->lock);
	if (file_source_state(f, &now))
		return;
	pthread_mutex_lock(&c->lock);
	old = f->size;
	file_changed(c, f, &now);
	pthread_mutex_unlock(&c->lock);
	if (now.size > old)
		fc__mapping_clear_eof(f, (uint64_t)old);
}

/**
 * fc__file_revalidate - the same, taking f->size_lock.
 * Context: no locks held; the caller holds a reference on @f.
 */
void fc__file_revalidate(struct fc_cache *c, struct fc_file *f)
{
	fc__file_size_lock(f);
	fc__file_revalidate_locked(c, f);
	fc__file_size_unlock(f);
}

/*
 * Up to @max files of @c whose watch counted events since they last
 * looked, referenced, in @v: they are looked at again. Those without a
 * mapping are discarded instead: their pages may no longer be the
 * file's. Return: how many. Context: cache->lock held.
 */
static size_t files_changed(struct fc_cache *c, struct fc_file **v,
			    size_t max)
{
	struct fc_file *f, *next;
	size_t n = 0;

	fc__assert_held(&c->lock);
	for (f = c->files; f && n < max; f = next) {
		uint64_t seen;

		next = f->next;
		if (!f->watch || f->defunct)
			continue;
		seen = fc__watch_events(f->watch);
		if (seen == f->watch_seen)
			continue;
		f->watch_seen = seen;
		if (!f->views) {	/* not mapped: drop it */
			file_discard(c, f);
			continue;
		}
		f->refs++;
		v[n++] = f;
	}
	return n;
}

/*
 * Events from inotify (IN_MODIFY: a write, truncate or extension), read
 * by whichever cache gets to them first (watch.c): the mapped files whose
 * watches saw one are looked at again, in batches (as many as changed).
 * Context: cache->lock NOT held.
 */
void fc__files_notified(struct fc_cache *c)
{
	struct fc_file *v[64];
	size_t n;

	fc__assert_not_held(&c->lock);
	fc__watch_drain();
	do {
		pthread_mutex_lock(&c->lock);
		n = files_changed(c, v, 64);
		pthread_mutex_unlock(&c->lock);
		fc__files_revalidate_put(c, v, n);
	} while (n == 64);
}

/*
 * Look at the @n files of @v again (fc__file_revalidate), then drop the
 * references the caller took on them, and reap the files left unused.
 * Context: cache->lock NOT held.
 */
void fc__files_revalidate_put(struct fc_cache *c, struct fc_file **v,
			      size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fc__file_revalidate(c, v[i]);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < n; i++)
		fc__file_put(c, v[i]);
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);
}

/* Drop every cached page of @f. Context: cache->lock held, no reads. */
static void drop_file_pages(struct fc_cache *c, struct fc_file *f)
{
	uint64_t key = 0;
	struct fc_page *pg;

	fc__assert_held(&c->lock);
	while ((pg = fc__radix_next(&f->tree, &key))) {
		fc__radix_delete(&f->tree, pg->index);
		fc__lru_remove(&c->lru, &pg->lru);
		fc__page_free(c, pg);
		key = pg->index + 1;
	}
	fc__store_punch(c, f, 0, f->region_len / c->cfg.page_size);
}

/*
 * Unlist @f (no references left) and free its pages and region; the rest
 * is freed after the lock (c->zombies, fc__files_reap).
 * Context: cache->lock held.
 */
static void file_destroy(struct fc_cache *c, struct fc_file *f)
{
	struct fc_file **pp;

	fc__assert_held(&c->lock);
	for (pp = &c->files; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (f->released)
		c->nr_retained--;
	else
		c->file_pages -= f->region_len / c->cfg.page_size;
	fc__stats_note(c);	/* before pages go: peak_resident_bytes */
	drop_file_pages(c, f);
	fc__store_region_free(c, f);
	/* freed after the lock (fc__files_reap): see file_free */
	f->next = c->zombies;
	c->zombies = f;
}

/*
 * Free the retained files eviction left without pages, and the longest
 * retained beyond @keep (0 at destroy: all of them). Context: cache->lock held.
 */
void fc__retained_trim(struct fc_cache *c, unsigned keep)
{
	struct fc_file *f, *next, *oldest;

	fc__assert_held(&c->lock);
	for (f = c->files; f; f = next) {
		next = f->next;
		if (f->released && (!keep || !f->tree.nr_entries))
			file_destroy(c, f);
	}
	while (c->nr_retained > keep) {
		oldest = NULL;
		for (f = c->files; f; f = f->next)
			if (f->released &&
			    (!oldest || f->released < oldest->released))
				oldest = f;
		if (!oldest)
			break;
		file_destroy(c, oldest);
	}
}

/**
 * fc__file_put - drop a reference. When the last goes, a file with cached
 * pages is retained, as the kernel keeps a file's page cache after munmap
 * and close: its pages stay on the LRU and are evicted as any others, and
 * the next fc_map() of the same unchanged file finds them (file_find).
 * At most FC_RETAIN_FILES are kept (each holds two descriptors and an
 * inotify watch); backend files and files of a cache being destroyed are
 * freed at once. Context: cache->lock held.
 */
void fc__file_put(struct fc_cache *c, struct fc_file *f)
{
	fc__assert_held(&c->lock);
	if (--f->refs)
		return;
	if (!f->bops && !f->defunct && !c->destroying && f->tree.nr_entries) {
		f->released = ++c->release_seq;
		c->nr_retained++;
		c->file_pages -= f->region_len / c->cfg.page_size;
		fc__retained_trim(c, FC_RETAIN_FILES);
		return;
	}
	file_destroy(c, f);
}
