/* SPDX-License-Identifier: ISC */
/*
 * conn.c - non-blocking plain/TLS stream on the event loop (see conn.h).
 *
 * Runs in network-facing processes.  Input is bounded by in.max: when the
 * buffer is full we stop reading, so a flooding peer costs at most that
 * much memory.  Output is bounded by out.max: a peer that does not read
 * gets its connection closed instead of growing our memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "conn.h"
#include "log.h"
#include "tls.h"

#define CONN_READ_CHUNK	4096	/* TLS reads */
#define CONN_SCRATCH	16384	/* plain reads, conn_recv */

static void conn_io(struct ev_io *io, unsigned events, void *arg);
static void conn_timeout(struct ev_timer *t, void *arg);
static void conn_kick(struct ev_timer *t, void *arg);
static void conn_flush_round(struct ev_timer *t, void *arg);

/* conn_emit - call the owner; false if the conn was closed meanwhile */
static bool
conn_emit(struct conn *c, enum conn_event ev)
{
	int alive = 1;
	int *prev = c->alive;

	c->alive = &alive;
	c->cb(c, ev, c->arg);
	if (!alive)
		return false;
	c->alive = prev;
	return true;
}

static void
conn_fail(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	c->error = why;
	ev_io_stop(&c->io);
	ev_timer_del(&c->timer);
	ev_timer_del(&c->flush);
	ev_timer_del(&c->kick);
	(void)conn_emit(c, CONN_EV_CLOSED);
}

/*
 * conn_update - watch what we need now.  Two shortcuts save the system
 * calls of changing what epoll watches, twice per reply: output queued by
 * the owner is written at the end of the round (conn_flush_round), and
 * EV_WRITE is watched only when the socket did not take it all; a pause
 * keeps EV_READ watched until input actually comes while paused (a client
 * that waits for our answer sends nothing meanwhile).
 */
static void
conn_update(struct conn *c)
{
	unsigned want = 0;

	if (c->dead)
		return;
	if (c->handshaking && c->clear_len == 0 && !c->closing)
		want = c->io.want ? c->io.want : EV_READ;	/* as SSL asked */
	else {
		if (!c->handshaking && !c->closing && c->in.len < c->in.max &&
		    (!c->paused || (!c->pause_hard && (c->io.want & EV_READ))))
			want |= EV_READ;
		/* closing: the writable event finishes the close even when
		 * the last bytes already went out */
		if (c->closing || (c->out.len > 0 && (c->handshaking ||
		    c->wblocked)))
			want |= EV_WRITE;
		else if (c->out.len > 0 && !ev_timer_pending(&c->flush))
			ev_timer_add(&c->flush, 0);
	}
	ev_io_want(&c->io, want);
}

void
conn_init(struct conn *c, int fd, size_t in_max, size_t out_max,
    conn_cb *cb, void *arg)
{
	int fl;

	if (!((fl = fcntl(fd, F_GETFL)) & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	conn_init_nb(c, fd, in_max, out_max, cb, arg);
}

void
conn_init_nb(struct conn *c, int fd, size_t in_max, size_t out_max,
    conn_cb *cb, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	buf_init(&c->in, in_max);
	buf_init(&c->out, out_max);
	ev_io_init(&c->io, fd, conn_io, c);
	ev_timer_init(&c->timer, conn_timeout, c);
	ev_timer_init(&c->flush, conn_flush_round, c);
	ev_timer_init(&c->kick, conn_kick, c);
	conn_update(c);
}

void
conn_set_timeout(struct conn *c, unsigned ms)
{
	c->timeout_ms = ms;
	if (ms)
		ev_timer_add(&c->timer, ms);
	else
		ev_timer_del(&c->timer);
}

static void
conn_timeout(struct ev_timer *t, void *arg)
{
	struct conn *c = arg;

	if (c->closing) {
		conn_fail(c, "timeout");
		return;
	}
	c->error = "timeout";
	(void)conn_emit(c, CONN_EV_TIMEOUT);
}

/* conn_kick - a deferred read of what TLS decrypted ahead (conn_pause) */
static void
conn_kick(struct ev_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	if (!c->dead)
		conn_io(&c->io, EV_READ, c);
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->dead)
		return -1;
	if (buf_append(&c->out, p, n) == -1)
		return -1;
	conn_update(c);
	return 0;
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return conn_write(c, line, (size_t)n);
}

void
conn_pause(struct conn *c, bool pause)
{
	c->paused = pause;
	if (!pause)
		c->pause_hard = false;
	conn_update(c);
	/*
	 * TLS may hold decrypted bytes the socket will not signal again.  Its
	 * own timer: re-initialising the idle timer while it was pending (or
	 * kicking twice) put one timer twice into the event loop's heap.
	 */
	if (!pause && !c->dead && c->ssl && SSL_has_pending(c->ssl) &&
	    c->in.len < c->in.max && !ev_timer_pending(&c->kick))
		ev_timer_add(&c->kick, 0);
}

void
conn_flush_close(struct conn *c)
{
	c->closing = true;
	/*
	 * Bound the wait for a slow reader, from now: an idle timer about to
	 * fire (the owner's own deadline expired at the same moment) must not
	 * cut the last reply off before it is written.
	 */
	conn_set_timeout(c, c->timeout_ms ? c->timeout_ms : 30000);
	conn_update(c);
}

/* conn_handshake - 1 done, 0 in progress, -1 failed */
static int
conn_handshake(struct conn *c)
{
	int r = c->tls_client ? SSL_connect(c->ssl) : SSL_accept(c->ssl);

	if (r == 1) {
		c->handshaking = false;
		return 1;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		ev_io_want(&c->io, EV_READ);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		ev_io_want(&c->io, EV_WRITE);
		return 0;
	default:
		log_debug("tls handshake failed: %s", tls_error());
		return -1;
	}
}

/*
 * conn_flush - write what we can: 1 all written, 0 more later, -1 on a
 * broken connection.  After conn_starttls the first clear_len bytes go out
 * in clear; the rest waits for the end of the handshake.
 */
static int
conn_flush(struct conn *c)
{
	c->wblocked = true;	/* until everything went */
	while (c->out.len > 0) {
		ssize_t w;

		if (c->ssl && c->clear_len == 0) {
			int r;

			if (c->handshaking)
				return 0;
			r = SSL_write(c->ssl, buf_head(&c->out),
			    c->out.len > INT32_MAX ? INT32_MAX : (int)c->out.len);

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					return 0;
				return -1;
			}
			w = r;
		} else {
			size_t n = c->ssl ? c->clear_len : c->out.len;

			w = send(c->fd, buf_head(&c->out), n, MSG_NOSIGNAL);
			if (w == -1) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				return -1;
			}
			if (c->ssl)
				c->clear_len -= (size_t)w;
		}
		buf_drain(&c->out, (size_t)w);
	}
	buf_shrink(&c->out, 4096);
	c->wblocked = false;
	return 1;
}

/*
 * conn_recv - a plain read of what is there, up to room bytes, appended to
 * c->in: through a scratch buffer, so that one recv(2) takes a whole
 * message of a few KiB (one call less per 4 KiB message than reading
 * CONN_READ_CHUNK at a time) while c->in grows only by what came, as
 * before (an idle session keeps its small buffer)
 */
static ssize_t
conn_recv(struct conn *c, size_t room)
{
	static char scratch[CONN_SCRATCH];
	ssize_t r;
	int fail;

	if (room > sizeof(scratch))
		room = sizeof(scratch);
	if ((r = recv(c->fd, scratch, room, 0)) <= 0)
		return r;
	fail = buf_append(&c->in, scratch, (size_t)r);
	if (c->in.secret)
		explicit_bzero(scratch, (size_t)r);
	return fail == -1 ? -2 : r;
}

/* conn_fill - read into c->in; 1 got data, 0 nothing now, -1 eof/error */
static int
conn_fill(struct conn *c)
{
	int got = 0;

	while (c->in.len < c->in.max) {
		size_t room = c->in.max - c->in.len;
		ssize_t r;

		if (!c->ssl) {
			r = conn_recv(c, room);
			if (r == -2)
				return -1;
			if (r == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				return got ? 1 : -1;
			}
			if (r == 0)
				return got ? 1 : -1;
			got = 1;
			if ((size_t)r < room && (size_t)r < CONN_SCRATCH)
				break;
			continue;
		}
		if (room > CONN_READ_CHUNK)
			room = CONN_READ_CHUNK;
		if (buf_reserve(&c->in, room) == -1)
			return -1;
		r = SSL_read(c->ssl, buf_tail(&c->in), (int)room);
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, (int)r);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				break;
			return got ? 1 : -1;
		}
		buf_commit(&c->in, (size_t)r);
		got = 1;
		if ((size_t)r < room)
			break;
	}
	return got;
}

/*
 * conn_output - write what the owner queued, then finish a flush_close or
 * tell the owner the output drained.  false when the conn failed or the
 * owner closed it: then c must not be touched.
 */
static bool
conn_output(struct conn *c)
{
	bool had = c->out.len > 0;

	if (had && conn_flush(c) == -1) {
		conn_fail(c, "write error");
		return false;
	}
	if (c->handshaking || c->out.len > 0)
		return true;
	if (c->closing) {
		if (c->ssl)
			(void)SSL_shutdown(c->ssl);
		conn_fail(c, "closed");
		return false;
	}
	return had ? conn_emit(c, CONN_EV_DRAINED) : true;
}

/*
 * conn_tls_step - after conn_starttls: send the bytes queued before it in
 * clear, then advance the handshake.  1 done, 0 in progress (the wanted
 * event is set), -1 the conn failed (c must not be touched).
 */
static int
conn_tls_step(struct conn *c)
{
	int r;

	if (c->clear_len > 0) {
		if (conn_flush(c) == -1) {
			conn_fail(c, "write error");
			return -1;
		}
		if (c->clear_len > 0) {
			ev_io_want(&c->io, EV_WRITE);
			return 0;
		}
	}
	if (c->closing) {
		conn_fail(c, "closed");
		return -1;
	}
	if ((r = conn_handshake(c)) == -1) {
		conn_fail(c, "tls handshake failed");
		return -1;
	}
	return r;
}

/* conn_flush_round - the end of a round in which the owner queued output */
static void
conn_flush_round(struct ev_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	if (c->dead || c->handshaking)
		return;
	if (conn_output(c))
		conn_update(c);
}

static void
conn_io(struct ev_io *io, unsigned events, void *arg)
{
	struct conn *c = arg;
	int r;

	if (c->dead)
		return;
	if (c->paused && (events & (EV_READ | EV_ERROR)))
		c->pause_hard = true;	/* now stop watching it */
	if (c->handshaking) {
		if (conn_tls_step(c) != 1)
			return;
		if (!conn_emit(c, CONN_EV_TLS))
			return;
		events |= EV_READ;	/* data may have come with the handshake */
	}
	if (!conn_output(c))
		return;
	if ((events & (EV_READ | EV_ERROR)) && !c->handshaking && !c->paused &&
	    !c->closing && c->in.len < c->in.max) {
		r = conn_fill(c);
		if (r == -1) {
			conn_fail(c, "eof");
			return;
		}
		if (r == 1) {
			if (c->timeout_ms)
				ev_timer_add(&c->timer, c->timeout_ms);
			if (!conn_emit(c, CONN_EV_READ))
				return;
			/* answer pipelined input in the same round; this also
			 * ends a flush_close and reports CONN_EV_DRAINED */
			if (!conn_output(c))
				return;
		}
	}
	conn_update(c);
}

int
conn_starttls(struct conn *c, SSL_CTX *ctx, const char *sni, bool client)
{
	if (c->dead || c->ssl != NULL)
		return -1;
	if ((c->ssl = SSL_new(ctx)) == NULL)
		return -1;
	if (SSL_set_fd(c->ssl, c->fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	buf_reset(&c->in);	/* plaintext sent before the handshake is dropped */
	c->clear_len = c->out.len;	/* the owner's "220 Ready" goes first */
	c->tls_client = client;
	if (client) {
		if (sni) {
			SSL_set_tlsext_host_name(c->ssl, sni);
			SSL_set1_host(c->ssl, sni);
		}
		SSL_set_connect_state(c->ssl);
	} else
		SSL_set_accept_state(c->ssl);
	c->handshaking = true;
	/*
	 * Writable at once: conn_tls_step then sends the clear bytes and
	 * starts the handshake from the event loop, never from inside the
	 * owner's callback.
	 */
	ev_io_want(&c->io, EV_WRITE);
	return 0;
}

void
conn_close(struct conn *c)
{
	if (c->alive)
		*c->alive = 0;
	c->alive = NULL;
	ev_io_stop(&c->io);
	ev_timer_del(&c->timer);
	ev_timer_del(&c->flush);
	ev_timer_del(&c->kick);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->dead = true;
	buf_free(&c->in);
	buf_free(&c->out);
}
