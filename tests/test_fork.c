/* SPDX-License-Identifier: MIT */
/*
 * test_fork: after fork() the child never reads silent zeros from a
 * mapping. The library's choice: mappings are MADV_DONTFORK, so the child
 * has nothing at those addresses and a touch faults (SIGSEGV) cleanly,
 * whether the parent had the page populated or not. The parent is
 * unaffected, and an exec'd program inherits none of the library's
 * descriptors.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define SIZE (2 * 1024 * 1024)

static void child_faults_cleanly(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 21, 0, true);
	unsigned char *ref = f->ref, *p = f->p;
	int status, i;
	pid_t pid;

	(void)state;
	assert_non_null(p);
	assert_int_equal(fc_advise(p, SIZE, FC_ADVICE_RANDOM), 0);
	assert_int_equal(p[0], ref[0]);	/* populated in the parent */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const size_t offs[] = { 0, SIZE / 2, SIZE - 1 };
		unsigned char v;
		int bad = 0;

		for (i = 0; i < 3; i++) {
			int sig = th_touch(p + offs[i], &v);

			/* either the file's byte or a clean fault, never 0s */
			if (sig == 0 && v != ref[offs[i]])
				bad = 1;
			if (sig != 0 && sig != SIGSEGV)
				bad = 2;
		}
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent goes on as before */
	assert_memory_equal(p, ref, SIZE);
	th_fx_free(f);
}

static void exec_inherits_nothing(void **state)
{
	struct th_fx *fx = th_fx_new(SIZE, 22, 0, true);
	unsigned char *p = fx->p;
	char line[512];
	int own = 0;
	FILE *f;

	(void)state;
	assert_non_null(p);
	assert_int_not_equal(p[100] + 1, 0);	/* handlers busy, reads done */
	f = popen("ls -l /proc/self/fd/", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		assert_null(strstr(line, "faultcache"));
		assert_null(strstr(line, "userfaultfd"));
		assert_null(strstr(line, "io_uring"));
		assert_null(strstr(line, "eventfd"));
		assert_null(strstr(line, "inotify"));
		if (strstr(line, fx->path))
			own++;
	}
	pclose(f);
	assert_int_equal(own, 1);	/* only the test's own descriptor */
	th_fx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(child_faults_cleanly),
		cmocka_unit_test(exec_inherits_nothing),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
