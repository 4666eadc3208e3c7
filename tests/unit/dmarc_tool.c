/* SPDX-License-Identifier: ISC */
/*
 * dmarc_tool.c - test CLI for lib/dmarc*.c: runs DMARC checks through
 * the same discovery code the server uses, with lib/dns answering from a
 * zone file (a test backend), and prints one line per case.
 *
 *   dmarc_tool [-p PSLFILE] ZONE < cases
 *	ZONE: lines "NAME TXT..." (one TXT record each; repeat the line for
 *	more) or "NAME -TEMPFAIL-"; other names answer NXDOMAIN.
 *	cases: lines "FROM SPFPASS SPFDOMAIN DKIM[,DKIM...]|- SAMPLE"
 *	output: "RESULT POLICY REQUESTED spf=0|1 dkim=0|1 org=0|1" per case
 *
 * Exit 0 when it ran, 1 on failure, 2 on bad usage.  Not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dmarc.h"
#include "dns.h"
#include "ev.h"
#include "psl.h"

static FILE *zone;

static void
zone_query(void *ctx, const char *name, enum dns_type type,
    struct dns_answer *ans)
{
	char line[4096], *sp;
	bool any = false;

	rewind(zone);
	while (fgets(line, sizeof(line), zone) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((sp = strchr(line, ' ')) == NULL)
			continue;
		*sp++ = '\0';
		if (strcasecmp(line, name) != 0)
			continue;
		if (strcmp(sp, "-TEMPFAIL-") == 0) {
			dns_answer_status(ans, DNS_TEMPFAIL, 0);
			return;
		}
		if (type == DNS_T_TXT)
			dns_answer_add_txt(ans, 60, sp, strlen(sp));
		any = true;
	}
	if (!any || type != DNS_T_TXT)
		dns_answer_status(ans, any ? DNS_NODATA : DNS_NXDOMAIN, 60);
}

static void
on_dmarc(void *arg, const struct dmarc_result *r)
{
	printf("%s %s %s spf=%d dkim=%d org=%d\n", dmarc_res_name(r->result),
	    dmarc_policy_name(r->policy), dmarc_policy_name(r->requested),
	    r->spf_aligned, r->dkim_aligned, r->at_org);
	ev_break();
}

int
main(int argc, char **argv)
{
	static const struct dns_backend be = { zone_query, NULL };
	const char *pslpath = PSL_DEFAULT_PATH, *dk[16];
	char line[2048], from[300], spfd[300], dkims[1024], err[256], *p, *rest;
	unsigned spfpass, sample;
	struct dmarc_input in;
	struct psl *psl;
	int ch;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		if (ch != 'p') {
			fprintf(stderr, "usage: dmarc_tool [-p PSL] ZONE < cases\n");
			return 2;
		}
		pslpath = optarg;
	}
	if (optind + 1 != argc || (zone = fopen(argv[optind], "r")) == NULL) {
		fprintf(stderr, "usage: dmarc_tool [-p PSL] ZONE < cases\n");
		return 2;
	}
	if ((psl = psl_load(pslpath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	ev_init();
	dns_set_backend(&be);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (sscanf(line, "%299s %u %299s %1023s %u", from, &spfpass, spfd,
		    dkims, &sample) != 5)
			continue;
		memset(&in, 0, sizeof(in));
		in.from_domain = from;
		in.spf_pass = spfpass != 0;
		in.spf_domain = spfd;
		in.sample = sample;
		in.dkim_domains = dk;
		rest = strcmp(dkims, "-") ? dkims : NULL;
		while ((p = strsep(&rest, ",")) != NULL && in.ndkim < 16)
			dk[in.ndkim++] = p;
		if (dmarc_check_start(psl, &in, on_dmarc, NULL) == NULL)
			return 1;
		ev_run();
		fflush(stdout);
	}
	psl_free(&psl);
	fclose(zone);
	return 0;
}
