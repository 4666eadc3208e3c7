/* SPDX-License-Identifier: ISC */
/*
 * ev.c - the per-process event loop: epoll for descriptors, a binary heap
 * of one-shot timers, signalfd for signals.
 *
 * Runs in every daemon process, after fork.  Never blocks except in
 * epoll_wait.  A loop failure other than EINTR is returned by ev_run so the
 * role can exit and be restarted by its supervisor.  ev_run() first gives
 * back the stack pages that start-up used below it (ev_stack_trim).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "xmem.h"

struct ev_sig {
	ev_signal_cb	*cb;
	void		*arg;
};

static int ev_epfd = -1;
static uint64_t ev_time;
static bool ev_stop;
static struct ev_timer **ev_heap;
static size_t ev_nheap, ev_capheap;
static struct ev_io ev_sigio;
static sigset_t ev_sigset;
static struct ev_sig ev_sigs[65];
/* the batch being dispatched, so ev_io_stop can cancel pending events */
static struct epoll_event *ev_batch;
static int ev_nbatch;
/* watchers whose wanted events changed since the kernel was last told */
static struct ev_io **ev_dirty;
static size_t ev_ndirty, ev_capdirty;

static uint64_t
ev_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
ev_now(void)
{
	return ev_time;
}

void
ev_init(void)
{
	if (ev_epfd != -1)
		close(ev_epfd);
	if (ev_sigio.added || ev_sigio.fd > 0)
		close(ev_sigio.fd);
	memset(&ev_sigio, 0, sizeof(ev_sigio));
	memset(ev_sigs, 0, sizeof(ev_sigs));
	sigemptyset(&ev_sigset);
	ev_nheap = 0;
	while (ev_ndirty > 0)		/* the parent's changes: its loop is gone */
		ev_dirty[--ev_ndirty]->dirty = false;
	ev_stop = false;
	if ((ev_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	ev_time = ev_clock();
}

void
ev_io_init(struct ev_io *io, int fd, ev_io_cb *cb, void *arg)
{
	io->fd = fd;
	io->want = io->kwant = 0;
	io->added = io->dirty = false;
	io->cb = cb;
	io->arg = arg;
}

/* ev_io_apply - tell the kernel what io wants; -1 on failure */
static int
ev_io_apply(struct ev_io *io)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = ((io->want & EV_READ) ? EPOLLIN : 0) |
	    ((io->want & EV_WRITE) ? EPOLLOUT : 0);
	e.data.ptr = io;
	if (epoll_ctl(ev_epfd, io->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    io->fd, &e) == -1) {
		log_warn("epoll_ctl fd %d", io->fd);
		return -1;
	}
	io->added = true;
	io->kwant = io->want;
	return 0;
}

int
ev_io_want(struct ev_io *io, unsigned events)
{
	if (!io->added) {
		io->want = events;
		return ev_io_apply(io);
	}
	io->want = events;
	if (io->want != io->kwant && !io->dirty) {
		if (ev_ndirty == ev_capdirty) {
			ev_capdirty = ev_capdirty ? ev_capdirty * 2 : 64;
			ev_dirty = xreallocarray(ev_dirty, ev_capdirty,
			    sizeof(*ev_dirty));
		}
		ev_dirty[ev_ndirty++] = io;
		io->dirty = true;
	}
	return 0;
}

/* ev_apply_dirty - before waiting: the changes of this round, if still changes */
static void
ev_apply_dirty(void)
{
	size_t i;

	for (i = 0; i < ev_ndirty; i++) {
		struct ev_io *io = ev_dirty[i];

		io->dirty = false;
		if (io->added && io->want != io->kwant)
			(void)ev_io_apply(io);
	}
	ev_ndirty = 0;
}

void
ev_io_stop(struct ev_io *io)
{
	size_t j;
	int i;

	if (io->added)
		(void)epoll_ctl(ev_epfd, EPOLL_CTL_DEL, io->fd, NULL);
	for (i = 0; i < ev_nbatch; i++)
		if (ev_batch[i].data.ptr == io)
			ev_batch[i].data.ptr = NULL;
	if (io->dirty)
		for (j = 0; j < ev_ndirty; j++)
			if (ev_dirty[j] == io) {
				ev_dirty[j] = ev_dirty[--ev_ndirty];
				break;
			}
	io->dirty = false;
	io->added = false;
	io->want = io->kwant = 0;
}

/* heap helpers: slot is index + 1 */
static void
ev_heap_set(size_t i, struct ev_timer *t)
{
	ev_heap[i] = t;
	t->slot = i + 1;
}

static void
ev_heap_up(size_t i)
{
	struct ev_timer *t = ev_heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (ev_heap[p]->when <= t->when)
			break;
		ev_heap_set(i, ev_heap[p]);
		i = p;
	}
	ev_heap_set(i, t);
}

static void
ev_heap_down(size_t i)
{
	struct ev_timer *t = ev_heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= ev_nheap)
			break;
		if (c + 1 < ev_nheap && ev_heap[c + 1]->when < ev_heap[c]->when)
			c++;
		if (t->when <= ev_heap[c]->when)
			break;
		ev_heap_set(i, ev_heap[c]);
		i = c;
	}
	ev_heap_set(i, t);
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *arg)
{
	t->when = 0;
	t->slot = 0;
	t->cb = cb;
	t->arg = arg;
}

void
ev_timer_del(struct ev_timer *t)
{
	size_t i;
	struct ev_timer *last;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	last = ev_heap[--ev_nheap];
	if (i == ev_nheap)
		return;
	ev_heap_set(i, last);
	ev_heap_up(i);
	ev_heap_down(last->slot - 1);
}

void
ev_timer_add(struct ev_timer *t, uint64_t msec)
{
	ev_timer_del(t);
	if (ev_nheap == ev_capheap) {
		ev_capheap = ev_capheap ? ev_capheap * 2 : 64;
		ev_heap = xreallocarray(ev_heap, ev_capheap, sizeof(*ev_heap));
	}
	t->when = ev_clock() + msec;
	ev_heap_set(ev_nheap++, t);
	ev_heap_up(ev_nheap - 1);
}

static void
ev_signal_read(struct ev_io *io, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo < 65 && ev_sigs[si.ssi_signo].cb)
			ev_sigs[si.ssi_signo].cb((int)si.ssi_signo,
			    ev_sigs[si.ssi_signo].arg);
	}
}

void
ev_signal(int sig, ev_signal_cb *cb, void *arg)
{
	int fd;

	if (cb == NULL) {
		signal(sig, SIG_IGN);
		return;
	}
	ev_sigs[sig].cb = cb;
	ev_sigs[sig].arg = arg;
	sigaddset(&ev_sigset, sig);
	if (sigprocmask(SIG_BLOCK, &ev_sigset, NULL) == -1)
		fatal("sigprocmask");
	fd = signalfd(ev_sigio.added ? ev_sigio.fd : -1, &ev_sigset,
	    SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		fatal("signalfd");
	if (!ev_sigio.added) {
		ev_io_init(&ev_sigio, fd, ev_signal_read, NULL);
		ev_io_want(&ev_sigio, EV_READ);
	}
}

void
ev_break(void)
{
	ev_stop = true;
}

static void
ev_run_timers(void)
{
	while (ev_nheap > 0 && ev_heap[0]->when <= ev_time) {
		struct ev_timer *t = ev_heap[0];

		ev_timer_del(t);
		t->cb(t, t->arg);
	}
}

#define EV_STACK_KEEP	(8 * 1024)	/* below the caller: madvise and a margin */
#define EV_STACK_TRIM	(256 * 1024)	/* what start-up may have used below */

/*
 * ev_stack_trim - give the stack pages below the loop back (issue 17):
 * parsing the configuration, opening databases and the like go deeper
 * than the loop and its callbacks, and an idle process kept them, 20 to
 * 40 KiB each.  MADV_DONTNEED maps a zero page at the next touch.  The
 * range stays within the stack and the guard gap below it (1 MiB); its
 * unmapped part only makes madvise report ENOMEM.
 */
static void __attribute__((noinline))
ev_stack_trim(void)
{
	char here;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t hi = ((uintptr_t)&here - EV_STACK_KEEP) & ~(pg - 1);

	__asm__ __volatile__("" : : "r"(&here) : "memory");
	(void)madvise((void *)(hi - EV_STACK_TRIM), EV_STACK_TRIM,
	    MADV_DONTNEED);
}

int
ev_run(void)
{
	static struct epoll_event evs[64];
	int n, i, wait;

	ev_stack_trim();
	ev_stop = false;
	while (!ev_stop) {
		ev_time = ev_clock();
		ev_run_timers();
		if (ev_stop)
			break;
		ev_apply_dirty();
		wait = -1;
		if (ev_nheap > 0) {
			/*
			 * the clock of now, not of the round's start: a timer
			 * callback that took a while (an fsync) and added a
			 * 0 ms timer (an IPC flush) must not sleep a
			 * millisecond before it runs
			 */
			uint64_t now = ev_clock();
			uint64_t d = ev_heap[0]->when > now ?
			    ev_heap[0]->when - now : 0;
			wait = d > 60000 ? 60000 : (int)d;
		}
		n = epoll_wait(ev_epfd, evs, 64, wait);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			return -1;
		}
		ev_time = ev_clock();
		ev_batch = evs;
		ev_nbatch = n;
		for (i = 0; i < n; i++) {
			struct ev_io *io = evs[i].data.ptr;
			unsigned e = 0;

			if (io == NULL)		/* stopped by an earlier callback */
				continue;

			if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
				e |= EV_READ;
			if (evs[i].events & EPOLLOUT)
				e |= EV_WRITE;
			/* a change not yet applied: only what is wanted now */
			e &= io->want;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				e |= EV_ERROR | (io->want & (EV_READ | EV_WRITE));
			if (e == 0)
				continue;
			io->cb(io, e, io->arg);
		}
		ev_nbatch = 0;
	}
	return 0;
}
