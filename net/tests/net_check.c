/* SPDX-License-Identifier: MIT */
/*
 * net_check - the checks of libfaultcache-net that need its API, run by
 * the test scripts against the servers they start. Every byte read through
 * a mapping is compared with the file the server serves (pread).
 *
 *   net_check random URL FILE THREADS COUNT
 *	THREADS threads read COUNT random ranges each (1 byte to 64 KiB,
 *	unaligned) through one mapping with a 4 MiB budget.
 *   net_check stall URL FILE OFFSET FLAG
 *	The server stalls the range starting at OFFSET (the script's nginx
 *	sends it at 1 byte/s): one thread touches it and waits, while this
 *	one reads cached pages and uncached ones elsewhere and checks they
 *	all come. Then FLAG is created; the script cuts the stalled
 *	connection (reload), and the stalled read is retried and must come
 *	right.
 *   net_check change URL FILE
 *	Reads a part, replaces FILE (a new version: other bytes and mtime)
 *	and reads on: the new part must fail with SIGBUS (ESTALE, "object
 *	changed"), and what was cached stays the old version.
 *   net_check fail URL OFFSET ERRNO WORDS
 *	Touching OFFSET must raise SIGBUS; fc_net_error_at() must report
 *	ERRNO and a message containing WORDS.
 *
 * Exit 0 when all holds, 1 with a message otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>
#include <faultcache-net.h>

static __thread sigjmp_buf *jb;
static __thread void *volatile bad;

#define die(...) do { fprintf(stderr, "net_check: " __VA_ARGS__); \
		      fputc('\n', stderr); exit(1); } while (0)

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (fc_handle_sigbus(si))
		return;
	if (!jb) {
		signal(sig, SIG_DFL);
		return;
	}
	bad = si->si_addr;
	siglongjmp(*jb, 1);
}

/* Copy [off, off + n) of the mapping into @out; false on SIGBUS. */
static bool fetch(const unsigned char *p, uint64_t off, size_t n,
		  unsigned char *out)
{
	sigjmp_buf here;

	jb = &here;
	if (sigsetjmp(here, 1)) {
		jb = NULL;
		return false;
	}
	memcpy(out, p + off, n);
	jb = NULL;
	return true;
}

static void check_range(int fd, const unsigned char *p, uint64_t off, size_t n)
{
	unsigned char *want = malloc(n), *got = malloc(n);

	if (!want || !got)
		die("out of memory");
	if (pread(fd, want, n, (off_t)off) != (ssize_t)n)
		die("pread %llu+%zu: %s", (unsigned long long)off, n,
		    strerror(errno));
	if (!fetch(p, off, n, got))
		die("SIGBUS reading %llu+%zu", (unsigned long long)off, n);
	if (memcmp(want, got, n))
		die("bytes differ in %llu+%zu", (unsigned long long)off, n);
	free(want);
	free(got);
}

struct obj {
	struct fc_net *net;
	struct fc_cache *cache;
	unsigned char *p;
	uint64_t size;
	int fd;
};

static void obj_open(struct obj *o, const char *url, const char *file,
		     size_t budget, const struct fc_net_config *nc)
{
	struct fc_net_error err;
	struct fc_config cfg;

	o->net = fc_net_open(url, nc, &err);
	if (!o->net)
		die("open %s: %s", url, err.message);
	o->size = fc_net_size(o->net);
	o->fd = file ? open(file, O_RDONLY) : -1;
	if (file && o->fd < 0)
		die("%s: %s", file, strerror(errno));
	fc_config_init(&cfg);
	cfg.cache_bytes = budget;
	o->cache = fc_cache_create(&cfg);
	if (!o->cache)
		die("cache: %s", strerror(errno));
	o->p = fc_net_map(o->cache, o->net, 0, 0, 0);
	if (!o->p)
		die("map: %s", strerror(errno));
}

static void obj_close(struct obj *o)
{
	fc_unmap(o->p);
	fc_cache_destroy(o->cache);
	fc_net_close(o->net);
	if (o->fd >= 0)
		close(o->fd);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct reader {
	pthread_t t;
	struct obj *o;
	unsigned count, seed;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (r->seed + 1);
	unsigned i;

	for (i = 0; i < r->count; i++) {
		uint64_t off = rnd(&s) % r->o->size;
		size_t n = 1 + (size_t)(rnd(&s) % 65536);

		if (n > r->o->size - off)
			n = (size_t)(r->o->size - off);
		check_range(r->o->fd, r->o->p, off, n);
	}
	return NULL;
}

static int cmd_random(char **av)
{
	unsigned threads = (unsigned)atoi(av[2]), count = (unsigned)atoi(av[3]), i;
	struct reader *r = calloc(threads, sizeof(*r));
	struct fc_net_stats st;
	struct obj o;

	obj_open(&o, av[0], av[1], 4 << 20, NULL);
	for (i = 0; i < threads; i++) {
		r[i].o = &o;
		r[i].count = count;
		r[i].seed = i;
		if (pthread_create(&r[i].t, NULL, reader_main, &r[i]))
			die("pthread_create");
	}
	for (i = 0; i < threads; i++)
		pthread_join(r[i].t, NULL);
	check_range(o.fd, o.p, o.size - 1, 1);	/* the last byte */
	fc_net_stats(o.net, &st);
	printf("random: %u threads x %u ranges right; %llu reads, %llu "
	       "requests, %llu bytes, %llu errors\n", threads, count,
	       (unsigned long long)st.reads, (unsigned long long)st.requests,
	       (unsigned long long)st.bytes, (unsigned long long)st.errors);
	if (st.errors)
		die("reads failed");
	obj_close(&o);
	free(r);
	return 0;
}

struct stalled {
	struct obj *o;
	uint64_t off;
	atomic_bool done;
};

static void *stalled_main(void *arg)
{
	struct stalled *s = arg;

	check_range(s->o->fd, s->o->p, s->off, 4096);
	atomic_store(&s->done, true);
	return NULL;
}

static void wait_for_request(struct fc_net *net, uint64_t before)
{
	struct fc_net_stats st;
	const struct timespec ms = { 0, 1000000 };

	do {
		nanosleep(&ms, NULL);
		fc_net_stats(net, &st);
	} while (st.requests == before);
}

static int cmd_stall(char **av)
{
	struct stalled s = { .off = strtoull(av[2], NULL, 0) };
	struct fc_net_config nc;
	struct fc_net_stats st;
	pthread_t t;
	uint64_t off;
	struct obj o;
	int fd;

	fc_net_config_init(&nc);
	nc.retries = 20;	/* the reload may take a while on a busy host */
	nc.retry_max_delay_ms = 500;
	nc.stall_timeout_ms = 600000;	/* the stall is what is tested */
	obj_open(&o, av[0], av[1], 64 << 20, &nc);
	fc_advise(o.p, 0, FC_ADVICE_RANDOM);
	s.o = &o;
	check_range(o.fd, o.p, 0, 1 << 20);		/* now cached */
	fc_net_stats(o.net, &st);
	if (pthread_create(&t, NULL, stalled_main, &s))
		die("pthread_create");
	wait_for_request(o.net, st.requests);	/* the stalled GET is out */
	/* cached pages, and uncached ones elsewhere, come meanwhile */
	check_range(o.fd, o.p, 0, 1 << 20);
	for (off = 2 << 20; off < (4 << 20); off += 64 << 10)
		check_range(o.fd, o.p, off, 4096);
	if (atomic_load(&s.done))
		die("the stalled range was not stalled");
	printf("stall: cached and other pages read while %llu stalled\n",
	       (unsigned long long)s.off);
	fflush(stdout);
	fd = open(av[3], O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		die("%s: %s", av[3], strerror(errno));
	close(fd);
	pthread_join(t, NULL);	/* retried once the connection is cut */
	fc_net_stats(o.net, &st);
	/* asked again by us, or by libcurl on a fresh connection */
	printf("stall: the stalled page came right (%llu retries, %llu "
	       "connections)\n", (unsigned long long)st.retries,
	       (unsigned long long)st.connections);
	obj_close(&o);
	return 0;
}

static int cmd_change(char **av)
{
	unsigned char buf[4096], *data;
	char tmp[4096];
	struct fc_net_error e;
	struct timespec ts[2];
	struct obj o;
	uint64_t i;
	int fd;

	obj_open(&o, av[0], av[1], 64 << 20, NULL);
	fc_advise(o.p, 0, FC_ADVICE_RANDOM);
	check_range(o.fd, o.p, 0, 1 << 20);
	/* a new version of the object: other bytes, another mtime */
	data = malloc(o.size);
	if (!data || pread(o.fd, data, o.size, 0) != (ssize_t)o.size)
		die("read %s", av[1]);
	for (i = 0; i < o.size; i++)
		data[i] ^= 0x5a;
	snprintf(tmp, sizeof(tmp), "%s.new", av[1]);
	fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || write(fd, data, o.size) != (ssize_t)o.size)
		die("write %s", tmp);
	ts[0].tv_sec = ts[1].tv_sec = 1000000000;	/* 2001 */
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	futimens(fd, ts);
	close(fd);
	if (rename(tmp, av[1]))
		die("rename: %s", strerror(errno));
	if (fetch(o.p, o.size / 2, sizeof(buf), buf))
		die("a page of the new version was read into the old one");
	if (fc_net_error_at(o.net, o.size / 2, &e))
		die("no error recorded");
	printf("change: SIGBUS at %llu: %s\n", (unsigned long long)o.size / 2,
	       e.message);
	if (e.err != ESTALE || !strstr(e.message, "changed"))
		die("error %d (%s), expected ESTALE", e.err, e.message);
	/* what was cached stays the first version (o.fd still opens it) */
	check_range(o.fd, o.p, 0, 1 << 20);
	free(data);
	obj_close(&o);
	return 0;
}

static int cmd_fail(char **av)
{
	uint64_t off = strtoull(av[1], NULL, 0);
	int want = atoi(av[2]);
	struct fc_net_error e;
	unsigned char c;
	struct obj o;

	obj_open(&o, av[0], NULL, 16 << 20, NULL);
	if (fetch(o.p, off, 1, &c))
		die("offset %llu was read", (unsigned long long)off);
	if (bad != o.p + (off & ~4095ull) && bad != o.p + off)
		die("SIGBUS at %p, not at offset %llu", bad,
		    (unsigned long long)off);
	if (fc_net_error_at(o.net, off, &e))
		die("no error recorded");
	printf("fail: SIGBUS at %llu: %s (errno %d, HTTP %ld)\n",
	       (unsigned long long)off, e.message, e.err, e.http_status);
	if (e.err != want || !strstr(e.message, av[3]))
		die("expected errno %d and \"%s\"", want, av[3]);
	obj_close(&o);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	if (argc == 6 && !strcmp(argv[1], "random"))
		return cmd_random(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "stall"))
		return cmd_stall(argv + 2);
	if (argc == 4 && !strcmp(argv[1], "change"))
		return cmd_change(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "fail"))
		return cmd_fail(argv + 2);
	fprintf(stderr, "usage: see net_check.c\n");
	return 2;
}
