/* SPDX-License-Identifier: ISC */
/*
 * smtp_session_dkim.c - what happens to a message of an authenticated
 * user between its last byte and the queue: the From check and DKIM
 * signing (RFC 6376, SPEC 5: the key never enters this process).
 *
 * While the message streams into the queue file, lib/dkim.c keeps its
 * header block and hashes its body.  At the final dot:
 *   - the From address must be one the user may send as (553 5.7.1);
 *   - for each `[dkim] sign` line of the From domain, authd is asked for
 *     the key's algorithm (AUTHD_DKIM_ALG: a= is part of what is signed),
 *     the header digest is computed here and authd signs it, if the
 *     session shows authd's grant (given at AUTH, or asked for a
 *     facteur-sendmail session with AUTHD_LOCAL, which passes the
 *     client's socket so that authd reads SO_PEERCRED itself) and the
 *     domain is one of that user's or local account's;
 *   - Date and Message-ID are added when missing (RFC 6409 8), signed;
 *     so is a From (the envelope sender, else the login) to a message
 *     that has none;
 *   - the DKIM-Signature headers go into the envelope (`prepend`), added
 *     in front of the message when it is delivered or relayed.
 * authd unreachable: 451, the client retries.  Mail received from outside
 * (no AUTH) is never signed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "authc.h"
#include "log.h"
#include "msghdr.h"
#include "xmem.h"
#include "smtp_session.h"

#define SIGN_MAX	4	/* signatures per message */

struct sign_job {
	struct session	*s;
	const struct conf_dkim_sign *line;
	uint32_t	 id;
	char		*tmpl;
};

/* one signing round per session at a time: the session waits for it */
struct sign_round {
	uint32_t	 grant_id;	/* AUTHD_LOCAL request out, 0 = none */
	struct sign_job	 job[SIGN_MAX];
	size_t		 n;
	size_t		 pending;
	const char	*error;
	char		 domain[256];
};

void
session_dkim_start(struct session *s)
{
	dkim_sign_free(&s->dkim);
	if ((s->auth_user || (s->l->kind == PORT_LOCAL && !session_from_fetch(s))) &&
	    (s->dkim = dkim_sign_new(0)) == NULL)
		s->data_error = "451 4.3.0 Out of memory, try again later";
}

void
session_dkim_feed(struct session *s, const char *p, size_t n)
{
	if (s->dkim && dkim_sign_feed(s->dkim, p, n) == -1) {
		log_warnx("session=%08x dkim: %s", s->id, dkim_sign_error(s->dkim));
		s->data_error = "552 5.3.4 Header too big";
	}
}

/* add_field - a field for the signer and in front of the message */
static int
add_field(struct session *s, const char *field)
{
	char *all;

	if (dkim_sign_add_field(s->dkim, field) == -1)
		return -1;
	all = xasprintf("%s%s\n", s->prepend ? s->prepend : "", field);
	free(s->prepend);
	s->prepend = all;
	return 0;
}

/*
 * add_missing - RFC 6409 8.2 and 8.3: a submission without Date or
 * Message-ID gets them (OpenDKIM and SpamAssassin score mail without);
 * facteur-sendmail adds its own before it sends
 */
static const char *
add_missing(struct session *s)
{
	char field[MSGHDR_MAX];
	time_t now = time(NULL);

	if (!dkim_sign_has_field(s->dkim, "Date")) {
		msghdr_date(field, sizeof(field), now);
		if (add_field(s, field) == -1)
			return "451 4.3.0 Out of memory, try again later";
	}
	if (!dkim_sign_has_field(s->dkim, "Message-ID")) {
		msghdr_message_id(field, sizeof(field), now, smtpd_conf->hostname);
		if (add_field(s, field) == -1)
			return "451 4.3.0 Out of memory, try again later";
	}
	return NULL;
}

/*
 * add_from - a submission without a From field (a device, a script's
 * bare message) gets one with its envelope sender, which MAIL FROM
 * checked is the user's, else the login: Postfix's cleanup adds the
 * envelope sender too, and RFC 6409 8 lets the MSA complete the header
 * of an authenticated user; DKIM needs a From to sign
 */
static int
add_from(struct session *s)
{
	char field[SMTP_PATH_MAX + 16];

	snprintf(field, sizeof(field), "From: %s",
	    s->from.addr[0] ? s->from.addr : s->auth_user);
	if (add_field(s, field) == -1)
		return -1;
	log_info("session=%08x addr=%s user=%s no From field: added <%s>",
	    s->id, s->addr, s->auth_user, field + 6);
	return 0;
}

/* session_dkim_end - the From check; an error reply or NULL */
const char *
session_dkim_end(struct session *s)
{
	static char why[200];	/* the reply is sent before the next call */
	char from[SMTP_PATH_MAX + 1];

	if (s->dkim == NULL)
		return NULL;
	if (s->auth_user == NULL) {
		/*
		 * facteur-sendmail: a From address must be one of the
		 * account's ([sendmail] sender); a bare name such as cron's
		 * "root (Cron Daemon)" claims no address and goes unsigned
		 */
		if (dkim_sign_end(s->dkim) == -1 ||
		    !dkim_from_address(s->dkim, from, sizeof(from)) ||
		    strchr(from, '@') == NULL) {
			dkim_sign_free(&s->dkim);
			return NULL;
		}
		if (dkim_from_mailboxes(s->dkim) == 1 &&
		    session_sender_allowed(s, from))
			return NULL;
		log_info("session=%08x addr=%s refused From: <%s>: not an "
		    "address of this account", s->id, s->addr, from);
		return "553 5.7.1 From address not allowed for this local account";
	}
	if (dkim_sign_end(s->dkim) == -1 &&
	    (!dkim_sign_lacks_from(s->dkim) || add_from(s) == -1)) {
		snprintf(why, sizeof(why), "550 5.6.0 Bad message header: %s",
		    dkim_sign_error(s->dkim));
		return why;
	}
	if (!dkim_from_address(s->dkim, from, sizeof(from)))
		return "550 5.6.0 Message needs a From header with an address";
	if (dkim_from_mailboxes(s->dkim) != 1)
		return "553 5.7.1 From must hold one address, one of yours";
	if (!session_sender_allowed(s, from)) {
		log_info("session=%08x addr=%s user=%s refused From: <%s>: not "
		    "the user's address", s->id, s->addr, s->auth_user, from);
		return "553 5.7.1 From address not owned by the authenticated user";
	}
	return add_missing(s);
}

static struct sign_round *
round_of(struct session *s)
{
	return s->sign_round;
}

static void
round_done(struct session *s)
{
	struct sign_round *r = round_of(s);
	size_t i;

	if (r->pending > 0)
		return;
	for (i = 0; i < r->n; i++)
		free(r->job[i].tmpl);
	if (r->error && s->data_error == NULL)
		s->data_error = r->error;
	free(r);
	s->sign_round = NULL;
	session_data_commit(s);
}

static void
on_signed(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct sign_job *j = arg;
	struct session *s = j->s;
	struct sign_round *r = round_of(s);
	const void *sig;
	size_t n;
	char *hdr;

	j->id = 0;
	r->pending--;
	if (res == AUTHD_OK && m && ipc_get_data(m, &sig, &n) && n > 0 &&
	    (hdr = dkim_finish(j->tmpl, sig, n, false)) != NULL) {
		char *all = xasprintf("%s%s", s->prepend ? s->prepend : "", hdr);

		free(s->prepend);
		free(hdr);
		s->prepend = all;
	} else if (res == AUTHD_NOTFOUND)
		log_warnx("dkim: authd has no key for %s selector %s",
		    j->line->domain, j->line->selector);
	else if (res == AUTHD_FAIL) {
		log_warnx("session=%08x dkim: authd refused to sign for %s",
		    s->id, j->line->domain);
		r->error = "451 4.7.0 Cannot sign the message now, try again later";
	} else
		r->error = "451 4.3.0 Cannot sign the message now, try again later";
	round_done(s);
}

static void
on_alg(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct sign_job *j = arg;
	struct session *s = j->s;
	struct sign_round *r = round_of(s);
	unsigned char digest[DKIM_DIGEST_LEN];
	uint32_t alg;

	j->id = 0;
	if (res == AUTHD_OK && m && ipc_get_u32(m, &alg)) {
		if (dkim_header_digest(s->dkim, r->domain, j->line->selector, alg,
		    time(NULL), digest, &j->tmpl) == -1) {
			log_warnx("dkim: %s", dkim_sign_error(s->dkim));
			r->error = "451 4.3.0 Cannot sign the message now, try again later";
		} else if ((j->id = authc_dkim_sign(r->domain, j->line->selector, alg,
		    digest, s->grant, on_signed, j)) != 0)
			return;		/* still pending */
		else
			r->error = "451 4.3.0 Cannot sign the message now, try again later";
	} else if (res == AUTHD_NOTFOUND)
		log_warnx("dkim: authd has no key for %s selector %s (restart authd "
		    "after adding keys)", j->line->domain, j->line->selector);
	else
		r->error = "451 4.3.0 Cannot sign the message now, try again later";
	r->pending--;
	round_done(s);
}

static void sign_start(struct session *s);

/* on_grant - authd's grant for a facteur-sendmail session */
static void
on_grant(void *arg, enum authd_res res, struct ipc_msg *m)
{
	struct session *s = arg;
	struct sign_round *r = round_of(s);
	const void *g;
	size_t n;

	r->grant_id = 0;
	if (res == AUTHD_OK && m && ipc_get_data(m, &g, &n) &&
	    n == AUTHD_GRANT_LEN) {
		memcpy(s->grant, g, n);
		s->have_grant = true;
		sign_start(s);
		return;
	}
	log_warnx("session=%08x dkim: authd gave no grant for %s", s->id,
	    s->addr);
	r->error = "451 4.3.0 Cannot sign the message now, try again later";
	round_done(s);
}

/* session_dkim_sign - sign if the From domain has keys, then commit */
void
session_dkim_sign(struct session *s)
{
	struct sign_round *r;
	size_t i;

	if (session_milter_end(s))
		return;		/* milters first: they call back here */
	if (s->dkim == NULL || s->data_error) {
		session_data_commit(s);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	if (!dkim_from_domain(s->dkim, r->domain, sizeof(r->domain))) {
		free(r);
		session_data_commit(s);
		return;
	}
	for (i = 0; i < smtpd_conf->dkim.nsign && r->n < SIGN_MAX; i++)
		if (strcasecmp(smtpd_conf->dkim.sign[i].domain, r->domain) == 0) {
			r->job[r->n].s = s;
			r->job[r->n].line = &smtpd_conf->dkim.sign[i];
			r->n++;
		}
	if (r->n == 0) {
		free(r);
		session_data_commit(s);
		return;
	}
	s->sign_round = r;
	if (!s->have_grant && s->l->kind == PORT_LOCAL) {
		/* authd asks the kernel who is on the other end */
		if ((r->grant_id = authc_local(s->c.fd, on_grant, s)) != 0)
			return;
		r->error = "451 4.3.0 Cannot sign the message now, try again later";
		round_done(s);
		return;
	}
	sign_start(s);
}

/*
 * sign_start - ask authd for each key's algorithm; the signatures follow
 * (on_alg, on_signed), then the commit (round_done)
 */
static void
sign_start(struct session *s)
{
	struct sign_round *r = round_of(s);
	size_t i;

	r->pending = r->n;
	for (i = 0; i < r->n; i++) {
		r->job[i].id = authc_dkim_alg(r->domain, r->job[i].line->selector,
		    on_alg, &r->job[i]);
		if (r->job[i].id == 0) {
			r->error = "451 4.3.0 Cannot sign the message now, try again later";
			r->pending--;
		}
	}
	if (r->pending == 0)
		round_done(s);
}

/* session_dkim_cancel - the session goes away in the middle of signing */
void
session_dkim_cancel(struct session *s)
{
	struct sign_round *r = round_of(s);
	size_t i;

	if (r == NULL)
		return;
	if (r->grant_id)
		authc_cancel(r->grant_id);
	for (i = 0; i < r->n; i++) {
		if (r->job[i].id)
			authc_cancel(r->job[i].id);
		free(r->job[i].tmpl);
	}
	free(r);
	s->sign_round = NULL;
}
