/* SPDX-License-Identifier: MIT */
/*
 * test_preload: libfaultcache-preload.so under a program that uses the
 * kernel's calls only, as a program built without libfaultcache does.
 * CTest runs it with LD_PRELOAD set, and FC_PRELOAD_PATHS naming the test
 * files (test_preload) or the default policy of every file of
 * FC_PRELOAD_MIN_BYTES (test_preload_policy). Every byte read through a
 * mapping is compared with pread; that a mapping is routed is read from
 * libfaultcache's default cache (fc_cache_stats(3): its mappings), which
 * is the preload's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define PG 4096

/* Live mappings of the default cache: the preload's routed ones. */
static uint64_t routed(void)
{
	struct fc_stats st;

	assert_int_equal(fc_cache_stats(NULL, &st), 0);
	return st.mappings;
}

/* A test file named so that FC_PRELOAD_PATHS picks it ("fcp-*"). */
struct tf {
	char path[300];
	int fd;		/* O_RDWR */
	size_t size;
	unsigned char *ref;
};

static struct tf *tf_new(size_t size, unsigned seed)
{
	struct tf *t = calloc(1, sizeof(*t));
	char made[300];
	int fd;

	assert_non_null(t);
	fd = th_make_file(made, sizeof(made), (off_t)size, seed);
	close(fd);
	snprintf(t->path, sizeof(t->path), "%s/fcp-%u-%d", th_dir(), seed,
		 (int)getpid());
	assert_int_equal(rename(made, t->path), 0);
	t->fd = open(t->path, O_RDWR | O_CLOEXEC);
	assert_true(t->fd >= 0);
	t->size = size;
	t->ref = th_read_all(t->fd, (off_t)size);
	return t;
}

static void tf_free(struct tf *t)
{
	close(t->fd);
	unlink(t->path);
	free(t->ref);
	free(t);
}

static int ro(const struct tf *t)
{
	int fd = open(t->path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static unsigned char *map_ro(const struct tf *t, size_t len, off_t off,
			     int flags)
{
	int fd = ro(t);
	unsigned char *p = mmap(NULL, len, PROT_READ, flags, fd, off);

	close(fd);
	assert_true(p != MAP_FAILED);
	return p;
}

/* ---- what is routed ---- */

static void routes_shared_and_private(void **state)
{
	struct tf *t = tf_new(2 << 20, 1);
	uint64_t n0 = routed();
	unsigned char *s = map_ro(t, t->size, 0, MAP_SHARED);
	unsigned char *p = map_ro(t, t->size, 0, MAP_PRIVATE);

	(void)state;
	assert_int_equal(routed(), n0 + 2);
	assert_memory_equal(s, t->ref, t->size);
	assert_memory_equal(p, t->ref, t->size);
	assert_int_equal(munmap(s, t->size), 0);
	assert_int_equal(munmap(p, t->size), 0);
	assert_int_equal(routed(), n0);
	tf_free(t);
}

static void leaves_the_rest_to_the_kernel(void **state)
{
	struct tf *t = tf_new(2 << 20, 2);
	uint64_t n0 = routed();
	unsigned char *a, *w, *x;
	int fd;

	(void)state;
	a = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(a != MAP_FAILED);
	memset(a, 1, 1 << 20);
	w = mmap(NULL, t->size, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	assert_true(w != MAP_FAILED);
	fd = ro(t);
	x = mmap(NULL, t->size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(x != MAP_FAILED);
	assert_int_equal(routed(), n0);
	assert_memory_equal(w, t->ref, t->size);
	assert_memory_equal(x, t->ref, t->size);
	munmap(a, 1 << 20);
	munmap(w, t->size);
	munmap(x, t->size);
	tf_free(t);
}

/* FC_PRELOAD_PATHS: a file it does not name is the kernel's. */
static void only_what_the_policy_picks(void **state)
{
	char path[300];
	uint64_t n0 = routed();
	unsigned char *p, *ref;
	int fd = th_make_file(path, sizeof(path), 2 << 20, 3);

	(void)state;
	ref = th_read_all(fd, 2 << 20);
	p = mmap(NULL, 2 << 20, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	/* "fctest.*" is not "fcp-*"; with no patterns, 2 MiB is enough */
	assert_int_equal(routed(), n0 + (getenv("FC_PRELOAD_PATHS") ? 0 : 1));
	assert_memory_equal(p, ref, 2 << 20);
	munmap(p, 2 << 20);
	close(fd);
	unlink(path);
	free(ref);
}

/* ---- mmap's arguments ---- */

static void offsets_and_eof(void **state)
{
	struct tf *t = tf_new(5 * PG + 100, 4);
	unsigned char *p, v;
	int fd;

	(void)state;
	p = map_ro(t, 2 * PG, 3 * PG, MAP_SHARED);
	assert_memory_equal(p, t->ref + 3 * PG, 2 * PG);
	assert_int_equal(munmap(p, 2 * PG), 0);
	/* longer than the file, as LMDB maps its whole map size */
	fd = ro(t);
	p = mmap(NULL, 64 * PG, PROT_READ, MAP_SHARED, fd, PG);
	close(fd);
	assert_true(p != MAP_FAILED);
	assert_memory_equal(p, t->ref + PG, 4 * PG + 100);
	assert_int_equal(th_touch(p + 4 * PG + 100, &v), 0);
	assert_int_equal(v, 0);		/* zeros to the end of the page */
	assert_int_equal(th_touch(p + 5 * PG, &v), SIGBUS);
	assert_int_equal(th_touch(p + 63 * PG, &v), SIGBUS);
	assert_int_equal(munmap(p, 64 * PG), 0);
	tf_free(t);
}

static void fixed_and_hints(void **state)
{
	struct tf *t = tf_new(1 << 20, 5);
	uint64_t n0 = routed();
	unsigned char *r, *p, *q;
	int fd = ro(t);

	(void)state;
	r = mmap(NULL, 64 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(r != MAP_FAILED);
	p = mmap(r + 8 * PG, 16 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
		 4 * PG);
	assert_ptr_equal(p, r + 8 * PG);
	assert_memory_equal(p, t->ref + 4 * PG, 16 * PG);
	assert_int_equal(routed(), n0 + 1);
	/* NOREPLACE over it: taken */
	errno = 0;
	assert_true(mmap(r + 16 * PG, 4 * PG, PROT_READ,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0) == MAP_FAILED);
	assert_int_equal(errno, EEXIST);
	/* FIXED over the middle of it: the kernel's way, the rest stays */
	q = mmap(r + 12 * PG, 4 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
		 40 * PG);
	assert_ptr_equal(q, r + 12 * PG);
	assert_memory_equal(q, t->ref + 40 * PG, 4 * PG);
	assert_memory_equal(p, t->ref + 4 * PG, 4 * PG);
	assert_memory_equal(p + 8 * PG, t->ref + 12 * PG, 8 * PG);
	assert_int_equal(munmap(r, 64 * PG), 0);
	assert_int_equal(routed(), n0);
	/* a hint where there is room is taken */
	r = mmap(NULL, 64 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_int_equal(munmap(r, 64 * PG), 0);
	p = mmap(r, 16 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_ptr_equal(p, r);
	assert_memory_equal(p, t->ref, 16 * PG);
	/* and where there is none, another place */
	q = mmap(p, 16 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(q != MAP_FAILED && q != p);
	assert_memory_equal(q, t->ref, 16 * PG);
	assert_int_equal(routed(), n0 + 2);
	munmap(p, 16 * PG);
	munmap(q, 16 * PG);
	close(fd);
	tf_free(t);
}

/* The descriptor closed right after mmap (map_ro closes it). */
static void descriptor_closed(void **state)
{
	struct tf *t = tf_new(1 << 20, 6);
	unsigned char *p = map_ro(t, t->size, 0, MAP_SHARED);

	(void)state;
	assert_memory_equal(p, t->ref, t->size);
	assert_int_equal(munmap(p + 4 * PG, 4 * PG), 0);	/* maps again */
	assert_memory_equal(p + 8 * PG, t->ref + 8 * PG, t->size - 8 * PG);
	munmap(p, t->size);
	tf_free(t);
}

/* ---- munmap ---- */

static void munmap_parts(void **state)
{
	struct tf *t = tf_new(1 << 20, 7);
	uint64_t n0 = routed();
	unsigned char *p = map_ro(t, 64 * PG, 0, MAP_SHARED), *a, v;
	struct fc_stats st;
	uint64_t faults;

	(void)state;
	assert_memory_equal(p, t->ref, 64 * PG);
	th_pages_read_settled(NULL);
	assert_int_equal(fc_cache_stats(NULL, &st), 0);
	faults = st.faults;
	assert_int_equal(munmap(p + 16 * PG, 8 * PG), 0);	/* middle */
	assert_int_equal(munmap(p + 60 * PG, 4 * PG), 0);	/* tail */
	assert_int_equal(munmap(p, 2 * PG), 0);			/* head */
	assert_int_equal(th_touch(p + 16 * PG, &v), SIGSEGV);
	assert_int_equal(th_touch(p + 60 * PG, &v), SIGSEGV);
	assert_int_equal(th_touch(p, &v), SIGSEGV);
	/* the parts kept were never unmapped: no fault reading them */
	assert_memory_equal(p + 2 * PG, t->ref + 2 * PG, 14 * PG);
	assert_memory_equal(p + 24 * PG, t->ref + 24 * PG, 36 * PG);
	assert_int_equal(fc_cache_stats(NULL, &st), 0);
	assert_int_equal(st.faults, faults);
	assert_int_equal(routed(), n0 + 2);
	/* the range is free at once: a program maps over it */
	a = mmap(p + 16 * PG, 8 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	assert_ptr_equal(a, p + 16 * PG);
	memset(a, 0x55, 8 * PG);
	/* several mappings and the memory between them at once */
	assert_int_equal(munmap(p, 64 * PG), 0);
	assert_int_equal(routed(), n0);
	assert_int_equal(th_touch(p + 30 * PG, &v), SIGSEGV);
	tf_free(t);
}

/*
 * munmap, then at once a MAP_FIXED of the same range: libfaultcache's
 * placeholder must be gone by then (its later unmap would take the new
 * mapping with it).
 */
static void munmap_then_map_over(void **state)
{
	struct tf *t = tf_new(4 << 20, 8);
	unsigned char *p, *a;
	int i;

	(void)state;
	for (i = 0; i < 10; i++) {
		p = map_ro(t, t->size, 0, MAP_SHARED);
		assert_int_equal(madvise(p, t->size, MADV_WILLNEED), 0);
		assert_int_equal(p[i * PG], t->ref[i * PG]);
		assert_int_equal(munmap(p, t->size), 0);
		a = mmap(p, t->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		assert_ptr_equal(a, p);
		memset(a, 0x33, t->size);
		usleep(20000);
		assert_int_equal(a[0], 0x33);
		assert_int_equal(a[t->size - 1], 0x33);
		munmap(a, t->size);
	}
	tf_free(t);
}

/* ---- mremap ---- */

static void mremap_grow_shrink_move(void **state)
{
	struct tf *t = tf_new(1 << 20, 9);
	unsigned char *p = map_ro(t, 16 * PG, 0, MAP_SHARED), *q, *r, v;
	uint64_t n0 = routed();

	(void)state;
	assert_memory_equal(p, t->ref, 16 * PG);
	q = mremap(p, 16 * PG, 64 * PG, MREMAP_MAYMOVE);
	assert_true(q != MAP_FAILED);
	assert_memory_equal(q, t->ref, 64 * PG);
	q = mremap(q, 64 * PG, 8 * PG, 0);		/* shrink in place */
	assert_true(q != MAP_FAILED);
	assert_memory_equal(q, t->ref, 8 * PG);
	assert_int_equal(th_touch(q + 8 * PG, &v), SIGSEGV);
	/* grow in place, without MAYMOVE, into the room just freed */
	r = mremap(q, 8 * PG, 12 * PG, 0);
	assert_ptr_equal(r, q);
	assert_memory_equal(r, t->ref, 12 * PG);
	/* move to an address of our choosing */
	p = mmap(NULL, 32 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	q = mremap(r, 12 * PG, 20 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, p);
	assert_ptr_equal(q, p);
	assert_memory_equal(q, t->ref, 20 * PG);
	assert_int_equal(th_touch(r, &v), SIGSEGV);
	/* old size 0: a second mapping of the same pages */
	r = mremap(q, 0, 4 * PG, MREMAP_MAYMOVE);
	assert_true(r != MAP_FAILED && r != q);
	assert_memory_equal(r, t->ref, 4 * PG);
	assert_int_equal(routed(), n0 + 1);
	munmap(r, 4 * PG);
	munmap(p, 32 * PG);
	assert_int_equal(routed(), n0 - 1);
	tf_free(t);
}

/* ---- madvise, mprotect, msync, mincore ---- */

static void advice(void **state)
{
	struct tf *t = tf_new(1 << 20, 10);
	unsigned char *p = map_ro(t, t->size, 0, MAP_SHARED);

	(void)state;
	assert_int_equal(madvise(p, t->size, MADV_RANDOM), 0);
	assert_int_equal(madvise(p, t->size, MADV_SEQUENTIAL), 0);
	assert_int_equal(madvise(p + 4 * PG, 4 * PG, MADV_RANDOM), 0);
	assert_int_equal(madvise(p, t->size, MADV_WILLNEED), 0);
	assert_int_equal(madvise(p, t->size, MADV_DONTNEED), 0);
	assert_int_equal(madvise(p, t->size, MADV_HUGEPAGE), 0);
	assert_int_equal(madvise(p, t->size, MADV_NORMAL), 0);
	assert_int_equal(posix_madvise(p, t->size, POSIX_MADV_SEQUENTIAL), 0);
	assert_int_equal(posix_madvise(p, t->size, POSIX_MADV_DONTNEED), 0);
	assert_memory_equal(p, t->ref, t->size);
	/* as the kernel answers for a read-only file mapping */
	errno = 0;
	assert_int_equal(madvise(p, PG, MADV_REMOVE), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(madvise(p, PG, MADV_FREE), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(posix_madvise(p, PG, 12345), EINVAL);
	/* a hole in the range: ENOMEM, the rest advised */
	assert_int_equal(munmap(p + 8 * PG, PG), 0);
	assert_int_equal(madvise(p, 16 * PG, MADV_WILLNEED), -1);
	assert_int_equal(errno, ENOMEM);
	assert_memory_equal(p, t->ref, 8 * PG);
	munmap(p, t->size);
	tf_free(t);
}

static void protection(void **state)
{
	struct tf *t = tf_new(1 << 20, 11);
	unsigned char *s = map_ro(t, t->size, 0, MAP_SHARED);
	unsigned char *p = map_ro(t, t->size, 0, MAP_PRIVATE), v;
	uint64_t n0 = routed();

	(void)state;
	assert_int_equal(mprotect(s, t->size, PROT_READ), 0);
	assert_int_equal(mprotect(s + 4 * PG, 4 * PG, PROT_NONE), 0);
	assert_int_equal(th_touch(s + 5 * PG, &v), SIGSEGV);
	assert_int_equal(mprotect(s + 4 * PG, 4 * PG, PROT_READ), 0);
	assert_memory_equal(s, t->ref, t->size);
	/* writing to a read-only file through a shared mapping: refused */
	errno = 0;
	assert_int_equal(mprotect(s, PG, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	assert_memory_equal(s, t->ref, t->size);
	/* a private one becomes the kernel's: copy on write, file intact */
	assert_int_equal(mprotect(p, PG, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(routed(), n0 - 1);
	p[10] ^= 0xff;
	assert_int_equal(p[10], t->ref[10] ^ 0xff);
	assert_memory_equal(p + PG, t->ref + PG, t->size - PG);
	assert_memory_equal(s, t->ref, t->size);
	assert_int_equal(msync(s, t->size, MS_SYNC), 0);
	assert_int_equal(msync(s, t->size, MS_INVALIDATE), 0);
	munmap(s, t->size);
	munmap(p, t->size);
	tf_free(t);
}

static void residency(void **state)
{
	struct tf *t = tf_new(1 << 20, 12);
	unsigned char *p = map_ro(t, t->size, 0, MAP_SHARED);
	unsigned char vec[256];

	(void)state;
	assert_int_equal(madvise(p, t->size, MADV_RANDOM), 0);
	assert_int_equal(mincore(p, t->size, vec), 0);
	assert_int_equal(vec[7] & 1, 0);
	assert_int_equal(p[7 * PG], t->ref[7 * PG]);
	th_pages_read_settled(NULL);
	assert_int_equal(mincore(p, t->size, vec), 0);
	assert_int_equal(vec[7] & 1, 1);
	assert_int_equal(vec[100] & 1, 0);
	/* held by the cache, though this view maps it no more */
	assert_int_equal(madvise(p, t->size, MADV_DONTNEED), 0);
	assert_int_equal(mincore(p, t->size, vec), 0);
	assert_int_equal(vec[7] & 1, 1);
	munmap(p, t->size);
	tf_free(t);
}

/* ---- writes through a descriptor ---- */

static void sees_own_writes(void **state)
{
	struct tf *t = tf_new(1 << 20, 13);
	unsigned char *p = map_ro(t, 2 * t->size, 0, MAP_SHARED), b[3 * PG], v;
	struct iovec iov[2];

	(void)state;
	assert_memory_equal(p, t->ref, t->size);
	memset(b, 0x11, sizeof(b));
	assert_int_equal(pwrite(t->fd, b, 100, 5 * PG + 7), 100);
	assert_memory_equal(p + 5 * PG + 7, b, 100);
	memset(b, 0x22, sizeof(b));
	assert_int_equal(lseek(t->fd, 9 * PG, SEEK_SET), 9 * PG);
	assert_int_equal(write(t->fd, b, PG), PG);
	assert_memory_equal(p + 9 * PG, b, PG);
	memset(b, 0x33, sizeof(b));
	iov[0] = (struct iovec){ b, PG };
	iov[1] = (struct iovec){ b + PG, 10 };
	assert_int_equal(pwritev(t->fd, iov, 2, 20 * PG), PG + 10);
	assert_memory_equal(p + 20 * PG, b, PG + 10);
	/* punched: zeros */
	assert_int_equal(fallocate(t->fd, FALLOC_FL_PUNCH_HOLE |
				   FALLOC_FL_KEEP_SIZE, 30 * PG, 2 * PG), 0);
	assert_int_equal(p[30 * PG + 5], 0);
	/* shrunk: SIGBUS past the end; grown: zeros, then appended bytes */
	assert_int_equal(ftruncate(t->fd, 40 * PG), 0);
	assert_int_equal(th_touch(p + 41 * PG, &v), SIGBUS);
	assert_int_equal(ftruncate(t->fd, 50 * PG), 0);
	assert_int_equal(th_touch(p + 45 * PG, &v), 0);
	assert_int_equal(v, 0);
	memset(b, 0x44, sizeof(b));
	assert_int_equal(pwrite(t->fd, b, 2 * PG, 50 * PG), 2 * PG);
	assert_memory_equal(p + 50 * PG, b, 2 * PG);
	munmap(p, 2 * t->size);
	tf_free(t);
}

static void sees_truncation_and_copies(void **state)
{
	struct tf *t = tf_new(1 << 20, 14);
	struct tf *u = tf_new(1 << 20, 15);
	unsigned char *p = map_ro(t, t->size, 0, MAP_SHARED);
	off_t in = 0, out = 8 * PG;
	int fd;

	(void)state;
	assert_memory_equal(p, t->ref, t->size);
	assert_int_equal(copy_file_range(u->fd, &in, t->fd, &out, 4 * PG, 0),
			 4 * PG);
	assert_memory_equal(p + 8 * PG, u->ref, 4 * PG);
	/* rewritten whole, as cp and editors do: open(O_TRUNC), write */
	fd = open(t->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, u->ref, u->size), (ssize_t)u->size);
	close(fd);
	assert_memory_equal(p, u->ref, u->size);
	munmap(p, t->size);
	tf_free(t);
	tf_free(u);
}

/* ---- other processes ---- */

/* A child maps again what its parent routed: it reads it. */
static void fork_keeps_mappings(void **state)
{
	struct tf *t = tf_new(2 << 20, 16);
	unsigned char *p = map_ro(t, t->size, 0, MAP_SHARED);
	unsigned char *q = map_ro(t, 8 * PG, 0, MAP_PRIVATE);
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(madvise(q, 8 * PG, MADV_DONTFORK), 0);
	assert_memory_equal(p, t->ref, PG);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char v;

		alarm(60);
		if (memcmp(p, t->ref, t->size))
			_exit(1);
		if (routed() != 1)	/* its own cache, the one mapping */
			_exit(2);
		if (th_touch(q, &v) != SIGSEGV)	/* MADV_DONTFORK */
			_exit(3);
		if (munmap(p + PG, PG) || memcmp(p + 2 * PG, t->ref + 2 * PG,
						 t->size - 2 * PG))
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_memory_equal(p, t->ref, t->size);
	munmap(p, t->size);
	munmap(q, 8 * PG);
	tf_free(t);
}

static char self[4096];

/* fork, then exec a program that maps with the preload too. */
static void fork_exec(void **state)
{
	struct tf *t = tf_new(2 << 20, 17);
	unsigned char *p = map_ro(t, t->size, 0, MAP_SHARED);
	int status;
	pid_t pid;

	(void)state;
	assert_memory_equal(p, t->ref, t->size);
	/* a file open for writing in another process (here, the parent)
	   is not routed: writers elsewhere are the kernel's (files.c) */
	close(t->fd);
	t->fd = ro(t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(self, self, "--child-maps", t->path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	munmap(p, t->size);
	tf_free(t);
}

static int child_maps(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	unsigned char *p, *ref;
	struct fc_stats st;
	int ret = 0;

	if (size <= 0)
		return 10;
	ref = th_read_all(fd, size);
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || memcmp(p, ref, (size_t)size))
		ret = 11;
	else if (fc_cache_stats(NULL, &st) || st.mappings != 1)
		ret = 12;
	if (p != MAP_FAILED && munmap(p, (size_t)size) && !ret)
		ret = 13;
	free(ref);
	close(fd);
	return ret;
}

/*
 * Another process opens a routed file for writing: the lease makes the
 * preload hand its mappings to the kernel first, so the other process's
 * writes are seen, as with the kernel's own mappings.
 */
static void writer_elsewhere(void **state)
{
	struct tf *t = tf_new(1 << 20, 18);
	uint64_t n0 = routed();
	unsigned char *p, b[PG];
	int status;
	pid_t pid;

	(void)state;
	/* our own O_RDWR descriptor is a writer: routed without a lease */
	p = map_ro(t, t->size, 0, MAP_SHARED);
	assert_int_equal(routed(), n0 + 1);
	assert_memory_equal(p, t->ref, t->size);
	munmap(p, t->size);
	close(t->fd);
	t->fd = -1;
	p = map_ro(t, t->size, 0, MAP_SHARED);	/* leased now */
	assert_int_equal(routed(), n0 + 1);
	assert_memory_equal(p, t->ref, t->size);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		alarm(60);
		fd = open(t->path, O_RDWR | O_CLOEXEC);
		memset(b, 0x66, sizeof(b));
		_exit(fd < 0 || pwrite(fd, b, PG, 3 * PG) != PG);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	memset(b, 0x66, sizeof(b));
	assert_memory_equal(p + 3 * PG, b, PG);
	assert_int_equal(routed(), n0);	/* the kernel's now */
	/* and never routed again */
	munmap(p, t->size);
	p = map_ro(t, t->size, 0, MAP_SHARED);
	assert_int_equal(routed(), n0);
	munmap(p, t->size);
	t->fd = open(t->path, O_RDONLY | O_CLOEXEC);
	tf_free(t);
}

/* ---- threads and signals ---- */

struct churn {
	struct tf *t;
	atomic_bool *stop;
	int bad;
	unsigned seed;
};

/*
 * map, read, cut, unmap, over and over. No cmocka assertion here: they
 * may fail the test only from its own thread.
 */
static void *churn(void *arg)
{
	struct churn *c = arg;
	uint64_t s = c->seed;

	while (!atomic_load(c->stop) && !c->bad) {
		size_t pages = 1 + th_rand(&s) % 64, cut;
		int fd = open(c->t->path, O_RDONLY | O_CLOEXEC);
		unsigned char *p;

		p = fd < 0 ? MAP_FAILED :
		    mmap(NULL, pages * PG, PROT_READ,
			 th_rand(&s) & 1 ? MAP_SHARED : MAP_PRIVATE, fd, 0);
		if (fd >= 0)
			close(fd);
		if (p == MAP_FAILED) {
			c->bad = 4;
			fprintf(stderr, "churn: open or mmap: %s\n",
				strerror(errno));
			break;
		}
		if (memcmp(p, c->t->ref, pages * PG))
			c->bad = 1;
		cut = th_rand(&s) % pages;
		if (munmap(p + cut * PG, PG) ||
		    (cut && memcmp(p, c->t->ref, cut * PG)))
			c->bad = 2;
		/* the parts left, not the hole: another thread may have
		   mapped something there since */
		if ((cut && munmap(p, cut * PG)) ||
		    (cut + 1 < pages &&
		     munmap(p + (cut + 1) * PG, (pages - cut - 1) * PG)))
			c->bad = 3;
	}
	return NULL;
}

/*
 * The page a handler unmaps: taken by one handler only, so that a handler
 * that runs late (in another thread) never unmaps a page that was mapped
 * again since.
 */
static _Atomic(void *) sig_target;

/* A signal handler that unmaps memory, some of it routed. */
static void on_usr1(int sig)
{
	void *a = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *t = atomic_exchange(&sig_target, NULL);

	(void)sig;
	if (a != MAP_FAILED)
		munmap(a, PG);
	if (t)
		munmap(t, PG);
}

static void threads_and_signals(void **state)
{
	struct tf *t = tf_new(1 << 20, 19);
	atomic_bool stop = false;
	struct churn c[4];
	pthread_t th[4];
	int i, k;

	(void)state;
	signal(SIGUSR1, on_usr1);
	alarm(250);
	for (i = 0; i < 4; i++) {
		c[i] = (struct churn){ t, &stop, 0, (unsigned)i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, churn, &c[i]), 0);
	}
	for (k = 0; k < 200; k++) {
		unsigned char *p = map_ro(t, 4 * PG, 0, MAP_SHARED);

		atomic_store(&sig_target, p + 3 * PG);
		pthread_kill(th[k % 4], SIGUSR1);
		raise(SIGUSR1);	/* the page is gone when it returns */
		assert_memory_equal(p, t->ref, 3 * PG);
		munmap(p, 3 * PG);
	}
	atomic_store(&stop, true);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].bad, 0);
	}
	alarm(0);
	signal(SIGUSR1, SIG_DFL);
	tf_free(t);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(routes_shared_and_private),
		cmocka_unit_test(leaves_the_rest_to_the_kernel),
		cmocka_unit_test(only_what_the_policy_picks),
		cmocka_unit_test(offsets_and_eof),
		cmocka_unit_test(fixed_and_hints),
		cmocka_unit_test(descriptor_closed),
		cmocka_unit_test(munmap_parts),
		cmocka_unit_test(munmap_then_map_over),
		cmocka_unit_test(mremap_grow_shrink_move),
		cmocka_unit_test(advice),
		cmocka_unit_test(protection),
		cmocka_unit_test(residency),
		cmocka_unit_test(sees_own_writes),
		cmocka_unit_test(sees_truncation_and_copies),
		cmocka_unit_test(fork_keeps_mappings),
		cmocka_unit_test(fork_exec),
		cmocka_unit_test(writer_elsewhere),
		cmocka_unit_test(threads_and_signals),
	};

	if (argc == 3 && !strcmp(argv[1], "--child-maps"))
		return child_maps(argv[2]);
	if (!getenv("LD_PRELOAD") || !strstr(getenv("LD_PRELOAD"),
					     "faultcache-preload")) {
		printf("test_preload runs under LD_PRELOAD (CTest sets it)\n");
		return 1;
	}
	if (!realpath("/proc/self/exe", self))
		return 1;
	if (argc == 2)		/* a pattern: run only the tests it names */
		cmocka_set_test_filter(argv[1]);
	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
