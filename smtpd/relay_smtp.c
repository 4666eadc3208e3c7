/* SPDX-License-Identifier: ISC */
/*
 * relay_smtp.c - one outbound SMTP session of the relay role (RFC 5321
 * client): connect, greeting, EHLO (HELO fallback), STARTTLS (RFC 3207)
 * or implicit TLS (RFC 8314), AUTH (RFC 4954), then transactions
 * MAIL/RCPT/DATA, pipelined when the server offers PIPELINING (RFC 2920),
 * as many as its destination has, until idle for relay_timeouts.idle.
 *
 * TLS policy: towards the smarthost, tls=starttls requires STARTTLS (a
 * server that does not offer it, or refuses it, is a temporary failure;
 * we never fall back to clear text) and verify=yes requires a chain valid
 * against ca_file and a certificate for the configured host name, else a
 * temporary failure.  Towards MX hosts TLS is opportunistic: used when
 * offered, reported as trusted or untrusted, and a failed handshake is
 * retried once on a new connection without TLS.
 *
 * Failures before a transaction move on to the destination's next
 * address; when none is left every waiting transaction of the
 * destination fails with the most telling error seen (a server's answer
 * beats a refused connection).  Once a transaction runs, replies decide:
 * 2xx sent, 4xx deferred, 5xx bounced, a lost connection deferred.
 *
 * Runs in the relay role as `user`.  Connection callbacks never free the
 * session or reconnect: they record the state and arm the zero `kick`
 * timer, which does that outside the callback.  Every wait has a timer.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "log.h"
#include "tls.h"
#include "xmem.h"
#include "smtpd/relay.h"

#define PRIO_CONNECT	1	/* could not reach the host */
#define PRIO_SERVER	2	/* the host answered, badly */
#define PRIO_POLICY	3	/* TLS trust or AUTH: the admin must act */

#define CHUNK		16384	/* message bytes read per pread */

static void sess_kick(struct relay_sess *s);
static void sess_connect(struct relay_sess *s);
static void sess_send_ehlo(struct relay_sess *s);

/* sess_is_smarthost - the [relay] policy applies */
static bool
sess_is_smarthost(const struct relay_sess *s)
{
	return s->dest->smarthost;
}

static void
sess_timer(struct relay_sess *s, unsigned ms)
{
	ev_timer_add(&s->timer, ms);
}

static void
sess_close_conn(struct relay_sess *s)
{
	if (s->fd != -1) {
		ev_io_stop(&s->cio);
		close(s->fd);
		s->fd = -1;
	}
	if (s->conn_up) {
		conn_close(&s->conn);
		s->conn_up = false;
	}
	ev_timer_del(&s->timer);
	relay_sasl_free(&s->sasl);	/* a new connection logs in anew */
}

/*
 * sess_fail - this connection is over; remember why (if it says more than
 * what we had) and let the kick timer decide what next.
 */
static void sess_fail(struct relay_sess *s, enum deliver_res res, int prio,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
sess_fail(struct relay_sess *s, enum deliver_res res, int prio,
    const char *fmt, ...)
{
	char esc[RELAY_TEXT_MAX];
	va_list ap;

	if (s->state == S_DEAD)
		return;
	if (prio >= s->err_prio) {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof(s->err), fmt, ap);
		va_end(ap);
		s->err_res = res;
		s->err_prio = prio;
		if (!s->ever_ready)
			log_info("relay: %s: %s", s->peer,
			    log_escape(esc, sizeof(esc), s->err, strlen(s->err)));
	}
	sess_close_conn(s);
	s->state = S_DEAD;
	sess_kick(s);
}

/* sess_fail_reply - the server answered `what` with the reply in s->reply */
static void
sess_fail_reply(struct relay_sess *s, int prio, const char *what)
{
	char text[RELAY_TEXT_MAX];

	/* before a transaction every failure is temporary, 5xx included */
	relay_reply_format(&s->reply, text, sizeof(text));
	sess_fail(s, RES_TEMPFAIL, prio, "%s (%s, %s)", text, s->peer, what);
}

/* sess_sent - check a conn_write/conn_printf: a peer that does not read
 * what we send (output buffer full) loses the session */
static bool
sess_sent(struct relay_sess *s, int r)
{
	if (r == -1) {
		sess_fail(s, RES_TEMPFAIL, PRIO_SERVER,
		    "451 4.4.2 %s does not read what we send", s->peer);
		return false;
	}
	return true;
}

static bool
sess_write(struct relay_sess *s, const void *p, size_t n)
{
	return sess_sent(s, conn_write(&s->conn, p, n));
}

/* ---- connection setup ------------------------------------------------ */

static void
sess_set_peer(struct relay_sess *s)
{
	const struct relay_addr *a = &s->addr;
	bool v6 = a->sa.ss_family == AF_INET6;

	if (strcmp(a->host, a->ip) == 0)
		snprintf(s->peer, sizeof(s->peer), v6 ? "[%s]:%u" : "%s:%u",
		    a->ip, (unsigned)s->dest->port);
	else
		snprintf(s->peer, sizeof(s->peer), "%s[%s]:%u", a->host, a->ip,
		    (unsigned)s->dest->port);
}

static void
sess_starttls(struct relay_sess *s)
{
	const char *sni = s->addr.literal ? NULL : s->addr.host;

	SSL_CTX *ctx = relay_tls();

	sess_timer(s, relay_timeouts.tls);
	if (ctx == NULL || conn_starttls(&s->conn, ctx, sni, true) == -1)
		sess_fail(s, RES_TEMPFAIL, PRIO_SERVER,
		    "454 4.7.0 cannot start TLS with %s: %s", s->peer, tls_error());
}

static void sess_on_conn(struct conn *c, enum conn_event ev, void *arg);

static void
sess_on_connect(struct ev_io *io, unsigned events, void *arg)
{
	struct relay_sess *s = arg;
	int err = 0, one = 1, fd = s->fd;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		sess_fail(s, RES_TEMPFAIL, PRIO_CONNECT,
		    "451 4.4.1 connect to %s: %s", s->peer, strerror(err));
		return;
	}
	ev_io_stop(&s->cio);
	s->fd = -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_init(&s->conn, fd, RELAY_IN_MAX, RELAY_OUT_MAX, sess_on_conn, s);
	s->conn_up = true;
	relay_reply_init(&s->reply);
	if (sess_is_smarthost(s) &&
	    relay_cfg.conf->relay.tls == CONF_TLS_IMPLICIT) {
		s->state = S_TLS_WRAP;
		sess_starttls(s);
		return;
	}
	s->state = S_GREETING;
	sess_timer(s, relay_timeouts.greeting);
}

static void
sess_connect(struct relay_sess *s)
{
	struct relay_dest *d = s->dest;

	memset(&s->caps, 0, sizeof(s->caps));
	s->tls = s->trusted = s->tls_refused = s->authed = false;
	s->tlsdesc[0] = '\0';
	s->state = S_CONNECT;
	s->addr = d->addrs[s->ai];
	sess_set_peer(s);
	log_debug("relay: connecting to %s", s->peer);
	s->fd = socket(s->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		sess_fail(s, RES_TEMPFAIL, PRIO_CONNECT, "451 4.4.1 socket: %s",
		    strerror(errno));
		return;
	}
	if (connect(s->fd, (struct sockaddr *)&s->addr.sa, s->addr.salen) == -1 &&
	    errno != EINPROGRESS) {
		sess_fail(s, RES_TEMPFAIL, PRIO_CONNECT,
		    "451 4.4.1 connect to %s: %s", s->peer, strerror(errno));
		return;
	}
	/* done or not, the socket turns writable: one path for both */
	ev_io_init(&s->cio, s->fd, sess_on_connect, s);
	ev_io_want(&s->cio, EV_WRITE);
	sess_timer(s, relay_timeouts.connect);
}

/* ---- greeting, EHLO, STARTTLS, AUTH ---------------------------------- */

static void
sess_ready(struct relay_sess *s)
{
	if (!s->ever_ready)	/* earlier addresses' errors do not apply now */
		s->err_prio = 0;
	s->state = S_READY;
	s->ever_ready = true;
	ev_timer_del(&s->timer);
	sess_kick(s);
}

static void
sess_auth_start(struct relay_sess *s)
{
	const struct conf *c = relay_cfg.conf;
	struct buf line;
	const char *mech = NULL, *err;

	if (s->caps.auth[0] == '\0') {
		sess_fail(s, RES_TEMPFAIL, PRIO_POLICY,
		    "454 4.7.0 %s offers no AUTH to log in as %s", s->peer,
		    c->relay.user);
		return;
	}
	buf_init(&line, 16384);
	s->sasl = relay_sasl_start(s->addr.host, c->relay.user,
	    relay_cfg.password, s->caps.auth,
	    (unsigned)SSL_get_cipher_bits(s->conn.ssl, NULL), &line, &mech, &err);
	if (s->sasl == NULL)
		sess_fail(s, RES_TEMPFAIL, PRIO_POLICY, "454 4.7.0 AUTH with %s "
		    "(offers %s): %s", s->peer, s->caps.auth, err);
	else {
		log_debug("relay: %s: AUTH %s as %s", s->peer, mech, c->relay.user);
		s->state = S_AUTH;
		sess_timer(s, relay_timeouts.reply);
		(void)sess_write(s, buf_head(&line), line.len);
	}
	wipe(line.data, line.cap);
	buf_free(&line);
}

/* sess_after_ehlo - STARTTLS if wanted, then AUTH if configured */
static void
sess_after_ehlo(struct relay_sess *s)
{
	const struct conf *c = relay_cfg.conf;
	bool required = sess_is_smarthost(s) && c->relay.tls == CONF_TLS_STARTTLS;
	bool wanted = required || (!sess_is_smarthost(s) && !s->plain &&
	    !s->tls_refused && s->caps.starttls && relay_tls() != NULL);

	if (!s->tls && wanted) {
		if (!s->caps.starttls) {
			sess_fail(s, RES_TEMPFAIL, PRIO_POLICY, "454 4.7.0 TLS is "
			    "required (tls = starttls) but %s does not offer "
			    "STARTTLS", s->peer);
			return;
		}
		s->state = S_STARTTLS;
		sess_timer(s, relay_timeouts.reply);
		(void)sess_sent(s, conn_printf(&s->conn, "STARTTLS\r\n"));
		return;
	}
	if (sess_is_smarthost(s) && c->relay.user != NULL &&
	    relay_cfg.password != NULL && !s->authed) {
		if (!s->tls) {		/* conf.c refuses this; never in clear */
			sess_fail(s, RES_TEMPFAIL, PRIO_POLICY,
			    "454 4.7.0 no AUTH without TLS");
			return;
		}
		sess_auth_start(s);
		return;
	}
	sess_ready(s);
}

static void
sess_send_ehlo(struct relay_sess *s)
{
	s->state = S_EHLO;
	sess_timer(s, relay_timeouts.reply);
	(void)sess_sent(s, conn_printf(&s->conn, "EHLO %s\r\n",
	    relay_cfg.conf->hostname));
}

/* sess_tls_done - handshake finished: check trust, then greeting/EHLO */
static void
sess_tls_done(struct relay_sess *s)
{
	const struct conf *c = relay_cfg.conf;
	X509 *cert = SSL_get_peer_certificate(s->conn.ssl);
	long v = SSL_get_verify_result(s->conn.ssl);

	s->tls = true;
	s->trusted = cert != NULL && v == X509_V_OK;
	X509_free(cert);
	tls_describe(s->conn.ssl, s->tlsdesc, sizeof(s->tlsdesc));
	log_debug("relay: %s: tls=%s %s", s->peer,
	    s->trusted ? "trusted" : "untrusted", s->tlsdesc);
	if (sess_is_smarthost(s) && c->relay.verify && !s->trusted) {
		sess_fail(s, RES_TEMPFAIL, PRIO_POLICY, "454 4.7.5 certificate "
		    "of %s not trusted: %s", s->peer, cert == NULL ?
		    "no certificate" : X509_verify_cert_error_string(v));
		return;
	}
	if (s->state == S_TLS_WRAP) {
		s->state = S_GREETING;
		sess_timer(s, relay_timeouts.greeting);
	} else
		sess_send_ehlo(s);
}

static void
sess_reply_auth(struct relay_sess *s)
{
	struct buf line;
	const char *err;
	const char *chal = s->reply.text;

	if (s->reply.code == 235) {
		s->authed = true;
		sess_ready(s);
		return;
	}
	if (s->reply.code != 334) {
		sess_fail_reply(s, PRIO_POLICY, "in reply to AUTH");
		return;
	}
	buf_init(&line, 16384);
	if (relay_sasl_step(s->sasl, chal, s->reply.len, &line, &err) == -1) {
		(void)sess_sent(s, conn_printf(&s->conn, "*\r\n"));
		sess_fail(s, RES_TEMPFAIL, PRIO_POLICY, "454 4.7.0 AUTH with %s: %s",
		    s->peer, err);
	} else {
		sess_timer(s, relay_timeouts.reply);
		(void)sess_write(s, buf_head(&line), line.len);
	}
	wipe(line.data, line.cap);
	buf_free(&line);
}

/* ---- transactions ---------------------------------------------------- */

/* sess_rcpt_result - recipient i of the transaction, from a reply */
static void
sess_result_reply(struct relay_sess *s, struct relay_rcpt *r, const char *what)
{
	char text[RELAY_TEXT_MAX - 40], full[RELAY_TEXT_MAX];

	relay_reply_format(&s->reply, text, sizeof(text));
	if (s->reply.code >= 300)
		(void)bsnprintf(full, sizeof(full), "%s (in reply to %s)", text, what);
	else
		(void)bstrcpy(full, text, sizeof(full));
	relay_result(s->msg->job, r, s->reply.code < 300 ? RES_OK :
	    s->reply.code < 500 ? RES_TEMPFAIL : RES_PERMFAIL, full, s);
}

/* sess_accepted_reply - every accepted recipient gets this reply */
static void
sess_accepted_reply(struct relay_sess *s, const char *what)
{
	size_t i;

	for (i = 0; i < s->msg->nrcpt; i++)
		if (s->acc[i])
			sess_result_reply(s, s->msg->rcpt[i], what);
}

/* sess_tx_end - the transaction is over; RSET first if it failed */
static void
sess_tx_end(struct relay_sess *s, bool rset)
{
	if (s->msg != NULL) {
		relay_msg_fail(s->msg, RES_TEMPFAIL,
		    "451 4.3.0 transaction ended without a reply", s);
		relay_msg_free(&s->msg);
	}
	free(s->acc);
	s->acc = NULL;
	if (rset) {
		s->state = S_RSET;
		sess_timer(s, relay_timeouts.reply);
		(void)sess_sent(s, conn_printf(&s->conn, "RSET\r\n"));
	} else
		sess_ready(s);
}

static void
sess_send_rcpt(struct relay_sess *s)
{
	(void)sess_sent(s, conn_printf(&s->conn, "RCPT TO:<%s>\r\n",
	    s->msg->rcpt[s->rcpt_sent++]->addr));
}

/* sess_tx_check - can this transaction go to this server at all? */
static bool
sess_tx_check(struct relay_sess *s)
{
	struct relay_msg *m = s->msg;
	struct relay_job *j = m->job;
	char text[RELAY_TEXT_MAX];

	if (s->caps.size > 0 && j->scan.size > s->caps.size) {
		snprintf(text, sizeof(text), "552 5.3.4 message size %llu exceeds "
		    "the limit of %s (%llu)", (unsigned long long)j->scan.size,
		    s->peer, (unsigned long long)s->caps.size);
		relay_msg_fail(m, RES_PERMFAIL, text, s);
		return false;
	}
	if ((j->utf8from || m->utf8) && !s->caps.smtputf8) {
		snprintf(text, sizeof(text), "553 5.6.7 %s does not support "
		    "SMTPUTF8 for non-ASCII addresses", s->peer);
		relay_msg_fail(m, RES_PERMFAIL, text, s);
		return false;
	}
	return true;
}

static void
sess_tx_begin(struct relay_sess *s)
{
	struct relay_msg *m = s->msg;
	struct relay_job *j = m->job;
	char size[40] = "";

	if (!sess_tx_check(s)) {
		relay_msg_free(&s->msg);
		sess_ready(s);
		return;
	}
	s->acc = xcalloc(m->nrcpt, sizeof(*s->acc));
	s->rcpt_sent = s->rcpt_replies = s->accepted = 0;
	s->mail_ok = s->mail_replied = false;
	s->ntx++;
	if (s->caps.size_given)
		snprintf(size, sizeof(size), " SIZE=%llu",
		    (unsigned long long)j->scan.size);
	s->state = S_MAIL;
	sess_timer(s, relay_timeouts.reply);
	if (!sess_sent(s, conn_printf(&s->conn, "MAIL FROM:<%s>%s%s%s\r\n",
	    j->from, size,
	    j->scan.eightbit && s->caps.eightbitmime ? " BODY=8BITMIME" : "",
	    (j->utf8from || m->utf8 || j->scan.header8) && s->caps.smtputf8 ?
	    " SMTPUTF8" : "")))
		return;
	if (s->caps.pipelining) {
		log_debug("relay: %s: MAIL, %zu RCPT and DATA pipelined", s->peer,
		    m->nrcpt);
		while (s->rcpt_sent < m->nrcpt)
			sess_send_rcpt(s);
		(void)sess_sent(s, conn_printf(&s->conn, "DATA\r\n"));
	}
}

static void
sess_reply_mail(struct relay_sess *s)
{
	s->mail_replied = true;
	s->mail_ok = s->reply.code / 100 == 2;
	if (!s->mail_ok) {
		size_t i;

		for (i = 0; i < s->msg->nrcpt; i++)
			sess_result_reply(s, s->msg->rcpt[i], "MAIL FROM");
	}
	s->state = S_RCPT;
	if (s->caps.pipelining)
		return;		/* RCPTs and DATA are on their way */
	if (!s->mail_ok)
		sess_tx_end(s, true);
	else
		sess_send_rcpt(s);
}

static void
sess_reply_rcpt(struct relay_sess *s)
{
	size_t i = s->rcpt_replies++;

	if (s->mail_ok) {
		if (s->reply.code / 100 == 2) {
			s->acc[i] = true;
			s->accepted++;
		} else
			sess_result_reply(s, s->msg->rcpt[i], "RCPT TO");
	}
	if (s->rcpt_replies < s->msg->nrcpt) {
		if (!s->caps.pipelining)
			sess_send_rcpt(s);
		return;
	}
	if (s->caps.pipelining) {
		s->state = S_DATA;
		sess_timer(s, relay_timeouts.data);
	} else if (s->accepted > 0) {
		s->state = S_DATA;
		sess_timer(s, relay_timeouts.data);
		(void)sess_sent(s, conn_printf(&s->conn, "DATA\r\n"));
	} else
		sess_tx_end(s, true);
}

static void
sess_reply_data(struct relay_sess *s)
{
	if (s->reply.code == 354 && s->accepted > 0) {
		relay_enc_init(&s->enc);
		s->off = 0;
		s->state = S_BODY;
		sess_timer(s, relay_timeouts.block);
		sess_kick(s);
		return;
	}
	if (s->reply.code == 354) {
		/* pipelined DATA with no recipient: RFC 2920 3.1 */
		s->state = S_DOT_DISCARD;
		sess_timer(s, relay_timeouts.dot);
		(void)sess_sent(s, conn_printf(&s->conn, ".\r\n"));
		return;
	}
	if (s->accepted > 0)
		sess_accepted_reply(s, "DATA");
	sess_tx_end(s, true);
}

/* sess_pump - the next part of the message, until the final dot */
static void
sess_pump(struct relay_sess *s)
{
	static char raw[CHUNK], enc[2 * CHUNK + 8];
	struct relay_job *j = s->msg->job;
	const char *p;
	size_t n, w;

	sess_timer(s, relay_timeouts.block);
	while (s->state == S_BODY && s->conn.out.len < RELAY_PUMP_BYTES) {
		if (s->off < j->prependlen) {
			p = j->prepend + s->off;
			n = j->prependlen - s->off;
			n = n > CHUNK ? CHUNK : n;
		} else if (s->off - j->prependlen < j->msglen) {
			uint64_t at = s->off - j->prependlen;
			uint64_t left = j->msglen - at;
			ssize_t r = pread(j->fd, raw, left > CHUNK ? CHUNK : left,
			    (off_t)at);

			if (r <= 0) {
				sess_fail(s, RES_TEMPFAIL, PRIO_POLICY,
				    "451 4.3.0 reading queue file %s: %s", j->qid,
				    r == 0 ? "unexpected end" : strerror(errno));
				return;
			}
			p = raw;
			n = (size_t)r;
		} else {
			w = relay_enc_end(&s->enc, enc);
			s->state = S_DOT;
			sess_timer(s, relay_timeouts.dot);
			(void)sess_write(s, enc, w);
			return;
		}
		w = relay_enc_feed(&s->enc, p, n, enc);
		s->off += n;
		if (!sess_write(s, enc, w))
			return;
	}
}

static void
sess_reply_dot(struct relay_sess *s, bool discard)
{
	if (!discard)
		sess_accepted_reply(s, "end of DATA");
	sess_tx_end(s, discard);
}

/* ---- reading replies ------------------------------------------------- */

static void
sess_reply(struct relay_sess *s)
{
	int c = s->reply.code;

	switch (s->state) {
	case S_GREETING:
		if (c / 100 == 2)
			sess_send_ehlo(s);
		else
			sess_fail_reply(s, PRIO_SERVER, "greeting");
		break;
	case S_EHLO:
		if (c / 100 == 2) {
			relay_caps_parse(&s->reply, &s->caps);
			sess_after_ehlo(s);
		} else if (c / 100 == 5 && !s->tls) {
			s->state = S_HELO;	/* RFC 5321 3.2: not ESMTP */
			sess_timer(s, relay_timeouts.reply);
			(void)sess_sent(s, conn_printf(&s->conn, "HELO %s\r\n",
			    relay_cfg.conf->hostname));
		} else
			sess_fail_reply(s, PRIO_SERVER, "in reply to EHLO");
		break;
	case S_HELO:
		if (c / 100 == 2) {
			memset(&s->caps, 0, sizeof(s->caps));
			sess_after_ehlo(s);
		} else
			sess_fail_reply(s, PRIO_SERVER, "in reply to HELO");
		break;
	case S_STARTTLS:
		if (c == 220) {
			s->state = S_TLS;
			sess_kick(s);
		} else if (sess_is_smarthost(s))
			sess_fail_reply(s, PRIO_POLICY, "in reply to STARTTLS");
		else {
			s->tls_refused = true;	/* opportunistic: go on in clear */
			sess_after_ehlo(s);
		}
		break;
	case S_AUTH:
		sess_reply_auth(s);
		break;
	case S_MAIL:
		if (c == 421 && s->ntx > 1) {
			/*
			 * a reused connection that the server closed as our
			 * MAIL went (its idle timeout): not the message's
			 * fault, sess_dead gives it to a new connection
			 */
			sess_fail(s, RES_TEMPFAIL, PRIO_CONNECT, "closed by %s",
			    s->peer);
			break;
		}
		sess_reply_mail(s);
		break;
	case S_RCPT:
		sess_reply_rcpt(s);
		break;
	case S_DATA:
		sess_reply_data(s);
		break;
	case S_BODY:		/* the server gave up while we were sending */
		if (c >= 400)
			sess_accepted_reply(s, "DATA");
		sess_fail_reply(s, PRIO_SERVER, "while sending the message");
		break;
	case S_DOT:
	case S_DOT_DISCARD:
		sess_reply_dot(s, s->state == S_DOT_DISCARD);
		break;
	case S_RSET:
		if (c / 100 == 2)
			sess_ready(s);
		else
			relay_sess_quit(s);
		break;
	case S_READY:		/* e.g. 421 idle timeout: just go */
		s->quiet = true;
		sess_fail(s, RES_TEMPFAIL, PRIO_CONNECT, "closed by %s", s->peer);
		break;
	default:
		break;
	}
}

static void
sess_read(struct relay_sess *s)
{
	struct buf *in = &s->conn.in;

	while (s->conn_up && in->len > 0) {
		const char *p = buf_head(in), *nl, *err;
		size_t len;
		enum reply_state st;

		if (s->state == S_TLS || s->state == S_QUIT) {
			buf_drain(in, in->len);		/* nothing may come now */
			return;
		}
		if ((nl = memchr(p, '\n', in->len)) == NULL) {
			if (in->len >= in->max)
				sess_fail(s, RES_TEMPFAIL, PRIO_SERVER,
				    "451 4.5.0 reply line too long from %s", s->peer);
			return;
		}
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		st = relay_reply_line(&s->reply, p, len, &err);
		buf_drain(in, (size_t)(nl - p) + 1);
		if (st == REPLY_ERROR) {
			sess_fail(s, RES_TEMPFAIL, PRIO_SERVER,
			    "451 4.5.0 protocol error from %s: %s", s->peer, err);
			return;
		}
		if (st == REPLY_DONE) {
			sess_reply(s);
			relay_reply_init(&s->reply);
		}
	}
}

static const char *
sess_doing(const struct relay_sess *s)
{
	switch (s->state) {
	case S_CONNECT:		return "connecting";
	case S_TLS_WRAP:
	case S_TLS:		return "in the TLS handshake";
	case S_GREETING:	return "waiting for the greeting";
	case S_EHLO:
	case S_HELO:		return "after EHLO";
	case S_STARTTLS:	return "after STARTTLS";
	case S_AUTH:		return "during AUTH";
	case S_MAIL:		return "after MAIL FROM";
	case S_RCPT:		return "after RCPT TO";
	case S_DATA:		return "after DATA";
	case S_BODY:		return "while sending the message";
	case S_DOT:
	case S_DOT_DISCARD:	return "after the end of the message";
	case S_RSET:		return "after RSET";
	default:		return "while idle";
	}
}

static void
sess_on_conn(struct conn *c, enum conn_event ev, void *arg)
{
	struct relay_sess *s = arg;

	switch (ev) {
	case CONN_EV_READ:
		sess_read(s);
		break;
	case CONN_EV_DRAINED:
		if (s->state == S_BODY)
			sess_kick(s);
		break;
	case CONN_EV_TLS:
		sess_tls_done(s);
		break;
	case CONN_EV_TIMEOUT:
		break;		/* we time steps ourselves */
	case CONN_EV_CLOSED:
		if (s->state == S_QUIT || (s->state == S_READY && s->msg == NULL))
			s->quiet = true;
		if (!s->quiet && (s->state == S_TLS || s->state == S_TLS_WRAP) &&
		    !sess_is_smarthost(s) && !s->plain) {
			/* opportunistic TLS failed: once more in clear */
			s->plain = true;
			s->retry_same = true;
		}
		sess_fail(s, RES_TEMPFAIL, s->state == S_TLS ||
		    s->state == S_TLS_WRAP ? PRIO_POLICY : PRIO_SERVER,
		    "451 4.4.2 lost connection with %s %s (%s)", s->peer,
		    sess_doing(s), c->error ? c->error : "closed");
		break;
	}
}

static void
sess_on_timer(struct ev_timer *t, void *arg)
{
	struct relay_sess *s = arg;

	if (s->state == S_READY && s->msg == NULL) {
		relay_sess_quit(s);	/* idle long enough */
		return;
	}
	sess_fail(s, RES_TEMPFAIL, s->state == S_CONNECT ? PRIO_CONNECT :
	    PRIO_SERVER, "451 4.4.2 timeout %s with %s", sess_doing(s), s->peer);
}

/* ---- life cycle ------------------------------------------------------ */

static void
sess_destroy(struct relay_sess *s, bool notify)
{
	struct relay_dest *d = s->dest;

	sess_close_conn(s);
	ev_timer_del(&s->kick);
	relay_sasl_free(&s->sasl);
	if (s->msg != NULL)
		relay_msg_free(&s->msg);
	free(s->acc);
	LIST_REMOVE(s, entry);
	d->nsess--;
	relay_cfg.nsess--;
	free(s);
	if (notify)
		relay_dest_session_gone(d);
}

/* sess_dead - after a failure: next address, or give up */
static void
sess_dead(struct relay_sess *s)
{
	struct relay_dest *d = s->dest;
	struct relay_msg *m = s->msg;

	if (m != NULL) {
		s->msg = NULL;
		if (s->ntx > 1 && !s->mail_replied && !m->requeued) {
			/* a reused connection died under us: not the message's fault */
			m->requeued = true;
			relay_dest_requeue(m);
		} else {
			relay_msg_fail(m, s->err_res, s->err, s);
			relay_msg_free(&m);
		}
	}
	if (s->ever_ready || s->quiet) {
		sess_destroy(s, true);
		return;
	}
	if (s->retry_same)
		s->retry_same = false;
	else
		s->ai++;
	if (s->ai < d->naddrs) {
		sess_connect(s);
		return;
	}
	relay_dest_fail(d, s->err_res, s->err, s);
	sess_destroy(s, true);
}

/* sess_on_kick - deferred work, outside any connection callback */
static void
sess_on_kick(struct ev_timer *t, void *arg)
{
	struct relay_sess *s = arg;

	switch (s->state) {
	case S_DEAD:
		sess_dead(s);
		break;
	case S_TLS:
		sess_starttls(s);
		break;
	case S_BODY:
		sess_pump(s);
		break;
	case S_READY:
		if (s->msg != NULL)
			break;
		if (s->ntx < RELAY_REUSE_MAX &&
		    (s->msg = relay_dest_next(s->dest)) != NULL) {
			sess_tx_begin(s);
			break;
		}
		if (s->ntx >= RELAY_REUSE_MAX)
			relay_sess_quit(s);
		else
			sess_timer(s, relay_timeouts.idle);
		break;
	default:
		break;
	}
}

static void
sess_kick(struct relay_sess *s)
{
	ev_timer_add(&s->kick, 0);
}

struct relay_sess *
relay_sess_new(struct relay_dest *d)
{
	struct relay_sess *s = xcalloc(1, sizeof(*s));

	s->dest = d;
	s->fd = -1;
	s->err_res = RES_TEMPFAIL;
	snprintf(s->err, sizeof(s->err), "451 4.4.1 no address to try for %s",
	    d->name);
	snprintf(s->peer, sizeof(s->peer), "none");
	ev_timer_init(&s->timer, sess_on_timer, s);
	ev_timer_init(&s->kick, sess_on_kick, s);
	LIST_INSERT_HEAD(&d->sessions, s, entry);
	d->nsess++;
	relay_cfg.nsess++;
	if (d->naddrs == 0) {
		s->state = S_DEAD;
		sess_kick(s);
	} else
		sess_connect(s);
	return s;
}

bool
relay_sess_idle(const struct relay_sess *s)
{
	return s->state == S_READY && s->msg == NULL;
}

bool
relay_sess_coming(const struct relay_sess *s)
{
	return !s->ever_ready || (s->state == S_RSET && s->msg == NULL);
}

void
relay_sess_start(struct relay_sess *s, struct relay_msg *m)
{
	ev_timer_del(&s->timer);
	s->msg = m;
	sess_tx_begin(s);
}

void
relay_sess_quit(struct relay_sess *s)
{
	if (!s->conn_up) {
		s->quiet = true;
		sess_fail(s, RES_TEMPFAIL, PRIO_CONNECT, "closed");
		return;
	}
	s->state = S_QUIT;
	ev_timer_del(&s->timer);
	(void)conn_write(&s->conn, "QUIT\r\n", 6);
	conn_flush_close(&s->conn);
}

void
relay_sess_free(struct relay_sess **sp)
{
	if (*sp != NULL)
		sess_destroy(*sp, false);
	*sp = NULL;
}

void
relay_sess_tls(const struct relay_sess *s, char *out, size_t outsz)
{
	if (s == NULL || !s->tls)
		snprintf(out, outsz, "none");
	else
		snprintf(out, outsz, "%s %s", s->trusted ? "trusted" : "untrusted",
		    s->tlsdesc);
}
