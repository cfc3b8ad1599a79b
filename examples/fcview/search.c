/* SPDX-License-Identifier: MIT */
/*
 * search.c - pattern search over the mapping in 4 MiB chunks (so memory
 * stays within the cache budget and the UI can show progress and cancel),
 * and the sample text generator.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcview.h"

#define CHUNK (4u << 20)

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Text as is; hex as pairs of digits, spaces allowed ("de ad", "dead"). */
int pattern_parse(struct pattern *p, const char *s, bool hex)
{
	p->len = 0;
	if (!hex) {
		size_t n = strlen(s);

		if (!n || n > sizeof(p->bytes))
			return -1;
		memcpy(p->bytes, s, n);
		p->len = n;
		return 0;
	}
	while (*s) {
		int hi, lo;

		if (*s == ' ') {
			s++;
			continue;
		}
		hi = hexval(s[0]);
		lo = s[1] ? hexval(s[1]) : -1;
		if (hi < 0 || lo < 0 || p->len == sizeof(p->bytes))
			return -1;
		p->bytes[p->len++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return p->len ? 0 : -1;
}

/*
 * First occurrence of @p in @buf[0, n), or NULL. memchr for the first byte
 * and memcmp for the rest reads the haystack once, up to the match: memmem
 * would do as well, but sanitizer runtimes check the whole rest of the
 * haystack at each call, which made a search with many matches quadratic
 * in the test builds.
 */
const unsigned char *pattern_find(const unsigned char *buf, size_t n,
				  const struct pattern *p)
{
	const unsigned char *end = buf + n;

	if (n < p->len)
		return NULL;
	while ((size_t)(end - buf) >= p->len) {
		buf = memchr(buf, p->bytes[0], (size_t)(end - buf) - p->len + 1);
		if (!buf)
			return NULL;
		if (!memcmp(buf + 1, p->bytes + 1, p->len - 1))
			return buf;
		buf++;
	}
	return NULL;
}

/* Last occurrence of @p in @buf[0, n) starting before @limit. */
static const unsigned char *last_match(const unsigned char *buf, size_t n,
				       size_t limit, const struct pattern *p)
{
	size_t i;

	if (n < p->len)
		return NULL;
	i = n - p->len + 1;
	if (i > limit)
		i = limit;
	while (i-- > 0)
		if (buf[i] == p->bytes[0] && !memcmp(buf + i, p->bytes, p->len))
			return buf + i;
	return NULL;
}

static int search_fwd(const struct pattern *p, uint64_t pos,
		      unsigned char *buf, uint64_t *hit,
		      bool (*progress)(uint64_t))
{
	while (pos + p->len <= v.size) {
		ssize_t n = view_copy(buf, pos, CHUNK + p->len - 1);
		const unsigned char *m;

		if (n < 0)
			return -1;
		m = pattern_find(buf, (size_t)n, p);
		if (m) {
			*hit = pos + (uint64_t)(m - buf);
			return 1;
		}
		pos += CHUNK;
		if (progress && progress(pos))
			return 2;
	}
	return 0;
}

static int search_back(const struct pattern *p, uint64_t from,
		       unsigned char *buf, uint64_t *hit,
		       bool (*progress)(uint64_t))
{
	uint64_t end = from + p->len - 1;	/* a match may start at from-1 */

	if (end > v.size)
		end = v.size;
	while (end >= p->len && from > 0) {
		uint64_t start = end > CHUNK + p->len - 1 ? end - CHUNK - p->len + 1
							  : 0;
		ssize_t n = view_copy(buf, start, (size_t)(end - start));
		const unsigned char *m;

		if (n < 0)
			return -1;
		m = last_match(buf, (size_t)n, (size_t)(from - start), p);
		if (m) {
			*hit = start + (uint64_t)(m - buf);
			return 1;
		}
		if (!start)
			break;
		end = start + p->len - 1;
		if (progress && progress(start))
			return 2;
	}
	return 0;
}

/*
 * Every non-overlapping match from the start, in one pass (as grep -ob):
 * each chunk is copied once and all its matches reported to @fn.
 * Returns 0, or -1 when pages vanished.
 */
int search_all(const struct pattern *p, void (*fn)(uint64_t off))
{
	unsigned char *buf = malloc(CHUNK + sizeof(p->bytes));
	uint64_t pos = 0, next = 0;	/* next: first offset a match may start */

	if (!buf)
		return -1;
	while (pos + p->len <= v.size) {
		ssize_t n = view_copy(buf, pos, CHUNK + p->len - 1);
		const unsigned char *b = buf, *m;

		if (n < 0) {
			free(buf);
			return -1;
		}
		if (next > pos)
			b += next - pos;
		while ((m = pattern_find(b, (size_t)(buf + n - b), p))) {
			fn(pos + (uint64_t)(m - buf));
			b = m + p->len;
		}
		next = pos + (uint64_t)(b - buf);
		pos += CHUNK;
	}
	free(buf);
	return 0;
}

int search(const struct pattern *p, uint64_t from, bool forward,
	   uint64_t *hit, bool (*progress)(uint64_t pos))
{
	unsigned char *buf = malloc(CHUNK + sizeof(p->bytes));
	int r;

	if (!buf)
		return -1;
	r = forward ? search_fwd(p, from, buf, hit, progress)
		    : search_back(p, from, buf, hit, progress);
	free(buf);
	return r;
}

/* ---- sample text ---- */

static const char *const words[] = {
	"the", "page", "cache", "fault", "handler", "reads", "ahead", "of",
	"a", "sequential", "reader", "while", "memory", "stays", "within",
	"its", "budget", "and", "every", "byte", "seen", "through", "mapping",
	"equals", "file", "kernel", "userfaultfd", "ring", "completion",
	"wakes", "thread", "that", "waits", "for", "window", "marker",
	"eviction", "list", "active", "inactive", "shadow", "refault",
	"distance", "is", "small", "enough", "to", "promote", "it", "in",
	"on", "with", "when", "from", "lazy", "viewer", "opens", "huge",
	"files", "instantly", "because", "only", "pages", "screen", "are",
};

/* The line number, as "%09llu ": a decimal counter kept as text. */
struct lineno {
	char d[24];	/* right-aligned digits, then a space */
	int first;	/* first digit printed */
};

static void lineno_init(struct lineno *l)
{
	memset(l->d, '0', sizeof(l->d) - 1);
	l->d[sizeof(l->d) - 2] = '1';
	l->d[sizeof(l->d) - 1] = ' ';
	l->first = (int)sizeof(l->d) - 10;	/* at least 9 digits */
}

static void lineno_next(struct lineno *l)
{
	int i = (int)sizeof(l->d) - 2;

	while (i >= 0 && l->d[i] == '9')
		l->d[i--] = '0';
	if (i >= 0)
		l->d[i]++;
	if (i < l->first)
		l->first = i;
}

/*
 * Fill @buf with whole lines ("%09llu " and 3 to 19 words, ending in
 * ".\n") until at least @cap bytes; the bytes written (below @cap plus one
 * line, at most 24 + 19 * 14 bytes more). Memory copies only: this writes
 * the viewer's sample at the speed of the disk.
 */
static size_t sample_lines(char *buf, size_t cap, struct lineno *l,
			   uint64_t *seed)
{
	static size_t wlen[sizeof(words) / sizeof(words[0])];
	size_t nw = sizeof(words) / sizeof(words[0]), n = 0, i;
	uint64_t s = *seed;

	if (!wlen[0])
		for (i = 0; i < nw; i++)
			wlen[i] = strlen(words[i]);
	while (n < cap) {
		int words_in_line = 3 + (int)(s % 17), k;
		size_t len = sizeof(l->d) - (size_t)l->first;

		memcpy(buf + n, l->d + l->first, len);
		n += len;
		lineno_next(l);
		for (k = 0; k < words_in_line; k++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			memcpy(buf + n, words[s % nw], wlen[s % nw]);
			n += wlen[s % nw];
			if (k + 1 == words_in_line) {
				memcpy(buf + n, ".\n", 2);
				n += 2;
			} else if (s % 11 == 0) {
				memcpy(buf + n, ", ", 2);
				n += 2;
			} else {
				buf[n++] = ' ';
			}
		}
	}
	*seed = s;
	return n;
}

/* Write @size bytes of numbered lines of words: real text, not sparse. */
int generate_sample(const char *path, uint64_t size)
{
	size_t cap = 8u << 20;
	char *buf = malloc(cap + 4096);
	uint64_t done = 0, s = 0x2545f4914f6cdd1dull;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct lineno l;

	if (fd < 0 || !buf) {
		fprintf(stderr, "fcview: %s: %s\n", path, strerror(errno));
		free(buf);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	lineno_init(&l);
	while (done < size) {
		size_t n = sample_lines(buf, cap, &l, &s);

		if (n > size - done)
			n = (size_t)(size - done);
		if (write(fd, buf, n) != (ssize_t)n) {
			fprintf(stderr, "fcview: writing %s: %s\n", path,
				errno ? strerror(errno) : "disk full");
			close(fd);
			free(buf);
			return -1;
		}
		done += n;
	}
	free(buf);
	if (close(fd)) {
		fprintf(stderr, "fcview: writing %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}
