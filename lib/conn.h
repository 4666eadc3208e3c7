/* SPDX-License-Identifier: ISC */
/*
 * conn.h - a non-blocking stream connection, plain or TLS, on the event
 * loop, with bounded input and output buffers.
 *
 * The owner gets one callback with an event:
 *   CONN_EV_READ     new bytes are in c->in (consume with buf_drain)
 *   CONN_EV_DRAINED  everything queued was written (after conn_write),
 *                    also when that happened right after CONN_EV_READ
 *   CONN_EV_TLS      the TLS handshake finished
 *   CONN_EV_TIMEOUT  no input for timeout_ms; the owner may write a last
 *                    reply and conn_flush_close(), or conn_close()
 *   CONN_EV_CLOSED   peer closed, error, or a flush_close finished
 *                    (c->error says which: "closed" for a finished
 *                    flush_close); the owner must call conn_close() and
 *                    free its state.
 * When c->in is full (its max), reading pauses until the owner drains it:
 * the owner must always consume or skip what it cannot use.  An owner that
 * drains c->in outside the callback calls conn_pause(c, false) to resume.
 * conn_close() may be called at any time, also inside the callback; after
 * it no further callback comes.
 */
#ifndef FACTEUR_CONN_H
#define FACTEUR_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "ev.h"

enum conn_event {
	CONN_EV_READ,
	CONN_EV_DRAINED,
	CONN_EV_TLS,
	CONN_EV_TIMEOUT,
	CONN_EV_CLOSED,
};

struct conn;
typedef void conn_cb(struct conn *c, enum conn_event ev, void *arg);

struct conn {
	int		 fd;
	SSL		*ssl;
	struct ev_io	 io;
	struct ev_timer	 timer;
	struct ev_timer	 flush;		/* writes what the owner queued this round */
	struct ev_timer	 kick;		/* reads what TLS holds after a pause */
	struct buf	 in;
	struct buf	 out;
	conn_cb		*cb;
	void		*arg;
	unsigned	 timeout_ms;	/* idle timeout, 0 = none */
	const char	*error;		/* why CONN_EV_CLOSED came: "eof", "timeout", ... */
	size_t		 clear_len;	/* head of out to send in clear before TLS */
	bool		 handshaking;
	bool		 tls_client;
	bool		 paused;	/* owner asked to stop reading */
	bool		 pause_hard;	/* input came while paused: unwatched */
	bool		 wblocked;	/* the socket took not all: wait for EV_WRITE */
	bool		 closing;	/* close once out is flushed */
	bool		 in_cb;
	bool		 dead;
	int		*alive;		/* set to 0 by conn_close while in a callback */
};

/* conn_init - take over `fd` (made non-blocking here) and start reading */
void	conn_init(struct conn *c, int fd, size_t in_max, size_t out_max,
	    conn_cb *cb, void *arg);
/* conn_init_nb - the same for an fd already O_NONBLOCK (accept4 made it) */
void	conn_init_nb(struct conn *c, int fd, size_t in_max, size_t out_max,
	    conn_cb *cb, void *arg);
/* conn_write - queue bytes; -1 when past out_max (the peer is not reading) */
int	conn_write(struct conn *c, const void *p, size_t n);
int	conn_printf(struct conn *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * conn_flush_close - close after everything queued is written: CONN_EV_CLOSED
 * with c->error "closed" comes from the event loop (never from inside this
 * call), or "timeout" when the peer does not read for timeout_ms (30 s if
 * no timeout was set).
 */
void	conn_flush_close(struct conn *c);
/* conn_pause - stop (true) or resume (false) reading */
void	conn_pause(struct conn *c, bool pause);
/* conn_set_timeout - idle timeout in ms, restarted by every read */
void	conn_set_timeout(struct conn *c, unsigned ms);
/*
 * conn_starttls - start a TLS handshake as server (sni NULL) or client
 * (sni = the host name to send and verify).  Any plaintext already
 * buffered in c->in is discarded first (STARTTLS injection, STYLE 9), and
 * no plaintext is read after it.  Output queued before the call (such as
 * "220 Ready to start TLS") is sent in clear first (c->clear_len counts
 * what is left of it), then the handshake starts; output queued after the
 * call goes out encrypted once the handshake is done (CONN_EV_TLS, not
 * CONN_EV_DRAINED, follows the clear bytes).  May be called
 * inside the callback.  -1 if TLS is already on or SSL_new fails.
 */
int	conn_starttls(struct conn *c, SSL_CTX *ctx, const char *sni, bool client);
/* conn_close - release everything; safe inside the callback */
void	conn_close(struct conn *c);

#endif
