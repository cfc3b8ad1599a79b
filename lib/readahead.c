/* SPDX-License-Identifier: MIT */
/*
 * readahead.c - sync read-around and async readahead, after
 * mm/filemap.c (do_sync_mmap_readahead, do_async_mmap_readahead) and
 * mm/readahead.c (get_init_ra_size, get_next_ra_size, page_cache_async_ra).
 * See readahead.h for the model.
 */
#include "readahead.h"

void fc__ra_init(struct fc_ra *ra, unsigned max_pages)
{
	ra->start = 0;
	ra->size = 0;
	ra->async_size = 0;
	ra->mmap_miss = 0;
	ra->max = max_pages ? max_pages : 1;
	ra->advice = FC_RA_NORMAL;
}

static unsigned roundup_pow2(unsigned x)
{
	unsigned r = 1;

	while (r < x)
		r <<= 1;
	return r;
}

/* First window for a request of @req pages: x4 if small, x2 if medium. */
unsigned fc__ra_init_size(unsigned req, unsigned max)
{
	unsigned n = roundup_pow2(req);

	if (n <= max / 32)
		n *= 4;
	else if (n <= max / 4)
		n *= 2;
	else
		n = max;
	return n < max ? n : max;
}

/* Ramp-up: x4 while below max/16, x2 up to max/2, then max. */
unsigned fc__ra_next_size(unsigned cur, unsigned max)
{
	if (cur < max / 16)
		return 4 * cur;
	if (cur <= max / 2)
		return 2 * cur;
	return max;
}

/* Clip to the file and turn the state into a window with its marker. */
static struct fc_ra_window window_of(const struct fc_ra *ra, uint64_t nr_pages)
{
	struct fc_ra_window w = { ra->start, ra->size, 0, false };

	if (w.start >= nr_pages) {
		w.size = 0;
		return w;
	}
	if (w.start + w.size > nr_pages)
		w.size = nr_pages - w.start;
	if (ra->async_size && ra->async_size <= ra->size) {
		w.marker = ra->start + ra->size - ra->async_size;
		w.has_marker = w.marker < w.start + w.size;
	}
	return w;
}

static struct fc_ra_window single(uint64_t index)
{
	struct fc_ra_window w = { index, 1, 0, false };

	return w;
}

struct fc_ra_window fc__ra_miss(struct fc_ra *ra, uint64_t index,
				uint64_t nr_pages)
{
	struct fc_ra_window w;

	if (ra->advice == FC_RA_RANDOM || ra->max <= 1)
		return single(index);
	if (ra->advice == FC_RA_SEQUENTIAL) {
		/* forward, full window, pipelined from its middle */
		ra->start = index;
		ra->size = ra->max;
		ra->async_size = ra->max / 2 ? ra->max / 2 : 1;
		return window_of(ra, nr_pages);
	}
	/*
	 * A miss right before or after the last window continues a stream
	 * (a reverse reader, or one outrunning readahead). The kernel sees
	 * such a reader hit the cache between misses, through fault-around;
	 * here the pages in between were installed ahead and their hits are
	 * invisible, so count the adjacency as the hit instead.
	 */
	if (ra->size && (index + 1 == ra->start ||
			 index == ra->start + ra->size)) {
		fc__ra_hit(ra);
	} else if (ra->mmap_miss < FC_RA_MISS_CAP) {
		ra->mmap_miss++;
	}
	if (ra->mmap_miss > FC_RA_MMAP_LOTSAMISS)
		return single(index);
	/* read-around centred on the fault */
	ra->start = index > ra->max / 2 ? index - ra->max / 2 : 0;
	ra->size = ra->max;
	ra->async_size = ra->max / 4;
	w = window_of(ra, nr_pages);
	return w.size ? w : single(index);
}

void fc__ra_hit(struct fc_ra *ra)
{
	if (ra->mmap_miss)
		ra->mmap_miss--;
}

struct fc_ra_window fc__ra_marker(struct fc_ra *ra, uint64_t index,
				  uint64_t nr_pages, fc_ra_cached_fn cached,
				  void *arg)
{
	struct fc_ra_window none = { index, 0, 0, false };
	uint64_t next;

	if (ra->advice == FC_RA_RANDOM)
		return none;
	if (ra->size && index == ra->start + ra->size - ra->async_size) {
		/* the expected marker: the stream goes on, pipeline the next */
		ra->start += ra->size;
		ra->size = fc__ra_next_size((unsigned)ra->size, ra->max);
		ra->async_size = ra->size;
		return window_of(ra, nr_pages);
	}
	/*
	 * Context readahead: a marker hit where this state did not expect
	 * one (interleaved streams share the mapping). Size the window from
	 * the cached run that precedes the first missing page.
	 */
	for (next = index + 1; next < nr_pages && next - index <= ra->max; next++)
		if (!cached(arg, next))
			break;
	if (next >= nr_pages || next - index > ra->max)
		return none;
	ra->start = next;
	ra->size = fc__ra_next_size((unsigned)(next - index) + ra->max, ra->max);
	ra->async_size = ra->size;
	return window_of(ra, nr_pages);
}

void fc__ra_advise(struct fc_ra *ra, enum fc_ra_advice advice)
{
	ra->advice = advice;
	ra->mmap_miss = 0;
}
