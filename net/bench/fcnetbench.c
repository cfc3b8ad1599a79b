/* SPDX-License-Identifier: MIT */
/*
 * fcnetbench - one timed run of a remote-read engine, for
 * net/bench/run-netbench.sh, which starts the servers, repeats the runs
 * and makes the table (method: docs/net.md, "Benchmark").
 *
 *   fcnetbench fcnet URL WORKLOAD [--cache-size S] [--pages N] [--seed X]
 *	libfaultcache-net: fc_net_open + fc_net_map, then the workload on
 *	the mapping
 *   fcnetbench mmap PATH WORKLOAD ...
 *	kernel mmap of PATH (a file on an s3fs mount: the peer)
 *   fcnetbench read PATH WORKLOAD ...
 *	pread of a local file (the curl baseline's second half)
 *
 * WORKLOAD: seq (every byte, 1 MiB at a time, in order) or rand (N
 * random 4 KiB pages, 4 KiB aligned, the same for every engine with the
 * same seed; MADV_RANDOM / FC_ADVICE_RANDOM). Prints one line of
 * key=value: seconds, bytes used, first-byte latency (open to the first
 * byte in hand), and for fcnet the requests and bytes the library counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>
#include <faultcache-net.h>

#define CHUNK (1u << 20)
#define PAGE 4096u

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct run {
	const char *engine, *target, *workload;
	uint64_t budget, pages, seed, readahead;
	double t0, first, end;
	uint64_t size, used;
	unsigned char sink;
	unsigned char *buf;
};

/* The workload over memory @p of @size bytes (the first byte is timed). */
static void on_memory(struct run *r, const unsigned char *p)
{
	uint64_t off, s = r->seed, i;

	r->buf[0] = p[0];
	r->first = now();
	if (!strcmp(r->workload, "seq")) {
		for (off = 0; off < r->size; off += CHUNK) {
			size_t n = r->size - off < CHUNK ? r->size - off : CHUNK;

			memcpy(r->buf, p + off, n);
			r->sink ^= r->buf[n - 1];
			r->used += n;
		}
		return;
	}
	for (i = 0; i < r->pages; i++) {
		off = (rnd(&s) % (r->size / PAGE)) * PAGE;
		memcpy(r->buf, p + off, PAGE);
		r->sink ^= r->buf[PAGE - 1];
		r->used += PAGE;
	}
}

static int run_fcnet(struct run *r)
{
	struct fc_net_error e;
	struct fc_net_stats ns;
	struct fc_config cfg;
	struct fc_cache *c;
	struct fc_net *n;
	unsigned char *p;

	n = fc_net_open(r->target, NULL, &e);
	if (!n) {
		fprintf(stderr, "fcnetbench: %s: %s\n", r->target, e.message);
		return 1;
	}
	r->size = fc_net_size(n);
	fc_config_init(&cfg);
	cfg.cache_bytes = r->budget;
	if (r->readahead)
		cfg.readahead_max = r->readahead;

	c = fc_cache_create(&cfg);
	p = c ? fc_net_map(c, n, 0, 0, 0) : NULL;
	if (!p) {
		perror("fcnetbench: map");
		return 1;
	}
	fc_advise(p, 0, strcmp(r->workload, "seq") ? FC_ADVICE_RANDOM
						  : FC_ADVICE_SEQUENTIAL);
	on_memory(r, p);
	r->end = now();
	fc_net_stats(n, &ns);
	printf("requests=%llu fetched=%llu conns=%llu http=%ld ",
	       (unsigned long long)ns.requests, (unsigned long long)ns.bytes,
	       (unsigned long long)ns.connections, ns.http_version);
	fc_unmap(p);
	fc_cache_destroy(c);
	fc_net_close(n);
	return 0;
}

static int run_mmap(struct run *r)
{
	int fd = open(r->target, O_RDONLY);
	struct stat st;
	unsigned char *p;

	if (fd < 0 || fstat(fd, &st)) {
		perror(r->target);
		return 1;
	}
	r->size = (uint64_t)st.st_size;
	p = mmap(NULL, r->size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(p, r->size, strcmp(r->workload, "seq") ? MADV_RANDOM
						      : MADV_SEQUENTIAL);
	on_memory(r, p);
	r->end = now();
	munmap(p, r->size);
	close(fd);
	return 0;
}

static int run_read(struct run *r)
{
	int fd = open(r->target, O_RDONLY);
	uint64_t off, s = r->seed, i;
	struct stat st;

	if (fd < 0 || fstat(fd, &st)) {
		perror(r->target);
		return 1;
	}
	r->size = (uint64_t)st.st_size;
	if (pread(fd, r->buf, 1, 0) != 1)
		return 1;
	r->first = now();
	if (!strcmp(r->workload, "seq")) {
		for (off = 0; off < r->size; off += CHUNK) {
			ssize_t n = pread(fd, r->buf, CHUNK, (off_t)off);

			if (n <= 0)
				return 1;
			r->used += (uint64_t)n;
		}
	} else {
		for (i = 0; i < r->pages; i++) {
			off = (rnd(&s) % (r->size / PAGE)) * PAGE;
			if (pread(fd, r->buf, PAGE, (off_t)off) != PAGE)
				return 1;
			r->used += PAGE;
		}
	}
	r->end = now();
	close(fd);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: fcnetbench fcnet|mmap|read URL|PATH seq|rand "
		"[--cache-size BYTES] [--readahead BYTES] [--pages N] [--seed X]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct run r = { .budget = 256u << 20, .pages = 4096, .seed = 42 };
	int i, ret;

	if (argc < 4)
		return usage();
	r.engine = argv[1];
	r.target = argv[2];
	r.workload = argv[3];
	if (strcmp(r.workload, "seq") && strcmp(r.workload, "rand"))
		return usage();
	for (i = 4; i + 1 < argc; i += 2) {
		uint64_t v = strtoull(argv[i + 1], NULL, 0);

		if (!strcmp(argv[i], "--cache-size"))
			r.budget = v;
		else if (!strcmp(argv[i], "--pages"))
			r.pages = v;
		else if (!strcmp(argv[i], "--readahead"))
			r.readahead = v;
		else if (!strcmp(argv[i], "--seed"))
			r.seed = v | 1;
		else
			return usage();
	}
	if (i != argc)
		return usage();
	r.buf = malloc(CHUNK);
	if (!r.buf)
		return 1;
	r.t0 = now();
	if (!strcmp(r.engine, "fcnet"))
		ret = run_fcnet(&r);
	else if (!strcmp(r.engine, "mmap"))
		ret = run_mmap(&r);
	else if (!strcmp(r.engine, "read"))
		ret = run_read(&r);
	else
		return usage();
	if (ret)
		return ret;
	printf("seconds=%.6f used=%llu first_ms=%.3f size=%llu sink=%u\n",
	       r.end - r.t0, (unsigned long long)r.used,
	       (r.first - r.t0) * 1e3, (unsigned long long)r.size, r.sink);
	free(r.buf);
	return 0;
}
