/* SPDX-License-Identifier: MIT */
/*
 * fchttp - map a file served over HTTP and read it like memory.
 *
 *   fchttp get URL [--offset N] [--length N] [--cache-size BYTES]
 *              [--workers N] [--stats]          write the range to stdout
 *   fchttp serve FILE [--port N] [--fail-after N]
 *                                               a small range server
 *
 * "get" maps the remote file with fc_map_backend() and the HTTP backend in
 * http_backend.c, then write(2)s straight from the mapping: every page is
 * fetched by a range request when first touched, with readahead, within
 * the cache budget. A page that cannot be fetched raises SIGBUS in the
 * reader, which reports the offset and exits 1 (nothing is written for it).
 * "serve" is there so the example (and its test) need nothing else: it
 * answers HEAD and GET with Range on one file, on 127.0.0.1; --fail-after
 * makes it answer 500 after that many ranges (to show the error path).
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <faultcache.h>

#include "http_backend.h"

static sigjmp_buf jb;
static void *volatile bad_addr;

static struct sigaction old_bus;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (fc_handle_sigbus(si))	/* an inline fault (FC_CONFIG_INLINE) */
		return;
	bad_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static bool parse_num(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return false;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	*out = v;
	return *end == 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: fchttp get URL [--offset N] [--length N] "
		"[--cache-size BYTES] [--workers N] [--stats]\n"
		"       fchttp serve FILE [--port N] [--fail-after N]\n");
	return 2;
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

/*
 * Write @len bytes from @src to stdout, 1 MiB at a time, each chunk faulted
 * in before it is written, so a SIGBUS loses no output. Returns 0, 1 after
 * a read error (reported with its offset, @base being src's), or -1 after
 * a write error. *done counts the bytes written.
 */
static int stream(const unsigned char *src, uint64_t len, uint64_t base,
		  volatile uint64_t *done)
{
	long sp = sysconf(_SC_PAGESIZE);
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, &old_bus);
	if (sigsetjmp(jb, 1)) {
		sigaction(SIGBUS, &old_bus, NULL);
		fprintf(stderr, "fchttp: read error at offset %llu\n",
			(unsigned long long)(base + (uint64_t)((const unsigned char *)
							      bad_addr - src)));
		return 1;
	}
	while (*done < len) {
		size_t n = len - *done < (1u << 20) ? (size_t)(len - *done)
						    : (1u << 20);
		const unsigned char *p = src + *done;
		volatile unsigned char sink = 0;
		size_t i;

		for (i = 0; i < n; i += (size_t)sp)	/* fault it in first */
			sink ^= p[i];
		sink ^= p[n - 1];
		(void)sink;
		if (write_all(p, n)) {
			sigaction(SIGBUS, &old_bus, NULL);
			fprintf(stderr, "fchttp: write: %s\n", strerror(errno));
			return -1;
		}
		*done += n;
	}
	sigaction(SIGBUS, &old_bus, NULL);
	return 0;
}

static int cmd_get(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "offset", 1, 0, 'o' }, { "length", 1, 0, 'l' },
		{ "cache-size", 1, 0, 'c' }, { "workers", 1, 0, 'w' },
		{ "stats", 0, 0, 's' }, { 0, 0, 0, 0 },
	};
	uint64_t off = 0, len = 0, budget = 64 << 20, workers = 4, v;
	uint64_t reqs, bytes, page_off;
	volatile uint64_t done = 0;
	struct fc_config cfg;
	struct fc_cache *c;
	struct fc_http *h;
	struct fc_stats st;
	unsigned char *p;
	bool stats = false;
	char err[512];
	int ch, ret = 0;
	long sp = sysconf(_SC_PAGESIZE);

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == 's') {
			stats = true;
			continue;
		}
		if (ch == '?' || !parse_num(optarg, &v))
			return usage();
		if (ch == 'o')
			off = v;
		else if (ch == 'l')
			len = v;
		else if (ch == 'c')
			budget = v;
		else
			workers = v;
	}
	if (optind + 1 != argc || !workers || workers > 64)
		return usage();
	h = fc_http_open(argv[optind], (unsigned)workers, err, sizeof(err));
	if (!h) {
		fprintf(stderr, "fchttp: %s\n", err);
		return 1;
	}
	if (off > fc_http_size(h) || (len && len > fc_http_size(h) - off)) {
		fprintf(stderr, "fchttp: range past the end (size %llu)\n",
			(unsigned long long)fc_http_size(h));
		fc_http_close(h);
		return 1;
	}
	if (!len)
		len = fc_http_size(h) - off;
	if (!len) {	/* nothing to map */
		fc_http_close(h);
		return 0;
	}
	fc_config_init(&cfg);
	cfg.cache_bytes = budget;
	c = fc_cache_create(&cfg);
	if (!c) {
		fprintf(stderr, "fchttp: cache: %s\n", strerror(errno));
		fc_http_close(h);
		return 1;
	}
	page_off = off - off % (uint64_t)sp;	/* mappings start on a page */
	p = fc_map_backend(c, &fc_http_ops, h, (off_t)page_off,
			   len + (off - page_off), 0);
	if (!p) {
		fprintf(stderr, "fchttp: map: %s\n", strerror(errno));
		fc_http_close(h);
		fc_cache_destroy(c);
		return 1;
	}
	fc_advise(p, 0, FC_ADVICE_SEQUENTIAL);
	ret = stream(p + (off - page_off), len, off, &done) ? 1 : 0;
	fc_cache_stats(c, &st);
	fc_http_counters(h, &reqs, &bytes);
	if (stats)
		fprintf(stderr,
			"fchttp: %llu bytes out, %llu range requests, %llu bytes "
			"fetched, %llu faults, %llu io errors\n",
			(unsigned long long)done, (unsigned long long)reqs,
			(unsigned long long)bytes,
			(unsigned long long)st.faults,
			(unsigned long long)st.io_errors);
	fc_unmap(p);	/* h is released with the mapping */
	fc_cache_destroy(c);
	return ret;
}

/* ---- serve ---- */

static struct {
	int fd;
	off_t size;
	long fail_after;
	atomic_long ranges;
} srv;

static int reply(int s, const char *status, const char *extra,
		 long long clen)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nAccept-Ranges: bytes\r\n"
			 "Content-Length: %lld\r\n%s\r\n",
			 status, clen, extra);

	return send(s, hdr, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static int send_file(int s, off_t off, size_t len)
{
	char buf[65536];

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t r = pread(srv.fd, buf, n, off);

		if (r <= 0 || send(s, buf, (size_t)r, MSG_NOSIGNAL) != r)
			return -1;
		off += r;
		len -= (size_t)r;
	}
	return 0;
}

/* One request already read into @req; 0 to keep the connection. */
static int serve_one(int s, char *req)
{
	unsigned long long a, b;
	char extra[128], *range;
	bool head = !strncmp(req, "HEAD ", 5);

	if (!head && strncmp(req, "GET ", 4))
		return reply(s, "405 Method Not Allowed", "", 0), -1;
	range = strcasestr(req, "\r\nRange: bytes=");
	if (!range) {
		if (reply(s, "200 OK", "", (long long)srv.size))
			return -1;
		return head ? 0 : send_file(s, 0, (size_t)srv.size);
	}
	if (sscanf(range + 15, "%llu-%llu", &a, &b) != 2 || a > b ||
	    a >= (unsigned long long)srv.size) {
		snprintf(extra, sizeof(extra), "Content-Range: bytes */%lld\r\n",
			 (long long)srv.size);
		return reply(s, "416 Range Not Satisfiable", extra, 0);
	}
	if (b >= (unsigned long long)srv.size)
		b = (unsigned long long)srv.size - 1;
	if (srv.fail_after >= 0 && atomic_fetch_add(&srv.ranges, 1) >= srv.fail_after)
		return reply(s, "500 Internal Server Error", "", 0);
	snprintf(extra, sizeof(extra), "Content-Range: bytes %llu-%llu/%lld\r\n",
		 a, b, (long long)srv.size);
	if (reply(s, "206 Partial Content", extra, (long long)(b - a + 1)))
		return -1;
	return head ? 0 : send_file(s, (off_t)a, (size_t)(b - a + 1));
}

static void *conn_main(void *arg)
{
	int s = (int)(intptr_t)arg;
	char buf[8192];
	size_t have = 0;

	for (;;) {
		char *end;
		ssize_t r;

		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
		if (end) {
			size_t used = (size_t)(end + 4 - buf);

			end[2] = 0;	/* the request: lines ending in \r\n */
			if (serve_one(s, buf))
				break;
			memmove(buf, buf + used, have - used);
			have -= used;
			continue;
		}
		if (have >= sizeof(buf) - 1)
			break;
		r = recv(s, buf + have, sizeof(buf) - 1 - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	close(s);
	return NULL;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", 1, 0, 'p' }, { "fail-after", 1, 0, 'f' },
		{ 0, 0, 0, 0 },
	};
	struct sockaddr_in addr;
	socklen_t alen = sizeof(addr);
	struct stat st;
	uint64_t port = 0, v;
	int ch, ls, one = 1;

	srv.fail_after = -1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == '?' || !parse_num(optarg, &v))
			return usage();
		if (ch == 'p')
			port = v;
		else
			srv.fail_after = (long)v;
	}
	if (optind + 1 != argc || port > 65535)
		return usage();
	srv.fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (srv.fd < 0 || fstat(srv.fd, &st)) {
		perror(argv[optind]);
		return 1;
	}
	srv.size = st.st_size;
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(ls, 64) ||
	    getsockname(ls, (struct sockaddr *)&addr, &alen)) {
		perror("fchttp serve");
		return 1;
	}
	printf("port %d\n", ntohs(addr.sin_port));
	fflush(stdout);
	for (;;) {
		int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (s < 0)
			continue;
		if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)s))
			close(s);
		else
			pthread_detach(t);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "get"))
		return cmd_get(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	return usage();
}
