/* SPDX-License-Identifier: MIT */
/*
 * io.c - reads through io_uring, one ring per handler thread.
 *
 * Custom backends (fc_map_backend) take the place of the ring for their
 * files: their read() is called here and completes through
 * fc_backend_complete(), which hands the result to the submitting handler.
 *
 * Only the owning handler thread touches its ring. A read lands in a
 * staging buffer, and when all of it is there its pages enter the store
 * (fc__io_store): copied into the reader's view with UFFDIO_COPY, which
 * puts them in the store and maps them in one step, or into the file's
 * alias of the store (fc__store_write). The views map what the store
 * holds, so a page must enter it whole, and on its own: never as part of
 * a huge folio a write would fill with zeros. Either way the store pages
 * are allocated without being zeroed, where a read straight into them
 * faulted them in zeroed first; staging buffers are reused, so the copy
 * costs about what that zeroing did (docs/design.md, "Where reads
 * land"). In copy mode views never see the store, and reads land in the
 * file's alias of it directly.
 *
 * O_DIRECT is used where the file system takes it (aligned buffers,
 * offsets and lengths); EINVAL from it switches the file to buffered
 * reads for good (tmpfs on older kernels, odd block sizes). Short reads
 * are continued from where they stopped, -EAGAIN is resubmitted a bounded
 * number of times, and a full submission queue is flushed and retried.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"
#include "polled.h"
#include "store.h"
#include "uffd.h"
#include "util.h"

/* readahead reads at least this long are issued by io_uring's workers */
#define FC_ASYNC_READ_BYTES (64u << 10)
#define FC_STAGE_IDLE_MAX (40u << 20)	/* idle staging kept for reuse */
#define FC_RING_ENTRIES 256
#define FC_IO_MAX_AGAIN 64	/* -EAGAIN resubmissions of one read */

/* test hook: lock: none, atomic */
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

	/*
	 * Completions (of reads, and of the uffd and eventfd polls) are posted
	 * by task work. By default that interrupts a running handler with an
	 * IPI (an exit, on a virtual machine); COOP_TASKRUN leaves it for the
	 * handler's next system call, which is never far off, and still wakes
	 * it when it sleeps (docs/design.md, "Threads and scaling").
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN;
	ret = io_uring_queue_init_params(FC_RING_ENTRIES, &h->ring, &p);
	if (ret == -EINVAL) {	/* before 5.19 */
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(FC_RING_ENTRIES, &h->ring, &p);
	}
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
	io->marker = ~0ull;
	io->len = end > off ? end - off : 0;
	io->direct = atomic_load(&f->dfd) >= 0;
	return io;
}

/* ---- staging buffers ---- */

/* Keep up to a sixteenth of the budget idle, at most FC_STAGE_IDLE_MAX. */
void fc__stage_init(struct fc_cache *c)
{
	pthread_mutex_init(&c->stage_lock, NULL);
	fc__stage_set_max(c, c->cfg.cache_bytes / 16);
}

/**
 * fc__stage_set_max - keep at most @idle_max bytes of idle staging (a
 * budget's sixteenth), and never more than FC_STAGE_IDLE_MAX. Buffers
 * idle over it are freed by the next fc__stage_shrink.
 * Context: cache->lock held (the budget changes), or fc_cache_create.
 */
void fc__stage_set_max(struct fc_cache *c, size_t idle_max)
{
	if (idle_max > FC_STAGE_IDLE_MAX)
		idle_max = FC_STAGE_IDLE_MAX;
	pthread_mutex_lock(&c->stage_lock);
	c->stage_idle_max = idle_max;
	pthread_mutex_unlock(&c->stage_lock);
}

/**
 * fc__stage_shrink - free the idle staging buffers over the limit, or
 * with @all every one (the limit stays).
 * Context: no cache->lock (fc_cache_set_budget, fc_cache_trim).
 */
void fc__stage_shrink(struct fc_cache *c, bool all)
{
	void *gone = NULL, *b;
	size_t keep;
	unsigned k;

	fc__assert_not_held(&c->lock);
	pthread_mutex_lock(&c->stage_lock);
	keep = all ? 0 : c->stage_idle_max;
	for (k = FC_STAGE_CLASSES; k-- > 0 && c->stage_idle > keep;) {
		while ((b = c->stage_free[k]) && c->stage_idle > keep) {
			c->stage_free[k] = *(void **)b;
			c->stage_idle -= (size_t)1 << k;
			*(void **)b = gone;	/* freed below, after the lock */
			gone = b;
			/* its class, after the link: a buffer is >= 4 KiB */
			((uint8_t *)b)[sizeof(void *)] = (uint8_t)k;
		}
	}
	pthread_mutex_unlock(&c->stage_lock);
	while ((b = gone)) {
		gone = *(void **)b;
		munmap(b, (size_t)1 << ((uint8_t *)b)[sizeof(void *)]);
	}
}

void fc__stage_destroy(struct fc_cache *c)
{
	unsigned k;

	for (k = 0; k < FC_STAGE_CLASSES; k++) {
		while (c->stage_free[k]) {
			void *b = c->stage_free[k];

			c->stage_free[k] = *(void **)b;
			munmap(b, (size_t)1 << k);
		}
	}
	pthread_mutex_destroy(&c->stage_lock);
}

/*
 * Give @io a staging buffer big enough for all its pages, reused if one
 * is free. Return: false when none can be had (out of memory).
 * Context: any thread, no cache->lock.
 */
static bool stage_get(struct fc_io *io)
{
	struct fc_cache *c = io->file->cache;
	uint64_t bytes = (uint64_t)io->nr * c->cfg.page_size;
	unsigned k = 12;
	bool fresh;
	void *b;

	fc__assert_not_held(&c->lock);
	while (((uint64_t)1 << k) < bytes)
		k++;
	if (k >= FC_STAGE_CLASSES)	/* reads are at most 2 MiB */
		return false;
	pthread_mutex_lock(&c->stage_lock);
	b = c->stage_free[k];
	if (b) {
		c->stage_free[k] = *(void **)b;
		c->stage_idle -= (size_t)1 << k;
	}
	pthread_mutex_unlock(&c->stage_lock);
	fresh = !b;
	if (!b) {
		b = mmap(NULL, (size_t)1 << k, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED)
			return false;
	}
	io->buf_fresh = fresh;
	io->buf = b;
	io->buf_class = (uint8_t)k;
	return true;
}

/* Give @io's staging buffer back: kept for reuse, or freed. */
static void stage_put(struct fc_io *io)
{
	struct fc_cache *c = io->file->cache;
	size_t len = (size_t)1 << io->buf_class;
	void *b = io->buf;
	bool keep;

	if (!b)
		return;
	io->buf = NULL;
	pthread_mutex_lock(&c->stage_lock);
	keep = c->stage_idle + len <= c->stage_idle_max;
	if (keep) {
		*(void **)b = c->stage_free[io->buf_class];
		c->stage_free[io->buf_class] = b;
		c->stage_idle += len;
	}
	pthread_mutex_unlock(&c->stage_lock);
	if (!keep)
		munmap(b, len);
}

/*
 * Where the rest of @io lands: its staging buffer (taken now if it has
 * none), or in copy mode the alias. NULL when no staging can be had.
 */
static char *io_dst(struct fc_io *io)
{
	struct fc_file *f = io->file;

	if (f->cache->copy_mode)
		return fc__store_alias(f, io->index * f->cache->cfg.page_size +
					  io->done);
	if (!io->buf && !stage_get(io))
		return NULL;
	return io->buf + io->done;
}

void fc__io_free(struct fc_io *io)
{
	stage_put(io);
	/* kept for a page that was dropped meanwhile */
	fc__held_free(io->held, io->held_len);
	free(io);
}

/* Queue @io to be submitted before what is queued already. */
void fc__io_queue(struct fc_handler *h, struct fc_io *io)
{
	io->next = h->to_submit;
	h->to_submit = io;
}

/*
 * A read is ready to go: queue it on @h, or push it on *@out when the
 * caller submits it itself (an inline fault, not on the handler thread).
 */
void fc__io_hand(struct fc_handler *h, struct fc_io *io,
		 struct fc_io **out)
{
	if (out) {
		io->next = *out;
		*out = io;
	} else {
		fc__io_queue(h, io);
	}
}

/* O_DIRECT needs the remaining offset and length block aligned. */
static bool direct_ok(const struct fc_io *io)
{
	int dfd = atomic_load(&io->file->dfd);

	return io->direct && dfd >= 0 && !(io->done & 511);
}

/*
 * Once @req is pushed, the handler may finish the read, and then stop,
 * close its eventfd and be freed (fc_cache_destroy) before the write
 * below: h->completing keeps it running until this thread is done with
 * it (see bdone in types.h). Context: any thread, no locks held.
 */
void fc_backend_complete(struct fc_backend_req *req, ssize_t result)
{
	struct fc_handler *h;
	struct fc_backend_req *top;
	uint64_t one = 1;
	ssize_t n;

	if (!req || !req->io)
		return;
	h = req->io->h;
	req->res = result;
	atomic_fetch_add(&h->completing, 1);	/* before the push */
	top = atomic_load(&h->bdone);
	do
		req->next = top;
	while (!atomic_compare_exchange_weak(&h->bdone, &top, req));
	n = write(h->evfd, &one, sizeof(one));
	atomic_fetch_sub(&h->completing, 1);	/* the last touch of @h */
	(void)n;	/* EAGAIN: the counter is full, the handler awake */
}

/* Hand the rest of @io to its backend. */
static void backend_read(struct fc_handler *h, struct fc_io *io)
{
	struct fc_file *f = io->file;
	uint64_t off = io->index * f->cache->cfg.page_size + io->done;
	char *dst = io_dst(io);
	int ret;

	io->h = h;
	io->req.io = io;
	h->inflight++;
	if (!dst) {
		fc_backend_complete(&io->req, -ENOMEM);
		return;
	}
	ret = f->bops->read(f->bctx, off, dst, (size_t)(io->len - io->done),
			    &io->req);
	if (ret)
		fc_backend_complete(&io->req, ret < 0 ? ret : -EIO);
}

static bool prep_one(struct fc_handler *h, struct fc_io *io)
{
	struct fc_file *f = io->file;
	uint64_t off = io->index * f->cache->cfg.page_size + io->done;
	struct io_uring_sqe *sqe;
	uint64_t len = io->len - io->done;
	char *dst;
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
	dst = io_dst(io);
	if (dst) {
		io_uring_prep_read(sqe, fd, dst, (unsigned)len, off);
	} else {	/* completes at once, and fails with -ENOMEM */
		io->nomem = 1;
		io_uring_prep_nop(sqe);
	}
	io_uring_sqe_set_data(sqe, io);
	/*
	 * An O_DIRECT read faults in the fresh pages it lands in while it is
	 * submitted (GUP: page allocation and zeroing), on the handler
	 * thread's time: during a scan it spent most of it so, and a fault on
	 * a cached page waited behind it to be read from the uffd. Such
	 * readahead no fault is waiting for goes to io_uring's
	 * workers: in copy mode (it lands in the store), and into a staging
	 * buffer used for the first time. Into a reused one it is issued
	 * here, as a true asynchronous read: a worker would block on it, and
	 * io_uring runs at most 4 per CPU, which held a scan to 4 reads in
	 * flight (docs/design.md, "Where reads land").
	 */
	if (io->async && len >= FC_ASYNC_READ_BYTES &&
	    (f->cache->copy_mode || io->buf_fresh))
		sqe->flags |= IOSQE_ASYNC;
	h->inflight++;
	return true;
}

/* Submit what is queued. Context: handler thread, no locks held. */
void fc__io_submit(struct fc_handler *h)
{
	fc__assert_not_held(&h->cache->lock);
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
 * All of @io that will come is in (the source may have ended early, at
 * io->done): zero what lies past it, up to what the store will take from
 * staging: the pages up to the end of the file rounded to a system page
 * (the kernel maps the last partial page, and nothing past it). In copy
 * mode the read landed in place and its whole pages are zeroed past it.
 * Return: false when no buffer could be had.
 */
static bool io_seal(struct fc_io *io)
{
	struct fc_cache *c = io->file->cache;
	uint64_t sp = c->sys_page, end = (uint64_t)io->nr * c->cfg.page_size;
	uint64_t len = (io->len + sp - 1) & ~(sp - 1);
	uint64_t have = io->done < io->len ? io->done : io->len;
	char *buf = io_dst(io);

	if (!buf)
		return false;
	buf -= io->done;
	if (len > end)
		len = end;
	memset(buf + have, 0, (c->copy_mode ? end : len) - have);
	io->store_len = c->copy_mode ? 0 : len;
	return true;
}

/* Store bytes [@lo, @hi) of @io (offsets in the io) through the alias. */
static int store_write(struct fc_io *io, uint64_t lo, uint64_t hi)
{
	struct fc_file *f = io->file;
	uint64_t base = io->index * f->cache->cfg.page_size;

	return fc__store_write(f, base + lo, io->buf + lo, hi - lo);
}

/*
 * UFFDIO_COPY store bytes [@lo, @hi) of @io into @m's view, where they
 * lie (the caller clipped them to it): that puts them in the store and
 * maps them there. A page the view already holds something at (a SIGBUS
 * marker) goes in through the alias instead, and so does the rest if the
 * view is gone. Return: bytes mapped, or -errno from fc__store_write.
 */
static int64_t store_copy(struct fc_io *io, struct fc_mapping *m, uint64_t lo,
			  uint64_t hi)
{
	uint64_t fbase = io->index * m->cache->cfg.page_size, done = 0, next, n;
	size_t sp = m->cache->sys_page;
	int ret;

	while (lo < hi) {
		n = fc__uffd_copy(m->uffd, m->base + (fbase + lo - m->offset),
				  io->buf + lo, hi - lo, true);
		lo += n;
		done += n;
		if (lo == hi)
			break;
		/* EEXIST: that page only; else the view is gone: all */
		next = errno == EEXIST ? lo + sp : hi;
		ret = store_write(io, lo, next);
		if (ret)
			return ret;
		lo = next;
	}
	return (int64_t)done;
}

/*
 * Keep store bytes [@lo, @hi) of @io (the marker page) out of the store,
 * in @io->held; written into the store instead if no memory can be had
 * (the reader then does not fault on it: readahead waits for the next
 * miss).
 */
static int store_hold(struct fc_io *io, uint64_t lo, uint64_t hi)
{
	io->held = fc__held_alloc((size_t)(hi - lo));
	if (!io->held)
		return store_write(io, lo, hi);
	memcpy(io->held, io->buf + lo, (size_t)(hi - lo));
	io->held_len = (uint32_t)(hi - lo);
	return 0;
}

/**
 * fc__io_store - put the pages of @io, read into staging, in the store.
 * Where they lie in @m's view (the mapping they are read for, or NULL)
 * they are copied there with UFFDIO_COPY, which adds them to the store
 * and maps them in that view in one step: the reader finds them mapped
 * (install-ahead), and threads waiting on them there are woken. The rest
 * goes in through the alias. Either way a page enters the store whole: a
 * view that maps it never sees it half read. The page that had the
 * readahead marker is kept out of it (@io->held, see struct fc_page): the
 * kernel would map it at the reader's touch, which must fault to us.
 * Return: bytes mapped into @m, or -errno when the store cannot take the
 * pages (they may be partly written: the caller drops them all).
 * Context: no locks held; the thread that finished the read.
 */
int64_t fc__io_store(struct fc_io *io, struct fc_mapping *m)
{
	uint64_t ps = io->file->cache->cfg.page_size, fbase = io->index * ps;
	uint64_t end = io->store_len, lo = 0, hi = 0, mk = end, mk_end = end;
	uint64_t pos = 0;
	int64_t mapped = 0, r = 0;

	fc__assert_not_held(&io->file->cache->lock);
	if (m && !atomic_load(&m->dead)) {
		lo = m->offset > fbase ? m->offset - fbase : 0;
		hi = m->offset + m->len > fbase ? m->offset + m->len - fbase : 0;
	}
	if (io->marker != ~0ull) {
		mk = (io->marker - io->index) * ps;
		mk_end = mk + ps;
	}
	while (pos < end && r >= 0) {
		uint64_t bounds[4] = { lo, hi, mk, mk_end }, next = end;
		unsigned k;

		for (k = 0; k < 4; k++)
			if (bounds[k] > pos && bounds[k] < next)
				next = bounds[k];
		if (pos >= mk && pos < mk_end) {	/* the page whole */
			next = mk_end < end ? mk_end : end;
			r = store_hold(io, pos, next);
		} else if (pos >= lo && pos < hi) {
			r = store_copy(io, m, pos, next);
			mapped += r > 0 ? r : 0;
		} else {
			r = store_write(io, pos, next);
		}
		pos = next;
	}
	stage_put(io);
	return r < 0 ? r : mapped;
}

static enum fc_io_outcome io_nomem(int *err)
{
	*err = ENOMEM;
	return FC_IO_FAILED;
}

/*
 * Account @res bytes (or -errno) read on @io. Return: FC_IO_DONE when every
 * byte is read (the part of the last page past EOF is zeroed; from
 * staging, the pages still have to enter the store: fc__io_store),
 * FC_IO_AGAIN when the rest must be read again (the caller resubmits),
 * FC_IO_EOF when the source ended early, FC_IO_FAILED with *err = errno.
 */

static enum fc_io_outcome io_account(struct fc_io *io, int res, int *err)
{
	struct fc_file *f = io->file;
	int inj = injected(io);

	if (io->nomem) {
		io->nomem = 0;
		res = -ENOMEM;
	}
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
		stage_put(io);	/* a retry is a new read */
		return FC_IO_FAILED;
	}
	if (res == 0 && io->done < io->len) {	/* the file shrank? */
		*err = EIO;
		return io_seal(io) ? FC_IO_EOF : io_nomem(err);
	}
	io->done += (uint64_t)res;
	if (io->done > io->len)	/* O_DIRECT rounds up; a backend lied */
		io->done = io->len;
	if (io->done < io->len)
		return FC_IO_AGAIN;
	return io_seal(io) ? FC_IO_DONE : io_nomem(err);
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

	fc__assert_not_held(&h->cache->lock);
	h->inflight--;
	out = io_account(io, res, err);
	if (out == FC_IO_AGAIN)
		fc__io_queue(h, io);
	return out;
}

/**
 * fc__io_sync - read all of @io now, in the calling thread
 * (FC_CONFIG_INLINE: the faulting thread reads its own page, as the kernel
 * does), with pread or, with cfg.poll_us, polled for in a ring. Short
 * reads are continued, -EAGAIN/-EINTR retried, O_DIRECT refused falls
 * back to buffered reads. Not for backend files.
 * Return: FC_IO_DONE, FC_IO_EOF or FC_IO_FAILED (*err set).
 * Context: any thread, no locks held; blocks for the read.
 */
enum fc_io_outcome fc__io_sync(struct fc_io *io, int *err)
{
	struct fc_file *f = io->file;
	uint64_t base = io->index * f->cache->cfg.page_size;
	enum fc_io_outcome out;

	fc__assert_not_held(&f->cache->lock);
	do {
		uint64_t len = io->len - io->done;
		char *dst = io_dst(io);
		ssize_t n;
		int fd;

		if (!direct_ok(io))
			io->direct = 0;
		fd = io->direct ? atomic_load(&f->dfd) : f->fd;
		if (io->direct)
			len = (len + 511) & ~511ull;
		n = dst ? fc__read_polled(f, fd, dst, (size_t)len,
					 (off_t)(base + io->done))
			: (errno = ENOMEM, -1);
		out = io_account(io, n < 0 ? -errno : (int)n, err);
	} while (out == FC_IO_AGAIN);
	return out;
}
