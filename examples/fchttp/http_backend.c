/* SPDX-License-Identifier: MIT */
/*
 * http_backend.c - see http_backend.h.
 *
 * read() queues the request and returns at once; a worker thread sends
 * "GET path" with "Range: bytes=a-b" on its keep-alive connection, reads
 * the 206 reply straight into the cache's buffer and completes it. A
 * connection that fails is reopened and the request sent once more; any
 * other failure (status, length, a second failure) completes with -EIO,
 * which libfaultcache retries once and then turns into SIGBUS.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_backend.h"

struct req {
	struct req *next;
	uint64_t off;
	char *buf;
	size_t len;
	struct fc_backend_req *done;
};

struct conn {
	int fd;
	char in[8192];
	size_t have, pos;	/* buffered bytes in[pos, have) */
};

struct fc_http {
	char host[256], port[16], path[1024];
	uint64_t size;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct req *head, **tail;
	bool stop;
	pthread_t *thr;
	unsigned nthr;
	atomic_ullong requests, bytes;
};

static int parse_url(struct fc_http *h, const char *url)
{
	const char *p, *slash, *colon;

	if (strncmp(url, "http://", 7))
		return -1;
	p = url + 7;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	if ((colon ? colon : slash) == p ||
	    (size_t)((colon ? colon : slash) - p) >= sizeof(h->host))
		return -1;
	snprintf(h->host, sizeof(h->host), "%.*s",
		 (int)((colon ? colon : slash) - p), p);
	if (colon)
		snprintf(h->port, sizeof(h->port), "%.*s",
			 (int)(slash - colon - 1), colon + 1);
	else
		snprintf(h->port, sizeof(h->port), "80");
	snprintf(h->path, sizeof(h->path), "%s", *slash ? slash : "/");
	return 0;
}

static int conn_open(const struct fc_http *h, struct conn *c)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(h->host, h->port, &hints, &res))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -ECONNREFUSED;
	c->fd = fd;
	c->have = c->pos = 0;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Fill @dst with @n body bytes: the buffered ones first, then the socket. */
static int recv_body(struct conn *c, char *dst, size_t n)
{
	size_t take = c->have - c->pos < n ? c->have - c->pos : n;

	memcpy(dst, c->in + c->pos, take);
	c->pos += take;
	dst += take;
	n -= take;
	while (n) {
		ssize_t r = recv(c->fd, dst, n, 0);

		if (r <= 0)
			return -EIO;
		dst += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * Read the status line and headers. Returns the status, or -errno; sets
 * *clen (-1 if absent), *ranges (Accept-Ranges: bytes), *close.
 */
static int recv_head(struct conn *c, long long *clen, bool *ranges,
		     bool *close_after)
{
	char *end, *line;
	int status;

	for (;;) {	/* until the blank line is buffered */
		ssize_t r;

		if (c->pos && c->pos == c->have)
			c->pos = c->have = 0;
		c->in[c->have] = 0;
		end = strstr(c->in + c->pos, "\r\n\r\n");
		if (end)
			break;
		if (c->have >= sizeof(c->in) - 1)
			return -EPROTO;
		r = recv(c->fd, c->in + c->have, sizeof(c->in) - 1 - c->have, 0);
		if (r <= 0)
			return -EIO;
		c->have += (size_t)r;
	}
	*end = 0;
	line = c->in + c->pos;
	c->pos = (size_t)(end + 4 - c->in);
	if (sscanf(line, "HTTP/1.%*d %d", &status) != 1)
		return -EPROTO;
	*clen = -1;
	*ranges = false;
	*close_after = false;
	while ((line = strstr(line, "\r\n"))) {
		line += 2;
		if (!strncasecmp(line, "Content-Length:", 15))
			*clen = atoll(line + 15);
		else if (!strncasecmp(line, "Accept-Ranges:", 14) &&
			 strstr(line, "bytes"))
			*ranges = true;
		else if (!strncasecmp(line, "Connection:", 11) &&
			 strstr(line, "close"))
			*close_after = true;
	}
	return status;
}

/* One request on @c. Returns bytes stored, or -errno. */
static ssize_t do_range(struct fc_http *h, struct conn *c, struct req *q)
{
	char hdr[1536];
	long long clen;
	bool ranges, close_after;
	int n, st;

	n = snprintf(hdr, sizeof(hdr),
		     "GET %s HTTP/1.1\r\nHost: %s\r\n"
		     "Range: bytes=%llu-%llu\r\n\r\n",
		     h->path, h->host, (unsigned long long)q->off,
		     (unsigned long long)(q->off + q->len - 1));
	if (send_all(c->fd, hdr, (size_t)n))
		return -ECONNRESET;
	st = recv_head(c, &clen, &ranges, &close_after);
	if (st == -EIO)
		return -ECONNRESET;
	if (st != 206 || clen < 0 || (unsigned long long)clen > q->len) {
		conn_close(c);	/* the stream is out of step now */
		return -EIO;
	}
	if (recv_body(c, q->buf, (size_t)clen))
		return -ECONNRESET;
	if (close_after)
		conn_close(c);
	h->requests++;
	h->bytes += (unsigned long long)clen;
	return (ssize_t)clen;
}

static void *worker(void *arg)
{
	struct fc_http *h = arg;
	struct conn c = { .fd = -1 };

	for (;;) {
		struct req *q;
		ssize_t res = -ECONNRESET;
		int tries;

		pthread_mutex_lock(&h->lock);
		while (!h->head && !h->stop)
			pthread_cond_wait(&h->cond, &h->lock);
		q = h->head;
		if (q) {
			h->head = q->next;
			if (!h->head)
				h->tail = &h->head;
		}
		pthread_mutex_unlock(&h->lock);
		if (!q)
			break;
		/* a kept-alive connection may have been closed: reopen once */
		for (tries = 0; tries < 2 && res == -ECONNRESET; tries++) {
			if (tries)
				conn_close(&c);
			if (c.fd < 0 && conn_open(h, &c)) {
				res = -EIO;
				break;
			}
			res = do_range(h, &c, q);
		}
		if (res == -ECONNRESET)
			res = -EIO;
		fc_backend_complete(q->done, res);
		free(q);
	}
	conn_close(&c);
	return NULL;
}

static int http_read(void *ctx, uint64_t off, void *buf, size_t len,
		     struct fc_backend_req *done)
{
	struct fc_http *h = ctx;
	struct req *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->off = off;
	q->buf = buf;
	q->len = len;
	q->done = done;
	pthread_mutex_lock(&h->lock);
	*h->tail = q;
	h->tail = &q->next;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int http_get_size(void *ctx, uint64_t *size)
{
	*size = ((struct fc_http *)ctx)->size;
	return 0;
}

static void http_release(void *ctx)
{
	fc_http_close(ctx);
}

const struct fc_backend_ops fc_http_ops = {
	.size = sizeof(struct fc_backend_ops),
	.read = http_read,
	.get_size = http_get_size,
	.release = http_release,
};

/* HEAD: the size, and whether ranges are served. */
static int probe(struct fc_http *h, char *err, size_t errlen)
{
	struct conn c = { .fd = -1 };
	char hdr[1536];
	long long clen;
	bool ranges, close_after;
	int n, st, ret;

	ret = conn_open(h, &c);
	if (ret) {
		snprintf(err, errlen, "cannot connect to %s:%s: %s", h->host,
			 h->port, strerror(-ret));
		return -1;
	}
	n = snprintf(hdr, sizeof(hdr), "HEAD %s HTTP/1.1\r\nHost: %s\r\n\r\n",
		     h->path, h->host);
	st = send_all(c.fd, hdr, (size_t)n) ? -EIO
					     : recv_head(&c, &clen, &ranges,
							 &close_after);
	conn_close(&c);
	if (st < 0) {
		snprintf(err, errlen, "no HTTP reply from %s:%s", h->host,
			 h->port);
		return -1;
	}
	if (st != 200 || clen < 0) {
		snprintf(err, errlen, "HEAD %s: status %d%s", h->path, st,
			 clen < 0 && st == 200 ? ", no Content-Length" : "");
		return -1;
	}
	if (!ranges) {
		snprintf(err, errlen, "%s does not serve byte ranges", h->host);
		return -1;
	}
	h->size = (uint64_t)clen;
	return 0;
}

struct fc_http *fc_http_open(const char *url, unsigned workers, char *err,
			     size_t errlen)
{
	struct fc_http *h = calloc(1, sizeof(*h));
	unsigned i;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->tail = &h->head;
	if (parse_url(h, url)) {
		snprintf(err, errlen, "not an http:// URL: %s", url);
		goto fail;
	}
	if (probe(h, err, errlen))
		goto fail;
	h->thr = calloc(workers ? workers : 1, sizeof(*h->thr));
	for (i = 0; h->thr && i < (workers ? workers : 1); i++)
		if (!pthread_create(&h->thr[i], NULL, worker, h))
			h->nthr++;
	if (!h->nthr) {
		snprintf(err, errlen, "cannot start worker threads");
		goto fail;
	}
	return h;
fail:
	fc_http_close(h);
	return NULL;
}

uint64_t fc_http_size(const struct fc_http *h)
{
	return h->size;
}

void fc_http_counters(struct fc_http *h, uint64_t *requests, uint64_t *bytes)
{
	*requests = h->requests;
	*bytes = h->bytes;
}

void fc_http_close(struct fc_http *h)
{
	unsigned i;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < h->nthr; i++)
		pthread_join(h->thr[i], NULL);
	free(h->thr);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
