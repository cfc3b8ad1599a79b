/* SPDX-License-Identifier: MIT */
/*
 * s3.c - the S3 side that is not signing (libcurl signs, CURLOPT_AWS_SIGV4):
 * s3://bucket/key to an HTTP URL, SigV4's URI encoding, and lookups in the
 * AWS CLI's INI files (credentials, config). Pure functions, fuzzed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

int fc__s3_split(const char *url, char *bucket, size_t blen, char *key,
		 size_t klen)
{
	const char *b, *slash;
	size_t n;

	if (strncmp(url, "s3://", 5))
		return -EINVAL;
	b = url + 5;
	slash = strchr(b, '/');
	if (!slash || slash == b || !slash[1])
		return -EINVAL;
	n = (size_t)(slash - b);
	if (n >= blen || strlen(slash + 1) >= klen)
		return -EINVAL;
	memcpy(bucket, b, n);
	bucket[n] = 0;
	strcpy(key, slash + 1);
	return 0;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

int fc__s3_encode(const char *in, char *out, size_t outlen, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t at = 0;

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (unreserved(c) || (keep_slash && c == '/')) {
			if (at + 1 >= outlen)
				return -ENAMETOOLONG;
			out[at++] = (char)c;
		} else {
			if (at + 3 >= outlen)
				return -ENAMETOOLONG;
			out[at++] = '%';
			out[at++] = hex[c >> 4];
			out[at++] = hex[c & 15];
		}
	}
	if (at >= outlen)
		return -ENAMETOOLONG;
	out[at] = 0;
	return 0;
}

/* A bucket name that can be a DNS label in a TLS name: no dots. */
static bool dns_bucket(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (; *b; b++)
		if (!((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') ||
		      *b == '-'))
			return false;
	return true;
}

int fc__s3_http_url(const char *bucket, const char *key, const char *endpoint,
		    const char *region, char *out, size_t outlen)
{
	char ekey[3 * 1024 + 1], ebucket[3 * 64 + 1];
	size_t el;
	int n;

	if (fc__s3_encode(key, ekey, sizeof(ekey), true) ||
	    fc__s3_encode(bucket, ebucket, sizeof(ebucket), false))
		return -ENAMETOOLONG;
	if (endpoint && *endpoint) {
		el = strlen(endpoint);
		while (el && endpoint[el - 1] == '/')
			el--;
		n = snprintf(out, outlen, "%.*s/%s/%s", (int)el, endpoint,
			     ebucket, ekey);
	} else if (dns_bucket(bucket)) {
		n = snprintf(out, outlen, "https://%s.s3.%s.amazonaws.com/%s",
			     ebucket, region, ekey);
	} else {
		n = snprintf(out, outlen, "https://s3.%s.amazonaws.com/%s/%s",
			     region, ebucket, ekey);
	}
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static size_t line_end(const char *t, size_t i, size_t n)
{
	while (i < n && t[i] != '\n')
		i++;
	return i;
}

static void trim(const char *t, size_t *a, size_t *b)
{
	while (*a < *b && (t[*a] == ' ' || t[*a] == '\t'))
		(*a)++;
	while (*b > *a && (t[*b - 1] == ' ' || t[*b - 1] == '\t' ||
			   t[*b - 1] == '\r'))
		(*b)--;
}

static bool span_is(const char *t, size_t a, size_t b, const char *s)
{
	return strlen(s) == b - a && !memcmp(t + a, s, b - a);
}

int fc__ini_get(const char *text, size_t n, const char *section,
		const char *key, char *out, size_t outlen)
{
	bool in = false;
	size_t i = 0;

	while (i < n) {
		size_t a = i, b = line_end(text, i, n), eq;

		i = b + 1;
		trim(text, &a, &b);
		if (a == b || text[a] == '#' || text[a] == ';')
			continue;
		if (text[a] == '[') {
			size_t sa = a + 1, sb = b;

			if (text[b - 1] != ']' || b - a < 2)
				continue;
			sb = b - 1;
			trim(text, &sa, &sb);
			in = span_is(text, sa, sb, section);
			continue;
		}
		if (!in)
			continue;
		for (eq = a; eq < b && text[eq] != '='; eq++)
			;
		if (eq == b) {
			continue;
		} else {
			size_t ka = a, kb = eq, va = eq + 1, vb = b;

			trim(text, &ka, &kb);
			trim(text, &va, &vb);
			if (!span_is(text, ka, kb, key))
				continue;
			if (vb - va >= outlen)
				return -ENAMETOOLONG;
			memcpy(out, text + va, vb - va);
			out[vb - va] = 0;
			return 0;
		}
	}
	return -ENOENT;
}
