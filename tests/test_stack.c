/* SPDX-License-Identifier: MIT */
/*
 * test_stack: how much of a thread's stack an inline fault takes. The
 * SIGBUS handler resolves a fault on the faulting thread's own stack (no
 * SA_ONSTACK, see fc_handle_sigbus(3)), so beside the kernel's signal
 * frame it must stay within what that page says: about 5 KiB. A reader
 * thread, on a stack filled with a pattern first, reads a file four times
 * the budget sequentially and at random (reads, readahead, eviction and
 * sampling all run inside its faults); the deepest byte of the stack it
 * wrote, below the reader's own frame, is the measure (glibc keeps the
 * thread's descriptor and TLS at the top of a stack it is given). The
 * library is linked with -z now, so that no symbol is bound inside a
 * fault; the test's own call of fc_handle_sigbus is bound first here.
 * Sanitizers make every frame several times larger: in their builds the
 * depth is printed, not checked.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include <faultcache.h>

#include "helpers.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

#define MB (1024 * 1024)
#define BUDGET (8 * MB)
#define SIZE (4 * BUDGET)
#define STACK (1024 * 1024)	/* roomy: a sanitizer build fits too */
#define FILL 0xa5
#define LIB_ROOM (5 * 1024)	/* fc_handle_sigbus(3) */
#define OWN_ROOM 512		/* memcmp under reader() */

static struct th_fx *fx;
static int bad;
static uintptr_t start;	/* the reader's frame: the stack above is glibc's */

static void *reader(void *arg)
{
	uint64_t s = 7, off;
	int i;

	(void)arg;
	start = (uintptr_t)__builtin_frame_address(0);
	for (off = 0; off < SIZE; off += 64 * 1024)
		bad += memcmp(fx->p + off, fx->ref + off, 64 * 1024) != 0;
	for (i = 0; i < 20000; i++) {
		off = th_rand(&s) % (SIZE - 4096);
		bad += memcmp(fx->p + off, fx->ref + off, 4096) != 0;
	}
	return NULL;
}

static void inline_fault_stack_depth(void **state)
{
	unsigned char *stack;
	unsigned long frame = getauxval(AT_MINSIGSTKSZ);
	pthread_attr_t attr;
	struct fc_stats st;
	pthread_t t;
	size_t used;

	(void)state;
	fx = th_fx_new(SIZE, 91, BUDGET, true);
	th_check_mode(fx->c);
	stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(stack != MAP_FAILED);
	memset(stack, FILL, STACK);
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstack(&attr, stack, STACK), 0);
	bad = 0;
	assert_int_equal(pthread_create(&t, &attr, reader, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&attr);
	assert_int_equal(bad, 0);
	for (used = 0; used < STACK && stack[used] == FILL; used++)
		;
	used = start - (uintptr_t)(stack + used);	/* below reader() */
	assert_int_equal(fc_cache_stats(fx->c, &st), 0);
	if (!frame)
		frame = 4096;	/* a kernel without the entry: its usual size */
	print_message("stack used: %zu bytes (signal frame %lu), %lu faults, "
		      "%lu evictions\n", used, frame,
		      (unsigned long)st.faults, (unsigned long)st.evictions);
	assert_true(st.faults > 0 && st.evictions > 0);
	if (!SANITIZED)
		assert_true(used <= frame + LIB_ROOM + OWN_ROOM);
	munmap(stack, STACK);
	th_fx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inline_fault_stack_depth),
	};

	siginfo_t si;

	memset(&si, 0, sizeof(si));	/* not a fault of ours: only binds it */
	si.si_signo = SIGBUS;
	assert_false(fc_handle_sigbus(&si));
	setenv("FC_INLINE", "1", 1);	/* th_config_init: an inline cache */
	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
