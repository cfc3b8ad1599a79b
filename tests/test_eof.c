/* SPDX-License-Identifier: MIT */
/*
 * test_eof: a read whose source ends early. White-box: linked with wrap.c
 * (ld --wrap), whose ioctl hook looks at a view right after each
 * UFFDIO_COPY, before the read that made it has ended.
 *
 * Covered: the file is cut short while a read of it is under way, and
 * written back in part before the library looks at its size again (a log
 * rotated in place). The pages from the one the read stopped in hold
 * zeros that are not the file's: they never show in a view, not even for
 * the moment between their copy into it and their drop, and the fault
 * that wanted one of them gets the file's bytes (pread).
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "wrap.h"

#define PG 4096
#define SIZE (64 * PG)
#define T 20		/* the page the reader wants */

/*
 * A backend over a real file, read and sized as it is now (pread,
 * lseek), whose first read of page T acts out the rotation: it cuts the
 * file at T, reads (short: the bytes before T), and, when the read of the
 * rest finds the end, writes back the file's bytes up to @grown, past T
 * but short of the read's end, before it answers.
 */
struct rot {
	int fd;
	const unsigned char *ref;
	/* set by the handler thread, read by the test's: atomic */
	_Atomic uint64_t grown;
	atomic_int state;	/* 0: not yet cut, 1: cut, 2: written back */
	_Atomic uint64_t read_end;	/* end of the read that was cut */
};

static int rot_read(void *ctx, uint64_t off, void *buf, size_t len,
		    struct fc_backend_req *req)
{
	struct rot *r = ctx;
	uint64_t grown = T * PG + PG + 100;
	ssize_t n;

	if (r->state == 0 && off <= T * PG && off + len > T * PG) {
		r->state = 1;
		r->read_end = off + len;
		r->grown = grown;
		if (ftruncate(r->fd, T * PG))
			return -errno;
	}
	n = pread(r->fd, buf, len, (off_t)off);
	/* the rest of the read that was cut (not another read ahead) */
	if (n == 0 && r->state == 1 && off >= T * PG && off < r->read_end) {
		r->state = 2;
		if (pwrite(r->fd, r->ref + T * PG, grown - T * PG,
			   T * PG) != (ssize_t)(grown - T * PG))
			return -EIO;
	}
	fc_backend_complete(req, n < 0 ? -errno : n);
	return 0;
}

static int rot_size(void *ctx, uint64_t *size)
{
	off_t end = lseek(((struct rot *)ctx)->fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

static const struct fc_backend_ops rot_ops = {
	.size = sizeof(struct fc_backend_ops),
	.read = rot_read,
	.get_size = rot_size,
};

/* What the ioctl hook saw. */
static struct {
	pthread_mutex_t lock;	/* the hook looks while view is set */
	const unsigned char *view;
	int fd;
	atomic_int copies_of_t;	/* UFFDIO_COPYs that mapped page T */
	atomic_int wrong;	/* of them, showing other bytes than pread */
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * After a UFFDIO_COPY that mapped page T of the view: it is present now,
 * and any thread that touches it reads what this one reads here.
 */
static void on_ioctl(int fd, unsigned long req, void *arg, int ret)
{
	const struct uffdio_copy *c = arg;
	unsigned char now[PG], want[PG];
	uintptr_t t;

	(void)fd;
	(void)ret;
	if (req != UFFDIO_COPY)
		return;
	pthread_mutex_lock(&seen.lock);
	t = (uintptr_t)seen.view + T * PG;
	if (seen.view && c->copy > 0 && c->dst <= t &&
	    c->dst + (uint64_t)c->copy >= t + PG) {
		seen.copies_of_t++;
		memcpy(now, (const void *)t, PG);
		if (pread(seen.fd, want, PG, T * PG) != PG ||
		    memcmp(now, want, PG))
			seen.wrong++;
	}
	pthread_mutex_unlock(&seen.lock);
}

static void rotated_during_read(void **state)
{
	struct th_fx *f = th_fx_file(SIZE, 51);
	struct fc_cache *c = th_cache_create();
	struct rot r = { .fd = f->fd, .ref = f->ref };
	unsigned char *p, *want;
	size_t len;

	(void)state;
	assert_non_null(c);
	p = fc_map_backend(c, &rot_ops, &r, 0, 0, 0);
	assert_non_null(p);
	seen.fd = f->fd;
	seen.view = p;
	tw_ioctl_hook(on_ioctl);
	/* the fault on T: its read is cut, and ends short of the file */
	want = malloc(PG);
	assert_non_null(want);
	assert_int_equal(th_copy(want, p + T * PG, PG), 0);
	pthread_mutex_lock(&seen.lock);	/* the view is not looked at now */
	seen.view = NULL;
	pthread_mutex_unlock(&seen.lock);
	tw_ioctl_hook(NULL);
	assert_int_equal(r.state, 2);	/* the rotation was acted out */
	assert_true(r.read_end > r.grown);	/* the read wanted more */
	assert_int_equal(seen.wrong, 0);	/* no zeros shown, ever */
	assert_memory_equal(want, f->ref + T * PG, PG);
	/* and every byte the file has now, through the view */
	len = (size_t)r.grown;
	free(want);
	want = malloc(len);
	assert_non_null(want);
	assert_int_equal(th_copy(want, p, len), 0);
	assert_memory_equal(want, f->ref, len);
	free(want);
	assert_int_equal(fc_unmap(p), 0);
	fc_cache_destroy(c);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rotated_during_read),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
