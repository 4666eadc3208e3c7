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
 *   one log line per message.  Submissions, facteur-sendmail and port 25
 *   clients in [smtp] trusted are not checked and get no header (a
 *   trusted client's message gets the log line "inbound=trusted").
 * Everything is freed with the transaction (session_inbound_free):
 * lookups under way are cancelled, their callbacks never run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dkim_verify.h"
#include "dns.h"
#include "ev.h"
#include "log.h"
#include "dmarc.h"
#include "psl.h"
#include "screen.h"
#include "spf.h"
#include "xmem.h"
#include "smtp_session.h"

#define SIGS_MAX	20	/* [inbound] max_signatures at most */

/*
 * The Public Suffix List (about 200 KiB parsed): opened and checked
 * before the chroot, loaded when a message first needs DMARC and freed
 * when the role goes idle (smtp_inbound_idle)
 */
static struct psl *psl;
static int psl_fd = -1;

static struct psl *
inbound_psl(void)
{
	char err[512];

	if (psl == NULL && psl_fd != -1 &&
	    (psl = psl_load_fd(psl_fd, smtpd_conf->inbound.psl, err,
	    sizeof(err))) == NULL)
		log_warnx("[inbound] psl: %s", err);
	return psl;
}

void
smtp_inbound_idle(void)
{
	psl_free(&psl);
}

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
	struct spf_check *spfq;
	bool		 spf_on;
	bool		 spf_pending;
	bool		 spf_helo;	/* the HELO identity (MAIL FROM:<>) */
	enum ires	 spf;
	char		 spf_domain[SMTP_DOMAIN_MAX + 1];
	void		(*spf_cb)(struct session *);	/* greylisting waits */

	/* DKIM (the stream, then the keys) */
	struct dkim_verify *dkim;	/* its key lookups go with it */
	bool		 dkim_on;
	bool		 dkim_pending;
	bool		 dkim_broken;	/* out of memory: temperror */
	char		 from_domain[SMTP_DOMAIN_MAX + 1];
	size_t		 nfrom;		/* From fields */

	/* DMARC (the record of the From domain, or of its organization) */
	bool		 dmarc_on;
	bool		 dmarc_pending;
	struct dns_query *dmarc_q;
	bool		 at_org;	/* asking (or found at) the org domain */
	enum ires	 dmarc_rec;	/* pass: found, none, temperror, permerror */
	struct dmarc_record rec;
	char		 org_domain[SMTP_DOMAIN_MAX + 1];
	enum ires	 dmarc;		/* the result */
	const char	*policy;	/* published (p, or sp at the org), or NULL */
	const char	*applied;	/* after pct= */
	enum dmarc_policy req;		/* published */

	/* the final dot */
	bool		 waiting;
	struct ev_timer	 timer;
	enum action	 action;
	const char	*reply;
};

static void inbound_done(struct inbound *in);
static void maybe_done(struct inbound *in);

static bool
mx_port(const struct session *s)
{
	return s->l->kind == PORT_MX && s->auth_user == NULL && !s->trusted;
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

void
smtp_inbound_init(void)
{
	const struct conf *c = smtpd_conf;
	char err[512];

	if (c->smtp.listen.n == 0)
		return;
	/* [screen] asks DNS too (screen.c), with or without these checks */
	if ((c->inbound.spf || c->inbound.dkim || c->inbound.dmarc ||
	    screen_uses_dns(c)) &&
	    dns_init(c->dns.resolver_set ? &c->dns.resolver : NULL) == -1)
		log_warnx("inbound checks: no DNS; every check will be a "
		    "temperror (451)");
	if (!(c->inbound.spf || c->inbound.dkim || c->inbound.dmarc))
		return;
	spf_set_receiver(c->hostname);
	if (!c->inbound.dmarc)
		return;
	if ((psl_fd = open(c->inbound.psl, O_RDONLY | O_CLOEXEC)) == -1)
		fatalx("[inbound] psl: %s: %s", c->inbound.psl, strerror(errno));
	/* checked now, kept as the open file until a message needs it */
	if ((psl = psl_load_fd(psl_fd, c->inbound.psl, err,
	    sizeof(err))) == NULL)
		fatalx("[inbound] psl: %s", err);
	psl_free(&psl);
}

/* ---- SPF ------------------------------------------------------------------ */

static void
spf_cancel_query(struct inbound *in)
{
	spf_check_cancel(in->spfq);
	in->spfq = NULL;
}

static void
on_spf(void *arg, const struct spf_result *r)
{
	static const enum ires map[] = {
		[SPF_NONE] = IR_NONE, [SPF_NEUTRAL] = IR_NEUTRAL,
		[SPF_PASS] = IR_PASS, [SPF_FAIL] = IR_FAIL,
		[SPF_SOFTFAIL] = IR_SOFTFAIL, [SPF_TEMPERROR] = IR_TEMPERROR,
		[SPF_PERMERROR] = IR_PERMERROR,
	};
	struct inbound *in = arg;
	void (*cb)(struct session *) = in->spf_cb;

	in->spfq = NULL;
	in->spf_pending = false;
	in->spf = (size_t)r->result < sizeof(map) / sizeof(map[0]) ?
	    map[r->result] : IR_PERMERROR;
	in->spf_helo = r->identity == SPF_ID_HELO;
	bstrcpy(in->spf_domain, r->domain, sizeof(in->spf_domain));
	in->spf_cb = NULL;
	if (cb != NULL) {	/* a RCPT waits (not the final dot) */
		cb(in->s);	/* may end the transaction: in is gone */
		return;
	}
	maybe_done(in);
}

/*
 * session_inbound_spf - the SPF result of this transaction so far: 1 when
 * it passed (for *domain_r: the MAIL FROM domain, or the HELO name for
 * <>), -1 while the answer is not in, 0 otherwise (no check, not a pass)
 */
int
session_inbound_spf(struct session *s, const char **domain_r)
{
	struct inbound *in = s->inbound;

	*domain_r = NULL;
	if (in == NULL || !in->spf_on)
		return 0;
	if (in->spf_pending)
		return -1;
	if (in->spf != IR_PASS || in->spf_domain[0] == '\0')
		return 0;
	*domain_r = in->spf_domain;
	return 1;
}

/* session_inbound_spf_notify - cb(s) once when the SPF answer is in; NULL:
 * not any more.  At most one waiter (a paused session asks once). */
void
session_inbound_spf_notify(struct session *s, void (*cb)(struct session *))
{
	if (s->inbound != NULL)
		s->inbound->spf_cb = cb;
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
	spf_cancel_query(in);
	dns_cancel(in->dmarc_q);
	dkim_verify_free(&in->dkim);
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
	if (!in->spf_on)
		return;
	in->spf_pending = true;
	in->spfq = spf_check_start(s->addr, s->helo, s->from.addr, on_spf, in);
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
	if (!in->check || !(smtpd_conf->inbound.dkim || smtpd_conf->inbound.dmarc))
		return;
	/* DMARC needs the From domain and the DKIM results: one parser */
	in->dkim_on = smtpd_conf->inbound.dkim;
	if ((in->dkim = dkim_verify_new(0, smtpd_conf->inbound.max_signatures,
	    time(NULL))) == NULL)
		in->dkim_broken = true;
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
	if (in->dkim && dkim_verify_feed(in->dkim, p, n) == -1)
		in->dkim_broken = true;
	authres_filter_feed(&in->filter, p, n);
}

/* ---- the final dot ------------------------------------------------------ */

/* ---- DMARC: the record ---------------------------------------------------- */

static void dmarc_lookup(struct inbound *in, const char *domain);

/* on_dmarc - the TXT records of _dmarc.DOMAIN (RFC 7489 6.6.3) */
static void
on_dmarc(void *arg, const struct dns_result *r)
{
	struct inbound *in = arg;
	const char *txt[16], *why;
	size_t len[16], i, n = 0, idx;
	enum dmarc_parse k = DMARC_REC_NOT_DMARC;

	in->dmarc_q = NULL;
	if (r->status == DNS_TEMPFAIL) {
		in->dmarc_rec = IR_TEMPERROR;
		goto done;
	}
	for (i = 0; r->status == DNS_OK && i < r->nrr && n < 16; i++) {
		txt[n] = r->rr[i].data;
		len[n++] = r->rr[i].len;
	}
	if (n)
		k = dmarc_choose(txt, len, n, &in->rec, &idx, &why);
	if (k == DMARC_REC_OK || k == DMARC_REC_UNUSABLE) {
		in->dmarc_rec = k == DMARC_REC_OK ? IR_PASS : IR_PERMERROR;
		goto done;
	}
	in->dmarc_rec = IR_NONE;
	if (!in->at_org && strcmp(in->org_domain, in->from_domain) != 0) {
		in->at_org = true;
		dmarc_lookup(in, in->org_domain);
		return;
	}
done:
	in->dmarc_pending = false;
	maybe_done(in);
}

static void
dmarc_lookup(struct inbound *in, const char *domain)
{
	char name[DNS_NAME_MAX + 8];

	if (!bsnprintf(name, sizeof(name), "_dmarc.%s", domain)) {
		in->dmarc_rec = IR_NONE;
		in->dmarc_pending = false;
		return;
	}
	in->dmarc_pending = true;
	in->dmarc_q = dns_lookup(name, DNS_T_TXT, on_dmarc, in);
}

/* ---- the final dot -------------------------------------------------------- */

/* on_dkim - every DKIM key is in (or its lookup failed) */
static void
on_dkim(void *arg, struct dkim_verify *v)
{
	struct inbound *in = arg;

	(void)v;
	in->dkim_pending = false;
	maybe_done(in);
}

/* ar_header - our Authentication-Results header into s->prepend */
static void
ar_header(struct inbound *in)
{
	struct session *s = in->s;
	struct authres_dkim d[32];
	const struct dkim_vres *res;
	struct authres ar;
	struct buf b;
	size_t i, n = 0;
	char *all;

	memset(&ar, 0, sizeof(ar));
	ar.id = smtpd_conf->inbound.authserv_id;
	if (in->spf_on) {
		ar.spf = ires_name[in->spf];
		ar.spf_helo = in->spf_helo;
		ar.spf_value = in->spf_helo ? s->helo : s->from.addr;
	}
	if (in->dkim_on) {
		ar.dkim_checked = true;
		if (in->dkim)
			n = dkim_verify_results(in->dkim, &res);
		for (i = 0; i < n && i < sizeof(d) / sizeof(d[0]); i++) {
			d[i].result = dkim_res_name(res[i].result);
			d[i].reason = res[i].result == DKIM_RES_PASS ?
			    (res[i].testing ? "testing" : NULL) : res[i].reason;
			d[i].d = res[i].domain[0] ? res[i].domain : NULL;
			d[i].s = res[i].selector[0] ? res[i].selector : NULL;
			d[i].a = res[i].alg[0] ? res[i].alg : NULL;
			d[i].b = res[i].b8[0] ? res[i].b8 : NULL;
		}
		ar.dkim = d;
		ar.ndkim = i;
		if (in->dkim_broken && ar.ndkim == 0) {
			d[0] = (struct authres_dkim){ "temperror", "out of memory",
			    NULL, NULL, NULL, NULL };
			ar.ndkim = 1;
		}
	}
	if (in->dmarc_on && in->from_domain[0]) {
		ar.dmarc = ires_name[in->dmarc];
		ar.dmarc_from = in->from_domain;
		ar.dmarc_policy = in->policy;
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

/* dkim_summary - for the log: the best result of the signatures */
static const char *
dkim_summary(const struct inbound *in)
{
	const struct dkim_vres *res;
	size_t i, n;

	if (!in->dkim_on)
		return "off";
	if (in->dkim_broken)
		return "temperror";
	n = in->dkim ? dkim_verify_results(in->dkim, &res) : 0;
	for (i = 0; i < n; i++)
		if (res[i].result == DKIM_RES_PASS)
			return "pass";
	return n ? dkim_res_name(res[0].result) : "none";
}

static void
set_action(struct inbound *in, enum action a, const char *reply)
{
	in->action = a;
	in->reply = reply;
}

/*
 * evaluate - RFC 7489 3.1 and 6.6 through lib/dmarc: is an SPF or DKIM
 * pass aligned with the From domain (*pass_r), could a temporary error of
 * an aligned one have given a pass (*temp_r); the DMARC result and the
 * policy to apply (pct= done, sampled by the queue id)
 */
static enum dmarc_policy
evaluate(struct inbound *in, bool *pass_r, bool *temp_r)
{
	const struct dkim_vres *res;
	const char *dom[SIGS_MAX];
	struct dmarc_input di;
	struct dmarc_result out;
	bool temp = in->dkim_on && in->dkim_broken, found;
	const struct psl *pl = inbound_psl();
	size_t i, n = 0;

	found = in->dmarc_rec == IR_PASS;
	memset(&di, 0, sizeof(di));
	di.from_domain = in->from_domain;
	di.spf_pass = in->spf_on && in->spf == IR_PASS;
	di.spf_domain = in->spf_domain;
	di.dkim_domains = dom;
	di.sample = dmarc_sample(in->s->qid, strlen(in->s->qid));
	if (in->dkim && in->dkim_on)	/* dkim = no: the verifier reads From */
		n = dkim_verify_results(in->dkim, &res);
	for (i = 0; i < n; i++) {
		if (res[i].result == DKIM_RES_PASS && di.ndkim < SIGS_MAX)
			dom[di.ndkim++] = res[i].domain;
		else if (res[i].result == DKIM_RES_TEMPERROR &&
		    dmarc_aligned(pl, res[i].domain, in->from_domain,
		    found && in->rec.adkim_strict))
			temp = true;
	}
	if (in->spf_on && in->spf == IR_TEMPERROR &&
	    dmarc_aligned(pl, in->spf_domain, in->from_domain,
	    found && in->rec.aspf_strict))
		temp = true;
	in->dmarc = IR_NONE;
	in->policy = in->applied = NULL;
	*pass_r = *temp_r = false;
	if (in->from_domain[0] == '\0')
		return DMARC_POLICY_NONE;
	dmarc_evaluate(pl, &di, found ? &in->rec : NULL, in->at_org, &out);
	*pass_r = out.spf_aligned || out.dkim_aligned;
	*temp_r = temp = temp && !*pass_r;
	if (found) {
		in->req = out.requested;
		in->policy = dmarc_policy_name(out.requested);
		in->applied = dmarc_policy_name(out.policy);
		in->dmarc = *pass_r ? IR_PASS : temp ? IR_TEMPERROR : IR_FAIL;
	} else if (in->dmarc_rec == IR_TEMPERROR || in->dmarc_rec == IR_PERMERROR)
		in->dmarc = in->dmarc_rec;
	return out.policy;
}

/*
 * decide - every answer is in (or the timeout passed): what to do.  A
 * temporary error answers 451 only when a final answer could have
 * changed what happens to the message.
 */
static void
decide(struct inbound *in)
{
	bool pass, temp, own;
	enum dmarc_policy pol = evaluate(in, &pass, &temp);

	set_action(in, ACT_INBOX, NULL);
	own = in->from_domain[0] && conf_is_local_domain(smtpd_conf,
	    in->from_domain, strlen(in->from_domain));
	if (in->nfrom > 1)
		set_action(in, ACT_REJECT, "550 5.7.1 Message refused: more than "
		    "one From field");
	else if (own && !pass && temp)
		set_action(in, ACT_TEMPFAIL, "451 4.7.0 Temporary "
		    "authentication failure, try again later");
	else if (own && !pass)
		set_action(in, ACT_REJECT, "550 5.7.1 Message refused: the From "
		    "domain is ours and the message is not authenticated as ours");
	else if (!smtpd_conf->inbound.dmarc || in->dmarc == IR_PASS)
		;
	else if (in->dmarc_rec == IR_TEMPERROR)
		set_action(in, ACT_TEMPFAIL, "451 4.7.0 DMARC: temporary DNS "
		    "failure, try again later");
	else if (in->dmarc == IR_TEMPERROR && in->req != DMARC_POLICY_NONE)
		set_action(in, ACT_TEMPFAIL, "451 4.7.0 Temporary "
		    "authentication failure, try again later");
	else if (in->dmarc == IR_FAIL && pol == DMARC_POLICY_REJECT)
		set_action(in, ACT_REJECT, "550 5.7.1 Message refused by the "
		    "DMARC policy of the From domain");
	else if (in->dmarc == IR_FAIL && pol == DMARC_POLICY_QUARANTINE)
		set_action(in, ACT_JUNK, NULL);
	if (in->action != ACT_INBOX || in->dmarc_rec == IR_PASS)
		return;
	/* no usable DMARC record: [inbound] spf_fail */
	if (!in->spf_on || smtpd_conf->inbound.spf_fail == CONF_SPF_FAIL_MARK)
		return;
	if (in->spf == IR_TEMPERROR)
		set_action(in, ACT_TEMPFAIL, "451 4.7.24 SPF: temporary DNS "
		    "failure, try again later");
	else if (in->spf == IR_FAIL &&
	    smtpd_conf->inbound.spf_fail == CONF_SPF_FAIL_JUNK)
		set_action(in, ACT_JUNK, NULL);
	else if (in->spf == IR_FAIL)
		set_action(in, ACT_REJECT, "550 5.7.23 SPF validation failed");
}

static void
log_result(struct inbound *in)
{
	struct session *s = in->s;

	log_info("session=%08x addr=%s qid=%s spf=%s dkim=%s dmarc=%s "
	    "policy=%s from=%s action=%s", s->id, s->addr, s->qid,
	    in->spf_on ? ires_name[in->spf] : "off", dkim_summary(in),
	    in->dmarc_on ? ires_name[in->dmarc] : "off",
	    in->applied ? in->applied : "-",
	    in->from_domain[0] ? in->from_domain : "-",
	    action_name[in->action]);
}

/* inbound_done - act on the decision; the session goes on */
static void
inbound_done(struct inbound *in)
{
	struct session *s = in->s;

	in->waiting = false;
	ev_timer_del(&in->timer);
	decide(in);
	log_result(in);
	if (in->action == ACT_REJECT || in->action == ACT_TEMPFAIL) {
		session_reply(s, "%s", in->reply);
		session_reset_transaction(s);	/* frees in, drops the file */
		session_resume(s);
		return;
	}
	s->junk = in->action == ACT_JUNK;
	s->spf_pass = in->spf == IR_PASS && !in->spf_helo;
	ar_header(in);
	session_dkim_sign(s);	/* then session_data_commit() */
}

static bool
pending(const struct inbound *in)
{
	return in->spf_pending || in->dkim_pending || in->dmarc_pending;
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
		spf_cancel_query(in);
		in->spf_pending = false;
		in->spf = IR_TEMPERROR;
	}
	if (in->dmarc_pending) {
		dns_cancel(in->dmarc_q);
		in->dmarc_q = NULL;
		in->dmarc_pending = false;
		in->dmarc_rec = IR_TEMPERROR;
	}
	in->dkim_pending = false;	/* keys not in say temperror */
	inbound_done(in);
}

/* maybe_done - called as answers arrive: decide once all are in */
static void
maybe_done(struct inbound *in)
{
	if (in->waiting && !pending(in))
		inbound_done(in);
}

/* start_dot - the header is known: DKIM keys and the DMARC record */
static void
start_dot(struct inbound *in)
{
	if (in->dkim == NULL)
		return;
	if (dkim_verify_end(in->dkim) == -1)
		in->dkim_broken = true;
	in->nfrom = dkim_verify_from_count(in->dkim);
	if (!dkim_verify_from_domain(in->dkim, in->from_domain,
	    sizeof(in->from_domain)))
		in->from_domain[0] = '\0';
	if (in->dkim_on) {
		if (dkim_verify_start_lookups(in->dkim, on_dkim, in) == 0)
			in->dkim_pending = true;
		else
			in->dkim_broken = true;
	}
	in->dmarc_on = smtpd_conf->inbound.dmarc;
	if (!in->dmarc_on || in->from_domain[0] == '\0')
		return;
	if (inbound_psl() == NULL || !psl_org_domain(psl, in->from_domain,
	    in->org_domain, sizeof(in->org_domain)))
		bstrcpy(in->org_domain, in->from_domain, sizeof(in->org_domain));
	in->at_org = false;
	dmarc_lookup(in, in->from_domain);
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
		if (s->trusted)		/* instead of log_result's line */
			log_info("session=%08x addr=%s qid=%s inbound=trusted "
			    "action=inbox", s->id, s->addr, s->qid);
		session_dkim_sign(s);
		return;
	}
	start_dot(in);
	in->waiting = true;
	if (!pending(in)) {
		inbound_done(in);
		return;
	}
	ev_timer_init(&in->timer, on_timeout, in);
	ev_timer_add(&in->timer, (uint64_t)smtpd_conf->inbound.timeout * 1000);
}
