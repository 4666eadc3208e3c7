/* SPDX-License-Identifier: ISC */
/*
 * imap_session.c - one IMAP connection: TLS, greeting, command dispatch,
 * login through facteur-authd, IDLE and untagged updates (RFC 3501).
 *
 * Runs in two roles of facteur-imapd, both as `user`: in the login
 * process before login (TLS, STARTTLS, LOGIN/AUTHENTICATE through authd;
 * no path, no file opened) and then as a byte relay to the user's worker;
 * in a worker (chrooted into one user's Maildir when started as root),
 * from the hand-over on.  A peer's bad input gets BAD/NO and the session
 * goes on; only a refused LITERAL+ or a write overflow closes it.
 * Passwords are wiped after they were handed to authc and never logged.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "authc.h"
#include "base64.h"
#include "ipc.h"
#include "imapd.h"
#include "crlf.h"
#include "log.h"
#include "nospace.h"
#include "tls.h"
#include "xmem.h"

#define CAPS_COMMON "IMAP4rev1 IMAP4rev2 LITERAL+ IDLE UIDPLUS MOVE SPECIAL-USE " \
	"ESEARCH SEARCHRES CONTEXT=SEARCH CONTEXT=SORT " \
	"LIST-EXTENDED LIST-STATUS MULTIAPPEND CONDSTORE QRESYNC " \
	"NAMESPACE ENABLE ID UNSELECT CHILDREN SORT SORT=DISPLAY ESORT " \
	"THREAD=REFERENCES THREAD=ORDEREDSUBJECT BINARY CATENATE"

static void session_input(struct imap_session *s);
static void session_parse_error(struct imap_session *s);

void
session_continue(struct imap_session *s)
{
	session_input(s);
}
static void session_free(struct imap_session *s);
static void session_starttls_go(struct imap_session *s);

/*
 * session_close - flush what is queued, then close.  conn_flush_close()
 * alone may wait for an event that never comes once the last bytes went
 * out inside a read callback, so a short timer finishes the job.
 */
static void
session_close(struct imap_session *s)
{
	s->state = SS_LOGOUT;
	s->wait = SW_CLOSING;
	conn_flush_close(&s->conn);
	ev_timer_add(&s->timer, 5);
}

void
session_write(struct imap_session *s, const void *p, size_t n)
{
	if (s->state == SS_LOGOUT && s->conn.closing)
		return;
	if (conn_write(&s->conn, p, n) == -1) {
		log_warnx("session=%08x output overflow, closing", s->id);
		session_close(s);
	}
}

/*
 * session_write_buf - queue b's bytes; a big response with nothing else
 * queued moves into the output buffer instead of being copied (a 35 MB
 * BODY[] then costs one copy, not two).  b is left empty.
 */
void
session_write_buf(struct imap_session *s, struct buf *b)
{
	struct buf *o = &s->conn.out, t;

	if (o->len == 0 && b->len > 65536 && (o->max == 0 || b->len <= o->max) &&
	    !s->conn.dead) {
		t = *o;
		o->data = b->data;
		o->off = b->off;
		o->len = b->len;
		o->cap = b->cap;
		b->data = t.data;
		b->off = t.off;
		b->len = t.len;
		b->cap = t.cap;
		buf_reset(b);
		(void)conn_write(&s->conn, "", 0);	/* start writing */
		return;
	}
	session_write(s, buf_head(b), b->len);
	buf_reset(b);
}

void
session_reply(struct imap_session *s, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = crlf_vline(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		session_write(s, line, n);
}

/*
 * session_tagged_updates - what a tagged reply must be preceded by: the
 * untagged updates of the selected folder (RFC 3501 7.4.1, RFC 9051
 * 7.5.1: during a command, before its completion; EXPUNGE only if the
 * command allows it).  Nothing is sent between commands but in IDLE.
 */
void
session_tagged_updates(struct imap_session *s)
{
	if (s->state == SS_SELECTED && s->f != NULL)
		session_updates(s, s->cmd_expunges);
	/* modseqs told before the tagged reply are on disk by now */
	store_flush(s->f);
}

/* session_tagged - the updates, then "TAG " and the formatted text */
void
session_tagged(struct imap_session *s, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	size_t n, t;

	session_tagged_updates(s);
	t = strlen(s->tag);
	memcpy(line, s->tag, t);
	line[t++] = ' ';
	va_start(ap, fmt);
	n = crlf_vline(line + t, sizeof(line) - t, fmt, ap);
	va_end(ap);
	if (n > 0)
		session_write(s, line, n + t);
}

bool
session_out_full(struct imap_session *s)
{
	return s->conn.out.len > IMAP_OUT_SOFT;
}

static void
session_caps(struct imap_session *s, char *out, size_t outsz)
{
	/* RFC 7889: what APPEND takes (all literals of one command) */
	(void)bsnprintf(out, outsz, "%s APPENDLIMIT=%llu%s", CAPS_COMMON,
	    (unsigned long long)imapd.conf->imap.max_literal, !s->tls ?
	    " STARTTLS LOGINDISABLED" : s->state == SS_NOAUTH ?
	    " AUTH=PLAIN SASL-IR" : "");
}

static void
session_greet(struct imap_session *s)
{
	char caps[512];

	session_caps(s, caps, sizeof(caps));
	session_reply(s, "* OK [CAPABILITY %s] facteur IMAP ready", caps);
}

/* ---- untagged updates ---- */

void
session_claim_recent(struct imap_session *s, struct store_msg *m)
{
	if (!(m->flags & MF_RECENT))
		return;
	if (s->nrecent == s->caprecent) {
		s->caprecent = s->caprecent ? s->caprecent * 2 : 16;
		s->recent = xreallocarray(s->recent, s->caprecent,
		    sizeof(*s->recent));
	}
	/* UIDs come in increasing order: the list stays sorted */
	s->recent[s->nrecent++] = m->uid;
	if (!s->readonly)
		m->flags &= (uint8_t)~MF_RECENT;
}

bool
session_is_recent(const struct imap_session *s, uint32_t uid)
{
	return uid_index(s->recent, s->nrecent, uid) >= 0;
}

/* session_recent_prune - forget recent UIDs that were expunged (by this
 * session too: RECENT counts must not include them); the next updates
 * say the new count */
void
session_recent_prune(struct imap_session *s)
{
	size_t i, j;

	for (i = 0, j = 0; i < s->nrecent; i++)
		if (store_find(s->f, s->recent[i]) >= 0)
			s->recent[j++] = s->recent[i];
	s->nrecent = j;
}

void
session_put_flags(struct imap_session *s, struct buf *b,
    const struct store_msg *m)
{
	buf_puts(b, "FLAGS (");
	/* IMAP4rev2 has no \Recent (RFC 9051 2.3.2) */
	store_flags_put(s->f, (uint8_t)((m->flags & MF_IMAP) |
	    (!s->rev2 && session_is_recent(s, m->uid) ? MF_RECENT : 0)),
	    m->kw, b);
	buf_puts(b, ")");
}

size_t
session_write_crlf(struct imap_session *s, struct mime_crlf *rd, size_t n)
{
	size_t got;

	if (s->conn.dead || s->state == SS_LOGOUT)
		return 0;
	got = mime_crlf_read(rd, &s->conn.out, n);
	(void)conn_write(&s->conn, "", 0);	/* start writing */
	return got;
}

/*
 * session_updates - tell the client what changed in the folder since it
 * last looked: EXPUNGE, or VANISHED with QRESYNC (only when `expunges`:
 * RFC 3501 7.4.1 forbids them during FETCH, STORE and SEARCH), FLAGS when
 * keywords were defined, FETCH FLAGS (and MODSEQ with CONDSTORE), EXISTS
 * and RECENT.
 */
void
session_updates(struct imap_session *s, bool expunges)
{
	struct store_folder *f = s->f;
	size_t i, j, k, oldn;
	struct buf b;
	struct uidset gone;

	if (f == NULL)
		return;
	(void)store_sync(f, false);
	if (f->kw_gen != s->seen_kw_gen)
		cmd_put_flag_lists(s);
	if (f->modseq == s->seen_modseq && !(expunges && s->expunge_pending)) {
		/* recent ones this session expunged: clients (imaptest)
		 * keep the count from RECENT responses alone */
		if (s->nrecent != s->told_recent && !s->rev2)
			session_reply(s, "* %zu RECENT", s->nrecent);
		s->told_recent = s->nrecent;
		return;
	}
	if (expunges && s->ctxs)
		ctx_expunged(s);	/* numbers valid until the EXPUNGEs */
	buf_init(&b, 0);
	uidset_init(&gone);
	/* merge walk: view and folder are both sorted by UID */
	for (i = 0, j = 0, k = 0; i < s->nview; i++) {
		while (k < f->n && f->v[k].uid < s->view[i])
			k++;
		if (k >= f->n || f->v[k].uid != s->view[i]) {
			if (expunges) {
				if (!s->qresync)
					buf_printf(&b, "* %zu EXPUNGE\r\n", j + 1);
				uidset_add(&gone, s->view[i]);
				continue;
			}
			s->expunge_pending = true;
		} else if (f->v[k].modseq > s->seen_modseq &&
		    f->v[k].changer != s->id) {
			buf_printf(&b, "* %zu FETCH (UID %u ", j + 1, f->v[k].uid);
			session_put_flags(s, &b, &f->v[k]);
			if (s->condstore)
				buf_printf(&b, " MODSEQ (%llu)",
				    (unsigned long long)f->v[k].modseq);
			buf_puts(&b, ")\r\n");
		}
		s->view[j++] = s->view[i];
	}
	if (expunges) {
		s->expunge_pending = false;
		session_ghosts_clear(s);
	}
	if (gone.b.len) {
		/* before the FETCHes: their numbers are the new ones */
		if (s->qresync)
			session_vanished(s, &gone, false);
		session_recent_prune(s);
	}
	uidset_free(&gone);
	s->nview = j;
	oldn = s->nview;
	for (k = 0; k < f->n; k++) {
		if (s->nview && f->v[k].uid <= s->view[s->nview - 1])
			continue;
		if (s->nview == s->capview) {
			s->capview = s->capview ? s->capview * 2 : 64;
			s->view = xreallocarray(s->view, s->capview,
			    sizeof(*s->view));
		}
		s->view[s->nview++] = f->v[k].uid;
		session_claim_recent(s, &f->v[k]);
	}
	if (s->nview != oldn)
		buf_printf(&b, "* %zu EXISTS\r\n", s->nview);
	/* a new count, or recent ones expunged; none in IMAP4rev2 */
	if (!s->rev2 && (s->nview != oldn || s->nrecent != s->told_recent))
		buf_printf(&b, "* %zu RECENT\r\n", s->nrecent);
	s->told_recent = s->nrecent;
	s->seen_modseq = f->modseq;
	if (b.len)
		session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	ctx_refresh(s);		/* after EXISTS (RFC 5267 4.4) */
}

static void
session_folder_changed(void *arg)
{
	struct imap_session *s = arg;

	if (s->wait == SW_IDLE)
		session_updates(s, true);
}

void
session_unselect(struct imap_session *s)
{
	if (s->f) {
		store_watch_del(s->f, session_folder_changed, s);
		store_folder_close(&s->f);
	}
	free(s->fname);
	s->fname = NULL;
	free(s->view);
	s->view = NULL;
	s->nview = s->capview = 0;
	free(s->recent);
	s->recent = NULL;
	s->nrecent = s->caprecent = 0;
	s->expunge_pending = false;
	session_ghosts_clear(s);
	saved_clear(s);		/* RFC 5182 2.1: "$" is per mailbox */
	ctx_clear(s);
	if (s->state == SS_SELECTED)
		s->state = SS_AUTH;
}

/* called by cmd_select once the folder is open */
static void
session_watch(struct imap_session *s)
{
	store_watch_add(s->f, session_folder_changed, s);
}

/* ---- login ---- */

/* ---- relay (login role, after login) ---- */

#define PROXY_HIGH	(256 * 1024)

static void proxy_conn_cb(struct conn *c, enum conn_event ev, void *arg);

/* move what one side read to the other; pause a reader whose peer lags */
static void
proxy_pump(struct imap_session *s)
{
	struct conn *cl = &s->conn, *w = s->proxy;
	bool wait = false;

	if (w == NULL)
		return;
	if (cl->in.len > 0 && w->out.len < PROXY_HIGH) {
		if (conn_write(w, buf_head(&cl->in), cl->in.len) == -1) {
			session_close(s);
			return;
		}
		buf_reset(&cl->in);
	}
	if (w->in.len > 0 && cl->out.len < PROXY_HIGH) {
		session_write(s, buf_head(&w->in), w->in.len);
		buf_reset(&w->in);
	}
	if (cl->in.len > 0 || w->out.len >= PROXY_HIGH) {
		conn_pause(cl, true);
		wait = true;
	} else
		conn_pause(cl, false);
	if (w->in.len > 0 || cl->out.len >= PROXY_HIGH) {
		conn_pause(w, true);
		wait = true;
	} else
		conn_pause(w, false);
	if (wait && !ev_timer_pending(&s->timer))
		ev_timer_add(&s->timer, 10);
}

static void
proxy_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct imap_session *s = arg;

	switch (ev) {
	case CONN_EV_READ:
	case CONN_EV_DRAINED:
		proxy_pump(s);
		break;
	case CONN_EV_TLS:
		break;
	case CONN_EV_TIMEOUT:
	case CONN_EV_CLOSED:
		/* the worker ended the session (LOGOUT, timeout, exit) */
		if (c->in.len)
			session_write(s, buf_head(&c->in), c->in.len);
		conn_close(c);
		free(s->proxy);
		s->proxy = NULL;
		if (s->state == SS_PROXY && s->user && !s->proxied) {
			/* the master could not give us a worker */
			session_reply(s, "%s NO [UNAVAILABLE] mailbox not available",
			    s->tag);
			s->state = SS_NOAUTH;
			free(s->user);
			s->user = NULL;
			conn_pause(&s->conn, false);
			session_input(s);
			break;
		}
		session_close(s);
		break;
	}
	if (s->proxy && ev == CONN_EV_READ)
		s->proxied = true;
}

/* session_handoff - authd said yes: pass the session to the user's worker */
static void
session_handoff(struct imap_session *s, const char *user)
{
	struct ipc_out o;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("session=%08x socketpair", s->id);
		session_reply(s, "%s NO [UNAVAILABLE] try again later", s->tag);
		return;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, user);
	ipc_put_str(&o, s->addr);
	ipc_put_str(&o, s->tag);
	ipc_put_u32(&o, s->id);
	if (ipc_send(imapd.master, IMAPD_MSG_SESSION, s->id, sv[1], &o) == -1) {
		close(sv[0]);
		session_reply(s, "%s NO [UNAVAILABLE] try again later", s->tag);
		return;
	}
	s->user = xstrdup(user);
	s->state = SS_PROXY;
	s->fails = 0;
	s->proxy = xcalloc(1, sizeof(*s->proxy));
	conn_init(s->proxy, sv[0], IMAP_IN_MAX, PROXY_HIGH * 4, proxy_conn_cb, s);
	s->wait = SW_PROXY;
	ev_timer_del(&s->login_timer);
	if (s->addr_counted) {	/* logged in: no longer an anonymous slot */
		imapd_addr_release(s->addr);
		s->addr_counted = false;
	}
	conn_set_timeout(&s->conn, 0);	/* the worker times the session out */
	log_info("session=%08x login user=%s addr=%s result=ok", s->id, user,
	    s->addr);
}

/*
 * session_login_expired - the TLS handshake ([imap] tls_timeout) or the
 * login ([imap] login_timeout) took too long: bytes received do not extend
 * either, so idle or trickling connections cannot hold slots for
 * [imap] timeout (issue 16 item 4).
 */
static void
session_login_expired(struct ev_timer *t, void *arg)
{
	struct imap_session *s = arg;

	(void)t;
	log_info("session=%08x addr=%s timeout=%s, closing", s->id, s->addr,
	    s->wait == SW_HANDSHAKE ? "TLS handshake" : "no login");
	if (s->wait == SW_HANDSHAKE) {
		session_free(s);	/* nothing can be said in clear now */
		return;
	}
	session_reply(s, "* BYE login took too long");
	session_close(s);
}

static void
session_login_done(struct imap_session *s, const char *user)
{
	session_handoff(s, user);
}

static void
session_resume(struct imap_session *s)
{
	s->wait = SW_NONE;
	conn_pause(&s->conn, false);
	session_input(s);
}

static void
session_timer_cb(struct ev_timer *t, void *arg)
{
	struct imap_session *s = arg;

	switch (s->wait) {
	case SW_DELAY:
		session_reply(s, "%s NO [AUTHENTICATIONFAILED] login failed",
		    s->tag);
		if (s->fails >= IMAP_MAX_FAILS_CLOSE) {
			session_reply(s, "* BYE too many failures");
			session_close(s);
			return;
		}
		session_resume(s);
		break;
	case SW_JOB:
		if (s->sort)
			cmd_sort_resume(s);
		else
			cmd_fetch_resume(s);
		break;
	case SW_STARTTLS:
		session_starttls_go(s);
		break;
	case SW_PROXY:
		proxy_pump(s);
		break;
	case SW_CLOSING:
		if (s->conn.out.len > 0) {
			ev_timer_add(&s->timer, 20);
			break;
		}
		if (s->conn.ssl)
			(void)SSL_shutdown(s->conn.ssl);
		session_free(s);
		break;
	case SW_IDLE:
		session_updates(s, true);
		ev_timer_add(&s->timer, 1000);
		break;
	default:
		break;
	}
}

static void
session_auth_cb(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct imap_session *s = arg;
	const char *user;
	size_t n;

	s->authreq = 0;
	switch (res) {
	case AUTHD_OK:
		if (m && ipc_get_str(m, &user, &n)) {
			session_login_done(s, user);
			if (s->state == SS_PROXY) {
				conn_pause(&s->conn, false);
				proxy_pump(s);	/* what the client pipelined */
				return;
			}
			break;
		}
		/* FALLTHROUGH */
	case AUTHD_TEMPFAIL:
		session_reply(s, "%s NO [UNAVAILABLE] authentication service "
		    "unavailable, try later", s->tag);
		break;
	case AUTHD_THROTTLED:
	case AUTHD_FAIL:
	case AUTHD_NOTFOUND:
	default:
		s->fails++;
		log_info("session=%08x login addr=%s result=fail fails=%u",
		    s->id, s->addr, s->fails);
		s->wait = SW_DELAY;
		ev_timer_add(&s->timer, s->fails >= IMAP_MAX_FAILS ?
		    IMAP_FAIL_DELAY_MS : 0);
		return;
	}
	session_resume(s);
}

static void
session_check_login(struct imap_session *s, const char *user, size_t ulen,
    const char *pass, size_t plen)
{
	char u[AUTHC_CRED_MAX], p[AUTHC_CRED_MAX];

	if (!authc_credentials_copy(user, ulen, pass, plen, u, p)) {
		session_reply(s, "%s NO [AUTHENTICATIONFAILED] bad credentials",
		    s->tag);
		return;
	}
	s->authreq = authc_login("imap", u, p, s->addr, session_auth_cb, s);
	wipe(p, sizeof(p));
	if (s->authreq == 0) {
		session_reply(s, "%s NO [UNAVAILABLE] authentication service "
		    "unavailable", s->tag);
		return;
	}
	s->wait = SW_AUTHD;
	conn_pause(&s->conn, true);
}

/* AUTHENTICATE PLAIN response: base64 of authzid NUL authcid NUL passwd */
static void
session_auth_plain(struct imap_session *s, const char *b64, size_t len)
{
	unsigned char *dec;
	const char *u, *p;
	size_t n;

	if (len == 1 && b64[0] == '*') {
		session_reply(s, "%s BAD authentication cancelled", s->tag);
		return;
	}
	if (len == 0 || len > 4096) {
		session_reply(s, "%s BAD bad base64", s->tag);
		return;
	}
	dec = xmalloc(len + 1);
	if (base64_decode(b64, len, dec, len, &n) == -1) {
		session_reply(s, "%s BAD bad base64", s->tag);
		goto done;
	}
	switch (authc_plain((char *)dec, n, &u, &p)) {	/* n < len + 1 */
	case AUTHC_PLAIN_BAD:
		session_reply(s, "%s BAD malformed PLAIN response", s->tag);
		break;
	case AUTHC_PLAIN_PROXY:
		session_reply(s, "%s NO [AUTHORIZATIONFAILED] no proxy login",
		    s->tag);
		break;
	case AUTHC_PLAIN_OK:
		session_check_login(s, u, strlen(u), p, strlen(p));
		break;
	}
done:
	wipe(dec, len + 1);
	free(dec);
}

/* ---- commands of every state and the not-authenticated state ---- */

static void
cmd_capability(struct imap_session *s, const struct imap_cmd *c)
{
	char caps[512];

	session_caps(s, caps, sizeof(caps));
	session_reply(s, "* CAPABILITY %s", caps);
	session_tagged(s, "OK CAPABILITY completed");
}

static void
cmd_starttls(struct imap_session *s, const struct imap_cmd *c)
{
	if (s->tls || imapd_tls() == NULL) {
		session_reply(s, "%s BAD TLS already active", c->tag);
		return;
	}
	session_reply(s, "%s OK begin TLS negotiation now", c->tag);
	/* the OK goes out in clear first; session_timer_cb starts TLS */
	s->wait = SW_STARTTLS;
	ev_timer_add(&s->timer, 1);
}

static void
session_starttls_go(struct imap_session *s)
{
	if (s->conn.out.len > 0) {
		ev_timer_add(&s->timer, 5);
		return;
	}
	/* conn_starttls discards pipelined plaintext (STYLE 9) */
	imap_parser_free(&s->parser);
	s->parser = imap_parser_create(IMAP_MAX_LINE, IMAP_LOGIN_MAX_LITERAL,
	    IMAP_MAX_DEPTH, IMAP_MAX_ARGS);
	s->wait = SW_HANDSHAKE;
	if (conn_starttls(&s->conn, imapd_tls(), NULL, false) == -1) {
		session_close(s);
		return;
	}
	if (ev_timer_pending(&s->login_timer))
		ev_timer_add(&s->login_timer,
		    1000ULL * imapd.conf->imap.tls_timeout);
	/* idle sessions keep no TLS record buffers (memory per session) */
	SSL_set_mode(s->conn.ssl, SSL_MODE_RELEASE_BUFFERS);
	conn_pause(&s->conn, false);
}

static void
cmd_login(struct imap_session *s, const struct imap_cmd *c)
{
	const struct imap_arg *u = c->args, *p = u ? u->next : NULL;

	if (!s->tls) {
		session_reply(s, "%s NO [PRIVACYREQUIRED] LOGIN needs TLS "
		    "(STARTTLS)", c->tag);
		return;
	}
	if (!imap_arg_astring(u) || !imap_arg_astring(p) || p->next) {
		session_reply(s, "%s BAD LOGIN user password", c->tag);
		return;
	}
	session_check_login(s, u->s, u->len, p->s, p->len);
	if (p->len)
		wipe(p->s, p->len);
}

static void
cmd_authenticate(struct imap_session *s, const struct imap_cmd *c)
{
	const struct imap_arg *mech = c->args;

	if (!s->tls) {
		session_reply(s, "%s NO [PRIVACYREQUIRED] AUTHENTICATE needs "
		    "TLS (STARTTLS)", c->tag);
		return;
	}
	if (!imap_arg_is(mech, "PLAIN")) {
		session_reply(s, "%s NO unsupported mechanism", c->tag);
		return;
	}
	if (mech->next) {		/* SASL-IR, RFC 4959 */
		if (mech->next->type != IMAP_ARG_ATOM || mech->next->next) {
			session_reply(s, "%s BAD bad initial response", c->tag);
			return;
		}
		if (strcmp(mech->next->s, "=") == 0)
			session_auth_plain(s, "", 0);
		else
			session_auth_plain(s, mech->next->s, mech->next->len);
		wipe(mech->next->s, mech->next->len);
		return;
	}
	session_write(s, "+ \r\n", 4);
	s->wait = SW_AUTH_CONT;
}

static void
cmd_id(struct imap_session *s, const struct imap_cmd *c)
{
	session_reply(s, "* ID (\"name\" \"facteur\")");
	session_tagged(s, "OK ID completed");
}

static void
cmd_idle(struct imap_session *s, const struct imap_cmd *c)
{
	if (s->f)
		(void)store_sync(s->f, true);
	session_write(s, "+ idling\r\n", 10);
	s->wait = SW_IDLE;
	/* RFC 3501 5.4: clients re-issue IDLE within 29 minutes */
	conn_set_timeout(&s->conn, 31 * 60 * 1000);
	session_updates(s, true);
	ev_timer_add(&s->timer, 1000);
}

static bool
state_ok(struct imap_session *s, const struct imap_cmd *c, enum sess_state min)
{
	if (s->state == SS_NOAUTH && min != SS_NOAUTH) {
		session_tagged(s, "BAD %s: log in first", c->name);
		return false;
	}
	if (min == SS_SELECTED && s->state != SS_SELECTED) {
		session_tagged(s, "BAD %s: no mailbox selected",
		    c->name);
		return false;
	}
	return true;
}

/*
 * expunge_ok - may the command's updates hold EXPUNGE?  Not for FETCH,
 * STORE and SEARCH (RFC 3501 7.4.1), nor for their UID forms: RFC 9051
 * 7.5.1 allows it there, but a client that pipelines a FETCH by sequence
 * number after a UID FETCH would then act on another message.
 */
static bool
expunge_ok(const struct imap_cmd *c)
{
	const char *n = c->name;

	if (strcasecmp(n, "UID") == 0 && c->args != NULL &&
	    c->args->type == IMAP_ARG_ATOM)
		n = c->args->s;
	return strcasecmp(n, "FETCH") != 0 && strcasecmp(n, "STORE") != 0 &&
	    strcasecmp(n, "SEARCH") != 0 && strcasecmp(n, "SORT") != 0 &&
	    strcasecmp(n, "THREAD") != 0;
}

static void
cmd_uid(struct imap_session *s, const struct imap_cmd *c)
{
	struct imap_cmd sub = *c;
	const struct imap_arg *a = c->args;

	if (a == NULL || a->type != IMAP_ARG_ATOM) {
		session_tagged(s, "BAD UID what?");
		return;
	}
	sub.name = a->s;
	sub.args = a->next;
	if (strcasecmp(a->s, "FETCH") == 0)
		cmd_fetch(s, &sub, true);
	else if (strcasecmp(a->s, "SEARCH") == 0)
		cmd_search(s, &sub, true);
	else if (strcasecmp(a->s, "SORT") == 0)
		cmd_sort(s, &sub, true);
	else if (strcasecmp(a->s, "THREAD") == 0)
		cmd_thread(s, &sub, true);
	else if (strcasecmp(a->s, "STORE") == 0)
		cmd_store(s, &sub, true);
	else if (strcasecmp(a->s, "COPY") == 0)
		cmd_copy(s, &sub, true, false);
	else if (strcasecmp(a->s, "MOVE") == 0)
		cmd_copy(s, &sub, true, true);
	else if (strcasecmp(a->s, "EXPUNGE") == 0) {
		if (sub.args == NULL || sub.args->next) {
			session_tagged(s, "BAD UID EXPUNGE set");
			return;
		}
		cmd_expunge(s, &sub, sub.args, false);
	} else
		session_tagged(s, "BAD unknown UID command");
}

static void
session_dispatch(struct imap_session *s, const struct imap_cmd *c)
{
	const char *n = c->name;

	if (!bstrcpy(s->tag, c->tag, sizeof(s->tag)))
		memcpy(s->tag, "*", 2);
	s->cmd_expunges = expunge_ok(c);
#define IS(x) (strcasecmp(n, x) == 0)
	if (IS("CAPABILITY"))
		cmd_capability(s, c);
	else if (IS("NOOP") || IS("CHECK")) {
		if (IS("CHECK") && !state_ok(s, c, SS_SELECTED))
			return;
		/* the client asks for news: do not wait for inotify */
		if (s->f)
			(void)store_sync(s->f, true);
		session_tagged(s, "OK %s completed", n);
	} else if (IS("LOGOUT")) {
		session_reply(s, "* BYE logging out");
		session_reply(s, "%s OK LOGOUT completed", c->tag);
		session_close(s);
	} else if (IS("ID"))
		cmd_id(s, c);
	else if (IS("STARTTLS")) {
		if (s->state != SS_NOAUTH)
			session_reply(s, "%s BAD already logged in", c->tag);
		else
			cmd_starttls(s, c);
	} else if (IS("LOGIN") || IS("AUTHENTICATE")) {
		if (s->state != SS_NOAUTH)
			session_reply(s, "%s BAD already logged in", c->tag);
		else if (IS("LOGIN"))
			cmd_login(s, c);
		else
			cmd_authenticate(s, c);
	} else if (s->state == SS_NOAUTH) {
		session_reply(s, "%s BAD %s: log in first", c->tag, n);
	} else if (IS("ENABLE"))
		cmd_enable(s, c); else if (IS("NAMESPACE")) {
		session_reply(s, "* NAMESPACE ((\"\" \".\")) NIL NIL");
		session_tagged(s, "OK NAMESPACE completed");
	} else if (IS("SELECT") || IS("EXAMINE")) {
		cmd_select(s, c, IS("EXAMINE"));
		if (s->f && s->state == SS_SELECTED)
			session_watch(s);
	} else if (IS("CREATE") || IS("DELETE") || IS("RENAME") ||
	    IS("SUBSCRIBE") || IS("UNSUBSCRIBE"))
		cmd_mailbox(s, c);
	else if (IS("LIST") || IS("LSUB"))
		cmd_list(s, c, IS("LSUB"));
	else if (IS("STATUS"))
		cmd_status(s, c);
	else if (IS("APPEND"))
		cmd_append(s, c);
	else if (IS("IDLE"))
		cmd_idle(s, c);
	else if (!(IS("CLOSE") || IS("UNSELECT") || IS("EXPUNGE") ||
	    IS("SEARCH") || IS("FETCH") || IS("STORE") || IS("COPY") ||
	    IS("MOVE") || IS("UID") || IS("SORT") || IS("THREAD") ||
	    IS("CANCELUPDATE")))
		session_tagged(s, "BAD unknown command");
	else if (!state_ok(s, c, SS_SELECTED))
		;
	else if (IS("CLOSE") || IS("UNSELECT")) {
		if (IS("CLOSE") && !s->readonly)
			cmd_expunge(s, c, NULL, true);
		session_unselect(s);
		session_tagged(s, "OK %s completed", n);
	} else if (IS("EXPUNGE"))
		cmd_expunge(s, c, NULL, false);
	else if (IS("SEARCH"))
		cmd_search(s, c, false);
	else if (IS("SORT"))
		cmd_sort(s, c, false);
	else if (IS("THREAD"))
		cmd_thread(s, c, false);
	else if (IS("FETCH"))
		cmd_fetch(s, c, false);
	else if (IS("STORE"))
		cmd_store(s, c, false);
	else if (IS("COPY"))
		cmd_copy(s, c, false, false);
	else if (IS("MOVE"))
		cmd_copy(s, c, false, true);
	else if (IS("UID"))
		cmd_uid(s, c);
	else if (IS("CANCELUPDATE"))
		cmd_cancelupdate(s, c);
#undef IS
}

/* ---- input ---- */

/* a line outside the parser (IDLE's DONE, an AUTHENTICATE response) */
static bool
session_take_line(struct imap_session *s, char **line_r, size_t *len_r,
    size_t *used_r)
{
	char *p = buf_head(&s->conn.in), *nl;
	size_t n;

	if (s->conn.in.len == 0 || (nl = memchr(p, '\n', s->conn.in.len)) == NULL) {
		if (s->conn.in.len >= s->conn.in.max) {
			*line_r = p;	/* runaway line: refuse it whole */
			*len_r = 0;
			*used_r = s->conn.in.len;
			return true;
		}
		return false;
	}
	*used_r = (size_t)(nl - p) + 1;
	n = (size_t)(nl - p);
	if (n && p[n - 1] == '\r')
		n--;
	p[n] = '\0';
	*line_r = p;
	*len_r = n;
	return true;
}

static void
session_line_input(struct imap_session *s)
{
	char *line;
	size_t len, used;

	if (!session_take_line(s, &line, &len, &used))
		return;
	if (s->wait == SW_IDLE) {
		ev_timer_del(&s->timer);
		conn_set_timeout(&s->conn, imapd.conf->imap.timeout * 1000);
		s->wait = SW_NONE;
		if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
			session_tagged(s, "OK IDLE terminated");
		else
			session_tagged(s, "BAD expected DONE");
	} else {
		s->wait = SW_NONE;
		session_auth_plain(s, line, len);
		wipe(line, len);
	}
	buf_drain(&s->conn.in, used);
}

static void
session_input(struct imap_session *s)
{
	enum imap_parse_res r;
	size_t used;

	if (s->state == SS_PROXY) {
		if (s->proxy)
			proxy_pump(s);
		return;
	}

	while (s->state != SS_LOGOUT && s->conn.in.len > 0) {
		if (s->wait == SW_IDLE || s->wait == SW_AUTH_CONT) {
			size_t before = s->conn.in.len;

			session_line_input(s);
			if (s->conn.in.len == before)
				return;
			continue;
		}
		if (s->wait != SW_NONE)
			return;
		r = imap_parser_feed(s->parser, buf_head(&s->conn.in),
		    s->conn.in.len, &used);
		buf_drain(&s->conn.in, used);
		if (imap_parser_want_cont(s->parser))
			session_write(s, "+ OK\r\n", 6);
		if (r == IMAP_PARSE_ERROR) {
			if (imap_parser_fatal(s->parser)) {
				session_reply(s, "* BYE %s",
				    imap_parser_error(s->parser));
				session_close(s);
				return;
			}
			session_spool_end(s);
			session_parse_error(s);
			continue;
		}
		if (r == IMAP_PARSE_DONE) {
			session_dispatch(s, imap_parser_cmd(s->parser));
			session_spool_end(s);
			imap_parser_release(s->parser);
			if (s->wait == SW_JOB || s->wait == SW_AUTHD ||
			    s->wait == SW_DELAY || s->wait == SW_STARTTLS)
				conn_pause(&s->conn, true);
			continue;
		}
		if (used == 0)
			break;
	}
}

static void
session_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct imap_session *s = arg;

	switch (ev) {
	case CONN_EV_TLS:
		s->tls = true;
		if (ev_timer_pending(&s->login_timer))
			ev_timer_add(&s->login_timer,
			    1000ULL * imapd.conf->imap.login_timeout);
		if (s->wait == SW_HANDSHAKE) {
			s->wait = SW_NONE;
			if (!s->starttls_port)
				session_greet(s);
		}
		session_input(s);
		break;
	case CONN_EV_READ:
		if (s->wait == SW_HANDSHAKE) {
			buf_reset(&c->in);
			break;
		}
		session_input(s);
		break;
	case CONN_EV_DRAINED:
		if (s->state == SS_PROXY)
			proxy_pump(s);
		else if (s->wait == SW_JOB)
			cmd_fetch_resume(s);
		else
			buf_shrink(&s->resp, 0);
		break;
	case CONN_EV_TIMEOUT:
		if (s->wait == SW_AUTHD || s->wait == SW_JOB)
			break;
		log_info("session=%08x addr=%s idle timeout", s->id, s->addr);
		session_reply(s, "* BYE idle for too long");
		session_close(s);
		break;
	case CONN_EV_CLOSED:
		session_free(s);
		break;
	}
}

static void
session_free(struct imap_session *s)
{
	log_info("session=%08x addr=%s user=%s closed", s->id, s->addr,
	    s->user ? s->user : "-");
	if (s->authreq)
		authc_cancel(s->authreq);
	ev_timer_del(&s->timer);
	ev_timer_del(&s->login_timer);
	cmd_fetch_free(s);
	cmd_sort_free(s);
	session_unselect(s);
	session_spool_end(s);
	if (s->proxy) {
		conn_close(s->proxy);
		free(s->proxy);
		s->proxy = NULL;
	}
	conn_close(&s->conn);
	imap_parser_free(&s->parser);
	buf_free(&s->resp);
	free(s->user);
	free(s->root);
	imapd_session_gone(s->addr_counted ? s->addr : NULL);
	free(s);
}

/*
 * session_parse_error - the tagged reply to a command the parser refused:
 * BAD for the client's mistakes; NO for ours: a literal over APPENDLIMIT
 * (RFC 7889), or one the spool could not keep (a full disk is
 * [OVERQUOTA], as APPEND's own failures: imap_cmd.c cmd_store_failed)
 */
static void
session_parse_error(struct imap_session *s)
{
	const char *tag = imap_parser_tag(s->parser);
	const char *err = imap_parser_error(s->parser);

	if (s->state != SS_NOAUTH && strcmp(err, "literal too big") == 0)
		session_reply(s, "%s NO [TOOBIG] %s", tag, err);
	else if (strcmp(err, "cannot store literal") == 0 &&
	    errno_nospace(s->spool_errno))
		session_reply(s, "%s NO [OVERQUOTA] Not enough disk space", tag);
	else if (strcmp(err, "cannot store literal") == 0)
		session_reply(s, "%s NO [SERVERBUG] %s", tag, err);
	else
		session_reply(s, "%s BAD %s", tag, err);
	s->spool_errno = 0;
}

/* big literals (APPEND) go to a file in the Maildir's tmp/, not memory */
static int
session_spool_begin(void *arg, uint64_t size)
{
	struct imap_session *s = arg;

	session_spool_end(s);
	s->spool_errno = 0;
	s->spool = xcalloc(1, sizeof(*s->spool));
	if (store_spool_open(s->spool, s->root, s->id) == -1) {
		s->spool_errno = errno;
		log_warn("session=%08x user=%s spool %s/tmp", s->id, s->user,
		    s->root);
		free(s->spool);
		s->spool = NULL;
		return -1;
	}
	return 0;
}

static int
session_spool_write(void *arg, const char *p, size_t n)
{
	struct imap_session *s = arg;

	if (s->spool == NULL || store_spool_write(s->spool, p, n) == -1) {
		if (s->spool) {
			s->spool_errno = errno;
			log_warn("session=%08x user=%s write %s", s->id, s->user,
			    s->spool->path);
		}
		return -1;
	}
	return 0;
}

/* session_spool_end - drop a spool no command took (or what is left) */
void
session_spool_end(struct imap_session *s)
{
	if (s->spool == NULL)
		return;
	store_spool_discard(s->spool);
	free(s->spool);
	s->spool = NULL;
}

void
session_start_worker(int fd, const char *addr, const char *tag, uint32_t id)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	uint64_t out_max = imapd.conf->imap.max_literal * 2 + (16 << 20);
	char caps[512];

	s->id = id;
	(void)bstrcpy(s->addr, addr, sizeof(s->addr));
	(void)bstrcpy(s->tag, tag, sizeof(s->tag));
	s->tls = true;		/* login only hands over sessions under TLS */
	s->parser = imap_parser_create(IMAP_MAX_LINE,
	    imapd.conf->imap.max_literal, IMAP_MAX_DEPTH, IMAP_MAX_ARGS);
	imap_parser_set_spool(s->parser, IMAP_SPOOL_MIN, session_spool_begin,
	    session_spool_write, s);
	buf_init(&s->resp, 0);
	ev_timer_init(&s->timer, session_timer_cb, s);
	conn_init(&s->conn, fd, IMAP_IN_MAX, (size_t)out_max, session_conn_cb, s);
	conn_set_timeout(&s->conn, imapd.conf->imap.timeout * 1000);
	s->user = xstrdup(imapd.worker_user);
	s->root = xstrdup(imapd.worker_root);
	s->state = SS_AUTH;
	session_caps(s, caps, sizeof(caps));
	session_reply(s, "%s OK [CAPABILITY %s] logged in", tag, caps);
}

void
session_start(int fd, const char *addr, bool implicit_tls)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	uint64_t out_max = imapd.conf->imap.max_literal * 2 + (16 << 20);

	s->id = ++imapd.next_id ^ (uint32_t)getpid() << 16;
	(void)bstrcpy(s->addr, addr, sizeof(s->addr));
	s->starttls_port = !implicit_tls;
	/* nobody logged in yet: no big literal is needed or buffered */
	s->parser = imap_parser_create(IMAP_MAX_LINE, IMAP_LOGIN_MAX_LITERAL,
	    IMAP_MAX_DEPTH, IMAP_MAX_ARGS);
	buf_init(&s->resp, 0);
	ev_timer_init(&s->timer, session_timer_cb, s);
	conn_init(&s->conn, fd, IMAP_IN_MAX, (size_t)out_max, session_conn_cb, s);
	conn_set_timeout(&s->conn, imapd.conf->imap.timeout * 1000);
	s->addr_counted = true;
	ev_timer_init(&s->login_timer, session_login_expired, s);
	ev_timer_add(&s->login_timer, 1000ULL * (implicit_tls ?
	    imapd.conf->imap.tls_timeout : imapd.conf->imap.login_timeout));
	/* LOGIN and AUTHENTICATE carry passwords: leave no copy (lib/buf.h) */
	imap_parser_secret(s->parser);
	s->conn.in.secret = true;
	log_info("session=%08x addr=%s connect%s", s->id, addr,
	    implicit_tls ? " tls=implicit" : "");
	if (implicit_tls) {
		s->wait = SW_HANDSHAKE;
		if (imapd_tls() == NULL ||
		    conn_starttls(&s->conn, imapd_tls(), NULL, false) == -1)
			session_free(s);
		else
			SSL_set_mode(s->conn.ssl, SSL_MODE_RELEASE_BUFFERS);
	} else
		session_greet(s);
}
