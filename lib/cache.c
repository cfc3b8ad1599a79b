/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the cache object: configuration, the page store (one memfd),
 * page allocation and reclaim, files, statistics, the default cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "collapse.h"
#include "config.h"
#include "file.h"
#include "handler.h"
#include "io.h"
#include "mapping.h"
#include "maptab.h"
#include "polled.h"
#include "reclaim.h"
#include "sigbus.h"
#include "stats.h"
#include "store.h"
#include "uffd.h"
#include "util.h"
#include "watch.h"

#define FC_CACHE_MAGIC 0x66636368u	/* "fcch": catches foreign handles */

/*
 * The process's caches, for fork: caches_lock in types.h's lock table.
 * fork_gen counts the forks this process descends through; a cache made
 * before the last of them is a parent's (fc__cache_usable).
 */
static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fc_cache *caches;		/* lock: caches */
static atomic_uint fork_gen;

/* ---- cache lifetime ---- */

/*
 * FC_CONFIG_INLINE: the uffd the views are registered with, in SIGBUS mode
 * (faults are signals to the faulting thread, never messages), and the
 * process's SIGBUS handler that serves them. -ENOSYS without the features.
 */
static int inline_init(struct fc_cache *c)
{
	/* remap events (mremap of a view): read by the first handler */
	uint64_t want = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MISSING_SHMEM |
			UFFD_FEATURE_EVENT_REMAP;
	uint64_t features;
	bool umo;
	int fd = fc__uffd_open(want, &features, &umo);

	if (fd < 0)
		return fd;
	c->inline_uffd = fd;
	return fc__sigbus_install();
}

/*
 * cache->lock spins a little before it sleeps (glibc's adaptive mutex).
 * Its holders are short; inline faults on many threads take it twice a
 * fault each, and with a plain mutex they convoyed through futex waits
 * and wake-ups, each wake-up an interrupt to another CPU
 * (docs/design.md, "Locking rules").
 */
static void cache_lock_init(pthread_mutex_t *lock)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
#ifdef __GLIBC__	/* PTHREAD_MUTEX_ADAPTIVE_NP is an enum, not a macro */
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	pthread_mutex_init(lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

static struct fc_cache *cache_create(const struct fc_config *cfg);

/*
 * caches_lock is held across the whole of it, so that a fork in another
 * thread sees the cache made and listed, or not at all.
 */
struct fc_cache *fc_cache_create(const struct fc_config *cfg)
{
	struct fc_cache *c;

	pthread_mutex_lock(&caches_lock);
	c = cache_create(cfg);
	if (c) {
		c->fork_gen = atomic_load(&fork_gen);
		c->reg_next = caches;
		caches = c;
	}
	pthread_mutex_unlock(&caches_lock);
	return c;
}

/* Context: caches_lock held. */
static struct fc_cache *cache_create(const struct fc_config *cfg)
{
	struct fc_cache *c = calloc(1, sizeof(*c));
	unsigned i;
	int ret;

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->memfd = -1;
	c->inline_uffd = -1;	/* before any failure: closed on the way out */
	c->store_uffd = -1;
	c->inotify_fd = fc__watch_open();	/* shared by every cache */
	/* sampling reads which pages the views map (fc__views_present) */
	c->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	c->sys_page = (size_t)sysconf(_SC_PAGESIZE);
	cache_lock_init(&c->lock);
	ret = fc__config_check(cfg, &c->cfg, c->sys_page);
	if (ret)
		goto fail;
	fc__stage_init(c);
	c->copy_mode = c->cfg.flags & FC_CONFIG_COPY;
	c->inline_mode = c->cfg.flags & FC_CONFIG_INLINE;
	ret = fc__store_init(c);
	if (ret)
		goto fail;
	ret = fc__reclaim_init(c);
	if (ret)
		goto fail;
	if (c->inline_mode) {
		ret = inline_init(c);
		if (ret)
			goto fail;
		fc__pollers_init(c, 0);
	}
	c->handlers = calloc(c->cfg.handler_threads, sizeof(*c->handlers));
	ret = -ENOMEM;
	if (!c->handlers)
		goto fail;
	for (i = 0; i < c->cfg.handler_threads; i++) {
		c->nr_handlers++;
		ret = fc__handler_init(c, &c->handlers[i]);
		if (ret)
			goto fail_handlers;
	}
	if (c->huge_store || c->chunked) {
		ret = fc__collapse_start(c);
		if (ret)
			goto fail_handlers;
	}
	if (c->inotify_fd >= 0)	/* events read by another cache wake handler 0 */
		fc__watch_listen(&c->watch_user, c->handlers[0].evfd);
	if (c->inline_mode)	/* the SIGBUS handler stays while it lives */
		fc__sigbus_hold();
	c->magic = FC_CACHE_MAGIC;
	return c;

fail_handlers:
	fc__handlers_destroy(c);
	c->handlers = NULL;
fail:
	fc__pollers_destroy(c);
	if (c->inline_uffd >= 0)
		close(c->inline_uffd);
	fc__reclaim_destroy(c);
	fc__store_destroy(c);
	if (c->inotify_fd >= 0)
		fc__watch_close();
	if (c->pagemap_fd >= 0)
		close(c->pagemap_fd);
	if (c->stage_idle_max)
		fc__stage_destroy(c);
	pthread_mutex_destroy(&c->lock);
	free(c);
	errno = -ret;
	return NULL;
}

/**
 * fc__cache_usable - may the caller use @c?
 * Return: 0; -EINVAL when @c was not made by fc_cache_create or was
 * destroyed (best effort); -ECHILD when it was made by a parent of this
 * process before a fork (its threads and descriptors are the parent's).
 */
int fc__cache_usable(const struct fc_cache *c)
{
	if (!c || c->magic != FC_CACHE_MAGIC)
		return -EINVAL;
	if (c->fork_gen != atomic_load_explicit(&fork_gen,
						memory_order_relaxed))
		return -ECHILD;
	return 0;
}

static void cache_destroy(struct fc_cache *c);

/*
 * In a forked child a parent's cache is not destroyed: it has no threads
 * here, its descriptors were closed at the fork, and its memory is the
 * parent's copy (fc_cache_destroy(3)).
 */
void fc_cache_destroy(struct fc_cache *c)
{
	struct fc_cache **pp;

	if (fc__cache_usable(c))
		return;
	pthread_mutex_lock(&caches_lock);
	for (pp = &caches; *pp; pp = &(*pp)->reg_next) {
		if (*pp == c) {
			*pp = c->reg_next;
			break;
		}
	}
	cache_destroy(c);
	pthread_mutex_unlock(&caches_lock);
}

/* Context: caches_lock held, @c off the list. */
static void cache_destroy(struct fc_cache *c)
{
	c->magic = 0;
	if (c->inotify_fd >= 0)	/* before its eventfd is closed */
		fc__watch_unlisten(&c->watch_user);
	pthread_mutex_lock(&c->lock);
	c->destroying = true;
	pthread_mutex_unlock(&c->lock);
	fc__collapse_stop(c);
	fc__unmap_all(c);
	/* inline faults run in application threads: let them finish */
	while (atomic_load(&c->inline_active))
		usleep(1000);
	fc__pollers_destroy(c);
	fc__handlers_destroy(c);
	/* every mapping, read and so file reference is gone now */
	pthread_mutex_lock(&c->lock);
	fc__retained_trim(c, 0);
	/* every page is free again, and every structure sound */
	fc__assert(fc__cache_check(c, true) && c->nr_used == 0);
	pthread_mutex_unlock(&c->lock);
	fc__files_reap(c);
	fc__reclaim_destroy(c);
	fc__store_destroy(c);
	if (c->inline_uffd >= 0)
		close(c->inline_uffd);
	if (c->inotify_fd >= 0)
		fc__watch_close();
	if (c->pagemap_fd >= 0)
		close(c->pagemap_fd);
	fc__stage_destroy(c);
	if (c->inline_mode)
		fc__sigbus_release();
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- the default cache ---- */

/*
 * Made once, on first use, under default_lock; read without it after. A
 * forked child starts again with none (fork_child).
 */
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct fc_cache *) default_cache;
static bool default_tried;	/* lock: default */
static int default_err;		/* lock: default */

/* Context: default_lock held. */
static void default_init(void)
{
	struct fc_config cfg;
	struct fc_cache *c;
	int ret = fc__config_from_env(&cfg);

	if (ret) {
		default_err = -ret;
		return;
	}
	c = fc_cache_create(&cfg);
	if (!c)
		default_err = errno;
	atomic_store_explicit(&default_cache, c, memory_order_release);
}

/* The process-wide cache, created on first use. NULL with errno set. */
struct fc_cache *fc__default_cache(void)
{
	struct fc_cache *c = atomic_load_explicit(&default_cache,
						  memory_order_acquire);
	int err;

	if (c)
		return c;
	pthread_mutex_lock(&default_lock);
	if (!default_tried) {
		default_tried = true;
		default_init();
	}
	c = atomic_load(&default_cache);
	err = default_err;
	pthread_mutex_unlock(&default_lock);
	if (!c)
		errno = err;
	return c;
}

/* The default cache if it was made, else NULL (nothing is made). */
struct fc_cache *fc__default_cache_peek(void)
{
	return atomic_load_explicit(&default_cache, memory_order_acquire);
}

/* ---- fork ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * In a forked child: close what @c, a cache of the parent, holds open
 * here (the parent's descriptors are not the child's to read, and its
 * userfaultfds are bound to the parent's address space), and unmap its
 * rings. Its views and aliases are MADV_DONTFORK: the child has none.
 * Context: the child of fork, one thread; @c->lock is held (fork_prepare
 * took it), so its file lists are whole.
 */
static void cache_forget(struct fc_cache *c)
{
	struct fc_file *f;
	unsigned i;

	for (f = c->files; f; f = f->next) {
		close_fd(&f->fd);
		close_fd(&f->dfd_orig);
	}
	for (f = c->zombies; f; f = f->next) {
		close_fd(&f->fd);
		close_fd(&f->dfd_orig);
	}
	for (i = 0; i < c->nr_handlers; i++) {
		struct fc_handler *h = &c->handlers[i];

		if (h->ring_ok)
			io_uring_queue_exit(&h->ring);
		h->ring_ok = false;
		close_fd(&h->uffd);
		close_fd(&h->evfd);
	}
	fc__pollers_destroy(c);
	close_fd(&c->memfd);
	close_fd(&c->store_uffd);
	close_fd(&c->inline_uffd);
	c->inotify_fd = -1;	/* the process's: fc__watch_fork_child */
	close_fd(&c->pagemap_fd);
}

/*
 * pthread_atfork handlers. A child keeps no lock a vanished thread held:
 * the prepare handler takes every lock of the library, in the order of
 * the lock table (types.h), so that none is held across the fork by
 * another thread; the parent drops them; the child makes its own anew,
 * forgets the parent's caches (fc__cache_usable says ECHILD for them)
 * and mappings, and will make a default cache of its own on first use.
 */
static void fork_prepare(void)
{
	struct fc_cache *c;

	pthread_mutex_lock(&default_lock);
	/* the child unmaps the views listed: none where a move left */
	fc__remaps_settle();
	fc__store_fork_prepare();	/* no alias half made */
	pthread_mutex_lock(&caches_lock);
	fc__maptab_fork_prepare();
	for (c = caches; c; c = c->reg_next)
		pthread_mutex_lock(&c->lock);
	fc__watch_fork_prepare();
	fc__sigbus_fork_prepare();
}

static void fork_parent(void)
{
	struct fc_cache *c;

	fc__sigbus_fork_parent();
	fc__watch_fork_parent();
	for (c = caches; c; c = c->reg_next)
		pthread_mutex_unlock(&c->lock);
	fc__maptab_fork_parent();
	pthread_mutex_unlock(&caches_lock);
	fc__store_fork_parent();
	pthread_mutex_unlock(&default_lock);
}

/*
 * Wait until every remap event a handler has read is applied (mremap of
 * a view returns once its event is read; fc_unmap must then find the
 * mapping where the program moved it).
 */
void fc__remaps_settle(void)
{
	struct fc_cache *c;

	pthread_mutex_lock(&caches_lock);
	for (c = caches; c; c = c->reg_next)
		if (c->handlers)
			fc__handlers_settle(c);
	pthread_mutex_unlock(&caches_lock);
}

static void fork_child(void)
{
	struct fc_cache *c;

	fc__sigbus_fork_child();
	fc__store_fork_child();
	fc__watch_fork_child();	/* closes the instance the caches share */
	atomic_fetch_add(&fork_gen, 1);
	for (c = caches; c; c = c->reg_next)
		cache_forget(c);	/* their locks stay taken: unused */
	caches = NULL;
	fc__maptab_fork_child();
	atomic_store(&default_cache, NULL);
	default_tried = false;
	default_err = 0;
	fc__fork_child_mutex(&caches_lock);
	fc__fork_child_mutex(&default_lock);
}

/*
 * Registered when the library is loaded, before any cache exists: fork
 * handlers run in the order they were registered (child) and in reverse
 * (prepare), so a library loaded on top of this one (the preload library)
 * registers after it and its child handler finds this one's work done.
 */
__attribute__((constructor)) static void fork_handlers_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* @c, or the default cache for NULL; or NULL with *@ret = -errno. */
static struct fc_cache *cache_or_default(struct fc_cache *c, int *ret)
{
	*ret = 0;
	if (!c) {
		c = fc__default_cache();
		if (!c)
			*ret = -errno;
	} else {
		*ret = fc__cache_usable(c);
	}
	return *ret ? NULL : c;
}

/*
 * Evict down to @pages for fc_cache_set_budget or fc_cache_trim, taking
 * cache->lock for FC_TRIM_BATCHES reclaim calls at a time, so that a
 * large eviction never holds up faults for long. With @budget not 0,
 * make it the budget first, and stop if another call changes it meanwhile
 * (that one evicts for its own). The rounds are as many as the pages held
 * at the start need, and two more: faults of other threads keep adding
 * pages between rounds while the budget allows, and a trim must end.
 * Evictions made on request are not the budget running out: they do not
 * make the peak the whole budget (fc__stats_note).
 * Return: FC_RECLAIM_FITS, or FC_RECLAIM_STUCK when pages being read or
 * pinned, or added meanwhile, kept the cache above @pages.
 */
static enum fc_reclaim_to evict_on_request(struct fc_cache *c, size_t budget,
					   uint64_t pages)
{
	const uint64_t round = FC_TRIM_BATCHES * FC_RECLAIM_BATCH;
	enum fc_reclaim_to r;
	uint64_t held, rounds;

	pthread_mutex_lock(&c->lock);
	if (budget)
		fc__budget_set(c, budget);
	held = fc__held_pages(c);
	rounds = (held > pages ? held - pages : 0) / round + 2;
	for (;;) {
		fc__stats_note(c);
		r = fc__reclaim_to(c, pages, FC_TRIM_BATCHES);
		c->peak_evictions = c->st.evictions;
		if (r != FC_RECLAIM_MORE)
			break;
		if (!--rounds || (budget && c->nr_slots != budget)) {
			r = FC_RECLAIM_STUCK;
			break;
		}
		pthread_mutex_unlock(&c->lock);
		sched_yield();
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int fc_cache_set_budget(struct fc_cache *c, size_t bytes)
{
	size_t pages, least, ps;
	int ret;

	c = cache_or_default(c, &ret);
	if (!c)
		return ret;
	ps = c->cfg.page_size;
	pages = bytes / ps;
	/* as at creation: 16 pages, and readahead a quarter of what is held */
	least = (c->cfg.readahead_max + ps - 1) / ps * (c->copy_mode ? 8 : 4);
	if (pages < 16 || pages < least || pages > c->max_slots)
		return -EINVAL;
	evict_on_request(c, pages, pages);
	fc__stage_shrink(c, false);
	return 0;
}

int fc_cache_trim(struct fc_cache *c, size_t bytes)
{
	enum fc_reclaim_to r;
	int ret;

	/* a default cache never made holds nothing: none is made for it */
	if (!c && !fc__default_cache_peek())
		return 0;
	c = cache_or_default(c, &ret);
	if (!c)
		return ret;
	r = evict_on_request(c, 0, bytes / c->cfg.page_size);
	fc__stage_shrink(c, true);	/* idle staging buffers go too */
	return r == FC_RECLAIM_FITS ? 0 : -EBUSY;
}

/*
 * fc_cache_stats is versioned: programs built against 0.1-0.3 call
 * fc_cache_stats@FAULTCACHE_0.1 with a struct fc_stats that ends at
 * latency_hist, and get that much; those built against 0.4-0.5 call
 * fc_cache_stats@FAULTCACHE_0.4 with one that ends at polled_slept; newer
 * ones call the default, fc_cache_stats@@FAULTCACHE_0.6, with the whole
 * struct.
 */
#define FC_STATS_SIZE_0_1 offsetof(struct fc_stats, collapses)
#define FC_STATS_SIZE_0_4 offsetof(struct fc_stats, peak_resident_bytes)
#ifdef __ELF__
__asm__(".symver fc__cache_stats_0_6, fc_cache_stats@@FAULTCACHE_0.6");
__asm__(".symver fc__cache_stats_0_4, fc_cache_stats@FAULTCACHE_0.4");
__asm__(".symver fc__cache_stats_0_1, fc_cache_stats@FAULTCACHE_0.1");
#else
#define fc__cache_stats_0_6 fc_cache_stats
#endif
FC_EXPORT int fc__cache_stats_0_6(struct fc_cache *c, struct fc_stats *out);
FC_EXPORT int fc__cache_stats_0_4(struct fc_cache *c, struct fc_stats *out);
FC_EXPORT int fc__cache_stats_0_1(struct fc_cache *c, struct fc_stats *out);

int fc__cache_stats_0_6(struct fc_cache *c, struct fc_stats *out)
{
	int ret;

	if (!out)
		return -EINVAL;
	c = cache_or_default(c, &ret);
	if (!c)
		return ret;
	fc__stats_read(c, out);
	return 0;
}

/* The first @size bytes of the statistics, for an older caller. */
static int stats_prefix(struct fc_cache *c, struct fc_stats *out, size_t size)
{
	struct fc_stats st;
	int ret;

	if (!out)
		return -EINVAL;
	ret = fc__cache_stats_0_6(c, &st);
	if (!ret)
		memcpy(out, &st, size);
	return ret;
}

int fc__cache_stats_0_4(struct fc_cache *c, struct fc_stats *out)
{
	return stats_prefix(c, out, FC_STATS_SIZE_0_4);
}

int fc__cache_stats_0_1(struct fc_cache *c, struct fc_stats *out)
{
	return stats_prefix(c, out, FC_STATS_SIZE_0_1);
}

unsigned fc_version(void)
{
	return FC_VERSION_NUMBER;
}

const char *fc_version_string(void)
{
	return FC_VERSION_STRING;
}
