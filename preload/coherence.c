/* SPDX-License-Identifier: MIT */
/*
 * coherence.c - writes to routed files, seen through their mappings.
 *
 * libfaultcache's pages of a file do not change when the file is written
 * through a descriptor; the kernel's page cache does. A program that
 * writes a file with pwrite and reads it through its mapping (LMDB and
 * SQLite do) must see its own writes: after each write to a file the
 * preload routed, it calls fc_invalidate(3) for the range written, which
 * returns once no mapping shows the old bytes. The calls are write,
 * writev, pwrite, pwritev (and their 64 and v2 names), ftruncate,
 * truncate, fallocate, copy_file_range, sendfile, and open or creat with
 * O_TRUNC. Writes through a writable shared mapping of the file hand its
 * routed mappings to the kernel instead (interpose.c).
 *
 * The cost for a process that routed nothing is one load; for one that
 * did, an fstat per write, to know the file (a descriptor number says
 * nothing: it may have been closed and reused).
 *
 * The kernel's calls are made with syscall(2), like the memory calls
 * (raw.c): they are not cancellation points here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <faultcache.h>

#include "preload.h"

/*
 * Was the file on @fd routed in this process? Then its dev and inode in
 * @st. Lock-free; false at once while nothing was ever routed.
 */
static bool routed_fd(int fd, struct stat *st)
{
	if (fd < 0 || fcp_depth || !atomic_load(&fcp_count.routed))
		return false;
	return !fstat(fd, st) && S_ISREG(st->st_mode) &&
	       fcp_file_known(st->st_dev, st->st_ino);
}

/* [@off, @off + @len) of the file on @fd changed: drop it from the cache. */
void fcp_invalidate_fd(int fd, off_t off, size_t len)
{
	int saved = errno;
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	fcp_depth++;
	if (!fc_invalidate(NULL, fd, off < 0 ? 0 : off, len))
		atomic_fetch_add(&fcp_count.invalidations, 1);
	fcp_depth--;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
}

/* After a write of @n bytes at the file position: the range it took. */
static void after_write(int fd, ssize_t n)
{
	off_t end;

	if (n <= 0)
		return;
	end = lseek(fd, 0, SEEK_CUR);
	if (end >= n)
		fcp_invalidate_fd(fd, end - n, (size_t)n);
	else
		fcp_invalidate_fd(fd, 0, 0);
}

FCP_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	struct stat st;
	bool r = routed_fd(fd, &st);
	ssize_t n = syscall(SYS_write, fd, buf, count);

	if (r)
		after_write(fd, n);
	return n;
}

FCP_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct stat st;
	bool r = routed_fd(fd, &st);
	ssize_t n = syscall(SYS_writev, fd, iov, cnt);

	if (r)
		after_write(fd, n);
	return n;
}

FCP_EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	struct stat st;
	bool r = routed_fd(fd, &st);
	ssize_t n = syscall(SYS_pwrite64, fd, buf, count, off);

	if (r && n > 0)
		fcp_invalidate_fd(fd, off, (size_t)n);
	return n;
}

FCP_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
{
	return pwrite(fd, buf, count, off);
}

/* The kernel takes the offset as two longs: on 64-bit, all in the first. */
FCP_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off,
		 int flags)
{
	struct stat st;
	bool r = routed_fd(fd, &st);
	ssize_t n = off == -1 ?
		syscall(SYS_pwritev2, fd, iov, cnt, -1L, 0L, flags) :
		syscall(SYS_pwritev2, fd, iov, cnt, (long)off, 0L, flags);

	if (r && off == -1)
		after_write(fd, n);
	else if (r && n > 0)
		fcp_invalidate_fd(fd, off, (size_t)n);
	return n;
}

FCP_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	struct stat st;
	bool r = routed_fd(fd, &st);
	ssize_t n = syscall(SYS_pwritev, fd, iov, cnt, (long)off, 0L);

	if (r && n > 0)
		fcp_invalidate_fd(fd, off, (size_t)n);
	return n;
}

FCP_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return pwritev(fd, iov, cnt, off);
}

FCP_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off,
		    int flags)
{
	return pwritev2(fd, iov, cnt, off, flags);
}

FCP_EXPORT int ftruncate(int fd, off_t len)
{
	struct stat st;
	bool r = routed_fd(fd, &st);
	int ret = (int)syscall(SYS_ftruncate, fd, len);

	if (r && !ret)	/* the size changed: from the new end on */
		fcp_invalidate_fd(fd, len < st.st_size ? len : st.st_size, 0);
	return ret;
}

FCP_EXPORT int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

/* A path the program changes: its file, if routed here, opened to say so. */
static void invalidate_path(const char *path, off_t off)
{
	struct stat st;
	int fd;

	if (!atomic_load(&fcp_count.routed) || fcp_depth || stat(path, &st) ||
	    !S_ISREG(st.st_mode) || !fcp_file_known(st.st_dev, st.st_ino))
		return;
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	fcp_invalidate_fd(fd, off, 0);
	close(fd);
}

FCP_EXPORT int truncate(const char *path, off_t len)
{
	int ret = (int)syscall(SYS_truncate, path, len);

	if (!ret)
		invalidate_path(path, 0);
	return ret;
}

FCP_EXPORT int truncate64(const char *path, off_t len)
{
	return truncate(path, len);
}

FCP_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	struct stat st;
	bool r = routed_fd(fd, &st);
	int ret = (int)syscall(SYS_fallocate, fd, mode, off, len);

	/* punch, zero, collapse, insert: from @off on, to be safe */
	if (r && !ret)
		fcp_invalidate_fd(fd, off, 0);
	return ret;
}

FCP_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

FCP_EXPORT ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off,
			size_t len, unsigned flags)
{
	struct stat st;
	bool r = routed_fd(out, &st);
	off_t at = out_off ? *out_off : 0;
	ssize_t n = syscall(SYS_copy_file_range, in, in_off, out, out_off,
			    len, flags);

	if (r && out_off && n > 0)
		fcp_invalidate_fd(out, at, (size_t)n);
	else if (r)
		after_write(out, n);
	return n;
}

FCP_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct stat st;
	bool r = routed_fd(out, &st);
	ssize_t n = syscall(SYS_sendfile, out, in, off, count);

	if (r)
		after_write(out, n);
	return n;
}

FCP_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return sendfile(out, in, off, count);
}

/* open(O_TRUNC) of a routed file empties it: its pages go. */
static int opened(int fd, int flags)
{
	struct stat st;

	if (fd >= 0 && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY &&
	    routed_fd(fd, &st))
		fcp_invalidate_fd(fd, 0, 0);
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ?
		       (mode_t)va_arg(ap, int) : 0;
}

FCP_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return opened((int)syscall(SYS_openat, AT_FDCWD, path, flags, mode),
		      flags);
}

/* the same kernel call as open and openat (O_LARGEFILE is implied on
 * 64-bit): the same bodies */
FCP_EXPORT int open64(const char *path, int flags, ...)
	__attribute__((alias("open")));

FCP_EXPORT int openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return opened((int)syscall(SYS_openat, dir, path, flags, mode), flags);
}

FCP_EXPORT int openat64(int dir, const char *path, int flags, ...)
	__attribute__((alias("openat")));

FCP_EXPORT int creat(const char *path, mode_t mode)
{
	return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

FCP_EXPORT int creat64(const char *path, mode_t mode)
{
	return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
