/* SPDX-License-Identifier: ISC */
/*
 * ev.h - the one event loop of a process (epoll, timers, signals).
 *
 * There is exactly one loop per process, so the API has no loop object.
 * Callbacks run from ev_run(); they may add or delete any watcher,
 * including their own.  Timers are one-shot; re-add them to repeat.
 */
#ifndef FACTEUR_EV_H
#define FACTEUR_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_READ		0x1
#define EV_WRITE	0x2
#define EV_ERROR	0x4	/* passed to callbacks on EPOLLERR/EPOLLHUP */

struct ev_io;
typedef void ev_io_cb(struct ev_io *io, unsigned events, void *arg);

struct ev_io {
	int		 fd;
	unsigned	 want;		/* EV_READ|EV_WRITE asked for */
	unsigned	 kwant;		/* what the kernel watches (see ev_io_want) */
	bool		 added;
	bool		 dirty;		/* want != kwant: in the list to apply */
	ev_io_cb	*cb;
	void		*arg;
};

struct ev_timer;
typedef void ev_timer_cb(struct ev_timer *t, void *arg);

struct ev_timer {
	uint64_t	 when;		/* ev_now() milliseconds */
	size_t		 slot;		/* heap index + 1, 0 = not armed */
	ev_timer_cb	*cb;
	void		*arg;
};

typedef void ev_signal_cb(int sig, void *arg);

/* ev_init - create the loop; call once per process (again after fork) */
void	 ev_init(void);
/* ev_io_init - bind fd and callback; watches nothing yet */
void	 ev_io_init(struct ev_io *io, int fd, ev_io_cb *cb, void *arg);
/*
 * ev_io_want - watch exactly `events` (0 stops watching, fd stays open).
 * A change of a watched descriptor reaches the kernel just before the loop
 * waits again, so that wanting EV_WRITE and dropping it in the same round
 * (a reply written at once) costs no system call; callbacks only see the
 * events they want.  The first call registers the descriptor at once.
 */
int	 ev_io_want(struct ev_io *io, unsigned events);
/* ev_io_stop - stop watching; call before close(io->fd) */
void	 ev_io_stop(struct ev_io *io);

void	 ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *arg);
/* ev_timer_add - (re)arm to fire once after msec milliseconds */
void	 ev_timer_add(struct ev_timer *t, uint64_t msec);
void	 ev_timer_del(struct ev_timer *t);
static inline bool
ev_timer_pending(const struct ev_timer *t)
{
	return t->slot != 0;
}

/* ev_signal - deliver `sig` through the loop (signalfd); cb NULL ignores it */
void	 ev_signal(int sig, ev_signal_cb *cb, void *arg);

/* ev_now - monotonic milliseconds, updated once per loop iteration */
uint64_t ev_now(void);
/* ev_run - run until ev_break(); returns 0, or -1 on a loop failure */
int	 ev_run(void);
void	 ev_break(void);

#endif
