/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - userfaultfd: opening it (with the unprivileged fallbacks),
 * registering views, and the ioctls that resolve faults.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "uffd.h"

/* Open a raw uffd: 0 = syscall, 1 = /dev/userfaultfd, 2 = user-mode only. */
static int open_raw(int how, bool *user_mode_only)
{
	int fd, dev;

	switch (how) {
	case 0:
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		break;
	case 1:
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			return -errno;
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		break;
	default:
		fd = (int)syscall(SYS_userfaultfd,
				  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		*user_mode_only = true;
		break;
	}
	return fd < 0 ? -errno : fd;
}

/**
 * fc__uffd_open - open a userfaultfd with the features the cache needs.
 * @want: required UFFD_FEATURE_* bits (MINOR_SHMEM, ...); optional ones
 *        (POISON, THREAD_ID) are enabled when offered.
 * @features: set to the features enabled.
 * @user_mode_only: set when only user-mode faults can be handled: no
 *        privilege and no access to /dev/userfaultfd.
 *
 * Tries, in order: the syscall (privileged or vm.unprivileged_userfaultfd=1),
 * /dev/userfaultfd, and the syscall with UFFD_USER_MODE_ONLY.
 * Return: the descriptor, or -EPERM / -ENOSYS when userfaultfd is
 * unavailable or lacks a required feature.
 */
int fc__uffd_open(uint64_t want, uint64_t *features, bool *user_mode_only)
{
	uint64_t optional = UFFD_FEATURE_POISON | UFFD_FEATURE_THREAD_ID;
	struct uffdio_api api;
	int how, fd = -ENOSYS, first_err = 0;

	*user_mode_only = false;
	for (how = 0; how < 3; how++) {
		fd = open_raw(how, user_mode_only);
		if (fd >= 0)
			break;
		if (!first_err || fd == -EPERM)
			first_err = fd;
	}
	if (fd < 0)
		return first_err == -ENOENT || first_err == -EACCES ? -EPERM
								    : first_err;
	api.api = UFFD_API;
	api.features = want | optional;
	if (ioctl(fd, UFFDIO_API, &api) == 0)
		goto ok;
	/*
	 * A uffd takes UFFDIO_API once, so retrying with fewer (optional)
	 * features costs a new descriptor.
	 */
	close(fd);
	fd = open_raw(how, user_mode_only);
	if (fd < 0)
		return fd;
	api.api = UFFD_API;
	api.features = want;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -ENOSYS;
	}
ok:
	if ((api.features & want) != want) {
		close(fd);
		return -ENOSYS;
	}
	*features = api.features;
	return fd;
}

/*
 * Register a view for missing faults: a shared view of the store (the
 * kernel maps the pages the store holds; only a page it lacks faults to
 * us), or in copy mode a private anonymous one. 0 / -errno.
 */
int fc__uffd_register(int uffd, void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)addr, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	uint64_t need = (uint64_t)1 << _UFFDIO_COPY;

	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (!(reg.ioctls & need))
		return -ENOSYS;
	return 0;
}

int fc__uffd_wake(int uffd, char *addr, size_t len)
{
	struct uffdio_range r = { (uintptr_t)addr, len };

	return ioctl(uffd, UFFDIO_WAKE, &r) ? -errno : 0;
}

/* One UFFDIO_COPY from @src. Bytes done or -1/errno. */
static int64_t fill(int uffd, char *lo, char *hi, const char *src, bool wake)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)lo,
		.src = (uintptr_t)src,
		.len = (uint64_t)(hi - lo),
		.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
	};

	if (ioctl(uffd, UFFDIO_COPY, &c) == 0)
		return (int64_t)c.len;
	return errno == EAGAIN && c.copy > 0 ? c.copy : -1;
}

/**
 * fc__uffd_copy - UFFDIO_COPY @len bytes from @src to @dst (both page
 * aligned, @dst registered with @uffd), as far as it goes: past partial
 * copies, and retrying EAGAIN with nothing done (the mm is changing) a
 * bounded number of times. @wake: wake threads waiting on what is copied.
 * Return: bytes copied; less than @len when a page could not be, with
 * errno saying why (EEXIST: something is there already).
 * Context: any thread; under cache->lock when fc__store_write puts a held
 * page or a split chunk's pages in the store (types.h lists the system
 * calls under it). May block briefly (mmap_lock).
 */
uint64_t fc__uffd_copy(int uffd, char *dst, const char *src, uint64_t len,
		       bool wake)
{
	uint64_t done = 0;
	int tries = 0;

	while (done < len) {
		int64_t n = fill(uffd, dst + done, dst + len, src + done, wake);

		if (n > 0)
			done += (uint64_t)n;
		else if (errno != EAGAIN || ++tries >= 100)
			break;
	}
	return done;
}

/**
 * fc__uffd_install - copy store pages into a private view (FC_CONFIG_COPY).
 * @lo, @hi: system-page aligned range of the view; the store holds
 *           up-to-date data for all of it and the caller pins it.
 * @src: the alias address of @lo's data.
 * @wake: wake threads waiting on the range.
 *
 * Stops at the first page already mapped (a neighbour installed earlier),
 * so a fault never costs more than a couple of ioctls. The first page is
 * woken even when it was already present (EEXIST does not wake).
 * Context: the thread resolving a fault (a handler, or the faulting
 * thread itself inline), no locks held. May block briefly (mmap_lock).
 * Return: bytes installed, or -errno (-ENOENT/-EINVAL: view gone).
 */
int64_t fc__uffd_install(int uffd, char *lo, char *hi, const char *src,
			 bool wake)
{
	int tries = 0;

	if (lo >= hi)
		return 0;
	for (;;) {
		int64_t n = fill(uffd, lo, hi, src, wake);

		if (n > 0)
			return n;	/* all, or up to a present page */
		if (errno == EEXIST) {
			if (wake)
				fc__uffd_wake(uffd, lo, (size_t)(hi - lo));
			return 0;
		}
		/* EAGAIN with nothing done: the mm is changing, retry */
		if (errno != EAGAIN || ++tries > 100)
			return -errno;
	}
}

/**
 * fc__uffd_poison - make touching [addr, addr+len) raise SIGBUS.
 * The woken thread gets SIGBUS with si_addr at its fault address. The
 * marker stays until MADV_DONTNEED (fc_advise FC_ADVICE_DONTNEED) or unmap.
 * A page present there already (EEXIST: the kernel mapped it since the
 * fault, at another thread's touch) is left, and the range woken: the
 * kernel wakes no one on an error, and the faulting thread would sleep
 * for ever; its retry reads the page.
 * Return: 0, or -errno (-ENOSYS: kernel lacks UFFDIO_POISON).
 */
static atomic_bool poison_off;	/* test hook: lock: none, atomic */

void fc__uffd_disable_poison(bool off)
{
	atomic_store(&poison_off, off);
}

int fc__uffd_poison(int uffd, char *addr, size_t len)
{
	struct uffdio_poison p = { .range = { (uintptr_t)addr, len } };

	if (atomic_load(&poison_off))
		return -ENOSYS;

	if (ioctl(uffd, UFFDIO_POISON, &p) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	fc__uffd_wake(uffd, addr, len);
	return 0;
}
