/* SPDX-License-Identifier: MIT */
/*
 * init.c - starting the preload (lazily: an interposed call may come from
 * another library's constructor before ours ran), knowing which calls
 * come from libfaultcache itself, the counters, and the statistics line
 * FC_PRELOAD_STATS=1 prints at exit.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <faultcache.h>

#include "preload.h"

__thread int fcp_depth;
struct fcp_counters fcp_count;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_bool ready;
/* libfaultcache's code: its calls go straight to the kernel */
static uintptr_t core_lo, core_len;

static int find_core(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t want = (uintptr_t)arg;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    want >= lo && want - lo < ph->p_memsz) {
			core_lo = lo;
			core_len = ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

static void start(void)
{
	fcp_config_read();
	dl_iterate_phdr(find_core, (void *)(uintptr_t)fc_map);
	if (!core_len)
		fcp_cfg.off = true;
	atomic_store(&ready, !fcp_cfg.off);
}

/* Is the preload on (started, and not turned off)? Starts it. */
bool fcp_ready(void)
{
	pthread_once(&once, start);
	return atomic_load_explicit(&ready, memory_order_relaxed);
}

/* A call the preload would have routed or emulated went to the kernel. */
void fcp_fallback(const char *why)
{
	(void)why;
	atomic_fetch_add(&fcp_count.fallbacks, 1);
}

bool fcp_from_core(const void *ret_addr)
{
	return (uintptr_t)ret_addr - core_lo < core_len;
}

/*
 * FC_PRELOAD_STATS=1: one line on stderr at exit (and in each child that
 * exits), "faultcache: " then name=value pairs. The cache's counters
 * are those of this process's default cache, asked only if it routed
 * something (asking would make one).
 */
static void print_stats(void)
{
	struct fc_stats st;
	char line[512];
	int n;

	memset(&st, 0, sizeof(st));
	if (atomic_load(&fcp_count.routed))
		fc_cache_stats(NULL, &st);
	n = snprintf(line, sizeof(line),
		     "faultcache: pid=%d routed=%lu faults=%llu hits=%llu "
		     "misses=%llu bytes_read=%llu peak_resident=%llu "
		     "budget=%llu fallbacks=%lu retired=%lu lease_breaks=%lu "
		     "invalidations=%lu\n",
		     (int)getpid(), atomic_load(&fcp_count.routed),
		     (unsigned long long)st.faults, (unsigned long long)st.hits,
		     (unsigned long long)st.misses,
		     (unsigned long long)st.bytes_read,
		     (unsigned long long)st.peak_resident_bytes,
		     (unsigned long long)st.budget_bytes,
		     atomic_load(&fcp_count.fallbacks),
		     atomic_load(&fcp_count.retired),
		     atomic_load(&fcp_count.lease_breaks),
		     atomic_load(&fcp_count.invalidations));
	if (n > 0 && write(2, line, (size_t)n) < 0)
		return;
}

static void fork_prepare(void)
{
	fcp_ops_fork_prepare();
}

static void fork_parent(void)
{
	fcp_ops_fork_parent();
}

/* A child counts what it does itself. */
static void fork_child(void)
{
	memset(&fcp_count, 0, sizeof(fcp_count));
	fcp_ops_fork_child();
}

/*
 * libfaultcache is loaded (and its constructor, which registers its own
 * fork handlers, has run) before this one: these run after its in the
 * child, where its default cache is new again.
 */
__attribute__((constructor)) static void fcp_start(void)
{
	fcp_ready();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((destructor)) static void fcp_stop(void)
{
	if (fcp_cfg.stats)
		print_stats();
}
