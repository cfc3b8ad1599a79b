/* SPDX-License-Identifier: MIT */
/*
 * fcbench - libfaultcache against the kernel's mmap, pread and the O_DIRECT
 * device limit, on large files, in one run. Method: docs/benchmarks.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fcbench_commit.h"

#define MB (1024ull * 1024)
#define GB (1024 * MB)

static struct {
	char path[512];
	uint64_t size;
	bool size_given;	/* --size or --quick: the file must match */
	uint64_t cache;		/* --fc-cache, 0 for the default */
	int reps;
	bool engines[ENG_COUNT];
	bool engines_cg[ENG_COUNT];	/* the same at equal memory (@cg) */
	bool any_eng;		/* --engines given */
	bool no_memcg;		/* --no-memcg */
	bool *wls;
	bool modes[BM_COUNT];
	unsigned threads[8];
	int nthreads;
	struct fcopts fo;
	uint64_t small_budget;	/* ws4x and scanres */
	const char *outdir;
	bool quiet;
	bool drop_system;	/* --drop-caches system: drop_caches as well */
} o;

const char *const bmode_names[BM_COUNT] = { "cold", "warm", "refault",
						"settled" };

static struct result *results;
static size_t nresults, capresults;

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fcbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= (double)MB; break;
	case 'g': case 'G': v *= (double)GB; break;
	case 0: break;
	default: die("bad size '%s'", s);
	}
	if (v < 0)
		die("bad size '%s'", s);
	return (uint64_t)v;
}

/* ---- the test file ---- */

static void progress(const char *what, uint64_t done, uint64_t total)
{
	int w = 40, k = (int)(done * (uint64_t)w / (total ? total : 1));

	if (o.quiet)
		return;
	fprintf(stderr, "\r%s [%.*s%*s] %3d%%", what, k,
		"########################################", w - k, "",
		(int)(done * 100 / (total ? total : 1)));
	if (done == total)
		fprintf(stderr, "\n");
}

/*
 * Create the file of random data when it is missing. An existing file is
 * never written: it is used at its own size, which --size (or --quick),
 * when given, must match, so that a file named by mistake is not lost.
 */
static void ensure_file(void)
{
	struct stat st;
	uint64_t s = 0x9e3779b97f4a7c15ull, done = 0;
	size_t chunk = 8 * MB, i;
	uint64_t *buf;
	char tmp[600];
	int fd;

	if (!stat(o.path, &st)) {
		if (!S_ISREG(st.st_mode))
			die("%s is not a regular file", o.path);
		if (o.size_given && (uint64_t)st.st_size != o.size)
			die("%s exists with %llu bytes, not the %llu asked for: "
			    "remove it, or give its size (or no --size)",
			    o.path, (unsigned long long)st.st_size,
			    (unsigned long long)o.size);
		o.size = (uint64_t)st.st_size;
		if (o.size < 1 * MB)
			die("%s is smaller than 1 MiB", o.path);
		return;
	}
	if (errno != ENOENT)
		die("cannot stat %s", o.path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", o.path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	buf = malloc(chunk);
	if (fd < 0 || !buf)
		die("cannot create %s", tmp);
	while (done < o.size) {
		size_t n = o.size - done < chunk ? (size_t)(o.size - done)
						 : chunk;

		for (i = 0; i < chunk / 8; i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			buf[i] = s;
		}
		if (write(fd, buf, n) != (ssize_t)n)
			die("write failed on %s (disk full?)", tmp);
		done += n;
		if (done % (256 * MB) == 0 || done == o.size)
			progress("creating test file", done, o.size);
	}
	fsync(fd);
	close(fd);
	free(buf);
	if (rename(tmp, o.path))
		die("cannot rename to %s", o.path);
}

/*
 * The host's shmem THP setting, which decides whether 2 MiB fc pages are
 * huge pages (fc_cache_create(3)): the bracketed word, or "n/a".
 */
static void shmem_thp(char *out, size_t len)
{
	char buf[128] = "", *lb, *rb;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
			"r");

	snprintf(out, len, "n/a");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		lb = strchr(buf, '[');
		rb = lb ? strchr(lb, ']') : NULL;
		if (lb && rb && rb - lb - 1 < (long)len) {
			memcpy(out, lb + 1, (size_t)(rb - lb - 1));
			out[rb - lb - 1] = 0;
		}
	}
	fclose(f);
}

/* ---- cold caches ---- */

static double resident_fraction(void)
{
	int fd = open(o.path, O_RDONLY);
	size_t pages = (o.size + 4095) / 4096, i, res = 0;
	unsigned char *vec = malloc(pages ? pages : 1);
	void *p;

	p = mmap(NULL, o.size, PROT_READ, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED && vec && !mincore(p, o.size, vec))
		for (i = 0; i < pages; i++)
			res += vec[i] & 1;
	if (p != MAP_FAILED)
		munmap(p, o.size);
	free(vec);
	close(fd);
	return pages ? (double)res / (double)pages : 0;
}

/*
 * Drop the kernel's cache of the bench file: posix_fadvise(DONTNEED) on it,
 * checked with mincore. Only with --drop-caches system also
 * /proc/sys/vm/drop_caches (as root), which drops the page cache of the
 * whole machine: other programs' files too. A file that stays cached (a
 * process maps it, or its pages are dirty) is said, not hidden: its cold
 * numbers would be partly warm.
 */
static void drop_caches(void)
{
	int fd = open(o.path, O_RDONLY), dc;
	double left;

	if (fd < 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		die("cannot drop the cache of %s", o.path);
	close(fd);
	if (o.drop_system) {
		sync();
		dc = open("/proc/sys/vm/drop_caches", O_WRONLY);
		if (dc < 0 || write(dc, "1", 1) != 1)
			die("--drop-caches system: /proc/sys/vm/drop_caches: %s",
			    strerror(errno));
		close(dc);
	}
	left = resident_fraction();
	if (left > 0.01)
		fprintf(stderr, "warning: %.1f%% of %s still cached after "
				"%s: cold runs are partly warm (is it mapped or "
				"being written elsewhere?)\n", 100 * left, o.path,
			o.drop_system ? "drop_caches" :
					"posix_fadvise(DONTNEED)");
}

/* ---- one measured run ---- */

struct sampler {
	pthread_t t;
	atomic_bool stop;
	bool fc;
	uint64_t peak;
	uint64_t anon0;		/* RssAnon before the run: the bench's own buffers */
	uint64_t peak_mem;	/* peak of what the run added: cache + its anon */
	unsigned char *hot;	/* scanres: mincore of the hot set */
	size_t hot_len;
	double hot_sum;
	int hot_n;
};

/* One sample of memory (and of the hot set, for scanres). */
static void sample_once(struct sampler *s, unsigned char *vec)
{
	uint64_t r = rss_bytes(s->fc);
	size_t pages = s->hot_len / 4096, i, res = 0;

	if (r > s->peak)
		s->peak = r;
	if (r > s->anon0 && r - s->anon0 > s->peak_mem)
		s->peak_mem = r - s->anon0;
	if (vec && !mincore(s->hot, s->hot_len, vec)) {
		for (i = 0; i < pages; i++)
			res += vec[i] & 1;
		s->hot_sum += (double)res / (double)pages;
		s->hot_n++;
	}
}

static void *sample(void *arg)
{
	struct sampler *s = arg;
	size_t pages = s->hot_len / 4096;
	unsigned char *vec = pages ? malloc(pages) : NULL;

	while (!atomic_load(&s->stop)) {
		sample_once(s, vec);
		usleep(5000);
	}
	free(vec);
	return NULL;
}

/*
 * Stop the sampler, and take one more memory sample now, before the run's
 * mapping goes: a run shorter than the 5 ms period (a warm scan of a small
 * file) may have had none, and showed 0 MiB.
 */
static void sampler_stop(struct sampler *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->t, NULL);
	sample_once(s, NULL);
}

struct worker {
	pthread_t t;
	struct engine *e;
	const struct oplist *ol;
	size_t first, step;
	uint64_t sum;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	w->sum = engine_run(w->e, w->ol, w->first, w->step);
	return NULL;
}

/* Execute @ol on @e with @threads threads; returns the checksum. */
static uint64_t execute(struct engine *e, const struct oplist *ol,
			unsigned threads)
{
	struct worker w[64];
	uint64_t sum = 0;
	unsigned i;

	if (e->kind == ENG_DIRECT)
		return engine_run_direct(e, ol, ol->touch == TOUCH_ALL &&
						ol->v[0].len > 4096 ? 16 : 64);
	if (threads <= 1)
		return engine_run(e, ol, 0, 1);
	for (i = 0; i < threads; i++) {
		w[i] = (struct worker){ .e = e, .ol = ol, .first = i,
					.step = threads };
		pthread_create(&w[i].t, NULL, work, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		sum += w[i].sum;
	}
	return sum;
}

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t faults_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_minflt + ru.ru_majflt);
}

static struct result *new_result(void)
{
	if (nresults == capresults) {
		capresults = capresults ? 2 * capresults : 64;
		results = realloc(results, capresults * sizeof(*results));
		if (!results)
			die("%s", "out of memory");
	}
	memset(&results[nresults], 0, sizeof(results[0]));
	return &results[nresults++];
}

/* Fill the fc statistics of a run from the cache's deltas. */
static void fc_metrics(struct engine *e, struct result *r)
{
	struct fc_stats st;
	int i;

	fc_cache_stats(e->cache, &st);
	r->faults = st.faults - e->st0.faults;
	for (i = 0; i < FC_LAT_BUCKETS; i++)
		st.latency_hist[i] -= e->st0.latency_hist[i];
	memcpy(r->hist, st.latency_hist, sizeof(r->hist));
	r->lat_p50 = fc_stats_latency_quantile(&st, 0.5);
	r->lat_p99 = fc_stats_latency_quantile(&st, 0.99);
	r->lat_p999 = fc_stats_latency_quantile(&st, 0.999);
	r->polled_reads = st.polled_reads - e->st0.polled_reads;
	r->collapses = st.collapses - e->st0.collapses;
}

/*
 * fc collapses 2 MiB of its store at a time into huge folios in the
 * background after they are read (fc_cache_create(3)): wait until that is
 * over, as it is in a process whose cache has been warm for a while (the
 * kernel's page cache is too). Over: the cache's own count of pages
 * collapsed or left small covers every page it holds; or that count has
 * not moved for 300 ms once it started (if it never does: 2 s for 2 MiB
 * pages, 0.5 s for smaller ones, of which random reads seldom fill a whole
 * 2 MiB); at most 60 s.
 */
static void settle_huge(struct fc_cache *c, bool huge_pages)
{
	uint64_t last = UINT64_MAX, n, pages;
	struct fc_stats st;
	int still = 0, i;

	for (i = 0; i < 1200; i++) {
		if (fc_cache_stats(c, &st))
			return;
		n = st.collapses + st.collapse_failures;
		pages = st.resident_bytes / st.page_size;
		if (n >= pages)
			return;
		still = n == last ? still + 1 : 0;
		if (still >= (n ? 6 : huge_pages ? 40 : 10))
			return;
		last = n;
		usleep(50000);
	}
}

/*
 * Open an engine ready for the measured pass, the kernel's cache of the
 * file dropped. Warm and refault: a first pass fills the caches through
 * one mapping. Warm then unmaps it (the kernel keeps the file's page
 * cache, fc its cached pages: fc_map(3)), and the measured pass maps the
 * file afresh inside the timed region (pages cached, none mapped: fc's
 * mapping work and the kernel's faults both timed). Refault keeps the
 * mapping and drops its page tables, so the pass faults on cached pages
 * in a mapping that fc does not populate (issue 5's targets 4 and 7).
 */
static int prepare(struct engine *e, int k, const struct fcopts *fo,
		   int advice, enum bmode mode, const struct oplist *ol,
		   bool keep)
{
	int ret;

	/*
	 * warm too: the kernel's cache then holds what the fill read only.
	 * Not while a settled engine is kept (@keep): its page cache is the
	 * point of the mode, and --drop-caches system would also mark the
	 * dirty shmem pages of fc's store for reclaim (PG_reclaim, the bit
	 * PG_readahead is), so that the kernel's fault-around skips them:
	 * one fault per 4 KiB page in every later mapping (design.md,
	 * "Measured limits" item 7).
	 */
	if (!keep)
		drop_caches();
	ret = engine_open(e, (enum engine_kind)k, o.path, fo, advice);
	if (ret || mode == BM_COLD)
		return ret;
	execute(e, ol, 1);
	if (mode == BM_REFAULT)
		return engine_dontneed(e);
	engine_unmap(e);
	if (is_fc(k) && k != ENG_FC_COPY &&
	    !(fo->cfg.flags & FC_CONFIG_NO_COLLAPSE))
		settle_huge(e->cache, fo->cfg.page_size >= (2u << 20));
	return 0;
}

/*
 * Settled: as warm, but each engine is filled once, at its first
 * repetition, and kept for the next ones (fc's cache, the kernel's page
 * cache: no caches dropped in between), as in a process that has kept a
 * warm cache for a while. Each repetition still maps the file afresh.
 */
static struct engine settled[ENG_COUNT];
static bool settled_open[ENG_COUNT];

static bool settled_any(void)
{
	int k;

	for (k = 0; k < ENG_COUNT; k++)
		if (settled_open[k])
			return true;
	return false;
}

static void settled_close(void)
{
	int k;

	for (k = 0; k < ENG_COUNT; k++)
		if (settled_open[k])
			engine_close(&settled[k]);
	memset(settled_open, 0, sizeof(settled_open));
}

/* One measured run of an engine, as run_job() hands it to its function. */
struct job {
	const char *wl;
	int k;
	bool cg;		/* at equal memory (CG_SUFFIX) */
	enum bmode mode;
	unsigned threads;
	int rep;
	const struct oplist *ol;
	uint64_t ref_sum;
	const struct fcopts *fo;
	int advice;
};

/* Measure @j into @r: true, or false when the engine could not open. */
static bool measure(const struct job *j, struct result *r)
{
	struct engine e;
	struct sampler s = { .fc = is_fc(j->k) };
	int k = j->k, ret = 0;
	double t0, c0;
	uint64_t io0, f0;

	if (j->mode == BM_SETTLED && settled_open[k])
		e = settled[k];
	else
		ret = prepare(&e, k, j->fo, j->advice,
			      j->mode == BM_SETTLED ? BM_WARM : j->mode, j->ol,
			      j->mode == BM_SETTLED && settled_any());
	if (ret) {
		fprintf(stderr, "fcbench: %s on %s: %s\n",
			engine_label(k, j->cg), j->wl, strerror(-ret));
		engine_close(&e);
		return false;
	}
	if (is_fc(k))
		fc_cache_stats(e.cache, &e.st0);
	r->workload = j->wl;
	r->engine = engine_label(k, j->cg);
	r->mode = j->mode;
	r->threads = j->threads;
	r->rep = j->rep;
	s.anon0 = anon_bytes();
	pthread_create(&s.t, NULL, sample, &s);
	io0 = proc_io_read_bytes();
	f0 = faults_now();
	c0 = cpu_now();
	t0 = now_s();
	if (j->mode == BM_WARM || j->mode == BM_SETTLED) {	/* a fresh mapping */
		ret = engine_map(&e, j->fo, j->advice);
		if (ret)
			die("%s: mapping %s again: %s", j->wl, engine_name(k),
			    strerror(-ret));
	}
	r->checksum = execute(&e, j->ol, j->threads);
	r->secs = now_s() - t0;
	r->cpu_secs = cpu_now() - c0;
	r->dev_bytes = proc_io_read_bytes() - io0;
	r->faults = faults_now() - f0;
	sampler_stop(&s);
	r->peak_rss = s.peak;
	r->peak_mem = s.peak_mem;
	r->used_bytes = j->ol->used_bytes;
	r->ops = j->ol->n;
	r->checksum_ok = r->checksum == j->ref_sum;
	if (is_fc(k))
		fc_metrics(&e, r);
	if (!o.quiet)
		fprintf(stderr, "  %-7s %-5s %-12s t=%u rep %d: %8.1f MB/s%s\n",
			j->wl, bmode_names[j->mode], r->engine, j->threads,
			j->rep, (double)r->used_bytes / r->secs / 1e6,
			r->checksum_ok ? "" : "  CHECKSUM MISMATCH");
	if (j->mode == BM_SETTLED) {	/* never @cg: see run_engine */
		engine_unmap(&e);
		settled[k] = e;
		settled_open[k] = true;
		return true;
	}
	engine_close(&e);
	return true;
}

/*
 * Run @fn for @j into a new result. At equal memory (@j->cg) it runs in a
 * child process inside a new memory cgroup limited to the fc budget, so
 * that the limit holds every page the engine brings in, its warm fill
 * included, and nothing of fcbench's own; if the kernel's OOM killer ends
 * it (a cgroup of a few MiB cannot always hold its readahead), only the
 * child goes, and the run is said to have no result. The child is forked
 * between runs, when fcbench has no other thread.
 */
static void run_job(const struct job *j,
		    bool (*fn)(const struct job *, struct result *))
{
	struct result *shared;
	uint64_t peak;
	int status, ret;
	pid_t pid;

	if (!j->cg) {
		if (!fn(j, new_result()))
			nresults--;
		return;
	}
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("%s", "out of memory");
	ret = memcg_create(j->fo->cfg.cache_bytes);
	if (ret)
		die("%s on %s: cannot make a memory cgroup: %s", j->wl,
		    engine_label(j->k, true), strerror(-ret));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		ret = memcg_join();
		if (ret) {
			fprintf(stderr, "fcbench: cannot join the memory "
					"cgroup: %s\n", strerror(-ret));
			_exit(2);
		}
		_exit(fn(j, shared) ? 0 : 3);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	peak = memcg_remove();
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		*new_result() = *shared;
		results[nresults - 1].memcg_peak = peak;
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		fprintf(stderr, "fcbench: %s %s on %s: killed (the OOM killer) "
				"in a memory cgroup of %llu MiB: no result\n",
			j->wl, bmode_names[j->mode], engine_label(j->k, true),
			(unsigned long long)(j->fo->cfg.cache_bytes / MB));
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 3) {
		die("%s on %s: the run in a memory cgroup failed", j->wl,
		    engine_label(j->k, true));
	}
	munmap(shared, sizeof(*shared));
}

/* ---- scan resistance ---- */

struct hot {
	pthread_t t;
	const unsigned char *map;
	const uint64_t *ref;	/* fold of each hot page */
	size_t pages;
	atomic_bool stop;
	uint64_t ops, bad;
};

static void *hot_reader(void *arg)
{
	struct hot *h = arg;
	uint64_t s = 12345;

	while (!atomic_load(&h->stop)) {
		size_t pg;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		pg = s % h->pages;
		if (fold(h->map + pg * 4096, 4096, TOUCH_ALL) != h->ref[pg])
			h->bad++;
		h->ops++;
	}
	return NULL;
}

/*
 * A hot set of half the budget is used (touched twice), then a sequential
 * scan of 4x the budget runs beside a thread that keeps reading the hot
 * set. Reported: how much of the hot set stayed resident (mincore,
 * sampled every 5 ms), scan throughput, and every hot read verified.
 */
static bool measure_scanres(const struct job *j, struct result *r)
{
	uint64_t b = j->fo->cfg.cache_bytes, hot_len = b / 2, scan_off = hot_len;
	struct oplist scan = { 0 };
	struct sampler s = { .fc = is_fc(j->k) };
	struct hot h = { 0 };
	struct engine e;
	uint64_t *ref, i, n;
	int fd = open(o.path, O_RDONLY), k = j->k;
	bool ok = false;
	double t0;

	if (scan_off + 4 * b > o.size || fd < 0) {
		fprintf(stderr, "fcbench: scanres needs a file of 4.5x the "
				"small budget\n");
		return false;
	}
	h.pages = hot_len / 4096;
	ref = malloc(h.pages * sizeof(*ref));
	n = 4 * b / 4096;
	scan.v = calloc(n, sizeof(*scan.v));
	scan.n = n;
	scan.touch = TOUCH_BYTE;
	for (i = 0; i < n; i++) {
		scan.v[i].off = scan_off + i * 4096;
		scan.v[i].len = 4096;
	}
	scan.used_bytes = n * 4096;
	{
		unsigned char buf[4096];

		for (i = 0; i < h.pages; i++) {
			if (pread(fd, buf, 4096, (off_t)(i * 4096)) != 4096)
				die("%s", "pread of the hot set failed");
			ref[i] = fold(buf, 4096, TOUCH_ALL);
		}
	}
	close(fd);
	drop_caches();
	if (engine_open(&e, (enum engine_kind)k, o.path, j->fo,
			FC_ADVICE_NORMAL)) {
		fprintf(stderr, "fcbench: cannot open %s\n",
			engine_label(k, j->cg));
		engine_close(&e);
		goto out;
	}
	h.map = e.map;
	h.ref = ref;
	for (i = 0; i < 2 * h.pages; i++)	/* the hot set, used twice */
		if (fold(e.map + (i % h.pages) * 4096, 4096, TOUCH_ALL) !=
		    ref[i % h.pages])
			h.bad++;
	s.hot = e.map;
	s.hot_len = hot_len;
	s.anon0 = anon_bytes();
	pthread_create(&s.t, NULL, sample, &s);
	pthread_create(&h.t, NULL, hot_reader, &h);
	t0 = now_s();
	r->checksum = execute(&e, &scan, 1);
	r->secs = now_s() - t0;
	atomic_store(&h.stop, true);
	pthread_join(h.t, NULL);
	sampler_stop(&s);
	r->workload = j->wl;
	r->engine = engine_label(k, j->cg);
	r->mode = BM_COLD;
	r->threads = 2;
	r->rep = j->rep;
	r->used_bytes = scan.used_bytes;
	r->ops = n + h.ops;
	r->peak_rss = s.peak;
	r->peak_mem = s.peak_mem;
	r->hot_resident = s.hot_n ? s.hot_sum / s.hot_n : 0;
	{
		uint64_t want = 0;
		unsigned char buf[4096];
		int f2 = open(o.path, O_RDONLY);

		for (i = 0; i < n; i++) {
			if (pread(f2, buf, 1, (off_t)scan.v[i].off) != 1)
				break;
			want += buf[0];
		}
		close(f2);
		r->checksum_ok = r->checksum == want && h.bad == 0;
	}
	if (is_fc(k))
		fc_metrics(&e, r);
	if (!o.quiet)
		fprintf(stderr, "  scanres cold  %-12s rep %d: hot set resident "
				"%.1f%%, %lu hot reads%s\n",
			r->engine, j->rep, 100 * r->hot_resident,
			(unsigned long)h.ops,
			r->checksum_ok ? "" : "  CHECKSUM MISMATCH");
	engine_close(&e);
	ok = true;
out:
	free(scan.v);
	free(ref);
	return ok;
}

/* ---- main ---- */

static void usage(void)
{
	size_t i;

	printf("usage: fcbench [options]\n"
	       "  --file PATH        test file (default $FC_BENCH_DIR or "
	       "/var/tmp, fcbench-SIZE.dat);\n"
	       "                     an existing file is read, never written\n"
	       "  --size SIZE        size of the file made when it is missing "
	       "(default 4G);\n"
	       "                     an existing file must have it\n"
	       "  --reps N           repetitions (default 5)\n"
	       "  --workloads LIST   comma separated (default all)\n"
	       "  --engines LIST     fc,fc-copy,fc-inline,mmap,mmap-rand,mmap-seq,\n"
	       "                     pread,direct, and mmap@cg, mmap-rand@cg,\n"
	       "                     mmap-seq@cg, pread@cg: in a memory cgroup\n"
	       "                     limited to the fc budget (equal memory;\n"
	       "                     root). Default: all, and mmap@cg\n"
	       "  --no-memcg         no run in a memory cgroup (no x mmap@cg)\n"
	       "  --modes LIST       cold,warm,refault,settled (default cold,warm)\n"
	       "  --threads LIST     thread counts for random workloads "
	       "(default 1,8)\n"
	       "  --fc-cache SIZE    fc budget (default file size + 64M)\n"
	       "  --fc-small SIZE    fc budget of ws4x and scanres "
	       "(default file/8)\n"
	       "  --fc-page-size S   --fc-readahead S   --fc-handlers N\n"
	       "  --fc-no-collapse   FC_CONFIG_NO_COLLAPSE: no huge store pages\n"
	       "  --fc-poll-us N     fc-inline: poll for a read up to N us "
	       "(0: sleep)\n"
	       "  --fc-advice A      normal|random|sequential|auto "
	       "(default auto: by workload)\n"
	       "  --out DIR          results.json, results.csv, *.svg "
	       "(default bench-results)\n"
	       "  --drop-caches WHAT before each cold run: file (default:\n"
	       "                     posix_fadvise(DONTNEED) on the bench file,\n"
	       "                     checked with mincore) or system (also\n"
	       "                     /proc/sys/vm/drop_caches, as root: drops the\n"
	       "                     page cache of the whole machine)\n"
	       "  --quick            64M file, 1 rep: a smoke run\n"
	       "  --quiet            no progress output\n"
	       "workloads:\n");
	for (i = 0; i < nr_workloads; i++)
		printf("  %-8s %s\n", workloads[i].name, workloads[i].desc);
}

static void parse_list(char *s, void (*fn)(const char *))
{
	char *save = NULL, *t;

	for (t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
		fn(t);
}

static void set_engine(const char *n)
{
	bool cg;
	int k = engine_kind_of(n, &cg);

	if (k < 0)
		die("unknown engine '%s'", n);
	if (cg)
		o.engines_cg[k] = true;
	else
		o.engines[k] = true;
}

static void set_workload(const char *n)
{
	int i = workload_index(n);

	if (i < 0)
		die("unknown workload '%s'", n);
	o.wls[i] = true;
}

static void set_mode(const char *n)
{
	int i;

	for (i = 0; i < BM_COUNT; i++)
		if (!strcmp(n, bmode_names[i])) {
			o.modes[i] = true;
			return;
		}
	die("unknown mode '%s'", n);
}

static void set_threads(const char *n)
{
	int t = atoi(n);

	if (t < 1 || t > 64 || o.nthreads == 8)
		die("bad thread count '%s'", n);
	o.threads[o.nthreads++] = (unsigned)t;
}

static int parse_advice(const char *s)
{
	if (!strcmp(s, "auto"))
		return -1;
	if (!strcmp(s, "normal"))
		return FC_ADVICE_NORMAL;
	if (!strcmp(s, "random"))
		return FC_ADVICE_RANDOM;
	if (!strcmp(s, "sequential"))
		return FC_ADVICE_SEQUENTIAL;
	die("unknown advice '%s'", s);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", 1, 0, 'f' }, { "size", 1, 0, 's' },
		{ "reps", 1, 0, 'r' }, { "workloads", 1, 0, 'w' },
		{ "engines", 1, 0, 'e' }, { "modes", 1, 0, 'm' },
		{ "threads", 1, 0, 't' }, { "fc-cache", 1, 0, 'c' },
		{ "fc-small", 1, 0, 'S' }, { "fc-page-size", 1, 0, 'p' },
		{ "fc-readahead", 1, 0, 'R' }, { "fc-handlers", 1, 0, 'H' },
		{ "fc-advice", 1, 0, 'a' }, { "out", 1, 0, 'o' },
		{ "fc-poll-us", 1, 0, 'P' }, { "fc-no-collapse", 0, 0, 'N' },
		{ "quick", 0, 0, 'q' }, { "quiet", 0, 0, 'Q' },
		{ "drop-caches", 1, 0, 'D' }, { "no-memcg", 0, 0, 'M' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	bool any_eng = false, any_wl = false, any_mode = false;
	uint64_t cache = 0;
	int c, k;

	o.size = 4 * GB;
	o.reps = 5;
	o.outdir = "bench-results";
	o.wls = calloc(nr_workloads, sizeof(bool));
	fc_config_init(&o.fo.cfg);
	o.fo.advice = -1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': snprintf(o.path, sizeof(o.path), "%s", optarg); break;
		case 's':
			o.size = parse_size(optarg);
			o.size_given = true;
			break;
		case 'r': o.reps = atoi(optarg); break;
		case 'w': parse_list(optarg, set_workload); any_wl = true; break;
		case 'e': parse_list(optarg, set_engine); any_eng = true; break;
		case 'm': parse_list(optarg, set_mode); any_mode = true; break;
		case 't': parse_list(optarg, set_threads); break;
		case 'c': cache = parse_size(optarg); break;
		case 'S': o.small_budget = parse_size(optarg); break;
		case 'p': o.fo.cfg.page_size = parse_size(optarg); break;
		case 'R': o.fo.cfg.readahead_max = parse_size(optarg); break;
		case 'H': o.fo.cfg.handler_threads = (unsigned)atoi(optarg); break;
		case 'a': o.fo.advice = parse_advice(optarg); break;
		case 'P': o.fo.cfg.poll_us = (unsigned)atoi(optarg); break;
		case 'N': o.fo.cfg.flags |= FC_CONFIG_NO_COLLAPSE; break;
		case 'o': o.outdir = optarg; break;
		case 'q':
			o.size = 64 * MB;
			o.size_given = true;
			o.reps = 1;
			break;
		case 'Q': o.quiet = true; break;
		case 'M': o.no_memcg = true; break;
		case 'D':
			if (!strcmp(optarg, "system"))
				o.drop_system = true;
			else if (strcmp(optarg, "file"))
				die("--drop-caches: file or system, not '%s'",
				    optarg);
			break;
		case 'h': usage(); exit(0);
		default: usage(); exit(2);
		}
	}
	if (o.size < 1 * MB || o.reps < 1)
		die("%s", "--size must be at least 1M and --reps at least 1");
	if (o.drop_system && geteuid() != 0)
		die("%s", "--drop-caches system needs root");
	if (!o.path[0]) {
		const char *d = getenv("FC_BENCH_DIR");

		snprintf(o.path, sizeof(o.path), "%s/fcbench-%lluM.dat",
			 d && *d ? d : "/var/tmp",
			 (unsigned long long)(o.size / MB));
	}
	for (k = 0; !any_eng && k < ENG_COUNT; k++)
		o.engines[k] = true;
	o.any_eng = any_eng;
	for (k = 0; !any_wl && k < (int)nr_workloads; k++)
		o.wls[k] = true;
	if (!any_mode)
		o.modes[BM_COLD] = o.modes[BM_WARM] = true;
	if (!o.nthreads) {
		o.threads[o.nthreads++] = 1;
		o.threads[o.nthreads++] = 8;
	}
	o.cache = cache;
}

/* The budgets that follow the file's size, once it is known. */
static void set_budgets(void)
{
	o.fo.cfg.cache_bytes = o.cache ? o.cache : o.size + 64 * MB;
	if (!o.small_budget)
		o.small_budget = o.size / 8;
	if (o.small_budget < 16 * o.fo.cfg.page_size)
		o.small_budget = 16 * o.fo.cfg.page_size;
}

/* Engines that read through a mapping (refault runs need one). */
static bool has_map(int k)
{
	return is_fc(k) || k == ENG_MMAP || k == ENG_MMAP_RANDOM ||
	       k == ENG_MMAP_SEQ;
}

static bool is_random(const char *wl)
{
	return !strcmp(wl, "rand4k") || !strcmp(wl, "zipf");
}

/* The reference checksum of a workload, with plain pread. */
static uint64_t reference(const struct oplist *ol)
{
	struct engine e;
	uint64_t sum;

	if (engine_open(&e, ENG_PREAD, o.path, &o.fo, 0))
		die("cannot open %s", o.path);
	sum = engine_run(&e, ol, 0, 1);
	engine_close(&e);
	return sum;
}

/*
 * Engine @k on one (workload, mode, threads, rep): as itself, and at equal
 * memory when asked. Not at equal memory in settled mode, where the kernel
 * engines share the page cache one of them filled, outside any cgroup.
 */
static void run_engine(const char *wl, int k, enum bmode mode,
		       unsigned threads, int rep, const struct oplist *ol,
		       uint64_t ref, const struct fcopts *fo, int advice)
{
	struct job j = { .wl = wl, .k = k, .mode = mode, .threads = threads,
			 .rep = rep, .ol = ol, .ref_sum = ref, .fo = fo,
			 .advice = advice };

	if (mode == BM_REFAULT && !has_map(k))
		return;
	if (o.engines[k])
		run_job(&j, measure);
	j.cg = true;
	if (o.engines_cg[k] && mode != BM_SETTLED)
		run_job(&j, measure);
}

static void run_workload(size_t w)
{
	const char *wl = workloads[w].name;
	struct fcopts fo = o.fo;
	struct oplist ol;
	uint64_t ref;
	int ti, rep, k, mode;

	if (!strcmp(wl, "scanres")) {	/* the small budget, for @cg too */
		struct job j = { .wl = wl, .mode = BM_COLD, .fo = &fo };

		fo.cfg.cache_bytes = o.small_budget;
		for (j.rep = 0; j.rep < o.reps; j.rep++)
			for (j.k = 0; j.k < ENG_COUNT; j.k++) {
				if (j.k == ENG_PREAD || j.k == ENG_DIRECT)
					continue;
				j.cg = false;
				if (o.engines[j.k])
					run_job(&j, measure_scanres);
				j.cg = true;
				if (o.engines_cg[j.k])
					run_job(&j, measure_scanres);
			}
		return;
	}
	if (!strcmp(wl, "ws4x"))
		fo.cfg.cache_bytes = o.small_budget;
	if (workload_ops(wl, (off_t)o.size, fo.cfg.cache_bytes, 42, &ol))
		die("cannot build workload %s", wl);
	ref = reference(&ol);
	for (mode = 0; mode < BM_COUNT; mode++) {
		if (!o.modes[mode])
			continue;
		for (ti = 0; ti < (is_random(wl) ? o.nthreads : 1); ti++)
			for (rep = 0; rep < o.reps; rep++)
				for (k = 0; k < ENG_COUNT; k++)
					run_engine(wl, k, (enum bmode)mode,
						   o.threads[ti], rep, &ol, ref,
						   &fo, workloads[w].advice);
		settled_close();
	}
	free(ol.v);
}

/*
 * The equal-memory runs: mmap@cg by default (the baseline of x mmap@cg),
 * where a memory cgroup can be made; the engines asked by name, or a
 * clear error.
 */
static void setup_memcg(void)
{
	bool asked = false;
	int k;

	for (k = 0; k < ENG_COUNT; k++)
		asked |= o.engines_cg[k];
	if (o.no_memcg) {
		if (asked)
			die("%s", "--no-memcg with an @cg engine");
		return;
	}
	if (memcg_init()) {
		if (asked)
			die("cannot run engines at equal memory: %s",
			    memcg_status());
		return;
	}
	if (!o.any_eng)
		o.engines_cg[ENG_MMAP] = true;
}

/* JSON-escape @in (a path, a command line) into @out. */
static void json_str(char *out, size_t len, const char *in)
{
	size_t n = 0;

	for (; *in && n + 7 < len; in++) {
		if (*in == '"' || *in == '\\')
			out[n++] = '\\';
		if ((unsigned char)*in < 0x20)
			n += (size_t)snprintf(out + n, len - n, "\\u%04x", *in);
		else
			out[n++] = *in;
	}
	out[n] = 0;
}

/* The command line, as given (parse_args cuts its lists). */
static void command_line(char *cmd, size_t len, int argc, char **argv)
{
	int i;

	snprintf(cmd, len, "fcbench");
	for (i = 1; i < argc; i++)
		snprintf(cmd + strlen(cmd), len - strlen(cmd), " %s", argv[i]);
}

/* What was run, where: the "run" object of results.json. */
static void run_info(struct run_info *ri, const char *cmd, const char *thp,
		     double secs)
{
	char ecmd[1200], epath[1100], ecg[1200], date[32];
	struct utsname u;
	time_t t = time(NULL);

	uname(&u);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	json_str(ecmd, sizeof(ecmd), cmd);
	json_str(epath, sizeof(epath), o.path);
	json_str(ecg, sizeof(ecg), memcg_status());
	snprintf(ri->json, sizeof(ri->json),
		 "\"host\": \"%s\", \"kernel\": \"%s\", \"machine\": \"%s\", "
		 "\"cpus\": %ld, \"commit\": \"%s\", \"library\": \"%s\", "
		 "\"date\": \"%s\", \"seconds\": %.0f, \"command\": \"%s\", "
		 "\"file\": \"%s\", \"file_bytes\": %llu, \"reps\": %d, "
		 "\"fc_budget_bytes\": %llu, \"fc_small_budget_bytes\": %llu, "
		 "\"fc_page_size\": %llu, \"fc_readahead_max\": %llu, "
		 "\"fc_poll_us\": %u, \"shmem_enabled\": \"%s\", "
		 "\"drop_caches\": \"%s\", \"equal_memory\": \"%s\"",
		 u.nodename, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN),
		 FCBENCH_COMMIT, fc_version_string(), date, secs, ecmd, epath,
		 (unsigned long long)o.size, o.reps,
		 (unsigned long long)o.fo.cfg.cache_bytes,
		 (unsigned long long)o.small_budget,
		 (unsigned long long)o.fo.cfg.page_size,
		 (unsigned long long)o.fo.cfg.readahead_max, o.fo.cfg.poll_us,
		 thp, o.drop_system ? "system" : "file", ecg);
}

int main(int argc, char **argv)
{
	struct run_info ri;
	size_t w, i;
	int bad = 0;
	char p[1024], thp[32], cmd[1024];
	double t0;

	/*
	 * The table goes to stdout, progress to stderr: line-buffered, the
	 * two stay in order when both go to one file.
	 */
	setvbuf(stdout, NULL, _IOLBF, 0);
	command_line(cmd, sizeof(cmd), argc, argv);
	parse_args(argc, argv);
	ensure_file();
	set_budgets();
	setup_memcg();
	t0 = now_s();
	if (!o.quiet)
		fprintf(stderr, "fcbench: %s (%llu MiB), %d reps, fc budget "
				"%llu MiB (ws4x/scanres %llu MiB)\n"
				"cold runs drop the kernel's cache of this file "
				"only (%s); equal memory: %s\n",
			o.path, (unsigned long long)(o.size / MB), o.reps,
			(unsigned long long)(o.fo.cfg.cache_bytes / MB),
			(unsigned long long)(o.small_budget / MB),
			o.drop_system ? "and, --drop-caches system, the "
					"whole machine's" :
					"posix_fadvise, checked with mincore",
			o.no_memcg ? "off (--no-memcg)" : memcg_status());
	for (w = 0; w < nr_workloads; w++)
		if (o.wls[w])
			run_workload(w);
	shmem_thp(thp, sizeof(thp));
	printf("\nfc pages %llu KiB, readahead %llu KiB, inline poll %u us; "
	       "shmem_enabled %s\n",
	       (unsigned long long)o.fo.cfg.page_size / 1024,
	       (unsigned long long)o.fo.cfg.readahead_max / 1024,
	       o.fo.cfg.poll_us, thp);
	report_table(results, nresults, o.reps);
	run_info(&ri, cmd, thp, now_s() - t0);
	mkdir(o.outdir, 0755);
	snprintf(p, sizeof(p), "%s/results.json", o.outdir);
	bad |= report_json(p, &ri, results, nresults);
	snprintf(p, sizeof(p), "%s/results.csv", o.outdir);
	bad |= report_csv(p, results, nresults);
	bad |= report_svg(o.outdir, results, nresults);
	for (i = 0; i < nresults; i++)
		if (!results[i].checksum_ok) {
			fprintf(stderr, "fcbench: checksum mismatch: %s %s\n",
				results[i].workload, results[i].engine);
			bad = 1;
		}
	if (!o.quiet)
		fprintf(stderr, "%zu runs in %.0f s; results in %s/\n",
			nresults, now_s() - t0, o.outdir);
	return bad ? 1 : 0;
}
