/* SPDX-License-Identifier: MIT */
/*
 * io.c - reads through io_uring, one ring per handler thread.
 *
 * Custom backends (fc_map_backend) take the place of the ring for their
 * files: their read() is called here and completes through
 * fc_backend_complete(), which hands the result to the submitting handler.
 *
 * Only the owning handler thread touches its ring. Reads land in the
 * file's alias of the store. O_DIRECT is used where the file system takes
 * it (aligned store pages, offsets and lengths); EINVAL from it switches
 * the file to buffered reads for good (tmpfs on older kernels, odd block
 * sizes). Short reads are continued from where they stopped, -EAGAIN is
 * resubmitted a bounded number of times, and a full submission queue is
 * flushed and retried.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"

#define FC_IO_MAX_AGAIN 64

static struct {
	atomic_ullong off;
	atomic_int count;
	atomic_int err;
} inject;

/* Test hook: reads covering file offset @off fail with -@err, @count times. */
void fc__io_inject_error(uint64_t off, int count, int err)
{
	atomic_store(&inject.off, off);
	atomic_store(&inject.err, err);
	atomic_store(&inject.count, count);
}

static int injected(const struct fc_io *io)
{
	uint64_t ps = io->file->cache->cfg.page_size;
	uint64_t off = atomic_load(&inject.off);
	int n = atomic_load(&inject.count);

	if (n <= 0 || off < io->index * ps || off >= (io->index + io->nr) * ps)
		return 0;
	if (!atomic_compare_exchange_strong(&inject.count, &n, n - 1))
		return 0;
	return -atomic_load(&inject.err);
}

int fc__io_ring_init(struct fc_handler *h)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	ret = io_uring_queue_init_params(FC_RING_ENTRIES, &h->ring, &p);
	if (ret)
		return ret;
	h->ring_ok = true;
	/*
	 * Without NODROP the kernel may drop completions when the CQ is full;
	 * we never have more than FC_RING_ENTRIES reads plus two polls in
	 * flight and the CQ is twice the SQ, but say so if it is missing.
	 */
	if (!(p.features & IORING_FEAT_NODROP))
		return -ENOSYS;
	return 0;
}

struct fc_io *fc__io_new(struct fc_file *f, uint64_t index, uint32_t nr)
{
	struct fc_io *io = calloc(1, sizeof(*io));
	uint64_t ps = f->cache->cfg.page_size;
	uint64_t off = index * ps, end = (index + nr) * ps;

	if (!io)
		return NULL;
	if (end > (uint64_t)f->size)
		end = (uint64_t)f->size;
	io->file = f;
	io->index = index;
	io->nr = nr;
	io->len = end > off ? end - off : 0;
	io->direct = atomic_load(&f->dfd) >= 0;
	return io;
}

void fc__io_free(struct fc_io *io)
{
	free(io);
}

void fc__io_queue(struct fc_handler *h, struct fc_io *io)
{
	io->next = h->to_submit;
	h->to_submit = io;
}

/* O_DIRECT needs the remaining offset and length block aligned. */
static bool direct_ok(const struct fc_io *io)
{
	int dfd = atomic_load(&io->file->dfd);

	return io->direct && dfd >= 0 && !(io->done & 511);
}

void fc_backend_complete(struct fc_backend_req *req, ssize_t result)
{
	struct fc_handler *h;
	struct fc_backend_req *top;
	uint64_t one = 1;

	if (!req || !req->io)
		return;
	h = req->io->h;
	req->res = result;
	top = atomic_load(&h->bdone);
	do
		req->next = top;
	while (!atomic_compare_exchange_weak(&h->bdone, &top, req));
	if (write(h->evfd, &one, sizeof(one)) < 0)
		return;	/* counter full: the handler is awake anyway */
}

/* Hand the rest of @io to its backend. */
static void backend_read(struct fc_handler *h, struct fc_io *io)
{
	struct fc_file *f = io->file;
	uint64_t off = io->index * f->cache->cfg.page_size + io->done;
	int ret;

	io->h = h;
	io->req.io = io;
	h->inflight++;
	ret = f->bops->read(f->bctx, off, f->alias + off,
			    (size_t)(io->len - io->done), &io->req);
	if (ret)
		fc_backend_complete(&io->req, ret < 0 ? ret : -EIO);
}

static bool prep_one(struct fc_handler *h, struct fc_io *io)
{
	struct fc_file *f = io->file;
	uint64_t off = io->index * f->cache->cfg.page_size + io->done;
	struct io_uring_sqe *sqe;
	uint64_t len = io->len - io->done;
	int fd;

	if (f->bops) {
		backend_read(h, io);
		return true;
	}
	sqe = io_uring_get_sqe(&h->ring);

	if (!sqe) {
		io_uring_submit(&h->ring);
		sqe = io_uring_get_sqe(&h->ring);
		if (!sqe)
			return false;
	}
	if (!direct_ok(io))
		io->direct = 0;
	fd = io->direct ? atomic_load(&f->dfd) : f->fd;
	if (io->direct)	/* whole blocks: the tail past EOF is zeroed later */
		len = (len + 511) & ~511ull;
	io_uring_prep_read(sqe, fd, f->alias + off, (unsigned)len,
			   off);
	io_uring_sqe_set_data(sqe, io);
	/*
	 * An O_DIRECT read faults its fresh store pages in while it is
	 * submitted (GUP: page allocation and zeroing, ~0.7 ms per MiB here),
	 * and that was the handler thread's time: during a scan it spent it
	 * all so, and a fault on a cached page waited ~1 ms to be read from
	 * the uffd. Readahead no fault is waiting for goes to io_uring's
	 * workers instead; a read a fault waits for is still issued here,
	 * where it is fastest.
	 */
	if (io->async && len >= FC_ASYNC_READ_BYTES)
		sqe->flags |= IOSQE_ASYNC;
	h->inflight++;
	return true;
}

/* Submit what is queued. Context: handler thread, no locks held. */
void fc__io_submit(struct fc_handler *h)
{
	while (h->to_submit) {
		struct fc_io *io = h->to_submit;

		if (h->inflight >= FC_RING_ENTRIES - 2 || !prep_one(h, io))
			break;	/* resumed after completions are reaped */
		h->to_submit = io->next;
		io->next = NULL;
	}
	io_uring_submit(&h->ring);
}

/*
 * The alias mapping was only the way in. Drop its PTEs (the data stays in
 * the store): else every cached page is mapped twice and the process's RSS
 * reads twice the budget (measured: 536 MB of maxrss for a 256 MiB budget
 * while searching 8 GiB in fcview). They are dropped in batches of a
 * sixteenth of the budget (at least FC_ALIAS_ZAP_BYTES), over the span
 * the reads covered: MADV_DONTNEED flushes the TLB of every CPU running
 * the process once per page table holding a written page: one zap per
 * 4 KiB read put 30% of all CPU time in TLB-shootdown IPIs with 8 threads
 * faulting at random (4 MiB batches: still 20%). So RSS may count that
 * much of a file twice; the store, which the budget bounds, never does.
 * In copy mode the alias is where UFFDIO_COPY reads from, so its PTEs
 * stay: dropping them made every copy fault its source in again (fcbench
 * seq1 cold on 1 GiB, fc-copy, 3 reps: 446 MB/s and 2.51 CPU-s/GB
 * dropped, 608 MB/s and 1.99 kept). RSS then counts store plus copies,
 * which is what the budget counts in that mode.
 * Context: any thread, no cache->lock.
 */
static void alias_done(struct fc_file *f, const struct fc_io *io)
{
	size_t ps = f->cache->cfg.page_size;
	uint64_t lo = io->index * ps, hi = lo + io->nr * ps, zlo = 0, zhi = 0;

	if (f->cache->copy_mode)
		return;
	pthread_mutex_lock(&f->zap_lock);
	if (!f->zap_bytes || lo < f->zap_lo)
		f->zap_lo = lo;
	if (!f->zap_bytes || hi > f->zap_hi)
		f->zap_hi = hi;
	f->zap_bytes += hi - lo;
	if (f->zap_bytes >= FC_ALIAS_ZAP_BYTES &&
	    f->zap_bytes >= f->cache->cfg.cache_bytes / 16) {
		zlo = f->zap_lo;
		zhi = f->zap_hi;
		f->zap_bytes = 0;
	}
	pthread_mutex_unlock(&f->zap_lock);
	if (zhi > zlo)	/* pages read meanwhile are in it or in the next */
		madvise(f->alias + zlo, zhi - zlo, MADV_DONTNEED);
}

/*
 * Account @res bytes (or -errno) done on @io. Return: FC_IO_DONE when every
 * byte is in the store (the part of the last page past EOF is zeroed),
 * FC_IO_AGAIN when the rest must be read again (the caller resubmits),
 * FC_IO_EOF when the source ended early, FC_IO_FAILED with *err = errno.
 */
static enum fc_io_outcome io_account(struct fc_io *io, int res, int *err)
{
	struct fc_file *f = io->file;
	uint64_t ps = f->cache->cfg.page_size;
	int inj = injected(io);

	if (inj)
		res = inj;
	if (res == -EINVAL && io->direct) {
		atomic_store(&f->dfd, -1);	/* the fs refuses O_DIRECT */
		io->direct = 0;
		return FC_IO_AGAIN;
	}
	if ((res == -EAGAIN || res == -EINTR) && io->again++ < FC_IO_MAX_AGAIN)
		return FC_IO_AGAIN;
	if (res < 0) {
		*err = -res;
		return FC_IO_FAILED;
	}
	if (res == 0 && io->done < io->len) {	/* the file shrank? */
		memset(f->alias + io->index * ps + io->done, 0,
		       io->nr * ps - io->done);
		alias_done(f, io);
		*err = EIO;
		return FC_IO_EOF;
	}
	io->done += (uint64_t)res;
	if (io->done > io->len)	/* O_DIRECT rounds up; a backend lied */
		io->done = io->len;
	if (io->done < io->len)
		return FC_IO_AGAIN;
	/* zero the tail of the last page past EOF, whatever was read there */
	if (io->len < (uint64_t)io->nr * ps)
		memset(f->alias + io->index * ps + io->len, 0,
		       io->nr * ps - io->len);
	alias_done(f, io);
	return FC_IO_DONE;
}

/**
 * fc__io_complete - account one completion of @io; the rest of a short
 * read, and an -EAGAIN, are queued again on @h.
 * Return: as io_account, FC_IO_AGAIN meaning "queued again".
 * Context: handler thread, no locks held.
 */
enum fc_io_outcome fc__io_complete(struct fc_handler *h, struct fc_io *io,
				   int res, int *err)
{
	enum fc_io_outcome out;

	h->inflight--;
	out = io_account(io, res, err);
	if (out == FC_IO_AGAIN)
		fc__io_queue(h, io);
	return out;
}

/**
 * fc__io_sync - read all of @io now with pread, in the calling thread
 * (FC_CONFIG_INLINE: the faulting thread reads its own page, as the kernel
 * does). Short reads are continued, -EAGAIN/-EINTR retried, O_DIRECT
 * refused falls back to buffered reads. Not for backend files.
 * Return: FC_IO_DONE, FC_IO_EOF or FC_IO_FAILED (*err set).
 * Context: any thread, no locks held; blocks for the read.
 */
enum fc_io_outcome fc__io_sync(struct fc_io *io, int *err)
{
	struct fc_file *f = io->file;
	uint64_t base = io->index * f->cache->cfg.page_size;
	enum fc_io_outcome out;

	do {
		uint64_t len = io->len - io->done;
		ssize_t n;
		int fd;

		if (!direct_ok(io))
			io->direct = 0;
		fd = io->direct ? atomic_load(&f->dfd) : f->fd;
		if (io->direct)
			len = (len + 511) & ~511ull;
		n = pread(fd, f->alias + base + io->done, (size_t)len,
			  (off_t)(base + io->done));
		out = io_account(io, n < 0 ? -errno : (int)n, err);
	} while (out == FC_IO_AGAIN);
	return out;
}
