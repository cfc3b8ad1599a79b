/* SPDX-License-Identifier: MIT */
/*
 * parse.h - private to libfaultcache-net: the response checks and the
 * S3 helpers (pure functions, fuzzed by fuzz/fuzz_net.c), and the limits
 * they share with net.c.
 */
#ifndef FC_NET_PARSE_H
#define FC_NET_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_NET_ETAG_MAX		128	/* longer validators are refused */
#define FC_NET_DATE_MAX		64

/*
 * What identifies one version of the object: the validators of the first
 * response (HEAD). Every later response must carry the same, or none.
 */
struct fc__net_ident {
	char etag[FC_NET_ETAG_MAX];	 /* "" if the server sent none */
	char last_modified[FC_NET_DATE_MAX]; /* "" if none */
	uint64_t size;
};

/* The headers of one response that the checks look at. */
struct fc__net_resp {
	long status;		/* from the status line, 0 before one */
	bool bad;		/* a header we need was malformed */
	bool has_range, range_total_known;
	bool has_length;
	uint64_t range_first, range_last, range_total;
	uint64_t length;	/* Content-Length */
	unsigned retry_after;	/* seconds, 0 if none */
	char reason[48];	/* the status line's reason phrase */
	char etag[FC_NET_ETAG_MAX];
	char last_modified[FC_NET_DATE_MAX];
};

/* Decimal without sign, surrounded by optional blanks. 0 or -EINVAL. */
int fc__net_parse_u64(const char *s, size_t n, uint64_t *out);
/*
 * "bytes FIRST-LAST/TOTAL", TOTAL possibly "*". 0 or -EINVAL (also for
 * FIRST > LAST, LAST >= TOTAL, and the unsatisfied-range form with "*"
 * in place of FIRST-LAST).
 */
int fc__net_parse_content_range(const char *s, size_t n, uint64_t *first,
				uint64_t *last, uint64_t *total,
				bool *total_known);
/*
 * Feed one header line as libcurl hands it over (with its CRLF, not NUL
 * terminated). A status line starts a new response (after a redirect or
 * a 100 Continue): @r is reset.
 */
void fc__net_header(struct fc__net_resp *r, const char *line, size_t n);
/*
 * Is @r a faithful answer for bytes [@start, @end) of the version @id?
 * Returns 0, or -errno with a one-line reason in @why: -ESTALE for
 * another version (validators, size, 412, 416), the status's errno for
 * an error status, -EPROTO for a reply that does not match the range.
 */
int fc__net_check(const struct fc__net_resp *r, uint64_t start, uint64_t end,
		  const struct fc__net_ident *id, char *why, size_t whylen);
/* errno for a final HTTP error status. */
int fc__net_status_errno(long status);
/* 429 and 5xx: worth repeating after a backoff. */
bool fc__net_status_retryable(long status);
/* Is @etag strong (usable in If-Match)? */
bool fc__net_etag_strong(const char *etag);
/*
 * An S3 (or other XML) error body: "Code: Message", cut to @outlen, with
 * control characters removed. "" if the body has neither.
 */
void fc__net_xml_error(const char *body, size_t n, char *out, size_t outlen);

/* ---- S3 ---- */

/* Split "s3://bucket/key". 0 or -EINVAL (empty bucket or key, too long). */
int fc__s3_split(const char *url, char *bucket, size_t blen, char *key,
		 size_t klen);
/*
 * SigV4 URI-encode @in into @out: unreserved characters kept, '/' kept
 * when @keep_slash, everything else %XX. 0 or -ENAMETOOLONG.
 */
int fc__s3_encode(const char *in, char *out, size_t outlen, bool keep_slash);
/*
 * The HTTP URL of @bucket/@key: path-style under @endpoint when given,
 * else AWS's virtual-hosted https URL in @region (path-style for bucket
 * names that are no DNS label). 0 or -ENAMETOOLONG.
 */
int fc__s3_http_url(const char *bucket, const char *key, const char *endpoint,
		    const char *region, char *out, size_t outlen);
/*
 * Look up @key in [@section] of an INI text (AWS's credentials and config
 * files: "key = value" lines, '#' and ';' comments). 0 with the value in
 * @out, -ENOENT, or -ENAMETOOLONG.
 */
int fc__ini_get(const char *text, size_t n, const char *section,
		const char *key, char *out, size_t outlen);

#endif
