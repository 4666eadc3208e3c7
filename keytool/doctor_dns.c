/* SPDX-License-Identifier: ISC */
/*
 * doctor_dns.c - DNS for `facteur-keytool doctor`, one question at a time:
 * c-ares queries waited for with dns_wait(), answers read by lib/dns's own
 * parser (dns_answer_parse), so the doctor sees names exactly as the
 * daemons do.  The same function is lib/dns's backend while lib/spf runs,
 * and can answer one name's TXT with a record being tried (d->over_name),
 * so a proposed SPF record is evaluated before it is printed.
 *
 * Runs in facteur-keytool (the administrator); talks only to the resolver
 * and, for the public address, to the [doctor] myip server.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dns_wait.h"
#include "ev.h"
#include "xmem.h"
#include "keytool/doctor.h"

static bool ev_ready;

struct wait {
	bool			 done;
	struct dns_answer	*ans;
	enum dns_type		 type;
};

static void
on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct wait *w = arg;

	(void)timeouts;
	w->done = true;
	if (abuf != NULL && alen > 0)
		dns_answer_parse(w->ans, w->type, abuf, (size_t)alen);
	else if (status == ARES_ENOTFOUND)
		dns_answer_status(w->ans, DNS_NXDOMAIN, 0);
	else if (status == ARES_ENODATA)
		dns_answer_status(w->ans, DNS_NODATA, 0);
	else if (status == ARES_EBADNAME || status == ARES_EBADRESP)
		dns_answer_status(w->ans, DNS_FORMERR, 0);
	else
		dns_answer_status(w->ans, DNS_TEMPFAIL, 0);
}

/* ask - one question on ch into ans, waited for */
static void
ask(ares_channel ch, const char *name, enum dns_type type,
    struct dns_answer *ans)
{
	struct wait w = { false, ans, type };

	ares_query(ch, name, ns_c_in, (int)type, on_ares, &w);
	dns_wait(ch, &w.done);
	if (!w.done)
		dns_answer_status(ans, DNS_TEMPFAIL, 0);
}

static int
channel(ares_channel *ch, unsigned timeout_ms, unsigned tries,
    const char *csv)
{
	struct ares_options o;
	int st;

	memset(&o, 0, sizeof(o));
	o.timeout = (int)timeout_ms;
	o.tries = tries ? (int)tries : 2;
	o.flags = ARES_FLAG_NOSEARCH;
	if ((st = ares_init_options(ch, &o, ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES | ARES_OPT_FLAGS)) != ARES_SUCCESS)
		return st;
	if (csv != NULL && (st = ares_set_servers_ports_csv(*ch, csv)) !=
	    ARES_SUCCESS) {
		ares_destroy(*ch);
		return st;
	}
	return ARES_SUCCESS;
}

/* fill - the backend: overlay first, else the resolver */
static void
fill(void *ctx, const char *name, enum dns_type type, struct dns_answer *ans)
{
	struct doctor *d = ctx;

	if (type == DNS_T_TXT && d->over_name != NULL &&
	    dns_name_eq(name, d->over_name)) {
		dns_answer_add_txt(ans, 60, d->over_txt, strlen(d->over_txt));
		return;
	}
	ask(d->ch, name, type, ans);
}

int
doctor_dns_init(struct doctor *d, char *desc, size_t descsz)
{
	const struct conf *c = d->c;
	char csv[300];
	int st;

	if ((st = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		fprintf(stderr, "doctor: c-ares: %s\n", ares_strerror(st));
		return -1;
	}
	if (c->dns.resolver_set) {
		if (!conf_addr_format(&c->dns.resolver, csv, sizeof(csv)))
			return -1;
		snprintf(desc, descsz, "%s ([dns] resolver)", csv);
	} else
		snprintf(desc, descsz, "the system resolver (/etc/resolv.conf)");
	if ((st = channel(&d->ch, d->timeout_ms, d->tries, c->dns.resolver_set ?
	    csv : NULL)) != ARES_SUCCESS) {
		fprintf(stderr, "doctor: DNS resolver: %s\n", ares_strerror(st));
		return -1;
	}
	if (!ev_ready) {	/* once per process */
		ev_init();
		ev_ready = true;
	}
	return 0;
}

void
doctor_dns_free(struct doctor *d)
{
	dns_set_backend(NULL);
	ares_destroy(d->ch);
	ares_library_cleanup();
}

struct dns_answer *
doctor_query(struct doctor *d, const char *name, enum dns_type type)
{
	struct dns_answer *ans = dns_answer_new(name, type);

	fill(d, name, type, ans);
	return ans;
}

struct dns_answer *
doctor_query_at(struct doctor *d, const char *server, const char *name,
    enum dns_type type)
{
	struct dns_answer *ans = dns_answer_new(name, type);
	ares_channel ch;

	/* one try: a public service the network may not let us reach */
	if (channel(&ch, d->timeout_ms, 1, server) != ARES_SUCCESS) {
		dns_answer_status(ans, DNS_TEMPFAIL, 0);
		return ans;
	}
	ask(ch, name, type, ans);
	ares_destroy(ch);
	return ans;
}

size_t
doctor_addrs(struct doctor *d, const char *name, char out[][DOCTOR_IPLEN],
    size_t max, enum dns_status *st_r)
{
	static const enum dns_type types[] = { DNS_T_A, DNS_T_AAAA };
	const struct dns_result *r;
	struct dns_answer *ans;
	size_t n = 0, i, t;
	enum dns_status st[2];

	for (t = 0; t < 2; t++) {
		ans = doctor_query(d, name, types[t]);
		r = dns_answer_result(ans);
		st[t] = r->status;
		for (i = 0; i < r->nrr && n < max; i++)
			if (inet_ntop(r->rr[i].family, r->rr[i].addr, out[n],
			    DOCTOR_IPLEN) != NULL)
				n++;
		dns_answer_free(&ans);
	}
	if (n > 0)
		*st_r = DNS_OK;
	else if (st[0] == DNS_TEMPFAIL || st[1] == DNS_TEMPFAIL)
		*st_r = DNS_TEMPFAIL;
	else
		*st_r = st[0];
	return n;
}

char **
doctor_txt(struct doctor *d, const char *name, enum dns_status *st_r)
{
	const struct dns_result *r;
	struct dns_answer *ans;
	char **v = NULL;
	size_t i;

	ans = doctor_query(d, name, DNS_T_TXT);
	r = dns_answer_result(ans);
	*st_r = r->status;
	if (r->status == DNS_OK) {
		v = xcalloc(r->nrr + 1, sizeof(*v));
		for (i = 0; i < r->nrr; i++)
			v[i] = xstrndup(r->rr[i].data, r->rr[i].len);
	}
	dns_answer_free(&ans);
	return v;
}

void
doctor_strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

const char *
doctor_status(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "found";
	case DNS_NXDOMAIN:
		return "no such name";
	case DNS_NODATA:
		return "no record";
	case DNS_TEMPFAIL:
		return "no answer (timeout or SERVFAIL)";
	default:
		return "a malformed name or answer";
	}
}

struct spf_wait {
	struct doctor_spf	*r;
	bool			 done;
};

static void
on_spf(void *arg, const struct spf_result *res)
{
	struct spf_wait *w = arg;

	w->r->result = res->result;
	snprintf(w->r->mechanism, sizeof(w->r->mechanism), "%s",
	    res->mechanism);
	snprintf(w->r->problem, sizeof(w->r->problem), "%s", res->problem);
	w->done = true;
	ev_break();
}

void
doctor_spf_eval(struct doctor *d, const char *ip, const char *domain,
    struct doctor_spf *r)
{
	struct dns_backend b = { fill, d };
	struct spf_request req;
	struct spf_wait w = { r, false };
	char from[300];

	memset(r, 0, sizeof(*r));
	r->result = SPF_TEMPERROR;
	snprintf(from, sizeof(from), "postmaster@%s", domain);
	dns_set_backend(&b);
	dns_cache_flush();		/* the overlay changes answers */
	memset(&req, 0, sizeof(req));
	req.ip = ip;
	req.mailfrom = from;
	req.helo = d->c->hostname;
	(void)spf_check_start_req(&req, on_spf, &w);
	while (!w.done)
		if (ev_run() == -1)
			break;
	dns_cache_flush();
	dns_set_backend(NULL);
}
