/* SPDX-License-Identifier: MIT */
/* fcview.h - shared state of the viewer. */
#ifndef FCVIEW_H
#define FCVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct viewer {
	const char *path;
	uint64_t size;		/* shrinks to the new size if truncated */
	int fd;
	const unsigned char *map;
	struct fc_cache *cache;
	uint64_t vanished;	/* where pages went missing (truncation) */
	bool gone;		/* some pages went missing */
};
extern struct viewer v;

struct pattern {
	unsigned char bytes[256];
	size_t len;
};

/* fcview.c */
ssize_t view_copy(unsigned char *dst, uint64_t off, size_t len);
int byte_at(uint64_t off);
void view_check_size(void);

/* search.c */
int pattern_parse(struct pattern *p, const char *s, bool hex);
const unsigned char *pattern_find(const unsigned char *buf, size_t n,
				  const struct pattern *p);
/*
 * Find @p from @from forward (or before @from backward). 1 with *hit,
 * 0 when absent, 2 when cancelled, -1 when pages vanished.
 * @progress(arg-less): called between chunks with the position; returns
 * true to cancel. May be NULL.
 */
int search(const struct pattern *p, uint64_t from, bool forward,
	   uint64_t *hit, bool (*progress)(uint64_t pos));
int search_all(const struct pattern *p, void (*fn)(uint64_t off));
int generate_sample(const char *path, uint64_t size);

/* ui.c */
int ui_run(void);

#endif
