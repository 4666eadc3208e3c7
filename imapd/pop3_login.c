/* SPDX-License-Identifier: ISC */
/*
 * pop3_login.c - the POP3 AUTHORIZATION state (RFC 1939 4, RFC 2595 4,
 * RFC 5034, RFC 3206) in the login process of facteur-imapd, as `user`:
 * STLS, USER/PASS and AUTH PLAIN checked by facteur-authd, then the
 * hand-over to the user's worker (through the master) and a byte relay.
 *
 * No login in clear: on a listen_starttls port USER, PASS and AUTH get
 * -ERR until STLS.  Failed logins are answered later and later (IMAP's
 * rule: from the third on, after IMAP_FAIL_DELAY_MS; the tenth closes),
 * authd throttles per address and user as well.  The TLS handshake and
 * the login have deadlines of their own, as for IMAP ([imap] tls_timeout,
 * login_timeout; pop3_session.c).  Passwords are wiped
 * once handed to authc and never logged.  Opens no file.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "authc.h"
#include "base64.h"
#include "imapd.h"
#include "ipc.h"
#include "log.h"
#include "pop3.h"
#include "xmem.h"

static void
login_relay_end(void *arg, bool answered)
{
	struct pop3_session *s = arg;

	free(s->relay);
	s->relay = NULL;
	if (s->state == P3_PROXY && !answered) {
		/* the master could not give us a worker */
		pop3_reply(s, "-ERR [SYS/TEMP] mailbox not available, try later");
		s->state = P3_AUTHORIZATION;
		free(s->user);
		s->user = NULL;
		conn_set_timeout(&s->conn, imapd.conf->pop3.timeout * 1000);
		pop3_login_deadline(s);
		pop3_resume(s);
		return;
	}
	pop3_close(s);
}

/* login_handoff - authd said yes: the session goes to the user's worker */
static bool
login_handoff(struct pop3_session *s, const char *user)
{
	struct ipc_out o;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("session=%08x socketpair", s->id);
		return false;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, user);
	ipc_put_str(&o, s->addr);
	ipc_put_str(&o, "");
	ipc_put_u32(&o, s->id);
	if (ipc_send(imapd.master, IMAPD_MSG_POP3, s->id, sv[1], &o) == -1) {
		close(sv[0]);
		return false;
	}
	free(s->user);
	s->user = xstrdup(user);
	s->state = P3_PROXY;
	s->wait = PW_NONE;
	s->fails = 0;
	s->relay = xcalloc(1, sizeof(*s->relay));
	conn_set_timeout(&s->conn, 0);	/* the worker times the session out */
	ev_timer_del(&s->login_timer);
	relay_start(s->relay, &s->conn, sv[0], login_relay_end, s);
	log_info("session=%08x login user=%s addr=%s proto=pop3 result=ok",
	    s->id, user, s->addr);
	relay_pump(s->relay);		/* what the client pipelined */
	return true;
}

static void
login_fail_reply(struct pop3_session *s)
{
	pop3_reply(s, "-ERR [AUTH] authentication failed");
}

void
pop3_login_delay_done(struct pop3_session *s)
{
	login_fail_reply(s);
	if (s->fails >= IMAP_MAX_FAILS_CLOSE) {
		pop3_close(s);
		return;
	}
	pop3_resume(s);
}

static void
login_auth_cb(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct pop3_session *s = arg;
	const char *user;
	size_t n;

	s->authreq = 0;
	switch (res) {
	case AUTHD_OK:
		if (m && ipc_get_str(m, &user, &n)) {
			if (login_handoff(s, user))
				return;
			pop3_reply(s, "-ERR [SYS/TEMP] try again later");
			break;
		}
		/* FALLTHROUGH */
	case AUTHD_TEMPFAIL:
		pop3_reply(s, "-ERR [SYS/TEMP] authentication service "
		    "unavailable, try later");
		break;
	default:
		s->fails++;
		log_info("session=%08x login addr=%s proto=pop3 result=fail "
		    "fails=%u", s->id, s->addr, s->fails);
		s->wait = PW_DELAY;
		ev_timer_add(&s->timer, s->fails >= IMAP_MAX_FAILS ?
		    IMAP_FAIL_DELAY_MS : 0);
		return;
	}
	pop3_resume(s);
}

static void
login_check(struct pop3_session *s, const char *user, size_t ulen,
    const char *pass, size_t plen)
{
	char u[AUTHC_CRED_MAX], p[AUTHC_CRED_MAX];

	if (!authc_credentials_copy(user, ulen, pass, plen, u, p)) {
		login_fail_reply(s);
		return;
	}
	s->authreq = authc_login("pop3", u, p, s->addr, login_auth_cb, s);
	wipe(p, sizeof(p));
	if (s->authreq == 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] authentication service "
		    "unavailable, try later");
		return;
	}
	s->wait = PW_AUTHD;
}

/* AUTH PLAIN response (RFC 4616): base64 of authzid NUL authcid NUL pass */
void
pop3_login_auth_line(struct pop3_session *s, char *b64, size_t len)
{
	unsigned char *dec;
	const char *u, *p;
	size_t n;

	if (len == 1 && b64[0] == '*') {
		pop3_reply(s, "-ERR authentication cancelled");
		return;
	}
	if (len == 1 && b64[0] == '=')
		len = 0;	/* RFC 5034 4: an empty initial response */
	if (len == 0 || len > 4096) {
		pop3_reply(s, "-ERR [AUTH] malformed PLAIN response");
		return;
	}
	dec = xmalloc(len + 1);
	if (base64_decode(b64, len, dec, len, &n) == -1) {
		pop3_reply(s, "-ERR [AUTH] bad base64");
		goto done;
	}
	switch (authc_plain((char *)dec, n, &u, &p)) {	/* n < len + 1 */
	case AUTHC_PLAIN_BAD:
		pop3_reply(s, "-ERR [AUTH] malformed PLAIN response");
		break;
	case AUTHC_PLAIN_PROXY:
		pop3_reply(s, "-ERR [AUTH] no proxy login");
		break;
	case AUTHC_PLAIN_OK:
		login_check(s, u, strlen(u), p, strlen(p));
		break;
	}
done:
	wipe(dec, len + 1);
	free(dec);
}

static void
login_auth(struct pop3_session *s, struct pop3_cmd *c)
{
	if (c->arg == NULL) {
		/* the mechanism list some clients ask for (RFC 1734's form) */
		static const char list[] = "+OK\r\nPLAIN\r\n.\r\n";

		pop3_write(s, list, sizeof(list) - 1);
		return;
	}
	if (strcasecmp(c->arg, "PLAIN") != 0) {
		pop3_reply(s, "-ERR unsupported mechanism");
		return;
	}
	if (c->arg2 != NULL) {
		pop3_login_auth_line(s, c->arg2, c->arg2len);
		return;
	}
	pop3_write(s, "+ \r\n", 4);
	s->wait = PW_AUTH_CONT;
}

static void
login_stls(struct pop3_session *s)
{
	if (s->tls) {
		pop3_reply(s, "-ERR TLS already active");
		return;
	}
	pop3_reply(s, "+OK begin TLS negotiation");
	/* the +OK goes out in clear first; pipelined plaintext is dropped
	 * (RFC 2595 4, STYLE 9), and so is a USER given before */
	free(s->user);
	s->user = NULL;
	s->wait = PW_HANDSHAKE;
	if (imapd_tls() == NULL ||
	    conn_starttls(&s->conn, imapd_tls(), NULL, false) == -1) {
		pop3_close(s);
		return;
	}
	SSL_set_mode(s->conn.ssl, SSL_MODE_RELEASE_BUFFERS);
	conn_pause(&s->conn, false);
}

void
pop3_login_cmd(struct pop3_session *s, struct pop3_cmd *c)
{
	bool login = c->kw == POP3_USER || c->kw == POP3_PASS ||
	    c->kw == POP3_AUTH || c->kw == POP3_APOP;

	if (c->kw == POP3_QUIT) {
		pop3_reply(s, "+OK bye");
		pop3_close(s);
		return;
	}
	if (login && !s->tls) {
		pop3_reply(s, "-ERR [AUTH] no login in clear text: STLS first");
		return;
	}
	if (c->err) {
		pop3_reply(s, "-ERR %s", c->err);
		return;
	}
	switch (c->kw) {
	case POP3_STLS:
		login_stls(s);
		break;
	case POP3_USER:
		free(s->user);
		s->user = xstrdup(c->arg);
		pop3_reply(s, "+OK send PASS");
		break;
	case POP3_PASS:
		if (s->user == NULL) {
			pop3_reply(s, "-ERR USER first");
			break;
		}
		login_check(s, s->user, strlen(s->user), c->arg, c->arglen);
		break;
	case POP3_AUTH:
		login_auth(s, c);
		break;
	case POP3_APOP:
		pop3_reply(s, "-ERR APOP is not supported, use USER/PASS");
		break;
	default:
		pop3_reply(s, "-ERR not before login");
		break;
	}
}
