/* SPDX-License-Identifier: MIT */
/*
 * config.c - a cache's configuration: the defaults, the checks of
 * fc_cache_create(), and the FC_* environment variables of the default
 * cache.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "config.h"
#include "memlimit.h"
#include "types.h"

#define MIB (1024ul * 1024)

/*
 * The default budget: 256 MiB, or half the process's memory cgroup limit
 * @limit (fc__memory_limit) if that is less, leaving the other half to
 * the rest of the process.
 */
static size_t default_budget(uint64_t limit)
{
	uint64_t half = limit / 2;

	return half < 256 * MIB ? (size_t)half : 256 * MIB;
}

/*
 * A budget the store could never reach: above the memory cgroup limit,
 * with no swap to take shmem pages, the kernel's OOM killer would end the
 * process when the store grew to the limit (the kernel's own page cache
 * would be reclaimed instead). With swap the store pages would be swapped
 * out, which is slow but not fatal, and the budget is left to the caller.
 */
static bool budget_over_limit(size_t budget, uint64_t limit)
{
	struct sysinfo si;

	if (budget <= limit)
		return false;
	return !sysinfo(&si) && !si.totalswap;
}

/* The defaults into @cfg, for a memory cgroup limit of @limit. */
static void config_defaults(struct fc_config *cfg, uint64_t limit)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->cache_bytes = default_budget(limit);
	cfg->page_size = 4096;
	cfg->readahead_max = 8 * MIB;	/* docs/design.md, "Readahead" */
	cfg->handler_threads = 2;
	cfg->fault_around = 16;
	cfg->flags = 0;
	cfg->poll_us = 200;
}

void fc_config_init(struct fc_config *cfg)
{
	if (cfg)
		config_defaults(cfg, fc__memory_limit(""));
}

static bool is_pow2(size_t x)
{
	return x && !(x & (x - 1));
}

/* Copy @in over defaults into @out and check it. 0, -EINVAL or -ENOMEM. */
int fc__config_check(const struct fc_config *in, struct fc_config *out,
		     size_t sys_page)
{
	uint64_t limit = fc__memory_limit("");	/* read once: a few files */
	size_t ra_cap;

	config_defaults(out, limit);
	if (!in)
		return 0;
	if (in->size < offsetof(struct fc_config, flags) ||
	    in->size > sizeof(*in))
		return -EINVAL;
	memcpy(out, in, in->size);
	out->size = sizeof(*out);
	if (!is_pow2(out->page_size) || out->page_size < sys_page ||
	    out->page_size < 4096 || out->page_size > 2 * MIB)
		return -EINVAL;
	if (out->cache_bytes / out->page_size < 16 ||
	    out->cache_bytes > FC_MEMFD_SIZE)	/* more than the store holds */
		return -EINVAL;
	if (budget_over_limit(out->cache_bytes, limit))
		return -ENOMEM;
	if (out->handler_threads == 0)
		out->handler_threads = 2;
	if (out->handler_threads > 64 || out->fault_around > 4096 ||
	    out->poll_us > 1000000)
		return -EINVAL;
	if (out->flags & ~(FC_CONFIG_NO_DIRECT | FC_CONFIG_COPY |
			   FC_CONFIG_INLINE | FC_CONFIG_NO_COLLAPSE))
		return -EINVAL;
	if ((out->flags & FC_CONFIG_COPY) && (out->flags & FC_CONFIG_INLINE))
		return -EINVAL;
	/*
	 * readahead never takes more than a quarter of what the cache holds
	 * of pages in use: the budget, half of it in copy mode (a page and
	 * its copy).
	 */
	ra_cap = out->cache_bytes / ((out->flags & FC_CONFIG_COPY) ? 8 : 4);
	if (out->readahead_max > ra_cap)
		out->readahead_max = ra_cap;
	if (out->readahead_max < out->page_size)
		out->readahead_max = out->page_size;
	if (!out->fault_around)
		out->fault_around = 1;
	return 0;
}

/**
 * fc__parse_size - "64M", "1g", "4096", "2MiB", "10B": bytes. Digits first
 * (no sign, no space: strtoull takes " -1" as 2^64 - 1), then K, M or G
 * and "i", "iB" or "B", or "B" alone. Return: false on anything else
 * ("4096i"), or on overflow; *@out untouched then.
 */
bool fc__parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (shift && *end == 'i')	/* a binary prefix: K, M, G */
		end += (end[1] == 'B' || end[1] == 'b') ? 2 : 1;
	else if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (shift && v > (SIZE_MAX >> shift)))
		return false;
	*out = (size_t)(v << shift);
	return true;
}

static int env_size(const char *name, size_t *field)
{
	const char *s = getenv(name);

	if (!s)
		return 0;
	return fc__parse_size(s, field) ? 0 : -EINVAL;
}

/**
 * fc__parse_count - a count: a size (fc__parse_size) of @min to UINT_MAX.
 * A value fc_config would take for "the default" or round (0 handler
 * threads, 0 pages of fault-around) is refused rather than changed
 * without a word. Return: false on anything else; *@out untouched then.
 */
bool fc__parse_count(const char *s, unsigned min, unsigned *out)
{
	size_t v;

	if (!fc__parse_size(s, &v) || v > UINT_MAX || v < min)
		return false;
	*out = (unsigned)v;
	return true;
}

/**
 * fc__parse_flag - a flag variable: "1" sets it, "0" or empty leaves it
 * unset. Anything else ("false", "no", "2") is refused: taking it for set
 * would turn on what the user meant to turn off.
 * Return: false when refused; *@on untouched then.
 */
bool fc__parse_flag(const char *s, bool *on)
{
	if (!strcmp(s, "1"))
		*on = true;
	else if (!*s || !strcmp(s, "0"))
		*on = false;
	else
		return false;
	return true;
}

/* A flag from the environment: @bit set in *@flags if it says so. */
static int env_flag(const char *name, unsigned *flags, unsigned bit)
{
	const char *s = getenv(name);
	bool on = false;

	if (!s)
		return 0;
	if (!fc__parse_flag(s, &on))
		return -EINVAL;
	if (on)
		*flags |= bit;
	return 0;
}

static int env_uint(const char *name, unsigned *field, unsigned min)
{
	const char *s = getenv(name);

	if (!s)
		return 0;
	return fc__parse_count(s, min, field) ? 0 : -EINVAL;
}

/* Read the FC_* variables over the defaults. -EINVAL on a bad value. */
int fc__config_from_env(struct fc_config *cfg)
{
	int ret = 0;

	fc_config_init(cfg);
	ret |= env_size("FC_CACHE_BYTES", &cfg->cache_bytes);
	ret |= env_size("FC_PAGE_SIZE", &cfg->page_size);
	ret |= env_size("FC_READAHEAD_MAX", &cfg->readahead_max);
	ret |= env_uint("FC_HANDLER_THREADS", &cfg->handler_threads, 1);
	ret |= env_uint("FC_FAULT_AROUND", &cfg->fault_around, 1);
	ret |= env_uint("FC_POLL_US", &cfg->poll_us, 0);
	ret |= env_flag("FC_NO_DIRECT", &cfg->flags, FC_CONFIG_NO_DIRECT);
	ret |= env_flag("FC_COPY", &cfg->flags, FC_CONFIG_COPY);
	ret |= env_flag("FC_INLINE", &cfg->flags, FC_CONFIG_INLINE);
	ret |= env_flag("FC_NO_COLLAPSE", &cfg->flags, FC_CONFIG_NO_COLLAPSE);
	return ret ? -EINVAL : 0;
}
