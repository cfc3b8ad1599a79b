/* SPDX-License-Identifier: MIT */
/*
 * test_slow_syscalls: the system calls fc_map and fc_unmap make for a
 * file's store region (its alias: mmap, madvise, UFFDIO_REGISTER; munmap
 * when the file goes) delay no fault of another mapping. Every fault
 * takes cache->lock, so they must run without it (issue 24, review 4).
 *
 * White-box: linked with wrap.c, whose mmap and munmap hooks stop the
 * mapping thread inside the alias's call until the faulting thread has
 * read through its own mapping, or 20 s have passed. A library that held
 * the lock there makes the faults wait for those 20 s, and the check that
 * the faulting thread let the hook go, not the clock, fails.
 *
 * And a handler stopped by the read hook between reading a remap event
 * and applying it: the faults that follow the program's mremap, read by
 * another handler, wait for the table to follow the move.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "mapping.h"
#include "maptab.h"
#include "types.h"
#include "wrap.h"

#define PG 4096
#define SIZE (16u << 20)	/* the file faulted on */
#define OTHER (3u << 20)	/* the file mapped and unmapped meanwhile */
#define HOLD_NS (20ll * 1000000000)

static struct {
	atomic_int memfd;	/* the cache's store: its alias is the target */
	atomic_size_t len;	/* the alias's length */
	atomic_int stopped;	/* the hook holds the mapping thread */
	atomic_int released;	/* the faulting thread let it go */
	atomic_int timed_out;	/* the hook gave up waiting */
} hold;

static __thread bool stop_me;	/* only this thread is stopped */

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* Stop the chosen thread until released, once. */
static void stop_here(void)
{
	long long end = now_ns() + HOLD_NS;

	if (!stop_me || atomic_exchange(&hold.stopped, 1))
		return;
	while (!atomic_load(&hold.released) && now_ns() < end)
		usleep(1000);
	if (!atomic_load(&hold.released))
		atomic_store(&hold.timed_out, 1);
}

static void on_mmap(size_t len, int flags, int fd)
{
	if (fd == atomic_load(&hold.memfd) && (flags & MAP_SHARED) &&
	    len == atomic_load(&hold.len))
		stop_here();
}

static void on_munmap(void *addr, size_t len)
{
	(void)addr;
	if (len == atomic_load(&hold.len))
		stop_here();
}

struct job {
	struct fc_cache *c;
	int fd;
	unsigned char *p;	/* fc_map's result, or the mapping to unmap */
	int err;
	atomic_int done;
};

static void *do_map(void *arg)
{
	struct job *j = arg;

	stop_me = true;
	/* a one-page window: the view is not the alias's length */
	j->p = fc_map(j->c, j->fd, 0, PG, 0);
	j->err = j->p ? 0 : errno;
	atomic_store(&j->done, 1);
	return NULL;
}

static void *do_unmap(void *arg)
{
	struct job *j = arg;

	stop_me = true;
	j->err = fc_unmap(j->p) ? errno : 0;
	atomic_store(&j->done, 1);
	return NULL;
}

/*
 * Start @fn on @j in a thread the hook stops, wait until it is stopped,
 * fault pages of @x's mapping it never read (misses: each takes the
 * lock), let the thread go and join it.
 */
static void faults_while_stopped(struct th_fx *x, void *(*fn)(void *),
				 struct job *j)
{
	unsigned char got[PG];
	pthread_t t;
	size_t off;
	int i;

	atomic_store(&hold.stopped, 0);
	atomic_store(&hold.released, 0);
	atomic_store(&hold.timed_out, 0);
	atomic_store(&j->done, 0);
	assert_int_equal(pthread_create(&t, NULL, fn, j), 0);
	while (!atomic_load(&hold.stopped) && !atomic_load(&j->done))
		usleep(1000);
	if (!atomic_load(&hold.stopped))
		fail_msg("the call ended without mapping or unmapping the "
			 "alias (%zu bytes)", atomic_load(&hold.len));
	for (i = 0; i < 8; i++) {
		off = (size_t)(i * 2 + 1) * (1u << 20) + (size_t)i * PG;
		assert_int_equal(th_copy(got, x->p + off, PG), 0);
		assert_memory_equal(got, x->ref + off, PG);
	}
	atomic_store(&hold.released, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(hold.timed_out, 0);	/* the faults came first */
}

/*
 * Wait until only the table holds the mapping at @p: copy mode's handler
 * fills a new view (FC_CMD_POPULATE) with a reference of its own, and
 * whoever puts the last frees the file.
 */
static void wait_unused(void *p)
{
	struct fc_mapping *m = fc__mapping_lookup((uintptr_t)p);

	assert_non_null(m);
	while (atomic_load(&m->refs) > 2)	/* the table's and ours */
		usleep(1000);
	fc__mapping_put(m);
}

static void map_and_unmap_delay_no_fault(void **state)
{
	struct th_fx *x = th_fx_new(SIZE, 91, 0, true);
	struct th_fx *y = th_fx_file(OTHER, 92);
	struct job j = { .c = x->c, .fd = y->fd };

	(void)state;
	atomic_store(&hold.memfd, x->c->memfd);
	atomic_store(&hold.len, OTHER);
	tw_mmap_hook(on_mmap);
	faults_while_stopped(x, do_map, &j);	/* inside the alias's mmap */
	tw_mmap_hook(NULL);
	assert_int_equal(j.err, 0);
	/* never read: nothing to keep it for, the unmap frees it, alias too */
	wait_unused(j.p);
	tw_munmap_hook(on_munmap);
	faults_while_stopped(x, do_unmap, &j);	/* inside the alias's munmap */
	tw_munmap_hook(NULL);
	assert_int_equal(j.err, 0);
	th_fx_free(y);
	th_fx_free(x);
}

/*
 * A handler stopped between reading a remap event and applying it (the
 * hook stops the reading thread after the read, as a preemption there
 * would). The program's mremap has returned; its next faults, on the view
 * the move went over, reach the other handler, which must not serve them
 * from the table as it was: it would fill the moved range with the file
 * offsets of the view it went over (issue 24, found in test_mremap).
 */
static struct {
	atomic_int armed;	/* stop the next read of a remap event */
	atomic_int stopped;	/* the hook stopped a reader (and let it go) */
	int fds[66];		/* the cache's uffds */
	int nfds;
} late;

static void on_read(int fd, const void *buf, ssize_t ret)
{
	const struct uffd_msg *msg = buf;
	size_t i, n;
	int k;

	if (!atomic_load(&late.armed) || ret < (ssize_t)sizeof(*msg))
		return;
	for (k = 0; k < late.nfds && late.fds[k] != fd; k++)
		;
	if (k == late.nfds)
		return;
	n = (size_t)ret / sizeof(*msg);
	for (i = 0; i < n; i++)
		if (msg[i].event == UFFD_EVENT_REMAP &&
		    atomic_exchange(&late.armed, 0)) {
			usleep(300 * 1000);
			atomic_store(&late.stopped, 1);
			return;
		}
}

static void remap_applied_late(void **state)
{
	struct th_fx *f = th_fx_new(64 * PG, 93, 0, false);
	struct fc_cache *c = f->c;
	unsigned char *p = fc_map(c, f->fd, 0, 8 * PG, 0);
	unsigned char *q = fc_map(c, f->fd, 16 * PG, 24 * PG, 0), *np;
	unsigned i;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	if (!c->inline_mode) {	/* the move's reader is not the fault's */
		struct fc_mapping *mp = fc__mapping_lookup((uintptr_t)p);
		struct fc_mapping *mq = fc__mapping_lookup((uintptr_t)q);

		assert_ptr_not_equal(mp->h, mq->h);
		fc__mapping_put(mp);
		fc__mapping_put(mq);
	}
	late.nfds = 0;
	for (i = 0; i < c->cfg.handler_threads; i++)
		late.fds[late.nfds++] = c->handlers[i].uffd;
	if (c->inline_uffd >= 0)
		late.fds[late.nfds++] = c->inline_uffd;
	atomic_store(&late.stopped, 0);
	atomic_store(&late.armed, 1);
	tw_read_hook(on_read);
	np = mremap(p, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
		    q + 8 * PG);
	assert_ptr_equal(np, q + 8 * PG);
	th_moved_over_check(f, q);
	tw_read_hook(NULL);
	assert_int_equal(atomic_load(&late.stopped), 1);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(map_and_unmap_delay_no_fault),
		cmocka_unit_test(remap_applied_late),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
