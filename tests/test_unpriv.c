/* SPDX-License-Identifier: MIT */
/*
 * test_unpriv: the library without privilege (vm.unprivileged_userfaultfd
 * = 0, no access to /dev/userfaultfd). CTest runs it as `nobody` through
 * setpriv when the suite runs as root. The library falls back to a
 * user-mode-only uffd: application faults work and compare equal with
 * pread; a system call given a page that is not cached yet fails with
 * EFAULT (documented), and works once the page has been touched, and
 * then also after the mapping dropped it (the kernel maps a cached page
 * itself, for its own accesses too).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define SIZE (6 * 1024 * 1024 + 1)

/* Read only: the test changes no setting (so needs no FC_TEST_SYSTEM). */
static int read_sysctl(void)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void unprivileged(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 41, 0, true);
	unsigned char *ref = f->ref, *p = f->p;
	struct fc_stats st;
	int pfd[2];
	char buf[64];

	(void)state;
	fc_cache_stats(f->c, &st);
	assert_true(st.flags & FC_STATS_USER_MODE_ONLY);
	assert_int_equal(pipe(pfd), 0);
	/* not cached: the kernel's own access cannot be served */
	errno = 0;
	assert_int_equal(write(pfd[1], p + 4096, 10), -1);
	assert_int_equal(errno, EFAULT);
	/* after the application touched it, the syscall works */
	assert_int_equal(p[4096], ref[4096]);
	assert_int_equal(write(pfd[1], p + 4096, 10), 10);
	assert_int_equal(read(pfd[0], buf, 10), 10);
	assert_memory_equal(buf, ref + 4096, 10);
	assert_memory_equal(p, ref, SIZE);
	/* cached but no longer mapped: the kernel maps it for the syscall */
	assert_int_equal(fc_advise(p, SIZE, FC_ADVICE_DONTNEED), 0);
	fc_cache_stats(f->c, &st);
	if (st.flags & FC_STATS_ZERO_COPY) {
		assert_int_equal(write(pfd[1], p + 3 * 4096, 10), 10);
		assert_int_equal(read(pfd[0], buf, 10), 10);
		assert_memory_equal(buf, ref + 3 * 4096, 10);
	}
	close(pfd[0]);
	close(pfd[1]);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unprivileged),
	};

	if (geteuid() == 0) {
		printf("SKIP: must run unprivileged (CTest runs it as nobody)\n");
		return FC_SKIP;
	}
	if (read_sysctl() != 0)
		print_message("note: vm.unprivileged_userfaultfd=%d\n",
			      read_sysctl());
	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
