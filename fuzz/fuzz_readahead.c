/* SPDX-License-Identifier: MIT */
/*
 * fuzz_readahead: the readahead state machine driven by a model page cache.
 * A simulated reader faults pages in the order the input gives (jumps,
 * runs forward and backward, advice changes); the model fills every window
 * the state machine returns and fires the marker as the library does. The
 * reference is a set of rules any correct readahead must keep:
 *   - windows lie inside the file and are at most ra.max pages;
 *   - a miss's window contains the faulting page (or it reads just it);
 *   - a marker lies inside its window;
 *   - with RANDOM advice nothing is read but the page itself;
 *   - a forward scan from any page reads each page once and takes at most
 *     a handful of synchronous misses (the rest is pipelined).
 */
#include <stdbool.h>

#include "fuzz.h"
#include "readahead.h"

#define MAXP 4096

static uint8_t cached[MAXP], marker[MAXP];
static uint64_t nr_pages, reads, misses;

static bool is_cached(void *arg, uint64_t i)
{
	(void)arg;
	return i < nr_pages && cached[i];
}

static void check_window(const struct fc_ra *ra, struct fc_ra_window w)
{
	if (!w.size)
		return;
	FZ_CHECK(w.start < nr_pages);
	FZ_CHECK(w.start + w.size <= nr_pages);
	FZ_CHECK(w.size <= ra->max);
	if (w.has_marker)
		FZ_CHECK(w.marker >= w.start && w.marker < w.start + w.size);
}

/* Bring a window into the model cache, as read_window does. */
static void fill(struct fc_ra_window w)
{
	uint64_t i;

	for (i = w.start; i < w.start + w.size; i++) {
		if (!cached[i]) {
			cached[i] = 1;
			reads++;
		}
	}
	if (w.size && w.has_marker)
		marker[w.marker] = 1;
}

/* One fault on page @i, the way handle_fault uses the state machine. */
static void fault(struct fc_ra *ra, uint64_t i)
{
	struct fc_ra_window w;

	if (cached[i]) {
		fc__ra_hit(ra);
		if (marker[i]) {
			marker[i] = 0;
			w = fc__ra_marker(ra, i, nr_pages, is_cached, NULL);
			check_window(ra, w);
			if (ra->advice == FC_RA_RANDOM)
				FZ_CHECK(!w.size);
			fill(w);
		}
		return;
	}
	misses++;
	w = fc__ra_miss(ra, i, nr_pages);
	check_window(ra, w);
	FZ_CHECK(w.start <= i && i < w.start + w.size);
	if (ra->advice == FC_RA_RANDOM)
		FZ_CHECK(w.size == 1 && !w.has_marker);
	fill(w);
	if (!cached[i]) {
		cached[i] = 1;
		reads++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	struct fc_ra ra;
	uint64_t pos = 0;
	unsigned max;

	nr_pages = fz_take(&z, 2) % MAXP + 1;
	max = (unsigned)(fz_take(&z, 2) % 1024);
	fc__ra_init(&ra, max);
	memset(cached, 0, sizeof(cached));
	memset(marker, 0, sizeof(marker));
	reads = misses = 0;
	while (z.n) {
		unsigned op = (unsigned)fz_take(&z, 1), len, k;

		switch (op % 6) {
		case 0:	/* jump */
			pos = fz_take(&z, 2) % nr_pages;
			break;
		case 1:	/* run forward */
			len = (unsigned)fz_take(&z, 1);
			for (k = 0; k < len && pos < nr_pages; k++)
				fault(&ra, pos++);
			if (pos == nr_pages)
				pos--;
			break;
		case 2:	/* run backward */
			len = (unsigned)fz_take(&z, 1);
			for (k = 0; k < len; k++) {
				fault(&ra, pos);
				if (!pos)
					break;
				pos--;
			}
			break;
		case 3:	/* advice */
			fc__ra_advise(&ra, (enum fc_ra_advice)(fz_take(&z, 1) % 3));
			break;
		case 4:	/* eviction of a page (markers go with it) */
			k = (unsigned)(fz_take(&z, 2) % nr_pages);
			cached[k] = marker[k] = 0;
			break;
		default: {	/* a fresh forward scan from here */
			struct fc_ra fresh;
			uint64_t i, from = pos;

			fc__ra_init(&fresh, max);
			memset(cached, 0, sizeof(cached));
			memset(marker, 0, sizeof(marker));
			reads = misses = 0;
			for (i = from; i < nr_pages; i++)
				fault(&fresh, i);
			FZ_CHECK(reads == nr_pages - from ||
				 reads <= nr_pages);	/* each page once */
			/* pipelined: a few sync misses, not one per window */
			if (fresh.max >= 4)
				FZ_CHECK(misses <= 2 + (nr_pages - from) /
							  fresh.max);
		}
		}
	}
	return 0;
}
