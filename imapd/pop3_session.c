/* SPDX-License-Identifier: ISC */
/*
 * pop3_session.c - one POP3 connection (RFC 1939): the greeting, the
 * input loop with pipelining (RFC 2449 6.6), replies, timeouts and the
 * end of a session, in both roles of facteur-imapd that serve POP3.
 *
 * In the login process (as `user`, no mail file opened) a session runs
 * the AUTHORIZATION state (pop3_login.c) and then relays bytes to the
 * user's worker; in the worker (chrooted into the Maildir when started
 * as root) it runs TRANSACTION and UPDATE (pop3_maildrop.c).  A client's
 * bad input gets -ERR and the session goes on; a runaway line is skipped
 * to its end; output is produced only while the client reads it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authc.h"
#include "imapd.h"
#include "crlf.h"
#include "log.h"
#include "pop3.h"
#include "xmem.h"

static void pop3_free(struct pop3_session *s);

void
pop3_write(struct pop3_session *s, const void *p, size_t n)
{
	if (s->state == P3_CLOSED)
		return;
	if (conn_write(&s->conn, p, n) == -1) {
		log_warnx("session=%08x pop3 output overflow, closing", s->id);
		pop3_close(s);
	}
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = crlf_vline(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		pop3_write(s, line, n);
}

/* pop3_close - flush what is queued, then close (see session_close) */
void
pop3_close(struct pop3_session *s)
{
	s->state = P3_CLOSED;
	s->wait = PW_CLOSING;
	conn_flush_close(&s->conn);
	ev_timer_add(&s->timer, 5);
}

void
pop3_capa(struct pop3_session *s)
{
	char caps[256];

	/* RFC 2449 5; USER and SASL only where a login may happen (RFC
	 * 2595 4: not before TLS) */
	(void)bsnprintf(caps, sizeof(caps), "+OK capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "%s%s%sIMPLEMENTATION facteur\r\n.\r\n",
	    s->state == P3_AUTHORIZATION && !s->tls ? "STLS\r\n" : "",
	    s->state == P3_AUTHORIZATION && s->tls ? "USER\r\n" : "",
	    s->state == P3_AUTHORIZATION && s->tls ? "SASL PLAIN\r\n" : "");
	pop3_write(s, caps, strlen(caps));
}

static void
pop3_greet(struct pop3_session *s)
{
	pop3_reply(s, "+OK facteur POP3 ready");
}

static void
pop3_dispatch(struct pop3_session *s, char *line, size_t len)
{
	struct pop3_cmd c;

	pop3_parse(line, len, &c);
	if (c.kw == POP3_UNKNOWN) {
		pop3_reply(s, "-ERR %s", c.err);
		return;
	}
	if (c.kw == POP3_CAPA && c.err == NULL) {
		pop3_capa(s);
		return;
	}
	if (s->state == P3_AUTHORIZATION)
		pop3_login_cmd(s, &c);
	else
		pop3_maildrop_cmd(s, &c);
	if (c.arglen)
		wipe(c.arg, c.arglen);		/* PASS */
	if (c.arg2len)
		wipe(c.arg2, c.arg2len);	/* AUTH's initial response */
}

/* pop3_input - run the buffered commands while nothing waits */
static void
pop3_input(struct pop3_session *s)
{
	struct buf *in = &s->conn.in;
	enum pop3_line_res r;
	size_t len, used;
	char *line;

	if (s->state == P3_PROXY) {
		relay_pump(s->relay);
		return;
	}
	while (s->state != P3_CLOSED && in->len > 0 &&
	    (s->wait == PW_NONE || s->wait == PW_AUTH_CONT)) {
		if (s->conn.out.len > POP3_OUT_SOFT) {
			/* pipelined commands wait until the client reads */
			s->wait = PW_OUTPUT;
			break;
		}
		line = buf_head(in);
		r = pop3_line(&s->rd, line, in->len, POP3_MAX_LINE, &len, &used);
		if (r == POP3_LINE_MORE) {
			buf_drain(in, used);
			if (used == 0)
				break;
			continue;
		}
		if (r == POP3_LINE_LONG) {
			buf_drain(in, used);
			if (s->wait == PW_AUTH_CONT)
				s->wait = PW_NONE;
			pop3_reply(s, "-ERR line too long");
			continue;
		}
		if (s->wait == PW_AUTH_CONT) {
			s->wait = PW_NONE;
			pop3_login_auth_line(s, line, len);
			wipe(line, len);
		} else
			pop3_dispatch(s, line, len);
		buf_drain(in, used);	/* STLS may have emptied it: no matter */
	}
	conn_pause(&s->conn, s->wait != PW_NONE && s->wait != PW_AUTH_CONT);
}

void
pop3_resume(struct pop3_session *s)
{
	s->wait = PW_NONE;
	pop3_input(s);
}

static void
pop3_timer_cb(struct ev_timer *t, void *arg)
{
	struct pop3_session *s = arg;

	switch (s->wait) {
	case PW_DELAY:
		pop3_login_delay_done(s);
		break;
	case PW_JOB:
		if (pop3_maildrop_job(s))
			pop3_resume(s);
		break;
	case PW_CLOSING:
		if (s->conn.out.len > 0 && !s->conn.dead) {
			ev_timer_add(&s->timer, 20);
			break;
		}
		if (s->conn.ssl)
			(void)SSL_shutdown(s->conn.ssl);
		pop3_free(s);
		break;
	default:
		break;
	}
}

/*
 * pop3_login_expired - before login, as for IMAP: the TLS handshake
 * ([imap] tls_timeout) or the login ([imap] login_timeout) took too
 * long; bytes trickled in extend neither, where the idle [pop3] timeout
 * would let a connection that never logs in hold its slot for ever
 */
static void
pop3_login_expired(struct ev_timer *t, void *arg)
{
	struct pop3_session *s = arg;

	(void)t;
	if (s->state != P3_AUTHORIZATION)
		return;
	log_info("session=%08x addr=%s pop3 timeout=%s, closing", s->id,
	    s->addr, s->wait == PW_HANDSHAKE ? "TLS handshake" : "no login");
	if (s->wait == PW_HANDSHAKE) {
		pop3_free(s);	/* nothing can be said in clear now */
		return;
	}
	pop3_reply(s, "-ERR login took too long, closing");
	pop3_close(s);
}

/* pop3_login_deadline - (re)start the login clock: login_timeout */
void
pop3_login_deadline(struct pop3_session *s)
{
	ev_timer_add(&s->login_timer, 1000ULL * imapd.conf->imap.login_timeout);
}

static void
pop3_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_session *s = arg;

	switch (ev) {
	case CONN_EV_TLS:
		s->tls = true;
		if (ev_timer_pending(&s->login_timer))
			pop3_login_deadline(s);
		if (s->wait == PW_HANDSHAKE) {
			s->wait = PW_NONE;
			if (!s->starttls_port)
				pop3_greet(s);
		}
		pop3_input(s);
		break;
	case CONN_EV_READ:
		if (s->wait == PW_HANDSHAKE) {
			buf_reset(&c->in);
			break;
		}
		pop3_input(s);
		break;
	case CONN_EV_DRAINED:
		if (s->state == P3_PROXY)
			relay_pump(s->relay);
		else if (s->wait == PW_JOB) {
			if (pop3_maildrop_job(s))
				pop3_resume(s);
		} else if (s->wait == PW_OUTPUT)
			pop3_resume(s);
		break;
	case CONN_EV_TIMEOUT:
		if (s->wait == PW_AUTHD || s->wait == PW_JOB)
			break;
		/* RFC 1939 3: an idle session ends without UPDATE */
		log_info("session=%08x addr=%s pop3 idle timeout", s->id, s->addr);
		pop3_reply(s, "-ERR idle for too long, closing");
		pop3_close(s);
		break;
	case CONN_EV_CLOSED:
		pop3_free(s);
		break;
	}
}

static void
pop3_free(struct pop3_session *s)
{
	log_info("session=%08x addr=%s user=%s pop3 closed", s->id, s->addr,
	    s->user && s->state != P3_AUTHORIZATION ? s->user : "-");
	if (s->authreq)
		authc_cancel(s->authreq);
	ev_timer_del(&s->timer);
	ev_timer_del(&s->login_timer);
	if (s->relay) {
		relay_stop(s->relay);
		free(s->relay);
	}
	pop3_maildrop_close(s);
	conn_close(&s->conn);
	free(s->user);
	imapd_session_gone(s->addr);
	free(s);
}

static struct pop3_session *
pop3_new(int fd, const char *addr, uint32_t id)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->id = id;
	(void)bstrcpy(s->addr, addr, sizeof(s->addr));
	ev_timer_init(&s->timer, pop3_timer_cb, s);
	ev_timer_init(&s->login_timer, pop3_login_expired, s);
	conn_init(&s->conn, fd, POP3_IN_MAX, POP3_OUT_MAX, pop3_conn_cb, s);
	conn_set_timeout(&s->conn, imapd.conf->pop3.timeout * 1000);
	return s;
}

void
pop3_start(int fd, const char *addr, bool implicit_tls)
{
	struct pop3_session *s;

	s = pop3_new(fd, addr, ++imapd.next_id ^ (uint32_t)getpid() << 16);
	s->starttls_port = !implicit_tls;
	s->conn.in.secret = true;	/* PASS and AUTH: no copy left (lib/buf.h) */
	log_info("session=%08x addr=%s pop3 connect%s", s->id, addr,
	    implicit_tls ? " tls=implicit" : "");
	if (!implicit_tls) {
		pop3_login_deadline(s);
		pop3_greet(s);
		return;
	}
	ev_timer_add(&s->login_timer, 1000ULL * imapd.conf->imap.tls_timeout);
	s->wait = PW_HANDSHAKE;
	if (imapd_tls() == NULL ||
	    conn_starttls(&s->conn, imapd_tls(), NULL, false) == -1)
		pop3_free(s);
	else
		SSL_set_mode(s->conn.ssl, SSL_MODE_RELEASE_BUFFERS);
}

void
pop3_start_worker(int fd, const char *addr, uint32_t id)
{
	struct pop3_session *s = pop3_new(fd, addr, id);

	s->tls = true;		/* login only hands over sessions under TLS */
	s->user = xstrdup(imapd.worker_user);
	s->state = P3_TRANSACTION;
	if (!pop3_maildrop_open(s))
		pop3_close(s);
}
