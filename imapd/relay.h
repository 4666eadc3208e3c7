/* SPDX-License-Identifier: ISC */
/*
 * relay.h - the login process's byte relay between a client connection
 * (TLS) and the socket of the worker that serves the logged-in session.
 */
#ifndef FACTEUR_RELAY_H
#define FACTEUR_RELAY_H

#include <stdbool.h>

#include "conn.h"
#include "ev.h"

#define RELAY_HIGH	(256 * 1024)	/* pause a side whose peer lags */

/* relay_end_cb - the worker closed its end (or the client could not take
 * more); `answered`: the worker had sent something.  The relay is stopped
 * already; the callee may free it. */
typedef void relay_end_cb(void *arg, bool answered);

struct relay {
	struct conn	*client;	/* the session's, not owned */
	struct conn	 worker;
	struct ev_timer	 timer;		/* resumes a paused side */
	relay_end_cb	*end;
	void		*arg;
	bool		 answered;
	bool		 on;
};

/* relay_start - take over fd (the worker's end of a socketpair) */
void	relay_start(struct relay *r, struct conn *client, int fd,
	    relay_end_cb *end, void *arg);
/* relay_pump - move bytes both ways; call on the client's READ/DRAINED */
void	relay_pump(struct relay *r);
void	relay_stop(struct relay *r);

#endif
