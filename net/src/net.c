/* SPDX-License-Identifier: MIT */
/*
 * net.c - the request pipeline: a libfaultcache backend on libcurl's multi
 * interface (docs/net.md).
 *
 *   handler thread              transfer thread (one per fc_net)
 *   --------------              --------------------------------
 *   ops.read(off, len, buf)
 *     -> pending list ---wake--> take the pending reads, sort by offset,
 *        (n->lock)               merge adjacent ones into one fetch (one
 *                                ranged GET, at most max_request bytes)
 *                                curl_multi: many fetches at once, over
 *                                keep-alive connections or HTTP/2 streams
 *                                headers -> fc__net_check() on the first
 *                                body byte: the range asked for, of the
 *                                version first seen, or nothing is stored
 *                                body -> each read's buffer in turn; a
 *   fc_backend_complete() <----- full read is completed at once
 *                                done: a retryable failure (5xx, 429, a
 *                                broken connection) asks again for what
 *                                is missing after a backoff, a bounded
 *                                number of times; any other completes
 *                                the rest with -errno (SIGBUS) and is
 *                                kept for fc_net_error_at()
 *
 * The transfer thread never blocks on anything but curl_multi_poll(), so
 * a slow server holds up only the reads it serves: the handler threads
 * go on with every other fault.
 *
 * Locking: n->lock protects the pending list, n->outstanding, n->stop and
 * the error ring. Everything else of the multi handle and the fetches
 * belongs to the thread that drives the multi (the opener until the
 * transfer thread is started, then that thread). Counters are atomics.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultcache-net.h"
#include "parse.h"

#define FC_NET_ERRORS		128	/* failures kept for fc_net_error_at */
#define FC_NET_ERRBODY		1024	/* of an error reply, for messages */
#define FC_NET_ERRBODY_MAX	65536	/* longer ones cut the connection */

struct nread {			/* one read the cache asked for */
	struct nread *next;	/* pending list */
	uint64_t off;
	size_t len, got;
	char *buf;
	struct fc_backend_req *req;
};

enum fetch_kind { FETCH_GET, FETCH_HEAD };

/*
 * One request and its retries. rd[cur..nr) are the reads not yet
 * completed, in offset order and adjacent: the next body byte is at
 * pos = rd[cur]->off + rd[cur]->got, and an attempt asks for [pos, end).
 */
struct fetch {
	struct fetch *next;	/* retry queue */
	struct fc_net *n;
	enum fetch_kind kind;
	CURL *easy;
	struct curl_slist *hdrs;
	struct nread **rd;
	unsigned nr, cur;
	uint64_t start, end, pos;
	unsigned attempts;
	uint64_t due_ns;	/* in the retry queue: when to ask again */
	bool done;		/* HEAD: finished */
	int verdict;		/* 0 not checked, 1 good, -errno refused */
	int err;		/* final: 0 or -errno */
	CURLcode cc;
	struct fc__net_resp resp;
	char why[200];
	char body[FC_NET_ERRBODY];
	size_t blen, skipped;
	char curlerr[CURL_ERROR_SIZE];
};

struct fc_net {
	atomic_int refs;
	struct fc_net_config cfg;
	char url[4096];
	char *cacert, *capath;
	bool s3;
	char sigv4[128];	/* "aws:amz:REGION:s3", s3 with signing */
	char userpwd[512];	/* "KEYID:SECRET" */
	char token_hdr[2100];	/* "x-amz-security-token: ..." or "" */
	char cond_hdr[FC_NET_ETAG_MAX + FC_NET_DATE_MAX + 32];
	struct fc__net_ident id;

	CURLM *multi;
	pthread_t thread;
	bool started;
	unsigned active;	/* fetches in the multi (driver thread) */
	struct fetch *retry;	/* waiting for their backoff (driver) */
	uint32_t seed;		/* backoff jitter (driver) */

	pthread_mutex_t lock;
	struct nread *pending, **ptail;
	uint64_t outstanding;	/* reads taken and not completed */
	bool stop;
	struct fc_net_error errs[FC_NET_ERRORS];
	unsigned nerrs;		/* total recorded; ring index nerrs % N */

	atomic_ullong reads, requests, merged, bytes, retries, errors,
		      connections, inflight, ttfb_sum, ttfb_max, ttfb_count;
	atomic_long http_version;
};

struct net_map {		/* fc_map_backend's ctx: one per mapping */
	struct fc_net *n;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

unsigned fc_net_version(void)
{
	return FC_NET_VERSION_NUMBER;
}

const char *fc_net_version_string(void)
{
	return FC_NET_VERSION_STRING;
}

void fc_net_config_init(struct fc_net_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->connect_timeout_ms = 10000;
	cfg->stall_timeout_ms = 30000;
	cfg->retries = 4;
	cfg->retry_delay_ms = 100;
	cfg->retry_max_delay_ms = 5000;
	cfg->max_connections = 8;
	cfg->max_request = 16u << 20;
}

/* ---- errors ---- */

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	case CURLE_TOO_MANY_REDIRECTS:
		return ELOOP;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return ECONNRESET;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return EINVAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return EPROTO;
	default:
		return EIO;
	}
}

/* A connection that broke under a request: worth asking again. */
static bool curl_retryable(CURLcode cc)
{
	return curl_errno(cc) == ECONNRESET;
}

/* snprintf for messages, where cutting a long one short is fine. */
__attribute__((format(printf, 3, 4)))
static void say(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

/* The one-line message of a failed fetch. */
static void fetch_message(const struct fetch *f, char *out, size_t len)
{
	char xml[160];

	if (f->verdict < 0) {
		fc__net_xml_error(f->body, f->blen, xml, sizeof(xml));
		say(out, len, "%s%s%s%s", f->why, *xml ? " (" : "", xml,
			 *xml ? ")" : "");
	} else if (f->cc != CURLE_OK) {
		say(out, len, "%s (curl error %d)",
		    f->curlerr[0] ? f->curlerr : curl_easy_strerror(f->cc),
		    (int)f->cc);
	} else {
		say(out, len, "%s", f->why[0] ? f->why :
			 "the response ended early");
	}
}

static void fill_error(const struct fetch *f, struct fc_net_error *e)
{
	memset(e, 0, sizeof(*e));
	e->offset = f->start;
	e->length = f->end - f->start;
	e->err = -f->err;
	e->http_status = f->resp.status;
	e->curl_code = f->verdict < 0 ? 0 : (int)f->cc;
	e->attempts = f->attempts;
	fetch_message(f, e->message, sizeof(e->message));
}

static void record_error(struct fc_net *n, const struct fetch *f)
{
	struct fc_net_error e;

	fill_error(f, &e);
	if (f->kind == FETCH_GET && f->cur < f->nr)
		e.offset = f->rd[f->cur]->off + f->rd[f->cur]->got;
	e.length = f->end - e.offset;
	pthread_mutex_lock(&n->lock);
	n->errs[n->nerrs++ % FC_NET_ERRORS] = e;
	pthread_mutex_unlock(&n->lock);
}

int fc_net_error_at(struct fc_net *n, uint64_t offset, struct fc_net_error *out)
{
	unsigned i, have;
	int ret = -ENOENT;

	if (!n || !out)
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	have = n->nerrs < FC_NET_ERRORS ? n->nerrs : FC_NET_ERRORS;
	for (i = 1; i <= have; i++) {	/* newest first */
		const struct fc_net_error *e =
			&n->errs[(n->nerrs - i) % FC_NET_ERRORS];

		if (offset >= e->offset && offset - e->offset < e->length) {
			*out = *e;
			ret = 0;
			break;
		}
	}
	if (ret && have) {
		*out = n->errs[(n->nerrs - 1) % FC_NET_ERRORS];
		ret = 0;
	}
	pthread_mutex_unlock(&n->lock);
	return ret;
}

/* ---- one request ---- */

/* Complete @r with @res. Context: the driver thread. */
static void read_complete(struct fc_net *n, struct nread *r, ssize_t res)
{
	fc_backend_complete(r->req, res);
	if (res < 0)
		atomic_fetch_add(&n->errors, 1);
	free(r);
	pthread_mutex_lock(&n->lock);
	n->outstanding--;
	pthread_mutex_unlock(&n->lock);
}

/* Judge the response once its headers are in. */
static void fetch_verdict(struct fetch *f)
{
	int ret;

	if (f->kind == FETCH_HEAD) {
		ret = f->resp.status == 200 ? 0 :
		      fc__net_check(&f->resp, 0, 1, &f->n->id, f->why,
				    sizeof(f->why));
		if (!ret && (f->resp.bad || !f->resp.has_length)) {
			snprintf(f->why, sizeof(f->why),
				 f->resp.bad ? "malformed response header" :
				 "HEAD without Content-Length");
			ret = -EPROTO;
		}
	} else {
		ret = fc__net_check(&f->resp, f->pos, f->end, &f->n->id, f->why,
				    sizeof(f->why));
	}
	f->verdict = ret ? ret : 1;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;

	fc__net_header(&f->resp, p, size * nmemb);
	return size * nmemb;
}

/*
 * An error reply's body: the start of it is kept for the message, and a
 * short one is read to its end, which keeps the connection for the next
 * request; a long one, or the body of a refused 2xx, is cut off.
 */
static size_t keep_error_body(struct fetch *f, const char *p, size_t n)
{
	size_t room = sizeof(f->body) - f->blen;

	if (f->resp.status < 400 || f->skipped + n > FC_NET_ERRBODY_MAX)
		return 0;
	memcpy(f->body + f->blen, p, n < room ? n : room);
	f->blen += n < room ? n : room;
	f->skipped += n;
	return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;
	size_t n = size * nmemb, left = n;

	if (!f->verdict)
		fetch_verdict(f);
	if (f->verdict < 0)
		return keep_error_body(f, p, n);
	if (f->kind == FETCH_HEAD)
		return n;
	while (left) {
		struct nread *r;
		size_t take;

		if (f->cur == f->nr) {	/* more than the range: refuse */
			snprintf(f->why, sizeof(f->why),
				 "more body bytes than the range asked for");
			f->verdict = -EPROTO;
			return 0;
		}
		r = f->rd[f->cur];
		take = r->len - r->got < left ? r->len - r->got : left;
		memcpy(r->buf + r->got, p, take);
		r->got += take;
		f->pos += take;
		p += take;
		left -= take;
		atomic_fetch_add(&f->n->bytes, take);
		if (r->got == r->len) {
			f->cur++;
			read_complete(f->n, r, (ssize_t)r->len);
		}
	}
	return n;
}

static void set_common(struct fc_net *n, CURL *e)
{
	const struct fc_net_config *c = &n->cfg;
	long stall = (long)((c->stall_timeout_ms + 999) / 1000);

	curl_easy_setopt(e, CURLOPT_URL, n->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall ? stall : 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(e, CURLOPT_USERAGENT,
			 "libfaultcache-net/" FC_NET_VERSION_STRING);
	if (c->flags & FC_NET_HTTP1_1) {
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	} else if (c->flags & FC_NET_HTTP2_PRIOR) {
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
				 CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		/*
		 * libcurl before 8.0 breaks a reused prior-knowledge
		 * connection ("Error in the HTTP2 framing layer", curl
		 * issue 10634): one connection per request there.
		 */
		if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
			curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
	}
	if (c->flags & FC_NET_INSECURE) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (n->cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, n->cacert);
	if (n->capath)
		curl_easy_setopt(e, CURLOPT_CAPATH, n->capath);
	if (c->flags & FC_NET_VERBOSE)
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	if (n->sigv4[0]) {
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, n->sigv4);
		curl_easy_setopt(e, CURLOPT_USERPWD, n->userpwd);
	}
}

/* Headers of every request of @n, plus the version check on GETs. */
static struct curl_slist *make_headers(struct fc_net *n, enum fetch_kind k)
{
	struct curl_slist *l = NULL, *t;

	/*
	 * SigV4 signs the payload's hash; libcurl 7.88 does not add the
	 * header S3 needs for it, so it is sent here (and signed).
	 */
	if (n->sigv4[0]) {
		l = curl_slist_append(l, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
		if (!l)
			return NULL;
		if (n->token_hdr[0] && !curl_slist_append(l, n->token_hdr))
			goto fail;
	}
	if (k == FETCH_GET && n->cond_hdr[0]) {
		t = curl_slist_append(l, n->cond_hdr);
		if (!t)
			goto fail;
		l = t;
	}
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

static void fetch_free(struct fetch *f)
{
	if (f->easy)
		curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->hdrs);
	free(f->rd);
	free(f);
}

static struct fetch *fetch_new(struct fc_net *n, enum fetch_kind kind)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->n = n;
	f->kind = kind;
	f->easy = curl_easy_init();
	if (!f->easy) {
		free(f);
		return NULL;
	}
	set_common(n, f->easy);
	f->hdrs = make_headers(n, kind);
	if ((n->sigv4[0] || (kind == FETCH_GET && n->cond_hdr[0])) && !f->hdrs) {
		fetch_free(f);
		return NULL;
	}
	curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->curlerr);
	if (kind == FETCH_HEAD)
		curl_easy_setopt(f->easy, CURLOPT_NOBODY, 1L);
	return f;
}

/* Put @f on the wire: a new attempt for [pos, end). */
static int fetch_start(struct fetch *f)
{
	struct fc_net *n = f->n;
	char range[64];

	memset(&f->resp, 0, sizeof(f->resp));
	f->verdict = 0;
	f->blen = f->skipped = 0;
	f->why[0] = 0;
	f->curlerr[0] = 0;
	f->cc = CURLE_OK;
	f->attempts++;
	if (f->kind == FETCH_GET) {
		snprintf(range, sizeof(range), "%llu-%llu",
			 (unsigned long long)f->pos,
			 (unsigned long long)(f->end - 1));
		curl_easy_setopt(f->easy, CURLOPT_RANGE, range);
	}
	if (curl_multi_add_handle(n->multi, f->easy) != CURLM_OK)
		return -ENOMEM;
	n->active++;
	atomic_fetch_add(&n->requests, 1);
	atomic_fetch_add(&n->inflight, 1);
	return 0;
}

static unsigned backoff_ms(struct fetch *f)
{
	const struct fc_net_config *c = &f->n->cfg;
	uint64_t ms = (uint64_t)c->retry_delay_ms << (f->attempts - 1 < 16 ?
						      f->attempts - 1 : 16);
	uint32_t x = f->n->seed;

	if (ms > c->retry_max_delay_ms)
		ms = c->retry_max_delay_ms;
	/* +-25% so that readers who failed together do not retry together */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	f->n->seed = x;
	ms = ms * 3 / 4 + (ms ? x % (ms / 2 + 1) : 0);
	if (f->resp.retry_after) {
		uint64_t ra = (uint64_t)f->resp.retry_after * 1000;

		if (ra > c->retry_max_delay_ms)
			ra = c->retry_max_delay_ms;
		if (ra > ms)
			ms = ra;
	}
	return (unsigned)ms;
}

/* Complete what is left of @f with its error, keep it, free @f. */
static void fetch_fail(struct fetch *f)
{
	struct fc_net *n = f->n;

	record_error(n, f);
	while (f->cur < f->nr)
		read_complete(n, f->rd[f->cur++], f->err);
	fetch_free(f);
}

static void account(struct fetch *f)
{
	struct fc_net *n = f->n;
	curl_off_t ttfb = 0;
	long conns = 0, ver = 0;
	uint64_t t, max;

	curl_easy_getinfo(f->easy, CURLINFO_NUM_CONNECTS, &conns);
	atomic_fetch_add(&n->connections, (uint64_t)conns);
	curl_easy_getinfo(f->easy, CURLINFO_HTTP_VERSION, &ver);
	if (ver)
		atomic_store(&n->http_version,
			     ver == CURL_HTTP_VERSION_2_0 ? 20 :
			     ver == CURL_HTTP_VERSION_1_0 ? 10 :
			     ver == CURL_HTTP_VERSION_3 ? 30 : 11);
	if (f->kind != FETCH_GET || f->verdict <= 0 ||
	    curl_easy_getinfo(f->easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb))
		return;
	t = (uint64_t)ttfb * 1000;
	atomic_fetch_add(&n->ttfb_sum, t);
	atomic_fetch_add(&n->ttfb_count, 1);
	max = atomic_load(&n->ttfb_max);
	while (t > max && !atomic_compare_exchange_weak(&n->ttfb_max, &max, t))
		;
}

/*
 * A transfer of @f ended with @cc: done, asked again after a backoff, or
 * failed for good. Context: the driver thread.
 */
static void fetch_done(struct fetch *f, CURLcode cc)
{
	struct fc_net *n = f->n;
	bool retry;

	curl_multi_remove_handle(n->multi, f->easy);
	n->active--;
	atomic_fetch_sub(&n->inflight, 1);
	f->cc = cc;
	if (!f->verdict && (cc == CURLE_OK || f->resp.status >= 400))
		fetch_verdict(f);	/* no body came */
	account(f);
	if (f->kind == FETCH_HEAD) {
		f->err = f->verdict < 0 ? f->verdict :
			 cc != CURLE_OK ? -curl_errno(cc) : 0;
		retry = f->err && ((f->verdict < 0 &&
				    fc__net_status_retryable(f->resp.status)) ||
				   (f->verdict >= 0 && curl_retryable(cc)));
		if (retry && f->attempts <= n->cfg.retries)
			goto again;
		f->done = true;
		return;
	}
	if (f->verdict > 0 && cc == CURLE_OK && f->cur == f->nr) {
		fetch_free(f);
		return;
	}
	if (f->verdict < 0) {
		retry = fc__net_status_retryable(f->resp.status);
		f->err = f->verdict;
	} else if (cc != CURLE_OK) {
		retry = curl_retryable(cc);
		f->err = -curl_errno(cc);
	} else {	/* a body shorter than its range, without an error */
		retry = true;
		f->err = -ECONNRESET;
	}
	if (retry && f->attempts <= n->cfg.retries)
		goto again;
	fetch_fail(f);
	return;
again:
	atomic_fetch_add(&n->retries, 1);
	f->due_ns = now_ns() + (uint64_t)backoff_ms(f) * 1000000;
	f->next = n->retry;
	n->retry = f;
}

/* Start the retries that are due; the time of the next one, or 0. */
static uint64_t start_retries(struct fc_net *n)
{
	struct fetch **pp = &n->retry, *f;
	uint64_t now = now_ns(), next = 0;

	while ((f = *pp)) {
		if (f->due_ns > now) {
			if (!next || f->due_ns < next)
				next = f->due_ns;
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		f->next = NULL;
		if (fetch_start(f)) {
			f->err = -ENOMEM;
			if (f->kind == FETCH_HEAD)
				f->done = true;
			else
				fetch_fail(f);
		}
	}
	return next;
}

/* ---- the pending reads, into fetches ---- */

static int by_offset(const void *a, const void *b)
{
	const struct nread *x = *(struct nread *const *)a;
	const struct nread *y = *(struct nread *const *)b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* One fetch for @rd[0..nr), adjacent reads; they fail alone if it can't. */
static void dispatch_run(struct fc_net *n, struct nread **rd, unsigned nr)
{
	struct fetch *f = fetch_new(n, FETCH_GET);
	unsigned i;

	if (f)
		f->rd = malloc(nr * sizeof(*rd));
	if (!f || !f->rd) {
		if (f)
			fetch_free(f);
		for (i = 0; i < nr; i++)
			read_complete(n, rd[i], -ENOMEM);
		return;
	}
	memcpy(f->rd, rd, nr * sizeof(*rd));
	f->nr = nr;
	f->start = f->pos = rd[0]->off;
	f->end = rd[nr - 1]->off + rd[nr - 1]->len;
	if (nr > 1)
		atomic_fetch_add(&n->merged, nr);
	if (fetch_start(f)) {
		f->err = -ENOMEM;
		fetch_fail(f);
	}
}

/*
 * Reads that arrived together and touch each other become one request:
 * the windows of readahead come as reads of at most 1 MiB each, queued
 * by the handler in one go.
 */
static void dispatch(struct fc_net *n)
{
	struct nread *list, *r, **v;
	unsigned nr = 0, i, first;
	uint64_t bytes;

	pthread_mutex_lock(&n->lock);
	list = n->pending;
	n->pending = NULL;
	n->ptail = &n->pending;
	pthread_mutex_unlock(&n->lock);
	for (r = list; r; r = r->next)
		nr++;
	if (!nr)
		return;
	v = malloc(nr * sizeof(*v));
	if (!v) {	/* one by one, in arrival order */
		while ((r = list)) {
			list = r->next;
			dispatch_run(n, &r, 1);
		}
		return;
	}
	for (i = 0, r = list; r; r = r->next)
		v[i++] = r;
	qsort(v, nr, sizeof(*v), by_offset);
	for (first = 0; first < nr; first = i) {
		bytes = v[first]->len;
		for (i = first + 1; i < nr &&
		     v[i]->off == v[i - 1]->off + v[i - 1]->len &&
		     bytes + v[i]->len <= n->cfg.max_request; i++)
			bytes += v[i]->len;
		dispatch_run(n, v + first, i - first);
	}
	free(v);
}

/*
 * One turn of the multi: transfers, completions, retries, then a wait
 * for sockets, a wake-up or a timer, unless something ended (its
 * caller has to look first).
 */
static void pump(struct fc_net *n)
{
	uint64_t next, now;
	bool ended = false;
	long tmo = -1;
	CURLMsg *msg;
	int running, left;

	curl_multi_perform(n->multi, &running);
	while ((msg = curl_multi_info_read(n->multi, &left))) {
		struct fetch *f = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		fetch_done(f, msg->data.result);
		ended = true;
	}
	next = start_retries(n);
	if (ended)
		return;
	curl_multi_timeout(n->multi, &tmo);
	if (tmo < 0 || tmo > 1000)
		tmo = 1000;
	if (next) {
		now = now_ns();
		if (next <= now)
			tmo = 0;
		else if ((next - now) / 1000000 < (uint64_t)tmo)
			tmo = (long)((next - now) / 1000000) + 1;
	}
	if (tmo)
		curl_multi_poll(n->multi, NULL, 0, (int)tmo, NULL);
}

static void *transfer_main(void *arg)
{
	struct fc_net *n = arg;

	pthread_setname_np(pthread_self(), "fc-net");
	for (;;) {
		bool stop;

		pthread_mutex_lock(&n->lock);
		stop = n->stop && !n->outstanding && !n->pending;
		pthread_mutex_unlock(&n->lock);
		/* the last reads are done: let their transfers end too */
		if (stop && !n->retry && !n->active)
			break;
		dispatch(n);
		pump(n);
	}
	return NULL;
}

/* ---- the backend ---- */

static int net_read(void *ctx, uint64_t off, void *buf, size_t len,
		    struct fc_backend_req *req)
{
	struct fc_net *n = ((struct net_map *)ctx)->n;
	struct nread *r;

	if (off >= n->id.size) {	/* the object ends here */
		fc_backend_complete(req, 0);
		return 0;
	}
	if (len > n->id.size - off)
		len = (size_t)(n->id.size - off);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->off = off;
	r->len = len;
	r->buf = buf;
	r->req = req;
	atomic_fetch_add(&n->reads, 1);
	pthread_mutex_lock(&n->lock);
	*n->ptail = r;
	n->ptail = &r->next;
	n->outstanding++;
	pthread_mutex_unlock(&n->lock);
	curl_multi_wakeup(n->multi);
	return 0;
}

static int net_get_size(void *ctx, uint64_t *size)
{
	*size = ((struct net_map *)ctx)->n->id.size;
	return 0;
}

static void net_release(void *ctx)
{
	struct net_map *m = ctx;

	fc_net_close(m->n);
	free(m);
}

static const struct fc_backend_ops net_ops = {
	.size = sizeof(struct fc_backend_ops),
	.read = net_read,
	.get_size = net_get_size,
	.release = net_release,
};

void *fc_net_map(struct fc_cache *cache, struct fc_net *n, off_t offset,
		 size_t length, int flags)
{
	struct net_map *m;
	void *p;

	if (!n) {
		errno = EINVAL;
		return NULL;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->n = n;
	atomic_fetch_add(&n->refs, 1);
	p = fc_map_backend(cache, &net_ops, m, offset, length, flags);
	if (!p) {
		int e = errno;

		atomic_fetch_sub(&n->refs, 1);
		free(m);
		errno = e;
	}
	return p;
}

/* ---- open and close ---- */

static void net_free(struct fc_net *n)
{
	struct fetch *f;

	while ((f = n->retry)) {	/* only a HEAD can be left here */
		n->retry = f->next;
		fetch_free(f);
	}
	if (n->multi)
		curl_multi_cleanup(n->multi);
	pthread_mutex_destroy(&n->lock);
	free(n->cacert);
	free(n->capath);
	explicit_bzero(n->userpwd, sizeof(n->userpwd));
	explicit_bzero(n->token_hdr, sizeof(n->token_hdr));
	free(n);
}

void fc_net_close(struct fc_net *n)
{
	if (!n || atomic_fetch_sub(&n->refs, 1) != 1)
		return;
	if (n->started) {
		pthread_mutex_lock(&n->lock);
		n->stop = true;
		pthread_mutex_unlock(&n->lock);
		curl_multi_wakeup(n->multi);
		if (pthread_equal(pthread_self(), n->thread)) {
			pthread_detach(n->thread);	/* cannot happen today */
			return;
		}
		pthread_join(n->thread, NULL);
	}
	net_free(n);
}

uint64_t fc_net_size(const struct fc_net *n)
{
	return n ? n->id.size : 0;
}

int fc_net_stats(struct fc_net *n, struct fc_net_stats *o)
{
	if (!n || !o)
		return -EINVAL;
	memset(o, 0, sizeof(*o));
	o->reads = atomic_load(&n->reads);
	o->requests = atomic_load(&n->requests);
	o->merged = atomic_load(&n->merged);
	o->bytes = atomic_load(&n->bytes);
	o->retries = atomic_load(&n->retries);
	o->errors = atomic_load(&n->errors);
	o->connections = atomic_load(&n->connections);
	o->inflight = atomic_load(&n->inflight);
	o->ttfb_ns_sum = atomic_load(&n->ttfb_sum);
	o->ttfb_ns_max = atomic_load(&n->ttfb_max);
	o->ttfb_count = atomic_load(&n->ttfb_count);
	o->http_version = atomic_load(&n->http_version);
	return 0;
}

/* Fill *@err (if any) with errno @e and a message; returns -@e. */
__attribute__((format(printf, 3, 4)))
static int open_fail(struct fc_net_error *err, int e, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		memset(err, 0, sizeof(*err));
		err->err = e;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -e;
}

int fc__net_s3_setup(struct fc_net *n, const char *url,
		     struct fc_net_error *err);

/* HEAD the object on the caller's thread; 0 or -errno (*err filled). */
static int head(struct fc_net *n, struct fc_net_error *err)
{
	struct fetch *f = fetch_new(n, FETCH_HEAD);
	int ret;

	if (!f)
		return open_fail(err, ENOMEM, "%s", "out of memory");
	if (fetch_start(f)) {
		fetch_free(f);
		return open_fail(err, ENOMEM, "%s", "out of memory");
	}
	while (!f->done)
		pump(n);
	ret = f->err;
	if (ret) {
		if (err)
			fill_error(f, err);
	} else {
		n->id.size = f->resp.length;
		memcpy(n->id.etag, f->resp.etag, sizeof(n->id.etag));
		memcpy(n->id.last_modified, f->resp.last_modified,
		       sizeof(n->id.last_modified));
	}
	fetch_free(f);
	return ret;
}

/* The headers that make a server refuse another version of the object. */
static void set_condition(struct fc_net *n)
{
	if (fc__net_etag_strong(n->id.etag))
		snprintf(n->cond_hdr, sizeof(n->cond_hdr), "If-Match: %s",
			 n->id.etag);
	else if (n->id.last_modified[0])
		snprintf(n->cond_hdr, sizeof(n->cond_hdr),
			 "If-Unmodified-Since: %s", n->id.last_modified);
}

static char *env_dup(const char *cfg, const char *a, const char *b,
		     const char *c)
{
	const char *v = cfg;

	if (!v || !*v)
		v = a ? getenv(a) : NULL;
	if (!v || !*v)
		v = b ? getenv(b) : NULL;
	if (!v || !*v)
		v = c ? getenv(c) : NULL;
	return v && *v ? strdup(v) : NULL;
}

static void config_defaults(struct fc_net_config *dst,
			    const struct fc_net_config *src)
{
	struct fc_net_config d;

	fc_net_config_init(&d);
	*dst = d;
	if (!src)
		return;
	memcpy(dst, src, src->size < sizeof(*dst) ? src->size : sizeof(*dst));
	dst->size = sizeof(*dst);
	if (!dst->connect_timeout_ms)
		dst->connect_timeout_ms = d.connect_timeout_ms;
	if (!dst->stall_timeout_ms)
		dst->stall_timeout_ms = d.stall_timeout_ms;
	if (!dst->retry_delay_ms)
		dst->retry_delay_ms = d.retry_delay_ms;
	if (!dst->retry_max_delay_ms)
		dst->retry_max_delay_ms = d.retry_max_delay_ms;
	if (!dst->max_connections)
		dst->max_connections = d.max_connections;
	if (!dst->max_request)
		dst->max_request = d.max_request;
}

static int start_thread(struct fc_net *n)
{
	sigset_t all, old;
	int ret;

	/* the application's signals are not ours; SIGPIPE stays pending */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&n->thread, NULL, transfer_main, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	n->started = true;
	return 0;
}

struct fc_net *fc_net_open(const char *url, const struct fc_net_config *cfg,
			   struct fc_net_error *err)
{
	struct fc_net *n;
	int ret;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!url || (cfg && cfg->size < offsetof(struct fc_net_config, flags))) {
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK) {
		open_fail(err, EIO, "%s", "libcurl failed to initialise");
		errno = EIO;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&n->refs, 1);
	pthread_mutex_init(&n->lock, NULL);
	n->ptail = &n->pending;
	n->seed = (uint32_t)now_ns() | 1;
	config_defaults(&n->cfg, cfg);
	n->s3 = !strncmp(url, "s3://", 5);
	if (n->s3) {
		ret = fc__net_s3_setup(n, url, err);
	} else if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		ret = open_fail(err, EINVAL, "not an http://, https:// or "
				"s3:// URL: %s", url);
	} else if (strlen(url) >= sizeof(n->url)) {
		ret = open_fail(err, ENAMETOOLONG, "%s", "URL too long");
	} else {
		strcpy(n->url, url);
		ret = 0;
	}
	if (ret)
		goto fail;
	n->cacert = env_dup(n->cfg.cacert, n->s3 ? "AWS_CA_BUNDLE" : NULL,
			    "CURL_CA_BUNDLE", "SSL_CERT_FILE");
	n->capath = env_dup(n->cfg.capath, "SSL_CERT_DIR", NULL, NULL);
	n->multi = curl_multi_init();
	if (!n->multi) {
		ret = open_fail(err, ENOMEM, "%s", "out of memory");
		goto fail;
	}
	curl_multi_setopt(n->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)n->cfg.max_connections);
	curl_multi_setopt(n->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	/* keep every connection: the default keeps 4 per easy handle added */
	curl_multi_setopt(n->multi, CURLMOPT_MAXCONNECTS,
			  (long)n->cfg.max_connections);
	ret = head(n, err);
	if (ret)
		goto fail;
	set_condition(n);
	ret = start_thread(n);
	if (ret) {
		open_fail(err, -ret, "%s", "cannot start the transfer thread");
		goto fail;
	}
	return n;
fail:
	net_free(n);
	errno = -ret;
	return NULL;
}

/* ---- S3 ---- */

/* Read a whole small file (the AWS CLI's INI files) into a string. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(1 << 20);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* $VAR, or ~/.aws/NAME. */
static void aws_file(char *out, size_t len, const char *var, const char *name)
{
	const char *v = getenv(var), *home = getenv("HOME");

	if (v && *v)
		snprintf(out, len, "%s", v);
	else
		snprintf(out, len, "%s/.aws/%s", home ? home : "", name);
}

static const char *profile_name(const struct fc_net *n)
{
	const char *p = n->cfg.profile;

	if (!p || !*p)
		p = getenv("AWS_PROFILE");
	return p && *p ? p : "default";
}

/* The region: config, $AWS_REGION, $AWS_DEFAULT_REGION, config file. */
static void s3_region(const struct fc_net *n, char *out, size_t len)
{
	const char *r = n->cfg.region;
	char path[4096], sect[300];
	size_t flen;
	char *text;

	if (!r || !*r)
		r = getenv("AWS_REGION");
	if (!r || !*r)
		r = getenv("AWS_DEFAULT_REGION");
	if (r && *r) {
		snprintf(out, len, "%s", r);
		return;
	}
	snprintf(out, len, "us-east-1");
	aws_file(path, sizeof(path), "AWS_CONFIG_FILE", "config");
	text = slurp(path, &flen);
	if (!text)
		return;
	if (!strcmp(profile_name(n), "default"))
		snprintf(sect, sizeof(sect), "default");
	else
		snprintf(sect, sizeof(sect), "profile %s", profile_name(n));
	if (fc__ini_get(text, flen, sect, "region", out, len))
		snprintf(out, len, "us-east-1");
	free(text);
}

/* Credentials: the environment, else the shared credentials file. */
static int s3_credentials(struct fc_net *n, struct fc_net_error *err)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");
	char path[4096], fid[256], fsecret[256], ftoken[2048];
	size_t flen;
	char *text;
	int ret;

	if (id && *id && secret && *secret) {
		snprintf(n->userpwd, sizeof(n->userpwd), "%s:%s", id, secret);
		if (token && *token)
			snprintf(n->token_hdr, sizeof(n->token_hdr),
				 "x-amz-security-token: %s", token);
		return 0;
	}
	aws_file(path, sizeof(path), "AWS_SHARED_CREDENTIALS_FILE",
		 "credentials");
	text = slurp(path, &flen);
	if (!text)
		return open_fail(err, EACCES, "no credentials: set "
				 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
				 "or write %s (or use --no-sign-request)", path);
	ret = fc__ini_get(text, flen, profile_name(n), "aws_access_key_id",
			  fid, sizeof(fid)) ||
	      fc__ini_get(text, flen, profile_name(n), "aws_secret_access_key",
			  fsecret, sizeof(fsecret));
	if (!ret) {
		snprintf(n->userpwd, sizeof(n->userpwd), "%s:%s", fid, fsecret);
		if (!fc__ini_get(text, flen, profile_name(n),
				 "aws_session_token", ftoken, sizeof(ftoken)))
			snprintf(n->token_hdr, sizeof(n->token_hdr),
				 "x-amz-security-token: %s", ftoken);
	}
	explicit_bzero(text, flen);
	explicit_bzero(fsecret, sizeof(fsecret));
	explicit_bzero(ftoken, sizeof(ftoken));
	free(text);
	if (ret)
		return open_fail(err, EACCES, "no credentials for profile %s",
				 profile_name(n));
	return 0;
}

int fc__net_s3_setup(struct fc_net *n, const char *url,
		     struct fc_net_error *err)
{
	char bucket[256], key[1024], region[64];
	const char *ep = n->cfg.endpoint_url;
	int ret;

	if (fc__s3_split(url, bucket, sizeof(bucket), key, sizeof(key)))
		return open_fail(err, EINVAL, "not an s3://BUCKET/KEY URL: %s",
				 url);
	if (!ep || !*ep)
		ep = getenv("AWS_ENDPOINT_URL_S3");
	if (!ep || !*ep)
		ep = getenv("AWS_ENDPOINT_URL");
	s3_region(n, region, sizeof(region));
	if (fc__s3_http_url(bucket, key, ep, region, n->url, sizeof(n->url)))
		return open_fail(err, ENAMETOOLONG, "%s", "URL too long");
	if (n->cfg.flags & FC_NET_NO_SIGN)
		return 0;
	ret = s3_credentials(n, err);
	if (ret)
		return ret;
	snprintf(n->sigv4, sizeof(n->sigv4), "aws:amz:%s:s3", region);
	return 0;
}
