/* SPDX-License-Identifier: MIT */
/*
 * handler.c - the fault handler threads.
 *
 * Each handler thread owns one uffd and one io_uring; the ring also polls
 * the uffd and the handler's eventfd, so the thread sleeps in one place and
 * wakes for faults, commands and read completions alike. Nothing on the
 * fault path waits for I/O: a fault on a page being read queues a waiter on
 * the read, and the completion resolves every waiter.
 *
 * Faults are resolved in two phases, plan and act (plan.c), so that no
 * ioctl runs under cache->lock.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "completion.h"
#include "file.h"
#include "filemap.h"
#include "handler.h"
#include "io.h"
#include "mapping.h"
#include "maptab.h"
#include "plan.h"
#include "radix.h"
#include "reclaim.h"
#include "uffd.h"
#include "util.h"

#define FC_MSG_BATCH 64		/* fault messages read at once */
#define FC_POPULATE_CHUNK 2048	/* pages mapped per handler loop */

#define FC_TAG_UFFD ((uint64_t)1)
#define FC_TAG_EVFD ((uint64_t)2)
#define FC_TAG_INOTIFY ((uint64_t)3)
#define FC_TAG_INLINE ((uint64_t)4)	/* the inline uffd's remap events */

static size_t fault_batch(struct fc_handler *h, struct plan *p);
static void run_cmds(struct fc_handler *h, struct plan *p);
static bool cmds_pending(struct fc_handler *h);
static void evfd_consume(struct fc_handler *h);

/*
 * Finish the reads that completed (fc__on_completion), oldest first: put
 * their pages in the store, mark them up to date, wake their waiters.
 * Putting a large read in the store takes the handler a while, so between
 * reads it serves the faults and commands that came meanwhile: the fault
 * on a readahead marker, which starts the next window, must not wait
 * behind the stores of the last one, or the device idles.
 */
static void finish_reads(struct fc_handler *h, struct plan *p)
{
	struct fc_io *io;

	while ((io = h->ended)) {
		h->ended = io->next;
		if (!h->ended)
			h->ended_tail = NULL;
		io->next = NULL;
		fc__io_end(h, p, io, (enum fc_io_outcome)io->end_out,
		       io->ra_owner, NULL);
		fc__act(h, p);
		if (h->ended) {
			if (cmds_pending(h)) {
				evfd_consume(h);
				run_cmds(h, p);
			}
			while (fault_batch(h, p) == FC_MSG_BATCH)
				;
			fc__io_submit(h);
		}
	}
}

/* The descriptor a poll tag watches. */
static int poll_fd(struct fc_handler *h, uint64_t tag)
{
	if (tag == FC_TAG_UFFD)
		return h->uffd;
	if (tag == FC_TAG_INLINE)
		return h->cache->inline_uffd;
	return tag == FC_TAG_EVFD ? h->evfd : h->cache->inotify_fd;
}

/*
 * Arm the multishot poll @tag. When the submission queue is full and
 * stays so (a submit that fails), it is left in h->unarmed, armed again
 * at the next turn of the loop, and its events are looked for at every
 * turn meanwhile (handler_main): the thread must not stop hearing faults.
 */
static void arm_poll(struct fc_handler *h, uint64_t tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&h->ring);

	if (!sqe) {
		io_uring_submit(&h->ring);
		sqe = io_uring_get_sqe(&h->ring);
	}
	if (!sqe) {
		h->unarmed |= 1u << tag;
		return;
	}
	h->unarmed &= ~(1u << tag);
	io_uring_prep_poll_multishot(sqe, poll_fd(h, tag), POLLIN);
	io_uring_sqe_set_data64(sqe, tag);
}

/* Arm again the polls that could not be. */
static void rearm(struct fc_handler *h)
{
	uint64_t tag;

	for (tag = FC_TAG_UFFD; tag <= FC_TAG_INLINE; tag++)
		if (h->unarmed & (1u << tag))
			arm_poll(h, tag);
}

static bool seen_before(const struct uffd_msg *msgs, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (msgs[j].event == UFFD_EVENT_PAGEFAULT &&
		    msgs[j].arg.pagefault.address ==
			    msgs[i].arg.pagefault.address)
			return true;
	return false;
}

/*
 * A fault at @addr, which no live mapping holds. Most often the mapping
 * was unmapped meanwhile (or is being replaced): woken, the thread
 * retries and meets the placeholder (SIGSEGV) or the new mapping. But a
 * range the program added to a view with mremap (grown in place, or past
 * the old length of a move) is registered and in no mapping: woken, it
 * would fault again for ever; it gets SIGBUS, as past the end of a file.
 */
static void fault_unknown(struct fc_handler *h, uint64_t addr)
{
	size_t sp = h->cache->sys_page;

	if (fc__maptab_foreign(addr) &&
	    !fc__uffd_poison(h->uffd, (char *)(uintptr_t)addr, sp))
		return;
	fc__uffd_wake(h->uffd, (char *)(uintptr_t)addr, sp);
}

/*
 * Apply the remap events among @cnt messages, in order (mremap). A move
 * the table cannot follow for want of memory is tried again, every
 * millisecond for up to a second (or until the cache stops): faults wait
 * for it meanwhile (await_remaps, and for inline faults the table's remap
 * count), where the table as it was would serve the moved range from the
 * file offsets of a view it went over. One that meets a mapping still
 * being unmapped after 10 ms is not waited for: that mapping leaves the
 * table with its last reference, which a handler's deferred fault or
 * command may hold, and that handler would be waiting here or in
 * await_remaps. It serves no fault meanwhile (the moved range gets
 * SIGBUS).
 */
static void remap_events(struct fc_handler *h, const struct uffd_msg *msgs,
			 size_t cnt)
{
	size_t i;
	int tries;

	for (i = 0; i < cnt; i++) {
		if (msgs[i].event != UFFD_EVENT_REMAP)
			continue;
		tries = 0;
		while (fc__mapping_remap((uintptr_t)msgs[i].arg.remap.from,
					 (uintptr_t)msgs[i].arg.remap.to,
					 (size_t)msgs[i].arg.remap.len) == -ENOMEM &&
		       ++tries < 1000 && !atomic_load(&h->stop))
			usleep(1000);
	}
}

/*
 * The inline uffd raises SIGBUS for faults and queues only events: its
 * remap events are read here (the first handler). The mremap returns
 * once its event is read; until the table follows, every inline fault
 * is retried (fc__maptab_remap_begin).
 */
static void inline_events(struct fc_handler *h)
{
	struct uffd_msg msgs[FC_MSG_BATCH];
	ssize_t n;

	fc__maptab_remap_begin();
	atomic_fetch_add(&h->reading, 1);
	while ((n = read(h->cache->inline_uffd, msgs, sizeof(msgs))) > 0)
		remap_events(h, msgs, (size_t)n / sizeof(msgs[0]));
	atomic_fetch_add(&h->reading, 1);
	fc__maptab_remap_end();
}

/*
 * Wait while @h's reading is odd and unchanged from @s: a read it began
 * before, with the remap events it brought, is not yet applied. Such a
 * read is over in microseconds and mostly has no remap: spin, then yield
 * (the reader may want the CPU), and sleep only past that (a remap
 * waiting for memory: remap_events).
 */
static void await_read(struct fc_handler *h, unsigned s)
{
	unsigned n = 0;

	while ((s & 1) && atomic_load(&h->reading) == s) {
		if (n < 256)
			fc__cpu_relax();
		else if (n < 256 + 16)
			sched_yield();
		else
			usleep(20);
		n++;
	}
}

/*
 * Another handler (the moved view's) may have read a remap event and not
 * yet applied it: the program's mremap has returned, and a fault it makes
 * next, read here, would be looked up in the table as it was, and
 * installs planned from there would fill the moved range with the file
 * offsets of the view it went over. Wait for the reads the others began
 * before: rare, and no longer than a read and the table's update (up to
 * a second without memory for it: remap_events). A handler waits here
 * with its own reading even, so two never wait on each other.
 */
static void await_remaps(struct fc_handler *h)
{
	struct fc_cache *c = h->cache;
	unsigned i;

	for (i = 0; i < c->cfg.handler_threads; i++)
		if (&c->handlers[i] != h)
			await_read(&c->handlers[i],
				   atomic_load(&c->handlers[i].reading));
}

/* Handle one batch of fault messages. Returns how many were read. */
static size_t fault_batch(struct fc_handler *h, struct plan *p)
{
	struct fc_cache *c = h->cache;
	struct uffd_msg msgs[FC_MSG_BATCH];
	struct fc_mapping *ms[FC_MSG_BATCH];
	uint64_t mask = ~(uint64_t)(c->sys_page - 1), t0;
	ssize_t n;
	size_t cnt, i;

	atomic_fetch_add(&h->reading, 1);	/* see fc__handlers_settle */
	n = read(h->uffd, msgs, sizeof(msgs));
	if (n <= 0) {
		atomic_fetch_add(&h->reading, 1);
		return 0;
	}
	cnt = (size_t)n / sizeof(msgs[0]);
	/*
	 * Moves first: a fault read with its move is for the new range
	 * (one on the old range, racing its own mremap, is woken and gets
	 * SIGSEGV). The mapping's faults and events share this uffd.
	 */
	remap_events(h, msgs, cnt);
	atomic_fetch_add(&h->reading, 1);
	await_remaps(h);
	t0 = fc__now_ns();
	for (i = 0; i < cnt; i++) {
		uint64_t addr = msgs[i].arg.pagefault.address & mask;

		ms[i] = NULL;
		if (msgs[i].event != UFFD_EVENT_PAGEFAULT || seen_before(msgs, i))
			continue;
		ms[i] = fc__mapping_lookup(addr);
		if (!ms[i])
			fault_unknown(h, addr);
	}
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < cnt; i++)
		if (ms[i])
			fc__handle_fault(h, p, ms[i],
				     msgs[i].arg.pagefault.address & mask, t0,
				     (pid_t)msgs[i].arg.pagefault.feat.ptid, false);
	pthread_mutex_unlock(&c->lock);
	fc__act(h, p);	/* hits first: submitting a read takes a while */
	fc__io_submit(h);
	for (i = 0; i < cnt; i++)
		if (ms[i])
			fc__mapping_put(ms[i]);
	return cnt;
}

static void run_deferred(struct fc_handler *h, struct plan *p)
{
	struct fc_cache *c = h->cache;
	struct fc_waiter *d = h->deferred, *next;

	h->deferred = NULL;
	pthread_mutex_lock(&c->lock);
	for (next = d; next; next = next->next)
		fc__handle_fault(h, p, next->m, next->addr, next->t0, next->tid,
			     true);
	pthread_mutex_unlock(&c->lock);
	fc__act(h, p);
	fc__io_submit(h);
	for (; d; d = next) {
		next = d->next;
		fc__mapping_put(d->m);
		free(d);
	}
}

/* WILLNEED: read the range now (at most half the budget), no waiters. */
static void cmd_willneed(struct fc_handler *h, struct fc_cmd *cmd)
{
	struct fc_cache *c = h->cache;
	struct fc_mapping *m = cmd->m;
	struct fc_ra_window w = { cmd->first, 0, 0, false };
	uint64_t last = cmd->last;

	if (w.start >= m->file->nr_pages)
		return;
	if (last >= m->file->nr_pages)
		last = m->file->nr_pages - 1;
	w.size = last - w.start + 1;
	if (w.size > c->nr_slots / 2)
		w.size = c->nr_slots / 2;
	fc__read_window(h, m, w, UINT64_MAX, NULL);
}

/*
 * POPULATE: plan the installation of the next FC_POPULATE_CHUNK cached
 * pages of the range, in runs of up-to-date pages without a marker.
 * Returns true when the range is done; else cmd->first is advanced.
 */
static bool cmd_populate(struct plan *p, struct fc_cmd *cmd)
{
	struct fc_mapping *m = cmd->m;
	struct fc_file *f = m->file;
	uint64_t key = cmd->first, done = 0;
	struct fc_radix_cursor cur = { 0 };	/* no delete below */
	struct fc_page *pg;

	while (done < FC_POPULATE_CHUNK) {
		uint64_t lo, hi;

		pg = fc__radix_next(&f->tree, &key);
		if (!pg || key > cmd->last)
			return true;
		lo = hi = key;
		while (hi <= cmd->last && hi - lo < FC_POPULATE_CHUNK - done &&
		       (pg = fc__mappable(f, &cur, hi)) &&
		       pg->sample != FC_SAMPLE_ZAPPED)
			hi++;
		/* being read, a marker, or sampled (a fault will say if it is
		 * used): skip it */
		if (hi == lo) {
			key = lo + 1;
			continue;
		}
		/* copies must not push cached pages out: stop at the budget */
		if (!fc__copy_room(m->cache, done + hi - lo))
			return true;
		if (fc__plan_install(p, m, lo, hi, 0, 0, ~0ull))
			return true;	/* no memory: faults will do it */
		done += hi - lo;
		key = hi;
	}
	cmd->first = key;
	return false;
}

static void evfd_consume(struct fc_handler *h)
{
	uint64_t v;

	if (read(h->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;	/* cannot fail on an eventfd we own */
}

static void run_cmds(struct fc_handler *h, struct plan *p)
{
	struct fc_cache *c = h->cache;
	struct fc_cmd *cmd, *next, *again = NULL;

	pthread_mutex_lock(&h->cmd_lock);
	cmd = h->cmds;
	h->cmds = NULL;
	pthread_mutex_unlock(&h->cmd_lock);
	pthread_mutex_lock(&c->lock);
	for (; cmd; cmd = next) {
		next = cmd->next;
		cmd->next = NULL;
		while (cmd->ios) {	/* FC_CMD_SUBMIT: even for a dead view */
			struct fc_io *io = cmd->ios;

			cmd->ios = io->next;
			fc__io_queue(h, io);
		}
		if (atomic_load(&cmd->m->dead)) {
			fc__plan_put(p, cmd->m);
			free(cmd);
			continue;
		}
		if (cmd->kind == FC_CMD_POPULATE && !cmd_populate(p, cmd)) {
			cmd->next = again;	/* more next time round */
			again = cmd;
			continue;
		}
		if (cmd->kind == FC_CMD_WILLNEED)
			cmd_willneed(h, cmd);
		fc__plan_put(p, cmd->m);
		free(cmd);
	}
	pthread_mutex_unlock(&c->lock);
	fc__io_submit(h);
	fc__act(h, p);
	for (; again; again = next) {
		next = again->next;
		if (fc__handler_post(h, again)) {
			fc__mapping_put(again->m);
			free(again);
		}
	}
}

/**
 * fc__handler_post - give @cmd to @h's thread, and wake it.
 * Return: 0 when @cmd is the handler's (it runs it, or drops it and its
 * mapping reference when it stops), -ESHUTDOWN when @h is stopping: the
 * caller keeps @cmd. Context: any thread, no locks held.
 */
int fc__handler_post(struct fc_handler *h, struct fc_cmd *cmd)
{
	uint64_t one = 1;
	ssize_t n;

	if (atomic_load(&h->stop))
		return -ESHUTDOWN;
	pthread_mutex_lock(&h->cmd_lock);
	cmd->next = h->cmds;
	h->cmds = cmd;
	pthread_mutex_unlock(&h->cmd_lock);
	/*
	 * The command is the handler's now, whatever the wake-up does: a
	 * failure must not hand it back to the caller, who would free it
	 * while it is on the list. The write fails only when the counter
	 * is full (EAGAIN), and then the handler is being woken anyway.
	 */
	n = write(h->evfd, &one, sizeof(one));
	(void)n;
	return 0;
}

/* Reap every completion; returns which pollers fired. */
static void reap(struct fc_handler *h, struct plan *p, bool *faults,
		 bool *cmds, bool *notified, bool *remaps)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&h->ring, head, cqe) {
		uint64_t tag = cqe->user_data;

		seen++;
		if (tag == FC_TAG_INOTIFY || tag == FC_TAG_INLINE) {
			*(tag == FC_TAG_INLINE ? remaps : notified) = true;
			if (!(cqe->flags & IORING_CQE_F_MORE))
				arm_poll(h, tag);
			continue;
		}
		if (tag == FC_TAG_UFFD || tag == FC_TAG_EVFD) {
			*(tag == FC_TAG_UFFD ? faults : cmds) = true;
			if (!(cqe->flags & IORING_CQE_F_MORE))
				arm_poll(h, tag);
			continue;
		}
		fc__on_completion(h, p, (struct fc_io *)(uintptr_t)tag, cqe->res);
	}
	io_uring_cq_advance(&h->ring, seen);
}

/*
 * A backend completer between its push and its eventfd write (see bdone)
 * when the handler is stopping: nothing will wake it once that write is
 * consumed, so it looks again every millisecond until the completer is
 * gone.
 */
static bool completers_left(struct fc_handler *h)
{
	return atomic_load(&h->completing) != 0;
}

static void wait_events(struct fc_handler *h)
{
	struct __kernel_timespec ts = { 0, 1000000 };	/* 1 ms */
	struct io_uring_cqe *cqe;

	if (h->deferred || h->unarmed ||
	    (atomic_load(&h->stop) && completers_left(h)))
		io_uring_wait_cqe_timeout(&h->ring, &cqe, &ts);
	else
		io_uring_wait_cqe(&h->ring, &cqe);
}

static void handler_cleanup(struct fc_handler *h, struct plan *p)
{
	struct fc_cmd *cmd, *next;

	while (h->deferred) {
		struct fc_waiter *d = h->deferred;

		h->deferred = d->next;
		fc__mapping_put(d->m);
		free(d);
	}
	pthread_mutex_lock(&h->cmd_lock);
	cmd = h->cmds;
	h->cmds = NULL;
	pthread_mutex_unlock(&h->cmd_lock);
	for (; cmd; cmd = next) {
		next = cmd->next;
		fc__mapping_put(cmd->m);
		free(cmd);
	}
	free(p->v);
	free(p->puts);
}

/* Commands posted and not yet run (reads among them must be submitted). */
static bool cmds_pending(struct fc_handler *h)
{
	bool any;

	pthread_mutex_lock(&h->cmd_lock);
	any = h->cmds != NULL;
	pthread_mutex_unlock(&h->cmd_lock);
	return any;
}

/**
 * handler_main - body of one handler thread.
 * Runs until stop is set and every read it started has completed, so no
 * read is left writing into the store when the cache is freed, and no
 * backend completer is left to write its eventfd.
 */
static void *handler_main(void *arg)
{
	struct fc_handler *h = arg;
	struct plan p = { 0 };

	arm_poll(h, FC_TAG_UFFD);
	arm_poll(h, FC_TAG_EVFD);
	/* the first handler also watches for files changing size */
	if (h == &h->cache->handlers[0] && h->cache->inotify_fd >= 0)
		arm_poll(h, FC_TAG_INOTIFY);
	/* and reads the inline uffd's events */
	if (h == &h->cache->handlers[0] && h->cache->inline_uffd >= 0)
		arm_poll(h, FC_TAG_INLINE);
	io_uring_submit(&h->ring);
	while (!atomic_load(&h->stop) || h->inflight || h->to_submit ||
	       cmds_pending(h) || completers_left(h)) {
		/* what an unarmed poll would say is looked at every turn */
		bool faults = h->unarmed & (1u << FC_TAG_UFFD);
		bool cmds = h->unarmed & (1u << FC_TAG_EVFD);
		bool notified = h->unarmed & (1u << FC_TAG_INOTIFY);
		bool remaps = h->unarmed & (1u << FC_TAG_INLINE);

		rearm(h);
		fc__io_submit(h);
		wait_events(h);
		reap(h, &p, &faults, &cmds, &notified, &remaps);
		if (remaps)
			inline_events(h);
		/* events read here, or by another cache (watch.c) */
		if (notified ||
		    atomic_exchange(&h->cache->watch_user.pending, false))
			fc__files_notified(h->cache);
		/*
		 * Consume the eventfd before looking at what it announces
		 * (backend completions, commands): whatever is posted after
		 * this read writes the eventfd again and wakes us. Reading it
		 * after the drain lost a completion pushed in between (a hang
		 * under TSan in soak_copy).
		 */
		if (cmds)
			evfd_consume(h);
		fc__backend_drain(h, &p);
		fc__act(h, &p);
		if (cmds)
			run_cmds(h, &p);
		if (faults)
			while (fault_batch(h, &p) == FC_MSG_BATCH)
				;
		fc__io_submit(h);
		finish_reads(h, &p);
		if (h->deferred)
			run_deferred(h, &p);
	}
	handler_cleanup(h, &p);
	return NULL;
}

/**
 * fc__handlers_settle - wait until the remap events @c's handlers have
 * read are applied: a program's mremap of a view returns once its event
 * is read, and an fc_unmap of the new pointer must find it in the table.
 * Waits for no batch read later.
 * Context: no locks of the library held but caches_lock.
 */
void fc__handlers_settle(struct fc_cache *c)
{
	unsigned i, s;

	for (i = 0; i < c->nr_handlers; i++) {
		struct fc_handler *h = &c->handlers[i];

		if (!h->started)
			continue;
		s = atomic_load(&h->reading);
		await_read(h, s);
	}
}

static void handler_stop(struct fc_handler *h)
{
	uint64_t one = 1;

	atomic_store(&h->stop, true);
	if (h->evfd >= 0 && write(h->evfd, &one, sizeof(one)) < 0)
		return;
}

void fc__handlers_destroy(struct fc_cache *c)
{
	unsigned i;

	for (i = 0; i < c->nr_handlers; i++)
		if (c->handlers[i].started)
			handler_stop(&c->handlers[i]);
	for (i = 0; i < c->nr_handlers; i++) {
		struct fc_handler *h = &c->handlers[i];

		if (h->started)
			pthread_join(h->thread, NULL);
		if (h->ring_ok)
			io_uring_queue_exit(&h->ring);
		if (h->uffd >= 0)
			close(h->uffd);
		if (h->evfd >= 0)
			close(h->evfd);
		pthread_mutex_destroy(&h->cmd_lock);
	}
	free(c->handlers);
}

int fc__handler_init(struct fc_cache *c, struct fc_handler *h)
{
	/*
	 * copy mode fills anonymous memory: no shmem features needed. A
	 * view the program moves with mremap stays registered, and the
	 * table follows it (remap_events); without EVENT_REMAP the kernel
	 * would drop the registration and serve the moved view's missing
	 * pages as zeros, allocated in the store every view shares.
	 */
	uint64_t want = (c->copy_mode ? 0 : UFFD_FEATURE_MISSING_SHMEM) |
			UFFD_FEATURE_EVENT_REMAP;
	char name[16];
	int ret;

	h->cache = c;
	h->uffd = -1;
	h->evfd = -1;
	pthread_mutex_init(&h->cmd_lock, NULL);
	ret = fc__uffd_open(want, &c->uffd_features, &c->user_mode_only);
	if (ret < 0)
		return ret;
	h->uffd = ret;
	h->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->evfd < 0)
		return -errno;
	ret = fc__io_ring_init(h);
	if (ret)
		return ret;
	ret = pthread_create(&h->thread, NULL, handler_main, h);
	if (ret)
		return -ret;
	h->started = true;
	/* what top, perf and gdb show for it (best effort) */
	snprintf(name, sizeof(name), "fc-handler%u",
		 (unsigned)(h - c->handlers));
	pthread_setname_np(h->thread, name);
	return 0;
}
