/* SPDX-License-Identifier: MIT */
/* wrap.c - see wrap.h. Never allocates: it stands in for the allocator. */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wrap.h"

static struct {
	atomic_uint kinds;	/* armed kinds; 0: not counting */
	atomic_long count, nth;
	atomic_int err;
	atomic_bool failed;
} tw;

static _Atomic(tw_write_fn) write_hook;
static _Atomic(tw_ioctl_fn) ioctl_hook;
static _Atomic(tw_munmap_fn) munmap_hook;
static _Atomic(tw_mmap_fn) mmap_hook;
static _Atomic(tw_read_fn) read_hook;

void tw_write_hook(tw_write_fn hook)
{
	atomic_store(&write_hook, hook);
}

void tw_ioctl_hook(tw_ioctl_fn hook)
{
	atomic_store(&ioctl_hook, hook);
}

void tw_munmap_hook(tw_munmap_fn hook)
{
	atomic_store(&munmap_hook, hook);
}

void tw_mmap_hook(tw_mmap_fn hook)
{
	atomic_store(&mmap_hook, hook);
}

void tw_read_hook(tw_read_fn hook)
{
	atomic_store(&read_hook, hook);
}

void tw_arm(unsigned kinds, long nth, int err)
{
	atomic_store(&tw.kinds, 0);
	atomic_store(&tw.count, 0);
	atomic_store(&tw.nth, nth);
	atomic_store(&tw.err, err);
	atomic_store(&tw.failed, false);
	atomic_store(&tw.kinds, kinds);
}

long tw_disarm(void)
{
	atomic_store(&tw.kinds, 0);
	return atomic_load(&tw.count);
}

bool tw_failed(void)
{
	return atomic_load(&tw.failed);
}

/* Count a call of @kind: its errno if it is the one to fail, else 0. */
static int tw_fail(unsigned kind)
{
	long n;

	if (!(atomic_load(&tw.kinds) & kind))
		return 0;
	n = atomic_fetch_add(&tw.count, 1) + 1;
	if (n != atomic_load(&tw.nth) || !atomic_load(&tw.err))
		return 0;
	atomic_store(&tw.failed, true);
	return atomic_load(&tw.err);
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_mmap(void *a, size_t l, int prot, int fl, int fd, off_t off);
int __real_eventfd(unsigned v, int fl);
int __real_memfd_create(const char *name, unsigned fl);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a,
			  void *(*fn)(void *), void *arg);
int __real_io_uring_queue_init(unsigned n, struct io_uring *r, unsigned fl);
int __real_io_uring_queue_init_params(unsigned n, struct io_uring *r,
				      struct io_uring_params *p);
int __real_io_uring_submit(struct io_uring *r);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_read(int fd, void *buf, size_t n);
int __real_ioctl(int fd, unsigned long req, ...);
int __real_munmap(void *addr, size_t len);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_mmap(void *a, size_t l, int prot, int fl, int fd, off_t off);
int __wrap_eventfd(unsigned v, int fl);
int __wrap_memfd_create(const char *name, unsigned fl);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
			  void *(*fn)(void *), void *arg);
int __wrap_io_uring_queue_init(unsigned n, struct io_uring *r, unsigned fl);
int __wrap_io_uring_queue_init_params(unsigned n, struct io_uring *r,
				      struct io_uring_params *p);
int __wrap_io_uring_submit(struct io_uring *r);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);
int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_munmap(void *addr, size_t len);

void *__wrap_malloc(size_t n)
{
	int e = tw_fail(TW_MALLOC);

	if (e) {
		errno = e;
		return NULL;
	}
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	int e = tw_fail(TW_MALLOC);

	if (e) {
		errno = e;
		return NULL;
	}
	return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	int e = tw_fail(TW_MALLOC);

	if (e) {
		errno = e;
		return NULL;
	}
	return __real_realloc(p, n);
}

void *__wrap_mmap(void *a, size_t l, int prot, int fl, int fd, off_t off)
{
	tw_mmap_fn hook = atomic_load(&mmap_hook);
	int e = tw_fail(TW_MMAP);

	if (hook)
		hook(l, fl, fd);

	if (e) {
		errno = e;
		return MAP_FAILED;
	}
	return __real_mmap(a, l, prot, fl, fd, off);
}

int __wrap_eventfd(unsigned v, int fl)
{
	int e = tw_fail(TW_EVENTFD);

	if (e) {
		errno = e;
		return -1;
	}
	return __real_eventfd(v, fl);
}

int __wrap_memfd_create(const char *name, unsigned fl)
{
	int e = tw_fail(TW_MEMFD);

	if (e) {
		errno = e;
		return -1;
	}
	return __real_memfd_create(name, fl);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
			  void *(*fn)(void *), void *arg)
{
	int e = tw_fail(TW_THREAD);

	return e ? e : __real_pthread_create(t, a, fn, arg);
}

int __wrap_io_uring_queue_init(unsigned n, struct io_uring *r, unsigned fl)
{
	int e = tw_fail(TW_URING);

	return e ? -e : __real_io_uring_queue_init(n, r, fl);
}

int __wrap_io_uring_queue_init_params(unsigned n, struct io_uring *r,
				      struct io_uring_params *p)
{
	int e = tw_fail(TW_URING);

	return e ? -e : __real_io_uring_queue_init_params(n, r, p);
}

int __wrap_io_uring_submit(struct io_uring *r)
{
	int e = tw_fail(TW_SUBMIT);

	return e ? -e : __real_io_uring_submit(r);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	tw_write_fn hook = atomic_load(&write_hook);
	int e = hook ? hook(fd) : 0;

	if (e) {
		errno = e;
		return -1;
	}
	return __real_write(fd, buf, n);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	tw_read_fn hook = atomic_load(&read_hook);
	ssize_t ret = __real_read(fd, buf, n);
	int e = errno;

	if (hook)
		hook(fd, buf, ret);
	errno = e;
	return ret;
}

/*
 * Every ioctl the library makes passes one argument: a pointer, or an int
 * (taken as a pointer, from the same register, by the x86-64 and aarch64
 * calling conventions).
 */
int __wrap_ioctl(int fd, unsigned long req, ...)
{
	tw_ioctl_fn hook = atomic_load(&ioctl_hook);
	va_list ap;
	void *arg;
	int ret, e;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	ret = __real_ioctl(fd, req, arg);
	if (hook) {
		e = errno;
		hook(fd, req, arg, ret);
		errno = e;
	}
	return ret;
}

int __wrap_munmap(void *addr, size_t len)
{
	tw_munmap_fn hook = atomic_load(&munmap_hook);

	if (hook)
		hook(addr, len);
	return __real_munmap(addr, len);
}
