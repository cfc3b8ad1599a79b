/* SPDX-License-Identifier: MIT */
/*
 * workloads.c - the operation lists. Every list is made from a seed, so
 * every engine runs the same accesses and must give the same checksum.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define PG 4096ull
#define MAX_RANDOM_OPS 200000ull

const struct wl workloads[] = {
	{ "seq1", "sequential scan, one byte per page", FC_ADVICE_NORMAL },
	{ "seqsum", "sequential scan, every byte (checksum)", FC_ADVICE_NORMAL },
	{ "reverse", "reverse scan, one byte per page", FC_ADVICE_NORMAL },
	{ "stride", "every 16th page, whole page", FC_ADVICE_NORMAL },
	{ "rand4k", "uniform random 4 KiB reads", FC_ADVICE_RANDOM },
	{ "zipf", "zipfian random 4 KiB reads (hot set)", FC_ADVICE_RANDOM },
	{ "ws4x", "random 4 KiB over 4x the fc budget", FC_ADVICE_RANDOM },
	{ "scanres", "hot set (half budget) under a 4x-budget scan",
	  FC_ADVICE_NORMAL },
};
const size_t nr_workloads = sizeof(workloads) / sizeof(workloads[0]);

bool workload_one_byte(const char *name)
{
	return !strcmp(name, "seq1") || !strcmp(name, "reverse");
}

int workload_index(const char *name)
{
	size_t i;

	for (i = 0; i < nr_workloads; i++)
		if (!strcmp(workloads[i].name, name))
			return (int)i;
	return -1;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int alloc_ops(struct oplist *ol, size_t n)
{
	ol->v = calloc(n ? n : 1, sizeof(*ol->v));
	ol->n = n;
	return ol->v ? 0 : -ENOMEM;
}

static uint64_t clip_len(uint64_t off, uint64_t len, uint64_t size)
{
	return off + len > size ? size - off : len;
}

/* A bijection on [0, n): multiply by a prime that does not divide n. */
static uint64_t scramble(uint64_t x, uint64_t n)
{
	static const uint64_t primes[] = { 2654435761ull, 40503ull, 65521ull };
	size_t i;

	for (i = 0; i < 3; i++)
		if (n % primes[i])
			return (x * primes[i]) % n;
	return x;
}

static int sequential(struct oplist *ol, uint64_t size, uint64_t chunk,
		      uint64_t stride, bool reverse)
{
	uint64_t n = (size + stride - 1) / stride, i;

	if (alloc_ops(ol, n))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint64_t k = reverse ? n - 1 - i : i;

		ol->v[i].off = k * stride;
		ol->v[i].len = (uint32_t)clip_len(k * stride, chunk, size);
	}
	return 0;
}

/* n random pages within the first @span bytes; zipf when @zipf. */
static int random_pages(struct oplist *ol, uint64_t span, uint64_t size,
			uint64_t n, bool zipf, uint64_t seed)
{
	uint64_t pages = span / PG, i, s = seed | 1;

	if (!pages)
		pages = 1;
	if (alloc_ops(ol, n))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint64_t pg;

		if (zipf) {
			/* continuous Zipf(s=1): P(rank <= k) = ln k / ln N */
			double u = (double)(rnd(&s) >> 11) / 9007199254740992.0;

			pg = (uint64_t)pow((double)pages, u) - 1;
			if (pg >= pages)
				pg = pages - 1;
			pg = scramble(pg, pages);
		} else {
			pg = rnd(&s) % pages;
		}
		ol->v[i].off = pg * PG;
		ol->v[i].len = (uint32_t)clip_len(pg * PG, PG, size);
	}
	return 0;
}

/**
 * workload_ops - the operation list of workload @name.
 * @budget: the fc budget, which sizes ws4x and scanres.
 * Return: 0 or -errno (-EINVAL for an unknown name).
 */
int workload_ops(const char *name, off_t file_size, uint64_t budget,
		 uint64_t seed, struct oplist *ol)
{
	uint64_t size = (uint64_t)file_size, pages = size / PG, n, i;
	int ret;

	memset(ol, 0, sizeof(*ol));
	n = pages / 4 < MAX_RANDOM_OPS ? pages / 4 : MAX_RANDOM_OPS;
	if (!n)
		n = 1;
	ol->touch = TOUCH_ALL;
	if (!strcmp(name, "seq1") || !strcmp(name, "reverse")) {
		ol->touch = TOUCH_BYTE;
		ret = sequential(ol, size, PG, PG, name[0] == 'r');
	} else if (!strcmp(name, "seqsum")) {
		ret = sequential(ol, size, 64 * 1024, 64 * 1024, false);
	} else if (!strcmp(name, "stride")) {
		ret = sequential(ol, size, PG, 16 * PG, false);
	} else if (!strcmp(name, "rand4k")) {
		ret = random_pages(ol, size, size, n, false, seed);
	} else if (!strcmp(name, "zipf")) {
		ret = random_pages(ol, size, size, n, true, seed);
	} else if (!strcmp(name, "ws4x")) {
		uint64_t span = 4 * budget < size ? 4 * budget : size;

		ret = random_pages(ol, span, size, n, false, seed);
	} else {
		return -EINVAL;
	}
	if (ret)
		return ret;
	/* a page touched at one byte was still brought in for that access */
	for (i = 0; i < ol->n; i++)
		ol->used_bytes += ol->v[i].len;
	return 0;
}
