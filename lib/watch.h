/* SPDX-License-Identifier: MIT */
/* watch.h - the process's inotify instance and its watches (watch.c). */
#ifndef FC_WATCH_H
#define FC_WATCH_H

#include <stdatomic.h>
#include <stdint.h>

struct fc_watch;

/*
 * A cache told of events (fc__watch_listen): whoever reads the instance
 * sets ->pending and writes ->evfd, which wakes the cache's handler to
 * look at its files. The inotify instance's own readiness cannot do it:
 * the first reader empties it, and a poll that finds it empty says
 * nothing to the others.
 */
struct fc_watch_user {
	struct fc_watch_user *next;	/* lock: watch */
	int evfd;			/* immutable while listed */
	atomic_bool pending;		/* lock: none, atomic */
};

int fc__watch_open(void);
void fc__watch_close(void);
void fc__watch_listen(struct fc_watch_user *u, int evfd);
void fc__watch_unlisten(struct fc_watch_user *u);
struct fc_watch *fc__watch_add(int fd);
void fc__watch_drop(struct fc_watch *x);
uint64_t fc__watch_events(const struct fc_watch *x);
void fc__watch_drain(void);
void fc__watch_fork_prepare(void);
void fc__watch_fork_parent(void);
void fc__watch_fork_child(void);

#endif
