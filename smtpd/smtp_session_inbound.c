/* SPDX-License-Identifier: ISC */
/*
 * smtp_session_inbound.c - what happens to mail received on port 25
 * between MAIL FROM and the 250: SPF, DKIM verification, DMARC, the
 * Authentication-Results header, and the decision (README "Inbound
 * authentication", issue 10).
 *
 * Runs in the smtp role (as `user`, chrooted into run_dir, no key, no
 * queue or Maildir access); DNS goes through lib/dns on the role's event
 * loop, so a slow answer holds only its own session.  Per transaction:
 *   MAIL FROM   SPF starts (the MAIL FROM domain; HELO for <>), while the
 *               client goes on with RCPT and DATA;
 *   DATA        the message streams through the DKIM verifier (as
 *               received) and through the Authentication-Results filter
 *               (authres.c: fields with our authserv-id are dropped) into
 *               the queue file, on every port;
 *   final dot   the session pauses (like RCPT for authd) until SPF, the
 *               DKIM keys and the DMARC record are in, at most [inbound]
 *               timeout (then what is missing is a temperror), and then:
 *     - DMARC fail, p=reject (sp= for subdomains)   550 5.7.1, dropped
 *     - From in one of our domains, not aligned     550 5.7.1, dropped
 *     - DMARC fail, p=quarantine                    the Junk folder
 *     - no DMARC record, SPF fail                   [inbound] spf_fail
 *     - a temperror that could change the outcome   451 4.7.x, dropped
 *     - anything else                               INBOX
 *   with our Authentication-Results header in the envelope's prepend and
 *   one log line per message.  Submissions and facteur-sendmail are not
 *   checked and get no header.
 * Everything is freed with the transaction (session_inbound_free):
 * lookups under way are cancelled, their callbacks never run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ev.h"
#include "log.h"
#include "xmem.h"
#include "smtp_session.h"

/* results, in the Authentication-Results vocabulary (RFC 8601 2.7) */
enum ires {
	IR_NONE,
	IR_PASS,
	IR_FAIL,
	IR_SOFTFAIL,
	IR_NEUTRAL,
	IR_POLICY,
	IR_TEMPERROR,
	IR_PERMERROR,
};

static const char *const ires_name[] = {
	"none", "pass", "fail", "softfail", "neutral", "policy", "temperror",
	"permerror",
};

enum action {
	ACT_INBOX,
	ACT_JUNK,
	ACT_REJECT,
	ACT_TEMPFAIL,
};

static const char *const action_name[] = {
	"inbox", "junk", "reject", "tempfail",
};

struct inbound {
	struct session	*s;
	bool		 check;		/* port 25, not authenticated */
	struct authres_filter filter;
	bool		 filtering;

	/* SPF (from MAIL FROM) */
	bool		 spf_on;
	bool		 spf_pending;
	bool		 spf_helo;	/* the HELO identity (MAIL FROM:<>) */
	enum ires	 spf;
	char		 spf_domain[SMTP_DOMAIN_MAX + 1];

	/* the final dot */
	bool		 waiting;
	struct ev_timer	 timer;
	enum action	 action;
	const char	*reply;
};

static void inbound_done(struct inbound *in);

static bool
mx_port(const struct session *s)
{
	return s->l->kind == PORT_MX && s->auth_user == NULL;
}

static struct inbound *
inbound_get(struct session *s)
{
	struct inbound *in = s->inbound;

	if (in == NULL) {
		in = s->inbound = xcalloc(1, sizeof(*in));
		in->s = s;
		in->check = mx_port(s);
		ev_timer_init(&in->timer, NULL, NULL);
	}
	return in;
}

/* session_inbound_free - the transaction is over: cancel and forget */
void
session_inbound_free(struct session *s)
{
	struct inbound *in = s->inbound;

	if (in == NULL)
		return;
	ev_timer_del(&in->timer);
	if (in->filtering)
		authres_filter_free(&in->filter);
	free(in);
	s->inbound = NULL;
}

/* ---- MAIL FROM: SPF ---------------------------------------------------- */

/* session_inbound_mail - MAIL FROM was accepted */
void
session_inbound_mail(struct session *s)
{
	struct inbound *in;

	session_inbound_free(s);
	in = inbound_get(s);
	if (!in->check)
		return;
	in->spf_on = smtpd_conf->inbound.spf;
	in->spf_helo = s->from.addr[0] == '\0';
	bstrcpy(in->spf_domain, in->spf_helo ? s->helo :
	    s->from.addr + s->from.at + 1, sizeof(in->spf_domain));
}

/* ---- DATA: the stream ---------------------------------------------------- */

static void
filter_out(void *arg, const char *p, size_t n)
{
	session_data_write(arg, p, n);
}

/* session_inbound_data - the queue file is open, the message comes */
void
session_inbound_data(struct session *s)
{
	struct inbound *in = inbound_get(s);

	authres_filter_init(&in->filter, smtpd_conf->inbound.authserv_id,
	    filter_out, s);
	in->filtering = true;
}

/* session_inbound_feed - n more bytes of the message (LF form) */
void
session_inbound_feed(struct session *s, const char *p, size_t n)
{
	struct inbound *in = s->inbound;

	if (in == NULL || !in->filtering) {
		session_data_write(s, p, n);
		return;
	}
	authres_filter_feed(&in->filter, p, n);
}

/* ---- the final dot ------------------------------------------------------ */

/* ar_header - our Authentication-Results header into s->prepend */
static void
ar_header(struct inbound *in)
{
	struct session *s = in->s;
	struct authres ar;
	struct buf b;
	char *all;

	memset(&ar, 0, sizeof(ar));
	ar.id = smtpd_conf->inbound.authserv_id;
	if (in->spf_on) {
		ar.spf = ires_name[in->spf];
		ar.spf_helo = in->spf_helo;
		ar.spf_value = in->spf_helo ? s->helo : s->from.addr;
	}
	buf_init(&b, 0);
	if (authres_format(&b, &ar) == 0) {
		(void)buf_append(&b, "", 1);
		all = xasprintf("%s%s", buf_head(&b), s->prepend ? s->prepend : "");
		free(s->prepend);
		s->prepend = all;
	}
	buf_free(&b);
}

/* decide - every answer is in (or the timeout passed): what to do */
static void
decide(struct inbound *in)
{
	in->action = ACT_INBOX;
	in->reply = NULL;
	if (in->spf_on && in->spf == IR_FAIL) {
		switch (smtpd_conf->inbound.spf_fail) {
		case CONF_SPF_FAIL_MARK:
			break;
		case CONF_SPF_FAIL_JUNK:
			in->action = ACT_JUNK;
			break;
		case CONF_SPF_FAIL_REJECT:
			in->action = ACT_REJECT;
			in->reply = "550 5.7.23 SPF validation failed";
			break;
		}
	}
	if (in->spf_on && in->spf == IR_TEMPERROR) {
		in->action = ACT_TEMPFAIL;
		in->reply = "451 4.7.24 SPF: temporary DNS failure, try again later";
	}
}

static void
log_result(struct inbound *in)
{
	struct session *s = in->s;

	log_info("session=%08x addr=%s qid=%s spf=%s action=%s", s->id,
	    s->addr, s->qid, in->spf_on ? ires_name[in->spf] : "off",
	    action_name[in->action]);
}

/* inbound_done - act on the decision; the session goes on */
static void
inbound_done(struct inbound *in)
{
	struct session *s = in->s;
	const char *reply;

	in->waiting = false;
	ev_timer_del(&in->timer);
	decide(in);
	log_result(in);
	if (in->action == ACT_REJECT || in->action == ACT_TEMPFAIL) {
		reply = in->reply;
		session_reply(s, "%s", reply);
		session_reset_transaction(s);	/* frees in, drops the file */
		session_resume(s);
		return;
	}
	s->junk = in->action == ACT_JUNK;
	ar_header(in);
	session_dkim_sign(s);	/* then session_data_commit() */
}

static bool
pending(const struct inbound *in)
{
	return in->spf_pending;
}

static void
on_timeout(struct ev_timer *t, void *arg)
{
	struct inbound *in = arg;

	(void)t;
	log_info("session=%08x addr=%s qid=%s DNS answers did not come within "
	    "%us", in->s->id, in->s->addr, in->s->qid,
	    smtpd_conf->inbound.timeout);
	if (in->spf_pending) {
		in->spf_pending = false;
		in->spf = IR_TEMPERROR;
	}
	inbound_done(in);
}

/* maybe_done - called as answers arrive: decide once all are in */
static void
maybe_done(struct inbound *in)
{
	if (in->waiting && !pending(in))
		inbound_done(in);
}

/*
 * session_inbound_end - the final dot of a message without errors; the
 * session is paused.  Ends with session_dkim_sign() (which commits) or
 * with a reply and the transaction reset.
 */
void
session_inbound_end(struct session *s)
{
	struct inbound *in = inbound_get(s);

	if (in->filtering) {
		authres_filter_end(&in->filter);
		if (in->filter.removed)
			log_info("session=%08x addr=%s qid=%s removed %u "
			    "Authentication-Results field(s) with our "
			    "authserv-id", s->id, s->addr, s->qid,
			    in->filter.removed);
	}
	if (!in->check) {
		session_dkim_sign(s);
		return;
	}
	in->waiting = true;
	if (!pending(in)) {
		inbound_done(in);
		return;
	}
	ev_timer_init(&in->timer, on_timeout, in);
	ev_timer_add(&in->timer, (uint64_t)smtpd_conf->inbound.timeout * 1000);
	(void)maybe_done;
}
