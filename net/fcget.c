/* SPDX-License-Identifier: MIT */
/*
 * fcget - write a range of a remote object (http://, https://, s3://) to
 * stdout, through libfaultcache: the object is mapped with fc_net_map()
 * and written straight from the mapping, each page fetched when first
 * touched, with readahead, within the cache's budget. See fcget(1).
 *
 * A page that cannot be fetched raises SIGBUS in the reader: fcget
 * reports the offset and why (the HTTP status or curl's error), and
 * exits 1. Output goes out 1 MiB at a time, each chunk faulted in before
 * it is written, so every byte written before the error is right.
 */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>
#include <faultcache-net.h>

#define CHUNK (1u << 20)

static sigjmp_buf jb;
static void *volatile bad_addr;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (fc_handle_sigbus(si))	/* an inline fault (FC_INLINE=1) */
		return;
	bad_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* A byte count with an optional K/M/G suffix (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return false;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	*out = v;
	return *end == 0;
}

/* Seconds, as curl takes them ("2", "0.5"), to milliseconds. */
static bool parse_secs(const char *s, unsigned *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 86400)
		return false;
	*ms = (unsigned)(v * 1000 + 0.5);
	return true;
}

static int usage(FILE *to)
{
	fprintf(to,
"usage: fcget [OPTIONS] URL\n"
"Write bytes of a remote object to stdout, fetched through libfaultcache.\n"
"URL is http://..., https://... or s3://BUCKET/KEY.\n"
"  --offset N            start at byte N (K/M/G suffixes)\n"
"  --length N            write N bytes (default: to the end)\n"
"  --cache-size N        cache budget (default 64M)\n"
"  --readahead N         largest readahead window (default 8M)\n"
"  --stats               print counters to stderr at the end\n"
"  --cacert FILE         CA bundle to verify servers with\n"
"  --capath DIR          CA directory\n"
"  -k, --insecure        do not verify the server's certificate\n"
"  --connect-timeout S   seconds to connect (default 10)\n"
"  --speed-time S        a transfer silent this long fails (default 30)\n"
"  --retry N             retries of 5xx, 429, broken connections (default 4)\n"
"  --retry-delay S       first backoff in seconds (default 0.1), doubled\n"
"  --http1.1             never HTTP/2\n"
"  --http2-prior-knowledge  HTTP/2 without TLS\n"
"  --region R            s3: region (AWS_REGION, AWS_DEFAULT_REGION)\n"
"  --endpoint-url URL    s3: endpoint, path-style (AWS_ENDPOINT_URL)\n"
"  --profile P           s3: credentials profile (AWS_PROFILE)\n"
"  --no-sign-request     s3: send requests unsigned\n"
"  -v, --verbose         libcurl's trace on stderr\n"
"  -h, --help            this text\n");
	return to == stdout ? 0 : 2;
}

static int write_all(const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void report_read_error(struct fc_net *net, uint64_t off)
{
	struct fc_net_error e;

	if (fc_net_error_at(net, off, &e)) {
		fprintf(stderr, "fcget: read error at offset %llu\n",
			(unsigned long long)off);
		return;
	}
	fprintf(stderr, "fcget: read error at offset %llu: %s "
		"(request for bytes %llu-%llu, %u attempt%s)\n",
		(unsigned long long)off, e.message,
		(unsigned long long)e.offset,
		(unsigned long long)(e.offset + e.length - 1), e.attempts,
		e.attempts == 1 ? "" : "s");
}

/*
 * Write @len bytes from @src to stdout, a chunk at a time, each faulted
 * in before it is written. Returns 0, 1 after a read error (reported,
 * @base being src's offset in the object) or a write error. *done counts
 * the bytes written.
 */
static int stream(struct fc_net *net, const unsigned char *src, uint64_t len,
		  uint64_t base, uint64_t chunk, volatile uint64_t *done)
{
	long sp = sysconf(_SC_PAGESIZE);
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(jb, 1)) {
		sigaction(SIGBUS, &old, NULL);
		report_read_error(net, base + (uint64_t)((const unsigned char *)
							bad_addr - src));
		return 1;
	}
	while (*done < len) {
		size_t n = len - *done < chunk ? (size_t)(len - *done)
					       : (size_t)chunk;
		const unsigned char *p = src + *done;
		volatile unsigned char sink = 0;
		size_t i;

		for (i = 0; i < n; i += (size_t)sp)
			sink ^= p[i];
		sink ^= p[n - 1];
		(void)sink;
		if (write_all(p, n)) {
			sigaction(SIGBUS, &old, NULL);
			fprintf(stderr, "fcget: write: %s\n", strerror(errno));
			return 1;
		}
		*done += n;
	}
	sigaction(SIGBUS, &old, NULL);
	return 0;
}

static void print_stats(struct fc_net *net, struct fc_cache *c, uint64_t out)
{
	struct fc_net_stats ns;
	struct fc_stats st;

	fc_net_stats(net, &ns);
	fc_cache_stats(c, &st);
	fprintf(stderr,
		"fcget: %llu bytes out, %llu reads, %llu requests (%llu reads "
		"merged), %llu bytes fetched (%.3f per byte out), %llu "
		"retries, %llu errors, %llu connections, HTTP/%ld.%ld, "
		"first byte %.3f ms mean %.3f ms max; %llu faults, %llu io "
		"errors\n",
		(unsigned long long)out, (unsigned long long)ns.reads,
		(unsigned long long)ns.requests,
		(unsigned long long)ns.merged, (unsigned long long)ns.bytes,
		out ? (double)ns.bytes / (double)out : 0.0,
		(unsigned long long)ns.retries, (unsigned long long)ns.errors,
		(unsigned long long)ns.connections, ns.http_version / 10,
		ns.http_version % 10,
		ns.ttfb_count ? ns.ttfb_ns_sum / 1e6 / (double)ns.ttfb_count : 0,
		ns.ttfb_ns_max / 1e6, (unsigned long long)st.faults,
		(unsigned long long)st.io_errors);
}

enum {
	O_OFFSET = 256, O_LENGTH, O_CACHE, O_RA, O_STATS, O_CACERT, O_CAPATH,
	O_CTIMEOUT, O_SPEED, O_RETRY, O_RDELAY, O_HTTP11, O_H2PRIOR, O_REGION,
	O_ENDPOINT, O_PROFILE, O_NOSIGN,
};

static const struct option lo[] = {
	{ "offset", 1, 0, O_OFFSET }, { "length", 1, 0, O_LENGTH },
	{ "cache-size", 1, 0, O_CACHE }, { "readahead", 1, 0, O_RA },
	{ "stats", 0, 0, O_STATS }, { "cacert", 1, 0, O_CACERT },
	{ "capath", 1, 0, O_CAPATH }, { "insecure", 0, 0, 'k' },
	{ "connect-timeout", 1, 0, O_CTIMEOUT },
	{ "speed-time", 1, 0, O_SPEED }, { "retry", 1, 0, O_RETRY },
	{ "retry-delay", 1, 0, O_RDELAY }, { "http1.1", 0, 0, O_HTTP11 },
	{ "http2-prior-knowledge", 0, 0, O_H2PRIOR },
	{ "region", 1, 0, O_REGION }, { "endpoint-url", 1, 0, O_ENDPOINT },
	{ "profile", 1, 0, O_PROFILE }, { "no-sign-request", 0, 0, O_NOSIGN },
	{ "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
};

static const char *opt_name(int val)
{
	const struct option *p;

	for (p = lo; p->name; p++)
		if (p->val == val)
			return p->name;
	return "?";
}

struct opts {
	uint64_t off, len, budget, ra;
	bool stats;
	struct fc_net_config nc;
};

/* 0, or the exit status of a bad command line. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, "kvh", lo, NULL)) != -1) {
		bool ok = true;

		switch (ch) {
		case O_OFFSET: ok = parse_size(optarg, &o->off); break;
		case O_LENGTH: ok = parse_size(optarg, &o->len); break;
		case O_CACHE: ok = parse_size(optarg, &o->budget); break;
		case O_RA: ok = parse_size(optarg, &o->ra); break;
		case O_STATS: o->stats = true; break;
		case O_CACERT: o->nc.cacert = optarg; break;
		case O_CAPATH: o->nc.capath = optarg; break;
		case 'k': o->nc.flags |= FC_NET_INSECURE; break;
		case O_CTIMEOUT:
			ok = parse_secs(optarg, &o->nc.connect_timeout_ms);
			break;
		case O_SPEED:
			ok = parse_secs(optarg, &o->nc.stall_timeout_ms);
			break;
		case O_RETRY:
			ok = parse_size(optarg, &v) && v <= 100;
			o->nc.retries = (unsigned)v;
			break;
		case O_RDELAY:
			ok = parse_secs(optarg, &o->nc.retry_delay_ms);
			break;
		case O_HTTP11: o->nc.flags |= FC_NET_HTTP1_1; break;
		case O_H2PRIOR: o->nc.flags |= FC_NET_HTTP2_PRIOR; break;
		case O_REGION: o->nc.region = optarg; break;
		case O_ENDPOINT: o->nc.endpoint_url = optarg; break;
		case O_PROFILE: o->nc.profile = optarg; break;
		case O_NOSIGN: o->nc.flags |= FC_NET_NO_SIGN; break;
		case 'v': o->nc.flags |= FC_NET_VERBOSE; break;
		case 'h': exit(usage(stdout));
		default: return usage(stderr);
		}
		if (!ok) {
			fprintf(stderr, "fcget: bad value for --%s: %s\n",
				opt_name(ch), optarg);
			return 2;
		}
	}
	if (optind + 1 != argc)
		return usage(stderr);
	return 0;
}

/* Map [off, off + len) of @net and stream it. 0 or 1. */
static int get(struct fc_net *net, const struct opts *o, uint64_t len)
{
	long sp = sysconf(_SC_PAGESIZE);
	uint64_t page_off = o->off - o->off % (uint64_t)sp;
	volatile uint64_t done = 0;
	struct fc_config cfg;
	uint64_t chunk;
	struct fc_cache *c;
	unsigned char *p;
	int ret;

	fc_config_init(&cfg);
	cfg.cache_bytes = o->budget;
	if (o->ra)
		cfg.readahead_max = o->ra;
	c = fc_cache_create(&cfg);
	if (!c) {
		fprintf(stderr, "fcget: cache: %s\n", strerror(errno));
		return 1;
	}
	p = fc_net_map(c, net, (off_t)page_off, len + (o->off - page_off), 0);
	if (!p) {
		fprintf(stderr, "fcget: map: %s\n", strerror(errno));
		fc_cache_destroy(c);
		return 1;
	}
	fc_advise(p, 0, FC_ADVICE_SEQUENTIAL);
	/* a chunk is held whole: a quarter of a small budget at most */
	chunk = o->budget / 4 < CHUNK ? o->budget / 4 : CHUNK;
	if (chunk < (uint64_t)sp)
		chunk = (uint64_t)sp;
	ret = stream(net, p + (o->off - page_off), len, o->off, chunk, &done);
	if (o->stats)
		print_stats(net, c, done);
	fc_unmap(p);
	fc_cache_destroy(c);
	return ret;
}

int main(int argc, char **argv)
{
	struct fc_net_error err;
	struct fc_net *net;
	struct opts o;
	uint64_t size, len;
	int ret;

	memset(&o, 0, sizeof(o));
	o.budget = 64 << 20;
	fc_net_config_init(&o.nc);
	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret;
	net = fc_net_open(argv[optind], &o.nc, &err);
	if (!net) {
		fprintf(stderr, "fcget: %s: %s\n", argv[optind],
			err.message[0] ? err.message : strerror(errno));
		return 1;
	}
	size = fc_net_size(net);
	if (o.off > size || (o.len && o.len > size - o.off)) {
		fprintf(stderr, "fcget: range past the end (size %llu)\n",
			(unsigned long long)size);
		fc_net_close(net);
		return 1;
	}
	len = o.len ? o.len : size - o.off;
	ret = len ? get(net, &o, len) : 0;
	fc_net_close(net);
	return ret;
}
