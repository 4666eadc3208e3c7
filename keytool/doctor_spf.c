/* SPDX-License-Identifier: ISC */
/*
 * doctor_spf.c - SPF as receivers evaluate it (lib/spf, RFC 7208): every
 * address that sends mail for a domain must get `pass` for MAIL FROM
 * postmaster@DOMAIN: this server's public address, and with [relay] the
 * smarthost's addresses.  A permerror (an include with no record behind
 * it, more than 10 lookups, two records) fails everything.
 *
 * The fix printed is a record that passes, tried before it is printed:
 * the published record with dead includes removed and, for each address
 * that does not pass, the first of a few terms that makes it pass ("mx",
 * "a:HOST", "include:PROVIDER", then the literal address), each
 * evaluated with the record overlaid on the domain's TXT
 * (doctor_dns.c).  When the published record cannot be repaired (the
 * lookup limit), a minimal one is built the same way.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "conf.h"
#include "xmem.h"
#include "keytool/doctor.h"

#define SENDERS		(DOCTOR_ADDRS + 2)
#define REC_MAX		2048
/*
 * an address no record lists (RFC 1112 class E): evaluating it walks the
 * whole record, so a dead include or the lookup limit behind a term that
 * matches our own address still shows
 */
#define NOBODY_IP	"240.0.0.1"

struct sender {
	char	 ip[DOCTOR_IPLEN];
	char	 what[300];
	bool	 relay;
};

static bool
is_spf(const char *s)
{
	return strncasecmp(s, "v=spf1", 6) == 0 && (s[6] == ' ' || s[6] == '\0');
}

/* has_spf - does name publish a v=spf1 record */
static bool
has_spf(struct doctor *d, const char *name)
{
	enum dns_status st;
	char **v = doctor_txt(d, name, &st);
	bool any = false;
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		any = any || is_spf(v[i]);
	doctor_strv_free(v);
	return any || st == DNS_TEMPFAIL;
}

/* relay_parent - "provider.example" of "smtp.provider.example" */
static const char *
relay_parent(const char *host)
{
	const char *dot = strchr(host, '.');

	if (dot != NULL && strchr(dot + 1, '.') != NULL)
		return dot + 1;
	return host;
}

static size_t
senders(struct doctor *d, struct sender *s)
{
	const struct conf *c = d->c;
	char a[DOCTOR_ADDRS][DOCTOR_IPLEN];
	enum dns_status st;
	uint8_t bin[16];
	size_t n = 0, na, i;

	if (d->ip_known) {
		snprintf(s[n].ip, sizeof(s[n].ip), "%s", d->ip);
		snprintf(s[n].what, sizeof(s[n].what), "this server");
		s[n++].relay = false;
	}
	if (d->ip6_known) {
		snprintf(s[n].ip, sizeof(s[n].ip), "%s", d->ip6);
		snprintf(s[n].what, sizeof(s[n].what), "this server");
		s[n++].relay = false;
	}
	if (!c->relay.enabled)
		return n;
	if (inet_pton(AF_INET, c->relay.host, bin) == 1 ||
	    inet_pton(AF_INET6, c->relay.host, bin) == 1) {
		snprintf(a[0], sizeof(a[0]), "%s", c->relay.host);
		na = 1;
	} else
		na = doctor_addrs(d, c->relay.host, a, DOCTOR_ADDRS, &st);
	for (i = 0; i < na && n < SENDERS; i++) {
		(void)bstrcpy(s[n].ip, a[i], sizeof(s[n].ip));
		snprintf(s[n].what, sizeof(s[n].what), "the smarthost %s",
		    c->relay.host);
		s[n++].relay = true;
	}
	return n;
}

static enum spf_res
eval_rec(struct doctor *d, const char *dom, const char *rec, const char *ip)
{
	struct doctor_spf r;

	d->over_name = dom;
	d->over_txt = rec;
	doctor_spf_eval(d, ip, dom, &r);
	d->over_name = d->over_txt = NULL;
	return r.result;
}

static bool
eval_pass(struct doctor *d, const char *dom, const char *rec, const char *ip)
{
	return eval_rec(d, dom, rec, ip) == SPF_PASS;
}

/* candidates - terms that may make ip pass, best first; NULL-terminated */
static void
candidates(struct doctor *d, const struct sender *s, char t[4][300])
{
	const struct conf *c = d->c;
	bool v6 = strchr(s->ip, ':') != NULL;
	size_t n = 0;

	if (!s->relay) {
		snprintf(t[n++], 300, "mx");
		snprintf(t[n++], 300, "a:%s", c->hostname);
	} else {
		if (strcmp(relay_parent(c->relay.host), c->relay.host) != 0 &&
		    has_spf(d, relay_parent(c->relay.host)))
			snprintf(t[n++], 300, "include:%s",
			    relay_parent(c->relay.host));
		snprintf(t[n++], 300, "a:%s", c->relay.host);
	}
	snprintf(t[n++], 300, "%s:%s", v6 ? "ip6" : "ip4", s->ip);
	t[n][0] = '\0';
}

static bool
keep_include(void *arg, const char *domain)
{
	return strchr(domain, '%') != NULL || has_spf(arg, domain);
}

/* build - from rec, add terms until every sender passes; false if not */
static bool
build(struct doctor *d, const char *dom, const char *rec, struct sender *s,
    size_t n, char *out, size_t outsz)
{
	char cur[REC_MAX], next[REC_MAX], t[4][300];
	size_t i, k;

	snprintf(cur, sizeof(cur), "%s", rec);
	for (i = 0; i < n; i++) {
		if (eval_pass(d, dom, cur, s[i].ip))
			continue;
		candidates(d, &s[i], t);
		for (k = 0; t[k][0] != '\0'; k++) {
			doctor_spf_insert(cur, t[k], next, sizeof(next));
			if (eval_pass(d, dom, next, s[i].ip)) {
				snprintf(cur, sizeof(cur), "%s", next);
				break;
			}
		}
		if (t[k][0] == '\0')
			return false;
	}
	for (i = 0; i < n; i++)
		if (!eval_pass(d, dom, cur, s[i].ip))
			return false;
	if (eval_rec(d, dom, cur, NOBODY_IP) == SPF_PERMERROR)
		return false;
	snprintf(out, outsz, "%s", cur);
	return true;
}

static void
fix_line(struct doctor *d, const char *dom, const char *rec, struct sender *s,
    size_t n, char *out, size_t outsz)
{
	char fixed[REC_MAX], base[64];

	snprintf(base, sizeof(base), "v=spf1 mx %s", d->c->relay.enabled ?
	    "~all" : "-all");
	if (rec != NULL)
		doctor_spf_drop(rec, keep_include, d, fixed, sizeof(fixed));
	if ((rec != NULL && build(d, dom, fixed, s, n, fixed, sizeof(fixed))) ||
	    build(d, dom, base, s, n, fixed, sizeof(fixed)))
		doctor_publish(out, outsz, dom, dom, "TXT", fixed);
	else
		snprintf(out, outsz, "no record tried gives pass; list the "
		    "sending addresses with ip4:/ip6: terms");
}

void
doctor_check_spf(struct doctor *d, const char *dom)
{
	struct sender s[SENDERS];
	struct doctor_spf r;
	enum dns_status st;
	char **v, fix[REC_MAX + 1024], why[1024] = "";
	const char *rec = NULL;
	size_t i, nrec = 0, ns, len = 0;
	bool plusall = false;

	ns = senders(d, s);
	v = doctor_txt(d, dom, &st);
	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (is_spf(v[i])) {
			nrec++;
			rec = v[i];
		}
	if (st == DNS_TEMPFAIL) {
		doctor_report(d, DOC_FAIL, "SPF %s: cannot query TXT: %s", dom,
		    doctor_status(st));
		doctor_strv_free(v);
		return;
	}
	for (i = 0; i < ns; i++) {
		doctor_spf_eval(d, s[i].ip, dom, &r);
		if (r.result == SPF_PASS || len >= sizeof(why))
			continue;
		len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s (%s)"
		    " gets %s%s%s", len ? "; " : "", s[i].ip, s[i].what,
		    spf_result_name(r.result), r.problem[0] ? ": " :
		    r.mechanism[0] ? " by " : "", r.problem[0] ? r.problem :
		    r.mechanism);
	}
	if (nrec == 1 && len == 0) {
		doctor_spf_eval(d, NOBODY_IP, dom, &r);
		if (r.result == SPF_PERMERROR)
			len += (size_t)snprintf(why, sizeof(why), "an address it "
			    "does not list gets permerror: %s", r.problem);
	}
	if (rec != NULL)
		plusall = strstr(rec, "+all") != NULL ||
		    strcasecmp(rec + strlen(rec) - (strlen(rec) > 4 ? 4 : 0),
		    " all") == 0;
	if (nrec == 0 || nrec > 1 || len > 0)
		fix_line(d, dom, nrec == 1 ? rec : NULL, s, ns, fix, sizeof(fix));
	if (nrec == 0)
		doctor_report(d, DOC_FAIL, "SPF %s: no v=spf1 record - %s", dom,
		    fix);
	else if (nrec > 1)
		doctor_report(d, DOC_FAIL, "SPF %s: %zu v=spf1 records, a "
		    "permerror for every receiver (RFC 7208 4.5) - keep one: %s",
		    dom, nrec, fix);
	else if (len > 0)
		doctor_report(d, DOC_FAIL, "SPF %s: \"%s\": %s - %s", dom, rec,
		    why, fix);
	else if (plusall)
		doctor_report(d, DOC_WARN, "SPF %s: \"%s\" allows everyone (+all)"
		    " - end it with -all (or ~all with a smarthost)", dom, rec);
	else if (ns == 0)
		doctor_report(d, DOC_WARN, "SPF %s: \"%s\" - not evaluated: this "
		    "server's address is unknown", dom, rec);
	else {
		len = 0;
		for (i = 0; i < ns && len < sizeof(why); i++)
			len += (size_t)snprintf(why + len, sizeof(why) - len,
			    "%s%s", i ? ", " : "", s[i].ip);
		doctor_report(d, DOC_OK, "SPF %s: \"%s\" passes for %s", dom, rec,
		    why);
	}
	doctor_strv_free(v);
}

bool
doctor_spf_relay(const struct conf *c, const char *dom, char *out,
    size_t outsz)
{
	struct sender s[SENDERS];
	struct doctor d;
	char desc[400];
	bool ok;
	size_t n;

	memset(&d, 0, sizeof(d));
	d.c = c;
	d.timeout_ms = 1000;
	d.tries = 1;
	if (doctor_dns_init(&d, desc, sizeof(desc)) == -1)
		return false;
	n = senders(&d, s);
	ok = n > 0 && build(&d, dom, "v=spf1 mx ~all", s, n, out, outsz);
	doctor_dns_free(&d);
	return ok;
}
