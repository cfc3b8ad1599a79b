/* SPDX-License-Identifier: MIT */
/*
 * compat.h - userfaultfd definitions newer than the installed headers.
 * Debian 12 ships 6.1 UAPI headers; the kernels we run on may be newer.
 * Every feature defined here is also detected at run time from the
 * UFFDIO_API answer before it is used.
 */
#ifndef FC_COMPAT_H
#define FC_COMPAT_H

#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC 0xAA
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#endif
