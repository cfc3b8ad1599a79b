/* SPDX-License-Identifier: MIT */
/*
 * fclat - latency of a fault on a page that is cached but not mapped,
 * against a bare userfaultfd round trip (fault + UFFDIO_COPY of one page by
 * a handler thread), measured in the same run from the application side.
 *
 *   fclat FILE [REPS]        (FC_COPY=1: the cache in FC_CONFIG_COPY mode,
 *                             FC_INLINE=1: in FC_CONFIG_INLINE mode)
 *
 * The file is cached whole (budget = file size + 64 MiB, twice the file
 * size in copy mode, where the mapping's copies count too), the mapping's
 * pages dropped with FC_ADVICE_DONTNEED, then a random permutation of pages
 * 32 apart is touched (so fault-around never covers the next touch) and each
 * touch is timed. Prints p50/p99 of each rep, then the median and spread.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

static double ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[(size_t)((double)(n - 1) * q)];
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void shuffle(size_t *p, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j = rnd(&seed) % (i + 1), t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
}

static int uffd;
static char *src;

static void *bare_handler(void *arg)
{
	struct pollfd pfd = { uffd, POLLIN, 0 };
	struct uffd_msg m;

	(void)arg;
	for (;;) {
		struct uffdio_copy c;

		if (poll(&pfd, 1, -1) < 0 ||
		    read(uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		c.dst = m.arg.pagefault.address & ~4095ull;
		c.src = (uintptr_t)src;
		c.len = 4096;
		c.mode = 0;
		ioctl(uffd, UFFDIO_COPY, &c);
	}
	return NULL;
}

/* The baseline: an anonymous range whose faults a thread fills by copy. */
static char *bare_setup(size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	pthread_t t;
	char *a;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		return NULL;
	src = aligned_alloc(4096, 4096);
	memset(src, 1, 4096);
	a = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	reg.range.start = (uintptr_t)a;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (a == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg))
		return NULL;
	pthread_create(&t, NULL, bare_handler, NULL);
	return a;
}

int main(int argc, char **argv)
{
	int fd = argc > 1 ? open(argv[1], O_RDONLY) : -1;
	int reps = argc > 2 ? atoi(argv[2]) : 5, r;
	double fp50[64], fp99[64], bp50[64], bp99[64], ratio[64];
	volatile unsigned char *p, *bare;
	struct fc_config cfg;
	struct fc_cache *c;
	size_t n, i, *perm;
	off_t size;
	double *v;
	uint64_t x = 0;

	if (fd < 0 || reps < 1 || reps > 64) {
		fprintf(stderr, "usage: fclat FILE [REPS<=64]\n");
		return 2;
	}
	size = lseek(fd, 0, SEEK_END);
	n = (size_t)size / 4096 / 32;
	if (n < 100) {
		fprintf(stderr, "fclat: file too small (needs 13 MiB)\n");
		return 2;
	}
	fc_config_init(&cfg);
	cfg.cache_bytes = (size_t)size + (64 << 20);
	if (getenv("FC_COPY") && strcmp(getenv("FC_COPY"), "0")) {
		cfg.flags |= FC_CONFIG_COPY;
		cfg.cache_bytes += (size_t)size;
	}
	if (getenv("FC_INLINE") && strcmp(getenv("FC_INLINE"), "0"))
		cfg.flags |= FC_CONFIG_INLINE;
	c = fc_cache_create(&cfg);
	p = c ? fc_map(c, fd, 0, 0, 0) : NULL;
	bare = (volatile unsigned char *)bare_setup(n * 32 * 4096 * (size_t)reps);
	if (!p || !bare) {
		fprintf(stderr, "fclat: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < (size_t)size; i += 4096)	/* cache it all */
		x += p[i];
	perm = malloc(n * sizeof(*perm));
	v = malloc(n * sizeof(*v));
	printf("%zu faults per rep, pages 32 apart, random order, %s\n", n,
	       cfg.flags & FC_CONFIG_COPY ? "copy mode" :
	       cfg.flags & FC_CONFIG_INLINE ? "inline faults" : "zero-copy");
	for (r = 0; r < reps; r++) {
		/* interleaved: the two measures of a rep see the same machine */
		fc_advise((void *)p, (size_t)size, FC_ADVICE_DONTNEED);
		shuffle(perm, n, 7 + (uint64_t)r);
		for (i = 0; i < n; i++) {
			double t = ns();

			x += p[perm[i] * 32 * 4096];
			v[i] = ns() - t;
		}
		fp50[r] = pct(v, n, 0.5) / 1000;
		fp99[r] = pct(v, n, 0.99) / 1000;
		for (i = 0; i < n; i++) {
			double t = ns();

			x += bare[((size_t)r * n + perm[i]) * 32 * 4096];
			v[i] = ns() - t;
		}
		bp50[r] = pct(v, n, 0.5) / 1000;
		bp99[r] = pct(v, n, 0.99) / 1000;
		ratio[r] = fp50[r] / bp50[r];
		printf("rep %d: fc p50 %.1f us p99 %.1f us | bare uffd p50 %.1f "
		       "us p99 %.1f us | ratio p50 %.2f\n", r, fp50[r], fp99[r],
		       bp50[r], bp99[r], ratio[r]);
	}
	printf("median of %d: fc p50 %.1f us (p99 %.1f), bare p50 %.1f us "
	       "(p99 %.1f), fc/bare p50 %.2f [%.2f-%.2f]\n", reps,
	       pct(fp50, (size_t)reps, 0.5), pct(fp99, (size_t)reps, 0.5),
	       pct(bp50, (size_t)reps, 0.5), pct(bp99, (size_t)reps, 0.5),
	       pct(ratio, (size_t)reps, 0.5), pct(ratio, (size_t)reps, 0),
	       pct(ratio, (size_t)reps, 1));
	return x == 42;
}
