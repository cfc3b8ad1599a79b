/* SPDX-License-Identifier: MIT */
/*
 * test_dlclose: the library loaded with dlopen, used with an inline cache
 * (which installs the library's SIGBUS handler), then unloaded with
 * dlclose. Its handler must be gone with it: the one it replaced is back,
 * and a SIGBUS after the unload reaches it (a handler left pointing into
 * the unmapped library would crash the process instead). Not linked with
 * the library: it is loaded from FC_LIB_PATH only.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <faultcache.h>

#define FC_SKIP 77
#define PG 4096
#define SIZE (64 * PG)

static sigjmp_buf jb;
static volatile sig_atomic_t prev_calls;

static void prev_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	prev_calls++;
	siglongjmp(jb, 1);
}

/* Is a library named @name mapped in this process? */
static int mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* A file of @size bytes in $FC_TEST_DIR, unlinked; its descriptor. */
static int temp_file(size_t size, unsigned char *ref)
{
	const char *d = getenv("FC_TEST_DIR");
	char path[256];
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/fcdl.XXXXXX", d && *d ? d : "/var/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	for (i = 0; i < size; i++)
		ref[i] = (unsigned char)(i * 31 + i / PG);
	if (pwrite(fd, ref, size, 0) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	return fd;
}

#define SYM(h, name) ((__typeof__(&name))dlsym(h, #name))

static int child(void)
{
	static unsigned char ref[SIZE];
	struct sigaction sa, cur;
	struct fc_config cfg;
	struct fc_cache *c;
	volatile unsigned char *p;
	unsigned char *q;
	void *h;
	int fd = temp_file(SIZE, ref);

	if (fd < 0)
		return 10;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = prev_handler;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGBUS, &sa, NULL))
		return 11;
	h = dlopen(FC_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 12;
	}
	SYM(h, fc_config_init)(&cfg);
	cfg.flags |= FC_CONFIG_INLINE;
	c = SYM(h, fc_cache_create)(&cfg);
	if (!c)
		return errno == EPERM || errno == ENOSYS ? FC_SKIP : 13;
	p = SYM(h, fc_map)(c, fd, 0, 0, 0);
	if (!p)
		return 14;
	if (memcmp((const void *)p, ref, SIZE))	/* inline faults */
		return 15;
	if (sigaction(SIGBUS, NULL, &cur) || cur.sa_sigaction == prev_handler)
		return 16;	/* the library's is installed */
	if (SYM(h, fc_unmap)((void *)p))
		return 17;
	SYM(h, fc_cache_destroy)(c);
	if (dlclose(h))
		return 18;
	if (mapped("libfaultcache"))
		return 23;	/* not unloaded: nothing would be checked */
	if (sigaction(SIGBUS, NULL, &cur) || cur.sa_sigaction != prev_handler ||
	    !(cur.sa_flags & SA_SIGINFO))
		return 19;	/* not the one it replaced */
	/* a real SIGBUS: a page past the end of a file mapped by the kernel */
	q = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
	if (q == MAP_FAILED || ftruncate(fd, PG))
		return 20;
	if (!sigsetjmp(jb, 1)) {
		(void)*(volatile unsigned char *)(q + PG);
		return 21;
	}
	if (prev_calls != 1)
		return 22;
	munmap(q, 2 * PG);
	close(fd);
	return 0;
}

static void dlclose_restores_handler(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("the child died of signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == FC_SKIP)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dlclose_restores_handler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
