/* SPDX-License-Identifier: ISC */
/*
 * dkim_verify_dns.c - the DNS part of DKIM verification: fetch the key
 * record (`s._domainkey.d` TXT) of every signature that needs one through
 * lib/dns (its TTL cache, its resolver or test backend), one query per
 * distinct name, and hand each answer to dkim_verify_set_key().
 *
 * Runs in whatever process verifies (the event loop of that process);
 * the callback is always called from the loop, never from inside
 * dkim_verify_start_lookups().  Out of memory: -1 from start (nothing
 * under way); after that it allocates nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_verify_int.h"
#include "dkim_vsig.h"
#include "dns.h"
#include "ev.h"

struct dkim_lookup {
	struct dkim_lookups *lk;
	struct dns_query *q;		/* NULL once answered */
	const char	*name;		/* a signature's keyname */
};

struct dkim_lookups {
	struct dkim_verify *v;
	dkim_verify_cb	*cb;
	void		*arg;
	struct ev_timer	 none;		/* nothing to fetch: cb from the loop */
	size_t		 n, pending;
	struct dkim_lookup l[];
};

static void
lookups_cancel(struct dkim_verify *v)
{
	struct dkim_lookups *lk = v->lk;
	size_t i;

	if (lk == NULL)
		return;
	for (i = 0; i < lk->n; i++)
		dns_cancel(lk->l[i].q);
	ev_timer_del(&lk->none);
	free(lk);
	v->lk = NULL;
}

/* done - every answer is in: the callback, last (it may free v) */
static void
done(struct dkim_lookups *lk)
{
	lk->cb(lk->arg, lk->v);
}

static void
on_none(struct ev_timer *t, void *arg)
{
	done(arg);
}

static void
on_txt(void *arg, const struct dns_result *r)
{
	struct dkim_lookup *l = arg;
	struct dkim_lookups *lk = l->lk;
	struct dkim_verify *v = lk->v;
	const char *txt[DNS_RR_MAX];
	size_t len[DNS_RR_MAX], i, n = 0;
	enum dkim_key_answer a;
	const char *name;

	l->q = NULL;
	if (r->status == DNS_OK) {
		a = DKIM_KEY_FOUND;
		for (i = 0; i < r->nrr && n < DNS_RR_MAX; i++)
			if (r->rr[i].type == DNS_T_TXT) {
				txt[n] = r->rr[i].data;
				len[n++] = r->rr[i].len;
			}
	} else if (r->status == DNS_TEMPFAIL)
		a = DKIM_KEY_TEMPFAIL;
	else
		a = DKIM_KEY_NONE;	/* NXDOMAIN, NODATA, a name we cannot ask */
	for (i = 0; i < v->nsigs; i++) {
		name = dkim_verify_key_name(v, i);
		if (name != NULL && strcasecmp(name, l->name) == 0)
			dkim_verify_set_key(v, i, a, txt, len, n);
	}
	if (--lk->pending == 0)
		done(lk);
}

int
dkim_verify_start_lookups(struct dkim_verify *v, dkim_verify_cb *cb, void *arg)
{
	struct dkim_lookups *lk;
	const char *name;
	size_t i, j, n;

	if (v->lk != NULL || !v->ended)
		return -1;
	if ((lk = calloc(1, sizeof(*lk) + v->nsigs * sizeof(lk->l[0]))) == NULL)
		return -1;
	lk->v = v;
	lk->cb = cb;
	lk->arg = arg;
	ev_timer_init(&lk->none, on_none, lk);
	v->lk = lk;
	v->lk_cancel = lookups_cancel;
	for (i = 0; i < v->nsigs; i++) {
		if ((name = dkim_verify_key_name(v, i)) == NULL)
			continue;
		for (j = 0; j < lk->n; j++)
			if (strcasecmp(lk->l[j].name, name) == 0)
				break;
		if (j < lk->n)
			continue;	/* asked already */
		lk->l[lk->n].lk = lk;
		lk->l[lk->n].name = name;
		lk->n++;
	}
	n = lk->pending = lk->n;
	if (n == 0) {
		ev_timer_add(&lk->none, 0);
		return 0;
	}
	/* dns_lookup never calls back from inside itself */
	for (j = 0; j < n; j++)
		lk->l[j].q = dns_lookup(lk->l[j].name, DNS_T_TXT, on_txt, &lk->l[j]);
	return 0;
}
