/* SPDX-License-Identifier: ISC */
/*
 * climit.h - per-client limits shared by the listeners of smtpd and imapd
 * (issue 16 item 4, 5): connections per client address, and a pause of
 * the listening sockets when accept() fails for want of descriptors or
 * memory, instead of a busy loop.
 *
 * One table per process, on the event loop; no I/O besides the timer and
 * the log.  Addresses are numeric strings (getnameinfo NI_NUMERICHOST);
 * an IPv6 client is counted per /64, since one holds a whole /64.
 */
#ifndef FACTEUR_CLIMIT_H
#define FACTEUR_CLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ev.h"

#define CLIMIT_KEY_MAX		64
#define CLIMIT_PAUSE_MS		250	/* listeners rest after EMFILE & co */
#define CLIMIT_LOG_MS		10000	/* one log line per period at most */

/* climit_addr_key - the counting key of a client address: IPv6 by /64 */
void	climit_addr_key(const char *ip, char *key, size_t keysz);

struct climit;
/* climit_new - an empty table; never NULL (dies on OOM: startup) */
struct climit	*climit_new(void);
void	climit_free(struct climit **tp);
/*
 * climit_take - count one more connection of `ip` unless it already has
 * `max`: true when counted (the caller must climit_release it later).
 * false also when memory is short.
 */
bool	climit_take(struct climit *t, const char *ip, unsigned max);
/* climit_release - one connection of `ip` ended */
void	climit_release(struct climit *t, const char *ip);
/* climit_count - connections counted for `ip` */
unsigned climit_count(const struct climit *t, const char *ip);

/*
 * Connection rate: new connections per client key (climit_addr_key) in
 * the current minute, in a fixed table of CLIMIT_RATE_SLOTS slots (a key
 * takes its hash's slot from an idle one), so memory and work are
 * bounded whatever the number of clients; a flood of many addresses can
 * only reset one another's counts, never block someone else.
 */
#define CLIMIT_RATE_SLOTS	1024
struct climit_rate;
struct climit_rate *climit_rate_new(void);
void	climit_rate_free(struct climit_rate **rp);
/* climit_rate_take - one more connection of ip at now_ms; false when it
 * already made per_minute in this minute (0: no limit) */
bool	climit_rate_take(struct climit_rate *r, const char *ip,
	    unsigned per_minute, uint64_t now_ms);

/* the pause of a set of listeners after a failed accept() */
struct climit_pause {
	struct ev_timer	 t;
	void		(*stop)(void *arg);	/* stop watching the listeners */
	void		(*resume)(void *arg);	/* watch them again */
	void		*arg;
	uint64_t	 logged;	/* ev_now() of the last log line */
	unsigned	 quiet;		/* failures not logged since */
};

void	climit_pause_init(struct climit_pause *p, void (*stop)(void *),
	    void (*resume)(void *), void *arg);
/*
 * climit_accept_failed - accept() failed with `err` on `what`.  For a
 * shortage (EMFILE, ENFILE, ENOBUFS, ENOMEM) the listeners stop for
 * CLIMIT_PAUSE_MS and one line is logged per CLIMIT_LOG_MS; returns true
 * then.  Returns false for the transient errors (EAGAIN, EINTR,
 * ECONNABORTED, ...): the caller just returns to the loop.
 */
bool	climit_accept_failed(struct climit_pause *p, int err, const char *what);

#endif
