/* SPDX-License-Identifier: MIT */
/*
 * engines.c - the ways of reading a file that fcbench compares:
 *   fc          libfaultcache (fc_map), advice by workload or --fc-advice
 *   fc-copy     the same with FC_CONFIG_COPY (UFFDIO_COPY, private copies)
 *   fc-inline   the same with FC_CONFIG_INLINE (faults resolved by the
 *               faulting thread, in the library's SIGBUS handler)
 *   mmap        kernel mmap, MADV_NORMAL;  mmap-rand / mmap-seq: RANDOM / SEQ
 *   pread       buffered pread into a buffer
 *   direct      O_DIRECT through io_uring at a deep queue: the device limit
 * and the kernel engines but direct at equal memory, in a memory cgroup
 * limited to the fc budget: mmap@cg, mmap-rand@cg, mmap-seq@cg, pread@cg.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char *const names[ENG_COUNT] = {
	"fc", "fc-copy", "fc-inline", "mmap", "mmap-rand", "mmap-seq", "pread",
	"direct",
};

static const char *const cg_names[ENG_COUNT] = {
	[ENG_MMAP] = "mmap" CG_SUFFIX, [ENG_MMAP_RANDOM] = "mmap-rand" CG_SUFFIX,
	[ENG_MMAP_SEQ] = "mmap-seq" CG_SUFFIX, [ENG_PREAD] = "pread" CG_SUFFIX,
};

const char *engine_name(enum engine_kind k)
{
	return names[k];
}

const char *engine_label(enum engine_kind k, bool cg)
{
	return cg ? cg_names[k] : names[k];
}

int engine_kind_of(const char *name, bool *cg)
{
	int i;

	for (i = 0; i < ENG_COUNT; i++) {
		if (!strcmp(names[i], name)) {
			*cg = false;
			return i;
		}
		if (cg_names[i] && !strcmp(cg_names[i], name)) {
			*cg = true;
			return i;
		}
	}
	return -1;
}

/* One byte, or every byte as 64-bit words (order-independent sum). */
uint64_t fold(const unsigned char *p, size_t len, enum touch t)
{
	uint64_t s = 0, w;
	size_t i;

	if (t == TOUCH_BYTE)
		return *(const volatile unsigned char *)p;
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	for (; i < len; i++)
		s += p[i];
	return s;
}

int engine_open(struct engine *e, enum engine_kind k, const char *path,
		const struct fcopts *fo, int advice)
{
	struct fc_config cfg = fo->cfg;
	struct stat st;

	memset(e, 0, sizeof(*e));
	e->kind = k;
	e->name = names[k];
	e->dfd = -1;
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0 || fstat(e->fd, &st))
		return -errno;
	e->size = st.st_size;
	switch (k) {
	case ENG_FC:
	case ENG_FC_COPY:
	case ENG_FC_INLINE:
		if (k == ENG_FC_INLINE)
			cfg.flags |= FC_CONFIG_INLINE;
		/*
		 * copies count against the budget: where the file is meant
		 * to fit, make room for it and one mapping's copies
		 */
		if (k == ENG_FC_COPY) {
			cfg.flags |= FC_CONFIG_COPY;
			if (cfg.cache_bytes >= (size_t)e->size)
				cfg.cache_bytes += (size_t)e->size;
		}
		e->cache = fc_cache_create(&cfg);
		if (!e->cache)
			return -errno;
		return engine_map(e, fo, advice);
	case ENG_MMAP:
	case ENG_MMAP_RANDOM:
	case ENG_MMAP_SEQ:
		return engine_map(e, fo, advice);
	case ENG_DIRECT:
		e->dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
		return e->dfd < 0 ? -errno : 0;
	default:
		return 0;
	}
}

int engine_map(struct engine *e, const struct fcopts *fo, int advice)
{
	static const int madv[] = { [ENG_MMAP] = MADV_NORMAL,
				    [ENG_MMAP_RANDOM] = MADV_RANDOM,
				    [ENG_MMAP_SEQ] = MADV_SEQUENTIAL };

	if (is_fc(e->kind)) {
		e->map = fc_map(e->cache, e->fd, 0, 0, 0);
		if (!e->map)
			return -errno;
		return fc_advise(e->map, (size_t)e->size,
				 fo->advice >= 0 ? fo->advice : advice);
	}
	if (e->kind != ENG_MMAP && e->kind != ENG_MMAP_RANDOM &&
	    e->kind != ENG_MMAP_SEQ)
		return 0;
	e->map = mmap(NULL, (size_t)e->size, PROT_READ, MAP_SHARED, e->fd, 0);
	if (e->map == MAP_FAILED) {
		e->map = NULL;
		return -errno;
	}
	return madvise(e->map, (size_t)e->size, madv[e->kind]) ? -errno : 0;
}

void engine_unmap(struct engine *e)
{
	if (!e->map)
		return;
	if (is_fc(e->kind))
		fc_unmap(e->map);
	else
		munmap(e->map, (size_t)e->size);
	e->map = NULL;
}

int engine_dontneed(struct engine *e)
{
	if (!e->map)
		return -EINVAL;
	if (is_fc(e->kind))
		return fc_advise(e->map, (size_t)e->size, FC_ADVICE_DONTNEED);
	return madvise(e->map, (size_t)e->size, MADV_DONTNEED) ? -errno : 0;
}

void engine_close(struct engine *e)
{
	engine_unmap(e);
	if (is_fc(e->kind))
		fc_cache_destroy(e->cache);
	if (e->dfd >= 0)
		close(e->dfd);
	if (e->fd >= 0)
		close(e->fd);
	e->map = NULL;
	e->cache = NULL;
	e->fd = e->dfd = -1;
}

static int pread_full(int fd, unsigned char *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done,
				  (off_t)(off + done));

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/**
 * engine_run - execute ops first, first + step, ... on a mapping or pread.
 * Return: the checksum of what was read. Context: any benchmark thread.
 */
uint64_t engine_run(struct engine *e, const struct oplist *ol, size_t first,
		    size_t step)
{
	unsigned char *buf = NULL;
	uint64_t sum = 0;
	size_t i;

	if (!e->map && posix_memalign((void **)&buf, 4096, 1 << 20))
		return 0;
	for (i = first; i < ol->n; i += step) {
		const struct op *o = &ol->v[i];

		if (e->map) {
			sum += fold(e->map + o->off, o->len, ol->touch);
		} else {
			if (pread_full(e->fd, buf, o->len, o->off))
				abort();	/* the bench file is ours */
			sum += fold(buf, o->len, ol->touch);
		}
	}
	free(buf);
	return sum;
}

/* ---- direct: merged, aligned O_DIRECT reads at a deep queue ---- */

struct dreq {
	uint64_t off;
	uint32_t len;
	size_t first, nops;	/* ops folded from this read */
	unsigned char *buf;
};

#define DIRECT_MAX (1u << 20)

/* Next read: ops from *i merged while contiguous, up to 1 MiB. */
static void next_req(const struct oplist *ol, size_t *i, struct dreq *r)
{
	const struct op *o = &ol->v[*i];
	uint64_t end = o->off + o->len;

	r->off = o->off & ~4095ull;
	r->first = (*i)++;
	while (*i < ol->n && ol->v[*i].off == end &&
	       end + ol->v[*i].len - r->off <= DIRECT_MAX)
		end += ol->v[(*i)++].len;
	r->nops = *i - r->first;
	r->len = (uint32_t)(((end - r->off) + 4095) & ~4095ull);
}

static uint64_t fold_req(const struct oplist *ol, const struct dreq *r)
{
	uint64_t sum = 0;
	size_t j;

	for (j = r->first; j < r->first + r->nops; j++)
		sum += fold(r->buf + (ol->v[j].off - r->off), ol->v[j].len,
			    ol->touch);
	return sum;
}

uint64_t engine_run_direct(struct engine *e, const struct oplist *ol,
			   unsigned depth)
{
	struct io_uring ring;
	struct dreq *reqs = calloc(depth, sizeof(*reqs));
	unsigned inflight = 0, k;
	uint64_t sum = 0;
	size_t i = 0;

	if (!reqs || io_uring_queue_init(depth, &ring, 0))
		abort();
	for (k = 0; k < depth; k++)
		if (posix_memalign((void **)&reqs[k].buf, 4096, DIRECT_MAX))
			abort();
	/* prime the queue, then refill a slot for each completion */
	for (k = 0; k < depth && i < ol->n; k++, inflight++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		next_req(ol, &i, &reqs[k]);
		io_uring_prep_read(sqe, e->dfd, reqs[k].buf, reqs[k].len,
				   reqs[k].off);
		io_uring_sqe_set_data(sqe, &reqs[k]);
	}
	io_uring_submit(&ring);
	while (inflight) {
		struct io_uring_cqe *cqe;
		struct dreq *r;

		if (io_uring_wait_cqe(&ring, &cqe))
			abort();
		r = io_uring_cqe_get_data(cqe);
		if (cqe->res < 0) {
			fprintf(stderr, "direct read: %s\n", strerror(-cqe->res));
			abort();
		}
		io_uring_cqe_seen(&ring, cqe);
		sum += fold_req(ol, r);
		inflight--;
		if (i < ol->n) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			next_req(ol, &i, r);
			io_uring_prep_read(sqe, e->dfd, r->buf, r->len, r->off);
			io_uring_sqe_set_data(sqe, r);
			io_uring_submit(&ring);
			inflight++;
		}
	}
	io_uring_queue_exit(&ring);
	for (k = 0; k < depth; k++)
		free(reqs[k].buf);
	free(reqs);
	return sum;
}

/* ---- measurements from /proc ---- */

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes this process caused to be fetched from storage. */
uint64_t proc_io_read_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "read_bytes: %llu", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* The kB number of line @field in @path (/proc/self/status, meminfo). */
static uint64_t proc_kb(const char *path, const char *field)
{
	FILE *f = fopen(path, "r");
	char line[256];
	uint64_t v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = strtoull(line + strlen(field), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static uint64_t status_kb(const char *field)
{
	return proc_kb("/proc/self/status", field);
}

/* Memory of libfaultcache's store memfds (allocated blocks). */
uint64_t store_bytes(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	uint64_t total = 0;

	while (d && (de = readdir(d))) {
		char path[300], target[300];
		struct stat st;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strncmp(target, "/memfd:faultcache (deleted)", 27) &&
		    !stat(path, &st))
			total += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	return total;
}

/*
 * Resident memory holding file data and buffers. For fc the store is
 * counted once from its memfd (RssShmem would count a page once per view
 * it is mapped in); for the others, RSS (anon + file + shmem).
 */
/* RssAnon of the process, bytes. */
uint64_t anon_bytes(void)
{
	return status_kb("RssAnon:") * 1024;
}

uint64_t rss_bytes(bool with_store)
{
	uint64_t anon = status_kb("RssAnon:") * 1024;

	if (with_store)
		return anon + store_bytes();
	return anon + (status_kb("RssFile:") + status_kb("RssShmem:")) * 1024;
}
