/* SPDX-License-Identifier: ISC */
/*
 * spf.c - check_host() of RFC 7208 on lib/dns: a state machine driven by
 * DNS answers.  One check holds a stack of frames (the record being
 * evaluated, then one per include level; redirect= replaces the top
 * frame), the counters of 4.6.4 and at most one operation in flight: a
 * TXT, A/AAAA, MX, PTR lookup, or the A/AAAA lookups of up to 10 MX or
 * PTR names at once (their answers are then read in order, so the result
 * does not depend on which came first).
 *
 * Runs in whatever role checks mail (see smtpd/README.md), on its event
 * loop; never blocks.  Records come from DNS, the sender and HELO name
 * from the client: all untrusted, all bounded (spf_parse.c, spf_macro.c).
 * The result reaches the caller from a zero timer, never from inside
 * spf_check_start().
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "ev.h"
#include "spf_int.h"
#include "xmem.h"

#define SPF_DEPTH	(SPF_LOOKUPS_MAX + 2)

enum spf_op {
	OP_NONE,
	OP_RECORD,		/* TXT of the top frame's domain */
	OP_A,			/* a, exists */
	OP_MX,
	OP_PTR,
	OP_ADDRS,		/* A/AAAA of each name in c->names */
	OP_EXP,
};

/* outcome of one name's address lookup (mx, ptr) */
enum name_st {
	NAME_WAIT,
	NAME_NOMATCH,
	NAME_MATCH,
	NAME_VOID,
	NAME_TEMP,
};

struct spf_frame {
	char		 domain[DNS_NAME_MAX + 1];
	char		*txt;
	struct spf_record rec;
	size_t		 next;		/* next term */
	bool		 fetched;	/* txt and rec are set */
	bool		 redirected;	/* reached by redirect= */
};

struct spf_check;
struct spf_slot {
	struct spf_check *c;
	size_t		 i;
};

struct spf_names {
	char		 name[SPF_NAMES_MAX][DNS_NAME_MAX + 1];
	struct spf_slot	 slot[SPF_NAMES_MAX];
	uint8_t		 st[SPF_NAMES_MAX];	/* enum name_st */
	struct dns_query *q[SPF_NAMES_MAX];
	size_t		 n;
};

struct spf_check {
	spf_cb		*cb;
	void		*arg;
	enum spf_identity id;
	struct spf_macro_ctx m;
	char		*sender, *local, *sdomain, *helo;
	char		 receiver[DNS_NAME_MAX + 1];
	char		 ipstr[INET6_ADDRSTRLEN];
	char		 validated[DNS_NAME_MAX + 1];

	struct spf_frame *fr[SPF_DEPTH];	/* [0..depth] allocated */
	int		 depth;
	unsigned	 lookups, voids;

	enum spf_op	 op;
	bool		 ptr_for_p;	/* OP_PTR/OP_ADDRS computes %{p} */
	bool		 p_done;
	bool		 explaining;	/* a fail: looking for its exp= text */
	bool		 exp_asked;	/* its TXT lookup is done */
	char		*exp_text;	/* the TXT found, to expand */
	struct dns_query *q;		/* the one lookup of op */
	unsigned	 pending;	/* lookups not answered */
	char		 target[DNS_NAME_MAX + 1];
	struct spf_names *names;	/* OP_ADDRS */
	struct spf_names *pnames;	/* validated names, for %{p} */

	bool		 finished;
	bool		 delivering;	/* inside the callback */
	enum spf_res	 result;
	char		 mech[128];
	char		 problem[256];
	char		 expl[SPF_EXPLAIN_MAX];
	bool		 tracing;
	char		*trace;
	size_t		 tlen;
	struct ev_timer	 done, deadline;
};

static inline struct spf_frame *
top(const struct spf_check *c)
{
	return c->fr[c->depth];
}

/* cur_term - the term being evaluated in the top frame */
static inline const struct spf_term *
cur_term(const struct spf_check *c)
{
	return &top(c)->rec.terms[top(c)->next];
}

static char spf_receiver[DNS_NAME_MAX + 1];
static unsigned spf_timeout_ms = SPF_TIMEOUT_MS;

static void spf_run(struct spf_check *c);
static void frame_result(struct spf_check *c, enum spf_res res,
    const char *text, size_t textlen);

const char *
spf_result_name(enum spf_res r)
{
	static const char *const names[] = {
		[SPF_NONE] = "none", [SPF_NEUTRAL] = "neutral",
		[SPF_PASS] = "pass", [SPF_FAIL] = "fail",
		[SPF_SOFTFAIL] = "softfail", [SPF_TEMPERROR] = "temperror",
		[SPF_PERMERROR] = "permerror",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

const char *
spf_identity_name(enum spf_identity id)
{
	return id == SPF_ID_HELO ? "helo" : "mailfrom";
}

void
spf_set_receiver(const char *hostname)
{
	(void)bstrcpy(spf_receiver, hostname ? hostname : "",
	    sizeof(spf_receiver));
}

void
spf_set_timeout(unsigned ms)
{
	spf_timeout_ms = ms ? ms : SPF_TIMEOUT_MS;
}

/* tracef - one line of the trace, indented by frame depth */
static void tracef(struct spf_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
tracef(struct spf_check *c, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n, ind = c->depth * 2;

	if (!c->tracing || c->tlen + 1 >= SPF_TRACE_MAX)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (c->tlen + (size_t)ind + (size_t)n + 2 >= SPF_TRACE_MAX) {
		c->tlen += (size_t)snprintf(c->trace + c->tlen,
		    SPF_TRACE_MAX - c->tlen, "...\n");
		c->tlen = SPF_TRACE_MAX;	/* full */
		return;
	}
	c->tlen += (size_t)snprintf(c->trace + c->tlen, SPF_TRACE_MAX - c->tlen,
	    "%*s%s\n", ind, "", line);
}

static void
names_cancel(struct spf_names *nm)
{
	size_t i;

	if (nm == NULL)
		return;
	for (i = 0; i < nm->n; i++) {
		dns_cancel(nm->q[i]);
		nm->q[i] = NULL;
	}
}

static void
cancel_lookups(struct spf_check *c)
{
	dns_cancel(c->q);
	c->q = NULL;
	names_cancel(c->names);
	c->pending = 0;
	c->op = OP_NONE;
}

static void
spf_on_done(struct ev_timer *t, void *arg)
{
	struct spf_check *c = arg;
	struct spf_result r;

	memset(&r, 0, sizeof(r));
	r.result = c->result;
	r.identity = c->id;
	r.sender = c->sender;
	r.domain = c->sdomain;
	r.mechanism = c->mech;
	r.explanation = c->result == SPF_FAIL ? c->expl : "";
	r.problem = c->problem;
	r.trace = c->trace ? c->trace : "";
	c->delivering = true;
	c->cb(c->arg, &r);
	c->delivering = false;
	spf_check_cancel(c);
}

/* finish - the check's result; callback from a zero timer */
static void
finish(struct spf_check *c, enum spf_res res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
finish(struct spf_check *c, enum spf_res res, const char *fmt, ...)
{
	va_list ap;

	if (c->finished)
		return;
	c->finished = true;
	c->result = res;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(c->problem, sizeof(c->problem), fmt, ap);
		va_end(ap);
	}
	cancel_lookups(c);
	ev_timer_del(&c->deadline);
	c->depth = 0;
	if (c->problem[0])
		tracef(c, "%s: %s", spf_result_name(res), c->problem);
	else
		tracef(c, "result: %s%s%s", spf_result_name(res),
		    c->mech[0] ? " by " : "", c->mech);
	ev_timer_add(&c->done, 0);
}

static void
spf_on_deadline(struct ev_timer *t, void *arg)
{
	finish(arg, SPF_TEMPERROR, "no answer within %u ms", spf_timeout_ms);
}

static void
frame_clear(struct spf_frame *f)
{
	spf_record_free(&f->rec);
	free(f->txt);
	f->txt = NULL;
	f->fetched = false;
	f->next = 0;
}

static void
frame_free(struct spf_frame **fp)
{
	if (*fp == NULL)
		return;
	frame_clear(*fp);
	free(*fp);
	*fp = NULL;
}

/* push - a new top frame for domain (include) */
static void
push(struct spf_check *c, const char *domain)
{
	struct spf_frame *f = xcalloc(1, sizeof(*f));

	c->fr[++c->depth] = f;
	(void)bstrcpy(f->domain, domain, sizeof(f->domain));
}

/* lookup - start the one lookup of op for c */
static void on_lookup(void *arg, const struct dns_result *r);

static void
lookup(struct spf_check *c, enum spf_op op, const char *name,
    enum dns_type type)
{
	c->op = op;
	c->pending = 1;
	c->q = dns_lookup(name, type, on_lookup, c);
}

/* count_lookup - one more term that causes DNS lookups (4.6.4) */
static bool
count_lookup(struct spf_check *c)
{
	if (++c->lookups <= SPF_LOOKUPS_MAX)
		return true;
	finish(c, SPF_PERMERROR, "more than %d DNS lookups", SPF_LOOKUPS_MAX);
	return false;
}

/* count_void - one more lookup that found nothing (4.6.4) */
static bool
count_void(struct spf_check *c, const char *name)
{
	if (++c->voids <= SPF_VOID_MAX)
		return true;
	finish(c, SPF_PERMERROR, "more than %d void lookups (last: %s)",
	    SPF_VOID_MAX, name);
	return false;
}

/* under - name is d or a subdomain of d (case-insensitive) */
static bool
under(const char *name, const char *d)
{
	size_t nl = strlen(name), dl = strlen(d);

	if (nl == dl)
		return strcasecmp(name, d) == 0;
	return nl > dl && name[nl - dl - 1] == '.' &&
	    strcasecmp(name + nl - dl, d) == 0;
}

/* p_value - %{p}: a validated name, preferably d or below d (7.3) */
static const char *
p_value(const struct spf_check *c, const char *d)
{
	const struct spf_names *nm = c->pnames;
	size_t i;

	if (nm == NULL)
		return "unknown";
	for (i = 0; i < nm->n; i++)
		if (nm->st[i] == NAME_MATCH && strcasecmp(nm->name[i], d) == 0)
			return nm->name[i];
	for (i = 0; i < nm->n; i++)
		if (nm->st[i] == NAME_MATCH && under(nm->name[i], d))
			return nm->name[i];
	for (i = 0; i < nm->n; i++)
		if (nm->st[i] == NAME_MATCH)
			return nm->name[i];
	return "unknown";
}

/*
 * expand - a domain-spec (or d if spec is NULL) of the top frame into
 * out; false after finish() if it needs %{p} first (started) or is bad.
 * *wait set when a PTR lookup for %{p} was started.
 */
static bool
expand(struct spf_check *c, const char *spec, size_t len, bool domain,
    char *out, size_t outsz, bool *wait)
{
	struct spf_macro_ctx m = c->m;
	bool uses_p = false;
	char rev[80];

	*wait = false;
	m.domain = top(c)->domain;
	if (spec == NULL)
		return bstrcpy(out, m.domain, outsz);
	(void)spf_macro_check(spec, len, domain, !domain, &uses_p);
	if (uses_p && !c->p_done) {
		/* %{p}: the validated name first (5.5 procedure) */
		*wait = true;
		c->ptr_for_p = true;
		if (!dns_ptr_name(c->m.family, c->m.ip, rev, sizeof(rev)))
			return false;
		lookup(c, OP_PTR, rev, DNS_T_PTR);
		return false;
	}
	m.validated = p_value(c, m.domain);
	return spf_expand(&m, spec, len, domain, out, outsz) == 0;
}

/* target - the mechanism's domain into c->target; false: wait or done */
static bool
target(struct spf_check *c, const struct spf_term *t)
{
	bool wait;

	if (expand(c, t->spec, t->speclen, true, c->target, sizeof(c->target),
	    &wait))
		return true;
	if (!wait)
		finish(c, SPF_PERMERROR, "cannot expand %.*s", (int)t->textlen,
		    t->text);
	return false;
}

static enum spf_res
qual_res(char q)
{
	switch (q) {
	case '-':
		return SPF_FAIL;
	case '~':
		return SPF_SOFTFAIL;
	case '?':
		return SPF_NEUTRAL;
	}
	return SPF_PASS;
}

/* term_done - the current term of the top frame matched or not */
static void
term_done(struct spf_check *c, bool match)
{
	struct spf_frame *f = top(c);
	const struct spf_term *t = &f->rec.terms[f->next];

	c->op = OP_NONE;
	/* a target written with macros: show what it expanded to */
	if (t->spec != NULL && memchr(t->spec, '%', t->speclen) != NULL)
		tracef(c, "%.*s (%s): %s", (int)t->textlen, t->text, c->target,
		    match ? "match" : "no match");
	else
		tracef(c, "%.*s: %s", (int)t->textlen, t->text,
		    match ? "match" : "no match");
	if (match)
		frame_result(c, qual_res(t->qual), t->text, t->textlen);
	else
		f->next++;
}

/* name_ok - a target we may ask DNS about; else the term does not match */
static bool
name_ok(struct spf_check *c, const char *name)
{
	if (spf_domain_ok(name))
		return true;
	tracef(c, "%s: not a valid domain name", name);
	return false;
}

static enum dns_type
addr_type(const struct spf_check *c)
{
	return c->m.family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/*
 * term_start - evaluate the top frame's current term, or start its
 * lookup (then c->op is set).  Called from spf_run() only.
 */
static void
term_start(struct spf_check *c)
{
	struct spf_frame *f = top(c);
	const struct spf_term *t = &f->rec.terms[f->next];

	switch (t->mech) {
	case SPF_M_ALL:
		term_done(c, true);
		return;
	case SPF_M_IP4:
	case SPF_M_IP6:
		term_done(c, c->m.family == (t->mech == SPF_M_IP4 ? AF_INET :
		    AF_INET6) && spf_ip_match(c->m.family, c->m.ip, t->addr,
		    t->mech == SPF_M_IP4 ? t->cidr4 : t->cidr6));
		return;
	}
	if (!target(c, t) || !count_lookup(c))
		return;
	switch (t->mech) {
	case SPF_M_INCLUDE:
		if (!spf_domain_ok(c->target)) {
			finish(c, SPF_PERMERROR, "include of a bad domain: %s",
			    c->target);
			return;
		}
		tracef(c, "%.*s", (int)t->textlen, t->text);
		push(c, c->target);
		return;
	case SPF_M_A:
	case SPF_M_EXISTS:
		if (!name_ok(c, c->target)) {
			term_done(c, false);
			return;
		}
		lookup(c, OP_A, c->target, t->mech == SPF_M_A ? addr_type(c) :
		    DNS_T_A);
		return;
	case SPF_M_MX:
		if (!name_ok(c, c->target)) {
			term_done(c, false);
			return;
		}
		lookup(c, OP_MX, c->target, DNS_T_MX);
		return;
	case SPF_M_PTR: {
		char rev[80];

		if (!dns_ptr_name(c->m.family, c->m.ip, rev, sizeof(rev))) {
			term_done(c, false);
			return;
		}
		c->ptr_for_p = false;
		lookup(c, OP_PTR, rev, DNS_T_PTR);
		return;
	}
	}
}

static void on_addr_cb(void *arg, const struct dns_result *r);

/* addrs_start - A/AAAA of every name in c->names at once */
static void
addrs_start(struct spf_check *c)
{
	struct spf_names *nm = c->names;
	size_t i;

	c->op = OP_ADDRS;
	c->pending = (unsigned)nm->n;
	for (i = 0; i < nm->n; i++) {
		nm->st[i] = NAME_WAIT;
		nm->q[i] = NULL;
		nm->slot[i].c = c;
		nm->slot[i].i = i;
	}
	for (i = 0; i < nm->n; i++)
		nm->q[i] = dns_lookup(nm->name[i], addr_type(c), on_addr_cb,
		    &nm->slot[i]);
}

/* addr_in - does r hold our client's address (within bits)? */
static bool
addr_in(const struct spf_check *c, const struct dns_result *r, unsigned bits)
{
	size_t i;

	for (i = 0; i < r->nrr; i++)
		if (r->rr[i].family == c->m.family &&
		    spf_ip_match(c->m.family, c->m.ip, r->rr[i].addr, bits))
			return true;
	return false;
}

static unsigned
cur_bits(const struct spf_check *c)
{
	const struct spf_frame *f = top(c);
	const struct spf_term *t = &f->rec.terms[f->next];

	return c->m.family == AF_INET ? t->cidr4 : t->cidr6;
}

static bool
temp(struct spf_check *c, const struct dns_result *r)
{
	if (r->status != DNS_TEMPFAIL && r->status != DNS_FORMERR)
		return false;
	finish(c, SPF_TEMPERROR, "DNS %s lookup of %s: %s",
	    dns_type_name((enum dns_type)r->type), r->name,
	    dns_status_name(r->status));
	return true;
}

/* on_record - TXT of the top frame's domain: select, parse (4.4-4.6) */
static void
on_record(struct spf_check *c, const struct dns_result *r)
{
	struct spf_frame *f = top(c);
	const struct dns_rr *rec = NULL;
	char err[200];
	size_t i, n = 0;

	if (temp(c, r))
		return;
	for (i = 0; i < r->nrr; i++)
		if (spf_is_record(r->rr[i].data, r->rr[i].len)) {
			rec = &r->rr[i];
			n++;
		}
	if (n > 1) {
		finish(c, SPF_PERMERROR, "%s has %zu SPF records", f->domain, n);
		return;
	}
	if (n == 0) {
		tracef(c, "%s: no SPF record (%s)", f->domain,
		    dns_status_name(r->status));
		if (c->depth > 0 || f->redirected)
			finish(c, SPF_PERMERROR, "%s %s has no SPF record",
			    f->redirected ? "redirect target" : "included domain",
			    f->domain);
		else
			finish(c, SPF_NONE, "%s has no SPF record", f->domain);
		return;
	}
	f->txt = xmalloc(rec->len + 1);
	memcpy(f->txt, rec->data, rec->len + 1);
	tracef(c, "%s: \"%.*s\"", f->domain, (int)(rec->len > 500 ? 500 :
	    rec->len), rec->data);
	if (spf_record_parse(f->txt, rec->len, &f->rec, err, sizeof(err)) ==
	    -1) {
		finish(c, SPF_PERMERROR, "%s: %s", f->domain, err);
		return;
	}
	f->fetched = true;
}

/* on_names - MX or PTR names into c->names, then their addresses */
static void
on_names(struct spf_check *c, const struct dns_result *r)
{
	struct spf_names *nm;
	size_t i;
	bool ptr = r->type == DNS_T_PTR;

	if (c->names == NULL)
		c->names = xmalloc(sizeof(*c->names));
	nm = c->names;
	nm->n = 0;
	/* 4.6.4: the first 10 PTR names only (5.5: all validated first) */
	for (i = 0; i < r->nrr && (ptr ? i : nm->n) < SPF_NAMES_MAX; i++) {
		const char *h = r->rr[i].data;
		size_t hl = r->rr[i].len;

		if (hl == 0 || hl > DNS_NAME_MAX)
			continue;		/* null MX, or junk */
		memcpy(nm->name[nm->n++], h, hl + 1);
	}
	if (nm->n == 0) {
		if (ptr && c->ptr_for_p) {
			c->p_done = true;
			c->op = OP_NONE;
		} else
			term_done(c, false);
		return;
	}
	addrs_start(c);
}

/* addrs_done - every name's addresses are in: read them in order */
static void
addrs_done(struct spf_check *c)
{
	struct spf_names *nm = c->names;
	bool ptr;
	size_t i;

	c->op = OP_NONE;
	if (c->ptr_for_p) {
		/* keep the validated names for %{p} */
		c->p_done = true;
		c->ptr_for_p = false;
		c->pnames = c->names;
		c->names = NULL;
		tracef(c, "%%{p} = %s", p_value(c, top(c)->domain));
		return;
	}
	ptr = cur_term(c)->mech == SPF_M_PTR;
	for (i = 0; i < nm->n; i++) {
		/*
		 * every name was looked up, so every void counts, in order,
		 * before any match (as pyspf does); errors end an mx (5.4)
		 * but only skip a ptr name (5.5)
		 */
		if (nm->st[i] == NAME_TEMP && !ptr) {
			finish(c, SPF_TEMPERROR, "DNS lookup of %s failed",
			    nm->name[i]);
			return;
		}
		if (nm->st[i] == NAME_VOID && !count_void(c, nm->name[i]))
			return;
	}
	for (i = 0; i < nm->n; i++)
		if (nm->st[i] == NAME_MATCH && (!ptr || under(nm->name[i],
		    c->target))) {
			tracef(c, "%s %s", nm->name[i], ptr ? "is validated" :
			    "has the client's address");
			term_done(c, true);
			return;
		}
	term_done(c, false);
}

/* on_addr - one answer of OP_ADDRS */
static void
on_addr(struct spf_check *c, const struct dns_result *r, size_t i)
{
	struct spf_names *nm = c->names;
	bool ptr = c->ptr_for_p || cur_term(c)->mech == SPF_M_PTR;

	nm->q[i] = NULL;
	if (r->status == DNS_TEMPFAIL || r->status == DNS_FORMERR)
		nm->st[i] = NAME_TEMP;
	else if (r->status != DNS_OK)
		nm->st[i] = NAME_VOID;
	else
		nm->st[i] = addr_in(c, r, ptr ? 128 : cur_bits(c)) ?
		    NAME_MATCH : NAME_NOMATCH;
	if (--c->pending == 0)
		addrs_done(c);
}

static void
on_addr_cb(void *arg, const struct dns_result *r)
{
	struct spf_slot *slot = arg;
	struct spf_check *c = slot->c;

	on_addr(c, r, slot->i);
	spf_run(c);
}

/* on_exp - the explanation TXT (6.2): exactly one record, well formed */
static void
on_exp(struct spf_check *c, const struct dns_result *r)
{
	c->op = OP_NONE;
	c->exp_asked = true;
	if (r->status == DNS_OK && r->nrr == 1 &&
	    spf_macro_check(r->rr[0].data, r->rr[0].len, false, true, NULL))
		c->exp_text = xstrndup(r->rr[0].data, r->rr[0].len);
	else
		tracef(c, "exp=: no usable TXT at %s (%s, %zu records)", r->name,
		    dns_status_name(r->status), r->nrr);
}

/*
 * records - did the term's lookup find records?  If not, it was a DNS
 * error (temperror) or a void lookup (counted; the term does not match).
 */
static bool
records(struct spf_check *c, const struct dns_result *r)
{
	if (temp(c, r))
		return false;
	if (r->status == DNS_OK)
		return true;
	tracef(c, "%s %s: %s (void lookup)", r->name,
	    dns_type_name((enum dns_type)r->type), dns_status_name(r->status));
	if (count_void(c, r->name))
		term_done(c, false);
	return false;
}

static void
on_lookup(void *arg, const struct dns_result *r)
{
	struct spf_check *c = arg;

	c->q = NULL;
	c->pending = 0;
	switch (c->op) {
	case OP_RECORD:
		c->op = OP_NONE;
		on_record(c, r);
		break;
	case OP_A:
		if (!records(c, r))
			break;
		/* exists: any A record; a: our address among them */
		term_done(c, cur_term(c)->mech == SPF_M_EXISTS ||
		    addr_in(c, r, cur_bits(c)));
		break;
	case OP_MX:
		if (!records(c, r))
			break;
		if (r->nrr > SPF_NAMES_MAX) {
			finish(c, SPF_PERMERROR, "%s has more than %d MX records",
			    r->name, SPF_NAMES_MAX);
			break;
		}
		on_names(c, r);
		break;
	case OP_PTR:
		/* errors: no match (5.5); void lookups count for the term */
		if (r->status != DNS_OK && r->status != DNS_TEMPFAIL &&
		    r->status != DNS_FORMERR && !c->ptr_for_p &&
		    !count_void(c, r->name))
			break;
		on_names(c, r);
		break;
	case OP_EXP:
		on_exp(c, r);
		break;
	default:
		break;
	}
	spf_run(c);
}

/*
 * explain - a fail of the top frame: the text of its exp= (6.2), looked
 * up, then expanded (both may need %{p} first); else ours.
 */
static void
explain(struct spf_check *c)
{
	struct spf_frame *f = c->fr[0];
	char name[SPF_EXPAND_MAX];
	bool wait = false;

	if (f->fetched && f->rec.exp != NULL && !c->exp_asked) {
		if (expand(c, f->rec.exp, f->rec.explen, true, name,
		    sizeof(name), &wait) && spf_domain_ok(name)) {
			lookup(c, OP_EXP, name, DNS_T_TXT);
			return;
		}
		if (wait)
			return;
	}
	if (c->exp_text != NULL) {
		if (!expand(c, c->exp_text, strlen(c->exp_text), false, c->expl,
		    sizeof(c->expl), &wait))
			c->expl[0] = '\0';
		if (wait)
			return;
	}
	if (c->expl[0] == '\0')
		snprintf(c->expl, sizeof(c->expl), SPF_DEFAULT_EXPLANATION,
		    c->ipstr, c->sdomain);
	finish(c, SPF_FAIL, NULL);
}

/* frame_result - the top frame ended with res, decided by text */
static void
frame_result(struct spf_check *c, enum spf_res res, const char *text,
    size_t textlen)
{
	struct spf_frame *f;

	if (c->depth == 0) {
		snprintf(c->mech, sizeof(c->mech), "%.*s", (int)textlen, text);
		c->result = res;
		if (res == SPF_FAIL) {
			c->explaining = true;	/* spf_run() calls explain() */
			explain(c);
		} else
			finish(c, res, NULL);
		return;
	}
	frame_free(&c->fr[c->depth]);
	c->depth--;
	f = top(c);
	tracef(c, "%.*s: %s", (int)f->rec.terms[f->next].textlen,
	    f->rec.terms[f->next].text, spf_result_name(res));
	switch (res) {
	case SPF_PASS:
		frame_result(c, qual_res(f->rec.terms[f->next].qual),
		    f->rec.terms[f->next].text, f->rec.terms[f->next].textlen);
		return;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		f->next++;
		return;
	case SPF_TEMPERROR:
		finish(c, SPF_TEMPERROR, "in include");
		return;
	default:
		finish(c, SPF_PERMERROR, "in include");
		return;
	}
}

/* redirect - no term matched and the record has redirect= (6.1) */
static void
redirect(struct spf_check *c)
{
	struct spf_frame *f = top(c);
	char name[SPF_EXPAND_MAX];
	bool wait;

	if (!expand(c, f->rec.redirect, f->rec.redirectlen, true, name,
	    sizeof(name), &wait)) {
		if (!wait)
			finish(c, SPF_PERMERROR, "cannot expand redirect=");
		return;
	}
	if (!count_lookup(c))
		return;
	if (!spf_domain_ok(name)) {
		finish(c, SPF_PERMERROR, "redirect to a bad domain: %s", name);
		return;
	}
	tracef(c, "redirect=%s", name);
	frame_clear(f);
	(void)bstrcpy(f->domain, name, sizeof(f->domain));
	f->redirected = true;
}

/* spf_run - advance until a lookup is in flight or the check is done */
static void
spf_run(struct spf_check *c)
{
	struct spf_frame *f;

	while (!c->finished && c->pending == 0) {
		if (c->explaining) {
			/* the %{p} of exp= is known now */
			explain(c);
			continue;
		}
		f = top(c);
		if (!f->fetched)
			lookup(c, OP_RECORD, f->domain, DNS_T_TXT);
		else if (f->next < f->rec.nterms)
			term_start(c);
		else if (f->rec.redirect != NULL)
			redirect(c);
		else
			frame_result(c, SPF_NEUTRAL, "default", 7);
	}
}

static void
identity(struct spf_check *c, const char *helo, const char *mailfrom)
{
	const char *at = strrchr(mailfrom, '@');

	c->helo = xstrdup(helo ? helo : "");
	if (mailfrom[0] == '\0') {
		/* 2.4: MAIL FROM:<> is checked as postmaster@helo */
		c->id = SPF_ID_HELO;
		c->local = xstrdup("postmaster");
		c->sdomain = xstrdup(c->helo);
	} else if (at == NULL) {
		c->local = xstrdup("postmaster");
		c->sdomain = xstrdup(mailfrom);
	} else {
		c->local = at == mailfrom ? xstrdup("postmaster") :
		    xstrndup(mailfrom, (size_t)(at - mailfrom));
		c->sdomain = xstrdup(at + 1);
	}
	c->sender = xasprintf("%s@%s", c->local, c->sdomain);
	c->m.sender = c->sender;
	c->m.local = c->local;
	c->m.sender_domain = c->sdomain;
	c->m.helo = c->helo;
}

struct spf_check *
spf_check_start_req(const struct spf_request *req, spf_cb *cb, void *arg)
{
	struct spf_check *c = xcalloc(1, sizeof(*c));

	c->cb = cb;
	c->arg = arg;
	ev_timer_init(&c->done, spf_on_done, c);
	ev_timer_init(&c->deadline, spf_on_deadline, c);
	identity(c, req->helo, req->mailfrom ? req->mailfrom : "");
	(void)bstrcpy(c->receiver, spf_receiver, sizeof(c->receiver));
	c->m.receiver = c->receiver;
	c->m.now = req->now ? req->now : (uint64_t)time(NULL);
	if ((c->tracing = req->trace))
		c->trace = xcalloc(1, SPF_TRACE_MAX);
	if (!spf_parse_ip(req->ip ? req->ip : "", &c->m.family, c->m.ip)) {
		finish(c, SPF_NONE, "not an IP address: %.60s", req->ip ?
		    req->ip : "");
		return c;
	}
	inet_ntop(c->m.family, c->m.ip, c->ipstr, sizeof(c->ipstr));
	tracef(c, "check_host(%s, %s, %s) for %s", c->ipstr, c->sdomain,
	    c->sender, spf_identity_name(c->id));
	if (!spf_domain_ok(c->sdomain)) {
		finish(c, SPF_NONE, "not a domain name: %.80s", c->sdomain);
		return c;
	}
	c->fr[0] = xcalloc(1, sizeof(*c->fr[0]));
	(void)bstrcpy(c->fr[0]->domain, c->sdomain, sizeof(c->fr[0]->domain));
	ev_timer_add(&c->deadline, spf_timeout_ms);
	spf_run(c);
	return c;
}

struct spf_check *
spf_check_start(const char *ip, const char *helo, const char *mailfrom,
    spf_cb *cb, void *arg)
{
	struct spf_request req;

	memset(&req, 0, sizeof(req));
	req.ip = ip;
	req.helo = helo;
	req.mailfrom = mailfrom;
	return spf_check_start_req(&req, cb, arg);
}

void
spf_check_cancel(struct spf_check *c)
{
	int i;

	if (c == NULL || c->delivering)	/* from its callback: freed after */
		return;
	cancel_lookups(c);
	ev_timer_del(&c->done);
	ev_timer_del(&c->deadline);
	for (i = 0; i < SPF_DEPTH; i++)
		frame_free(&c->fr[i]);
	free(c->names);
	free(c->pnames);
	free(c->exp_text);
	free(c->trace);
	free(c->sender);
	free(c->local);
	free(c->sdomain);
	free(c->helo);
	free(c);
}
