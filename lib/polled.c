/* SPDX-License-Identifier: MIT */
/*
 * polled.c - polled reads: an inline fault (FC_CONFIG_INLINE) with
 * cfg.poll_us reads its page in a ring of its own and polls for the
 * completion, where that pays, instead of sleeping in pread.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "polled.h"
#include "util.h"

/*
 * A thread that sleeps for its read lets its CPU go idle, and on a
 * virtual machine an idle vCPU halts: the completion's interrupt then has
 * to wake it in the host first, a good part of a small read's latency
 * (docs/design.md, "Inline faults", "Polling for the read"). A thread
 * that polls a ring's completion queue keeps its CPU, and the completion
 * is posted to it while it runs (the ring is not COOP_TASKRUN: its task
 * work interrupts the poller). Polling costs the CPU for as long as the
 * read takes, up to poll_us; after that the thread sleeps in the ring.
 * Rings are few, half the CPUs, so that pollers never take all of them:
 * a thread that finds none free reads with pread, asleep, as without
 * poll_us. Rings that cannot be had (no memory, io_uring restricted)
 * leave the cache without polling.
 */
struct fc_poller {
	atomic_bool busy;	/* a try-lock on the ring: see poller busy */
	struct io_uring ring;	/* the thread that holds busy only */
};

/**
 * fc__pollers_init - the rings of an inline cache with poll_us: @n, or
 * half the online CPUs (at least 1, at most 64) for @n 0. None if they
 * cannot all be had: reads are then not polled for.
 * Context: fc_cache_create; tests, with no fault under way.
 */
void fc__pollers_init(struct fc_cache *c, unsigned n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned i;

	if (!c->inline_mode || !c->cfg.poll_us)
		return;
	if (!n)
		n = cpus > 3 ? (unsigned)(cpus / 2) : 1;
	if (n > 64)
		n = 64;
	c->pollers = calloc(n, sizeof(*c->pollers));
	if (!c->pollers)
		return;
	for (i = 0; i < n; i++) {
		/* 2: one read and room; no SQPOLL, no COOP_TASKRUN */
		if (io_uring_queue_init(2, &c->pollers[i].ring, 0) < 0) {
			fc__pollers_destroy(c);	/* the ones made so far */
			return;
		}
		c->nr_pollers = i + 1;
	}
}

/* Context: fc_cache_destroy (no inline fault left) or a failed create. */
void fc__pollers_destroy(struct fc_cache *c)
{
	unsigned i;

	for (i = 0; i < c->nr_pollers; i++)
		io_uring_queue_exit(&c->pollers[i].ring);
	free(c->pollers);
	c->pollers = NULL;
	c->nr_pollers = 0;
	atomic_store(&c->nr_poll_retired, 0);
}

static struct fc_poller *poller_take(struct fc_cache *c)
{
	unsigned i;

	for (i = 0; i < c->nr_pollers; i++) {
		struct fc_poller *p = &c->pollers[i];

		if (!atomic_load_explicit(&p->busy, memory_order_relaxed) &&
		    !atomic_exchange_explicit(&p->busy, true,
					      memory_order_acquire))
			return p;
	}
	return NULL;
}

static void poller_give(struct fc_poller *p)
{
	atomic_store_explicit(&p->busy, false, memory_order_release);
}

/* More inline faults under way than rings: their threads want the CPUs. */
static bool pollers_crowded(struct fc_cache *c)
{
	return (unsigned)atomic_load_explicit(&c->inline_active,
					      memory_order_relaxed) >
	       c->nr_pollers - atomic_load_explicit(&c->nr_poll_retired,
						    memory_order_relaxed);
}

static atomic_int inject_submit;	/* test hook: lock: none, atomic */

/* Test hook: the next @count polled reads fail to be submitted. */
void fc__poll_inject_submit_failure(int count)
{
	atomic_store(&inject_submit, count);
}

/*
 * io_uring_submit(3) of the one read prepared in @p's ring, or the
 * failure a test asked for, with the read left in the ring as a real
 * failure leaves it.
 */
static int poller_submit(struct fc_poller *p)
{
	int n = atomic_load(&inject_submit);

	while (n > 0)
		if (atomic_compare_exchange_weak(&inject_submit, &n, n - 1))
			return -EAGAIN;
	return io_uring_submit(&p->ring);
}

/*
 * The completion of the one read in @p's ring: polled for up to poll_us,
 * or until other faults crowd in, then waited for. It must be had
 * whatever happens: the read writes into its buffer until it completes.
 */
static struct io_uring_cqe *poller_wait(struct fc_cache *c,
					struct fc_poller *p)
{
	uint64_t end = fc__now_ns() + (uint64_t)c->cfg.poll_us * 1000;
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&p->ring, &cqe)) {
		if (++n % 32 || (fc__now_ns() < end && !pollers_crowded(c))) {
			fc__cpu_relax();
			continue;
		}
		atomic_fetch_add_explicit(&c->nr_poll_slept, 1,
					  memory_order_relaxed);
		while (io_uring_wait_cqe(&p->ring, &cqe))
			usleep(100);	/* EINTR: signals are blocked here */
		break;
	}
	return cqe;
}

/*
 * Whether polling pays is a property of the host and the device, not of
 * the library: on some hosts a polled read is the faster, on others it
 * is not, and it always costs more CPU (docs/design.md, "Polling for the
 * read", "Polling only where it pays"). So each file measures both ways
 * and polls only while polled reads are the faster: a moving mean of the
 * latency of each (rising by 1/8 of a slower read, falling by half of a
 * faster one: see poll_note), with one read in FC_POLL_EXPLORE taking the
 * other way so that both means follow a change. Only reads that were
 * free to choose are measured: with the rings crowded or taken every read
 * sleeps, and the queueing behind it is not the price of sleeping.
 */
#define FC_POLL_EXPLORE 16

/* test hook: lock: none, atomic */
static atomic_uint inject_polled_us, inject_slept_us;
static atomic_bool inject_exact;

/* Test hook: polled reads take @polled_us longer, slept ones @slept_us. */
void fc__poll_inject_delay(unsigned polled_us, unsigned slept_us)
{
	atomic_store(&inject_exact, false);
	atomic_store(&inject_polled_us, polled_us);
	atomic_store(&inject_slept_us, slept_us);
}

/*
 * Test hook: polled reads are measured as @polled_us exactly, slept ones
 * as @slept_us, whatever they took (0, 0: measured again), so that a
 * test of the choice does not depend on the machine's load.
 */
void fc__poll_inject_time(unsigned polled_us, unsigned slept_us)
{
	atomic_store(&inject_exact, polled_us || slept_us);
	atomic_store(&inject_polled_us, polled_us);
	atomic_store(&inject_slept_us, slept_us);
}

static void poll_note(atomic_ullong *avg, uint64_t since, atomic_uint *delay)
{
	unsigned us = atomic_load_explicit(delay, memory_order_relaxed);
	uint64_t ns, a;

	if (atomic_load_explicit(&inject_exact, memory_order_relaxed)) {
		ns = (uint64_t)us * 1000;
	} else {
		if (us)
			usleep(us);
		ns = fc__now_ns() - since;
	}
	a = atomic_load_explicit(avg, memory_order_relaxed);
	/*
	 * A read whose thread lost its CPU for a while says little about
	 * polling: one sample moves the mean by at most 3/8 of it.
	 */
	if (a && ns > 4 * a)
		ns = 4 * a;
	/*
	 * Load only ever adds to a read's time, and the way not taken is
	 * measured on one read in FC_POLL_EXPLORE: a stall that raised its
	 * mean would otherwise hold for FC_POLL_EXPLORE reads per 1/8 it
	 * falls (hundreds of reads the slower way). So a mean falls half
	 * way to a faster read at once, and rises by 1/8 of a slower one.
	 */
	if (!a)
		a = ns;
	else if (ns < a)
		a -= (a - ns) / 2;
	else
		a += (ns - a) / 8;
	/* a lost update between two readers costs one sample, no more */
	atomic_store_explicit(avg, a ? a : 1, memory_order_relaxed);
}

/* Should this read of @f be polled for? Each way is tried once first. */
static bool poll_pays(struct fc_file *f)
{
	uint64_t pa = atomic_load_explicit(&f->poll_avg_ns,
					   memory_order_relaxed);
	uint64_t sa = atomic_load_explicit(&f->sleep_avg_ns,
					   memory_order_relaxed);
	unsigned n;

	if (!pa || !sa)
		return !pa;
	n = atomic_fetch_add_explicit(&f->poll_choices, 1,
				      memory_order_relaxed);
	return (pa <= sa) != (n % FC_POLL_EXPLORE == FC_POLL_EXPLORE - 1);
}

/*
 * The read of @len bytes at @off into @dst in @p's ring, polled for.
 * Return: as pread; -2 when it could not be submitted (@p is then
 * retired, and the caller reads with pread).
 */
static ssize_t read_ring(struct fc_cache *c, struct fc_poller *p, int fd,
			 void *dst, size_t len, off_t off)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int res;

	sqe = io_uring_get_sqe(&p->ring);
	if (!sqe) {	/* cannot be: one read at a time */
		poller_give(p);
		return -2;
	}
	io_uring_prep_read(sqe, fd, dst, (unsigned)len, (uint64_t)off);
	res = poller_submit(p);
	if (res != 1) {
		/*
		 * The read is left in the ring (it was not taken): nothing
		 * may submit it later, into a buffer reused by then, so the
		 * ring stays busy for good, and this read is done asleep.
		 */
		atomic_fetch_add_explicit(&c->nr_poll_retired, 1,
					  memory_order_relaxed);
		return -2;
	}
	atomic_fetch_add_explicit(&c->nr_polled, 1, memory_order_relaxed);
	cqe = poller_wait(c, p);
	res = cqe->res;
	io_uring_cqe_seen(&p->ring, cqe);
	poller_give(p);
	if (res < 0) {
		errno = -res;
		return -1;
	}
	return res;
}

/**
 * fc__read_polled - pread(2) of @len bytes at @off of @f into @dst, in a
 * poller's ring when one is free and polling pays for @f (the read polled
 * for), else pread itself. Return: as pread.
 */
ssize_t fc__read_polled(struct fc_file *f, int fd, void *dst, size_t len,
			off_t off)
{
	struct fc_cache *c = f->cache;
	struct fc_poller *p = NULL;
	bool measure = false;
	uint64_t t0 = 0;
	ssize_t n;

	/* more faults than rings: a poller keeps a CPU their threads want */
	if (!f->in_memory && c->nr_pollers && !pollers_crowded(c)) {
		bool poll = c->poll_fixed || poll_pays(f);

		if (poll)
			p = poller_take(c);
		measure = !c->poll_fixed && (p || !poll);
		t0 = measure ? fc__now_ns() : 0;
	}
	if (p) {
		n = read_ring(c, p, fd, dst, len, off);
		if (n > 0 && measure)
			poll_note(&f->poll_avg_ns, t0, &inject_polled_us);
		if (n != -2)
			return n;
		measure = false;
	}
	n = pread(fd, dst, len, off);
	if (n > 0 && measure)
		poll_note(&f->sleep_avg_ns, t0, &inject_slept_us);
	return n;
}
