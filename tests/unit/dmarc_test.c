/* SPDX-License-Identifier: ISC */
/*
 * dmarc_test.c - unit tests of lib/dmarc.c and lib/dmarc_dns.c: record
 * parsing (table, RFC 7489 6.3 and the 6.6.3 repair rules), choosing among
 * TXT records, alignment, pct, and discovery through lib/dns with a
 * zone-table backend (From domain, organizational domain with sp=,
 * temperror, several records).  The large cross-check against a Python
 * reference is tests/integration/test_dmarc.py.
 */
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "dns.h"
#include "ev.h"
#include "psl.h"
#include "t.h"

static const struct {
	const char	*txt;
	enum dmarc_parse want;
	enum dmarc_policy p, sp;
	bool		 astrict, sstrict;
	unsigned	 pct;
} parse_cases[] = {
	{ "v=DMARC1; p=reject", DMARC_REC_OK, DMARC_POLICY_REJECT,
	    DMARC_POLICY_REJECT, false, false, 100 },
	{ "v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=s;pct=20", DMARC_REC_OK,
	    DMARC_POLICY_QUARANTINE, DMARC_POLICY_NONE, true, true, 20 },
	{ "v = DMARC1 ; P = Reject ; SP=Quarantine ; ", DMARC_REC_OK,
	    DMARC_POLICY_REJECT, DMARC_POLICY_QUARANTINE, false, false, 100 },
	{ "v=DMARC1; p=none; rua=mailto:d@example.org; ruf=mailto:f@x; fo=1; "
	    "rf=afrf; ri=3600; foo=bar; junk", DMARC_REC_OK, DMARC_POLICY_NONE,
	    DMARC_POLICY_NONE, false, false, 100 },
	{ "v=DMARC1; p=reject; adkim=x; aspf=q; pct=101", DMARC_REC_OK,
	    DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false, false, 100 },
	{ "v=DMARC1; p=reject; pct=0", DMARC_REC_OK, DMARC_POLICY_REJECT,
	    DMARC_POLICY_REJECT, false, false, 0 },
	{ "v=DMARC1; p=reject; p=none", DMARC_REC_OK, DMARC_POLICY_REJECT,
	    DMARC_POLICY_REJECT, false, false, 100 },
	/* 6.6.3 step 6: bad p or sp with a valid rua is p=none, else unusable */
	{ "v=DMARC1; p=bogus; rua=mailto:d@example.org", DMARC_REC_OK,
	    DMARC_POLICY_NONE, DMARC_POLICY_NONE, false, false, 100 },
	{ "v=DMARC1; rua=mailto:d@example.org", DMARC_REC_OK,
	    DMARC_POLICY_NONE, DMARC_POLICY_NONE, false, false, 100 },
	{ "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.org", DMARC_REC_OK,
	    DMARC_POLICY_NONE, DMARC_POLICY_NONE, false, false, 100 },
	{ "v=DMARC1; p=bogus", DMARC_REC_UNUSABLE, 0, 0, false, false, 100 },
	{ "v=DMARC1; p=reject; sp=bogus", DMARC_REC_UNUSABLE, 0, 0, false, false, 100 },
	{ "v=DMARC1; p=bogus; rua=nonsense", DMARC_REC_UNUSABLE, 0, 0, false, false, 100 },
	{ "v=DMARC1", DMARC_REC_UNUSABLE, 0, 0, false, false, 100 },
	/* not DMARC */
	{ "v=dmarc1; p=reject", DMARC_REC_NOT_DMARC, 0, 0, false, false, 0 },
	{ "p=reject; v=DMARC1", DMARC_REC_NOT_DMARC, 0, 0, false, false, 0 },
	{ "v=spf1 -all", DMARC_REC_NOT_DMARC, 0, 0, false, false, 0 },
	{ "v=DMARC1 p=reject", DMARC_REC_NOT_DMARC, 0, 0, false, false, 0 },
	{ "", DMARC_REC_NOT_DMARC, 0, 0, false, false, 0 },
};

static void
test_parse(void)
{
	struct dmarc_record r;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		enum dmarc_parse got = dmarc_record_parse(parse_cases[i].txt,
		    strlen(parse_cases[i].txt), &r, &why);

		CHECK(got == parse_cases[i].want);
		if (got != parse_cases[i].want)
			fprintf(stderr, "  case %zu: %s\n", i, why);
		if (got != DMARC_REC_OK || parse_cases[i].want != DMARC_REC_OK)
			continue;
		CHECK(r.p == parse_cases[i].p && r.sp == parse_cases[i].sp);
		CHECK(r.adkim_strict == parse_cases[i].astrict);
		CHECK(r.aspf_strict == parse_cases[i].sstrict);
		CHECK(r.pct == parse_cases[i].pct);
	}
}

static void
test_choose(void)
{
	const char *t1[] = { "v=spf1 -all", "v=DMARC1; p=reject", "hello" };
	const char *t2[] = { "v=DMARC1; p=reject", "v=DMARC1; p=none" };
	const char *t3[] = { "v=spf1 -all" };
	size_t l1[] = { 11, 18, 5 }, l2[] = { 18, 16 }, l3[] = { 11 }, idx;
	struct dmarc_record r;
	const char *why;

	CHECK(dmarc_choose(t1, l1, 3, &r, &idx, &why) == DMARC_REC_OK && idx == 1);
	CHECK(dmarc_choose(t2, l2, 2, &r, &idx, &why) == DMARC_REC_UNUSABLE);
	CHECK_STR(why, "more than one DMARC record");
	CHECK(dmarc_choose(t3, l3, 1, &r, &idx, &why) == DMARC_REC_NOT_DMARC);
	CHECK(dmarc_choose(NULL, NULL, 0, &r, &idx, &why) == DMARC_REC_NOT_DMARC);
}

static bool
parse(const char *txt, struct dmarc_record *rec)
{
	const char *why;

	return dmarc_record_parse(txt, strlen(txt), rec, &why) == DMARC_REC_OK;
}

static void
test_evaluate(const struct psl *psl)
{
	struct dmarc_record rec;
	struct dmarc_result res;
	const char *d1[] = { "mail.example.co.uk" }, *d2[] = { "example.com" };
	struct dmarc_input in = { .from_domain = "news.example.co.uk" };

	CHECK(dmarc_aligned(psl, "a.example.co.uk", "B.Example.CO.UK.", false));
	CHECK(!dmarc_aligned(psl, "a.example.co.uk", "example.co.uk", true));
	CHECK(!dmarc_aligned(psl, "example.co.uk", "other.co.uk", false));
	CHECK(!dmarc_aligned(psl, "alice.github.io", "bob.github.io", false));
	CHECK(!dmarc_aligned(psl, "x", NULL, false));

	CHECK(parse("v=DMARC1; p=reject; sp=quarantine", &rec));
	in.dkim_domains = d1;
	in.ndkim = 1;
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.result == DMARC_RES_PASS && res.dkim_aligned && !res.spf_aligned);
	CHECK(res.policy == DMARC_POLICY_NONE && res.requested == DMARC_POLICY_REJECT);
	in.dkim_domains = d2;
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.result == DMARC_RES_FAIL && res.policy == DMARC_POLICY_REJECT);
	dmarc_evaluate(psl, &in, &rec, true, &res);	/* sp at the org domain */
	CHECK(res.result == DMARC_RES_FAIL && res.policy == DMARC_POLICY_QUARANTINE);
	in.spf_pass = true;
	in.spf_domain = "bounce.example.co.uk";
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.result == DMARC_RES_PASS && res.spf_aligned);
	CHECK(parse("v=DMARC1; p=reject; aspf=s", &rec));
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.result == DMARC_RES_FAIL);	/* strict: not the same name */
	in.spf_pass = false;
	in.spf_domain = "news.example.co.uk";
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.result == DMARC_RES_FAIL);	/* SPF did not pass */
	/* pct: sample < pct applies, else one step milder */
	CHECK(parse("v=DMARC1; p=reject; pct=30", &rec));
	in.sample = 29;
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.policy == DMARC_POLICY_REJECT && !res.sampled_out);
	in.sample = 30;
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.policy == DMARC_POLICY_QUARANTINE && res.sampled_out);
	CHECK(parse("v=DMARC1; p=quarantine; pct=0", &rec));
	in.sample = 0;
	dmarc_evaluate(psl, &in, &rec, false, &res);
	CHECK(res.policy == DMARC_POLICY_NONE && res.result == DMARC_RES_FAIL);
	dmarc_evaluate(psl, &in, NULL, false, &res);
	CHECK(res.result == DMARC_RES_NONE && res.policy == DMARC_POLICY_NONE);
	CHECK(!res.spf_aligned && !res.dkim_aligned);
	in.spf_pass = true;	/* no record: alignment still said (relaxed) */
	in.spf_domain = "bounce.example.co.uk";
	dmarc_evaluate(psl, &in, NULL, false, &res);
	CHECK(res.result == DMARC_RES_NONE && res.spf_aligned);
	CHECK(dmarc_sample("<1@x>", 5) < 100);
	CHECK(dmarc_sample("<1@x>", 5) == dmarc_sample("<1@x>", 5));
}

/* --- discovery through lib/dns --- */

static const struct {
	const char	*name;
	const char	*txt[3];
	enum dns_status	 st;
} zone[] = {
	{ "_dmarc.example.co.uk", { "v=DMARC1; p=reject; sp=quarantine", "v=spf1 -all" }, DNS_OK },
	{ "_dmarc.strict.example", { "v=DMARC1; p=quarantine; adkim=s" }, DNS_OK },
	{ "_dmarc.two.example", { "v=DMARC1; p=reject", "v=DMARC1; p=none" }, DNS_OK },
	{ "_dmarc.bad.example", { "v=DMARC1; p=nonsense" }, DNS_OK },
	{ "_dmarc.down.example", { NULL }, DNS_TEMPFAIL },
	{ "_dmarc.sub.down2.example", { NULL }, DNS_NXDOMAIN },
	{ "_dmarc.down2.example", { NULL }, DNS_TEMPFAIL },
	{ "_dmarc.spf.example", { "v=spf1 -all" }, DNS_OK },
};

static int queries;

static void
zone_query(void *ctx, const char *name, enum dns_type type,
    struct dns_answer *ans)
{
	size_t i, k;

	queries++;
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
		if (strcmp(name, zone[i].name) != 0)
			continue;
		if (zone[i].st != DNS_OK) {
			dns_answer_status(ans, zone[i].st, 60);
			return;
		}
		for (k = 0; k < 3 && zone[i].txt[k]; k++)
			dns_answer_add_txt(ans, 300, zone[i].txt[k],
			    strlen(zone[i].txt[k]));
		return;
	}
	dns_answer_status(ans, DNS_NXDOMAIN, 60);
}

static struct dmarc_result got;
static int calls;

static void
on_dmarc(void *arg, const struct dmarc_result *r)
{
	got = *r;
	calls++;
	ev_break();
}

static void
check(const struct psl *psl, const char *from, const char *dkim,
    enum dmarc_res want, enum dmarc_policy policy)
{
	const char *d[1] = { dkim };
	struct dmarc_input in = { .from_domain = from, .dkim_domains = d,
	    .ndkim = dkim ? 1 : 0 };
	struct dmarc_check *c;

	calls = 0;
	c = dmarc_check_start(psl, &in, on_dmarc, NULL);
	CHECK(c != NULL && calls == 0);
	ev_run();
	CHECK(calls == 1);
	CHECK(got.result == want);
	CHECK(got.policy == policy);
	if (got.result != want || got.policy != policy)
		fprintf(stderr, "  %s: %s %s (%s)\n", from, dmarc_res_name(got.result),
		    dmarc_policy_name(got.policy), got.reason);
}

static void
test_dns(const struct psl *psl)
{
	static const struct dns_backend be = { zone_query, NULL };
	const char *d[1] = { "example.co.uk" };
	struct dmarc_input in = { .from_domain = "example.co.uk", .dkim_domains = d };

	dns_set_backend(&be);
	check(psl, "example.co.uk", NULL, DMARC_RES_FAIL, DMARC_POLICY_REJECT);
	CHECK_STR(got.record_domain, "_dmarc.example.co.uk");
	CHECK_STR(got.record, "v=DMARC1; p=reject; sp=quarantine");
	CHECK(!got.at_org);
	check(psl, "Mail.Example.CO.UK.", NULL, DMARC_RES_FAIL, DMARC_POLICY_QUARANTINE);
	CHECK(got.at_org);
	CHECK_STR(got.record_domain, "_dmarc.example.co.uk");
	CHECK_STR(got.from_domain, "mail.example.co.uk");
	CHECK_STR(got.org_domain, "example.co.uk");
	check(psl, "mail.example.co.uk", "example.co.uk", DMARC_RES_PASS, DMARC_POLICY_NONE);
	check(psl, "strict.example", "sub.strict.example", DMARC_RES_FAIL,
	    DMARC_POLICY_QUARANTINE);
	check(psl, "strict.example", "strict.example", DMARC_RES_PASS, DMARC_POLICY_NONE);
	check(psl, "two.example", NULL, DMARC_RES_PERMERROR, DMARC_POLICY_NONE);
	check(psl, "bad.example", NULL, DMARC_RES_NONE, DMARC_POLICY_NONE);
	check(psl, "down.example", NULL, DMARC_RES_TEMPERROR, DMARC_POLICY_NONE);
	check(psl, "sub.down2.example", NULL, DMARC_RES_TEMPERROR, DMARC_POLICY_NONE);
	check(psl, "spf.example", NULL, DMARC_RES_NONE, DMARC_POLICY_NONE);
	check(psl, "nowhere.example", "nowhere.example", DMARC_RES_NONE, DMARC_POLICY_NONE);
	check(psl, "", NULL, DMARC_RES_PERMERROR, DMARC_POLICY_NONE);
	check(psl, "a..b", NULL, DMARC_RES_PERMERROR, DMARC_POLICY_NONE);
	/* cancelled: no callback */
	calls = 0;
	dmarc_check_cancel(dmarc_check_start(psl, &in, on_dmarc, NULL));
	dmarc_check_cancel(NULL);
	CHECK(calls == 0);
	dns_set_backend(NULL);
}

int
main(void)
{
	struct psl *psl;
	char err[256];

	ev_init();
	if ((psl = psl_load(PSL_DEFAULT_PATH, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	test_parse();
	test_choose();
	test_evaluate(psl);
	test_dns(psl);
	psl_free(&psl);
	return T_DONE();
}
