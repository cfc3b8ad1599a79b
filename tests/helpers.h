/* SPDX-License-Identifier: MIT */
/* helpers.h - shared test helpers: files, comparison, signals, /proc. */
#ifndef FC_TEST_HELPERS_H
#define FC_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#define FC_SKIP 77	/* CTest SKIP_RETURN_CODE */

struct fc_cache;
struct fc_config;

/* Create a file of @size random bytes (seeded) in the test directory. */
int th_make_file(char *path, size_t pathlen, off_t size, unsigned seed);
/* The same in directory @dir. */
int th_make_file_in(const char *dir, char *path, size_t pathlen, off_t size,
		    unsigned seed);
/* The file's bytes, read with pread (malloc'd). */
unsigned char *th_read_all(int fd, off_t size);
/* Directory for test files: $FC_TEST_DIR or /var/tmp, world-readable. */
const char *th_dir(void);
/*
 * May this test change machine-wide settings (/sys, /proc/sys, cgroups,
 * drop_caches)? Only when the runner asked, with FC_TEST_SYSTEM=1 (CI
 * does): a user's test run leaves the machine as it found it. A test
 * calls it where it would change one, and runs that part only when true;
 * otherwise it prints @what, "needs FC_TEST_SYSTEM=1", and skips it.
 */
bool th_system_tests(const char *what);
/*
 * shmem transparent huge pages, the machine-wide setting
 * (/sys/kernel/mm/transparent_hugepage/shmem_enabled). th_thp_get puts the
 * word in [brackets] in @out: false if the kernel has no such setting.
 * th_thp_set writes one (root, and th_system_tests() only). th_thp_lock
 * takes the lock that keeps the tests that change it (test_thp, fcsoak
 * --toggle-thp, in this suite or another one on the machine) from running
 * at once, for the life of the process: an flock on the setting's own
 * file, so nothing is left behind. The fd, or -1 with errno set. A CTest
 * fixture (thp_setting.sh) puts the setting back after them even if one
 * was killed.
 */
bool th_thp_get(char *out, size_t len);
bool th_thp_set(const char *val);
int th_thp_lock(void);
/*
 * Exit with FC_SKIP and the reason if the kernel or this process's
 * privileges lack what a cache needs (fc_cache_create fails with EPERM or
 * ENOSYS); exit 1 on any other failure, which is a bug, not a skip. Call
 * at the start of every integration test.
 */
void th_require_uffd(void);

/*
 * fc_config_init(), then FC_CONFIG_COPY when $FC_COPY is set and
 * FC_CONFIG_INLINE when $FC_INLINE is (as the library does for the default
 * cache): CTest runs the data-path tests once per resolution mode. In
 * inline mode it also installs the helpers' SIGBUS handler, which passes
 * inline faults to fc_handle_sigbus().
 */
void th_config_init(struct fc_config *cfg);
/* Assert that @c (NULL: the default cache) is in the mode the env asks. */
void th_check_mode(struct fc_cache *c);
/* Does @c map the store's pages (not FC_CONFIG_COPY)? */
bool th_zero_copy(struct fc_cache *c);
/* A cache with th_config_init()'s configuration (NULL on failure). */
struct fc_cache *th_cache_create(void);

/*
 * The fixture most tests start from: a file of @size random bytes (seed
 * @seed) in the test directory, its bytes read with pread, a cache (budget
 * @budget, 0 = default) and, when @map, the whole file mapped in it.
 * Asserts on failure. th_fx_free undoes all of it, file included.
 */
struct th_fx {
	char path[256];
	int fd;
	off_t size;
	unsigned char *ref;
	struct fc_cache *c;
	unsigned char *p;
};

struct th_fx *th_fx_new(off_t size, unsigned seed, size_t budget, bool map);
/* Its file part only: no cache (c NULL, p NULL), for tests that make their
 * own; th_fx_free frees whatever the fixture holds. */
struct th_fx *th_fx_file(off_t size, unsigned seed);
/* The same in directory @dir. */
struct th_fx *th_fx_file_in(const char *dir, off_t size, unsigned seed);
void th_fx_free(struct th_fx *f);

/* Touch one byte; returns the signal (SIGBUS/SIGSEGV) it raised, or 0. */
int th_touch(const volatile unsigned char *p, unsigned char *out);
/* memcpy @len bytes from @src; returns the signal it raised, or 0. */
int th_copy(void *dst, const void *src, size_t len);
/* @len bytes at @p show @f's file from @off (read with th_copy). */
void th_check_bytes(const unsigned char *p, const struct th_fx *f, off_t off,
		    size_t len);
/*
 * A view of @f's pages [0, 8) was moved with mremap onto pages 8-15 of
 * view @q, of pages [16, 40): each of the three parts shows its own
 * pages, then each is unmapped by its pointer.
 */
void th_moved_over_check(const struct th_fx *f, unsigned char *q);
/* si_addr of the last signal caught by th_touch on this thread. */
void *th_last_fault_addr(void);

/* Pages @c read so far, once no read is in flight (at most 5 s). */
uint64_t th_pages_read_settled(struct fc_cache *c);
/* Bytes of the library's memfd store in use (from /proc/self/fd). */
uint64_t th_store_bytes(void);
/* A field of /proc/self/status in KiB (e.g. "RssAnon:"). */
long th_status_kb(const char *field);
/* Number of open descriptors of this process. */
int th_count_fds(void);
/* Of them, those whose /proc/self/fd link reads @link ("anon_inode:inotify"). */
int th_count_fds_of(const char *link);
/*
 * Number of threads of this process (/proc/self/task), but io_uring's
 * workers: the kernel starts them for a ring's blocking reads, on behalf
 * of the thread that submitted, and ends them on its own schedule (idle
 * ones after some seconds, the last with that thread).
 */
int th_count_threads(void);
/* The id of a thread of this process named @comm, or -1. */
pid_t th_thread_named(const char *comm);

/* xorshift PRNG for reproducible random offsets. */
static inline uint64_t th_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
