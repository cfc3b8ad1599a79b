/* SPDX-License-Identifier: MIT */
/*
 * test_checks: the structures' check function and the debug build's
 * assertions (lib/util.h).
 *
 * fc__cache_check holds on a cache in use, with pages read, evicted and
 * in the index, and says so when the page accounting is broken. In the
 * debug build (FC_DEBUG, which the ASan+UBSan suite uses) a function
 * whose context requires cache->lock, called without it, aborts with the
 * assertion's message; that case exists only in that build.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"
#include "reclaim.h"

#define PS 4096
#define SIZE (4 * 1024 * 1024)

/* A cache of 1 MiB over a 4 MiB file, read through once: evictions. */
static void check_holds(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 11, 1024 * 1024, true);
	size_t i;

	(void)state;
	for (i = 0; i < SIZE; i += PS)
		assert_int_equal(th_touch(f->p + i, NULL), 0);
	th_pages_read_settled(f->c);
	pthread_mutex_lock(&f->c->lock);
	assert_true(f->c->st.evictions > 0);
	assert_true(fc__cache_check(f->c, false));
	assert_true(fc__cache_check(f->c, true));
	pthread_mutex_unlock(&f->c->lock);
	th_fx_free(f);
}

/* A page counted in use but in no index, or never used and in use, is found. */
static void check_finds(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 12, 1024 * 1024, true);
	size_t fresh;

	(void)state;
	assert_int_equal(th_touch(f->p, NULL), 0);
	th_pages_read_settled(f->c);
	pthread_mutex_lock(&f->c->lock);
	assert_true(fc__cache_check(f->c, true));
	f->c->nr_used++;
	assert_false(fc__cache_check(f->c, false));
	f->c->nr_used--;
	fresh = f->c->nr_fresh;
	f->c->nr_fresh = f->c->max_slots + 1;
	assert_false(fc__cache_check(f->c, false));
	f->c->nr_fresh = fresh;
	f->c->nr_inflight++;
	assert_false(fc__cache_check(f->c, false));
	f->c->nr_inflight--;
	assert_true(fc__cache_check(f->c, true));
	pthread_mutex_unlock(&f->c->lock);
	th_fx_free(f);
}

#ifdef FC_DEBUG
/* In a child: fc__page_alloc without cache->lock must abort, and say so. */
static void assert_held_fires(void **state)
{
	int fds[2], status;
	char msg[512] = "";
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fc_cache *c = fc_cache_create(NULL);

		dup2(fds[1], 2);
		if (c)
			fc__page_alloc(c);	/* no lock: aborts here */
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], msg, sizeof(msg) - 1);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(n > 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(msg, "fc__page_alloc: assertion failed: "
				    "fc__mutex_owned(&c->lock)"));
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_holds),
		cmocka_unit_test(check_finds),
#ifdef FC_DEBUG
		cmocka_unit_test(assert_held_fires),
#endif
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
