/* SPDX-License-Identifier: MIT */
/*
 * types.h - the structures of the cache and how they fit together.
 *
 * Data path (docs/design.md has the full picture):
 *
 *   app thread touches view page
 *     the store holds it --> the kernel maps it (no library)
 *     it does not --> uffd (one per handler thread), or SIGBUS (inline)
 *       handler: look up page in file->tree (radix)
 *         UPTODATE  -> held (the marker): async readahead, into the store;
 *                      wake the thread, the kernel maps it at the retry
 *         INFLIGHT  -> queue a waiter on the read
 *         missing   -> readahead window, io_uring reads into staging
 *     io completion -> pages into the store (UFFDIO_COPY into the reader's
 *                      view, the alias elsewhere), UPTODATE, waiters woken
 *
 * Where the bytes live: one memfd per cache (the store). Each file owns a
 * region of it. A read lands in a staging buffer and its pages enter the
 * store whole when it is done (fc__io_store), so the store never holds a
 * page half read; applications see the store's pages through their
 * read-only, MAP_SHARED views, registered for MISSING faults only.
 * Evicting a page punches a hole in the memfd, which also drops it from
 * every view.
 * FC_CONFIG_COPY instead gives each view private anonymous pages, registered
 * MISSING and filled by UFFDIO_COPY from file->alias (a read-write view of
 * the region, where that mode's reads land); eviction then also zaps the
 * copies (file->views), and copies count against the budget.
 *
 * Lock ordering:
 *   maptab.lock (rwlock, global: address -> mapping)
 *     cache->lock (mutex: index, page states, LRU, waiters, stats, files)
 *       handler->cmd_lock (command queue of one handler)
 *       cache->stage_lock (free staging buffers)
 * No ioctl, I/O submission or madvise runs under cache->lock, except the
 * hole punch of eviction (see reclaim() in cache.c for why).
 */
#ifndef FC_TYPES_H
#define FC_TYPES_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "faultcache.h"
#include "lru.h"
#include "radix.h"
#include "readahead.h"

#define FC_MEMFD_SIZE (1ull << 46)	/* address space of the store */
#define FC_STAGE_CLASSES 22		/* power-of-two sizes, up to 2 MiB */

enum fc_page_state {
	FC_PG_FREE = 0,
	FC_PG_INFLIGHT,		/* a read is filling it; waiters on ->io */
	FC_PG_UPTODATE,		/* data valid in the store, on the LRU */
};

/* Sampling, for the accessed bit userspace lacks: fc__cache_age(). */
enum fc_sample {
	FC_SAMPLE_NONE,
	FC_SAMPLE_MAPPED,	/* installed where accesses count (NORMAL) */
	FC_SAMPLE_ZAPPED,	/* zapped, waiting for a fault on it */
};

/*
 * One cache page. Allocated from cache->pages (budget / page_size of them,
 * so metadata is bounded too). A page is in file->tree iff it is not FREE.
 * INFLIGHT pages are off the LRU and have ->io; UPTODATE pages are on it.
 * ->pins > 0 while a handler installs the page into a view without the
 * lock: such a page is never evicted (its data must stay in the store).
 * An UPTODATE page is in the store, except a *held* one (->held, the
 * default mode only): the readahead marker page, whose bytes are kept out
 * of the store so that the reader's touch faults to the library, which
 * starts the next readahead and only then stores it (fc__page_store_held).
 */
struct fc_page {
	struct fc_lru_node lru;	/* must stay first: lru node -> page */
	struct fc_file *file;
	uint64_t index;
	struct fc_io *io;
	void *held;		/* bytes kept out of the store, or NULL */
	uint32_t held_len;	/* of them, what the store takes */
	uint32_t pins;
	uint8_t state;
	uint8_t marker;		/* readahead marker: next fault runs async ra */
	uint8_t ra_unused;	/* read by readahead, not yet used */
	uint8_t stale;		/* the file changed size: drop when unbusy */
	uint8_t sample;		/* enum fc_sample */
	struct fc_page *free_next;
};

/*
 * A file (by device and inode) with live mappings, or kept with its cached
 * pages after its last mapping went (refs == 0: "retained", see
 * fc__file_put).
 */
struct fc_file {
	struct fc_cache *cache;
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime;	/* when cached: a remap compares */
	uint64_t released;	/* retained since (cache->release_seq), or 0 */
	bool defunct;		/* changed while unmapped: never reused */
	const struct fc_backend_ops *bops; /* custom backend, else NULL */
	void *bctx;
	bool owns_ctx;		/* release(bctx) when freed */
	int fd;			/* our own buffered reference, -1 for backends */
	int wd;			/* inotify watch (size changes), -1 if none */
	atomic_int dfd;		/* O_DIRECT reopen, -1 when not usable */
	int dfd_orig;		/* closed with the file (dfd may be reset) */
	bool in_memory;		/* tmpfs/ramfs: reads are copies, not polled
				   for (fc__io_sync) */
	/*
	 * Inline caches with poll_us: mean latency in ns (moving, 1/8) of
	 * this file's reads polled for and of those slept in, and a count
	 * of the reads that chose between them (io.c, poll_pays).
	 */
	atomic_ullong poll_avg_ns, sleep_avg_ns;
	atomic_uint poll_choices;
	off_t size;		/* revalidated: see fc__file_resize */
	uint64_t nr_pages;	/* cache pages covering size */
	uint64_t region;	/* offset of this file in the memfd */
	size_t region_len;
	char *alias;		/* rw view of the region: copy mode's reads
				   land here and copies come from it; else
				   pages enter the store through it */
	struct fc_mapping *views; /* live mappings (->fnext); cache->lock */
	struct fc_radix tree;
	/*
	 * Chunked caches (cache->chunked): per 2 MiB chunk of the region,
	 * how many of its pages are in the store (collapse.c); no entry for
	 * an empty one. Lock.
	 */
	struct fc_radix chunks;
	bool chunks_lost;	/* a count found no memory: take every chunk
				   for a whole one (fc__chunk_whole) */
	unsigned refs;		/* mappings + ios; under cache->lock */
	uint64_t id;
	struct fc_file *next;
};

/* Completion of a backend read: lives in its fc_io. */
struct fc_backend_req {
	struct fc_io *io;
	struct fc_backend_req *next;	/* handler's completed stack */
	ssize_t res;
};

/*
 * FC_CONFIG_INLINE: a faulting thread waiting, in its SIGBUS handler, for
 * a read to end. Lives on that thread's stack; ->done is set and woken
 * (futex) under cache->lock, and the waiter takes the lock again before
 * its frame goes, so the waker never touches a dead frame.
 */
struct fc_iwait {
	struct fc_iwait *next;
	atomic_uint done;	/* 0, then FC_IWAIT_* */
};

#define FC_IWAIT_AGAIN 1	/* look the page up again */
#define FC_IWAIT_FAILED 2	/* its read failed for good: SIGBUS */

/* A thread waiting on a read, or a fault deferred for want of a page. */
struct fc_waiter {
	struct fc_waiter *next;
	struct fc_mapping *m;	/* holds a reference */
	uint64_t addr;		/* faulting address, system-page aligned */
	uint64_t t0;		/* ns, when the fault message was read */
	pid_t tid;		/* faulting thread, 0 if unknown */
	/*
	 * The read it waits on is its own page's retry (it waited on a read
	 * that failed): if that fails too, SIGBUS. A fault that only joined
	 * someone else's retry is run again instead (a read of its own).
	 */
	bool own;
};

/*
 * One read of @nr contiguous cache pages from @index. In the default
 * (zero-copy) mode it lands in @buf, a staging buffer, and its pages enter
 * the store whole when it is done (io.c, io_finish): views map what the
 * store holds, so the store must never hold a page still being read. In
 * copy mode it lands in the file's alias of the store (views are private
 * there and never see the store).
 */
struct fc_io {
	struct fc_file *file;	/* holds a reference */
	struct fc_handler *h;	/* that submitted it */
	struct fc_backend_req req;
	uint64_t index;
	uint32_t nr;
	char *buf;		/* staging, NULL until the first read */
	uint8_t buf_class;	/* its size is 1 << buf_class */
	uint8_t buf_fresh;	/* its pages were never touched */
	uint8_t nomem;		/* no staging could be had: fails -ENOMEM */
	uint64_t store_len;	/* bytes of staging the store takes */
	uint64_t marker;	/* page that had the readahead marker, or ~0 */
	void *held;		/* its bytes, kept by fc__io_store */
	uint32_t held_len;
	uint8_t end_out;	/* how the read ended (handler's ended list) */
	uint8_t retried;	/* this is the single-page retry after an error */
	uint8_t direct;
	uint8_t async;		/* readahead no fault waits for: see prep_one */
	uint16_t again;		/* -EAGAIN resubmissions */
	uint64_t len;		/* bytes wanted (clipped at EOF) */
	uint64_t done;		/* bytes completed */
	struct fc_waiter *waiters;
	struct fc_iwait *iwaiters; /* inline faults waiting; cache->lock */
	struct fc_mapping *ra_owner; /* the read is for it: its pages are
					mapped into its view (ref held) */
	struct fc_io *next;	/* handler's to-submit list */
};

/* A range returned by fc_map(). */
struct fc_mapping {
	struct fc_cache *cache;
	struct fc_file *file;
	struct fc_handler *h;	/* its handler thread (commands, readahead) */
	int uffd;		/* the uffd its view is registered with */
	char *base;
	size_t len;		/* the view, system-page rounded, all registered */
	uint64_t offset;	/* file offset of base */
	struct fc_ra ra;	/* under cache->lock */
	uint64_t ra_next;	/* page after the last fault-around run */
	atomic_int refs;
	atomic_bool dead;	/* unmapped: never install into it again */
	bool unmapping;		/* fc_unmap has begun; maptab.lock */
	struct fc_mapping *fnext; /* file->views; cache->lock */
	bool listed;		/* on file->views */
	/*
	 * FC_CONFIG_COPY: one bit per system page of the view holding a copy.
	 * Set after UFFDIO_COPY (no lock), cleared when the copy is zapped;
	 * the count is cache->nr_copies.
	 */
	_Atomic unsigned long *copied;
};

enum fc_cmd_kind {
	FC_CMD_WILLNEED,	/* read [first, last] now */
	FC_CMD_POPULATE,	/* copy mode: copy the cached pages of [first, last] */
	FC_CMD_SUBMIT,		/* submit ->ios (planned by an inline fault) */
};

/* A request posted to a handler thread from another thread. */
struct fc_cmd {
	struct fc_cmd *next;
	enum fc_cmd_kind kind;
	struct fc_mapping *m;	/* holds a reference */
	uint64_t first, last;	/* cache page range, inclusive */
	struct fc_io *ios;	/* FC_CMD_SUBMIT: linked by ->next */
};

struct fc_handler {
	struct fc_cache *cache;
	pthread_t thread;
	bool started;
	int uffd;
	int evfd;		/* wakes the thread for commands and stop */
	struct io_uring ring;
	bool ring_ok;
	unsigned inflight;	/* ios submitted to this ring */
	struct fc_io *to_submit;	/* last queued first */
	struct fc_io *ended, *ended_tail;	/* completed, to finish */
	struct fc_waiter *deferred;	/* faults that could not get a page */
	_Atomic(struct fc_backend_req *) bdone;	/* completed backend reads */
	pthread_mutex_t cmd_lock;
	struct fc_cmd *cmds;
	atomic_bool stop;
};

/* A freed region of the store, reused first fit. */
struct fc_extent {
	uint64_t start, len;
};


struct fc_cache {
	unsigned magic;
	struct fc_config cfg;
	size_t sys_page;
	pthread_mutex_t lock;
	int memfd;
	uint64_t next_region;
	struct fc_extent *extents;
	size_t nr_extents, cap_extents;
	struct fc_page *pages;
	size_t nr_slots;
	/*
	 * Pages the cache holds when they are in use: nr_slots, or in copy
	 * mode half (a page in use is a store page and its copy). The LRU's
	 * proportions, the refault distance and sampling's age are of it.
	 */
	size_t nr_working;
	struct fc_page *free_list;
	size_t nr_free;
	struct fc_lru lru;
	struct fc_shadows shadows;
	struct fc_file *files;
	/*
	 * Pages the live files' regions could take: while they fit in
	 * nr_working nothing is ever evicted, and nothing is sampled.
	 */
	uint64_t file_pages;
	unsigned nr_retained;	/* files kept unmapped (at most FC_RETAIN_FILES) */
	bool destroying;	/* fc_cache_destroy() began: retain nothing */
	uint64_t release_seq;
	struct fc_file *zombies;	/* dead backend files: release unlocked */
	int inotify_fd;		/* file size changes; -1 if unavailable */
	int pagemap_fd;		/* /proc/self/pagemap (sampling); -1 if none */
	uint64_t next_file_id;
	struct fc_handler *handlers;
	unsigned nr_handlers;
	atomic_uint next_handler;
	uint64_t uffd_features;
	bool user_mode_only;
	bool copy_mode;		/* FC_CONFIG_COPY */
	bool inline_mode;	/* FC_CONFIG_INLINE */
	/*
	 * page_size is the PMD size and views are shared: pages whole in
	 * the store are collapsed into huge folios in the background and the
	 * kernel maps them with one PMD (collapse.c). Aliases and views are
	 * placed PMD-aligned to the store.
	 */
	bool huge_store;
	/*
	 * Pages smaller than that, views shared: the store's 2 MiB chunks
	 * whose pages are all in it are collapsed into huge folios all the
	 * same, and mapped with one PMD. A punch never cuts into such a
	 * chunk (fc__chunk_punch). chunk_shift: log2 of pages per chunk.
	 */
	bool chunked;
	unsigned chunk_shift;
	struct fc_collapse *collapse;	/* its thread and queue, or NULL */
	uint64_t nr_collapsed;		/* pages made huge folios; lock */
	uint64_t nr_collapse_failed;	/* pages left small; lock */
	uint64_t nr_chunk_splits;	/* huge chunks copied back small to
					   drop part of them; lock */
	int collapse_errno;		/* the last failure's (EINVAL: stop
					   trying); lock */
	int inline_uffd;	/* FC_CONFIG_INLINE: the SIGBUS-mode uffd, or -1 */
	int store_uffd;		/* the aliases' (fc__store_write), or -1 in
				   copy mode */
	atomic_int inline_active; /* inline faults being resolved now */
	/*
	 * FC_CONFIG_INLINE with cfg.poll_us: rings in which a faulting
	 * thread reads its own page and polls for the completion instead of
	 * sleeping in pread (io.c); each serves one thread at a time.
	 */
	struct fc_poller *pollers;
	unsigned nr_pollers;
	atomic_ulong nr_polled;		/* reads polled for */
	atomic_ulong nr_poll_slept;	/* of them, waited for after poll_us */
	atomic_uint nr_poll_retired;	/* rings a submit failed in: busy */
	bool poll_fixed;	/* tests: poll whenever a ring is free, never
				   measure which pays (poll_pays) */
	atomic_ulong nr_copies;	/* system pages copied into views */
	uint64_t copy_reserved;	/* cache pages planned for copying; lock */
	uint64_t nr_inflight;	/* pages in state INFLIGHT; lock */
	struct fc_stats st;	/* counters under lock */
	atomic_long nr_mappings;
	/*
	 * Staging buffers (io.c), free ones by size class, kept for reuse up
	 * to stage_idle_max bytes: a fresh buffer costs the zeroing of its
	 * pages on first touch. Under stage_lock, a leaf lock.
	 */
	pthread_mutex_t stage_lock;
	void *stage_free[FC_STAGE_CLASSES];
	size_t stage_idle, stage_idle_max;
};

/* pages (chunks) waiting to be collapsed; more are left small */
#define FC_COLLAPSE_RING 4096

/* fc-collapse (collapse.c) and its queue (fc__collapse_queue). */
struct fc_collapse {
	pthread_t thread;
	pthread_cond_t cond;	/* with cache->lock */
	bool stop;
	bool busy;		/* a collapse runs without the lock */
	uint64_t head, tail;	/* the queue: ring[head % FC_COLLAPSE_RING] ..
				   ring[tail % FC_COLLAPSE_RING] */
	struct {
		uint64_t file_id, index;
	} ring[FC_COLLAPSE_RING];
};

#endif

