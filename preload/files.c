/* SPDX-License-Identifier: MIT */
/*
 * files.c - the files the preload routed: a descriptor of its own for
 * each (the program may close its own right after mmap, and cutting a
 * mapping maps the file again, fc_map_fixed(3)), and a read lease on it.
 *
 * The lease is how a routed file stays coherent with other processes.
 * libfaultcache's cache is the process's own: a page it holds does not
 * change when another process writes the file. So the preload routes a
 * file only while no process has it open for writing, which a read lease
 * (fcntl(2), F_SETLEASE) both checks and keeps: when another process
 * opens the file for writing or truncates it, the kernel holds that
 * open() back and signals the lease holder. A thread of the preload takes
 * the signal (thread-directed, F_OWNER_TID, so no handler is installed
 * and no other thread sees it), hands every mapping of the file back to
 * the kernel (ops.c, fcp_retire_file: a kernel mapping of the file put
 * over each view in one step), and releases the lease; the other
 * process's open() then returns, and from then on both share the
 * kernel's page cache. A file this process itself has open for writing
 * (SQLite's database) can have no lease: it is routed without one, and
 * its writes through a descriptor are seen through the interposed writes
 * (coherence.c); another process's writes to it are then seen only as
 * libfaultcache sees them (its size).
 *
 * Records stay after a file's last mapping goes, without descriptors:
 * writes to it must still drop the pages libfaultcache keeps of it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"

#define FCP_FILES 1024

struct rec {
	struct fcp_file f;	/* lock: op */
	bool used;		/* lock: op */
	uint64_t stamp;		/* last routed, for reuse; lock: op */
	/* for coherence.c, without a lock: set before known */
	atomic_ulong kdev, kino;
	atomic_bool known;
};

static struct rec *recs;
static uint64_t stamp;

/* The lease watcher thread, made on the first lease. lock: op */
static pthread_t watcher;
static atomic_int watcher_tid;

static int raw_open(const char *path, int flags)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0);
}

/* A new read-only description of the file on @fd, checked to be @st's. */
static int reopen(int fd, const char *path, const struct stat *st,
		  int flags)
{
	char proc[64];
	struct stat s;
	int r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	r = raw_open(fd >= 0 ? proc : path, flags | O_CLOEXEC);
	if (r < 0)
		return -1;
	if (fstat(r, &s) || s.st_dev != st->st_dev || s.st_ino != st->st_ino) {
		close(r);
		return -1;
	}
	return r;
}

static int ensure_storage(void)
{
	void *p;

	if (recs)
		return 0;
	p = fcp_raw_mmap(NULL, FCP_FILES * sizeof(*recs),
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	if (p == MAP_FAILED)
		return -1;
	recs = p;
	return 0;
}

/* ---- leases ---- */

static void lease_broken(int fd);

static void *watch(void *arg)
{
	int sig = fcp_cfg.lease_sig;
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_setname_np(pthread_self(), "fc-preload");
	atomic_store(&watcher_tid, (int)syscall(SYS_gettid));
	for (;;) {
		siginfo_t si;

		if (sigwaitinfo(&set, &si) == sig)
			lease_broken(si.si_fd);
	}
	return NULL;
}

/*
 * The thread lease breaks are sent to: its thread id, or 0 when there is
 * none (it cannot be made, or the signal is ignored: an ignored signal is
 * dropped, even one sent to a thread that blocks it).
 * Context: op_lock held, or the child of a fork (one thread).
 */
int fcp_lease_watcher_tid(void)
{
	struct sigaction sa;
	sigset_t all, old;
	int i, err;

	if (atomic_load(&watcher_tid))
		return atomic_load(&watcher_tid);
	if (sigaction(fcp_cfg.lease_sig, NULL, &sa) ||
	    (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN))
		return 0;
	/*
	 * Made with every signal blocked, whoever calls (a fork handler runs
	 * with the program's mask): a lease break reaching the thread before
	 * its sigwaitinfo would take the signal's default action, and kill
	 * the process.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&watcher, NULL, watch, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return 0;
	pthread_detach(watcher);
	for (i = 0; i < 10000 && !atomic_load(&watcher_tid); i++)
		usleep(100);
	return atomic_load(&watcher_tid);
}

/*
 * Take a read lease on @rfd. 0, or -errno: EAGAIN when a process has the
 * file open for writing; EACCES when this one may not (not the owner,
 * no CAP_LEASE); others where leases are not to be had (file system,
 * fs.leases-enable, no watcher).
 */
static int lease(int rfd)
{
	struct f_owner_ex o = { F_OWNER_TID, 0 };

	o.pid = fcp_lease_watcher_tid();
	if (!o.pid)
		return -ENOLCK;
	if (fcntl(rfd, F_SETSIG, fcp_cfg.lease_sig) ||
	    fcntl(rfd, F_SETOWN_EX, &o) || fcntl(rfd, F_SETLEASE, F_RDLCK))
		return -errno;
	return 0;
}

/*
 * Another process opens a routed file for writing (or truncates it):
 * hand its mappings to the kernel, never route it again, let the open go.
 */
static void lease_broken(int fd)
{
	struct fcp_file *f;
	sigset_t old;

	fcp_op_begin(&old);
	f = fcp_file_by_rfd(fd);
	/* a break in progress reads F_UNLCK: a late signal for a reused
	   descriptor number reads F_RDLCK, or no lease at all */
	if (f && f->leased && fcntl(fd, F_GETLEASE) == F_UNLCK) {
		f->gone = true;
		fcp_retire_file(f);
		fcntl(fd, F_SETLEASE, F_UNLCK);
		f->leased = false;
		atomic_fetch_add(&fcp_count.lease_breaks, 1);
	}
	fcp_op_end(&old);
}

/* ---- records ---- */

static struct rec *rec_find(dev_t dev, ino_t ino)
{
	size_t i;

	for (i = 0; recs && i < FCP_FILES; i++)
		if (recs[i].used && recs[i].f.dev == dev && recs[i].f.ino == ino)
			return &recs[i];
	return NULL;
}

/* A free record, or the one routed longest ago that has no mapping. */
static struct rec *rec_new(void)
{
	struct rec *best = NULL;
	size_t i;

	for (i = 0; i < FCP_FILES; i++) {
		if (!recs[i].used)
			return &recs[i];
		if (!recs[i].f.maps && (!best || recs[i].stamp < best->stamp))
			best = &recs[i];
	}
	if (best)
		atomic_store(&best->known, false);
	return best;
}

/*
 * Has this process the file @st open for writing, on some descriptor? A
 * lease refused for a writer may be refused for this process's own.
 */
static bool self_writes(const struct stat *st)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		struct stat s;
		int fd = atoi(e->d_name), fl;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		fl = fcntl(fd, F_GETFL);
		found = fl >= 0 && (fl & O_ACCMODE) != O_RDONLY &&
			!(fl & O_PATH) && !fstat(fd, &s) &&
			s.st_dev == st->st_dev && s.st_ino == st->st_ino;
	}
	closedir(d);
	return found;
}

/*
 * Open our descriptors of @f (it had none: new, or its mappings had all
 * gone) from the program's @fd, and take the lease. 0, or -1 with *@why
 * set: the file is open for writing by another process.
 */
static int open_fds(struct fcp_file *f, int fd, const struct stat *st,
		    bool writer, int *why)
{
	int ret;

	f->rfd = reopen(fd, f->path, st, O_RDONLY);
	if (f->rfd < 0) {
		*why = EBADF;
		return -1;
	}
	if (writer && f->wfd < 0)
		f->wfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	f->leased = false;
	if (!fcp_cfg.lease)
		return 0;
	ret = lease(f->rfd);
	if (!ret) {
		f->leased = true;
	} else if (ret == -EAGAIN && !writer && !self_writes(st)) {
		/* someone else writes it: the kernel's page cache it is */
		close(f->rfd);
		f->rfd = -1;
		*why = EAGAIN;
		return -1;
	}
	return 0;
}

/* Is @path still the file of @st (not deleted, its inode not reused)? */
static bool same_file(const char *path, const struct stat *st)
{
	struct stat now;

	return !stat(path, &now) && now.st_dev == st->st_dev &&
	       now.st_ino == st->st_ino;
}

/**
 * fcp_file_get - the record of the file on @fd (@st, real @path), made or
 * reopened, ready for a new mapping (the caller inserts it in the table,
 * which counts it). @writer: @fd is open for writing.
 * Return: the record, or NULL with *@why set: EAGAIN (open for writing
 * by another process: not routed), EPERM (handed back to the kernel for
 * good), EBADF or ENOMEM.
 * Context: op_lock held.
 */
struct fcp_file *fcp_file_get(int fd, const struct stat *st,
			      const char *path, bool writer, int *why)
{
	struct rec *r;

	*why = ENOMEM;
	if (ensure_storage())
		return NULL;
	r = rec_find(st->st_dev, st->st_ino);
	if (r && r->f.gone && !r->f.maps && !same_file(r->f.path, st)) {
		/* that file was deleted, and its inode number reused */
		atomic_store(&r->known, false);
		r->used = false;
		r = NULL;
	}
	if (r && r->f.gone) {
		*why = EPERM;
		return NULL;
	}
	if (!r) {
		r = rec_new();
		if (!r)
			return NULL;
		memset(&r->f, 0, sizeof(r->f));
		r->f.dev = st->st_dev;
		r->f.ino = st->st_ino;
		r->f.rfd = r->f.wfd = -1;
		r->used = true;
		atomic_store(&r->kdev, (unsigned long)st->st_dev);
		atomic_store(&r->kino, (unsigned long)st->st_ino);
		atomic_store_explicit(&r->known, true, memory_order_release);
	}
	snprintf(r->f.path, sizeof(r->f.path), "%s", path);
	if (r->f.rfd < 0 && open_fds(&r->f, fd, st, writer, why))
		return NULL;
	if (writer && r->f.wfd < 0)
		r->f.wfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	r->stamp = ++stamp;
	return &r->f;
}

/*
 * An entry of @f left the table (fcp_tab_remove): with its last, close
 * our descriptors and release the lease; the record stays known.
 * Context: op_lock held.
 */
void fcp_file_put(struct fcp_file *f)
{
	if (--f->maps)
		return;
	if (f->leased)
		fcntl(f->rfd, F_SETLEASE, F_UNLCK);
	f->leased = false;
	if (f->rfd >= 0)
		close(f->rfd);
	if (f->wfd >= 0)
		close(f->wfd);
	f->rfd = f->wfd = -1;
}

/* Does @fd still refer to @f (the program may have closed our number)? */
static bool still(int fd, const struct fcp_file *f)
{
	struct stat s;

	return fd >= 0 && !fstat(fd, &s) && s.st_dev == f->dev &&
	       s.st_ino == f->ino;
}

/*
 * A descriptor of @f to map it with: read-only, or @writable (the
 * program's own, dup'ed). Opened again by path when the program closed
 * or reused our number (the lease went with it). -1 when it cannot be.
 * Context: op_lock held.
 */
int fcp_file_fd(struct fcp_file *f, bool writable)
{
	struct stat st;
	int *fd = writable ? &f->wfd : &f->rfd;

	if (still(*fd, f))
		return *fd;
	if (!writable)
		f->leased = false;
	st.st_dev = f->dev;
	st.st_ino = f->ino;
	*fd = reopen(-1, f->path, &st, writable ? O_RDWR : O_RDONLY);
	return *fd;
}

/* The record whose lease descriptor is @fd. Context: op_lock held. */
struct fcp_file *fcp_file_by_rfd(int fd)
{
	size_t i;

	for (i = 0; recs && i < FCP_FILES; i++)
		if (recs[i].used && recs[i].f.rfd == fd && fd >= 0)
			return &recs[i].f;
	return NULL;
}

/* The record of (@dev, @ino), if any. Context: op_lock held. */
struct fcp_file *fcp_file_find(dev_t dev, ino_t ino)
{
	struct rec *r = rec_find(dev, ino);

	return r ? &r->f : NULL;
}

/*
 * Was (@dev, @ino) routed in this process? Lock-free, for every write of
 * the program (coherence.c); a record being reused may answer wrong for
 * a moment, for a file with no mapping.
 */
bool fcp_file_known(dev_t dev, ino_t ino)
{
	size_t i;

	if (!recs)
		return false;
	for (i = 0; i < FCP_FILES; i++)
		if (atomic_load_explicit(&recs[i].known, memory_order_acquire) &&
		    atomic_load(&recs[i].kdev) == (unsigned long)dev &&
		    atomic_load(&recs[i].kino) == (unsigned long)ino)
			return true;
	return false;
}

/*
 * Fork, in the child, before ops.c maps the entries again: our read
 * descriptors share their open file description, and its lease, with the
 * parent, whose watcher thread the child lacks. Each gets a description
 * of its own, leased by the child's own watcher.
 * Context: the child, one thread, op_lock held.
 */
void fcp_files_fork_child(void)
{
	struct stat st;
	size_t i;

	atomic_store(&watcher_tid, 0);
	for (i = 0; recs && i < FCP_FILES; i++) {
		struct fcp_file *f = &recs[i].f;
		int nfd, why;

		if (!recs[i].used || f->rfd < 0)
			continue;
		st.st_dev = f->dev;
		st.st_ino = f->ino;
		nfd = reopen(f->rfd, f->path, &st, O_RDONLY);
		close(f->rfd);	/* the parent's lease stays the parent's */
		f->rfd = -1;
		f->leased = false;
		if (nfd < 0)
			continue;
		f->rfd = nfd;
		if (fcp_cfg.lease && !lease(nfd))
			f->leased = true;
		(void)why;
	}
}
