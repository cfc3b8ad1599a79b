/* SPDX-License-Identifier: MIT */
/*
 * libfaultcache: a file page cache in userspace, served through userfaultfd.
 *
 * fc_map() returns an ordinary read-only pointer to a file range. Pages are
 * brought in on first touch by the library's fault handler threads, which
 * keep a page cache with readahead and a memory budget. See faultcache(7).
 */
#ifndef FAULTCACHE_H
#define FAULTCACHE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FC_BUILDING_LIBRARY)
#define FC_EXPORT __attribute__((visibility("default")))
#else
#define FC_EXPORT
#endif

/* FC_VERSION_MAJOR, _MINOR, _PATCH and _STRING of these headers */
#include "faultcache/version.h"
#define FC_VERSION_NUMBER \
	(FC_VERSION_MAJOR * 10000 + FC_VERSION_MINOR * 100 + FC_VERSION_PATCH)

/* Version of the library actually loaded, as FC_VERSION_NUMBER / string. */
FC_EXPORT unsigned fc_version(void);
FC_EXPORT const char *fc_version_string(void);

/*
 * Cache configuration. Always fill it with fc_config_init() first and then
 * change the fields you care about: the struct records its own size so that
 * fields can be added without breaking binaries built against an older one.
 */
struct fc_config {
	size_t size;		 /* sizeof(struct fc_config); set by fc_config_init */
	size_t cache_bytes;	 /* memory budget for cached + mapped pages */
	size_t page_size;	 /* cache unit: power of two, 4 KiB .. 2 MiB */
	size_t readahead_max;	 /* largest readahead window, bytes */
	unsigned handler_threads; /* fault handler threads (each owns a uffd) */
	unsigned fault_around;	 /* copy mode: cached neighbours copied per
				    fault, pages (shared views: the kernel's) */
	unsigned flags;		 /* FC_CONFIG_* */
	unsigned poll_us;	 /* FC_CONFIG_INLINE: a faulting thread polls
				    for its read up to this long, then sleeps,
				    where polled reads measure faster;
				    0: sleeps at once (since 0.4) */
};

/* Never use O_DIRECT, always buffered reads (also chosen automatically). */
#define FC_CONFIG_NO_DIRECT	(1u << 0)
/*
 * Give each mapping private copies of the cache's pages (UFFDIO_COPY into
 * private anonymous views) instead of showing the cache's own pages
 * (shared views of the store, the default, which the kernel maps at the
 * first touch of a cached page). Every first touch of a page in a view is
 * then a fault the library resolves, so hits are counted exactly; copies
 * count against cache_bytes, so the same budget holds about half as many
 * mapped pages, and it is slower. See faultcache(7), "MODES".
 */
#define FC_CONFIG_COPY		(1u << 1)
/*
 * Resolve each fault in the thread that takes it, in a SIGBUS handler the
 * library installs (UFFD_FEATURE_SIGBUS), instead of in a handler thread:
 * the thread reads its own page, as the kernel does, with no wake-up
 * between threads. Fastest for random access. Costs: a page the cache
 * does not hold yet that a system call touches fails with EFAULT (as in
 * the user-mode-only fallback), and the library owns SIGBUS: a handler the
 * application installs later must call fc_handle_sigbus() first. Same
 * kernel needs as the default mode; not with FC_CONFIG_COPY. See
 * faultcache(7) and fc_handle_sigbus(3).
 */
#define FC_CONFIG_INLINE	(1u << 2)
/*
 * Keep every page of the store small (since 0.5). By default, with shared
 * views, 2 MiB of the store once all in it is collapsed into one huge page
 * in the background (a thread at idle priority copies it once more), and
 * the kernel maps it whole at one fault: warm scans at the rate of its own
 * page cache. In a cache of pages smaller than 2 MiB such a chunk is
 * evicted whole. See fc_cache_create(3).
 */
#define FC_CONFIG_NO_COLLAPSE	(1u << 3)

/*
 * Defaults: 256 MiB budget (or half the memory cgroup's limit, if that is
 * less), 4 KiB pages, 8 MiB readahead, 2 threads.
 */
FC_EXPORT void fc_config_init(struct fc_config *cfg);

struct fc_cache;

/* NULL cfg = defaults. Returns NULL with errno set on failure. */
FC_EXPORT struct fc_cache *fc_cache_create(const struct fc_config *cfg);
/* Unmaps every live mapping of the cache, then frees it. NULL is a no-op. */
FC_EXPORT void fc_cache_destroy(struct fc_cache *cache);
/*
 * Memory given back at run time (since 0.7). fc_cache_set_budget() makes
 * the budget @bytes (rounded down to whole pages): lower, or higher again
 * up to the cache_bytes the cache was made with. At least 16 pages and
 * four times readahead_max (eight in copy mode): fc_cache_create cuts
 * readahead_max to fit, this refuses (-EINVAL). A lower
 * budget evicts down to it before returning, except pages being read,
 * mapped or collapsed, which go before the cache next takes a page.
 * Idle read buffers follow the budget (fc_cache_trim frees them all).
 * fc_cache_trim()
 * evicts the coldest pages (hot ones too if it takes that) until the
 * cache holds at most @bytes, and keeps the budget; -EBUSY when pages
 * being read, mapped or collapsed kept it above. @cache NULL is the
 * default cache. Both return 0 or -errno, -EINVAL changing nothing. See
 * fc_cache_set_budget(3).
 */
FC_EXPORT int fc_cache_set_budget(struct fc_cache *cache, size_t bytes);
FC_EXPORT int fc_cache_trim(struct fc_cache *cache, size_t bytes);

/*
 * Map @length bytes of the regular file open for reading on @fd, starting at
 * @offset (a multiple of the system page size), read-only. @length == 0 maps
 * to the end of the file. @cache NULL uses the process-wide default cache
 * (configured by the FC_* environment variables, see faultcache(7)).
 * @flags must be 0. Returns the address, or NULL with errno set.
 */
FC_EXPORT void *fc_map(struct fc_cache *cache, int fd, off_t offset,
		       size_t length, int flags);
/*
 * fc_map() with the mapping placed at @addr (a multiple of the system page
 * size), replacing whatever is mapped there, as mmap(2)'s MAP_FIXED does
 * (since 0.6). Mappings of the library there are cut: their parts outside
 * the range stay, as mappings of their own; where one shows the very
 * pages the new one is to show (same cache, file and file offset), the
 * new one takes its view in place, so that a part of a mapping can be
 * kept while the rest goes. NULL with errno set. See fc_map_fixed(3).
 */
FC_EXPORT void *fc_map_fixed(struct fc_cache *cache, void *addr, int fd,
			     off_t offset, size_t length, int flags);
/* Unmap a range returned by fc_map(). Returns 0 or -errno. */
FC_EXPORT int fc_unmap(void *addr);

/*
 * Custom backends: serve a mapping from something other than a local file
 * (a remote object, a compressed file, a test double). See fc_map_backend(3).
 */
struct fc_backend_req;	/* one read in flight; opaque */

struct fc_backend_ops {
	size_t size;	/* sizeof(struct fc_backend_ops) */
	/*
	 * Start reading @len bytes at @offset into @buf and return 0, or
	 * return -errno if the read cannot be started. A started read is
	 * finished by calling fc_backend_complete(@req, ...) exactly once,
	 * from any thread, possibly before read() returns. read() must not
	 * wait for the data: the calling thread serves other faults.
	 */
	int (*read)(void *ctx, uint64_t offset, void *buf, size_t len,
		    struct fc_backend_req *req);
	/* The size of the data in bytes. 0 or -errno. */
	int (*get_size)(void *ctx, uint64_t *size);
	/* Called once when the mapping is gone and no read is in flight. */
	void (*release)(void *ctx);	/* may be NULL */
};

/*
 * Like fc_map(), with the data coming from @ops on @ctx instead of a file
 * descriptor. On success the mapping owns @ctx (ops->release frees it); on
 * failure nothing was called and the caller keeps it. NULL with errno set.
 */
FC_EXPORT void *fc_map_backend(struct fc_cache *cache,
			       const struct fc_backend_ops *ops, void *ctx,
			       off_t offset, size_t length, int flags);
/*
 * Finish a read started by ops->read: @result is the number of bytes
 * stored in buf (a short count is continued by a new read of the rest;
 * 0 means the data ended early), or -errno (EAGAIN and EINTR are retried,
 * other errors are retried once per page and then raise SIGBUS in the
 * threads that touch the page).
 */
FC_EXPORT void fc_backend_complete(struct fc_backend_req *req, ssize_t result);

#define FC_ADVICE_NORMAL	0
#define FC_ADVICE_RANDOM	1
#define FC_ADVICE_SEQUENTIAL	2
#define FC_ADVICE_WILLNEED	3
#define FC_ADVICE_DONTNEED	4

/* Advice on [addr, addr + length) inside one mapping. 0 or -errno. */
FC_EXPORT int fc_advise(void *addr, size_t length, int advice);

/*
 * mincore(2) for mappings of the library (since 0.6): for each system
 * page i of [addr, addr + length), vec[i] is 1 when the cache holds that
 * page of the file (mapped in this view or not), else 0. The range must
 * lie in mappings of the library. 0 or -errno (EINVAL, ENOMEM, EFAULT).
 */
FC_EXPORT int fc_mincore(void *addr, size_t length, unsigned char *vec);

/*
 * The file open on @fd changed in [offset, offset + length) (@length 0:
 * to the end) through another descriptor, in this process (since 0.6):
 * the cached pages of @cache (NULL = default cache) there are dropped
 * from the cache and every mapping of the file, and the file's size is
 * looked at again. When it returns no mapping of the file in @cache shows
 * the range's old bytes. 0 or -errno. See fc_invalidate(3).
 */
FC_EXPORT int fc_invalidate(struct fc_cache *cache, int fd, off_t offset,
			    size_t length);

#define FC_LAT_BUCKETS 40 /* bucket i counts latencies in [2^i, 2^(i+1)) ns */

/* fc_stats.flags */
#define FC_STATS_USER_MODE_ONLY (1u << 0) /* uffd cannot see kernel faults */
#define FC_STATS_ZERO_COPY	(1u << 1) /* views show the store's own pages
					     (not FC_CONFIG_COPY's copies) */
#define FC_STATS_INLINE		(1u << 2) /* faults resolved by the faulting
					     thread (FC_CONFIG_INLINE) */
#define FC_STATS_POLL		(1u << 3) /* inline reads polled for
					     (poll_us; since 0.4) */

struct fc_stats {
	/*
	 * Faults the library resolved. With shared views (the default) the
	 * kernel maps a page the cache holds by itself, without a fault of
	 * the library's: faults are then mostly misses (faultcache(7)).
	 */
	uint64_t faults;
	uint64_t hits;		 /* of them, on a page already cached */
	uint64_t misses;	 /* faults that had to wait for a read */
	uint64_t pages_read;	 /* cache pages read from the file */
	uint64_t bytes_read;	 /* bytes read from the file */
	uint64_t ra_pages;	 /* pages read by readahead (not the fault page) */
	uint64_t ra_used;	 /* readahead pages later installed or touched */
	uint64_t pages_installed; /* cache pages the library mapped into views */
	uint64_t evictions;	 /* pages dropped from the cache */
	uint64_t refaults_active; /* evicted pages re-read soon enough to activate */
	uint64_t io_errors;	 /* reads that failed (before retry) */
	uint64_t io_retries;	 /* reads resubmitted (error, short, EAGAIN) */
	uint64_t sigbus;	 /* faults answered with SIGBUS */
	uint64_t resident_bytes; /* memory held by the cache now (and copies) */
	uint64_t budget_bytes;	 /* the budget now (fc_cache_set_budget) */
	uint64_t reads_inflight; /* read requests in flight now */
	uint64_t mappings;	 /* live mappings */
	uint32_t flags;		 /* FC_STATS_* */
	uint32_t page_size;
	/* Handler-side fault latency, from message read to wake-up. */
	uint64_t latency_hist[FC_LAT_BUCKETS];
	/*
	 * Since 0.4. A program built against 0.3 or before has a struct that
	 * ends above, and is given only that (versioned symbols).
	 */
	uint64_t collapses;	 /* 2 MiB pages: pages made one huge page */
	uint64_t collapse_failures; /* pages left in 4 KiB pages */
	uint64_t polled_reads;	 /* inline reads polled for (poll_us) */
	uint64_t polled_slept;	 /* of them, slept for once poll_us was over */
	/*
	 * Since 0.6. A program built against 0.4 or 0.5 is given the struct
	 * up to polled_slept.
	 */
	uint64_t peak_resident_bytes; /* the highest resident_bytes since the
					 cache was made */
};

/* Snapshot the statistics of @cache (NULL = default cache). 0 or -errno. */
FC_EXPORT int fc_cache_stats(struct fc_cache *cache, struct fc_stats *out);
/* Latency in ns below which fraction @q (0..1) of faults fall; 0 if none. */
FC_EXPORT uint64_t fc_stats_latency_quantile(const struct fc_stats *st, double q);

/*
 * For applications with their own SIGBUS handler and FC_CONFIG_INLINE
 * caches: call this first from the handler. Returns 1 when the signal was
 * a fault in an inline mapping and has been resolved (return from the
 * handler: the access is retried), 0 when it is not the library's.
 */
FC_EXPORT int fc_handle_sigbus(const siginfo_t *si);

#ifdef __cplusplus
}
#endif
#endif /* FAULTCACHE_H */
