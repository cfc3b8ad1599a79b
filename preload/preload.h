/* SPDX-License-Identifier: MIT */
/*
 * preload.h - libfaultcache-preload.so: the shared declarations of its
 * modules. See libfaultcache-preload(7) for what it does, and
 * docs/design.md ("The preload library") for how the modules fit.
 *
 * LOCKS, outer first:
 *   op_lock    mutex (ops.c): one routed operation at a time (mmap of a
 *              routed file, munmap/mremap/mprotect/madvise... of a range
 *              that holds routed mappings, a lease break, fork). Held
 *              across calls into libfaultcache, which may wait for reads
 *              in flight. Every signal is blocked while it is held, so a
 *              signal handler never runs on the thread that holds it.
 *   tab_lock   rwlock (table.c): the table of routed mappings. Written
 *              with op_lock held, for a moment, never across a call into
 *              libfaultcache; read by any thread that must know whether
 *              a range holds routed mappings (with signals blocked).
 * Calls made by libfaultcache itself (from_core) and by the preload's own
 * code (fcp_depth) take no lock: they go straight to the kernel, except
 * that libfaultcache's unmapping of a placeholder the preload waits for
 * or took over is noted, lock-free (pending.c).
 */
#ifndef FCP_PRELOAD_H
#define FCP_PRELOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The calls put in place of libc's: the library's only exports. */
#define FCP_EXPORT __attribute__((visibility("default")))

/* ---- raw.c: the kernel's calls, not through libc's symbols ---- */
void *fcp_raw_mmap(void *addr, size_t len, int prot, int flags, int fd,
		   off_t off);
int fcp_raw_munmap(void *addr, size_t len);
void *fcp_raw_mremap(void *old, size_t old_len, size_t new_len, int flags,
		     void *new_addr);
int fcp_raw_madvise(void *addr, size_t len, int advice);
int fcp_raw_mprotect(void *addr, size_t len, int prot);
int fcp_raw_msync(void *addr, size_t len, int flags);
int fcp_raw_mincore(void *addr, size_t len, unsigned char *vec);

/* ---- config.c: the environment, read once ---- */
struct fcp_config {
	bool off;		/* FC_PRELOAD=0, or the library could not start */
	bool stats;		/* FC_PRELOAD_STATS=1 */
	bool lease;		/* FC_PRELOAD_LEASE, default 1 */
	int lease_sig;		/* FC_PRELOAD_LEASE_SIGNAL, default SIGRTMAX-2 */
	uint64_t min_bytes;	/* FC_PRELOAD_MIN_BYTES, default 1 MiB */
	unsigned npat;		/* FC_PRELOAD_PATHS: fnmatch patterns */
	const char *pat[64];
};
extern struct fcp_config fcp_cfg;
extern size_t fcp_page;		/* the system page size */
void fcp_config_read(void);

/* ---- init.c: lazy start, the caller's identity, counters, exit ---- */
bool fcp_ready(void);
extern __thread int fcp_depth;	/* >0: inside the preload on this thread */
/* Was the call made from libfaultcache's own code? */
bool fcp_from_core(const void *ret_addr);

struct fcp_counters {
	atomic_ulong routed;	/* mappings given to libfaultcache */
	atomic_ulong fallbacks;	/* calls it could not honour: the kernel's */
	atomic_ulong retired;	/* routed mappings handed back to the kernel */
	atomic_ulong lease_breaks;
	atomic_ulong invalidations;	/* fc_invalidate after a write */
	atomic_ulong stuck;	/* waits for libfaultcache given up */
};
extern struct fcp_counters fcp_count;
void fcp_fallback(const char *why);

/* ---- files.c: the files routed, their descriptors and leases ---- */
struct fcp_file {
	dev_t dev;
	ino_t ino;
	int rfd;		/* our read-only descriptor of it, or -1 */
	int wfd;		/* a dup of a writable descriptor of the
				   program's, for mprotect(PROT_WRITE), or -1 */
	bool leased;		/* rfd holds a read lease */
	bool gone;		/* handed back to the kernel: never routed
				   again (lease broken, writable mapping) */
	unsigned maps;		/* entries of the table */
	char path[4096];	/* its path when it was routed */
};
struct fcp_file *fcp_file_get(int fd, const struct stat *st,
			      const char *path, bool writer, int *why);
void fcp_file_put(struct fcp_file *f);
int fcp_file_fd(struct fcp_file *f, bool writable);
struct fcp_file *fcp_file_by_rfd(int fd);
struct fcp_file *fcp_file_find(dev_t dev, ino_t ino);
bool fcp_file_known(dev_t dev, ino_t ino);
void fcp_files_fork_child(void);
int fcp_lease_watcher_tid(void);

/* ---- table.c: the routed mappings, by address ---- */
struct fcp_map {
	uintptr_t base, len;	/* one mapping of libfaultcache */
	uint64_t off;		/* file offset at base */
	struct fcp_file *file;
	int prot;		/* PROT_READ, or PROT_NONE after mprotect */
	int flags;		/* MAP_SHARED or MAP_PRIVATE */
	int advice;		/* FC_ADVICE_NORMAL, _RANDOM or _SEQUENTIAL */
	bool dontfork;		/* MADV_DONTFORK: not in a child */
	bool maywrite;		/* mapped from a descriptor open for writing:
				   a shared one may become writable (the
				   kernel's VM_MAYWRITE) */
};
void fcp_hull_extend(uintptr_t lo, uintptr_t hi);
bool fcp_maybe_routed(uintptr_t lo, uintptr_t hi);
void fcp_tab_read_lock(sigset_t *old);
void fcp_tab_read_unlock(const sigset_t *old);
size_t fcp_tab_find(uintptr_t lo, uintptr_t hi, size_t *first);
struct fcp_map *fcp_tab_at(size_t i);
int fcp_tab_insert(const struct fcp_map *m);
void fcp_tab_remove(uintptr_t base);
void fcp_tab_trim(uintptr_t lo, uintptr_t hi);
size_t fcp_tab_count(void);
void fcp_tab_fork_child(void);

/* ---- pending.c: libfaultcache's placeholders the preload waits on ---- */
enum { FCP_WAIT = 1, FCP_TAKEN = 2 };
int fcp_pending_add(uintptr_t base, size_t len, int kind);
void fcp_pending_drop(int slot);
bool fcp_pending_wait(int slot);
bool fcp_pending_overlaps(uintptr_t lo, uintptr_t hi);
void fcp_pending_wait_range(uintptr_t lo, uintptr_t hi);
bool fcp_pending_core_munmap(void *addr, size_t len);
bool fcp_pending_core_mmap(void *addr, size_t len, int prot, int flags,
			   int fd);
void fcp_pending_fork_child(void);

/* ---- ops.c: the routed operations, under op_lock ---- */
void fcp_op_begin(sigset_t *old);
void fcp_op_end(const sigset_t *old);
void *fcp_route(void *addr, size_t len, int prot, int flags, int fd,
		off_t off, struct fcp_file *f);
int fcp_retire(size_t i, int prot, int flags, bool writable);
int fcp_munmap(uintptr_t lo, uintptr_t hi);
void *fcp_map_over(void *addr, size_t len, int prot, int flags, int fd,
		   off_t off);
void *fcp_mremap(uintptr_t old, size_t old_len, size_t new_len, int flags,
		 uintptr_t new_addr);
int fcp_madvise(uintptr_t lo, uintptr_t hi, int advice);
int fcp_mprotect(uintptr_t lo, uintptr_t hi, int prot);
int fcp_mincore(uintptr_t lo, uintptr_t hi, unsigned char *vec);
void fcp_retire_file(struct fcp_file *f);
void fcp_writable_mapping(const struct stat *st);
void fcp_ops_fork_prepare(void);
void fcp_ops_fork_parent(void);
void fcp_ops_fork_child(void);

/* ---- coherence.c: writes to routed files ---- */
void fcp_invalidate_fd(int fd, off_t off, size_t len);

#endif
