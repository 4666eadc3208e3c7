/* SPDX-License-Identifier: ISC */
/*
 * keytool_dmarc.c - `facteur-keytool dmarc DOMAIN`: the organizational
 * domain of DOMAIN (RFC 7489 3.2, from the Public Suffix List of
 * [inbound] psl), the DMARC record that applies to mail whose From is in
 * DOMAIN and where it was found (_dmarc.DOMAIN, else _dmarc.<org domain>),
 * and the policy such mail gets when it fails DMARC: p=, or sp= for a
 * subdomain that has no record of its own, with pct=.  lib/psl.c and
 * lib/dmarc*.c over lib/dns: the code the server runs, through [dns]
 * resolver (else /etc/resolv.conf).
 *
 * Runs as whoever calls it; reads the configuration and the list; talks
 * only to the resolver.  Exit status: 0 when the lookup ran (whatever it
 * found), 1 on a DNS failure or when the list or the resolver cannot be
 * used, 2 on bad arguments.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "dmarc.h"
#include "dns.h"
#include "ev.h"
#include "psl.h"
#include "keytool/keytool.h"

struct dmarc_out {
	const struct psl *psl;
	int		 rc;
};

static void
print_record(const struct dmarc_result *r)
{
	const struct dmarc_record *rec = &r->rec;

	printf("record:         %s%s\n", r->record_domain, r->at_org ?
	    " (organizational domain; sp= applies to subdomains)" : "");
	printf("                \"%s\"\n", r->record);
	printf("policy:         %s%s\n", dmarc_policy_name(r->requested),
	    rec->p_repaired ? " (p= or sp= invalid, rua= given: taken as none,"
	    " RFC 7489 6.6.3)" : r->at_org && rec->has_sp ? " (sp=)" : " (p=)");
	if (rec->pct < 100)
		printf("pct:            %u (the other %u%% of failing mail gets "
		    "%s)\n", rec->pct, 100 - rec->pct,
		    r->requested == DMARC_POLICY_REJECT ? "quarantine" : "none");
	printf("alignment:      adkim=%s aspf=%s\n", rec->adkim_strict ?
	    "s (strict)" : "r (relaxed)", rec->aspf_strict ? "s (strict)" :
	    "r (relaxed)");
	printf("failing mail:   %s\n", r->requested == DMARC_POLICY_REJECT ?
	    "refused (550 5.7.1)" : r->requested == DMARC_POLICY_QUARANTINE ?
	    "delivered to the Junk folder" : "delivered, marked dmarc=fail");
}

static void
on_dmarc(void *arg, const struct dmarc_result *r)
{
	struct dmarc_out *o = arg;
	char ps[PSL_NAME_MAX + 1];

	printf("domain:         %s\n", r->from_domain);
	if (psl_public_suffix(o->psl, r->from_domain, ps, sizeof(ps)))
		printf("public suffix:  %s\n", ps);
	printf("organizational: %s\n", r->org_domain);
	o->rc = KEYTOOL_OK;
	switch (r->result) {
	case DMARC_RES_TEMPERROR:
		printf("record:         unknown: %s (%s)\n", r->reason,
		    r->record_domain);
		o->rc = KEYTOOL_FAIL;
		break;
	case DMARC_RES_PERMERROR:
	case DMARC_RES_NONE:
		if (r->has_record || r->record_domain[0] != '\0')
			printf("record:         %s: %s\n", r->record_domain, r->reason);
		else
			printf("record:         none at _dmarc.%s%s%s\n", r->from_domain,
			    strcmp(r->from_domain, r->org_domain) ? " nor _dmarc." : "",
			    strcmp(r->from_domain, r->org_domain) ? r->org_domain : "");
		printf("policy:         none: no DMARC processing; SPF and DKIM "
		    "results are only recorded\n");
		break;
	default:
		print_record(r);
	}
	ev_break();
}

int
keytool_cmd_dmarc(const struct conf *c, int argc, char **argv)
{
	struct dmarc_input in = { 0 };
	struct dmarc_out o = { NULL, KEYTOOL_FAIL };
	struct psl *psl;
	char err[512];

	if (argc != 2)
		return keytool_bad_arg("dmarc", argc < 2 ? NULL : argv[2]);
	if ((psl = psl_load(c->inbound.psl, err, sizeof(err))) == NULL) {
		fprintf(stderr, "facteur-keytool: dmarc: %s (see [inbound] psl "
		    "in %s)\n", err, c->file);
		return KEYTOOL_FAIL;
	}
	ev_init();
	if (dns_init(c->dns.resolver_set ? &c->dns.resolver : NULL) == -1) {
		fprintf(stderr, "facteur-keytool: dmarc: no DNS resolver (see "
		    "[dns] resolver in %s)\n", c->file);
		psl_free(&psl);
		return KEYTOOL_FAIL;
	}
	o.psl = psl;
	in.from_domain = argv[1];
	if (dmarc_check_start(psl, &in, on_dmarc, &o) != NULL)
		(void)ev_run();
	dns_shutdown();
	psl_free(&psl);
	return o.rc;
}
