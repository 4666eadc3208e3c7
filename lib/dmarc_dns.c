/* SPDX-License-Identifier: ISC */
/*
 * dmarc_dns.c - DMARC policy discovery on lib/dns (RFC 7489 6.6.3): TXT at
 * _dmarc.<From domain>, then at _dmarc.<organizational domain>, then the
 * pure evaluation of dmarc.c.  See dmarc.h for the contract.
 *
 * Runs in the process that checks inbound mail, on its event loop; the
 * callback always comes from the loop.  Out of memory: NULL from start
 * (the caller treats it as temperror); nothing allocated afterwards.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "dmarc.h"
#include "dns.h"
#include "ev.h"
#include "psl.h"

#define DMARC_MAX_DKIM	16	/* passing d= kept; more add nothing */

struct dmarc_check {
	const struct psl *psl;
	struct dmarc_input in;
	char		 from[DMARC_NAME_MAX + 1];
	char		 spf[DMARC_NAME_MAX + 1];
	char		 dkim[DMARC_MAX_DKIM][DMARC_NAME_MAX + 1];
	const char	*dkimp[DMARC_MAX_DKIM];
	struct dns_query *q;
	struct ev_timer	 now;		/* an answer without DNS, from the loop */
	bool		 at_org;	/* asking the org domain */
	dmarc_cb	*cb;
	void		*arg;
	struct dmarc_result res;
};

/* finish - the callback, then free: c is gone when this returns */
static void
finish(struct dmarc_check *c)
{
	c->cb(c->arg, &c->res);
	ev_timer_del(&c->now);
	free(c);
}

static void
on_now(struct ev_timer *t, void *arg)
{
	finish(arg);
}

/* later - the result is known without (more) DNS: report from the loop */
static void
later(struct dmarc_check *c, enum dmarc_res r, const char *why)
{
	c->res.result = r;
	c->res.reason = why;
	c->res.policy = DMARC_POLICY_NONE;
	ev_timer_add(&c->now, 0);
}

static void	on_txt(void *arg, const struct dns_result *r);

static void
ask(struct dmarc_check *c, const char *domain)
{
	snprintf(c->res.record_domain, sizeof(c->res.record_domain), "_dmarc.%s",
	    domain);
	c->q = dns_lookup(c->res.record_domain, DNS_T_TXT, on_txt, c);
}

/* found - TXT records at the name asked: decide, or ask the org domain */
static void
found(struct dmarc_check *c, const struct dns_result *r)
{
	const char *txt[DNS_RR_MAX], *why;
	size_t len[DNS_RR_MAX], i, n = 0, idx = 0;
	struct dmarc_record rec;
	enum dmarc_parse p = DMARC_REC_NOT_DMARC;

	if (r->status == DNS_OK) {
		for (i = 0; i < r->nrr; i++)
			if (r->rr[i].type == DNS_T_TXT) {
				txt[n] = r->rr[i].data;
				len[n++] = r->rr[i].len;
			}
		p = dmarc_choose(txt, len, n, &rec, &idx, &why);
	}
	if (p == DMARC_REC_OK) {
		snprintf(c->res.record, sizeof(c->res.record), "%.*s",
		    (int)(len[idx] < sizeof(c->res.record) ? len[idx] :
		    sizeof(c->res.record) - 1), txt[idx]);
		dmarc_evaluate(c->psl, &c->in, &rec, c->at_org, &c->res);
		finish(c);
		return;
	}
	if (p == DMARC_REC_UNUSABLE) {
		dmarc_evaluate(c->psl, &c->in, NULL, c->at_org, &c->res);
		c->res.result = strcmp(why, "more than one DMARC record") == 0 ?
		    DMARC_RES_PERMERROR : DMARC_RES_NONE;
		c->res.reason = why;
		finish(c);
		return;
	}
	if (!c->at_org && strcmp(c->res.org_domain, c->from) != 0) {
		c->at_org = true;
		ask(c, c->res.org_domain);
		return;
	}
	dmarc_evaluate(c->psl, &c->in, NULL, c->at_org, &c->res);
	c->res.record_domain[0] = '\0';
	finish(c);
}

static void
on_txt(void *arg, const struct dns_result *r)
{
	struct dmarc_check *c = arg;

	c->q = NULL;
	if (r->status == DNS_TEMPFAIL) {
		dmarc_evaluate(c->psl, &c->in, NULL, c->at_org, &c->res);
		c->res.result = DMARC_RES_TEMPERROR;
		c->res.reason = "DNS failure while looking for a DMARC record";
		finish(c);
		return;
	}
	found(c, r);
}

/* copy_input - in into c, names lower-cased by psl/dmarc as needed */
static void
copy_input(struct dmarc_check *c, const struct dmarc_input *in)
{
	size_t i, n = 0;

	c->in = *in;
	snprintf(c->from, sizeof(c->from), "%s", in->from_domain ? in->from_domain : "");
	snprintf(c->spf, sizeof(c->spf), "%s", in->spf_domain ? in->spf_domain : "");
	for (i = 0; i < in->ndkim && n < DMARC_MAX_DKIM; i++) {
		if (in->dkim_domains[i] == NULL)
			continue;
		snprintf(c->dkim[n], sizeof(c->dkim[n]), "%s", in->dkim_domains[i]);
		c->dkimp[n] = c->dkim[n];
		n++;
	}
	c->in.from_domain = c->from;
	c->in.spf_domain = c->spf;
	c->in.dkim_domains = c->dkimp;
	c->in.ndkim = n;
}

struct dmarc_check *
dmarc_check_start(const struct psl *psl, const struct dmarc_input *in,
    dmarc_cb *cb, void *arg)
{
	struct dmarc_check *c;
	size_t len;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->psl = psl;
	c->cb = cb;
	c->arg = arg;
	ev_timer_init(&c->now, on_now, c);
	copy_input(c, in);
	len = strlen(c->from);
	if (len > 0 && c->from[len - 1] == '.')
		c->from[len - 1] = '\0';
	for (len = 0; c->from[len]; len++)
		if (c->from[len] >= 'A' && c->from[len] <= 'Z')
			c->from[len] += 'a' - 'A';
	snprintf(c->res.from_domain, sizeof(c->res.from_domain), "%s", c->from);
	if (!psl_org_domain(psl, c->from, c->res.org_domain,
	    sizeof(c->res.org_domain))) {
		later(c, DMARC_RES_PERMERROR, "no usable From domain");
		return c;
	}
	ask(c, c->from);
	return c;
}

void
dmarc_check_cancel(struct dmarc_check *c)
{
	if (c == NULL)
		return;
	dns_cancel(c->q);
	ev_timer_del(&c->now);
	free(c);
}
