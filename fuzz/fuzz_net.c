/* SPDX-License-Identifier: MIT */
/*
 * fuzz_net: what libfaultcache-net reads from servers and files
 * (net/src/http.c, net/src/s3.c), fed arbitrary bytes. The first bytes
 * choose a requested range and the version the object had; the rest is
 * split into header lines, and then also used as a Content-Range value,
 * an XML error body and an INI file. Rules any correct parser keeps:
 *   - nothing reads or writes out of bounds (ASan), strings stay
 *     terminated and free of control characters;
 *   - fc__net_check() accepts only a 206 whose Content-Range is exactly
 *     the requested range of an object of the known size, or a 200 of the
 *     whole object, with no other validator than the one first seen;
 *   - a parsed Content-Range has FIRST <= LAST < TOTAL, and printing it
 *     back and parsing again gives the same numbers;
 *   - URI encoding is reversible and leaves only unreserved characters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "fuzz.h"
#include "parse.h"

static bool clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void check_verdict(const struct fc__net_resp *r, uint64_t start,
			  uint64_t end, const struct fc__net_ident *id)
{
	char why[200];
	int ret = fc__net_check(r, start, end, id, why, sizeof(why));

	FZ_CHECK(memchr(why, 0, sizeof(why)));
	if (ret)
		return;
	FZ_CHECK(r->status == 200 || r->status == 206);
	FZ_CHECK(!r->bad);
	FZ_CHECK(!id->etag[0] || !r->etag[0] || !strcmp(id->etag, r->etag));
	FZ_CHECK(!id->last_modified[0] || !r->last_modified[0] ||
		 !strcmp(id->last_modified, r->last_modified));
	if (r->status == 200) {
		FZ_CHECK(start == 0 && end == id->size);
		FZ_CHECK(r->has_length && r->length == id->size);
	} else {
		FZ_CHECK(r->has_range && r->range_first == start &&
			 r->range_last + 1 == end);
		FZ_CHECK(!r->range_total_known || r->range_total == id->size);
		FZ_CHECK(!r->has_length || r->length == end - start);
	}
}

static void check_range_roundtrip(const char *s, size_t n)
{
	uint64_t a, b, t, a2, b2, t2;
	bool known, known2;
	char again[96];
	int len;

	if (fc__net_parse_content_range(s, n, &a, &b, &t, &known))
		return;
	FZ_CHECK(a <= b);
	FZ_CHECK(!known || b < t);
	if (known)
		len = snprintf(again, sizeof(again), "bytes %" PRIu64 "-%" PRIu64
			       "/%" PRIu64, a, b, t);
	else
		len = snprintf(again, sizeof(again), "bytes %" PRIu64 "-%" PRIu64
			       "/*", a, b);
	FZ_CHECK(!fc__net_parse_content_range(again, (size_t)len, &a2, &b2,
					     &t2, &known2));
	FZ_CHECK(a == a2 && b == b2 && known == known2 && (!known || t == t2));
}

static void check_encode(const char *s)
{
	char enc[3 * 256 + 1], dec[256];
	size_t i, j = 0;

	if (fc__s3_encode(s, enc, sizeof(enc), true))
		return;
	for (i = 0; enc[i]; i++) {
		char c = enc[i];

		if (c == '%') {
			unsigned v;

			FZ_CHECK(sscanf(enc + i + 1, "%2X", &v) == 1);
			dec[j++] = (char)v;
			i += 2;
		} else {
			FZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				 (c >= '0' && c <= '9') || strchr("-._~/", c));
			dec[j++] = c;
		}
	}
	dec[j] = 0;
	FZ_CHECK(!strcmp(dec, s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	struct fc__net_ident id;
	struct fc__net_resp r;
	uint64_t start, end;
	char *text, out[128], key[200];
	size_t i, n;

	memset(&id, 0, sizeof(id));
	id.size = fz_take(&z, 2);
	start = id.size ? fz_take(&z, 2) % id.size : 0;
	end = id.size ? start + 1 + fz_take(&z, 2) % (id.size - start) : 1;
	if (fz_take(&z, 1) & 1)
		strcpy(id.etag, "\"e\"");
	if (fz_take(&z, 1) & 1)
		strcpy(id.last_modified, "Mon, 01 Jan 2001 00:00:00 GMT");
	n = z.n;
	text = malloc(n + 1);
	if (!text)
		return 0;
	memcpy(text, z.p, n);
	text[n] = 0;

	/* header lines, as libcurl hands them over (not NUL-terminated) */
	memset(&r, 0, sizeof(r));
	for (i = 0; i < n;) {
		size_t j = i;
		char *line;

		while (j < n && text[j] != '\n')
			j++;
		if (j < n)
			j++;
		line = malloc(j - i ? j - i : 1);
		if (line) {
			memcpy(line, text + i, j - i);
			fc__net_header(&r, line, j - i);
			free(line);
		}
		i = j;
	}
	FZ_CHECK(memchr(r.etag, 0, sizeof(r.etag)) && clean(r.etag));
	FZ_CHECK(memchr(r.last_modified, 0, sizeof(r.last_modified)) &&
		 clean(r.last_modified));
	FZ_CHECK(memchr(r.reason, 0, sizeof(r.reason)) && clean(r.reason));
	if (r.has_range) {
		FZ_CHECK(r.range_first <= r.range_last);
		FZ_CHECK(!r.range_total_known || r.range_last < r.range_total);
	}
	check_verdict(&r, start, end, &id);

	check_range_roundtrip(text, n);
	fc__net_xml_error(text, n, out, sizeof(out));
	FZ_CHECK(strlen(out) < sizeof(out) && clean(out));
	if (!fc__ini_get(text, n, "default", "aws_access_key_id", key,
			 sizeof(key)))
		FZ_CHECK(strlen(key) < sizeof(key) && !strchr(key, '\n'));
	if (n < 256 && strlen(text) == n)
		check_encode(text);
	free(text);
	return 0;
}
