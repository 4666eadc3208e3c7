/* SPDX-License-Identifier: ISC */
/*
 * smtp_session.c - one SMTP server session: reading command lines,
 * dispatching the commands of RFC 5321, STARTTLS (RFC 3207), replies.
 *
 * Line rules (SPEC 6): a command line ends with CRLF; a bare LF, a CR or a
 * NUL inside, or more than 512 bytes (2048 for AUTH) get "500 5.5.2" and
 * nothing is executed; an over-long line is skipped up to its end and
 * answered once.  Bytes pipelined behind STARTTLS are discarded.
 * Recipients in a local domain are checked with authd (550 5.1.1 when
 * unknown); others are relayed only for authenticated clients
 * (554 5.7.1 otherwise), whether or not the client is in [smtp] trusted:
 * trusted skips the spam checks of port 25, it grants no relaying.
 *
 * Deadlines (issue 16 item 4), none of which a byte received extends, each
 * answered "421 4.4.2 ... Timeout (WHAT)" and a close: a command line must
 * be complete within [smtp] timeout of the previous one (or of our last
 * answer from authd or the queue); DATA must reach its final dot within
 * data_timeout; a TLS handshake must end within tls_timeout; and a client
 * of port 25 must have given MAIL, one of 587/465 must have logged in,
 * within login_timeout of connecting.  facteur-sendmail (the local socket)
 * has none but the per-command one, which its DATA restarts per line (a
 * cron job may pipe its output slowly).  The idle timeout of lib/conn.c
 * ([smtp] timeout, restarted by every read) stays beside them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "authc.h"
#include "cidr.h"
#include "crlf.h"
#include "log.h"
#include "tls.h"
#include "xmem.h"
#include "smtp_session.h"
#include "screen.h"

static void session_input(struct session *s);
static void session_end(struct session *s);

static const char WHAT_COMMAND[] = "command";
static const char WHAT_DATA[] = "DATA";
static const char WHAT_TLS[] = "TLS handshake";

/* session_deadline - (re)arm the deadline of what we wait for from the client */
void
session_deadline(struct session *s, unsigned seconds, const char *what)
{
	s->deadline_what = what;
	ev_timer_add(&s->deadline, 1000ULL * seconds);
}

/* session_expire - a deadline passed: 421 (not inside TLS setup) and close */
static void
session_expire(struct session *s, const char *what)
{
	char line[300];

	if (s->closing)
		return;		/* conn_flush_close() has its own timeout */
	log_info("session=%08x addr=%s timeout=%s, closing", s->id, s->addr,
	    what);
	if (s->c.handshaking) {
		conn_close(&s->c);	/* nothing can be said in clear now */
		session_end(s);
		return;
	}
	bsnprintf(line, sizeof(line), "421 4.4.2 %s Timeout (%s), closing "
	    "connection", smtpd_conf->hostname, what);
	session_reply(s, "%s", line);
	s->closing = true;
	conn_flush_close(&s->c);
}

static void
on_deadline(struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)t;
	session_expire(s, s->deadline_what);
}

static void
on_login_timer(struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)t;
	session_expire(s, s->l->kind == PORT_MX ? "no MAIL" : "no login");
}

/* session_phase - stop the login deadline once the client got that far */
static void
session_phase(struct session *s)
{
	if (!ev_timer_pending(&s->login_timer))
		return;
	if ((s->l->kind == PORT_MX && s->have_from) ||
	    (s->l->kind != PORT_MX && s->auth_user != NULL && s->state != S_WAIT))
		ev_timer_del(&s->login_timer);
}

void
session_reply(struct session *s, const char *fmt, ...)
{
	char line[SMTP_TEXT_MAX + 64];
	va_list ap;
	size_t n;

	if (s->closing)
		return;
	va_start(ap, fmt);
	n = crlf_vline(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n == 0)
		return;
	if (conn_write(&s->c, line, n) == -1) {
		/* the client does not read its replies: give up on it */
		log_info("session=%08x addr=%s output full, closing", s->id, s->addr);
		s->closing = true;
		conn_flush_close(&s->c);
	}
}

/* session_close - reply (may be NULL) and close once it is written */
static void
session_close(struct session *s, const char *last)
{
	if (last)
		session_reply(s, "%s", last);
	s->closing = true;
	conn_flush_close(&s->c);
}

void
session_wait(struct session *s)
{
	s->state = S_WAIT;
	conn_pause(&s->c, true);
}

void
session_resume(struct session *s)
{
	if (s->closing)
		return;
	if (s->state == S_WAIT)
		s->state = S_CMD;
	if (s->state != S_DATA)	/* we answered: the client's turn again */
		session_deadline(s, smtpd_conf->smtp.timeout, WHAT_COMMAND);
	session_phase(s);
	conn_pause(&s->c, false);
	session_input(s);
}

void
session_reset_transaction(struct session *s)
{
	size_t i;

	session_data_abort(s);
	session_grey_free(s);
	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orig);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = s->nrcpt_tried = 0;
	s->have_from = false;
	free(s->ret);
	s->ret = NULL;
	free(s->pending_rcpt);
	s->pending_rcpt = NULL;
}

void
session_add_rcpt(struct session *s, const char *addr, const char *orig)
{
	size_t i;

	for (i = 0; i < s->nrcpt; i++)	/* one copy per mailbox */
		if (strcasecmp(s->rcpts[i].addr, addr) == 0)
			return;
	s->rcpts = xreallocarray(s->rcpts, s->nrcpt + 1, sizeof(*s->rcpts));
	s->rcpts[s->nrcpt].addr = xstrdup(addr);
	s->rcpts[s->nrcpt].orig = xstrdup(orig);
	s->nrcpt++;
}

static bool
submission_port(const struct session *s)
{
	return s->l->kind == PORT_SUBMISSION || s->l->kind == PORT_SUBMISSIONS;
}

/* ---- commands ------------------------------------------------------------ */

static void
cmd_helo(struct session *s, const char *args, bool esmtp)
{
	if (!smtp_cmd_valid_helo(args)) {
		session_reply(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	if (!screen_helo(s, args))
		return;
	session_reset_transaction(s);
	bstrcpy(s->helo, args, sizeof(s->helo));
	s->esmtp = esmtp;
	if (!esmtp) {
		session_reply(s, "250 %s", smtpd_conf->hostname);
		return;
	}
	session_reply(s, "250-%s Hello %s [%s]", smtpd_conf->hostname, args, s->addr);
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %llu", (unsigned long long)smtpd_conf->smtp.max_size);
	session_reply(s, "250-8BITMIME");
	if (s->tls_avail && !s->tls)
		session_reply(s, "250-STARTTLS");
	if (submission_port(s) && s->tls && s->auth_user == NULL)
		session_reply(s, "250-AUTH PLAIN LOGIN");
	session_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
cmd_starttls(struct session *s, const char *args)
{
	SSL_CTX *ctx;

	if (*args)
		session_reply(s, "501 5.5.4 Syntax: STARTTLS");
	else if (!s->tls_avail)
		session_reply(s, "502 5.5.1 STARTTLS not available");
	else if (s->tls)
		session_reply(s, "503 5.5.1 TLS already active");
	else if ((ctx = smtp_server_tls()) == NULL)
		session_reply(s, "454 4.7.0 TLS not available due to a "
		    "temporary reason");
	else {
		session_reply(s, "220 2.0.0 Ready to start TLS");
		if (s->closing)
			return;
		/* RFC 3207 4.2: forget everything said in clear */
		session_reset_transaction(s);
		s->helo[0] = '\0';
		s->esmtp = false;
		if (conn_starttls(&s->c, ctx, NULL, false) == -1)
			session_close(s, NULL);
		else {
			session_wait(s);	/* until the handshake is done */
			session_deadline(s, smtpd_conf->smtp.tls_timeout,
			    WHAT_TLS);
		}
	}
}

/* ret_done - facteur-sendmail: the local mailbox of MAIL FROM, if any */
static void
ret_done(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct session *s = arg;
	const char *mb;
	uint32_t n;
	size_t len;

	s->authc_id = 0;
	if (res == AUTHD_OK && m && ipc_get_u32(m, &n) && n >= 1 &&
	    ipc_get_str(m, &mb, &len))
		s->ret = xstrdup(mb);
	s->have_from = true;
	session_reply(s, "250 2.1.0 Ok");
	session_resume(s);
}

bool
session_from_fetch(const struct session *s)
{
	char uid[32];

	return s->l->kind == PORT_LOCAL && strcmp(s->helo, "facteur-fetch") == 0 &&
	    bsnprintf(uid, sizeof(uid), "uid=%ld", (long)smtpd_fetch_uid) &&
	    strcmp(s->addr, uid) == 0;
}

static void
cmd_mail(struct session *s, const char *args)
{
	const char *err;

	if (s->helo[0] == '\0') {
		session_reply(s, "503 5.5.1 Send HELO/EHLO first");
		return;
	}
	if (s->have_from) {
		session_reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (submission_port(s) && s->auth_user == NULL) {
		session_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if ((err = smtp_cmd_path(args, true, &s->from)) != NULL) {
		session_reply(s, "%s", err);
		return;
	}
	if (s->from.once[0] && !session_from_fetch(s)) {
		session_reply(s, "555 5.5.4 Unsupported parameter");
		return;
	}
	if (smtpd_conf->smtp.max_size && s->from.size > smtpd_conf->smtp.max_size) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed limit of %llu bytes",
		    (unsigned long long)smtpd_conf->smtp.max_size);
		return;
	}
	if (s->auth_user) {
		session_mail_check_sender(s);
		return;
	}
	if (s->l->kind == PORT_LOCAL && !session_sender_allowed(s, s->from.addr)) {
		log_info("session=%08x addr=%s refused MAIL FROM:<%s>: not an "
		    "address of this account ([sendmail] sender)%s", s->id,
		    s->addr, s->from.addr, s->local_unknown ? "; the account "
		    "is newer than the list read at start: reload smtpd" : "");
		session_reply(s, "553 5.7.1 <%s>: Sender address not allowed for "
		    "this local account%s", s->from.addr, s->local_unknown ?
		    " (an account made after facteur-smtpd started: reload "
		    "it, SIGHUP)" : "");
		return;
	}
	if (s->l->kind == PORT_LOCAL && s->from.at) {
		const char *d = s->from.addr + s->from.at + 1;

		if (conf_is_local_domain(smtpd_conf, d, strlen(d))) {
			session_wait(s);	/* where would its bounces go? */
			if ((s->authc_id = authc_rcpt(s->from.addr, ret_done, s)) != 0)
				return;
			s->state = S_CMD;
			conn_pause(&s->c, false);
		}
	}
	if (!screen_mail(s))	/* or it answers when DNS did */
		session_mail_accept(s);
}

void
session_mail_accept(struct session *s)
{
	s->have_from = true;
	session_inbound_mail(s);
	session_reply(s, "250 2.1.0 Ok");
}

static void
rcpt_done(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct session *s = arg;
	const char *mb;
	uint32_t n, i;
	size_t len;

	s->authc_id = 0;
	if (res == AUTHD_OK && m && ipc_get_u32(m, &n) && n > 0 && n <= 1000) {
		if (session_grey_rcpt(s, s->pending_rcpt)) {	/* else 451 */
			for (i = 0; i < n; i++) {
				if (!ipc_get_str(m, &mb, &len) || strchr(mb, ' '))
					break;
				session_add_rcpt(s, mb, s->pending_rcpt);
			}
			session_reply(s, "250 2.1.5 Ok");
		}
	} else if (res == AUTHD_NOTFOUND) {
		log_info("session=%08x addr=%s rcpt=<%s> refused: unknown user",
		    s->id, s->addr, s->pending_rcpt);
		session_reply(s, "550 5.1.1 <%s>: Recipient address rejected: "
		    "User unknown", s->pending_rcpt);
	} else
		session_reply(s, "451 4.3.0 <%s>: Temporary lookup failure, "
		    "try again later", s->pending_rcpt);
	free(s->pending_rcpt);
	s->pending_rcpt = NULL;
	session_resume(s);
}

static void
cmd_rcpt(struct session *s, const char *args)
{
	if (!s->have_from) {
		session_reply(s, "503 5.5.1 Need MAIL command");
		return;
	}
	if (!session_grey_wait(s, args))	/* else it calls session_rcpt */
		session_rcpt(s, args);
}

/* session_rcpt - RCPT after MAIL, greylisting has the SPF result it needs */
void
session_rcpt(struct session *s, const char *args)
{
	struct smtp_path p;
	const char *err, *domain;
	char addr[SMTP_PATH_MAX + 64];

	if ((err = smtp_cmd_path(args, false, &p)) != NULL) {
		session_reply(s, "%s", err);
		return;
	}
	if (s->nrcpt_tried >= smtpd_conf->smtp.max_rcpt) {
		session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	s->nrcpt_tried++;
	if (p.at == 0 && p.addr[0] != '@') {	/* <postmaster> */
		snprintf(addr, sizeof(addr), "postmaster@%s", smtpd_conf->domains[0]);
		domain = strchr(addr, '@') + 1;
	} else {
		bstrcpy(addr, p.addr, sizeof(addr));
		domain = addr + p.at + 1;
	}
	if (!conf_is_local_domain(smtpd_conf, domain, strlen(domain))) {
		/* a domain we are backup MX for: queued for its better MX
		 * hosts, no recipient check (README, Backup MX) */
		if (s->auth_user == NULL && s->l->kind != PORT_LOCAL &&
		    !conf_is_backup_domain(smtpd_conf, domain, strlen(domain))) {
			log_info("session=%08x addr=%s rcpt=<%s> refused: relay denied",
			    s->id, s->addr, addr);
			session_reply(s, "554 5.7.1 <%s>: Relay access denied", addr);
			return;
		}
		if (session_grey_rcpt(s, addr)) {	/* else 451 */
			session_add_rcpt(s, addr, addr);
			session_reply(s, "250 2.1.5 Ok");
		}
		return;
	}
	s->pending_rcpt = xstrdup(addr);
	if ((s->authc_id = authc_rcpt(addr, rcpt_done, s)) == 0) {
		free(s->pending_rcpt);
		s->pending_rcpt = NULL;
		session_reply(s, "451 4.3.0 Temporary lookup failure, try again later");
		return;
	}
	session_wait(s);
}

static void
cmd_data(struct session *s, const char *args)
{
	if (*args)
		session_reply(s, "501 5.5.4 Syntax: DATA");
	else if (!s->have_from)
		session_reply(s, "503 5.5.1 Need MAIL command");
	else if (s->nrcpt == 0)
		session_reply(s, "554 5.5.1 No valid recipients");
	else
		session_data_start(s);
}

static void
session_command(struct session *s, char *line)
{
	const char *args;
	enum smtp_verb verb = smtp_cmd_verb(line, strlen(line), &args);

	if (screen_refused(s, verb))
		return;
	switch (verb) {
	case CMD_HELO:
		cmd_helo(s, args, false);
		break;
	case CMD_EHLO:
		cmd_helo(s, args, true);
		break;
	case CMD_MAIL:
		cmd_mail(s, args);
		break;
	case CMD_RCPT:
		cmd_rcpt(s, args);
		break;
	case CMD_DATA:
		cmd_data(s, args);
		break;
	case CMD_RSET:
		session_reset_transaction(s);
		session_reply(s, "250 2.0.0 Ok");
		break;
	case CMD_NOOP:
		session_reply(s, "250 2.0.0 Ok");
		break;
	case CMD_QUIT:
		session_close(s, "221 2.0.0 Bye");
		break;
	case CMD_VRFY:
		session_reply(s, "252 2.5.2 Send some mail, I will try my best");
		break;
	case CMD_EXPN:
		session_reply(s, "502 5.5.1 EXPN not available");
		break;
	case CMD_HELP:
		session_reply(s, "214 2.0.0 See RFC 5321; facteur");
		break;
	case CMD_STARTTLS:
		cmd_starttls(s, args);
		break;
	case CMD_AUTH:
		session_auth_start(s, args);
		break;
	case CMD_BDAT:
	case CMD_UNKNOWN:
		session_reply(s, "502 5.5.2 Command not recognized");
		break;
	}
}

/* session_input - run every complete line in the input buffer */
static void
session_input(struct session *s)
{
	struct buf *in = &s->c.in;
	char line[SASL_LINE_MAX + 1];

	while (!s->closing && (s->state == S_CMD || s->state == S_AUTH ||
	    s->state == S_DATA)) {
		const char *p = buf_head(in), *nl;
		size_t n = in->len, limit, len;

		if (s->state == S_DATA) {
			if (s->l->kind == PORT_LOCAL)
				session_deadline(s, smtpd_conf->smtp.timeout,
				    WHAT_DATA);
			else if (s->deadline_what != WHAT_DATA)
				session_deadline(s, smtpd_conf->smtp.data_timeout,
				    WHAT_DATA);
			session_data_input(s);
			if (s->state == S_DATA)
				return;		/* needs more input */
			continue;
		}
		if (n == 0)
			return;
		nl = memchr(p, '\n', n);
		if (s->skipping) {
			if (nl == NULL) {
				buf_drain(in, n);
				return;
			}
			buf_drain(in, (size_t)(nl - p) + 1);
			s->skipping = false;
			session_reply(s, "500 5.5.2 Line too long");
			continue;
		}
		limit = s->state == S_AUTH || (n >= 5 && strncasecmp(p, "AUTH ", 5) == 0) ?
		    SASL_LINE_MAX : SMTP_CMD_MAX;
		if (nl == NULL) {
			if (n >= limit) {
				s->skipping = true;
				buf_drain(in, n);
			}
			return;
		}
		len = (size_t)(nl - p) + 1;
		if (len > limit) {
			buf_drain(in, len);
			session_reply(s, "500 5.5.2 Line too long");
			continue;
		}
		if (len < 2 || p[len - 2] != '\r' || memchr(p, '\0', len) ||
		    memchr(p, '\r', len - 2)) {
			buf_drain(in, len);
			session_reply(s, "500 5.5.2 Syntax error: lines must end with "
			    "CRLF and hold no NUL or CR");
			continue;
		}
		memcpy(line, p, len - 2);
		line[len - 2] = '\0';
		buf_drain(in, len);
		session_deadline(s, smtpd_conf->smtp.timeout, WHAT_COMMAND);
		if (s->state == S_AUTH)
			session_auth_line(s, line);
		else
			session_command(s, line);
		wipe(line, len);
		session_phase(s);
	}
}

static void
session_end(struct session *s)
{
	if (s->authc_id)
		authc_cancel(s->authc_id);
	s->authc_id = 0;
	log_debug("session=%08x addr=%s closed (%s)", s->id, s->addr,
	    s->c.error ? s->c.error : "");
	smtp_server_session_done(s);
}

static void
on_conn(struct conn *c, enum conn_event ev, void *arg)
{
	struct session *s = arg;

	switch (ev) {
	case CONN_EV_READ:
		if (s->state == S_SCREEN)
			screen_input(s);
		else if (s->state != S_WAIT)
			session_input(s);
		break;
	case CONN_EV_TLS:
		s->tls = true;
		session_deadline(s, smtpd_conf->smtp.timeout, WHAT_COMMAND);
		tls_describe(c->ssl, s->tls_info, sizeof(s->tls_info));
		if (s->l->kind == PORT_SUBMISSIONS) {
			session_reply(s, "220 %s ESMTP facteur", smtpd_conf->hostname);
			s->state = S_CMD;
			conn_pause(c, false);
		} else
			session_resume(s);
		break;
	case CONN_EV_TIMEOUT:
		log_info("session=%08x addr=%s timeout", s->id, s->addr);
		session_close(s, "421 4.4.2 Idle timeout, closing connection");
		break;
	case CONN_EV_CLOSED:
		session_end(s);
		break;
	case CONN_EV_DRAINED:
		break;
	}
}

struct session *
smtp_session_new(int fd, const struct listener *l, const char *addr,
    uint32_t id, bool tls)
{
	struct session *s = xcalloc(1, sizeof(*s));
	SSL_CTX *ctx;

	s->id = id;
	s->l = l;
	s->tls_avail = tls;
	s->qfd = -1;
	bstrcpy(s->addr, addr, sizeof(s->addr));
	s->trusted = smtp_session_trusted(l, addr);
	/* from accept4(SOCK_NONBLOCK), smtp_server.c */
	conn_init_nb(&s->c, fd, SESSION_IN_MAX, SESSION_OUT_MAX, on_conn, s);
	/* AUTH lines carry passwords: leave no copy (lib/buf.h) */
	s->c.in.secret = l->kind == PORT_SUBMISSION || l->kind == PORT_SUBMISSIONS;
	conn_set_timeout(&s->c, smtpd_conf->smtp.timeout * 1000);
	ev_timer_init(&s->deadline, on_deadline, s);
	ev_timer_init(&s->login_timer, on_login_timer, s);
	session_deadline(s, smtpd_conf->smtp.timeout, WHAT_COMMAND);
	if (l->kind != PORT_LOCAL)
		ev_timer_add(&s->login_timer,
		    1000ULL * smtpd_conf->smtp.login_timeout);
	log_debug("session=%08x addr=%s connected to %s%s", id, addr, l->name,
	    s->trusted ? " (trusted)" : "");
	if (l->kind == PORT_SUBMISSIONS) {
		session_wait(s);
		session_deadline(s, smtpd_conf->smtp.tls_timeout, WHAT_TLS);
		if ((ctx = smtp_server_tls()) == NULL ||
		    conn_starttls(&s->c, ctx, NULL, false) == -1)
			session_close(s, NULL);
	} else if (!screen_connect(s))	/* port 25 may greet later */
		session_reply(s, "220 %s ESMTP facteur", smtpd_conf->hostname);
	return s;
}

bool
smtp_session_trusted(const struct listener *l, const char *addr)
{
	const struct conf_nets *t = &smtpd_conf->smtp.trusted;

	return l->kind == PORT_MX && cidr_match(t->v, t->n, addr);
}

void
smtp_session_free(struct session **sp)
{
	struct session *s = *sp;

	if (s == NULL)
		return;
	session_reset_transaction(s);
	session_auth_free(s);
	screen_free(s);
	ev_timer_del(&s->deadline);
	ev_timer_del(&s->login_timer);
	conn_close(&s->c);
	free(s);
	*sp = NULL;
}

uint32_t
smtp_session_id(const struct session *s)
{
	return s->id;
}

void
smtp_session_queue_reply(struct session *s, struct ipc_msg *m)
{
	session_data_queue_reply(s, m);
}

void
smtp_session_shutdown(struct session *s)
{
	session_close(s, "421 4.3.2 Service shutting down, closing connection");
}
