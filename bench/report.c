/* SPDX-License-Identifier: MIT */
/*
 * report.c - fcbench output: a table of medians with min/max and the ratios
 * to kernel mmap (MADV_NORMAL) in the same run, without a limit and at
 * equal memory (mmap@cg), JSON and CSV of every repetition with the same
 * two ratios, and two SVG plots (throughput; fc fault latency CDF).
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct agg {
	double med, min, max;
	int n;
};

typedef double (*metric_fn)(const struct result *);

static double m_mbs(const struct result *r)
{
	return (double)r->used_bytes / r->secs / 1e6;
}

static double m_ops(const struct result *r)
{
	return (double)r->ops / r->secs;
}

static double m_amp(const struct result *r)
{
	return r->used_bytes ? (double)r->dev_bytes / (double)r->used_bytes : 0;
}

static double m_faults(const struct result *r)
{
	return (double)r->faults;
}

static double m_rss(const struct result *r)
{
	return (double)r->peak_rss / 1048576.0;
}

/* What the run added: the cgroup's peak for an @cg engine, which holds
 * its page cache too; what the sampler saw for the others. */
static double m_mem(const struct result *r)
{
	return (double)(r->memcg_peak ? r->memcg_peak : r->peak_mem) /
	       1048576.0;
}

static double m_cpu(const struct result *r)
{
	return r->cpu_secs / ((double)r->used_bytes / 1e9);
}

static double m_p50(const struct result *r)
{
	return (double)r->lat_p50 / 1000;
}

static double m_p99(const struct result *r)
{
	return (double)r->lat_p99 / 1000;
}

static double m_p999(const struct result *r)
{
	return (double)r->lat_p999 / 1000;
}

static double m_hot(const struct result *r)
{
	return 100 * r->hot_resident;
}

static bool same_group(const struct result *a, const struct result *b)
{
	return !strcmp(a->workload, b->workload) && a->mode == b->mode &&
	       a->threads == b->threads;
}

/* Median/min/max of @fn over the reps of (group of @g, @engine). */
static struct agg aggregate(const struct result *r, size_t n,
			    const struct result *g, const char *engine,
			    metric_fn fn)
{
	double v[256];
	struct agg a = { 0, 0, 0, 0 };
	size_t i;

	for (i = 0; i < n && a.n < 256; i++)
		if (same_group(&r[i], g) && !strcmp(r[i].engine, engine))
			v[a.n++] = fn(&r[i]);
	if (!a.n)
		return a;
	qsort(v, (size_t)a.n, sizeof(v[0]), cmp_d);
	a.min = v[0];
	a.max = v[a.n - 1];
	a.med = a.n % 2 ? v[a.n / 2] : (v[a.n / 2 - 1] + v[a.n / 2]) / 2;
	return a;
}

static bool first_of_group(const struct result *r, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (same_group(&r[j], &r[i]))
			return false;
	return true;
}

static bool first_engine(const struct result *r, size_t i, size_t k)
{
	size_t j;

	for (j = i; j < k; j++)
		if (same_group(&r[j], &r[i]) && !strcmp(r[j].engine, r[k].engine))
			return false;
	return true;
}

/* "%.2f" of a / b, or "-" without a baseline. */
static const char *ratio(char *buf, size_t len, double a, const struct agg *b)
{
	if (!b->n || b->med <= 0)
		return "-";
	snprintf(buf, len, "%.2f", a / b->med);
	return buf;
}

void report_table(const struct result *r, size_t n, int reps)
{
	size_t i, k;

	printf("\nmedian of %d rep(s) [min-max]; x mmap = ratio of medians to "
	       "kernel mmap (MADV_NORMAL) in this run;\nx @cg = the same at "
	       "equal memory: to mmap@cg, kernel mmap in a memory cgroup "
	       "limited to the fc budget\n(- where not run: see --no-memcg); "
	       "memMiB of an @cg engine is the cgroup's peak, page cache "
	       "included\n", reps);
	for (i = 0; i < n; i++) {
		struct agg base, base_cg;

		if (!first_of_group(r, i))
			continue;
		base = aggregate(r, n, &r[i], "mmap", m_mbs);
		base_cg = aggregate(r, n, &r[i], "mmap" CG_SUFFIX, m_mbs);
		printf("\n%s %s, %u thread(s)\n", r[i].workload,
		       bmode_names[r[i].mode], r[i].threads);
		if (workload_one_byte(r[i].workload))
			printf("  (one byte read per 4 KiB page: MB/s counts "
			       "4 KiB per page touched, the rate at which pages "
			       "become readable, not bytes copied; a warm fc maps "
			       "a 2 MiB huge page in one fault)\n");
		printf("  %-12s %9s %-19s %6s %6s %10s %6s %9s %8s %7s %7s %s\n",
		       "engine", "MB/s", "[min-max]", "x mmap", "x @cg", "ops/s",
		       "amp", "faults", "peakMiB", "memMiB", "cpus/GB",
		       "fc p50/p99/p99.9 us  hot%");
		for (k = i; k < n; k++) {
			struct agg t;
			const struct result *g = &r[i];
			const char *e = r[k].engine;
			char range[40], x1[16], x2[16];

			if (!same_group(&r[k], g) || !first_engine(r, i, k))
				continue;
			t = aggregate(r, n, g, e, m_mbs);
			snprintf(range, sizeof(range), "[%.0f-%.0f]", t.min,
				 t.max);
			printf("  %-12s %9.1f %-19s %6s %6s %10.0f %6.2f %9.0f "
			       "%8.0f %7.0f %7.2f", e, t.med, range,
			       ratio(x1, sizeof(x1), t.med, &base),
			       ratio(x2, sizeof(x2), t.med, &base_cg),
			       aggregate(r, n, g, e, m_ops).med,
			       aggregate(r, n, g, e, m_amp).med,
			       aggregate(r, n, g, e, m_faults).med,
			       aggregate(r, n, g, e, m_rss).med,
			       aggregate(r, n, g, e, m_mem).med,
			       aggregate(r, n, g, e, m_cpu).med);
			/* no fault of the library's: no latency to show */
			if (!strncmp(e, "fc", 2) &&
			    aggregate(r, n, g, e, m_p50).med > 0)
				printf(" %.0f/%.0f/%.0f",
				       aggregate(r, n, g, e, m_p50).med,
				       aggregate(r, n, g, e, m_p99).med,
				       aggregate(r, n, g, e, m_p999).med);
			else if (!strncmp(e, "fc", 2))
				printf(" -");
			if (!strcmp(g->workload, "scanres"))
				printf("  %.1f", aggregate(r, n, g, e, m_hot).med);
			printf("\n");
		}
	}
}

/* One column of a result, formatted once for both JSON and CSV. */
struct field {
	const char *name;
	char val[32];
	bool quoted;	/* a string in JSON */
};

#define NR_FIELDS 27

__attribute__((format(printf, 4, 5)))
static void put(struct field *f, const char *name, bool quoted,
		const char *fmt, ...)
{
	va_list ap;

	f->name = name;
	f->quoted = quoted;
	va_start(ap, fmt);
	vsnprintf(f->val, sizeof(f->val), fmt, ap);
	va_end(ap);
}

/*
 * @r's throughput over that of @engine in the same repetition of the same
 * (workload, mode, threads), formatted; "null" without one.
 */
static void rep_ratio(struct field *f, const char *name,
		      const struct result *all, size_t n,
		      const struct result *r, const char *engine)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (same_group(&all[i], r) && all[i].rep == r->rep &&
		    !strcmp(all[i].engine, engine) && m_mbs(&all[i]) > 0) {
			put(f, name, false, "%.4f", m_mbs(r) / m_mbs(&all[i]));
			return;
		}
	put(f, name, false, "null");
}

static void fields(const struct result *all, size_t n, size_t idx,
		   struct field *fl)
{
	const struct result *r = &all[idx];
	struct field *f = fl;

	put(f++, "workload", true, "%s", r->workload);
	put(f++, "engine", true, "%s", r->engine);
	put(f++, "mode", true, "%s", bmode_names[r->mode]);
	put(f++, "threads", false, "%u", r->threads);
	put(f++, "rep", false, "%d", r->rep);
	put(f++, "seconds", false, "%.6f", r->secs);
	put(f++, "cpu_seconds", false, "%.6f", r->cpu_secs);
	put(f++, "used_bytes", false, "%llu", (unsigned long long)r->used_bytes);
	put(f++, "device_bytes", false, "%llu", (unsigned long long)r->dev_bytes);
	put(f++, "ops", false, "%llu", (unsigned long long)r->ops);
	put(f++, "mb_per_s", false, "%.3f", m_mbs(r));
	rep_ratio(f++, "x_kernel", all, n, r, "mmap");
	rep_ratio(f++, "x_kernel_equal_memory", all, n, r, "mmap" CG_SUFFIX);
	put(f++, "ops_per_s", false, "%.1f", m_ops(r));
	put(f++, "read_amplification", false, "%.4f", m_amp(r));
	put(f++, "faults", false, "%llu", (unsigned long long)r->faults);
	put(f++, "peak_rss_bytes", false, "%llu", (unsigned long long)r->peak_rss);
	put(f++, "peak_mem_bytes", false, "%llu", (unsigned long long)r->peak_mem);
	put(f++, "memcg_peak_bytes", false, "%llu",
	    (unsigned long long)r->memcg_peak);
	put(f++, "lat_p50_ns", false, "%llu", (unsigned long long)r->lat_p50);
	put(f++, "lat_p99_ns", false, "%llu", (unsigned long long)r->lat_p99);
	put(f++, "lat_p999_ns", false, "%llu", (unsigned long long)r->lat_p999);
	put(f++, "polled_reads", false, "%llu",
	    (unsigned long long)r->polled_reads);
	put(f++, "collapses", false, "%llu", (unsigned long long)r->collapses);
	put(f++, "hot_resident", false, "%.4f", r->hot_resident);
	put(f++, "checksum", false, "%llu", (unsigned long long)r->checksum);
	put(f++, "checksum_ok", false, "%s", r->checksum_ok ? "true" : "false");
}

/*
 * {"run": what was run and where (host, kernel, commit, options),
 *  "results": every repetition, every field, and the fc latency
 *  histogram}. x_kernel and x_kernel_equal_memory compare each repetition
 * with mmap and mmap@cg in the same repetition (null where not run).
 */
int report_json(const char *path, const struct run_info *info,
		const struct result *r, size_t n)
{
	FILE *f = fopen(path, "w");
	struct field fl[NR_FIELDS];
	size_t i, k;
	int b;

	if (!f)
		return 1;
	fprintf(f, "{\"run\": {%s},\n\"results\": [\n", info->json);
	for (i = 0; i < n; i++) {
		fields(r, n, i, fl);
		fprintf(f, "  {");
		for (k = 0; k < NR_FIELDS; k++)
			fprintf(f, fl[k].quoted ? "\"%s\": \"%s\", " : "\"%s\": %s, ",
				fl[k].name, fl[k].val);
		fprintf(f, "\"latency_hist\": [");
		for (b = 0; b < FC_LAT_BUCKETS; b++)
			fprintf(f, "%s%llu", b ? ", " : "",
				(unsigned long long)r[i].hist[b]);
		fprintf(f, "]}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "]}\n");
	return fclose(f) ? 1 : 0;
}

/* The same fields as JSON, a row per repetition, with a header. */
int report_csv(const char *path, const struct result *r, size_t n)
{
	FILE *f = fopen(path, "w");
	struct field fl[NR_FIELDS];
	size_t i, k;

	if (!f)
		return 1;
	for (i = 0; i < n; i++) {
		fields(r, n, i, fl);
		if (!i)
			for (k = 0; k < NR_FIELDS; k++)
				fprintf(f, "%s%c", fl[k].name,
					k + 1 < NR_FIELDS ? ',' : '\n');
		for (k = 0; k < NR_FIELDS; k++)
			fprintf(f, "%s%c", fl[k].val,
				k + 1 < NR_FIELDS ? ',' : '\n');
	}
	return fclose(f) ? 1 : 0;
}

/* ---- SVG ---- */

static const char *const colors[] = { "#1f77b4", "#17becf", "#bcbd22",
				      "#ff7f0e", "#2ca02c", "#d62728",
				      "#9467bd", "#8c564b", "#e377c2" };
static const char *const engines[] = { "fc", "fc-copy", "fc-inline", "mmap",
				       "mmap-rand", "mmap-seq", "pread",
				       "direct", "mmap" CG_SUFFIX };
#define NENG (sizeof(engines) / sizeof(engines[0]))
#define GROUP_W (NENG * 15 + 10)	/* px per (workload, mode, threads) */

/* Bar height for @v MB/s on a log scale from 1 MB/s to @top (300 px). */
static double bar_h(double v, double top)
{
	if (v <= 1)
		return 1;
	return 300 * log10(v) / log10(top);
}

/* Grouped bars: one group per (workload, mode, threads), one bar per engine. */
static int svg_throughput(const char *path, const struct result *r, size_t n)
{
	size_t i, groups = 0, e, width;
	double top = 10, t;
	int gi = 0;
	FILE *f;

	for (i = 0; i < n; i++)
		if (first_of_group(r, i))
			groups++;
	for (i = 0; i < n; i++)
		if (m_mbs(&r[i]) > top)
			top = m_mbs(&r[i]);
	width = groups * GROUP_W + 180 > 900 ? groups * GROUP_W + 180 : 900;
	f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%zu' "
		   "height='420' font-family='sans-serif' font-size='11'>\n"
		   "<text x='10' y='18' font-size='14'>fcbench: median "
		   "throughput (MB/s, log scale) by workload and engine</text>\n",
		width);
	for (e = 0; e < NENG; e++)
		fprintf(f, "<rect x='%zu' y='30' width='10' height='10' "
			   "fill='%s'/><text x='%zu' y='39'>%s</text>\n",
			40 + e * 95, colors[e], 54 + e * 95, engines[e]);
	for (t = 10; t <= top * 1.0001; t *= 10)	/* decade gridlines */
		fprintf(f, "<line x1='35' y1='%.1f' x2='%zu' y2='%.1f' "
			   "stroke='#ddd'/><text x='2' y='%.1f'>%.0f</text>\n",
			360 - bar_h(t, top), width - 10, 360 - bar_h(t, top),
			364 - bar_h(t, top), t);
	for (i = 0; i < n; i++) {
		if (!first_of_group(r, i))
			continue;
		for (e = 0; e < NENG; e++) {
			struct agg a = aggregate(r, n, &r[i], engines[e], m_mbs);
			double h = a.n ? bar_h(a.med, top) : 0;

			if (a.n)
				fprintf(f, "<rect x='%zu' y='%.1f' width='14' "
					   "height='%.1f' fill='%s'><title>%s %s"
					   " t=%u %s: %.1f MB/s</title></rect>\n",
					40 + (size_t)gi * GROUP_W + e * 15,
					360 - h, h, colors[e], r[i].workload,
					bmode_names[r[i].mode],
					r[i].threads, engines[e], a.med);
		}
		fprintf(f, "<text x='%d' y='375'>%s</text><text x='%d' "
			   "y='390'>%s t=%u</text>\n", 40 + gi * (int)GROUP_W,
			r[i].workload, 40 + gi * (int)GROUP_W,
			bmode_names[r[i].mode],
			r[i].threads);
		gi++;
	}
	fprintf(f, "<line x1='35' y1='360' x2='%zu' y2='360' stroke='black'/>"
		   "</svg>\n", width - 10);
	return fclose(f) ? 1 : 0;
}

/* CDF of the fc handler latency histogram, per workload and mode. */
static int svg_latency(const char *path, const struct result *r, size_t n)
{
	FILE *f = fopen(path, "w");
	size_t i, line = 0;
	int b;

	if (!f)
		return 1;
	fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='760' "
		   "height='440' font-family='sans-serif' font-size='11'>\n"
		   "<text x='10' y='18' font-size='14'>libfaultcache fault "
		   "latency CDF (handler side, all reps)</text>\n"
		   "<line x1='60' y1='380' x2='560' y2='380' stroke='black'/>"
		   "<line x1='60' y1='380' x2='60' y2='40' stroke='black'/>\n");
	{
		static const struct { int b; const char *l; } ticks[] = {
			{ 10, "1us" }, { 13, "8us" }, { 17, "131us" },
			{ 20, "1ms" }, { 23, "8ms" }, { 27, "134ms" },
		};
		size_t t;

		for (t = 0; t < sizeof(ticks) / sizeof(ticks[0]); t++)
			fprintf(f, "<line x1='%d' y1='380' x2='%d' y2='385' "
				   "stroke='black'/><text x='%d' y='397'>%s</text>\n",
				60 + (ticks[t].b - 8) * 25, 60 + (ticks[t].b - 8) * 25,
				48 + (ticks[t].b - 8) * 25, ticks[t].l);
		fprintf(f, "<text x='25' y='384'>0%%</text><text x='20' y='214'>"
			   "50%%</text><text x='15' y='44'>100%%</text>\n");
	}
	for (i = 0; i < n; i++) {
		uint64_t h[FC_LAT_BUCKETS] = { 0 }, tot = 0, acc = 0;
		size_t j;

		if (strcmp(r[i].engine, "fc"))
			continue;
		for (j = 0; j < i; j++)	/* once per group */
			if (!strcmp(r[j].engine, "fc") && same_group(&r[j], &r[i]))
				break;
		if (j < i)
			continue;
		for (j = i; j < n; j++)
			if (!strcmp(r[j].engine, "fc") && same_group(&r[j], &r[i]))
				for (b = 0; b < FC_LAT_BUCKETS; b++)
					h[b] += r[j].hist[b];
		for (b = 0; b < FC_LAT_BUCKETS; b++)
			tot += h[b];
		if (!tot)
			continue;
		fprintf(f, "<polyline fill='none' stroke='%s' points='",
			colors[line % 6]);
		for (b = 8; b <= 28; b++) {
			acc += h[b];
			if (b == 8)
				for (int k = 0; k < 8; k++)
					acc += h[k];
			fprintf(f, "%d,%.1f ", 60 + (b - 8) * 25,
				380 - 340.0 * (double)acc / (double)tot);
		}
		fprintf(f, "'/><text x='575' y='%zu' fill='%s'>%s %s t=%u</text>\n",
			50 + line * 14, colors[line % 6], r[i].workload,
			bmode_names[r[i].mode], r[i].threads);
		line++;
	}
	if (!line)
		fprintf(f, "<text x='120' y='200'>no fc fault was recorded "
			   "(warm runs on populated mappings take none)</text>\n");
	fprintf(f, "</svg>\n");
	return fclose(f) ? 1 : 0;
}

int report_svg(const char *dir, const struct result *r, size_t n)
{
	char p[1024];
	int bad;

	snprintf(p, sizeof(p), "%s/throughput.svg", dir);
	bad = svg_throughput(p, r, n);
	snprintf(p, sizeof(p), "%s/latency.svg", dir);
	return bad | svg_latency(p, r, n);
}
