/* SPDX-License-Identifier: MIT */
/*
 * test_abi: programs built against an older libfaultcache keep working.
 *
 * struct fc_stats grew in 0.4 (fields after latency_hist), so
 * fc_cache_stats is versioned: a binary built against 0.1-0.3 is bound to
 * fc_cache_stats@FAULTCACHE_0.1 and must get the struct it knows, not a
 * byte more written; one built now gets @@FAULTCACHE_0.4 and the whole
 * struct. This file binds its calls to the old version, as such a binary
 * is, and links the shared library, as it does.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <faultcache.h>

#include "helpers.h"

/* what a 0.3 binary calls fc_cache_stats */
int old_stats(struct fc_cache *c, struct fc_stats *out);
__asm__(".symver old_stats, fc_cache_stats@FAULTCACHE_0.1");

#define OLD_SIZE offsetof(struct fc_stats, collapses)

static void old_struct_is_filled_and_no_more(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 5, 0, true);
	union {
		struct fc_stats st;
		unsigned char b[sizeof(struct fc_stats)];
	} u;
	size_t i;

	(void)state;
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	/*
	 * bytes_read counts a read once its pages are in the cache, and the
	 * thread waiting on it may run just before (fc_cache_stats(3)):
	 * look once every read is counted in
	 */
	th_pages_read_settled(f->c);
	memset(&u, 0xa5, sizeof(u));
	assert_int_equal(old_stats(f->c, &u.st), 0);
	for (i = OLD_SIZE; i < sizeof(u); i++)
		assert_int_equal(u.b[i], 0xa5);
	/* and what it has is right */
	assert_int_equal(u.st.page_size, 4096);
	assert_true(u.st.budget_bytes > 0);
	assert_true(u.st.bytes_read >= (uint64_t)f->size);
	assert_int_equal(u.st.mappings, 1);
	assert_int_equal(old_stats(f->c, NULL), -EINVAL);
	th_fx_free(f);
}

/* Both versions are in the library, the new one the default. */
static void both_versions_exported(void **state)
{
	void *h = dlopen("libfaultcache.so.0", RTLD_NOW | RTLD_NOLOAD);
	void *v1, *v4, *dflt;

	(void)state;
	assert_non_null(h);	/* linked in: already loaded */
	v1 = dlvsym(h, "fc_cache_stats", "FAULTCACHE_0.1");
	v4 = dlvsym(h, "fc_cache_stats", "FAULTCACHE_0.4");
	dflt = dlsym(h, "fc_cache_stats");
	assert_non_null(v1);
	assert_non_null(v4);
	assert_true(v1 != v4);
	assert_ptr_equal(dflt, v4);
	dlclose(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(old_struct_is_filled_and_no_more),
		cmocka_unit_test(both_versions_exported),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
