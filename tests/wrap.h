/* SPDX-License-Identifier: MIT */
/*
 * wrap.h - failure injection at the C library's door, for white-box tests.
 *
 * A test linked with fc_add_test(... WRAP) has every call that the
 * library's objects (and the test's own) make to malloc, calloc, realloc,
 * mmap, eventfd, memfd_create, pthread_create, io_uring_queue_init and
 * io_uring_queue_init_params, io_uring_submit, write, read, ioctl and
 * munmap go through __wrap_NAME (ld --wrap), which counts them and can
 * make one fail as it would for want of memory or descriptors. write,
 * read, ioctl, munmap and mmap also call a test's hook (below): write's
 * may fail it, the others only watch or stop the caller. The C
 * library's own internal calls and those of shared libraries are not
 * wrapped.
 *
 * Calls are counted only while armed (tw_arm); the Nth counted call of the
 * chosen kinds fails with the errno given, once. Counting is process-wide:
 * the library's threads count too, so a test arms around one API call and
 * does nothing else meanwhile.
 */
#ifndef FC_TEST_WRAP_H
#define FC_TEST_WRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum tw_kind {
	TW_MALLOC = 1u << 0,	/* malloc, calloc, realloc */
	TW_MMAP = 1u << 1,
	TW_URING = 1u << 2,	/* io_uring_queue_init{,_params} */
	TW_EVENTFD = 1u << 3,
	TW_MEMFD = 1u << 4,
	TW_THREAD = 1u << 5,	/* pthread_create */
	TW_SUBMIT = 1u << 6,	/* io_uring_submit */
	TW_ALL = (1u << 7) - 1,
};

/*
 * Count calls of @kinds from now on; the @nth (1 = the next one) fails
 * with @err (0: none fails, only count).
 */
void tw_arm(unsigned kinds, long nth, int err);
/* Stop counting. Return: the calls of the armed kinds counted. */
long tw_disarm(void);
/* Did the armed failure happen? */
bool tw_failed(void);

/*
 * @hook is called by __wrap_write before each write, on every thread,
 * with the descriptor: it returns 0 for the write to go ahead, or the
 * errno it fails with. NULL: none.
 */
typedef int (*tw_write_fn)(int fd);
void tw_write_hook(tw_write_fn hook);

/*
 * @hook is called by __wrap_ioctl after each ioctl, on every thread, with
 * its descriptor, request, argument and result (errno as the ioctl left
 * it, and kept). NULL: none.
 */
typedef void (*tw_ioctl_fn)(int fd, unsigned long req, void *arg, int ret);
void tw_ioctl_hook(tw_ioctl_fn hook);

/*
 * @hook is called by __wrap_munmap before each munmap, on every thread,
 * with its range (it may stop the thread there). NULL: none.
 */
typedef void (*tw_munmap_fn)(void *addr, size_t len);
void tw_munmap_hook(tw_munmap_fn hook);

/*
 * @hook is called by __wrap_mmap before each mmap, on every thread, with
 * its length, flags and descriptor (it may stop the thread there). NULL:
 * none.
 */
typedef void (*tw_mmap_fn)(size_t len, int flags, int fd);
void tw_mmap_hook(tw_mmap_fn hook);

/*
 * @hook is called by __wrap_read after each read, on every thread, with
 * its descriptor, buffer and result (it may stop the thread there, with
 * what was read not yet acted on). NULL: none.
 */
typedef void (*tw_read_fn)(int fd, const void *buf, ssize_t ret);
void tw_read_hook(tw_read_fn hook);

#endif
