/* SPDX-License-Identifier: ISC */
/*
 * smtp_session_auth.c - SMTP AUTH (RFC 4954) with PLAIN and LOGIN on the
 * submission ports, and what an authenticated user may send as.
 *
 * AUTH is offered only on `submission` after STARTTLS and on
 * `submissions`; before TLS it gets 538 5.7.11 (SPEC 6: no password in
 * clear).  The password goes to authd, which checks it and throttles
 * guessing (the delay is applied there; THROTTLED closes with 421 4.7.0);
 * authd unreachable gives 454 4.7.0.  After a login the addresses the
 * user may send as are fetched once (AUTHD_SENDERS): MAIL FROM and the
 * From header must be one of them, an address at a "@domain" pattern, or
 * a sub-address (user+tag@) of one (553 5.7.1 otherwise).  The login's
 * answer carries authd's grant for the session, which DKIM signing shows
 * (smtp_session_dkim.c) and which is released when the session ends.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authc.h"
#include "log.h"
#include "xmem.h"
#include "smtp_session.h"

#define CRED_MAX	1100	/* decoded user + password */

static void
auth_fail(struct session *s, const char *reply)
{
	s->auth_step = AUTH_NONE;
	free(s->login_user);
	s->login_user = NULL;
	session_reply(s, "%s", reply);
	if (s->state == S_AUTH)
		s->state = S_CMD;
}

static void
senders_done(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct session *s = arg;
	const char *a;
	uint32_t n, i;
	size_t len;

	s->authc_id = 0;
	if (res == AUTHD_OK && m && ipc_get_u32(m, &n) && n <= 10000) {
		for (i = 0; i < n && ipc_get_str(m, &a, &len); i++) {
			s->senders = xreallocarray(s->senders, s->nsenders + 1,
			    sizeof(*s->senders));
			s->senders[s->nsenders++] = xstrdup(a);
		}
		session_reply(s, "235 2.7.0 Authentication successful");
	} else {
		free(s->auth_user);
		s->auth_user = NULL;
		session_reply(s, "454 4.7.0 Temporary authentication failure");
	}
	session_resume(s);
}

static void
login_done(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct session *s = arg;
	const char *user;
	const void *grant;
	size_t n;

	s->authc_id = 0;
	switch (res) {
	case AUTHD_OK:
		if (m == NULL || !ipc_get_str(m, &user, &n))
			break;
		/* the grant DKIM_SIGN wants for this session's mail */
		if (ipc_get_data(m, &grant, &n) && n == AUTHD_GRANT_LEN) {
			memcpy(s->grant, grant, n);
			s->have_grant = true;
		}
		s->auth_user = xstrdup(user);
		log_info("session=%08x addr=%s user=%s authenticated", s->id,
		    s->addr, user);
		if ((s->authc_id = authc_senders(user, senders_done, s)) != 0)
			return;		/* still waiting */
		free(s->auth_user);
		s->auth_user = NULL;
		break;
	case AUTHD_FAIL:
		session_reply(s, "535 5.7.8 Authentication credentials invalid");
		session_resume(s);
		return;
	case AUTHD_THROTTLED:
		session_reply(s, "421 4.7.0 Too many failed logins, try again later");
		s->closing = true;
		conn_flush_close(&s->c);
		return;
	default:
		break;
	}
	session_reply(s, "454 4.7.0 Temporary authentication failure");
	session_resume(s);
}

static void
auth_check(struct session *s, const char *user, const char *pass)
{
	const char *err;

	if ((err = smtp_auth_check(user, pass)) != NULL) {
		auth_fail(s, err);
		return;
	}
	s->auth_step = AUTH_NONE;
	s->state = S_CMD;
	session_wait(s);
	s->authc_id = authc_login("smtp", user, pass, s->addr, login_done, s);
	if (s->authc_id == 0) {
		s->state = S_CMD;
		conn_pause(&s->c, false);
		session_reply(s, "454 4.7.0 Temporary authentication failure");
	}
}

static void
auth_plain(struct session *s, const char *b64)
{
	char cred[CRED_MAX + 1];
	const char *user, *pass, *err;
	size_t n;

	if (smtp_auth_b64(b64, cred, CRED_MAX, &n) == -1)
		auth_fail(s, "501 5.5.2 Cannot decode the response");
	else if ((err = smtp_auth_plain(cred, n, &user, &pass)) != NULL)
		auth_fail(s, err);
	else
		auth_check(s, user, pass);
	wipe(cred, sizeof(cred));
}

void
session_auth_start(struct session *s, const char *args)
{
	const char *ir = strchr(args, ' ');
	size_t mlen = ir ? (size_t)(ir - args) : strlen(args);

	if (ir)
		ir++;
	if (s->l->kind == PORT_MX || s->l->kind == PORT_LOCAL) {
		session_reply(s, "503 5.5.1 AUTH is offered on the submission ports");
		return;
	}
	if (!s->tls) {
		session_reply(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (s->auth_user) {
		session_reply(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (s->have_from) {
		session_reply(s, "503 5.5.1 AUTH not allowed during a mail transaction");
		return;
	}
	if (s->helo[0] == '\0' || !s->esmtp) {
		session_reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (mlen == 5 && strncasecmp(args, "PLAIN", 5) == 0) {
		if (ir) {
			auth_plain(s, ir);
			return;
		}
		s->auth_step = AUTH_PLAIN;
		s->state = S_AUTH;
		session_reply(s, "334 ");
	} else if (mlen == 5 && strncasecmp(args, "LOGIN", 5) == 0) {
		s->state = S_AUTH;
		if (ir) {
			s->auth_step = AUTH_LOGIN_USER;
			session_auth_line(s, ir);
			return;
		}
		s->auth_step = AUTH_LOGIN_USER;
		session_reply(s, "334 VXNlcm5hbWU6");	/* "Username:" */
	} else
		session_reply(s, "504 5.5.4 Unrecognized authentication type");
}

void
session_auth_line(struct session *s, const char *line)
{
	char cred[CRED_MAX + 1];
	size_t n;

	if (strcmp(line, "*") == 0) {
		auth_fail(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	switch (s->auth_step) {
	case AUTH_PLAIN:
		auth_plain(s, line);
		break;
	case AUTH_LOGIN_USER:
		if (smtp_auth_b64(line, cred, CRED_MAX, &n) == -1 || n == 0 ||
		    memchr(cred, '\0', n)) {
			auth_fail(s, "501 5.5.2 Cannot decode the response");
			break;
		}
		cred[n] = '\0';
		s->login_user = xstrdup(cred);
		s->auth_step = AUTH_LOGIN_PASS;
		session_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
		break;
	case AUTH_LOGIN_PASS:
		if (smtp_auth_b64(line, cred, CRED_MAX, &n) == -1 || n == 0 ||
		    memchr(cred, '\0', n)) {
			auth_fail(s, "501 5.5.2 Cannot decode the response");
			break;
		}
		cred[n] = '\0';
		{
			char *user = s->login_user;

			s->login_user = NULL;
			auth_check(s, user, cred);
			free(user);
		}
		break;
	case AUTH_NONE:
		auth_fail(s, "503 5.5.1 No AUTH in progress");
		break;
	}
	wipe(cred, sizeof(cred));
}

/* session_sender_allowed - may the logged-in user send as addr? */
bool
session_sender_allowed(const struct session *s, const char *addr)
{
	const char *at = strrchr(addr, '@'), *plus;
	size_t i, llen;

	if (*addr == '\0')
		return true;		/* <>: bounces and auto-replies */
	if (at == NULL)
		return false;
	plus = memchr(addr, '+', (size_t)(at - addr));
	llen = plus ? (size_t)(plus - addr) : (size_t)(at - addr);
	for (i = 0; i < s->nsenders; i++) {
		const char *p = s->senders[i];
		const char *pat = strrchr(p, '@');

		if (strcasecmp(p, addr) == 0)
			return true;
		if (p[0] == '@' && strcasecmp(p + 1, at + 1) == 0)
			return true;
		/* user+tag@domain as the user */
		if (pat && (size_t)(pat - p) == llen && strncasecmp(p, addr, llen) == 0 &&
		    strcasecmp(pat, at) == 0)
			return true;
	}
	return false;
}

/* session_mail_check_sender - MAIL FROM of an authenticated session */
void
session_mail_check_sender(struct session *s)
{
	if (!session_sender_allowed(s, s->from.addr)) {
		log_info("session=%08x addr=%s user=%s refused MAIL FROM:<%s>: not "
		    "the user's address", s->id, s->addr, s->auth_user, s->from.addr);
		session_reply(s, "553 5.7.1 <%s>: Sender address not owned by user %s",
		    s->from.addr, s->auth_user);
		return;
	}
	s->have_from = true;
	session_reply(s, "250 2.1.0 Ok");
}

void
session_auth_free(struct session *s)
{
	size_t i;

	if (s->have_grant) {
		authc_release(s->grant);
		wipe(s->grant, sizeof(s->grant));
		s->have_grant = false;
	}
	for (i = 0; i < s->nsenders; i++)
		free(s->senders[i]);
	free(s->senders);
	s->senders = NULL;
	s->nsenders = 0;
	free(s->auth_user);
	s->auth_user = NULL;
	free(s->login_user);
	s->login_user = NULL;
}
