/* SPDX-License-Identifier: MIT */
/*
 * test_config: the default cache's FC_* variables (fc__config_from_env)
 * and the sizes they take (fc__parse_size). A value that is not a plain
 * count or size, or one the library would change without a word (0
 * handler threads, 0 pages of fault-around), is refused with EINVAL:
 * strtoull alone took " -1" as 2^64 - 1.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "helpers.h"
#include "config.h"

static const char *const vars[] = {
	"FC_CACHE_BYTES", "FC_PAGE_SIZE", "FC_READAHEAD_MAX",
	"FC_HANDLER_THREADS", "FC_FAULT_AROUND", "FC_POLL_US",
	"FC_NO_DIRECT", "FC_COPY", "FC_INLINE", "FC_NO_COLLAPSE",
};

static int clear_env(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	return 0;
}

/* fc__config_from_env with @name=@value alone. */
static int from_env(const char *name, const char *value,
		    struct fc_config *cfg)
{
	clear_env(NULL);
	setenv(name, value, 1);
	return fc__config_from_env(cfg);
}

static void sizes(void **state)
{
	static const struct {
		const char *s;
		size_t v;
	} good[] = {
		{ "0", 0 }, { "4096", 4096 }, { "64M", 64u << 20 },
		{ "1g", 1u << 30 }, { "2MiB", 2u << 20 }, { "8k", 8192 },
		{ "4KB", 4096 }, { "10b", 10 },
	};
	static const char *const bad[] = {
		"", " -1", "-1", "+5", " 64M", "64M ", "64X", "1.5G", "0x10",
		"99999999999999999999", "17179869184G", "64MiBx", "M",
		"4096i", "1iB",	/* "i" only after K, M or G */
	};
	size_t i, v;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		assert_true(fc__parse_size(good[i].s, &v));
		assert_int_equal(v, good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (fc__parse_size(bad[i], &v))
			fail_msg("\"%s\" taken as %zu", bad[i], v);
		assert_int_equal(v, 12345);
	}
}

static void environment(void **state)
{
	struct fc_config cfg;

	(void)state;
	assert_int_equal(from_env("FC_READAHEAD_MAX", " -1", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_READAHEAD_MAX", "-1", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_READAHEAD_MAX", "2M", &cfg), 0);
	assert_int_equal(cfg.readahead_max, 2u << 20);
	assert_int_equal(from_env("FC_HANDLER_THREADS", "0", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_HANDLER_THREADS", "3", &cfg), 0);
	assert_int_equal(cfg.handler_threads, 3);
	assert_int_equal(from_env("FC_FAULT_AROUND", "0", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_POLL_US", "0", &cfg), 0);
	assert_int_equal(cfg.poll_us, 0);
	assert_int_equal(from_env("FC_HANDLER_THREADS", "8589934592", &cfg),
			 -EINVAL);
	assert_int_equal(from_env("FC_CACHE_BYTES", "lots", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_COPY", "1", &cfg), 0);
	assert_true(cfg.flags & FC_CONFIG_COPY);
	assert_int_equal(from_env("FC_COPY", "0", &cfg), 0);
	assert_false(cfg.flags & FC_CONFIG_COPY);
	assert_int_equal(from_env("FC_COPY", "", &cfg), 0);
	assert_false(cfg.flags & FC_CONFIG_COPY);
	/* not taken for "set": the user meant it off */
	assert_int_equal(from_env("FC_COPY", "false", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_INLINE", "no", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_NO_DIRECT", "2", &cfg), -EINVAL);
	assert_int_equal(from_env("FC_NO_COLLAPSE", " 1", &cfg), -EINVAL);
	clear_env(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes),
		cmocka_unit_test(environment),
	};

	return cmocka_run_group_tests(tests, clear_env, clear_env);
}
