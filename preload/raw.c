/* SPDX-License-Identifier: MIT */
/*
 * raw.c - the kernel's memory calls, made with syscall(2). The preload
 * defines mmap, munmap and the rest itself, so it cannot call libc's (it
 * would call its own), and looking libc's up with dlsym(RTLD_NEXT) can
 * allocate and take the loader's lock: from inside malloc, a signal
 * handler or a constructor that may deadlock. syscall(2) does neither.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"

void *fcp_raw_mmap(void *addr, size_t len, int prot, int flags, int fd,
		   off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int fcp_raw_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

void *fcp_raw_mremap(void *old, size_t old_len, size_t new_len, int flags,
		     void *new_addr)
{
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags,
			       new_addr);
}

int fcp_raw_madvise(void *addr, size_t len, int advice)
{
	return (int)syscall(SYS_madvise, addr, len, advice);
}

int fcp_raw_mprotect(void *addr, size_t len, int prot)
{
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

int fcp_raw_msync(void *addr, size_t len, int flags)
{
	return (int)syscall(SYS_msync, addr, len, flags);
}

int fcp_raw_mincore(void *addr, size_t len, unsigned char *vec)
{
	return (int)syscall(SYS_mincore, addr, len, vec);
}
