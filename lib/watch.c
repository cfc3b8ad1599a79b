/* SPDX-License-Identifier: MIT */
/*
 * watch.c - the process's inotify instance, shared by every cache, and
 * its watches: one per inode watched, counted by the files of every cache
 * that use it. An event adds one to its watch's count of events; a cache
 * compares the counts of its files' watches with what it saw last
 * (file.c, fc__files_notified). The reader tells every cache listening
 * (fc__watch_listen) that events came, so one reader serves all.
 *
 * One instance per process, not per cache: the kernel allows each user
 * 128 (fs.inotify.max_user_instances) across all its processes, and a
 * cache that could not have one never saw size changes, nor could the
 * user's other programs make one.
 *
 * watch_lock (mutex, leaf; never taken under cache->lock but by
 * fork_prepare) protects the instance, its users and the table, and
 * makes reading the events, counting them and telling the listeners one
 * step: a cache told sees the events counted, whoever read them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "util.h"
#include "watch.h"

struct fc_watch {
	int wd;			/* lock: watch; -1 once the kernel dropped it */
	unsigned refs;		/* lock: watch */
	atomic_ullong events;	/* written under watch_lock, read without */
};

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {			/* lock: watch */
	int fd;			/* the instance, or -1 */
	unsigned users;		/* caches holding it */
	struct fc_watch **v;	/* watches with a wd, sorted by it */
	size_t n, cap;
	struct fc_watch_user *users_list;	/* caches listening */
} w = { -1, 0, NULL, 0, 0, NULL };

/**
 * fc__watch_open - a reference on the process's inotify instance, made
 * on first use. Return: its descriptor, or -1 when there is none to be
 * had (size changes are then seen by the other means, file.c).
 * Context: fc_cache_create.
 */
int fc__watch_open(void)
{
	int fd;

	pthread_mutex_lock(&watch_lock);
	if (w.fd < 0 && !w.users)
		w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	fd = w.fd;
	if (fd >= 0)
		w.users++;
	pthread_mutex_unlock(&watch_lock);
	return fd;
}

/* Drop a reference taken by fc__watch_open (which returned >= 0). */
void fc__watch_close(void)
{
	pthread_mutex_lock(&watch_lock);
	if (!--w.users) {
		close(w.fd);
		w.fd = -1;
		free(w.v);	/* empty: every file dropped its watch */
		w.v = NULL;
		w.n = w.cap = 0;
	}
	pthread_mutex_unlock(&watch_lock);
}

/**
 * fc__watch_listen - have @u told of events from now on: @evfd written
 * (an eventfd) and @u->pending set. Context: the caller holds a reference
 * from fc__watch_open; @evfd stays open until fc__watch_unlisten.
 */
void fc__watch_listen(struct fc_watch_user *u, int evfd)
{
	u->evfd = evfd;
	atomic_store(&u->pending, false);
	pthread_mutex_lock(&watch_lock);
	u->next = w.users_list;
	w.users_list = u;
	pthread_mutex_unlock(&watch_lock);
}

/* Stop telling @u (listening); no write to its eventfd after this. */
void fc__watch_unlisten(struct fc_watch_user *u)
{
	struct fc_watch_user **pp;

	pthread_mutex_lock(&watch_lock);
	for (pp = &w.users_list; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	pthread_mutex_unlock(&watch_lock);
}

/* Events were counted: tell every listener. Context: watch_lock held. */
static void tell_listeners(void)
{
	struct fc_watch_user *u;
	uint64_t one = 1;
	ssize_t n;

	for (u = w.users_list; u; u = u->next) {
		atomic_store(&u->pending, true);
		n = write(u->evfd, &one, sizeof(one));
		(void)n;	/* EAGAIN: the counter is full, it is awake */
	}
}

/* Index of the first watch with wd >= @wd. Context: watch_lock held. */
static size_t find(int wd)
{
	size_t lo = 0, hi = w.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (w.v[mid]->wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Take @x (wd set) out of the table. Context: watch_lock held. */
static void table_remove(struct fc_watch *x)
{
	size_t i = find(x->wd);

	if (i < w.n && w.v[i] == x) {
		memmove(&w.v[i], &w.v[i + 1], (w.n - i - 1) * sizeof(w.v[0]));
		w.n--;
	}
}

/* A new watch for @wd in the table. NULL without memory. */
static struct fc_watch *table_add(int wd)
{
	struct fc_watch *x;
	size_t i;

	if (w.n == w.cap) {
		size_t cap = w.cap ? 2 * w.cap : 16;
		struct fc_watch **v = realloc(w.v, cap * sizeof(*v));

		if (!v)
			return NULL;
		w.v = v;
		w.cap = cap;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->wd = wd;
	i = find(wd);
	memmove(&w.v[i + 1], &w.v[i], (w.n - i) * sizeof(w.v[0]));
	w.v[i] = x;
	w.n++;
	return x;
}

/**
 * fc__watch_add - watch the file open at @fd for changes (IN_MODIFY: a
 * write, a truncation or an extension). Return: its watch, referenced,
 * or NULL when it cannot be watched (best effort). Context: the caller
 * holds a reference from fc__watch_open; not under cache->lock.
 */
struct fc_watch *fc__watch_add(int fd)
{
	struct fc_watch *x = NULL;
	char path[64];
	size_t i;
	int wd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	pthread_mutex_lock(&watch_lock);
	wd = w.fd < 0 ? -1 : inotify_add_watch(w.fd, path, IN_MODIFY);
	if (wd >= 0) {
		i = find(wd);
		x = i < w.n && w.v[i]->wd == wd ? w.v[i] : table_add(wd);
		if (x)
			x->refs++;
		else if (!(i < w.n && w.v[i]->wd == wd))
			inotify_rm_watch(w.fd, wd);	/* nobody else's */
	}
	pthread_mutex_unlock(&watch_lock);
	return x;
}

/* Drop a reference from fc__watch_add; the last removes the watch. */
void fc__watch_drop(struct fc_watch *x)
{
	pthread_mutex_lock(&watch_lock);
	if (!--x->refs) {
		if (x->wd >= 0) {
			table_remove(x);
			inotify_rm_watch(w.fd, x->wd);
		}
		free(x);
	}
	pthread_mutex_unlock(&watch_lock);
}

/* Events seen for @x so far. Context: any thread, no lock needed. */
uint64_t fc__watch_events(const struct fc_watch *x)
{
	return atomic_load(&x->events);
}

/* Count one event @ev. Context: watch_lock held. */
static void count(const struct inotify_event *ev)
{
	size_t i;

	if (ev->mask & IN_Q_OVERFLOW) {	/* events lost: all may have changed */
		for (i = 0; i < w.n; i++)
			atomic_fetch_add(&w.v[i]->events, 1);
		return;
	}
	i = find(ev->wd);
	if (i == w.n || w.v[i]->wd != ev->wd)
		return;
	atomic_fetch_add(&w.v[i]->events, 1);
	if (ev->mask & IN_IGNORED) {	/* the inode went: the wd is free */
		struct fc_watch *x = w.v[i];

		table_remove(x);
		x->wd = -1;
	}
}

/**
 * fc__watch_drain - read and count every event waiting on the instance,
 * and tell the caches listening if there were any.
 * Context: no locks held (fork_prepare takes cache->lock before
 * watch_lock).
 */
void fc__watch_drain(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t len;

	pthread_mutex_lock(&watch_lock);
	while (w.fd >= 0 && (len = read(w.fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + len) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			count(ev);
			any = true;
		}
	}
	if (any)
		tell_listeners();
	pthread_mutex_unlock(&watch_lock);
}

/*
 * fork (cache.c's handlers, after every cache->lock): watch_lock is held
 * across it. The child starts with no instance: the parent's would be
 * shared with it (an instance read by one process is emptied for the
 * other), and the watches and listeners are the parent's caches', which
 * the child may not use; their memory is left alone.
 */
void fc__watch_fork_prepare(void)
{
	pthread_mutex_lock(&watch_lock);
}

void fc__watch_fork_parent(void)
{
	pthread_mutex_unlock(&watch_lock);
}

void fc__watch_fork_child(void)
{
	if (w.fd >= 0)
		close(w.fd);
	w.fd = -1;
	w.users = 0;
	w.v = NULL;
	w.n = w.cap = 0;
	w.users_list = NULL;
	fc__fork_child_mutex(&watch_lock);
}
