/* SPDX-License-Identifier: MIT */
/*
 * interpose.c - the memory calls the preload defines in place of libc's:
 * mmap, mmap64, munmap, mremap, madvise, posix_madvise, mprotect and
 * mincore.
 *
 * Each decides first, without a lock, whether it has anything to do:
 *   - a call made by libfaultcache itself goes to the kernel (it manages
 *     its own memory), except for its placeholders the preload waits for
 *     or took over (pending.c);
 *   - anonymous memory, and every range outside the hull of the routed
 *     mappings, goes to the kernel at once: malloc's mmap and munmap,
 *     and those of signal handlers, never take a lock here;
 *   - a read-only mapping of a file the policy picks is routed.
 * msync needs nothing: on a read-only view it does what it does on a
 * read-only mapping of the file, nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "preload.h"

#define ROUTE_FLAGS (MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE |       \
		     MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE |       \
		     MAP_POPULATE | MAP_NONBLOCK | MAP_DENYWRITE |           \
		     MAP_EXECUTABLE)

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

static uintptr_t round_up(size_t len)
{
	return (len + fcp_page - 1) & ~(uintptr_t)(fcp_page - 1);
}

/* A mapping the preload can serve: read-only, of a kind it knows. */
static bool routable(int prot, int flags, size_t len, off_t off)
{
	int type = flags & MAP_TYPE;

	return prot == PROT_READ &&
	       (type == MAP_SHARED || type == MAP_PRIVATE ||
		type == MAP_SHARED_VALIDATE) &&
	       !(flags & ~ROUTE_FLAGS) && len && off >= 0 &&
	       !((uint64_t)off % fcp_page);
}

/*
 * Does the policy pick the file on @fd (FC_PRELOAD_PATHS, or every
 * regular file of FC_PRELOAD_MIN_BYTES)? Fills @st, its real @path, and
 * @writer (open for writing too).
 */
static bool wanted(int fd, struct stat *st, char *path, size_t cap,
		   bool *writer)
{
	char proc[64];
	struct statfs sfs;
	ssize_t n;
	int fl;
	unsigned i;

	if (fstat(fd, st) || !S_ISREG(st->st_mode))
		return false;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY || (fl & O_PATH))
		return false;
	*writer = (fl & O_ACCMODE) == O_RDWR;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, path, cap - 1);
	if (n <= 0)
		return false;
	path[n] = 0;
	if (!strncmp(path, "/memfd:", 7))
		return false;
	if (fstatfs(fd, &sfs))
		return false;
	switch (sfs.f_type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case HUGETLBFS_MAGIC:
		return false;	/* mmap of them is special: the kernel's */
	case TMPFS_MAGIC:
	case RAMFS_MAGIC:
		if (!fcp_cfg.npat)	/* in memory already: only if named */
			return false;
	}
	if (!fcp_cfg.npat)
		return (uint64_t)st->st_size >= fcp_cfg.min_bytes;
	for (i = 0; i < fcp_cfg.npat; i++)
		if (!fnmatch(fcp_cfg.pat[i], path, 0))
			return true;
	return false;
}

/* Route a mapping of the file on @fd, or give it to the kernel. */
static void *map_file(void *addr, size_t len, int prot, int flags, int fd,
		      off_t off)
{
	char path[4096];
	struct fcp_file *f;
	struct stat st;
	bool writer = false;
	sigset_t old;
	void *p;
	int why;

	if (!routable(prot, flags, len, off) ||
	    !wanted(fd, &st, path, sizeof(path), &writer))
		return NULL;
	fcp_op_begin(&old);
	f = fcp_file_get(fd, &st, path, writer, &why);
	if (!f) {
		fcp_fallback(why == EAGAIN ? "written elsewhere" : "file");
		p = NULL;
	} else {
		p = fcp_route(addr, len, prot, flags, fd, off, f);
		if (!f->maps) {	/* not routed after all: close it */
			f->maps = 1;
			fcp_file_put(f);
		}
	}
	fcp_op_end(&old);
	return p;
}

/* A writable shared mapping of a file routed here: hand it all over. */
static void note_writable(int prot, int flags, int fd)
{
	struct stat st;

	if (!(prot & PROT_WRITE) || (flags & MAP_TYPE) == MAP_PRIVATE ||
	    fstat(fd, &st) || !fcp_file_known(st.st_dev, st.st_ino))
		return;
	fcp_writable_mapping(&st);
}

static inline __attribute__((always_inline)) void *
do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
	const void *ra)
{
	uintptr_t lo = (uintptr_t)addr;
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	sigset_t old;
	void *p;

	if (fcp_from_core(ra)) {
		if (fcp_pending_core_mmap(addr, len, prot, flags, fd))
			return addr;
		return fcp_raw_mmap(addr, len, prot, flags, fd, off);
	}
	if (fcp_depth)
		return fcp_raw_mmap(addr, len, prot, flags, fd, off);
	if (!(flags & MAP_ANONYMOUS) && fd >= 0 && fcp_ready()) {
		p = map_file(addr, len, prot, flags, fd, off);
		if (p)
			return p;
		if (prot & PROT_WRITE)
			note_writable(prot, flags, fd);
	}
	if (fixed && len && fcp_maybe_routed(lo, lo + round_up(len))) {
		fcp_op_begin(&old);
		p = fcp_map_over(addr, len, prot, flags, fd, off);
		fcp_op_end(&old);
		return p;
	}
	return fcp_raw_mmap(addr, len, prot, flags, fd, off);
}

FCP_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off,
		       __builtin_return_address(0));
}

FCP_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off,
		       __builtin_return_address(0));
}

/*
 * Do routed mappings lie in [@lo, @hi)? When none do, wait for the
 * pending placeholders there (pending.c) and say no: the kernel's.
 */
static bool holds_routed(uintptr_t lo, uintptr_t hi)
{
	sigset_t old;
	size_t i, n;

	if (!fcp_maybe_routed(lo, hi))
		return false;
	fcp_tab_read_lock(&old);
	n = fcp_tab_find(lo, hi, &i);
	fcp_tab_read_unlock(&old);
	if (!n)
		fcp_pending_wait_range(lo, hi);
	return n;
}

/* [*@lo, *@hi): the pages of (@addr, @len), or false for the kernel's error. */
static bool page_range(const void *addr, size_t len, uintptr_t *lo,
		       uintptr_t *hi)
{
	*lo = (uintptr_t)addr;
	*hi = *lo + round_up(len);
	return !(*lo % fcp_page) && len && *hi > *lo;
}

FCP_EXPORT int munmap(void *addr, size_t len)
{
	uintptr_t lo, hi;
	sigset_t old;
	int ret;

	if (fcp_from_core(__builtin_return_address(0))) {
		if (fcp_pending_core_munmap(addr, len))
			return 0;
		return fcp_raw_munmap(addr, len);
	}
	if (fcp_depth || !page_range(addr, len, &lo, &hi) ||
	    !holds_routed(lo, hi))
		return fcp_raw_munmap(addr, len);
	fcp_op_begin(&old);
	ret = fcp_munmap(lo, hi);
	fcp_op_end(&old);
	return ret;
}

FCP_EXPORT void *mremap(void *old_addr, size_t old_len, size_t new_len, int flags, ...)
{
	uintptr_t lo = (uintptr_t)old_addr, na = 0;
	void *new_addr = NULL, *p;
	sigset_t old;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
		na = (uintptr_t)new_addr;
	}
	if (fcp_from_core(__builtin_return_address(0)) || fcp_depth ||
	    lo % fcp_page ||
	    (!holds_routed(lo, lo + round_up(old_len ? old_len : 1)) &&
	     !((flags & MREMAP_FIXED) && new_len &&
	       holds_routed(na, na + round_up(new_len)))))
		return fcp_raw_mremap(old_addr, old_len, new_len, flags,
				      new_addr);
	fcp_op_begin(&old);
	p = fcp_mremap(lo, old_len, new_len, flags, na);
	fcp_op_end(&old);
	return p;
}

FCP_EXPORT int madvise(void *addr, size_t len, int advice)
{
	uintptr_t lo, hi;
	sigset_t old;
	int ret;

	if (fcp_from_core(__builtin_return_address(0)) || fcp_depth ||
	    !page_range(addr, len, &lo, &hi) || !holds_routed(lo, hi))
		return fcp_raw_madvise(addr, len, advice);
	fcp_op_begin(&old);
	ret = fcp_madvise(lo, hi, advice);
	fcp_op_end(&old);
	return ret;
}

/*
 * As glibc's: an error number, errno untouched, and POSIX_MADV_DONTNEED
 * ignored (Linux's MADV_DONTNEED discards private changes, which POSIX's
 * must not).
 */
FCP_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	int saved = errno, ret = 0;

	if (advice != POSIX_MADV_DONTNEED && madvise(addr, len, advice))
		ret = errno;
	errno = saved;
	return ret;
}

FCP_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	uintptr_t lo, hi;
	sigset_t old;
	int ret;

	if (fcp_from_core(__builtin_return_address(0)) || fcp_depth ||
	    !page_range(addr, len, &lo, &hi) || !holds_routed(lo, hi))
		return fcp_raw_mprotect(addr, len, prot);
	fcp_op_begin(&old);
	ret = fcp_mprotect(lo, hi, prot);
	fcp_op_end(&old);
	return ret;
}

FCP_EXPORT int mincore(void *addr, size_t len, unsigned char *vec)
{
	uintptr_t lo, hi;
	sigset_t old;
	int ret;

	if (fcp_from_core(__builtin_return_address(0)) || fcp_depth ||
	    !page_range(addr, len, &lo, &hi) || !holds_routed(lo, hi))
		return fcp_raw_mincore(addr, len, vec);
	fcp_op_begin(&old);
	ret = fcp_mincore(lo, hi, vec);
	fcp_op_end(&old);
	return ret;
}
