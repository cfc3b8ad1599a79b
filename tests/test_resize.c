/* SPDX-License-Identifier: MIT */
/*
 * test_resize: the file changes while mapped, or between mappings.
 * While mapped: it changes size. Pages past a new end
 * give SIGBUS (after the library hears of it: inotify, or the next fault
 * past the end); the bytes before it stay the file's; the partial last
 * page reads zeros past the end; growth becomes visible on the next touch.
 * Readers running through a truncation see the file's bytes or SIGBUS,
 * never anything else. Between mappings: the cached pages of a file
 * whose last mapping went are kept and used by the next mapping, unless
 * the file changed since (then they are dropped: a write that keeps the
 * size must not leave old bytes), and at most 32 such files are kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define PG 4096
#define SIZE (1024 * 1024)

/* Wait up to 2 s for touching @p to give @want (0 or SIGBUS). */
static int settle(const unsigned char *p, int want)
{
	int i, sig = -1;

	for (i = 0; i < 200; i++) {
		sig = th_touch(p, NULL);
		if (sig == want)
			break;
		usleep(10000);
	}
	return sig;
}

static void shrink_then_grow(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 81, 0, false);
	size_t len = 2 * SIZE, cut = 600 * 1024 + 100, i;
	unsigned char *p, *grown;

	(void)state;
	p = fc_map(f->c, f->fd, 0, len, 0);	/* past EOF, as mmap allows */
	assert_non_null(p);
	assert_memory_equal(p, f->ref, SIZE);
	assert_int_equal(th_touch(p + SIZE + PG, NULL), SIGBUS);

	/* shrink: the cached pages past the new end go */
	assert_int_equal(ftruncate(f->fd, (off_t)cut), 0);
	assert_int_equal(settle(p + 700 * 1024, SIGBUS), SIGBUS);
	assert_int_equal(th_touch(p + SIZE - 1, NULL), SIGBUS);
	assert_memory_equal(p, f->ref, cut);
	for (i = cut; i < (cut + PG - 1) / PG * PG; i++)	/* partial page */
		assert_int_equal(p[i], 0);

	/* grow with new data: seen on the next touch, markers cleared */
	grown = malloc(SIZE + SIZE / 2);
	memcpy(grown, f->ref, cut);
	for (i = cut; i < SIZE + SIZE / 2; i++)
		grown[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(pwrite(f->fd, grown + cut, SIZE + SIZE / 2 - cut,
				(off_t)cut),
			 (ssize_t)(SIZE + SIZE / 2 - cut));
	assert_int_equal(settle(p + SIZE + PG, 0), 0);
	assert_memory_equal(p, grown, SIZE + SIZE / 2);
	assert_int_equal(th_touch(p + SIZE + SIZE / 2 + PG, NULL), SIGBUS);
	assert_int_equal(fc_unmap(p), 0);
	free(grown);
	th_fx_free(f);
}

/* A new fc_map of a file that changed since it was cached sees the change. */
static void remap_sees_new_size(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 82, 0, true);
	unsigned char *p;

	(void)state;
	assert_memory_equal(f->p, f->ref, SIZE);
	assert_int_equal(ftruncate(f->fd, SIZE / 2), 0);
	p = fc_map(f->c, f->fd, 0, 0, 0);
	assert_non_null(p);
	assert_memory_equal(p, f->ref, SIZE / 2);
	/* the old mapping of the same file sees the new end as well */
	assert_int_equal(settle(f->p + SIZE / 2, SIGBUS), SIGBUS);
	assert_int_equal(fc_unmap(p), 0);
	th_fx_free(f);
}

/* A file mapped again after its last mapping went reads nothing again. */
static void remap_reuses_cached_pages(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 83, 0, true);
	unsigned char *p;
	struct fc_stats st;
	uint64_t r0;

	(void)state;
	assert_memory_equal(f->p, f->ref, SIZE);
	assert_int_equal(fc_unmap(f->p), 0);
	f->p = NULL;
	r0 = th_pages_read_settled(f->c);
	fc_cache_stats(f->c, &st);
	assert_int_equal(st.mappings, 0);
	assert_true(st.resident_bytes >= SIZE);
	p = fc_map(f->c, f->fd, 0, 0, 0);
	assert_non_null(p);
	assert_memory_equal(p, f->ref, SIZE);
	assert_int_equal(th_pages_read_settled(f->c), r0);
	assert_int_equal(fc_unmap(p), 0);
	th_fx_free(f);
}

/*
 * Written between two mappings, same size: the second mapping sees the
 * new bytes. Twice, so both ways of noticing are exercised whichever wins:
 * the inotify event (drained by fc_map) and mtime/ctime (multigrain
 * timestamps make a write after a stat change them).
 */
static void remap_after_write_sees_it(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 84, 0, true);
	unsigned char *p = f->p;
	int round;
	size_t i;

	(void)state;
	for (round = 0; round < 2; round++) {
		assert_memory_equal(p, f->ref, SIZE);
		assert_int_equal(fc_unmap(p), 0);
		f->p = NULL;
		for (i = (size_t)round * PG; i < SIZE; i += 16 * PG)
			f->ref[i + 7] ^= 0x5a;
		assert_int_equal(pwrite(f->fd, f->ref, SIZE, 0), SIZE);
		p = fc_map(f->c, f->fd, 0, 0, 0);
		assert_non_null(p);
		f->p = p;
	}
	assert_memory_equal(p, f->ref, SIZE);
	th_fx_free(f);
}

/*
 * Unmapped files kept with their pages are bounded (each holds two
 * descriptors): 40 files mapped and unmapped in turn keep at most 32, the
 * first ones read again correctly, and destroy closes everything.
 */
static void retained_files_bounded(void **state)
{
	enum { NF = 40, FS = 64 * 1024 };
	char path[NF][256];
	unsigned char *ref[NF], *p;
	int fd[NF], i, fds0 = th_count_fds(), fds1;
	struct fc_cache *c = th_cache_create();

	(void)state;
	assert_non_null(c);
	fds1 = th_count_fds();
	for (i = 0; i < NF; i++) {
		fd[i] = th_make_file(path[i], sizeof(path[i]), FS,
				     100 + (unsigned)i);
		ref[i] = th_read_all(fd[i], FS);
		p = fc_map(c, fd[i], 0, 0, 0);
		assert_non_null(p);
		assert_memory_equal(p, ref[i], FS);
		assert_int_equal(fc_unmap(p), 0);
	}
	/*
	 * ours: the 40 test descriptors, at most 2 x 32 of the cache once
	 * nothing else holds a file (a file is kept or freed when its last
	 * reference goes: a read in flight may hold one)
	 */
	th_pages_read_settled(c);
	for (i = 0; i < 100 && th_count_fds() > fds1 + NF + 2 * 32; i++)
		usleep(10000);
	assert_true(th_count_fds() <= fds1 + NF + 2 * 32);
	assert_true(th_count_fds() >= fds1 + NF + 2);
	for (i = 0; i < NF; i++) {
		p = fc_map(c, fd[i], 0, 0, 0);
		assert_non_null(p);
		assert_memory_equal(p, ref[i], FS);
		assert_int_equal(fc_unmap(p), 0);
	}
	fc_cache_destroy(c);
	for (i = 0; i < NF; i++) {
		close(fd[i]);
		unlink(path[i]);
		free(ref[i]);
	}
	assert_int_equal(th_count_fds(), fds0);
}

static struct {
	unsigned char *p, *ref;
	atomic_size_t floor;	/* the file never gets shorter than this */
	atomic_int stop, bad;
} g;

static void *reader(void *arg)
{
	uint64_t s = 9 + (uintptr_t)arg;

	while (!g.stop) {
		size_t off = th_rand(&s) % SIZE;
		unsigned char v;
		int sig = th_touch(g.p + off, &v);

		if (sig == SIGBUS && off >= g.floor)
			continue;
		if (sig || (v != g.ref[off] && v != 0))
			g.bad++;
	}
	return NULL;
}

/* Truncate and restore while 3 threads read: bytes or SIGBUS, never junk. */
static void truncate_under_readers(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 83, 0, true);
	pthread_t t[3];
	int i;

	(void)state;
	g.p = f->p;
	g.ref = f->ref;
	g.floor = SIZE / 4;
	g.stop = 0;
	g.bad = 0;
	for (i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)i);
	for (i = 0; i < 20; i++) {
		assert_int_equal(ftruncate(f->fd, SIZE / 4 + i * PG), 0);
		usleep(20000);
		assert_int_equal(pwrite(f->fd, f->ref + SIZE / 4 + i * PG,
					SIZE - SIZE / 4 - i * PG,
					SIZE / 4 + i * PG),
				 SIZE - SIZE / 4 - i * PG);
		usleep(20000);
	}
	g.stop = 1;
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(g.bad, 0);
	/* restored: everything reads back (after the last change is seen) */
	assert_int_equal(settle(f->p + SIZE - 1, 0), 0);
	assert_memory_equal(f->p, f->ref, SIZE);
	th_fx_free(f);
}

/*
 * A log rotated in place: one thread truncates the file to a random size
 * and writes the same bytes back, over and over, while 8 threads read
 * random ranges of a long-lived mapping. Each cycle goes through three
 * states (rot.gen % 3): 1 cut short, 2 whole again, 0 whole and known to
 * the library (an fc_map of the file since, which looks at it: fc_map(3)).
 * A read made wholly in state 0 must give the file's bytes, without
 * SIGBUS. In state 2 the library may not have heard of the extension yet
 * (the inotify event is read asynchronously): SIGBUS past the old end
 * and zeros past it in its last page are counted, not failed. Never junk
 * (a byte neither the file's nor zero), nobody hangs, and once the file
 * stays whole every byte reads back.
 */
#define ROT_SIZE (8 * 1024 * 1024)
#define ROT_READERS 8

static struct {
	unsigned char *p, *ref;
	atomic_uint gen;	/* % 3: 1 short, 2 whole, 0 whole and known */
	atomic_int stop, zeros, junk, late_zeros;
	atomic_ullong reads, sigs, strict_sigs, late_sigs;
} rot;

static void *rot_reader(void *arg)
{
	uint64_t s = 91 + (uintptr_t)arg;
	unsigned char *buf = malloc(64 * 1024);
	size_t i;

	while (buf && !rot.stop) {
		size_t off = th_rand(&s) % ROT_SIZE;
		size_t len = 1 + th_rand(&s) % (64 * 1024);
		unsigned g1, g2;
		bool strict, late;
		int sig;

		if (len > ROT_SIZE - off)
			len = ROT_SIZE - off;
		g1 = atomic_load(&rot.gen);
		sig = th_copy(buf, rot.p + off, len);
		g2 = atomic_load(&rot.gen);
		strict = g1 == g2 && g1 % 3 == 0;
		late = g1 == g2 && g1 % 3 == 2;
		rot.reads++;
		if (sig) {
			rot.sigs++;
			rot.strict_sigs += strict;
			rot.late_sigs += late;
			if (sig != SIGBUS)
				rot.junk++;
			continue;
		}
		for (i = 0; i < len; i++) {
			if (buf[i] == rot.ref[off + i])
				continue;
			if (buf[i])
				rot.junk++;	/* no file's byte, ever */
			else if (strict)
				rot.zeros++;	/* silent zeros */
			else if (late)
				rot.late_zeros++;
		}
	}
	free(buf);
	return NULL;
}

static double rot_seconds(void)
{
	const char *e = getenv("FC_TEST_ROTATE_SECONDS");

	return e ? atof(e) : 5;
}

/*
 * The mapping of @f still differs from the file after the rotation ended:
 * say how (a signal, and where; or which bytes), so that a failure on a
 * loaded machine tells what the library held.
 */
static void rot_report(const struct th_fx *f, const unsigned char *buf,
		       int sig)
{
	size_t i, first = ROT_SIZE, differ = 0, zero = 0;
	struct stat st;

	assert_int_equal(fstat(f->fd, &st), 0);
	if (sig) {
		printf("rotate: still signal %d at offset %td (file %lld "
		       "bytes)\n", sig,
		       (unsigned char *)th_last_fault_addr() - f->p,
		       (long long)st.st_size);
		return;
	}
	for (i = 0; i < ROT_SIZE; i++) {
		if (buf[i] == f->ref[i])
			continue;
		if (first == ROT_SIZE)
			first = i;
		differ++;
		zero += !buf[i];
	}
	printf("rotate: still %zu bytes differ (%zu zero), the first at "
	       "offset %zu (page %zu + %zu), file %lld bytes\n", differ, zero,
	       first, first / PG, first % PG, (long long)st.st_size);
}

static void rotate_in_place(void **state)
{
	struct th_fx *f = th_fx_new(ROT_SIZE, 86, 0, true);
	struct fc_stats st;
	int wfd = open(f->path, O_WRONLY);
	pthread_t t[ROT_READERS];
	uint64_t s = 5, cycles = 0;
	double end;
	int i;

	(void)state;
	assert_true(wfd >= 0);
	memset(&rot, 0, sizeof(rot));
	rot.p = f->p;
	rot.ref = f->ref;
	for (i = 0; i < ROT_READERS; i++)
		pthread_create(&t[i], NULL, rot_reader, (void *)(uintptr_t)i);
	end = (double)time(NULL) + rot_seconds();
	while ((double)time(NULL) < end) {
		size_t cut = th_rand(&s) % ROT_SIZE;
		unsigned char *q;

		rot.gen++;	/* 1: short */
		assert_int_equal(ftruncate(wfd, (off_t)cut), 0);
		usleep((useconds_t)(th_rand(&s) % 2000));
		assert_int_equal(pwrite(wfd, f->ref + cut, ROT_SIZE - cut,
					(off_t)cut), (ssize_t)(ROT_SIZE - cut));
		rot.gen++;	/* 2: whole */
		usleep((useconds_t)(th_rand(&s) % 1000));
		q = fc_map(f->c, f->fd, 0, PG, 0);
		assert_non_null(q);
		assert_int_equal(fc_unmap(q), 0);
		rot.gen++;	/* 0: whole, and the library knows */
		usleep((useconds_t)(th_rand(&s) % 2000));
		cycles++;
	}
	rot.stop = 1;
	for (i = 0; i < ROT_READERS; i++)
		pthread_join(t[i], NULL);
	printf("rotate: %llu cycles, %llu reads, %llu SIGBUS (%llu while "
	       "whole and known, %llu before known), zero bytes: %d while "
	       "whole and known, %d before; %d junk\n",
	       (unsigned long long)cycles, (unsigned long long)rot.reads,
	       (unsigned long long)rot.sigs,
	       (unsigned long long)rot.strict_sigs,
	       (unsigned long long)rot.late_sigs, rot.zeros, rot.late_zeros,
	       rot.junk);
	assert_int_equal(rot.zeros, 0);
	assert_int_equal(rot.strict_sigs, 0);
	assert_int_equal(rot.junk, 0);
	assert_true(rot.reads > 0);
	/* a read the rotation cut short is no I/O error: it is read again */
	assert_int_equal(fc_cache_stats(f->c, &st), 0);
	printf("rotate: io_errors %llu\n", (unsigned long long)st.io_errors);
	assert_int_equal(st.io_errors, 0);
	/* whole from now on: every byte reads back once that is seen */
	{
		unsigned char *buf = malloc(ROT_SIZE);
		int sig = -1, same = 0;

		assert_non_null(buf);
		for (i = 0; i < 2000; i++) {
			sig = th_copy(buf, f->p, ROT_SIZE);
			same = !sig && !memcmp(buf, f->ref, ROT_SIZE);
			if (same)
				break;
			usleep(10000);
		}
		if (!same)
			rot_report(f, buf, sig);
		free(buf);
		assert_true(same);
	}
	close(wfd);
	th_fx_free(f);
}

/* Wait up to 20 s for @len bytes at @p to read as @want. */
static bool settle_bytes(const unsigned char *p, const unsigned char *want,
			 size_t len)
{
	unsigned char *buf = malloc(len);
	bool same = false;
	int i;

	assert_non_null(buf);
	for (i = 0; i < 2000 && !same; i++) {
		same = !th_copy(buf, p, len) && !memcmp(buf, want, len);
		if (!same)
			usleep(10000);
	}
	free(buf);
	return same;
}

/*
 * Rewritten as cp, shell redirection and editors do: open with O_TRUNC,
 * then write new contents of the same length. The mapping shows the new
 * bytes, as pread and the kernel's own mmap do, once the library has
 * seen the change: its inotify event (waited for), or at once after an
 * fc_map of the file (which looks at it). A size compared alone missed
 * it when both changes came before the event was read.
 */
static void rewrite_same_length(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 87, 0, true);
	unsigned char *neu = malloc(SIZE), *kp, *q;
	int round, wfd;
	size_t i;

	(void)state;
	assert_non_null(neu);
	for (round = 0; round < 2; round++) {
		assert_memory_equal(f->p, f->ref, SIZE);	/* cached */
		for (i = 0; i < SIZE; i++)
			neu[i] = (unsigned char)(f->ref[i] ^ (0x5a + round));
		wfd = open(f->path, O_WRONLY | O_TRUNC);
		assert_true(wfd >= 0);
		assert_int_equal(write(wfd, neu, SIZE), SIZE);
		close(wfd);
		kp = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, f->fd, 0);
		assert_true(kp != MAP_FAILED);
		assert_memory_equal(kp, neu, SIZE);	/* the kernel's */
		munmap(kp, SIZE);
		if (round == 0) {
			assert_true(settle_bytes(f->p, neu, SIZE));
		} else {
			q = fc_map(f->c, f->fd, 0, PG, 0);
			assert_non_null(q);
			assert_memory_equal(f->p, neu, SIZE);
			assert_memory_equal(q, neu, PG);
			assert_int_equal(fc_unmap(q), 0);
		}
		memcpy(f->ref, neu, SIZE);
	}
	free(neu);
	th_fx_free(f);
}

/*
 * Appending to a mapped file (the mapping reaches past EOF, as mmap
 * allows). The pages wholly past the old end read the new bytes at the
 * next touch: a fault there looks at the size. That look also drops the
 * old last page, which the kernel maps without a fault: its new bytes
 * read right from then on, as they do once the inotify event is read or
 * after an fc_map of the file. A page past the old end touched before
 * the append (SIGBUS) keeps raising SIGBUS until the library has seen
 * the growth: after an fc_map, it reads the new bytes.
 */
static void append_seen(void **state)
{
	size_t old = SIZE / 2 + 100, add = 3 * PG + 7, end = old + add, i;
	struct th_fx *f = th_fx_new((off_t)old, 88, 0, false);
	unsigned char *p, *q, *neu = malloc(2 * add);
	int wfd = open(f->path, O_WRONLY | O_APPEND);

	(void)state;
	assert_non_null(neu);
	assert_true(wfd >= 0);
	for (i = 0; i < 2 * add; i++)
		neu[i] = (unsigned char)(i * 13 + 5);
	p = fc_map(f->c, f->fd, 0, SIZE, 0);
	assert_non_null(p);
	assert_memory_equal(p, f->ref, old);	/* the last page cached too */
	assert_int_equal(write(wfd, neu, add), (ssize_t)add);
	/* the first page wholly past the old end, then all of it */
	assert_memory_equal(p + (old + PG - 1) / PG * PG,
			    neu + ((old + PG - 1) / PG * PG - old),
			    end - (old + PG - 1) / PG * PG);
	assert_memory_equal(p + old, neu, add);
	assert_memory_equal(p, f->ref, old);
	assert_int_equal(th_touch(p + (end + PG - 1) / PG * PG, NULL), SIGBUS);
	/* a page past the end touched before: seen after an fc_map */
	assert_int_equal(write(wfd, neu + add, add), (ssize_t)add);
	q = fc_map(f->c, f->fd, 0, PG, 0);
	assert_non_null(q);
	assert_memory_equal(p + end, neu + add, add);
	assert_int_equal(fc_unmap(q), 0);
	assert_int_equal(fc_unmap(p), 0);
	close(wfd);
	free(neu);
	th_fx_free(f);
}

/* Wait up to 20 s for touching @p to give @want (0 or SIGBUS). */
static int settle_long(const unsigned char *p, int want)
{
	int i, sig = -1;

	for (i = 0; i < 2000; i++) {
		sig = th_touch(p, NULL);
		if (sig == want)
			break;
		usleep(10000);
	}
	return sig;
}

/*
 * Many files of one cache change at once: each is looked at again (the
 * library once dropped all but 64 of the changes it read in one go).
 */
static void many_files_change_at_once(void **state)
{
	enum { NF = 100, FS = 16 * PG };
	struct th_fx *fx[NF];
	unsigned char *p[NF];
	struct fc_cache *c = th_cache_create();
	int i;

	(void)state;
	assert_non_null(c);
	for (i = 0; i < NF; i++) {
		fx[i] = th_fx_file(FS, 300 + (unsigned)i);
		p[i] = fc_map(c, fx[i]->fd, 0, 0, 0);
		assert_non_null(p[i]);
		assert_memory_equal(p[i], fx[i]->ref, FS);	/* all cached */
	}
	for (i = 0; i < NF; i++)
		assert_int_equal(ftruncate(fx[i]->fd, FS / 2), 0);
	for (i = 0; i < NF; i++) {
		assert_int_equal(settle_long(p[i] + FS - PG, SIGBUS), SIGBUS);
		assert_memory_equal(p[i], fx[i]->ref, FS / 2);
		assert_int_equal(fc_unmap(p[i]), 0);
	}
	fc_cache_destroy(c);
	for (i = 0; i < NF; i++)
		th_fx_free(fx[i]);
}

/* The user's limit of inotify instances (fs.inotify.max_user_instances). */
static long inotify_limit(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_instances", "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * The caches of a process share one inotify instance: with more caches
 * than the user may have instances, the last one still sees a file
 * shrink (one instance per cache: from cache 129 on, never).
 */
static void caches_share_one_inotify(void **state)
{
	enum { MAXC = 600 };
	long limit = inotify_limit();
	int n = limit > 0 && limit + 2 <= MAXC ? (int)limit + 2 : 8, i;
	int inst0 = th_count_fds_of("anon_inode:inotify");
	struct fc_cache **c = calloc((size_t)n, sizeof(*c));
	struct th_fx *f = th_fx_file(SIZE, 85);
	struct fc_config cfg;
	struct rlimit rl;
	unsigned char *p;

	(void)state;
	assert_non_null(c);
	/* a cache holds a handful of descriptors */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < (rlim_t)n * 16 && rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n * 16 ? rl.rlim_max
							  : (rlim_t)n * 16;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	th_config_init(&cfg);
	cfg.cache_bytes = 1 << 20;
	cfg.handler_threads = 1;
	for (i = 0; i < n; i++) {
		c[i] = fc_cache_create(&cfg);
		if (!c[i] && errno == EMFILE && i > 8) {
			printf("SKIP part: %d caches exceed RLIMIT_NOFILE; "
			       "checked %d\n", n, i);
			n = i;
			break;
		}
		assert_non_null(c[i]);
	}
	assert_int_equal(th_count_fds_of("anon_inode:inotify"), inst0 + 1);
	p = fc_map(c[n - 1], f->fd, 0, 0, 0);
	assert_non_null(p);
	assert_memory_equal(p, f->ref, SIZE);
	assert_int_equal(ftruncate(f->fd, SIZE / 2), 0);
	assert_int_equal(settle_long(p + SIZE - PG, SIGBUS), SIGBUS);
	assert_int_equal(fc_unmap(p), 0);
	for (i = 0; i < n; i++)
		fc_cache_destroy(c[i]);
	assert_int_equal(th_count_fds_of("anon_inode:inotify"), inst0);
	free(c);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shrink_then_grow),
		cmocka_unit_test(remap_sees_new_size),
		cmocka_unit_test(remap_reuses_cached_pages),
		cmocka_unit_test(remap_after_write_sees_it),
		cmocka_unit_test(retained_files_bounded),
		cmocka_unit_test(truncate_under_readers),
		cmocka_unit_test(many_files_change_at_once),
		cmocka_unit_test(caches_share_one_inotify),
		cmocka_unit_test(rotate_in_place),
		cmocka_unit_test(rewrite_same_length),
		cmocka_unit_test(append_seen),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
