/* SPDX-License-Identifier: MIT */
/*
 * test_syscalls: mapped pointers handed to system calls. The kernel faults
 * on them itself (not the application), which userfaultfd sees only in
 * the default (privileged or /dev/userfaultfd) mode. Where it cannot
 * (FC_STATS_USER_MODE_ONLY: FC_CONFIG_INLINE here; unprivileged in
 * test_unpriv), a page not cached yet fails with EFAULT, as documented,
 * and works once the application has touched it, and after that even
 * when the mapping no longer maps it (the kernel maps cached pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <faultcache.h>

#include "helpers.h"

#define SIZE (8 * 1024 * 1024 + 100)

/* The documented limit of user-mode-only faults, and the way round it. */
static void user_mode_only(struct th_fx *f)
{
	unsigned char *ref = f->ref, *p = f->p;
	unsigned char buf[4096];
	int pfd[2];
	size_t i;

	assert_int_equal(pipe(pfd), 0);
	errno = 0;
	assert_int_equal(write(pfd[1], p + 5 * 4096, 100), -1);
	assert_int_equal(errno, EFAULT);
	/* touched first, or WILLNEED and touched: the syscall works */
	assert_int_equal(p[5 * 4096], ref[5 * 4096]);
	assert_int_equal(write(pfd[1], p + 5 * 4096, 100), 100);
	assert_int_equal(read(pfd[0], buf, 100), 100);
	assert_memory_equal(buf, ref + 5 * 4096, 100);
	for (i = 0; i < 4096; i += 64)	/* nothing read wrong on the way */
		assert_int_equal(p[9 * 4096 + i], ref[9 * 4096 + i]);
	assert_int_equal(write(pfd[1], p + 9 * 4096, 4096), 4096);
	assert_int_equal(read(pfd[0], buf, 4096), 4096);
	assert_memory_equal(buf, ref + 9 * 4096, 4096);
	assert_memory_equal(p, ref, SIZE);
	/* cached, not mapped any more: the kernel maps it for itself */
	if (th_zero_copy(f->c)) {
		assert_int_equal(fc_advise(p, SIZE, FC_ADVICE_DONTNEED), 0);
		assert_int_equal(write(pfd[1], p + 5 * 4096, 100), 100);
		assert_int_equal(read(pfd[0], buf, 100), 100);
		assert_memory_equal(buf, ref + 5 * 4096, 100);
	}
	close(pfd[0]);
	close(pfd[1]);
	th_fx_free(f);
}

static void write_from_mapping(void **state)
{
	struct th_fx *f = th_fx_new(SIZE, 31, 0, true);
	unsigned char *ref = f->ref, *p = f->p, *back;
	char out[300];
	struct fc_stats st;
	int ofd, pfd[2];
	unsigned char buf[4096];
	ssize_t n;

	(void)state;
	assert_non_null(p);
	fc_cache_stats(f->c, &st);
	if (st.flags & FC_STATS_USER_MODE_ONLY) {
		user_mode_only(f);
		return;
	}
	/* cold pages straight into a pipe */
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], p + 3 * 4096 + 7, 3000), 3000);
	assert_int_equal(read(pfd[0], buf, 3000), 3000);
	assert_memory_equal(buf, ref + 3 * 4096 + 7, 3000);
	/* the whole file, cold, into another file with one write */
	snprintf(out, sizeof(out), "%s.out", f->path);
	ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(ofd >= 0);
	assert_int_equal(fc_advise(p, SIZE, FC_ADVICE_DONTNEED), 0);
	n = write(ofd, p, SIZE);
	assert_int_equal(n, SIZE);
	back = th_read_all(ofd, SIZE);
	assert_memory_equal(back, ref, SIZE);
	/* writev gathering from two places */
	{
		struct iovec iov[2] = { { p + SIZE - 50, 50 }, { p + 1, 10 } };

		assert_int_equal(writev(pfd[1], iov, 2), 60);
		assert_int_equal(read(pfd[0], buf, 60), 60);
		assert_memory_equal(buf, ref + SIZE - 50, 50);
		assert_memory_equal(buf + 50, ref + 1, 10);
	}
	free(back);
	close(ofd);
	unlink(out);
	close(pfd[0]);
	close(pfd[1]);
	th_fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_from_mapping),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
