/* SPDX-License-Identifier: MIT */
/*
 * config.c - the preload's environment variables, read once when it
 * starts (libfaultcache-preload(7), ENVIRONMENT). The cache's own
 * variables (FC_CACHE_BYTES and the rest) are libfaultcache's: its
 * default cache reads them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

struct fcp_config fcp_cfg;
size_t fcp_page;

/* FC_PRELOAD_PATHS, split in place; patterns point into it. */
static char paths[8192];

/* A size with an optional K, M or G suffix. 0 or -1 when malformed. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!*s || *s == '-' || *s == ' ')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void bad(const char *name, const char *val);

/*
 * A flag: 1 or 0, @dflt when unset or empty. Anything else ("false",
 * "no") is malformed, as in the library's own variables: it is reported
 * and the preload is off, rather than taken for 1.
 */
static bool env_flag(const char *name, bool dflt)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return dflt;
	if (!strcmp(v, "1") || !strcmp(v, "0"))
		return *v == '1';
	bad(name, v);
	fcp_cfg.off = true;
	return dflt;
}

static void bad(const char *name, const char *val)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "faultcache: %s=%s is malformed: the preload is off\n",
			 name, val);

	if (n > 0 && write(2, msg, (size_t)n) < 0)
		return;
}

static void read_paths(const char *v)
{
	char *p, *save = NULL;

	if (strlen(v) >= sizeof(paths)) {
		bad("FC_PRELOAD_PATHS", "(too long)");
		fcp_cfg.off = true;
		return;
	}
	strcpy(paths, v);
	for (p = strtok_r(paths, ":", &save); p && fcp_cfg.npat < 64;
	     p = strtok_r(NULL, ":", &save))
		fcp_cfg.pat[fcp_cfg.npat++] = p;
}

/* Context: once, at the start (init.c), before any routing. */
void fcp_config_read(void)
{
	const char *v;

	fcp_page = (size_t)sysconf(_SC_PAGESIZE);
	fcp_cfg.off = !env_flag("FC_PRELOAD", true) || fcp_cfg.off;
	fcp_cfg.stats = env_flag("FC_PRELOAD_STATS", false);
	fcp_cfg.lease = env_flag("FC_PRELOAD_LEASE", true);
	fcp_cfg.lease_sig = SIGRTMAX - 2;
	fcp_cfg.min_bytes = 1 << 20;
	v = getenv("FC_PRELOAD_MIN_BYTES");
	if (v && parse_size(v, &fcp_cfg.min_bytes)) {
		bad("FC_PRELOAD_MIN_BYTES", v);
		fcp_cfg.off = true;
	}
	v = getenv("FC_PRELOAD_LEASE_SIGNAL");
	if (v && *v) {
		uint64_t s;

		if (parse_size(v, &s) || (int)s < SIGRTMIN || (int)s > SIGRTMAX) {
			bad("FC_PRELOAD_LEASE_SIGNAL", v);
			fcp_cfg.off = true;
		} else {
			fcp_cfg.lease_sig = (int)s;
		}
	}
	v = getenv("FC_PRELOAD_PATHS");
	if (v)
		read_paths(v);
}
