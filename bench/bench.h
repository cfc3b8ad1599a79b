/* SPDX-License-Identifier: MIT */
/*
 * bench.h - fcbench: workloads run on several engines in one process and
 * one run, so ratios are fair on a noisy machine. See docs/benchmarks.md.
 *
 * A workload is a list of operations (offset, length, touch mode) made
 * from a seed; every engine executes the same list, so every engine must
 * produce the same checksum as pread.
 */
#ifndef FCBENCH_H
#define FCBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <faultcache.h>

enum touch { TOUCH_BYTE, TOUCH_ALL };

struct op {
	uint64_t off;
	uint32_t len;
};

struct oplist {
	struct op *v;
	size_t n;
	enum touch touch;
	uint64_t used_bytes;	/* bytes the workload consumes */
};

enum engine_kind {
	ENG_FC, ENG_FC_COPY, ENG_FC_INLINE, ENG_MMAP, ENG_MMAP_RANDOM,
	ENG_MMAP_SEQ, ENG_PREAD, ENG_DIRECT, ENG_COUNT
};

/* The libfaultcache engines: default, FC_CONFIG_COPY, FC_CONFIG_INLINE. */
static inline int is_fc(int k)
{
	return k == ENG_FC || k == ENG_FC_COPY || k == ENG_FC_INLINE;
}

/*
 * A kernel engine run at equal memory, inside a memory cgroup limited to
 * the fc budget (memcg.c), is named with this suffix: "mmap@cg". mmap@cg
 * is the baseline of the "x mmap@cg" ratio. Not direct: O_DIRECT reads
 * use no page cache, so there is nothing to limit.
 */
#define CG_SUFFIX "@cg"
static inline int can_cg(int k)
{
	return !is_fc(k) && k != ENG_DIRECT;
}

struct fcopts {
	struct fc_config cfg;
	int advice;		/* FC_ADVICE_* or -1 = by workload */
};

struct engine {
	enum engine_kind kind;
	const char *name;
	int fd, dfd;
	off_t size;
	unsigned char *map;	/* fc and mmap engines */
	struct fc_cache *cache;
	struct fc_stats st0;	/* fc: stats before the measured pass */
};

/*
 * What the measured pass starts from. COLD: nothing cached. WARM: the
 * file cached by an earlier mapping, mapped afresh inside the timed
 * region. REFAULT: the file cached and the mapping kept, its page tables
 * dropped (MADV_DONTNEED): every first touch is a fault on a cached page.
 */
enum bmode { BM_COLD, BM_WARM, BM_REFAULT, BM_SETTLED, BM_COUNT };
extern const char *const bmode_names[BM_COUNT];

struct result {
	const char *workload;
	const char *engine;	/* engine_label(): "mmap", "mmap@cg", ... */
	enum bmode mode;
	unsigned threads;
	int rep;
	double secs, cpu_secs;
	uint64_t used_bytes, dev_bytes, ops;
	uint64_t faults;
	uint64_t lat_p50, lat_p99, lat_p999;	/* ns, fc only */
	uint64_t polled_reads;	/* fc: inline reads polled for (poll_us) */
	uint64_t collapses;	/* fc: pages made huge during the pass */
	uint64_t peak_rss;	/* bytes */
	uint64_t peak_mem;	/* bytes the run added over the bench's own */
	uint64_t memcg_peak;	/* @cg: the cgroup's peak usage, bytes */
	double hot_resident;	/* scan resistance: hot set kept, 0..1 */
	uint64_t checksum;
	bool checksum_ok;
	uint64_t hist[FC_LAT_BUCKETS];
};

/* engines.c */
const char *engine_name(enum engine_kind k);
/* The name of @k run in a memory cgroup (@cg) or not. */
const char *engine_label(enum engine_kind k, bool cg);
/* The kind named @name, with *cg set for a "@cg" name; -1 if none. */
int engine_kind_of(const char *name, bool *cg);
int engine_open(struct engine *e, enum engine_kind k, const char *path,
		const struct fcopts *fo, int advice);
/* Map the file (fc and mmap engines; engine_open maps it too). */
int engine_map(struct engine *e, const struct fcopts *fo, int advice);
void engine_unmap(struct engine *e);
/* Drop the mapping's page tables, the data stays cached (fc and mmap). */
int engine_dontneed(struct engine *e);
void engine_close(struct engine *e);
/* Run ops [first, first + n) with stride @step on @e; returns checksum. */
uint64_t engine_run(struct engine *e, const struct oplist *ol, size_t first,
		    size_t step);
uint64_t engine_run_direct(struct engine *e, const struct oplist *ol,
			   unsigned depth);
uint64_t fold(const unsigned char *p, size_t len, enum touch t);

/* workloads.c */
struct wl {
	const char *name;
	const char *desc;
	int advice;		/* FC_ADVICE_* suggested for fc and mmap */
};
extern const struct wl workloads[];
extern const size_t nr_workloads;
int workload_index(const char *name);
/* Does @name touch one byte per page (its MB/s counts whole pages)? */
bool workload_one_byte(const char *name);
int workload_ops(const char *name, off_t file_size, uint64_t budget,
		 uint64_t seed, struct oplist *out);

/* memcg.c */
/* Find where a cgroup can be made: 0, or -1 (memcg_status says why). */
int memcg_init(void);
bool memcg_available(void);
const char *memcg_status(void);
/* Make the run's cgroup, limited to @limit bytes: 0 or -errno. */
int memcg_create(uint64_t limit);
/* Move the calling process (the run's child) into it: 0 or -errno. */
int memcg_join(void);
/* Once the child is gone, remove it: its peak usage in bytes. */
uint64_t memcg_remove(void);

/* report.c */
/* What the run was, for the JSON: "key": value pairs, already formatted. */
struct run_info {
	char json[8192];
};
void report_table(const struct result *r, size_t n, int reps);
int report_json(const char *path, const struct run_info *info,
		const struct result *r, size_t n);
int report_csv(const char *path, const struct result *r, size_t n);
int report_svg(const char *dir, const struct result *r, size_t n);

/* util */
__attribute__((format(printf, 1, 2), noreturn))
void die(const char *fmt, ...);
double now_s(void);
uint64_t proc_io_read_bytes(void);
uint64_t rss_bytes(bool with_store);
uint64_t anon_bytes(void);
uint64_t store_bytes(void);

#endif
