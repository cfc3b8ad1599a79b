/* SPDX-License-Identifier: MIT */
/*
 * fcmapcost - what it costs to map store pages that are already present,
 * by each way the library could map them, against the kernel's own mmap of
 * a warm regular file. This is the measurement behind docs/design.md,
 * "Measured limits": the first pass over a fresh view, one byte read per
 * 4 KiB page.
 *
 *   fcmapcost FILE [MiB] [REPS] [THREADS]   (defaults: 512 MiB, 5 reps, 1)
 *
 * Ways measured, each over a memfd "store" filled through an alias mapping
 * (MADV_HUGEPAGE on it, so huge folios are used where shmem THP allows):
 *   plain      a MAP_SHARED view, no userfaultfd: the kernel's shmem path
 *   missing    the same view registered MISSING-only (present pages are
 *              mapped by the kernel, no round trip)
 *   continue   registered MINOR, every page mapped by UFFDIO_CONTINUE in
 *              2 MiB calls before the pass (today's resolution path)
 *   file       a kernel mmap of FILE, its page cache warm
 * With THREADS > 1 the pass is split into that many slices read at once,
 * which shows whether the cost per page scales with CPUs.
 * Prints per-rep GB/s and the median, plus the shmem THP setting.
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HUGE (2ul << 20)
#define MAXREPS 32

static size_t sz;
static int nthreads = 1;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A 2 MiB aligned mapping of @fd, so huge folios can be PMD-mapped. */
static unsigned char *map_aligned(int fd, int prot)
{
	char *r = mmap(NULL, sz + HUGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (r == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)r + HUGE - 1) & ~(HUGE - 1);
	if (mmap((void *)a, sz, prot, MAP_SHARED | MAP_FIXED, fd, 0) ==
	    MAP_FAILED)
		return NULL;
	return (unsigned char *)a;
}

struct slice {
	const volatile unsigned char *p;
	size_t len;
	pthread_t t;
};

static void *read_slice(void *arg)
{
	struct slice *s = arg;
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < s->len; i += 4096)
		sum += s->p[i];
	if (sum == 1)	/* keep the loads */
		fputc(' ', stderr);
	return NULL;
}

/* Seconds for one byte read per 4 KiB page of @p, in nthreads slices. */
static double pass(const volatile unsigned char *p)
{
	struct slice s[64];
	size_t per = sz / (size_t)nthreads / 4096 * 4096;
	double t = now();
	int i;

	for (i = 0; i < nthreads; i++) {
		s[i].p = p + (size_t)i * per;
		s[i].len = i + 1 < nthreads ? per : sz - (size_t)i * per;
		if (nthreads == 1)
			read_slice(&s[i]);
		else
			pthread_create(&s[i].t, NULL, read_slice, &s[i]);
	}
	for (i = 0; nthreads > 1 && i < nthreads; i++)
		pthread_join(s[i].t, NULL);
	return now() - t;
}

static int uffd_new(uint64_t features)
{
	int u = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (u < 0 || ioctl(u, UFFDIO_API, &api)) {
		perror("userfaultfd");
		exit(1);
	}
	return u;
}

static double run(int how, int mfd, int ffd)
{
	struct uffdio_register reg;
	unsigned char *v;
	double t;
	int u = -1;
	size_t o;

	if (how == 3) {
		v = mmap(NULL, sz, PROT_READ, MAP_SHARED, ffd, 0);
		t = pass(v);
		munmap(v, sz);
		return t;
	}
	v = map_aligned(mfd, PROT_READ);
	if (!v) {
		perror("mmap");
		exit(1);
	}
	if (how) {
		u = uffd_new(how == 1 ? UFFD_FEATURE_MISSING_SHMEM
				      : UFFD_FEATURE_MINOR_SHMEM);
		memset(&reg, 0, sizeof(reg));
		reg.range.start = (uintptr_t)v;
		reg.range.len = sz;
		reg.mode = how == 1 ? UFFDIO_REGISTER_MODE_MISSING
				    : UFFDIO_REGISTER_MODE_MINOR;
		if (ioctl(u, UFFDIO_REGISTER, &reg)) {
			perror("UFFDIO_REGISTER");
			exit(1);
		}
	}
	for (o = 0; how == 2 && o < sz; o += HUGE) {
		struct uffdio_continue c = {
			.range = { (uintptr_t)v + o, HUGE },
			.mode = UFFDIO_CONTINUE_MODE_DONTWAKE,
		};

		if (ioctl(u, UFFDIO_CONTINUE, &c)) {
			perror("UFFDIO_CONTINUE");
			exit(1);
		}
	}
	t = pass(v);
	munmap(v, sz);
	if (u >= 0)
		close(u);
	return t;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const char *names[] = { "plain", "missing", "continue", "file" };
	double t[4][MAXREPS];
	unsigned char *alias, *f;
	int reps = argc > 3 ? atoi(argv[3]) : 5, mfd, ffd, how, r;
	char line[256];
	FILE *thp;

	sz = (size_t)(argc > 2 ? atoi(argv[2]) : 512) << 20;
	nthreads = argc > 4 ? atoi(argv[4]) : 1;
	if (argc < 2 || reps < 1 || reps > MAXREPS || !sz || nthreads < 1 ||
	    nthreads > 64) {
		fprintf(stderr, "usage: fcmapcost FILE [MiB] [REPS] [THREADS]\n");
		return 2;
	}
	ffd = open(argv[1], O_RDONLY);
	mfd = memfd_create("fcmapcost", MFD_CLOEXEC);
	if (ffd < 0 || mfd < 0 || ftruncate(mfd, (off_t)sz)) {
		perror(argv[1]);
		return 1;
	}
	f = mmap(NULL, sz, PROT_READ, MAP_SHARED, ffd, 0);
	if (f == MAP_FAILED) {
		perror("mmap FILE");
		return 1;
	}
	pass(f);	/* warm the file's page cache (FILE must be >= MiB) */
	munmap(f, sz);
	alias = map_aligned(mfd, PROT_READ | PROT_WRITE);
	madvise(alias, sz, MADV_HUGEPAGE);
	memset(alias, 0x5a, sz);
	thp = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
	if (thp && fgets(line, sizeof(line), thp))
		printf("shmem_enabled: %s", line);
	if (thp)
		fclose(thp);
	for (r = 0; r < reps; r++)
		for (how = 0; how < 4; how++)
			t[how][r] = run(how, mfd, ffd);
	for (how = 0; how < 4; how++) {
		printf("%-9s", names[how]);
		for (r = 0; r < reps; r++)
			printf(" %7.2f", (double)sz / t[how][r] / 1e9);
		qsort(t[how], (size_t)reps, sizeof(double), cmpd);
		printf("  GB/s; median %.2f GB/s = %.3f us per 4 KiB page\n",
		       (double)sz / t[how][reps / 2] / 1e9,
		       t[how][reps / 2] * 1e6 / (double)(sz / 4096));
	}
	return 0;
}
