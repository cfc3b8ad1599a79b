/* SPDX-License-Identifier: MIT */
/*
 * fcview - a lazy-loading file viewer on libfaultcache.
 *
 * The file is mapped with fc_map(); only the pages drawn (plus readahead)
 * are ever read, so a file of any size opens at once, and memory stays
 * within the cache budget however far one scrolls or searches. Positions
 * are byte offsets (as in less): no line index is ever built.
 *
 * Every read of the mapping goes through view_copy(), which catches the
 * SIGBUS of pages that vanished (the file was truncated while viewed).
 */
#include <ctype.h>
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include <faultcache.h>

#include "fcview.h"

#define MAX_LINE (64 * 1024)	/* longer lines are split here */
#define CHUNK (4 << 20)		/* search granularity */

struct viewer v;

/* ---- safe access to the mapping ---- */

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (fc_handle_sigbus(si))	/* an inline fault (FC_CONFIG_INLINE) */
		return;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Pages vanished: the file was truncated. Take its new size as the end, so
 * the viewer stops there instead of meeting SIGBUS at every byte past it.
 */
static void file_shrank(uint64_t off)
{
	v.gone = true;
	v.vanished = off;
	view_check_size();
}

/*
 * The file's current size, if smaller than what we show: pages the cache
 * still holds past the new end would otherwise be shown as if they existed
 * (the library samples the size when it maps the file).
 */
void view_check_size(void)
{
	struct stat st;

	if (!fstat(v.fd, &st) && (uint64_t)st.st_size < v.size) {
		v.size = (uint64_t)st.st_size;
		v.vanished = v.size;
		v.gone = true;
	}
}

/*
 * Copy [off, off + len) of the file out of the mapping. Returns the bytes
 * copied (short at EOF), or -1 when the pages are gone (truncated file);
 * v.vanished then holds the offset where they went missing and v.size the
 * new end of the file.
 */
ssize_t view_copy(unsigned char *dst, uint64_t off, size_t len)
{
	volatile size_t n = len;	/* survives the longjmp */

	if (off >= v.size)
		return 0;
	if (off + len > v.size)
		n = (size_t)(v.size - off);
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		file_shrank(off);
		return -1;
	}
	bus_armed = 1;
	memcpy(dst, v.map + off, n);
	bus_armed = 0;
	return (ssize_t)n;
}

/* One byte, or -1 past EOF or when vanished. */
int byte_at(uint64_t off)
{
	unsigned char b;

	return view_copy(&b, off, 1) == 1 ? b : -1;
}

/* ---- opening ---- */

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fcview: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t parse_size(const char *s, const char *what)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		fail("bad %s '%s'", what, s);
	switch (*end) {
	case 'k': case 'K': x <<= 10; end++; break;
	case 'm': case 'M': x <<= 20; end++; break;
	case 'g': case 'G': x <<= 30; end++; break;
	default: break;
	}
	if (*end)
		fail("bad %s '%s'", what, s);
	return x;
}

static void open_file(const char *path, uint64_t cache, uint64_t ra)
{
	struct fc_config cfg;
	struct stat st;
	int fd;

	v.path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("%s: %s", path, strerror(errno));
	if (fstat(fd, &st))
		fail("%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		fail("%s: is a directory", path);
	if (!S_ISREG(st.st_mode))
		fail("%s: not a regular file", path);
	if (st.st_size == 0)
		fail("%s: empty file, nothing to show", path);
	v.size = (uint64_t)st.st_size;
	fc_config_init(&cfg);
	if (cache)
		cfg.cache_bytes = cache;
	if (ra)
		cfg.readahead_max = ra;
	v.cache = fc_cache_create(&cfg);
	if (!v.cache) {
		if (errno == EPERM || errno == ENOSYS)
			fail("userfaultfd is not available (%s): see "
			     "faultcache(7), REQUIREMENTS", strerror(errno));
		if (errno == ENOMEM && cache)
			fail("cannot create a cache of %llu bytes: %s (above "
			     "the memory cgroup limit? see fc_cache_create(3))",
			     (unsigned long long)cache, strerror(errno));
		fail("cannot create the cache: %s", strerror(errno));
	}
	v.map = fc_map(v.cache, fd, 0, 0, 0);
	if (!v.map)
		fail("%s: cannot map: %s", path, strerror(errno));
	v.fd = fd;	/* kept to learn the new size if the file shrinks */
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGBUS, &sa, NULL);
	}
}

/* ---- scriptable modes ---- */

/* od -A x -t x1z -v formatting of [off, off + len). */
static int dump_hex(uint64_t off, uint64_t len)
{
	unsigned char b[16];
	uint64_t end = off + len > v.size ? v.size : off + len, p;

	for (p = off; p < end; p += 16) {
		size_t n = end - p < 16 ? (size_t)(end - p) : 16, i;

		if (view_copy(b, p, n) < 0)
			return -1;
		printf("%06llx", (unsigned long long)p);
		for (i = 0; i < 16; i++)
			if (i < n)
				printf(" %02x", b[i]);
			else
				printf("   ");
		printf("  >");
		for (i = 0; i < n; i++)
			putchar(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
		printf("<\n");
	}
	printf("%06llx\n", (unsigned long long)end);
	return 0;
}

static int dump_raw(uint64_t off, uint64_t len)
{
	static unsigned char buf[1 << 16];
	uint64_t end = off + len > v.size ? v.size : off + len;

	while (off < end) {
		size_t n = end - off < sizeof(buf) ? (size_t)(end - off)
						   : sizeof(buf);

		if (view_copy(buf, off, n) < 0)
			return -1;
		if (fwrite(buf, 1, n, stdout) != n)
			return -1;
		off += n;
	}
	return 0;
}

static void print_stats(FILE *f)
{
	struct fc_stats st;

	if (fc_cache_stats(v.cache, &st))
		return;
	fprintf(f, "faults %llu hits %llu misses %llu pages_read %llu "
		   "bytes_read %llu readahead_pages %llu readahead_used %llu "
		   "evictions %llu resident_bytes %llu budget_bytes %llu "
		   "p50_ns %llu p99_ns %llu\n",
		(unsigned long long)st.faults, (unsigned long long)st.hits,
		(unsigned long long)st.misses,
		(unsigned long long)st.pages_read,
		(unsigned long long)st.bytes_read,
		(unsigned long long)st.ra_pages, (unsigned long long)st.ra_used,
		(unsigned long long)st.evictions,
		(unsigned long long)st.resident_bytes,
		(unsigned long long)st.budget_bytes,
		(unsigned long long)fc_stats_latency_quantile(&st, 0.5),
		(unsigned long long)fc_stats_latency_quantile(&st, 0.99));
}

static void print_hit(uint64_t off)
{
	printf("%llu\n", (unsigned long long)off);
}

static void vanished_error(void)
{
	fprintf(stderr, "fcview: %s: the file shrank while being read: bytes "
			"from offset %llu are gone\n", v.path,
		(unsigned long long)v.vanished);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fcview [options] FILE\n"
		"  (no option)          interactive viewer; press h for keys\n"
		"  --dump OFF[:LEN]     print LEN bytes (default to EOF) from OFF\n"
		"  --hex                with --dump: od -A x -t x1z -v format\n"
		"  --search PATTERN     print the offsets of PATTERN (text)\n"
		"  --search-hex HEX     print the offsets of bytes ('de ad be ef')\n"
		"  --stats              cache statistics on stderr after the run\n"
		"  --cache-size SIZE    memory budget (default 256M, or half\n"
		"                       the memory cgroup limit if less)\n"
		"  --readahead SIZE     largest readahead window (default 8M)\n"
		"  --generate-sample SIZE  write SIZE bytes of text to FILE\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dump", 1, 0, 'd' }, { "hex", 0, 0, 'x' },
		{ "search", 1, 0, 's' }, { "search-hex", 1, 0, 'S' },
		{ "stats", 0, 0, 't' }, { "cache-size", 1, 0, 'c' },
		{ "readahead", 1, 0, 'r' }, { "generate-sample", 1, 0, 'g' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *dump = NULL, *pat_text = NULL, *pat_hex = NULL;
	uint64_t cache = 0, ra = 0, gen = 0;
	bool hex = false, stats = false;
	struct pattern pat;
	int c, ret = 0;

	setlocale(LC_ALL, "");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dump = optarg; break;
		case 'x': hex = true; break;
		case 's': pat_text = optarg; break;
		case 'S': pat_hex = optarg; break;
		case 't': stats = true; break;
		case 'c': cache = parse_size(optarg, "size"); break;
		case 'r': ra = parse_size(optarg, "size"); break;
		case 'g': gen = parse_size(optarg, "size"); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (gen)
		return generate_sample(argv[optind], gen) ? 1 : 0;
	open_file(argv[optind], cache, ra);
	if (pat_text || pat_hex) {
		if (pattern_parse(&pat, pat_text ? pat_text : pat_hex, !!pat_hex))
			fail("bad pattern '%s'", pat_text ? pat_text : pat_hex);
		ret = search_all(&pat, print_hit);
	} else if (dump) {
		char *end;
		uint64_t off = strtoull(dump, &end, 0), len = v.size;

		if (end == dump || (*end && *end != ':'))
			fail("bad --dump '%s'", dump);
		if (*end == ':')
			len = parse_size(end + 1, "length");
		if (off > v.size)
			fail("offset %llu is past the end (%llu bytes)",
			     (unsigned long long)off,
			     (unsigned long long)v.size);
		ret = hex ? dump_hex(off, len) : dump_raw(off, len);
	} else {
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
			fail("%s", "not a terminal: use --dump or --search");
		ret = ui_run();
	}
	fflush(stdout);
	if (ret < 0)
		vanished_error();
	if (stats)
		print_stats(stderr);
	fc_unmap((void *)v.map);
	fc_cache_destroy(v.cache);
	return ret < 0 ? 1 : 0;
}
