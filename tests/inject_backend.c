/* SPDX-License-Identifier: MIT */
/* inject_backend.c - see inject_backend.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inject_backend.h"

#define IB_MAX_RULES 16

struct ib_req {
	struct ib_req *next;
	uint64_t off;
	void *buf;
	size_t len;
	struct fc_backend_req *req;
};

struct ib_rule {
	enum ib_kind kind;
	uint64_t off, len;
	int count, arg;
};

struct ib {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ib_req *head, **tail;
	bool stop;
	pthread_t *thr;
	unsigned nthr;
	struct ib_rule rules[IB_MAX_RULES];
	unsigned nrules;
	uint64_t reads, lo, hi;
	atomic_bool released;
};

/* The first rule of @kind overlapping the request, consumed. Lock held. */
static struct ib_rule *match(struct ib *b, enum ib_kind kind, uint64_t off,
			     size_t len)
{
	unsigned i;

	for (i = 0; i < b->nrules; i++) {
		struct ib_rule *r = &b->rules[i];

		if (r->kind != kind || !r->count || off >= r->off + r->len ||
		    off + len <= r->off)
			continue;
		if (r->count > 0)
			r->count--;
		return r;
	}
	return NULL;
}

/* The argument of a matching rule of @kind (consumed), else 0. Lock held. */
static int match_arg(struct ib *b, enum ib_kind kind, const struct ib_req *q)
{
	struct ib_rule *r = match(b, kind, q->off, q->len);

	return r ? r->arg : 0;
}

static void serve(struct ib *b, struct ib_req *q)
{
	int delay, err, over, bad;
	bool shorten;
	ssize_t n;

	pthread_mutex_lock(&b->lock);
	delay = match_arg(b, IB_DELAY, q);
	err = match_arg(b, IB_FAIL, q);
	shorten = match(b, IB_SHORT, q->off, q->len) != NULL;
	over = match_arg(b, IB_OVERCOUNT, q);
	bad = match_arg(b, IB_BADERR, q);
	pthread_mutex_unlock(&b->lock);
	if (delay) {
		struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (err || bad) {
		fc_backend_complete(q->req, bad ? bad : -err);
		return;
	}
	if (shorten && q->len > 1)
		q->len /= 2;
	n = pread(b->fd, q->buf, q->len, (off_t)q->off);
	fc_backend_complete(q->req, n < 0 ? -errno : n + over);
}

static void *worker(void *arg)
{
	struct ib *b = arg;

	for (;;) {
		struct ib_req *q;

		pthread_mutex_lock(&b->lock);
		while (!b->head && !b->stop)
			pthread_cond_wait(&b->cond, &b->lock);
		q = b->head;
		if (!q) {
			pthread_mutex_unlock(&b->lock);
			return NULL;
		}
		b->head = q->next;
		if (!b->head)
			b->tail = &b->head;
		pthread_mutex_unlock(&b->lock);
		serve(b, q);
		free(q);
	}
}

static int ib_read(void *ctx, uint64_t off, void *buf, size_t len,
		   struct fc_backend_req *req)
{
	struct ib *b = ctx;
	struct ib_req *q;
	struct ib_rule *r;

	pthread_mutex_lock(&b->lock);
	if (!b->reads || off < b->lo)
		b->lo = off;
	if (!b->reads || off + len - 1 > b->hi)
		b->hi = off + len - 1;
	b->reads++;
	r = match(b, IB_SYNC_FAIL, off, len);
	pthread_mutex_unlock(&b->lock);
	if (r)
		return -r->arg;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->off = off;
	q->buf = buf;
	q->len = len;
	q->req = req;
	pthread_mutex_lock(&b->lock);
	*b->tail = q;
	b->tail = &q->next;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int ib_size(void *ctx, uint64_t *size)
{
	struct ib *b = ctx;
	off_t end = lseek(b->fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

static void ib_stop(struct ib *b)
{
	unsigned i;

	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	for (i = 0; i < b->nthr; i++)
		pthread_join(b->thr[i], NULL);
	b->nthr = 0;
}

static void ib_release(void *ctx)
{
	struct ib *b = ctx;

	ib_stop(b);	/* the library waited for every read: queue empty */
	atomic_store(&b->released, true);
}

const struct fc_backend_ops ib_ops = {
	.size = sizeof(struct fc_backend_ops),
	.read = ib_read,
	.get_size = ib_size,
	.release = ib_release,
};

struct ib *ib_new(int fd, unsigned workers)
{
	struct ib *b = calloc(1, sizeof(*b));
	unsigned i;

	if (!b)
		return NULL;
	b->fd = fd;
	b->tail = &b->head;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->thr = calloc(workers, sizeof(*b->thr));
	for (i = 0; b->thr && i < workers; i++)
		if (!pthread_create(&b->thr[i], NULL, worker, b))
			b->nthr++;
	return b;
}

void ib_rule(struct ib *b, enum ib_kind kind, uint64_t off, uint64_t len,
	     int count, int arg)
{
	pthread_mutex_lock(&b->lock);
	if (b->nrules < IB_MAX_RULES)
		b->rules[b->nrules++] = (struct ib_rule){ kind, off, len,
							  count, arg };
	pthread_mutex_unlock(&b->lock);
}

uint64_t ib_reads(struct ib *b, uint64_t *lo, uint64_t *hi)
{
	uint64_t n;

	pthread_mutex_lock(&b->lock);
	n = b->reads;
	if (lo)
		*lo = b->lo;
	if (hi)
		*hi = b->hi;
	pthread_mutex_unlock(&b->lock);
	return n;
}

bool ib_released(struct ib *b)
{
	return atomic_load(&b->released);
}

void ib_free(struct ib *b)
{
	if (!b)
		return;
	ib_stop(b);
	free(b->thr);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
