/* SPDX-License-Identifier: MIT */
/*
 * ops.c - what a call on routed memory becomes, under op_lock.
 *
 * Each routed mapping is one mapping of libfaultcache (an entry of the
 * table). The kernel's operations on part of a mapping are built from
 * two of libfaultcache's, with the preload's own bookkeeping:
 *   split    fc_map_fixed(3) of a part of a mapping, over itself, with
 *            the same file and offset: libfaultcache cuts the mapping in
 *            place (up to three mappings, the views never unmapped);
 *   unmap    fc_unmap(3) of a whole mapping, then a wait until its
 *            placeholder is gone (pending.c), so that the range is free
 *            when munmap returns, as the kernel's is.
 * munmap of a part is split, then unmap; mremap that shrinks unmaps the
 * tail; one that grows maps the file anew, at a new address (MAYMOVE) or
 * over room reserved after the mapping (fc_map_fixed grows it in place),
 * and unmaps the old part. A routed mapping handed back to the kernel
 * (retire: a call libfaultcache cannot honour) gets a kernel mapping of
 * the file over its view in one mmap(MAP_FIXED), so that a thread
 * reading it never faults, and libfaultcache's placeholder for it is
 * suppressed (a TAKEN slot).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include <faultcache.h>

#include "preload.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25	/* Linux 6.1; glibc 2.36's headers lack it */
#endif

static pthread_mutex_t op_lock = PTHREAD_MUTEX_INITIALIZER;
/* libfaultcache cannot work in this process (no userfaultfd): stop */
static bool broken;

void fcp_op_begin(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	pthread_mutex_lock(&op_lock);
	fcp_depth++;
}

void fcp_op_end(const sigset_t *old)
{
	fcp_depth--;
	pthread_mutex_unlock(&op_lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static uintptr_t round_up(size_t len)
{
	return (len + fcp_page - 1) & ~(uintptr_t)(fcp_page - 1);
}

/* The entry holding [@lo, @hi) whole, at *@i. */
static struct fcp_map *entry_of(uintptr_t lo, uintptr_t hi, size_t *i)
{
	struct fcp_map *e;

	if (fcp_tab_find(lo, hi, i) != 1)
		return NULL;
	e = fcp_tab_at(*i);
	return e->base <= lo && e->base + e->len >= hi ? e : NULL;
}

/* libfaultcache failed for want of userfaultfd or io_uring: stop trying. */
static void note_failure(int err)
{
	if (err == EPERM || err == ENOSYS)
		broken = true;
}

/* ---- split, unmap, retire ---- */

/*
 * Make [@a, @b) of the entry holding it a mapping (and entry) of its
 * own. 0, or -1 with errno set (the entry unchanged).
 */
static int split(uintptr_t a, uintptr_t b)
{
	struct fcp_map *e, mid;
	size_t i;
	int fd;

	e = entry_of(a, b, &i);
	if (!e) {
		errno = EFAULT;
		return -1;
	}
	if (e->base == a && e->base + e->len == b)
		return 0;
	fd = fcp_file_fd(e->file, false);
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (!fc_map_fixed(NULL, (void *)a, fd, (off_t)(e->off + (a - e->base)),
			  b - a, 0))
		return -1;
	mid = *e;
	mid.base = a;
	mid.len = b - a;
	mid.off = e->off + (a - e->base);
	fcp_tab_trim(a, b);
	fcp_tab_insert(&mid);	/* room: trimmed */
	/* the new mapping starts with no advice; the kernel's keeps it */
	if (mid.advice != FC_ADVICE_NORMAL)
		fc_advise((void *)a, b - a, mid.advice);
	return 0;
}

/*
 * Unmap the whole entry at @base. FCP_WAIT: return once the range is
 * free; FCP_TAKEN: the caller has put a kernel mapping over it, which
 * libfaultcache's placeholder must not replace.
 */
static void unmap_entry(uintptr_t base, int kind)
{
	struct fcp_map *e;
	size_t i;
	int slot;

	e = entry_of(base, base + 1, &i);
	if (!e || e->base != base)
		return;
	slot = fcp_pending_add(base, e->len, kind);
	fcp_tab_remove(base);
	if (fc_unmap((void *)base)) {
		fcp_pending_drop(slot);
		fcp_fallback("fc_unmap");
		return;
	}
	if (kind == FCP_WAIT)
		fcp_pending_wait(slot);
}

/*
 * Hand entry @i to the kernel: a kernel mapping of its file, with @prot
 * and @flags (MAP_SHARED or MAP_PRIVATE), over its view; of a descriptor
 * open for writing when @writable (a shared mapping to be made writable
 * needs one). 0, or -1.
 */
int fcp_retire(size_t i, int prot, int flags, bool writable)
{
	struct fcp_map e = *fcp_tab_at(i);
	int fd = fcp_file_fd(e.file, writable);

	if (fd < 0 || fcp_raw_mmap((void *)e.base, e.len, prot,
				   (flags & MAP_TYPE) | MAP_FIXED, fd,
				   (off_t)e.off) == MAP_FAILED)
		return -1;
	unmap_entry(e.base, FCP_TAKEN);
	atomic_fetch_add(&fcp_count.retired, 1);
	return 0;
}

/* Hand every mapping of @f to the kernel (a lease break, a writer). */
void fcp_retire_file(struct fcp_file *f)
{
	size_t i = 0;

	while (i < fcp_tab_count()) {
		struct fcp_map *e = fcp_tab_at(i);

		if (e->file == f && !fcp_retire(i, e->prot, e->flags, false))
			continue;	/* entry i is the next one now */
		i++;
	}
}

/* ---- mmap ---- */

/* Reserve [@addr, +@len) if nothing is mapped there. */
static bool reserve(void *addr, size_t len)
{
	void *r = fcp_raw_mmap(addr, len, PROT_NONE, MAP_PRIVATE |
			       MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE, -1, 0);

	if (r == MAP_FAILED)
		return false;
	if (r != addr) {	/* a kernel before 4.17 took it for a hint */
		fcp_raw_munmap(r, len);
		return false;
	}
	return true;
}

/* libfaultcache's mapping for fcp_route. NULL with errno set. */
static void *route_map(void *addr, size_t len, int flags, int fd, off_t off)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + round_up(len);
	void *p;

	if (flags & MAP_FIXED_NOREPLACE) {
		fcp_pending_wait_range(lo, hi);
		if (fcp_tab_find(lo, hi, &(size_t){ 0 })) {
			errno = EEXIST;
			return NULL;
		}
		if (!reserve(addr, hi - lo)) {
			errno = EEXIST;
			return NULL;
		}
		p = fc_map_fixed(NULL, addr, fd, off, len, 0);
		if (!p)
			fcp_raw_munmap(addr, hi - lo);
		return p;
	}
	if (flags & MAP_FIXED) {
		fcp_pending_wait_range(lo, hi);
		p = fc_map_fixed(NULL, addr, fd, off, len, 0);
		if (p)
			fcp_tab_trim(lo, hi);	/* as libfaultcache cut them */
		return p;
	}
	/* a hint, honoured where the room is free, as the kernel does */
	if (addr && !(lo % fcp_page) && hi > lo && reserve(addr, hi - lo)) {
		p = fc_map_fixed(NULL, addr, fd, off, len, 0);
		if (p)
			return p;
		fcp_raw_munmap(addr, hi - lo);
	}
	return fc_map(NULL, fd, off, len, 0);
}

/**
 * fcp_route - mmap(@addr, @len, PROT_READ, @flags, @fd, @off) of file @f,
 * through libfaultcache. When it cannot be (no memory, no userfaultfd,
 * the table full), the kernel's mmap, counted as a fallback.
 * Return: as mmap. Context: op_lock held.
 */
void *fcp_route(void *addr, size_t len, int prot, int flags, int fd,
		off_t off, struct fcp_file *f)
{
	struct fcp_map e;
	void *p = NULL;

	if (!broken && fcp_tab_count() < (1u << 16) - 3) {
		p = route_map(addr, len, flags, fd, off);
		if (!p && errno == EEXIST)
			return MAP_FAILED;	/* the kernel's answer too */
		if (!p)
			note_failure(errno);
	}
	if (!p) {
		fcp_fallback("route");
		if ((flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE))
			return fcp_map_over(addr, len, prot, flags, fd, off);
		return fcp_raw_mmap(addr, len, prot, flags, fd, off);
	}
	memset(&e, 0, sizeof(e));
	e.base = (uintptr_t)p;
	e.len = round_up(len);
	e.off = (uint64_t)off;
	e.file = f;
	e.prot = prot;
	e.flags = (flags & MAP_TYPE) == MAP_PRIVATE ? MAP_PRIVATE : MAP_SHARED;
	e.advice = FC_ADVICE_NORMAL;
	e.maywrite = (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	fcp_tab_insert(&e);
	atomic_fetch_add(&fcp_count.routed, 1);
	if (flags & MAP_POPULATE)
		fc_advise(p, e.len, FC_ADVICE_WILLNEED);
	return p;
}

/**
 * fcp_map_over - a mapping the kernel makes (anonymous, or a file not
 * routed) with MAP_FIXED over a range holding routed mappings: the
 * routed parts are cut out and handed over, in one mmap, so that the new
 * mapping replaces them as it replaces anything else.
 * Return: as mmap. Context: op_lock held.
 */
void *fcp_map_over(void *addr, size_t len, int prot, int flags, int fd,
		   off_t off)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + round_up(len), part[2];
	uintptr_t bases[64];
	size_t i, n, k = 0;
	void *p;

	fcp_pending_wait_range(lo, hi);
	if (flags & MAP_FIXED_NOREPLACE)	/* routed ranges are mapped */
		return fcp_raw_mmap(addr, len, prot, flags, fd, off);
	n = fcp_tab_find(lo, hi, &i);
	while (n-- && k < 64) {
		struct fcp_map *e = fcp_tab_at(i);

		part[0] = e->base > lo ? e->base : lo;
		part[1] = e->base + e->len < hi ? e->base + e->len : hi;
		if (split(part[0], part[1])) {
			/* cannot cut it out: the whole of it to the kernel */
			if (fcp_retire(i, e->prot, e->flags, false))
				return MAP_FAILED;
			n = fcp_tab_find(part[1], hi, &i);
			continue;
		}
		bases[k++] = part[0];
		n = fcp_tab_find(part[1], hi, &i);
	}
	p = fcp_raw_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return p;	/* the routed parts stay, cut */
	for (i = 0; i < k; i++)
		unmap_entry(bases[i], FCP_TAKEN);
	return p;
}

/* ---- munmap ---- */

/*
 * The next routed piece of [@pos, @hi): [*@a, *@b) of mapping *@i, the
 * kernel's memory before it being [@pos, *@a). Without one, false and
 * *@a = *@b = @hi. Context: op_lock held.
 */
static bool next_piece(uintptr_t pos, uintptr_t hi, size_t *i, uintptr_t *a,
		       uintptr_t *b)
{
	struct fcp_map *e;

	if (!fcp_tab_find(pos, hi, i)) {
		*a = *b = hi;
		return false;
	}
	e = fcp_tab_at(*i);
	*a = e->base > pos ? e->base : pos;
	*b = e->base + e->len < hi ? e->base + e->len : hi;
	return true;
}

/*
 * munmap(@lo, @hi - @lo) of a range holding routed mappings: each routed
 * part split off and unmapped (the range free when this returns), the
 * rest unmapped by the kernel. Context: op_lock held.
 */
int fcp_munmap(uintptr_t lo, uintptr_t hi)
{
	uintptr_t pos = lo, a, b;
	size_t i;
	int ret = 0;

	while (pos < hi && next_piece(pos, hi, &i, &a, &b)) {
		struct fcp_map *e = fcp_tab_at(i);

		if (a > pos && fcp_raw_munmap((void *)pos, a - pos))
			ret = -1;
		if (!split(a, b)) {
			unmap_entry(a, FCP_WAIT);
		} else if (fcp_retire(i, e->prot, e->flags, false) ||
			   fcp_raw_munmap((void *)a, b - a)) {
			return -1;	/* errno: ENOMEM as the kernel's split */
		} else {
			fcp_fallback("munmap");
		}
		pos = b;
	}
	if (pos < hi && fcp_raw_munmap((void *)pos, hi - pos))
		ret = -1;
	return ret;
}

/* ---- mremap ---- */

/*
 * A new routed mapping of entry @e's file, [@fo, +@len), at @at or
 * anywhere, with @e's protection and advice (mremap moves a mapping with
 * its flags).
 */
static void *map_again(const struct fcp_map *e, uint64_t fo, size_t len,
		       uintptr_t at)
{
	struct fcp_map n = *e;
	int fd = fcp_file_fd(e->file, false);
	void *p;

	if (fd < 0)
		return NULL;
	if (at) {
		p = fc_map_fixed(NULL, (void *)at, fd, (off_t)fo, len, 0);
		if (p)
			fcp_tab_trim(at, at + round_up(len));
	} else {
		p = fc_map(NULL, fd, (off_t)fo, len, 0);
	}
	if (!p)
		return NULL;
	n.base = (uintptr_t)p;
	n.len = round_up(len);
	n.off = fo;
	if (fcp_tab_insert(&n)) {
		fc_unmap(p);
		return NULL;
	}
	if (n.prot == PROT_NONE)
		fcp_raw_mprotect(p, n.len, PROT_NONE);
	if (n.advice != FC_ADVICE_NORMAL)
		fc_advise(p, n.len, n.advice);
	return p;
}

/* The kernel's mremap, after the routed mapping went to it. */
static void *mremap_fallback(size_t i, uintptr_t old, size_t old_len,
			     size_t new_len, int flags, uintptr_t na)
{
	struct fcp_map *e = fcp_tab_at(i);

	fcp_fallback("mremap");
	if (fcp_retire(i, e->prot, e->flags, false))
		return MAP_FAILED;
	return fcp_raw_mremap((void *)old, old_len, new_len, flags, (void *)na);
}

/**
 * fcp_mremap - mremap(2) of memory that holds, or is moved over, routed
 * mappings. The old range must lie in one mapping (EFAULT otherwise, as
 * the kernel says for several).
 * Return: as mremap. Context: op_lock held.
 */
void *fcp_mremap(uintptr_t old, size_t old_len, size_t new_len, int flags,
		 uintptr_t na)
{
	uintptr_t ol = round_up(old_len), nl = round_up(new_len);
	struct fcp_map *e, copy;
	uint64_t fo;
	size_t i;
	void *p;

	e = entry_of(old, old + (ol ? ol : fcp_page), &i);
	if (!e) {
		if (fcp_tab_find(old, old + (ol ? ol : fcp_page), &i)) {
			errno = EFAULT;
			return MAP_FAILED;
		}
		/* kernel memory moved over routed mappings */
		if (flags & MREMAP_FIXED) {
			fcp_pending_wait_range(na, na + nl);
			if (fcp_map_over((void *)na, nl, PROT_NONE, MAP_PRIVATE |
					 MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
			    MAP_FAILED)
				return MAP_FAILED;
		}
		return fcp_raw_mremap((void *)old, old_len, new_len, flags,
				      (void *)na);
	}
	copy = *e;
	fo = e->off + (old - e->base);
	if (!new_len || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED |
				   MREMAP_DONTUNMAP)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (flags & MREMAP_DONTUNMAP)
		return mremap_fallback(i, old, old_len, new_len, flags, na);
	if (!old_len) {		/* a second mapping of the same pages */
		if (!(flags & MREMAP_MAYMOVE)) {
			errno = EINVAL;
			return MAP_FAILED;
		}
		p = map_again(&copy, fo, new_len,
			      flags & MREMAP_FIXED ? na : 0);
		return p ? p : MAP_FAILED;
	}
	if (flags & MREMAP_FIXED) {
		if (na % fcp_page || (na < old + ol && na + nl > old)) {
			errno = EINVAL;
			return MAP_FAILED;
		}
		fcp_pending_wait_range(na, na + nl);
		p = map_again(&copy, fo, new_len, na);
		if (!p)
			return mremap_fallback(i, old, old_len, new_len, flags,
					       na);
		fcp_munmap(old, old + ol);
		return p;
	}
	if (nl <= ol) {		/* shrink in place */
		if (nl < ol)
			fcp_munmap(old + nl, old + ol);
		return (void *)old;
	}
	if (flags & MREMAP_MAYMOVE) {
		/*
		 * The kernel may move it: a new mapping, and the old one goes
		 * (with no thread left in it: the program uses the new
		 * address). Cached pages stay cached.
		 */
		p = map_again(&copy, fo, new_len, 0);
		if (!p)
			return mremap_fallback(i, old, old_len, new_len, flags,
					       na);
		fcp_munmap(old, old + ol);
		return p;
	}
	/* in place, over room reserved after it, or nothing (ENOMEM) */
	if (old + ol != e->base + e->len || !reserve((void *)(old + ol), nl - ol)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	if (split(old, old + ol) || !map_again(&copy, fo, new_len, old)) {
		fcp_raw_munmap((void *)(old + ol), nl - ol);
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return (void *)old;
}

/* ---- madvise, mprotect, mincore ---- */

/* The effect of @advice on a routed part [@a, @b) of entry @e. */
static int advise_part(struct fcp_map *e, uintptr_t a, uintptr_t b,
		       int advice)
{
	int fa = -1, ret;
	size_t i;

	/*
	 * Read-ahead advice and fork's are per mapping: advice on a part of
	 * one gives the part a mapping of its own, as the kernel splits its
	 * own mapping.
	 */
	if (((advice >= 0 && advice <= MADV_SEQUENTIAL) || advice == MADV_DONTFORK ||
	     advice == MADV_DOFORK) &&
	    (a != e->base || b != e->base + e->len)) {
		if (split(a, b))
			return -errno;
		e = entry_of(a, b, &i);
	}
	switch (advice) {
	case MADV_NORMAL: fa = FC_ADVICE_NORMAL; break;
	case MADV_RANDOM: fa = FC_ADVICE_RANDOM; break;
	case MADV_SEQUENTIAL: fa = FC_ADVICE_SEQUENTIAL; break;
	case MADV_WILLNEED:
	case MADV_POPULATE_READ: fa = FC_ADVICE_WILLNEED; break;
	case MADV_DONTNEED: fa = FC_ADVICE_DONTNEED; break;
	case MADV_DONTFORK: e->dontfork = true; return 0;
	case MADV_DOFORK: e->dontfork = false; return 0;
	case MADV_DONTDUMP:
	case MADV_DODUMP:
		return fcp_raw_madvise((void *)a, b - a, advice) ? -errno : 0;
	case MADV_REMOVE: return -EACCES;	/* needs a writable mapping */
	case MADV_POPULATE_WRITE: return -EFAULT;
	case MADV_FREE:
	case MADV_WIPEONFORK: return -EINVAL;	/* anonymous memory only */
	case MADV_KEEPONFORK:
	case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE:
	case MADV_MERGEABLE:
	case MADV_UNMERGEABLE:
	case MADV_COLD:
	case MADV_PAGEOUT:
	case MADV_COLLAPSE:
		return 0;	/* advice the cache keeps to itself */
	default:
		return -EINVAL;
	}
	ret = fc_advise((void *)a, b - a, fa);
	if (!ret && fa <= FC_ADVICE_SEQUENTIAL)
		e->advice = fa;
	return ret;
}

/*
 * madvise over [@lo, @hi): routed parts as libfaultcache's advice, the
 * rest the kernel's. 0 or -1 with errno set (ENOMEM for a hole, after
 * the rest was advised, as the kernel does). Context: op_lock held.
 */
int fcp_madvise(uintptr_t lo, uintptr_t hi, int advice)
{
	uintptr_t pos = lo, a, b;
	int err = 0, r;
	size_t i;

	while (pos < hi) {
		next_piece(pos, hi, &i, &a, &b);
		if (a > pos && fcp_raw_madvise((void *)pos, a - pos, advice) &&
		    (!err || errno == ENOMEM))
			err = errno;
		if (b > a) {
			r = advise_part(fcp_tab_at(i), a, b, advice);
			if (r && (!err || err != ENOMEM))
				err = -r;
		}
		pos = b;
	}
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * mprotect of routed memory. Read-only and inaccessible are the view's
 * own; write access is the kernel's: EACCES for a shared mapping made
 * from a descriptor not open for writing (as the kernel says), else the
 * mapping is handed to the kernel first. Context: op_lock held.
 */
int fcp_mprotect(uintptr_t lo, uintptr_t hi, int prot)
{
	uintptr_t pos = lo, a, b;
	size_t i;
	int ret = 0;

	while (pos < hi && next_piece(pos, hi, &i, &a, &b)) {
		struct fcp_map *e = fcp_tab_at(i);

		if (a > pos && fcp_raw_mprotect((void *)pos, a - pos, prot))
			return -1;
		if ((prot & PROT_WRITE) && e->flags == MAP_SHARED &&
		    (!e->maywrite || fcp_file_fd(e->file, true) < 0)) {
			errno = EACCES;
			return -1;
		}
		if (prot & ~PROT_READ) {
			/* exec or write: the kernel's mapping */
			bool shared_w = (prot & PROT_WRITE) &&
					e->flags == MAP_SHARED;
			struct fcp_file *f = e->file;

			fcp_fallback("mprotect");
			if (fcp_retire(i, e->prot, e->flags, shared_w))
				return -1;
			if (shared_w) {	/* writes the routed others miss */
				f->gone = true;
				fcp_retire_file(f);
			}
		} else if (a == e->base && b == e->base + e->len) {
			e->prot = prot;
		}
		if (fcp_raw_mprotect((void *)a, b - a, prot))
			ret = -1;
		pos = b;
	}
	if (pos < hi && fcp_raw_mprotect((void *)pos, hi - pos, prot))
		ret = -1;
	return ret;
}

/*
 * mincore over [@lo, @hi): routed parts from the cache (fc_mincore(3)),
 * the rest from the kernel. Context: op_lock held.
 */
int fcp_mincore(uintptr_t lo, uintptr_t hi, unsigned char *vec)
{
	uintptr_t pos = lo, a, b;
	size_t i;
	int r;

	while (pos < hi) {
		next_piece(pos, hi, &i, &a, &b);
		if (a > pos &&
		    fcp_raw_mincore((void *)pos, a - pos,
				    vec + (pos - lo) / fcp_page))
			return -1;
		if (b > a) {
			r = fc_mincore((void *)a, b - a,
				       vec + (a - lo) / fcp_page);
			if (r) {
				errno = -r;
				return -1;
			}
		}
		pos = b;
	}
	return 0;
}

/* ---- fork ---- */

void fcp_ops_fork_prepare(void)
{
	pthread_mutex_lock(&op_lock);
}

void fcp_ops_fork_parent(void)
{
	pthread_mutex_unlock(&op_lock);
}

/*
 * In the child: libfaultcache's views were not inherited (MADV_DONTFORK)
 * and its default cache is new. Each routed mapping is mapped again at
 * its address, in the child's cache, with its protection and advice;
 * one advised MADV_DONTFORK is left out, as the kernel leaves it; one
 * that cannot be routed again is the kernel's mapping of the file.
 */
void fcp_ops_fork_child(void)
{
	size_t i = 0;

	pthread_mutex_init(&op_lock, NULL);
	fcp_tab_fork_child();
	fcp_pending_fork_child();
	fcp_depth++;
	fcp_files_fork_child();
	while (i < fcp_tab_count()) {
		struct fcp_map *e = fcp_tab_at(i);
		int fd = fcp_file_fd(e->file, false);

		if (e->dontfork) {
			fcp_tab_remove(e->base);
			continue;
		}
		if (fd >= 0 && !broken &&
		    fc_map_fixed(NULL, (void *)e->base, fd, (off_t)e->off,
				 e->len, 0)) {
			if (e->prot == PROT_NONE)
				fcp_raw_mprotect((void *)e->base, e->len,
						 PROT_NONE);
			if (e->advice != FC_ADVICE_NORMAL)
				fc_advise((void *)e->base, e->len, e->advice);
			atomic_fetch_add(&fcp_count.routed, 1);
			i++;
			continue;
		}
		note_failure(errno);
		fcp_fallback("fork");
		if (fd >= 0)
			fcp_raw_mmap((void *)e->base, e->len, e->prot,
				     e->flags | MAP_FIXED, fd, (off_t)e->off);
		fcp_tab_remove(e->base);
	}
	fcp_depth--;
}

/* A writable shared kernel mapping of a routed file: its routed go. */
void fcp_writable_mapping(const struct stat *st)
{
	struct fcp_file *f;
	sigset_t old;

	fcp_op_begin(&old);
	f = fcp_file_find(st->st_dev, st->st_ino);
	if (f && !f->gone) {
		f->gone = true;
		fcp_retire_file(f);
	}
	fcp_op_end(&old);
}
