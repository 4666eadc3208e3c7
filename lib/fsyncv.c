/* SPDX-License-Identifier: ISC */
/*
 * fsyncv.c - fsync many files at once, unlink or recycle without waiting
 * (see fsyncv.h).
 *
 * Runs in the roles that make mail durable (smtpd queue and deliver).
 * The io_uring ring is made at the first call in a process (so after the
 * role's fork and privilege drop), FSV_RING entries; a larger batch goes
 * in chunks.  Only IORING_OP_FSYNC and IORING_OP_FTRUNCATE (to 0) on
 * descriptors the caller owns, and IORING_OP_UNLINKAT and
 * IORING_OP_RENAMEAT (RENAME_NOREPLACE) of names under a directory
 * descriptor it owns are ever submitted.  If the ring cannot be made or
 * the kernel refuses it, the process falls back to plain fsync(2) and
 * unlinkat(2) for good (recycle_bg declines).  The system calls are made
 * directly (no liburing); the rings are read and written with
 * acquire/release atomics as the kernel's io_uring ABI requires.
 *
 * Background unlinks and recycles complete in a kernel worker; their
 * completions are read from the ring at the next call of any function
 * here, a failure logged with the name kept in its slot.  The ring is
 * made IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN where the
 * kernel has them (Linux 6.1): a worker's completion then waits until
 * this process enters the ring to collect it, instead of interrupting
 * its epoll_wait (EINTR: one wake-up more per completion, one or two per
 * queue file recycled, issue 17); submissions collect on the way
 * (IORING_ENTER_GETEVENTS with nothing to wait for), and recycle_reap
 * enters once when it finds nothing finished.
 * At most UNL_MAX unlinks are in flight (beyond that an unlink is made at
 * once) and REC_MAX recycles in flight or waiting for recycle_reap
 * (beyond that recycle_bg declines).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>	/* RENAME_NOREPLACE */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fsyncv.h"
#include "log.h"

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#define HAVE_IO_URING 1
#endif
#endif

#ifdef HAVE_IO_URING
#include <linux/io_uring.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define FSV_RING	64
#define UNL_MAX		32		/* background unlinks in flight */
#define UNL_TAG		(1ULL << 63)	/* user_data of an unlink: tag|slot */
#define UNL_NAME	64
#define REC_MAX		128		/* background recycles in flight or done */
#define REC_TAG		(1ULL << 62)	/* user_data of a recycle: tag|slot */
#define REC_RENAME	(1ULL << 61)	/* ... its second step */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#define FSV_OP_FTRUNCATE 55		/* IORING_OP_FTRUNCATE, Linux 6.9 */
#define FSV_CQ		(FSV_RING + UNL_MAX + 2 * REC_MAX)	/* completions */
/* IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (6.0, 6.1) */
#define FSV_SETUP_DEFER	((1U << 12) | (1U << 13))

static struct {
	bool	 busy;
	int	 dirfd;
	char	 name[UNL_NAME];
} unl[UNL_MAX];
static unsigned	 nunl;
static bool	 unl_sync;	/* the kernel has no IORING_OP_UNLINKAT */

/* recycles: truncate then rename, linked; a slot is busy until reaped */
static struct {
	bool	 busy;
	int	 steps;		/* completions still to come (2, 1, 0) */
	bool	 failed;
	int	 fd, dirfd;
	char	 from[UNL_NAME], to[UNL_NAME];
} rec[REC_MAX];
static unsigned	 nrec;
static bool	 rec_sync;	/* the kernel cannot truncate in the ring */
#endif

static uint64_t	 nremoved;	/* names removed so far: fsyncv_removed */

#ifdef HAVE_IO_URING

static struct {
	int			 fd;		/* -1: not made yet */
	bool			 atfork;	/* ring_forked registered */
	bool			 broken;	/* no io_uring here: plain fsync */
	unsigned		*sq_tail, *sq_mask, *sq_array;
	unsigned		*cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe	*sqes;
	struct io_uring_cqe	*cqes;
	unsigned		 entries;
	bool			 deferred;	/* DEFER_TASKRUN: enter to collect */
} ring = { .fd = -1 };

/*
 * ring_forked - in a child after fork(2): a ring inherited belongs to the
 * parent (its completions too); leave it, make our own when needed
 */
static void
ring_forked(void)
{
	ring.fd = -1;
	memset(unl, 0, sizeof(unl));
	nunl = 0;
	memset(rec, 0, sizeof(rec));	/* the parent's: its descriptors stay */
	nrec = 0;
}

/* ring_open - make this process's ring; false: use plain fsync */
static bool
ring_open(void)
{
	struct io_uring_params p;
	size_t sqlen, cqlen;
	char *sq, *cq;
	void *sqes;
	int fd;

	if (ring.broken)
		return false;
	if (ring.fd != -1)
		return true;
	if (!ring.atfork) {
		ring.atfork = true;
		(void)pthread_atfork(NULL, NULL, ring_forked);
	}
	ring.broken = true;
	/*
	 * Room for every completion that can be pending at once (a batch of
	 * fsyncs, the unlinks, two per recycle), so none waits in the
	 * kernel's overflow list; a kernel without IORING_SETUP_CQSIZE (before
	 * 5.5) gets the default, and can recycle nothing anyway (6.9).
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | FSV_SETUP_DEFER;
	p.cq_entries = FSV_CQ;
	fd = (int)syscall(__NR_io_uring_setup, FSV_RING, &p);
	if (fd == -1 && errno == EINVAL) {	/* before 6.1 */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = FSV_CQ;
		fd = (int)syscall(__NR_io_uring_setup, FSV_RING, &p);
	}
	if (fd == -1 && errno == EINVAL) {
		memset(&p, 0, sizeof(p));
		fd = (int)syscall(__NR_io_uring_setup, FSV_RING, &p);
	}
	if (fd == -1) {
		log_debug("fsyncv: no io_uring (%s): one fsync at a time",
		    strerror(errno));
		return false;
	}
	sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if ((p.features & IORING_FEAT_SINGLE_MMAP) && cqlen > sqlen)
		sqlen = cqlen;
	sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		goto fail;
	cq = sq;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP) &&
	    (cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_POPULATE, fd, IORING_OFF_CQ_RING)) == MAP_FAILED)
		goto fail;
	sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
	    IORING_OFF_SQES);
	if (sqes == MAP_FAILED)
		goto fail;
	ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
	ring.sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	ring.sq_array = (unsigned *)(sq + p.sq_off.array);
	ring.cq_head = (unsigned *)(cq + p.cq_off.head);
	ring.cq_tail = (unsigned *)(cq + p.cq_off.tail);
	ring.cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	ring.sqes = sqes;
	ring.entries = p.sq_entries < p.cq_entries ? p.sq_entries : p.cq_entries;
	ring.deferred = (p.flags & FSV_SETUP_DEFER) == FSV_SETUP_DEFER;
	ring.fd = fd;
	ring.broken = false;
	return true;
fail:
	/* mappings made before the failure stay: a few pages, once */
	log_warn("fsyncv: io_uring mmap");
	close(fd);
	return false;
}

/*
 * ring_reap - collect completions: a background unlink frees its slot
 * (logged if it failed), an fsync's result goes into errs (NULL: none
 * can be in flight); returns how many fsyncs completed
 */
static size_t
ring_reap(int *errs)
{
	unsigned head = *ring.cq_head;
	unsigned tail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
	size_t n = 0;

	for (; head != tail; head++) {
		const struct io_uring_cqe *c = &ring.cqes[head & *ring.cq_mask];

		if (c->user_data & REC_TAG) {
			unsigned slot = (unsigned)(c->user_data &
			    ~(REC_TAG | REC_RENAME));

			if (slot < REC_MAX && rec[slot].busy &&
			    rec[slot].steps > 0) {
				if (c->res == -EINVAL &&
				    !(c->user_data & REC_RENAME))
					rec_sync = true;	/* before 6.9 */
				if (c->res < 0) {
					if (c->res != -ECANCELED &&
					    c->res != -EINVAL)
						log_warnx("recycle %s: %s",
						    rec[slot].from,
						    strerror(-c->res));
					rec[slot].failed = true;
				} else if (c->user_data & REC_RENAME)
					nremoved++;	/* the old name went */
				rec[slot].steps--;
			}
		} else if (c->user_data & UNL_TAG) {
			unsigned slot = (unsigned)(c->user_data & ~UNL_TAG);

			if (slot < UNL_MAX && unl[slot].busy) {
				if (c->res == -EINVAL) {	/* before 5.11 */
					unl_sync = true;
					if (unlinkat(unl[slot].dirfd,
					    unl[slot].name, 0) == -1)
						log_warn("unlink %s",
						    unl[slot].name);
					else
						nremoved++;
				} else if (c->res < 0)
					log_warnx("unlink %s: %s", unl[slot].name,
					    strerror(-c->res));
				else
					nremoved++;
				unl[slot].busy = false;
				nunl--;
			}
		} else if (errs != NULL) {
			errs[c->user_data] = c->res < 0 ? -c->res : 0;
			n++;
		}
	}
	__atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
	return n;
}

/*
 * ring_submit - hand the kernel the n entries queued last; how many it
 * took.  A deferred ring also posts the completions waiting for us on the
 * way (GETEVENTS, none to wait for): ring_reap then sees them.
 */
static long
ring_submit(unsigned n)
{
	long r;

	do
		r = syscall(__NR_io_uring_enter, ring.fd, n, 0,
		    ring.deferred ? IORING_ENTER_GETEVENTS : 0, NULL, 0);
	while (r == -1 && errno == EINTR);
	return r;
}

/*
 * ring_collect - a deferred ring: post the completions that wait for us
 * (without it they stay in the kernel); then reap them
 */
static void
ring_collect(void)
{
	if (ring.deferred)
		(void)ring_submit(0);
	(void)ring_reap(NULL);
}

/* ring_unlink - submit unlinkat(dirfd, name) to the ring; false: not taken */
static bool
ring_unlink(int dirfd, const char *name)
{
	unsigned tail = *ring.sq_tail, at, slot;
	struct io_uring_sqe *s;
	size_t len = strlen(name);
	long r;

	if (len >= UNL_NAME || unl_sync)
		return false;
	(void)ring_reap(NULL);
	if (nunl == UNL_MAX)
		ring_collect();
	if (nunl == UNL_MAX)
		return false;
	for (slot = 0; unl[slot].busy; slot++)	/* one is free */
		;
	memcpy(unl[slot].name, name, len + 1);
	unl[slot].dirfd = dirfd;
	at = tail & *ring.sq_mask;
	s = &ring.sqes[at];
	memset(s, 0, sizeof(*s));
	s->opcode = IORING_OP_UNLINKAT;
	s->fd = dirfd;
	s->addr = (uint64_t)(uintptr_t)unl[slot].name;
	s->unlink_flags = 0;
	s->user_data = UNL_TAG | slot;
	ring.sq_array[at] = at;
	__atomic_store_n(ring.sq_tail, tail + 1, __ATOMIC_RELEASE);
	if ((r = ring_submit(1)) != 1) {
		/* not consumed: take it back (nothing else is pending) */
		__atomic_store_n(ring.sq_tail, tail, __ATOMIC_RELEASE);
		return false;
	}
	unl[slot].busy = true;
	nunl++;
	return true;
}

/*
 * ring_fsync - n (<= ring.entries) fsyncs through the ring.  Those the
 * kernel does not take are done with fsync(2).  Should waiting for the
 * completions fail for good, the ones not reaped keep EIO and the ring
 * is abandoned (a late completion must not land in a later batch).
 */
static void
ring_fsync(const int *fds, int *errs, size_t n)
{
	unsigned tail = *ring.sq_tail, submit = (unsigned)n;
	size_t i, done = 0, waiting = n;
	int hard = 0;

	for (i = 0; i < n; i++) {
		unsigned at = (tail + (unsigned)i) & *ring.sq_mask;
		struct io_uring_sqe *s = &ring.sqes[at];

		memset(s, 0, sizeof(*s));
		s->opcode = IORING_OP_FSYNC;
		s->fd = fds[i];
		s->user_data = i;
		ring.sq_array[at] = at;
		errs[i] = EIO;		/* until its completion says otherwise */
	}
	__atomic_store_n(ring.sq_tail, tail + submit, __ATOMIC_RELEASE);
	while (done < waiting) {
		long r = syscall(__NR_io_uring_enter, ring.fd, submit,
		    (unsigned)(waiting - done), IORING_ENTER_GETEVENTS, NULL, 0);

		if (r > 0)
			submit -= (unsigned)r > submit ? submit : (unsigned)r;
		if (r == -1 && errno != EINTR && errno != EAGAIN &&
		    errno != EBUSY) {
			if (submit > 0) {
				/* take back what the kernel did not take */
				waiting = n - submit;
				__atomic_store_n(ring.sq_tail,
				    tail + (unsigned)waiting, __ATOMIC_RELEASE);
				for (i = waiting; i < n; i++)
					errs[i] = fsync(fds[i]) == -1 ? errno : 0;
				submit = 0;
				if (waiting == 0)
					break;
			}
			if (++hard == 100) {
				log_warn("fsyncv: io_uring_enter; one fsync at "
				    "a time from now on");
				ring.broken = true;
				return;
			}
		}
		done += ring_reap(errs);
	}
	if (hard)
		ring.broken = true;	/* it failed once: do not trust it */
}
/* ring_recycle - submit the linked truncate and rename; false: not taken */
static bool
ring_recycle(int fd, int dirfd, const char *from, const char *to)
{
	unsigned tail = *ring.sq_tail, at, slot;
	struct io_uring_sqe *s;
	size_t flen = strlen(from), tlen = strlen(to);
	long r;

	if (flen >= UNL_NAME || tlen >= UNL_NAME || rec_sync)
		return false;
	(void)ring_reap(NULL);
	if (nrec == REC_MAX)
		ring_collect();
	if (nrec == REC_MAX)
		return false;
	for (slot = 0; rec[slot].busy; slot++)	/* one is free */
		;
	memcpy(rec[slot].from, from, flen + 1);
	memcpy(rec[slot].to, to, tlen + 1);
	rec[slot].fd = fd;
	rec[slot].dirfd = dirfd;
	rec[slot].failed = false;
	at = tail & *ring.sq_mask;
	s = &ring.sqes[at];
	memset(s, 0, sizeof(*s));
	s->opcode = FSV_OP_FTRUNCATE;
	s->fd = fd;
	s->off = 0;
	s->flags = IOSQE_IO_LINK;	/* no rename unless truncated */
	s->user_data = REC_TAG | slot;
	ring.sq_array[at] = at;
	at = (tail + 1) & *ring.sq_mask;
	s = &ring.sqes[at];
	memset(s, 0, sizeof(*s));
	s->opcode = IORING_OP_RENAMEAT;
	s->fd = dirfd;
	s->addr = (uint64_t)(uintptr_t)rec[slot].from;
	s->len = (unsigned)dirfd;
	s->addr2 = (uint64_t)(uintptr_t)rec[slot].to;
	s->rename_flags = RENAME_NOREPLACE;
	s->user_data = REC_TAG | REC_RENAME | slot;
	ring.sq_array[at] = at;
	__atomic_store_n(ring.sq_tail, tail + 2, __ATOMIC_RELEASE);
	if ((r = ring_submit(2)) != 2) {
		if (r == 1) {
			/*
			 * The truncate went alone: its completion will come
			 * (the rename's link is cut, so nothing else does);
			 * the slot waits for it and then reports a failure.
			 */
			__atomic_store_n(ring.sq_tail, tail + 1,
			    __ATOMIC_RELEASE);
			rec[slot].busy = true;
			rec[slot].steps = 1;
			rec[slot].failed = true;
			nrec++;
			return true;
		}
		/* not consumed: take both back (nothing else is pending) */
		__atomic_store_n(ring.sq_tail, tail, __ATOMIC_RELEASE);
		return false;
	}
	rec[slot].busy = true;
	rec[slot].steps = 2;
	nrec++;
	return true;
}
#endif	/* HAVE_IO_URING */

bool
recycle_bg(int fd, int dirfd, const char *from, const char *to)
{
#ifdef HAVE_IO_URING
	return ring_open() && ring_recycle(fd, dirfd, from, to);
#else
	(void)fd;
	(void)dirfd;
	(void)from;
	(void)to;
	return false;
#endif
}

void
fsyncv_collect(void)
{
#ifdef HAVE_IO_URING
	if (ring.fd != -1 && ring.deferred && (nunl > 0 || nrec > 0))
		ring_collect();
#endif
}

bool
recycle_possible(void)
{
#ifdef HAVE_IO_URING
	return !rec_sync && ring_open() && nrec < REC_MAX;
#else
	return false;
#endif
}

#ifdef HAVE_IO_URING
/* rec_take - the first finished recycle in view (recycle_reap) */
static bool
rec_take(int *fd, char *to, size_t tosz)
{
	unsigned slot;

	for (slot = 0; slot < REC_MAX; slot++) {
		if (!rec[slot].busy || rec[slot].steps > 0)
			continue;
		rec[slot].busy = false;
		nrec--;
		if (rec[slot].failed || strlen(rec[slot].to) >= tosz) {
			/* under its old name, maybe not truncated */
			close(rec[slot].fd);
			(void)unlinkat_bg(rec[slot].dirfd, rec[slot].from);
			continue;
		}
		*fd = rec[slot].fd;
		memcpy(to, rec[slot].to, strlen(rec[slot].to) + 1);
		return true;
	}
	return false;
}
#endif

bool
recycle_reap(int *fd, char *to, size_t tosz)
{
#ifdef HAVE_IO_URING
	if (ring.fd == -1 || nrec == 0)
		return false;
	(void)ring_reap(NULL);
	if (rec_take(fd, to, tosz))
		return true;
	/* nothing finished in view: a deferred ring may hold some back */
	if (ring.deferred && nrec > 0) {
		ring_collect();
		return rec_take(fd, to, tosz);
	}
#else
	(void)fd;
	(void)to;
	(void)tosz;
#endif
	return false;
}

int
unlinkat_bg(int dirfd, const char *name)
{
#ifdef HAVE_IO_URING
	if (ring_open() && ring_unlink(dirfd, name))
		return 0;
#endif
	if (unlinkat(dirfd, name, 0) == -1) {
		log_warn("unlink %s", name);
		return -1;
	}
	nremoved++;
	return 0;
}

uint64_t
fsyncv_removed(void)
{
	return nremoved;
}

size_t
fsyncv(const int *fds, int *errs, size_t n)
{
	size_t i = 0, nfail = 0;

#ifdef HAVE_IO_URING
	if (n > 1 && ring_open())
		for (; i < n && !ring.broken; i += ring.entries)
			ring_fsync(fds + i, errs + i, n - i < ring.entries ?
			    n - i : ring.entries);
#endif
	for (; i < n; i++)
		errs[i] = fsync(fds[i]) == -1 ? errno : 0;
	for (i = 0; i < n; i++)
		nfail += errs[i] != 0;
	return nfail;
}
