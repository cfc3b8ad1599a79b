/* SPDX-License-Identifier: MIT */
/*
 * http.c - reading and checking the answers of servers.
 *
 * Everything here is a pure function of the bytes a server sent, so that
 * fuzz/fuzz_net.c can throw anything at it. A reply is trusted only if it
 * is the range asked for (206 with a Content-Range of exactly that range,
 * or 200 with the whole object when the whole object was asked for) of
 * the version first seen: the same ETag, Last-Modified and size.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

static size_t skip_blanks(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* Digits at s[*i..]: at least one, no overflow. Advances *i. */
static int take_u64(const char *s, size_t n, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	size_t start = *i;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		unsigned d = (unsigned)(s[*i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		(*i)++;
	}
	if (*i == start)
		return -EINVAL;
	*out = v;
	return 0;
}

int fc__net_parse_u64(const char *s, size_t n, uint64_t *out)
{
	size_t i = skip_blanks(s, 0, n);

	if (take_u64(s, n, &i, out))
		return -EINVAL;
	return skip_blanks(s, i, n) == n ? 0 : -EINVAL;
}

int fc__net_parse_content_range(const char *s, size_t n, uint64_t *first,
				uint64_t *last, uint64_t *total,
				bool *total_known)
{
	size_t i = skip_blanks(s, 0, n);

	if (n - i < 6 || strncasecmp(s + i, "bytes", 5) ||
	    (s[i + 5] != ' ' && s[i + 5] != '\t'))
		return -EINVAL;
	i = skip_blanks(s, i + 5, n);
	if (take_u64(s, n, &i, first) || i >= n || s[i++] != '-' ||
	    take_u64(s, n, &i, last) || i >= n || s[i++] != '/')
		return -EINVAL;
	if (i < n && s[i] == '*') {
		i++;
		*total_known = false;
		*total = 0;
	} else {
		if (take_u64(s, n, &i, total))
			return -EINVAL;
		*total_known = true;
	}
	if (skip_blanks(s, i, n) != n || *first > *last ||
	    (*total_known && *last >= *total))
		return -EINVAL;
	return 0;
}

/* Copy a header value into @dst (size @cap); false if it does not fit. */
static bool copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	size_t i;

	if (n >= cap)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	memcpy(dst, v, n);
	dst[n] = 0;
	return true;
}

static bool name_is(const char *line, size_t nlen, const char *name)
{
	return strlen(name) == nlen && !strncasecmp(line, name, nlen);
}

static void status_line(struct fc__net_resp *r, const char *s, size_t n)
{
	size_t i = 5;	/* past "HTTP/" */
	uint64_t st;

	memset(r, 0, sizeof(*r));
	while (i < n && s[i] != ' ')
		i++;
	i = skip_blanks(s, i, n);
	if (n - i < 3 || take_u64(s, i + 3, &i, &st) || st < 100 || st > 999) {
		r->bad = true;
		return;
	}
	r->status = (long)st;
	i = skip_blanks(s, i, n);
	if (!copy_value(r->reason, sizeof(r->reason), s + i,
			n - i < sizeof(r->reason) ? n - i : sizeof(r->reason) - 1))
		r->reason[0] = 0;
}

void fc__net_header(struct fc__net_resp *r, const char *line, size_t n)
{
	const char *colon, *v;
	size_t nlen, vlen;
	uint64_t x;

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
		status_line(r, line, n);
		return;
	}
	colon = memchr(line, ':', n);
	if (!colon)
		return;	/* the blank line, or junk we do not need */
	nlen = (size_t)(colon - line);
	v = colon + 1;
	vlen = n - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (name_is(line, nlen, "ETag")) {
		if (!copy_value(r->etag, sizeof(r->etag), v, vlen))
			r->bad = true;
	} else if (name_is(line, nlen, "Last-Modified")) {
		if (!copy_value(r->last_modified, sizeof(r->last_modified), v,
				vlen))
			r->bad = true;
	} else if (name_is(line, nlen, "Content-Range")) {
		r->has_range = !fc__net_parse_content_range(v, vlen,
				&r->range_first, &r->range_last,
				&r->range_total, &r->range_total_known);
		if (!r->has_range)
			r->bad = true;
	} else if (name_is(line, nlen, "Content-Length")) {
		r->has_length = !fc__net_parse_u64(v, vlen, &r->length);
		if (!r->has_length)
			r->bad = true;
	} else if (name_is(line, nlen, "Retry-After")) {
		/* delta-seconds only; an HTTP-date is left to the backoff */
		if (!fc__net_parse_u64(v, vlen, &x))
			r->retry_after = x > 3600 ? 3600 : (unsigned)x;
	}
}

bool fc__net_etag_strong(const char *etag)
{
	size_t n = strlen(etag);

	return n >= 2 && etag[0] == '"' && etag[n - 1] == '"';
}

bool fc__net_status_retryable(long status)
{
	return status == 429 || (status >= 500 && status <= 599);
}

int fc__net_status_errno(long status)
{
	switch (status) {
	case 401:
	case 403:
		return EACCES;
	case 404:
	case 410:
		return ENOENT;
	case 412:
	case 416:
		return ESTALE;
	case 408:
		return ETIMEDOUT;
	default:
		return EIO;
	}
}

/* Same version: validators the first response had must be the same. */
static int check_ident(const struct fc__net_resp *r,
		       const struct fc__net_ident *id, char *why, size_t wl)
{
	if (id->etag[0] && r->etag[0] && strcmp(id->etag, r->etag)) {
		snprintf(why, wl, "object changed: ETag %s, was %s", r->etag,
			 id->etag);
		return -ESTALE;
	}
	if (id->last_modified[0] && r->last_modified[0] &&
	    strcmp(id->last_modified, r->last_modified)) {
		snprintf(why, wl, "object changed: Last-Modified %s, was %s",
			 r->last_modified, id->last_modified);
		return -ESTALE;
	}
	return 0;
}

/* HTTP/2 has no reason phrases: the common ones, for messages. */
static const char *reason(const struct fc__net_resp *r)
{
	static const struct { long st; const char *txt; } t[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" }, { 410, "Gone" },
		{ 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};
	size_t i;

	if (r->reason[0])
		return r->reason;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].st == r->status)
			return t[i].txt;
	return "";
}

static int check_status(const struct fc__net_resp *r, char *why, size_t wl)
{
	if (r->status == 412) {
		snprintf(why, wl, "object changed (HTTP 412 Precondition Failed)");
		return -ESTALE;
	}
	if (r->status == 416) {
		snprintf(why, wl, "object changed: range not satisfiable (HTTP 416)");
		return -ESTALE;
	}
	snprintf(why, wl, "HTTP %ld%s%s", r->status, *reason(r) ? " " : "",
		 reason(r));
	return -fc__net_status_errno(r->status);
}

int fc__net_check(const struct fc__net_resp *r, uint64_t start, uint64_t end,
		  const struct fc__net_ident *id, char *why, size_t whylen)
{
	int ret;

	if (r->status != 200 && r->status != 206) {
		if (!r->status) {
			snprintf(why, whylen, "no HTTP status line");
			return -EPROTO;
		}
		return check_status(r, why, whylen);
	}
	if (r->bad) {
		snprintf(why, whylen, "malformed response header");
		return -EPROTO;
	}
	ret = check_ident(r, id, why, whylen);
	if (ret)
		return ret;
	if (r->status == 200) {
		/* a server that ignores Range: only the whole object will do */
		if (start || end != id->size || !r->has_length ||
		    r->length != id->size) {
			snprintf(why, whylen, "server ignored the range "
				 "(HTTP 200 for bytes %llu-%llu)",
				 (unsigned long long)start,
				 (unsigned long long)(end - 1));
			return -EPROTO;
		}
		return 0;
	}
	if (!r->has_range) {
		snprintf(why, whylen, "HTTP 206 without Content-Range");
		return -EPROTO;
	}
	if (r->range_total_known && r->range_total != id->size) {
		snprintf(why, whylen, "object changed: size %llu, was %llu",
			 (unsigned long long)r->range_total,
			 (unsigned long long)id->size);
		return -ESTALE;
	}
	if (r->range_first != start || r->range_last + 1 != end ||
	    (r->has_length && r->length != end - start)) {
		snprintf(why, whylen, "Content-Range bytes %llu-%llu, "
			 "asked for %llu-%llu",
			 (unsigned long long)r->range_first,
			 (unsigned long long)r->range_last,
			 (unsigned long long)start,
			 (unsigned long long)(end - 1));
		return -EPROTO;
	}
	return 0;
}

/* The text of the first <@tag>...</@tag> in @body, or NULL. */
static const char *xml_text(const char *body, size_t n, const char *tag,
			    size_t *len)
{
	char open[32], close[32];
	size_t ol = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
	size_t cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
	size_t i, j;

	for (i = 0; i + ol <= n; i++) {
		if (memcmp(body + i, open, ol))
			continue;
		for (j = i + ol; j + cl <= n; j++) {
			if (!memcmp(body + j, close, cl)) {
				*len = j - i - ol;
				return body + i + ol;
			}
		}
		return NULL;
	}
	return NULL;
}

/* Append @n bytes of @s to @out (used @*at of @cap), printable only. */
static void append_clean(char *out, size_t cap, size_t *at, const char *s,
			 size_t n)
{
	size_t i;

	for (i = 0; i < n && *at + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[(*at)++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	out[*at] = 0;
}

void fc__net_xml_error(const char *body, size_t n, char *out, size_t outlen)
{
	const char *code, *msg;
	size_t cl = 0, ml = 0, at = 0;

	if (!outlen)
		return;
	out[0] = 0;
	code = xml_text(body, n, "Code", &cl);
	msg = xml_text(body, n, "Message", &ml);
	if (code)
		append_clean(out, outlen, &at, code, cl);
	if (code && msg)
		append_clean(out, outlen, &at, ": ", 2);
	if (msg)
		append_clean(out, outlen, &at, msg, ml);
}
