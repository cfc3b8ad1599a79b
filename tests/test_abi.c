/* SPDX-License-Identifier: MIT */
/*
 * test_abi: programs built against an older libfaultcache keep working.
 *
 * struct fc_stats grew in 0.4 (fields after latency_hist) and in 0.6
 * (peak_resident_bytes), so fc_cache_stats is versioned: a binary built
 * against 0.1-0.3 is bound to fc_cache_stats@FAULTCACHE_0.1, one built
 * against 0.4-0.5 to fc_cache_stats@FAULTCACHE_0.4, and each must get
 * the struct it knows, not a byte more written; one built now gets
 * @@FAULTCACHE_0.6 and the whole struct. This file binds its calls to the
 * old versions, as such binaries are, and links the shared library, as
 * they do.
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
/* what a 0.4 or 0.5 binary calls it */
int stats_0_4(struct fc_cache *c, struct fc_stats *out);
__asm__(".symver stats_0_4, fc_cache_stats@FAULTCACHE_0.4");

#define OLD_SIZE offsetof(struct fc_stats, collapses)
#define SIZE_0_4 offsetof(struct fc_stats, peak_resident_bytes)

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

/* A 0.4/0.5 binary gets its struct, up to polled_slept, and no more. */
static void struct_0_4_is_filled_and_no_more(void **state)
{
	struct th_fx *f = th_fx_new(1 << 20, 6, 0, true);
	union {
		struct fc_stats st;
		unsigned char b[sizeof(struct fc_stats)];
	} u;
	struct fc_stats now;
	size_t i;

	(void)state;
	assert_memory_equal(f->p, f->ref, (size_t)f->size);
	th_pages_read_settled(f->c);
	memset(&u, 0xa5, sizeof(u));
	assert_int_equal(stats_0_4(f->c, &u.st), 0);
	for (i = SIZE_0_4; i < sizeof(u); i++)
		assert_int_equal(u.b[i], 0xa5);
	assert_int_equal(u.st.page_size, 4096);
	assert_true(u.st.bytes_read >= (uint64_t)f->size);
	assert_int_equal(u.st.mappings, 1);
	assert_int_equal(stats_0_4(f->c, NULL), -EINVAL);
	/* the new one fills the rest */
	assert_int_equal(fc_cache_stats(f->c, &now), 0);
	assert_true(now.peak_resident_bytes >= (uint64_t)f->size);
	th_fx_free(f);
}

/* Every version is in the library, the newest the default. */
static void both_versions_exported(void **state)
{
	void *h = dlopen("libfaultcache.so.0", RTLD_NOW | RTLD_NOLOAD);
	void *v1, *v4, *v6, *dflt;

	(void)state;
	assert_non_null(h);	/* linked in: already loaded */
	v1 = dlvsym(h, "fc_cache_stats", "FAULTCACHE_0.1");
	v4 = dlvsym(h, "fc_cache_stats", "FAULTCACHE_0.4");
	v6 = dlvsym(h, "fc_cache_stats", "FAULTCACHE_0.6");
	dflt = dlsym(h, "fc_cache_stats");
	assert_non_null(v1);
	assert_non_null(v4);
	assert_non_null(v6);
	assert_true(v1 != v4 && v4 != v6 && v1 != v6);
	assert_ptr_equal(dflt, v6);
	dlclose(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(old_struct_is_filled_and_no_more),
		cmocka_unit_test(struct_0_4_is_filled_and_no_more),
		cmocka_unit_test(both_versions_exported),
	};

	th_require_uffd();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
