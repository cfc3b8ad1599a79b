/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the cache object: configuration, the page store (one memfd),
 * page allocation and reclaim, files, statistics, the default cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
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
#include "polled.h"
#include "reclaim.h"
#include "sigbus.h"
#include "stats.h"
#include "store.h"
#include "uffd.h"
#include "util.h"
#include "watch.h"

#define FC_CACHE_MAGIC 0x66636368u	/* "fcch": catches foreign handles */

/* ---- cache lifetime ---- */

/*
 * FC_CONFIG_INLINE: the uffd the views are registered with, in SIGBUS mode
 * (faults are signals to the faulting thread, never messages), and the
 * process's SIGBUS handler that serves them. -ENOSYS without the features.
 */
static int inline_init(struct fc_cache *c)
{
	uint64_t want = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MISSING_SHMEM;
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

struct fc_cache *fc_cache_create(const struct fc_config *cfg)
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
	c->st.budget_bytes = c->nr_slots * c->cfg.page_size;
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

/* A cache made by fc_cache_create and not destroyed (best effort). */
bool fc__cache_valid(const struct fc_cache *c)
{
	return c && c->magic == FC_CACHE_MAGIC;
}

void fc_cache_destroy(struct fc_cache *c)
{
	if (!fc__cache_valid(c))
		return;
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
	fc__assert(fc__cache_check(c, true) && c->nr_free == c->nr_slots);
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

/* written once, by default_init under default_once; read-only after */
static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct fc_cache *default_cache;
static int default_err;

static void default_init(void)
{
	struct fc_config cfg;
	int ret = fc__config_from_env(&cfg);

	if (ret) {
		default_err = -ret;
		return;
	}
	default_cache = fc_cache_create(&cfg);
	if (!default_cache)
		default_err = errno;
}

/* The process-wide cache, created on first use. NULL with errno set. */
struct fc_cache *fc__default_cache(void)
{
	pthread_once(&default_once, default_init);
	if (!default_cache)
		errno = default_err;
	return default_cache;
}

/*
 * fc_cache_stats is versioned: programs built against 0.1-0.3 call
 * fc_cache_stats@FAULTCACHE_0.1 with a struct fc_stats that ends at
 * latency_hist, and get that much; newer ones call the default,
 * fc_cache_stats@@FAULTCACHE_0.4, with the whole struct.
 */
#define FC_STATS_SIZE_0_1 offsetof(struct fc_stats, collapses)
#ifdef __ELF__
__asm__(".symver fc__cache_stats_0_4, fc_cache_stats@@FAULTCACHE_0.4");
__asm__(".symver fc__cache_stats_0_1, fc_cache_stats@FAULTCACHE_0.1");
#else
#define fc__cache_stats_0_4 fc_cache_stats
#endif
FC_EXPORT int fc__cache_stats_0_4(struct fc_cache *c, struct fc_stats *out);
FC_EXPORT int fc__cache_stats_0_1(struct fc_cache *c, struct fc_stats *out);

int fc__cache_stats_0_4(struct fc_cache *c, struct fc_stats *out)
{
	if (!out)
		return -EINVAL;
	if (!c) {
		c = fc__default_cache();
		if (!c)
			return -errno;
	} else if (!fc__cache_valid(c)) {
		return -EINVAL;
	}
	fc__stats_read(c, out);
	return 0;
}

int fc__cache_stats_0_1(struct fc_cache *c, struct fc_stats *out)
{
	struct fc_stats st;
	int ret;

	if (!out)
		return -EINVAL;
	ret = fc__cache_stats_0_4(c, &st);
	if (!ret)
		memcpy(out, &st, FC_STATS_SIZE_0_1);
	return ret;
}

unsigned fc_version(void)
{
	return FC_VERSION_NUMBER;
}

const char *fc_version_string(void)
{
	return FC_VERSION_STRING;
}
