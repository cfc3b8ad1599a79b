/* SPDX-License-Identifier: MIT */
/*
 * types.h - the structures of the cache, how they fit together, and the
 * locks that protect them.
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
 * Where the bytes live: one memfd per cache (the store, store.c). Each
 * file owns a region of it. A read lands in a staging buffer and its pages
 * enter the store whole when it is done (fc__io_store), so the store never
 * holds a page half read; applications see the store's pages through
 * their read-only, MAP_SHARED views, registered for MISSING faults only.
 * Evicting a page punches a hole in the memfd, which also drops it from
 * every view.
 * FC_CONFIG_COPY instead gives each view private anonymous pages, registered
 * MISSING and filled by UFFDIO_COPY from file->alias (a read-write view of
 * the region, where that mode's reads land); eviction then also zaps the
 * copies (file->views), and copies count against the budget.
 *
 * LOCKS, outer first. Nothing else nests: a path takes one of them at a
 * time except where listed under "Nesting".
 *
 *   maptab.lock        rwlock, one per process (maptab.c): the table of
 *                      mappings by address (those being unmapped stay
 *                      until their last reference goes, which unmaps
 *                      their range under it), and mapping->unmapping.
 *                      Readers look a fault's mapping
 *                      up (handlers, inline faults, fc_advise) and clear
 *                      EOF markers (fc__mapping_clear_eof, which madvises
 *                      under it); writers are fc_map, fc_map_fixed,
 *                      fc_unmap, fc_cache_destroy, and a mapping's last
 *                      reference.
 *   cache->lock        mutex, adaptive (spins a little before it sleeps),
 *                      one per cache: the page index, the page entries and
 *                      their states, the LRU and shadows, waiters, the
 *                      files and their sizes, the store's region
 *                      allocator, the collapse queue, statistics: every
 *                      field marked "lock: cache".
 *     cache->stage_lock  mutex, leaf (io.c): the free staging buffers.
 *   handler->cmd_lock  mutex, leaf: the commands posted to one handler.
 *   watch_lock         mutex, one per process, leaf (watch.c): the
 *                      inotify instance all caches share, its watches,
 *                      and the reading and counting of its events.
 *   alias_fork_lock    mutex, one per process, leaf (store.c): held
 *                      while an alias is mapped and made MADV_DONTFORK,
 *                      and by fork_prepare.
 *   file->size_lock    mutex, one per file: its size checks, one at a
 *                      time (file.c, fc__file_revalidate): the source's
 *                      size and times read and applied, the views'
 *                      SIGBUS markers past the end cleared (maptab.lock,
 *                      read) or, in a fault past the end, set (plan.c
 *                      do_eof: UFFDIO_POISON). Nests outside cache->lock
 *                      and maptab.lock; taken with neither held.
 *   install_lock       mutex, one per process, leaf (sigbus.c): whether
 *                      the library's SIGBUS handler is in, and the one it
 *                      replaced. Taken by fc_cache_create only.
 *   default_lock       mutex, one per process (cache.c): making the
 *                      default cache, once.
 *   caches_lock        mutex, one per process (cache.c): the list of the
 *                      process's caches (cache->reg_next), held across
 *                      fc_cache_create and fc_cache_destroy so that fork
 *                      never sees a cache half made or half freed.
 *
 * Nesting:
 *   cache->lock -> cache->stage_lock: a read released under the lock
 *     gives its staging buffer back (completion.c io_release ->
 *     fc__io_free -> stage_put).
 *   maptab.lock and cache->lock are never held together: a fault looks
 *     its mapping up, drops maptab.lock, then takes cache->lock. If they
 *     ever nest, maptab.lock is the outer one.
 *   cache->lock -> watch_lock: only in fork_prepare, which takes every
 *     lock; a file's watch is added and dropped without cache->lock
 *     (file_prepare, file_free), and its events are read from an atomic
 *     count (fc__watch_events).
 *   cmd_lock is taken with no other lock held (fc__handler_post,
 *     run_cmds, cmds_pending).
 *   default_lock -> caches_lock -> install_lock: the default cache is
 *     made under default_lock, and fc_cache_create holds caches_lock
 *     while it installs the SIGBUS handler.
 *   fork (pthread_atfork, cache.c) takes them all, in this order:
 *     default_lock, caches_lock, maptab.lock (write), every cache->lock
 *     in the order of the list, install_lock; the parent drops them, the
 *     child makes its own anew. No path holds two cache->locks, or a
 *     cache->lock and then one of the locks before it.
 *
 * LOCK-LIKE PROTOCOLS
 *   collapse->cond     condition variable on cache->lock: fc-collapse
 *                      sleeps on it while its queue is empty; a page
 *                      queued (fc__collapse_queue) or the stop signals it,
 *                      under the lock. collapse->busy says a collapse runs
 *                      with the lock dropped (its pages pinned, its file
 *                      referenced).
 *   page pins          page->pins, under cache->lock: a pinned page is
 *                      installed, read ahead around or collapsed without
 *                      the lock; it is never evicted (reclaim skips it) or
 *                      dropped (a change of the file, an invalidation or
 *                      the store losing it marks it stale, and the last
 *                      unpin drops it).
 *   INFLIGHT pages     a page being read is in the index with ->io; its
 *                      read belongs to the thread that does it (the
 *                      handler, or the inline fault that took it), which
 *                      touches the io's read state without the lock and
 *                      takes the lock to end it (completion.c).
 *   iwait handshake    an inline fault waiting on a read puts an fc_iwait
 *                      (on its stack) on io->iwaiters under cache->lock,
 *                      sleeps on the futex ->done without it, and takes
 *                      the lock once more before its frame goes; the
 *                      waker (iwake) sets ->done and wakes it under the
 *                      lock, so it never touches a dead frame.
 *   inline_active      cache->inline_active counts the inline faults under
 *                      way: raised under maptab.lock (read) when the fault
 *                      finds its mapping live, dropped when the fault is
 *                      done with the cache. fc_cache_destroy marks every
 *                      mapping unmapping (maptab.lock, write), then waits
 *                      for the count to fall to 0: no fault can have found
 *                      a mapping live and not raised it, and one that
 *                      finds it unmapping touches nothing of the cache.
 *   poller busy        polled.c: poller->busy is a try-lock on one ring
 *                      (exchange acquire, store release); a ring whose
 *                      submit failed stays busy for good
 *                      (cache->nr_poll_retired).
 *   bdone              handler->bdone, a lock-free stack: backends push
 *                      their completions from any thread (CAS) and write
 *                      the eventfd; the handler takes the whole stack
 *                      (exchange) after reading the eventfd. A completer
 *                      raises handler->completing before its push and
 *                      drops it after its write, its last touch of the
 *                      handler: a stopping handler does not exit (and so
 *                      its eventfd is not closed, nor the handler freed)
 *                      while the count is above 0 (fc_backend_complete).
 *   mapping refs       mapping->refs, atomic: the table holds one, every
 *                      plan entry, waiter, command and read for it one
 *                      more; the last put unmaps the placeholder and drops
 *                      the file (mapping.c). mapping->dead is written
 *                      under cache->lock and read without it: an act that
 *                      sees it skips the install (the placeholder would
 *                      refuse it anyway).
 *   handler thread     the fields marked "handler thread only" are touched
 *                      by the handler thread alone, after fc__handler_init.
 *   immutable          fields marked so are written before the object is
 *                      shared (a cache returned, a file attached, a
 *                      mapping in the table) and never after.
 *
 * SYSTEM CALLS UNDER cache->lock. Faults wait for the lock, so what runs
 * under it delays them; the plan/act split (plan.c) keeps the uffd ioctls
 * that resolve faults out of it. These remain, each for its reason:
 *   - the hole punch (fallocate) of fc__store_punch: eviction (reclaim,
 *     evict_huge), fc__page_drop, a failed read (io_fail) and a file's
 *     teardown. A page's store location is fixed by (file, index): the
 *     old bytes must be gone before the index entry is, or a new read of
 *     the same index could meet them.
 *   - in copy mode, the same punch zaps the views' copies
 *     (fc__views_zap: madvise MADV_DONTNEED): they count against the
 *     budget the eviction is for.
 *   - split_chunk (store.c), under a punch that cuts into a chunk that may
 *     be a huge folio: mincore of the alias, pread of the memfd, the
 *     punch, UFFDIO_COPY (fc__store_write) of the pages kept, and the
 *     mmap/munmap of a bounce buffer. Faults on the chunk must not see
 *     it between the copy and the put-back.
 *   - sampling (fc__cache_age -> fc__views_zap: madvise MADV_DONTNEED of
 *     the sampled pages in watched views, at most FC_SAMPLE_MAX per call)
 *     and reclaim's look at which victims were touched since
 *     (fc__views_present: pread of /proc/self/pagemap): the pages are
 *     picked off the LRU under the lock, and their fate is decided
 *     before it is released.
 *   - fc__page_store_held: UFFDIO_COPY (or pwrite) of a held page into
 *     the store, when a fault reaches it: its store location is fixed,
 *     nothing else may write it meanwhile.
 *   - fc__store_holds: mincore of the alias, on a fault on a page the
 *     index holds as stored: the answer must stand while the fault
 *     decides between waking and reading again.
 *   - a file's teardown (file_destroy): the punch of its pages. Its
 *     alias, descriptors and inotify watch are let go after the lock
 *     (cache->zombies, fc__files_reap), and a new file's are set up
 *     before it is listed (file_prepare), outside the lock.
 *   - frees: munmap of a held page's bytes (fc__page_free, fc__io_free)
 *     and of a staging buffer beyond the idle cap (fc__io_free), where
 *     the page or read leaves the cache's structures.
 *   - iwake: FUTEX_WAKE of each inline waiter (the iwait handshake).
 *   - fc__collapse_queue: pthread_cond_signal.
 * No read of a file or backend is submitted, and no fault is resolved
 * (UFFDIO_COPY into a view, POISON, WAKE), under it.
 *
 * FIELD ANNOTATIONS: "lock: cache" (cache->lock), "lock: maptab",
 * "lock: stage", "lock: cmd", "lock: install"; "lock: none, atomic"
 * (read and written with atomics, no lock: what ordering they need is
 * said there); "handler thread only"; "reader" (an fc_io's read state:
 * the thread doing the read, see INFLIGHT pages); "immutable". A comment
 * heading a group of fields applies to the group.
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
#include "watch.h"

#define FC_MEMFD_SIZE (1ull << 46)	/* address space of the store */
/*
 * Store offsets left empty after each file's region: a program may grow
 * a view with mremap, and the growth maps the store past the view's file
 * (docs/decisions/0037). No mapping is larger than the user address space
 * (2^47 with 4-level page tables), so a grown view never reaches the next
 * region: it faults there, and gets SIGBUS, never another file's pages.
 */
#define FC_REGION_GAP (1ull << 47)
/* The memfd's size: regions and their gaps (shmem allows up to 2^63 - 1). */
#define FC_MEMFD_SPAN ((1ull << 63) - FC_REGION_GAP)
#define FC_STAGE_CLASSES 22	/* staging sizes: powers of two, to 2 MiB */

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
struct fc_page {		/* lock: cache (all of it) */
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
	uint8_t stale;		/* its bytes are not the file's: drop when unbusy */
	uint8_t sample;		/* enum fc_sample */
	struct fc_page *free_next;
};

/*
 * A file (by device and inode) with live mappings, or kept with its cached
 * pages after its last mapping went (refs == 0: "retained", see
 * fc__file_put).
 */
struct fc_file {
	/* immutable */
	struct fc_cache *cache;
	dev_t dev;
	ino_t ino;
	/* lock: cache (written under size_lock too) */
	struct timespec mtime, ctime;	/* the source's, when last looked at */
	/*
	 * The source's size and times are read and applied, and SIGBUS
	 * markers past the end set or cleared, one at a time
	 * (fc__file_revalidate).
	 */
	pthread_mutex_t size_lock;
	/* lock: cache */
	uint64_t released;	/* retained since (cache->release_seq), or 0 */
	bool defunct;		/* changed while unmapped: never reused */
	/* immutable (a backend's: set before its mapping is published) */
	const struct fc_backend_ops *bops; /* custom backend, else NULL */
	void *bctx;
	/* lock: cache */
	bool owns_ctx;		/* release(bctx) when freed */
	/* immutable */
	int fd;			/* our own buffered reference, -1 for backends */
	/* lock: cache */
	struct fc_watch *watch;	/* inotify watch (watch.c), or NULL */
	uint64_t watch_seen;	/* its events this file has looked at */
	/* lock: none, atomic (a read that finds O_DIRECT refused resets it) */
	atomic_int dfd;		/* O_DIRECT reopen, -1 when not usable */
	/* immutable */
	int dfd_orig;		/* closed with the file (dfd may be reset) */
	bool in_memory;		/* tmpfs/ramfs: reads are copies, not polled
				   for (fc__io_sync) */
	/*
	 * Inline caches with poll_us: mean latency in ns (moving, 1/8) of
	 * this file's reads polled for and of those slept in, and a count
	 * of the reads that chose between them (polled.c, poll_pays).
	 * lock: none, atomic (relaxed; a lost update costs one sample)
	 */
	atomic_ullong poll_avg_ns, sleep_avg_ns;
	atomic_uint poll_choices;
	/* lock: cache (written under size_lock too) */
	off_t size;		/* revalidated: see fc__file_revalidate */
	uint64_t nr_pages;	/* cache pages covering size */
	/* immutable (set by file_prepare before the file is listed) */
	uint64_t region;	/* offset of this file in the memfd */
	size_t region_len;
	char *alias;		/* rw view of the region: copy mode's reads
				   land here and copies come from it; else
				   pages enter the store through it */
	/* lock: cache */
	struct fc_mapping *views; /* live mappings (->fnext) */
	struct fc_radix tree;	/* the page index: index -> struct fc_page */
	/*
	 * Chunked caches (cache->chunked): per 2 MiB chunk of the region,
	 * how many of its pages are in the store (chunk.c); no entry for
	 * an empty one.
	 */
	struct fc_radix chunks;
	bool chunks_lost;	/* a count found no memory: take every chunk
				   for a whole one (fc__chunk_whole) */
	unsigned refs;		/* mappings + ios + a collapse under way */
	uint64_t id;		/* immutable */
	struct fc_file *next;	/* cache->files, cache->zombies */
};

/*
 * Completion of a backend read: lives in its fc_io. Written by the thread
 * that completes it before the push on handler->bdone, read by the
 * handler after it takes the stack (see bdone).
 */
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
	struct fc_iwait *next;	/* io->iwaiters; lock: cache */
	atomic_uint done;	/* 0, then FC_IWAIT_*; lock: none, atomic */
};

#define FC_IWAIT_AGAIN 1	/* look the page up again */
#define FC_IWAIT_FAILED 2	/* its read failed for good: SIGBUS */

/*
 * A thread waiting on a read (io->waiters, lock: cache), or a fault
 * deferred for want of a page (handler->deferred, handler thread only).
 * Immutable but for ->next and ->own.
 */
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
 * the store whole when it is done (fc__io_store): views map what the
 * store holds, so the store must never hold a page still being read. In
 * copy mode it lands in the file's alias of the store (views are private
 * there and never see the store).
 */
struct fc_io {
	/* immutable (set under cache->lock when the read is planned) */
	struct fc_file *file;	/* holds a reference */
	/* reader */
	struct fc_handler *h;	/* that submitted it (backend reads) */
	struct fc_backend_req req;
	/* immutable */
	uint64_t index;
	uint32_t nr;
	/* reader */
	char *buf;		/* staging, NULL until the first read */
	uint8_t buf_class;	/* its size is 1 << buf_class */
	uint8_t buf_fresh;	/* its pages were never touched */
	uint8_t nomem;		/* no staging could be had: fails -ENOMEM */
	uint64_t store_len;	/* bytes of staging the store takes (none
				   from a stale page on: io_eof) */
	uint64_t marker;	/* page that had the readahead marker, or ~0;
				   immutable */
	void *held;		/* its bytes, kept by fc__io_store; taken
				   under cache->lock when the read ends */
	uint32_t held_len;
	uint8_t end_out;	/* how the read ended (handler's ended list) */
	uint8_t retried;	/* this is the single-page retry after an error */
	uint8_t direct;
	uint8_t async;		/* readahead no fault waits for: io.c, prep_one;
				   immutable */
	uint16_t again;		/* -EAGAIN resubmissions */
	uint64_t len;		/* bytes wanted (clipped at EOF); immutable */
	uint64_t done;		/* bytes completed */
	/* lock: cache */
	struct fc_waiter *waiters;
	struct fc_iwait *iwaiters; /* inline faults waiting */
	/* immutable */
	struct fc_mapping *ra_owner; /* the read is for it: its pages are
					mapped into its view (ref held) */
	/* the list it is on: the handler's (handler thread only) or an
	   inline fault's own (that thread) */
	struct fc_io *next;
};

/* A range returned by fc_map(). */
struct fc_mapping {
	/* immutable */
	struct fc_cache *cache;
	struct fc_file *file;
	struct fc_handler *h;	/* its handler thread (commands, readahead) */
	int uffd;		/* the uffd its view is registered with */
	char *base;
	size_t len;		/* the view, system-page rounded, all registered */
	uint64_t offset;	/* file offset of base */
	/* lock: cache */
	struct fc_ra ra;
	uint64_t ra_next;	/* page after the last fault-around run */
	/* lock: none, atomic (see mapping refs) */
	atomic_int refs;
	atomic_bool dead;	/* unmapped: never install into it again;
				   written under cache->lock */
	/* lock: maptab */
	bool unmapping;		/* fc_unmap or fc_map_fixed has begun */
	/*
	 * The range was given back (fc__maptab_remove_unmap): by fc_unmap
	 * at once when neither a placeholder nor PROT_NONE could be had
	 * (the last reference then leaves it alone), or by the last one.
	 */
	bool range_gone;
	/*
	 * fc_map_fixed took its range over (mapping.c, fc__mapping_retire):
	 * the last reference does not unmap it. Set before the table's
	 * reference is dropped; immutable after.
	 */
	bool keep_range;
	/* lock: cache */
	struct fc_mapping *fnext; /* file->views */
	bool listed;		/* on file->views */
	/*
	 * FC_CONFIG_COPY: one bit per system page of the view holding a copy,
	 * in leaves made at the first copy in their range (view.c). Set
	 * after UFFDIO_COPY, cleared when the copy is zapped; the count is
	 * cache->nr_copies. The array is immutable; a leaf pointer is set
	 * once, and the bits change: lock: none, atomic.
	 */
	_Atomic(_Atomic unsigned long *) *copied;
};

enum fc_cmd_kind {
	FC_CMD_WILLNEED,	/* read [first, last] now */
	FC_CMD_POPULATE,	/* copy mode: copy the cached pages of [first, last] */
	FC_CMD_SUBMIT,		/* submit ->ios (planned by an inline fault) */
};

/*
 * A request posted to a handler thread from another thread: the poster's
 * until posted, then on handler->cmds (lock: cmd), then the handler's.
 */
struct fc_cmd {
	struct fc_cmd *next;
	enum fc_cmd_kind kind;
	struct fc_mapping *m;	/* holds a reference */
	uint64_t first, last;	/* cache page range, inclusive */
	struct fc_io *ios;	/* FC_CMD_SUBMIT: linked by ->next */
};

struct fc_handler {
	/* immutable (after fc__handler_init) */
	struct fc_cache *cache;
	pthread_t thread;
	bool started;
	int uffd;
	int evfd;		/* wakes the thread for commands and stop */
	/* handler thread only */
	struct io_uring ring;
	/* immutable */
	bool ring_ok;
	/* handler thread only */
	unsigned inflight;	/* ios submitted to this ring */
	struct fc_io *to_submit;	/* last queued first */
	struct fc_io *ended, *ended_tail;	/* completed, to finish */
	struct fc_waiter *deferred;	/* faults that could not get a page */
	unsigned unarmed;	/* polls (1 << tag) not armed for want of a
				   submission entry: tried again each loop */
	/* lock: none, atomic (see bdone) */
	_Atomic(struct fc_backend_req *) bdone;	/* completed backend reads */
	atomic_uint completing;	/* completers between push and write */
	pthread_mutex_t cmd_lock;
	struct fc_cmd *cmds;	/* lock: cmd */
	atomic_bool stop;	/* lock: none, atomic; set by destroy */
	/*
	 * lock: none, atomic. Odd from before the thread reads its uffd
	 * (or the inline one) until the remap events read are applied:
	 * an mremap returns once its event is read, and fc_unmap waits for
	 * the table to follow (fc__remaps_settle).
	 */
	atomic_uint reading;
};

/* A freed region of the store, reused first fit. Lock: cache. */
struct fc_extent {
	uint64_t start, len;
};

/* pages (chunks) waiting to be collapsed; more are left small */
#define FC_COLLAPSE_RING 4096

/* fc-collapse (collapse.c) and its queue (fc__collapse_queue, chunk.c). */
struct fc_collapse {
	pthread_t thread;	/* immutable */
	pthread_cond_t cond;	/* on cache->lock: see collapse->cond */
	/* lock: cache */
	bool stop;
	bool busy;		/* a collapse runs without the lock */
	uint64_t head, tail;	/* the queue: ring[head % FC_COLLAPSE_RING] ..
				   ring[tail % FC_COLLAPSE_RING] */
	struct {
		uint64_t file_id, index;
	} ring[FC_COLLAPSE_RING];
};

struct fc_cache {
	/* lock: none; set last by create, cleared first by destroy */
	unsigned magic;
	/* immutable */
	struct fc_config cfg;
	size_t sys_page;
	pthread_mutex_t lock;
	int memfd;
	/* lock: cache (the store's region allocator) */
	uint64_t next_region;
	struct fc_extent *extents;
	size_t nr_extents, cap_extents;
	/*
	 * immutable: page entries for the largest budget (max_slots pages),
	 * address space of entries_bytes of which only entries used so far
	 * were touched (fc__reclaim_init)
	 */
	struct fc_page *pages;
	size_t max_slots, entries_bytes;
	/* lock: cache */
	size_t nr_slots;	/* the budget in pages (fc_cache_set_budget) */
	/*
	 * Pages the cache holds when they are in use: nr_slots, or in copy
	 * mode half (a page in use is a store page and its copy). The LRU's
	 * proportions, the refault distance and sampling's age are of it.
	 */
	size_t nr_working;
	struct fc_page *free_list;	/* entries used before, free now */
	size_t nr_fresh;	/* pages[nr_fresh..max_slots) never used yet */
	size_t nr_used;		/* entries in an index (INFLIGHT, UPTODATE) */
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
	struct fc_file *zombies;	/* dead files: freed after the lock */
	/* immutable */
	int inotify_fd;		/* the process's (watch.c), or -1: a
				   reference on it is held */
	struct fc_watch_user watch_user; /* told of its events (watch.c) */
	int pagemap_fd;		/* /proc/self/pagemap (sampling); -1 if none */
	/*
	 * lock: cache. Scratch space of work done under the lock, off the
	 * stack: an inline fault does that work in a SIGBUS handler on the
	 * faulting thread's own stack (see on_sigbus in sigbus.c).
	 */
	struct fc_page **sampled;	/* fc__cache_age: FC_SAMPLE_MAX */
	uint64_t *pagemap_buf;		/* view_present: FC_PAGEMAP_BATCH */
	struct fc_io **split;		/* io_split: FC_MAX_IO_BYTES / 4096 */
	/* lock: cache */
	uint64_t next_file_id;
	/* immutable */
	struct fc_handler *handlers;
	unsigned nr_handlers;
	/* lock: none, atomic (round robin) */
	atomic_uint next_handler;
	/* immutable */
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
	 * chunk (store.c, chunk_punch). chunk_shift: log2 of pages per chunk.
	 */
	bool chunked;
	unsigned chunk_shift;
	/* lock: cache (set before the cache is returned) */
	struct fc_collapse *collapse;	/* its thread and queue, or NULL */
	uint64_t nr_collapsed;		/* pages made huge folios */
	uint64_t nr_collapse_failed;	/* pages left small */
	uint64_t nr_chunk_splits;	/* huge chunks copied back small to
					   drop part of them */
	int collapse_errno;		/* the last failure's (EINVAL: stop
					   trying) */
	/* immutable */
	int inline_uffd;	/* FC_CONFIG_INLINE: the SIGBUS-mode uffd, or -1 */
	int store_uffd;		/* the aliases' (fc__store_write), or -1 in
				   copy mode */
	/* lock: none, atomic (see inline_active) */
	atomic_int inline_active; /* inline faults being resolved now */
	/*
	 * FC_CONFIG_INLINE with cfg.poll_us: rings in which a faulting
	 * thread reads its own page and polls for the completion instead of
	 * sleeping in pread (polled.c); each serves one thread at a time
	 * (see poller busy). Immutable (tests set them up again with no
	 * fault under way).
	 */
	struct fc_poller *pollers;
	unsigned nr_pollers;
	/* lock: none, atomic (relaxed counters) */
	atomic_ulong nr_polled;		/* reads polled for */
	atomic_ulong nr_poll_slept;	/* of them, waited for after poll_us */
	atomic_uint nr_poll_retired;	/* rings a submit failed in: busy */
	/* immutable */
	bool poll_fixed;	/* tests: poll whenever a ring is free, never
				   measure which pays (poll_pays) */
	/* lock: none, atomic */
	atomic_ulong nr_copies;	/* system pages copied into views */
	/* lock: cache */
	uint64_t copy_reserved;	/* cache pages planned for copying */
	uint64_t nr_inflight;	/* pages in state INFLIGHT */
	struct fc_stats st;	/* counters */
	/* lock: none, atomic */
	atomic_long nr_mappings;
	/*
	 * Staging buffers (io.c), free ones by size class, kept for reuse up
	 * to stage_idle_max bytes (a sixteenth of the budget, at most
	 * FC_STAGE_IDLE_MAX): a fresh buffer costs the zeroing of its pages
	 * on first touch. lock: stage
	 */
	pthread_mutex_t stage_lock;
	void *stage_free[FC_STAGE_CLASSES];
	size_t stage_idle, stage_idle_max;
	/*
	 * fork (cache.c): the process generation the cache was made in. A
	 * child is a new generation, and the caches of its parent are not its
	 * to use (ECHILD). immutable
	 */
	unsigned fork_gen;
	struct fc_cache *reg_next;	/* the process's caches; lock: caches */
	/*
	 * peak_resident_bytes (stats.c, fc__stats_note): the highest resident
	 * memory seen, and the eviction count at the last look. lock: cache
	 */
	uint64_t peak_resident;
	uint64_t peak_evictions;
};

#endif

