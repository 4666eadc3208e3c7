/* SPDX-License-Identifier: ISC */
/*
 * doctor_ip.c - where this server is: its public address as a DNS "what
 * is my address" service sees it ([doctor] myip, OpenDNS's
 * myip.opendns.com by default), the A/AAAA records of `hostname` (a
 * dynamic address that changed), reverse DNS (PTR, forward-confirmed,
 * and the HELO name receivers compare it with), the usual DNSBLs; and
 * the MX records of each domain (CNAME targets, a backup at the same or
 * a better priority than ours; an MX named otherwise that resolves to
 * our address is ours).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "keytool/doctor.h"

/* the lists most receivers consult, when [doctor] dnsbl names none */
static const char *const default_dnsbl[] = {
	"zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org",
};

bool
doctor_ip_in(const char *ip, char list[][DOCTOR_IPLEN], size_t n)
{
	uint8_t a[16], b[16];
	int fa, fb;
	size_t i;

	fa = inet_pton(AF_INET, ip, a) == 1 ? AF_INET :
	    inet_pton(AF_INET6, ip, a) == 1 ? AF_INET6 : 0;
	for (i = 0; i < n; i++) {
		fb = inet_pton(AF_INET, list[i], b) == 1 ? AF_INET :
		    inet_pton(AF_INET6, list[i], b) == 1 ? AF_INET6 : 0;
		if (fa != 0 && fa == fb &&
		    memcmp(a, b, fa == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

/* zone_of - the local domain that name is in, for relative owners */
static const char *
zone_of(const struct conf *c, const char *name)
{
	size_t i, nl = strlen(name), zl;

	for (i = 0; i < c->ndomains; i++) {
		zl = strlen(c->domains[i]);
		if (dns_name_eq(name, c->domains[i]) || (nl > zl + 1 &&
		    name[nl - zl - 1] == '.' &&
		    dns_name_eq(name + nl - zl, c->domains[i])))
			return c->domains[i];
	}
	return name;
}

/*
 * ask_myip - the address of family fam that the "what is my address"
 * server of spec (NAME@HOST:PORT) answers; its status, DNS_NXDOMAIN for
 * "no" or no spec
 */
static enum dns_status
ask_myip(struct doctor *d, const char *spec, int fam, char *out,
    size_t outsz)
{
	const struct dns_result *r;
	struct dns_answer *ans;
	enum dns_status st;
	const char *at;
	char name[256];

	if (spec == NULL || strcmp(spec, "no") == 0 ||
	    (at = strchr(spec, '@')) == NULL)
		return DNS_NXDOMAIN;
	snprintf(name, sizeof(name), "%.*s", (int)(at - spec), spec);
	ans = doctor_query_at(d, at + 1, name, fam == AF_INET ? DNS_T_A :
	    DNS_T_AAAA);
	r = dns_answer_result(ans);
	st = r->status;
	if (st == DNS_OK && (r->nrr == 0 || r->rr[0].family != fam ||
	    inet_ntop(fam, r->rr[0].addr, out, (socklen_t)outsz) == NULL))
		st = DNS_NODATA;
	dns_answer_free(&ans);
	return st;
}

/*
 * say_myip - the line for one family's public address: key is "myip" or
 * "myip6", spec its value, what "" or "IPv6 "
 */
static void
say_myip(struct doctor *d, const char *key, const char *spec,
    const char *what, enum dns_status st, const char *ip, bool other_known)
{
	const char *at = spec != NULL && strcmp(spec, "no") != 0 ?
	    strchr(spec, '@') : NULL;

	if (at == NULL)
		return;
	if (st == DNS_OK)
		doctor_report(d, DOC_OK, "public %saddress: %s (asked %.*s at "
		    "%s)", what, ip, (int)(at - spec), spec, at + 1);
	else if (other_known)
		doctor_report(d, DOC_INFO, "public %saddress: none (%.*s at %s "
		    "gave %s: no %sconnectivity, or set [doctor] %s)",
		    what, (int)(at - spec), spec, at + 1, doctor_status(st),
		    what, key);
	else
		doctor_report(d, DOC_WARN, "public %saddress: %.*s at %s gave %s"
		    " - cannot compare it with the A/AAAA records; check that "
		    "the network lets DNS out, or set [doctor] %s", what,
		    (int)(at - spec), spec, at + 1, doctor_status(st), key);
}

/*
 * myip - the public IPv4 address ([doctor] myip, an A question) and IPv6
 * address ([doctor] myip6, an AAAA question, asked over IPv6: OpenDNS
 * answers the address the question came from); a warning only when
 * neither is known
 */
static void
myip(struct doctor *d)
{
	const struct conf *c = d->c;
	enum dns_status s4, s6;

	s4 = ask_myip(d, c->doctor.myip, AF_INET, d->ip, sizeof(d->ip));
	s6 = ask_myip(d, c->doctor.myip6, AF_INET6, d->ip6, sizeof(d->ip6));
	d->ip_known = s4 == DNS_OK;
	d->ip6_known = s6 == DNS_OK;
	say_myip(d, "myip", c->doctor.myip, "", s4, d->ip, d->ip6_known);
	say_myip(d, "myip6", c->doctor.myip6, "IPv6 ", s6, d->ip6,
	    d->ip_known);
}

/* fam_list - the addresses of family fam among list[n], "a b c" */
static size_t
fam_list(char list[][DOCTOR_IPLEN], size_t n, int fam, char *out,
    size_t outsz)
{
	size_t i, len = 0, k = 0;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if ((strchr(list[i], ':') != NULL) != (fam == AF_INET6))
			continue;
		k++;
		if (len < outsz)
			len += (size_t)snprintf(out + len, outsz - len, "%s%s",
			    len ? " " : "", list[i]);
	}
	return k;
}

/*
 * check_fam - the A (fam AF_INET) or AAAA records of hostname against the
 * public address of that family, ip
 */
static void
check_fam(struct doctor *d, int fam, const char *ip)
{
	const struct conf *c = d->c;
	const char *type = fam == AF_INET ? "A" : "AAAA";
	char fix[1024], list[DOCTOR_ADDRS * (DOCTOR_IPLEN + 1)];
	size_t n;

	n = fam_list(d->host_ip, d->nhost_ip, fam, list, sizeof(list));
	doctor_publish(fix, sizeof(fix), c->hostname, zone_of(c, c->hostname),
	    type, ip);
	if (n == 0 && fam == AF_INET)
		doctor_report(d, DOC_FAIL, "A %s: none, but this server's public"
		    " address is %s (senders without IPv6 cannot reach it) - "
		    "%s", c->hostname, ip, fix);
	else if (n == 0)
		doctor_report(d, c->relay.enabled ? DOC_INFO : DOC_WARN, "AAAA "
		    "%s: none, but this server has the public IPv6 address %s%s"
		    " - %s", c->hostname, ip, c->relay.enabled ? " (mail leaves"
		    " through the relay)" : ", and mail it sends over IPv6 "
		    "fails SPF (mx, a) and the reverse DNS check of receivers",
		    fix);
	else if (!doctor_ip_in(ip, d->host_ip, d->nhost_ip))
		doctor_report(d, DOC_FAIL, "%s %s: %s, but this server's public "
		    "%saddress is %s (a dynamic %s that changed?) - %s", type,
		    c->hostname, list, fam == AF_INET ? "" : "IPv6 ", ip,
		    fam == AF_INET ? "address" : "prefix", fix);
	else
		doctor_report(d, DOC_OK, "%s %s: %s (this server's public "
		    "address)", type, c->hostname, list);
}

static void
check_a(struct doctor *d)
{
	const struct conf *c = d->c;
	char fix[1024], list[DOCTOR_ADDRS * (DOCTOR_IPLEN + 1)] = "";
	enum dns_status st;
	size_t i, len;

	d->nhost_ip = doctor_addrs(d, c->hostname, d->host_ip, DOCTOR_ADDRS,
	    &st);
	for (i = 0, len = 0; i < d->nhost_ip && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
		    i ? " " : "", d->host_ip[i]);
	if (d->nhost_ip == 0) {
		doctor_publish(fix, sizeof(fix), c->hostname,
		    zone_of(c, c->hostname), d->ip_known || !d->ip6_known ?
		    "A" : "AAAA", d->ip_known ? d->ip : d->ip6_known ? d->ip6 :
		    "<this server's public address>");
		doctor_report(d, DOC_FAIL, "A/AAAA %s: %s - %s", c->hostname,
		    doctor_status(st), fix);
		return;
	}
	if (d->ip_known)
		check_fam(d, AF_INET, d->ip);
	if (d->ip6_known)
		check_fam(d, AF_INET6, d->ip6);
	if (!d->ip_known && !d->ip6_known) {
		doctor_report(d, DOC_OK, "A/AAAA %s: %s", c->hostname, list);
		snprintf(d->ip, sizeof(d->ip), "%s", d->host_ip[0]);
		d->ip_known = true;
		doctor_report(d, DOC_INFO, "public address unknown: checking %s "
		    "(the A record of %s) instead", d->ip, c->hostname);
	}
}

/* check_ptr - reverse DNS of our address ip, confirmed forward, and HELO */
static void
check_ptr(struct doctor *d, const char *ip)
{
	const struct conf *c = d->c;
	const struct dns_result *r;
	struct dns_answer *ans;
	char rev[80], fwd[DOCTOR_ADDRS][DOCTOR_IPLEN], name[256] = "";
	char confirmed[256] = "";
	enum doctor_verdict bad = c->relay.enabled ? DOC_INFO : DOC_FAIL;
	const char *why = c->relay.enabled ? " (mail leaves through the relay:"
	    " matters only for mail sent directly)" : "";
	enum dns_status st;
	uint8_t a[16];
	int fam;
	size_t i, n;

	fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, ip, a) != 1 ||
	    !dns_ptr_name(fam, a, rev, sizeof(rev)))
		return;
	ans = doctor_query(d, rev, DNS_T_PTR);
	r = dns_answer_result(ans);
	for (i = 0; r->status == DNS_OK && i < r->nrr; i++) {
		snprintf(name, sizeof(name), "%s", r->rr[i].data);
		n = doctor_addrs(d, name, fwd, DOCTOR_ADDRS, &st);
		if (doctor_ip_in(ip, fwd, n)) {
			snprintf(confirmed, sizeof(confirmed), "%s", name);
			if (dns_name_eq(name, c->hostname))
				break;
		}
	}
	if (r->status != DNS_OK)
		doctor_report(d, bad, "PTR %s: %s - receivers distrust an address"
		    " without reverse DNS%s; ask whoever gives you the address "
		    "(ISP, hosting) to set its reverse DNS to %s", ip,
		    doctor_status(r->status), why, c->hostname);
	else if (confirmed[0] == '\0')
		doctor_report(d, bad, "PTR %s: %s, which does not resolve back to"
		    " %s (not forward-confirmed)%s - publish: %s. IN %s %s, or "
		    "have the reverse DNS set to %s", ip, name, ip, why,
		    name, fam == AF_INET ? "A" : "AAAA", ip, c->hostname);
	else if (!dns_name_eq(confirmed, c->hostname))
		doctor_report(d, c->relay.enabled ? DOC_INFO : DOC_WARN, "PTR "
		    "%s: %s, but the server says HELO %s%s - have the reverse "
		    "DNS set to %s, or set hostname = %s", ip, confirmed,
		    c->hostname, why, c->hostname, confirmed);
	else
		doctor_report(d, DOC_OK, "PTR %s: %s, forward-confirmed, matches"
		    " HELO", ip, confirmed);
	dns_answer_free(&ans);
}

/* check_dnsbl - our address ip on each blocklist */
static void
check_dnsbl(struct doctor *d, const char *ip)
{
	const struct conf_list *l = &d->c->doctor.dnsbl;
	size_t n = l->n ? l->n : sizeof(default_dnsbl) /
	    sizeof(default_dnsbl[0]), i, listed = 0, zl;
	const struct dns_result *r;
	struct dns_answer *ans;
	char rev[80], q[400], zone[256], got[DOCTOR_IPLEN];
	uint8_t a[16];
	int fam;

	fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, ip, a) != 1 ||
	    !dns_ptr_name(fam, a, rev, sizeof(rev)))
		return;
	/* "4.3.2.1.in-addr.arpa" -> "4.3.2.1" */
	*strstr(rev, fam == AF_INET ? ".in-addr.arpa" : ".ip6.arpa") = '\0';
	for (i = 0; i < n; i++) {
		snprintf(zone, sizeof(zone), "%s", l->n ? l->v[i] :
		    default_dnsbl[i]);
		zl = strcspn(zone, "=*");
		zone[zl] = '\0';
		snprintf(q, sizeof(q), "%s.%s", rev, zone);
		ans = doctor_query(d, q, DNS_T_A);
		r = dns_answer_result(ans);
		if (r->status == DNS_OK) {
			inet_ntop(AF_INET, r->rr[0].addr, got, sizeof(got));
			/* 127.255.255.x: the list refuses this resolver */
			if (strncmp(got, "127.255.255.", 12) == 0)
				doctor_report(d, DOC_INFO, "DNSBL %s: refuses to "
				    "answer through this resolver (%s) - ask it "
				    "through your own resolver", zone, got);
			else {
				listed++;
				doctor_report(d, DOC_FAIL, "DNSBL %s lists %s "
				    "(%s) - receivers refuse its mail; ask the "
				    "list for removal (its web site says why it "
				    "is listed); a home or dynamic address stays "
				    "listed: send through a smarthost ([relay])",
				    zone, ip, got);
			}
		} else if (r->status == DNS_TEMPFAIL)
			doctor_report(d, DOC_INFO, "DNSBL %s: no answer", zone);
		dns_answer_free(&ans);
	}
	if (listed == 0)
		doctor_report(d, DOC_OK, "DNSBL: %s is on none of the %zu lists "
		    "checked", ip, n);
}

void
doctor_check_ip(struct doctor *d)
{
	myip(d);
	check_a(d);
	if (d->ip_known) {
		check_ptr(d, d->ip);
		check_dnsbl(d, d->ip);
	}
	if (d->ip6_known) {
		check_ptr(d, d->ip6);
		check_dnsbl(d, d->ip6);
	}
}

/* ours - is MX host `host` this server: its name, or one of our addresses */
static bool
ours(struct doctor *d, const char *host)
{
	char a[DOCTOR_ADDRS][DOCTOR_IPLEN];
	enum dns_status st;
	size_t n, i;

	if (dns_name_eq(host, d->c->hostname))
		return true;
	n = doctor_addrs(d, host, a, DOCTOR_ADDRS, &st);
	for (i = 0; i < n; i++)
		if ((d->ip_known && strcmp(a[i], d->ip) == 0) ||
		    (d->ip6_known && doctor_ip_in(a[i], &d->ip6, 1)) ||
		    doctor_ip_in(a[i], d->host_ip, d->nhost_ip))
			return true;
	return false;
}

void
doctor_check_backup_mx(struct doctor *d, const char *dom)
{
	const struct dns_result *r;
	struct dns_answer *ans;
	char list[512] = "", fix[1024], val[300], primary[256] = "";
	size_t len = 0, i;
	unsigned ourpref = 65536, best = 65536;

	snprintf(val, sizeof(val), "20 %s.", d->c->hostname);
	doctor_publish(fix, sizeof(fix), dom, dom, "MX", val);
	ans = doctor_query(d, dom, DNS_T_MX);
	r = dns_answer_result(ans);
	if (r->status != DNS_OK) {
		doctor_report(d, DOC_FAIL, "MX %s (backed up here): %s - its "
		    "owner must list its primary server and this one at a worse"
		    " preference; %s", dom, doctor_status(r->status), fix);
		dns_answer_free(&ans);
		return;
	}
	for (i = 0; i < r->nrr; i++) {
		const char *h = r->rr[i].data;

		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s (%u)", len ? ", " : "", h, r->rr[i].pref);
		if (ours(d, h)) {
			if (r->rr[i].pref < ourpref)
				ourpref = r->rr[i].pref;
		} else if (r->rr[i].pref < best) {
			best = r->rr[i].pref;
			snprintf(primary, sizeof(primary), "%s", h);
		}
	}
	if (ourpref == 65536)
		doctor_report(d, DOC_FAIL, "MX %s (backed up here): %s, none of"
		    " them this server - senders never try it as the backup; "
		    "%s", dom, list, fix);
	else if (primary[0] == '\0')
		doctor_report(d, DOC_FAIL, "MX %s (backed up here): this server"
		    " is its only MX, so its mail stays in our queue (a backup "
		    "hands mail only to a better MX) - its owner must list the "
		    "primary server with a lower number than %u", dom, ourpref);
	else if (best >= ourpref)
		doctor_report(d, DOC_FAIL, "MX %s (backed up here): its primary "
		    "%s has priority %u, %s ours (%u), so senders come here %s "
		    "and we keep that mail queued - give this server a higher "
		    "number: %s", dom, primary, best, best == ourpref ?
		    "the same as" : "worse than", ourpref, best == ourpref ?
		    "half the time" : "first", fix);
	else
		doctor_report(d, DOC_OK, "MX %s (backed up here): %s", dom,
		    list);
	dns_answer_free(&ans);
}

void
doctor_check_mx(struct doctor *d, const char *dom)
{
	const struct conf *c = d->c;
	const struct dns_result *r, *cr;
	struct dns_answer *ans, *cn;
	char list[512] = "", fix[1024], val[300], backup[256] = "";
	char target[256];
	size_t len = 0, i;
	bool any = false, cname = false;
	unsigned best = 65536, bpref = 0;

	snprintf(val, sizeof(val), "10 %s.", c->hostname);
	doctor_publish(fix, sizeof(fix), dom, dom, "MX", val);
	ans = doctor_query(d, dom, DNS_T_MX);
	r = dns_answer_result(ans);
	if (r->status != DNS_OK) {
		doctor_report(d, DOC_FAIL, "MX %s: %s - %s", dom,
		    doctor_status(r->status), fix);
		dns_answer_free(&ans);
		return;
	}
	for (i = 0; i < r->nrr; i++) {
		const char *h = r->rr[i].data;

		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s (%u)", len ? ", " : "", h, r->rr[i].pref);
		cn = doctor_query(d, h, DNS_T_CNAME);
		cr = dns_answer_result(cn);
		snprintf(target, sizeof(target), "%s", cr->status == DNS_OK ?
		    cr->rr[0].data : h);
		if (cr->status == DNS_OK) {
			cname = true;
			doctor_report(d, DOC_FAIL, "MX %s: %s is a CNAME (to %s); "
			    "an MX must name a host with its own A/AAAA record "
			    "(RFC 2181 10.3, RFC 5321 5.1) and some senders "
			    "refuse it - point the MX at %s instead", dom, h,
			    cr->rr[0].data, cr->rr[0].data);
		}
		dns_answer_free(&cn);
		if (ours(d, target)) {
			any = true;
			if (r->rr[i].pref < best)
				best = r->rr[i].pref;
		}
	}
	for (i = 0; any && i < r->nrr; i++)
		if (!ours(d, r->rr[i].data) && r->rr[i].pref <= best &&
		    backup[0] == '\0') {
			snprintf(backup, sizeof(backup), "%s", r->rr[i].data);
			bpref = r->rr[i].pref;
		}
	if (!any)
		doctor_report(d, DOC_WARN, "MX %s: %s, none of them this server "
		    "(%s) - mail for %s does not come here unless that host "
		    "forwards it; %s", dom, list, c->hostname, dom, fix);
	else if (backup[0] != '\0')
		doctor_report(d, DOC_WARN, "MX %s: the backup MX %s has "
		    "priority %u, %s ours (%u): senders deliver to it %s, and a"
		    " backup often lacks our spam checks - give ours the lowest"
		    " number: %s, and the backup a higher one (MX 20 %s.)",
		    dom, backup, bpref, bpref == best ? "the same as" :
		    "better than", best, bpref == best ? "half the time" :
		    "first", fix, backup);
	else if (!cname)
		doctor_report(d, DOC_OK, "MX %s: %s", dom, list);
	dns_answer_free(&ans);
}
