/* SPDX-License-Identifier: MIT */
/*
 * invalidate.c - fc_invalidate's work: a writer says a range of a file
 * changed, and the cache drops its pages there, from every file object
 * of the inode, waiting for those being read or installed.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "file.h"
#include "invalidate.h"
#include "radix.h"
#include "reclaim.h"
#include "stats.h"
#include "util.h"

/*
 * Drop @f's cached pages [@first, @last]. A page being read or pinned
 * (installed, collapsed) cannot go now: it is marked stale, and goes when
 * its read ends or its last pin does, as after a size change.
 * Return: the pages marked. Context: cache->lock held.
 */
static uint64_t drop_range(struct fc_cache *c, struct fc_file *f,
			   uint64_t first, uint64_t last)
{
	uint64_t key = first, busy = 0;
	struct fc_page *pg;

	fc__assert_held(&c->lock);
	while ((pg = fc__radix_next(&f->tree, &key)) && pg->index <= last) {
		key = pg->index + 1;
		if (pg->state == FC_PG_UPTODATE && !pg->pins) {
			fc__page_drop(c, pg);
		} else {
			pg->stale = 1;
			busy++;
		}
	}
	fc__assert_cache(c);
	return busy;
}

/* Pages of @f in [@first, @last] marked stale. Context: cache->lock held. */
static uint64_t stale_left(struct fc_cache *c, struct fc_file *f,
			   uint64_t first, uint64_t last)
{
	uint64_t key = first, n = 0;
	struct fc_page *pg;

	fc__assert_held(&c->lock);
	while ((pg = fc__radix_next(&f->tree, &key)) && pg->index <= last) {
		key = pg->index + 1;
		n += pg->stale;
	}
	return n;
}

/*
 * Drop cache pages [@first, @last] of every file object of @st in @c.
 * Retained ones (no reference) lose them at once: they have no read in
 * flight. The others are referenced into @v (room for @cap) for the
 * caller to wait on and revalidate. Return: how many there are, which may
 * exceed @cap (the caller tries again with more room, and a file already
 * done has nothing left to drop). Context: cache->lock held.
 */
static size_t invalidate_files(struct fc_cache *c, const struct stat *st,
			       uint64_t first, uint64_t last,
			       struct fc_file **v, size_t cap)
{
	struct fc_file *f;
	size_t n = 0;

	fc__assert_held(&c->lock);
	fc__stats_note(c);	/* before pages go: peak_resident_bytes */
	for (f = c->files; f; f = f->next) {
		if (f->bops || f->defunct || f->dev != st->st_dev ||
		    f->ino != st->st_ino)
			continue;
		if (f->released) {
			drop_range(c, f, first, last);
			continue;
		}
		if (n < cap) {
			drop_range(c, f, first, last);
			f->refs++;
			v[n] = f;
		}
		n++;
	}
	return n;
}

/**
 * fc__file_invalidate - the bytes [@off, @off + @len) (@len 0: to the
 * end) of the file @st names changed through another descriptor. Its
 * cached pages there are dropped from @c, which unmaps them from every
 * view; pages being read or installed are dropped when that ends, and
 * this returns once they are gone, so that no mapping of the file shows
 * the old bytes of the range from then on (a read that started before
 * the change may have read them). Then the file's size is looked at
 * again (truncation, growth).
 * Return: 0 or -ENOMEM. Context: no lock held; may wait for reads.
 */
int fc__file_invalidate(struct fc_cache *c, const struct stat *st,
			uint64_t off, uint64_t len)
{
	size_t ps = c->cfg.page_size, cap = 8, n, i;
	uint64_t first = off / ps, last = UINT64_MAX, left;
	struct fc_file **v = NULL, **nv;
	useconds_t nap = 20;

	fc__assert_not_held(&c->lock);
	if (len && off + len - 1 >= off)
		last = (off + len - 1) / ps;
	for (;;) {
		nv = realloc(v, cap * sizeof(*v));
		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		pthread_mutex_lock(&c->lock);
		n = invalidate_files(c, st, first, last, v, cap);
		if (n <= cap)
			break;
		for (i = 0; i < cap; i++)
			fc__file_put(c, v[i]);
		pthread_mutex_unlock(&c->lock);
		cap = n + 8;
	}
	pthread_mutex_unlock(&c->lock);
	/* pages being read or installed: their end drops them */
	for (;;) {
		left = 0;
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < n; i++)
			left += stale_left(c, v[i], first, last);
		pthread_mutex_unlock(&c->lock);
		if (!left)
			break;
		usleep(nap);
		if (nap < 1000)
			nap *= 2;
	}
	fc__files_revalidate_put(c, v, n);
	free(v);
	return 0;
}
