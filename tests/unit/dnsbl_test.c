/* SPDX-License-Identifier: ISC */
/*
 * dnsbl_test.c - unit tests for lib/dnsbl.c: the postscreen site syntax
 * (accepted and refused texts, their canonical form), filter matching
 * and query names for IPv4, IPv6 and IPv4-mapped clients.
 */
#include <string.h>

#include "dnsbl.h"
#include "t.h"

static const struct site_case {
	const char	*in;
	const char	*canon;		/* NULL: refused */
} site_cases[] = {
	{ "zen.spamhaus.org", "zen.spamhaus.org" },
	{ "ZEN.Spamhaus.ORG=127.0.0.[2..11]*3", "zen.spamhaus.org=127.0.0.[2..11]*3" },
	{ "list.dnswl.org=127.0.[0..255].[1..3]*-2",
	  "list.dnswl.org=127.0.[0..255].[1..3]*-2" },
	{ "b.example=127.0.0.[4;2;3;10]", "b.example=127.0.0.[2..4;10]" },
	{ "b.example=127.0.0.[2..2]", "b.example=127.0.0.2" },
	{ "b.example*1", "b.example" },
	{ "b.example*0", "b.example*0" },
	{ "b.example*1000", "b.example*1000" },
	{ "b.example*-1000", "b.example*-1000" },
	{ "b_x.example", "b_x.example" },
	{ "b.example*1001", NULL },
	{ "b.example*", NULL },
	{ "b.example*-", NULL },
	{ "b.example*+3", NULL },
	{ "b.example*3x", NULL },
	{ "b.example=", NULL },
	{ "b.example=127.0.0", NULL },
	{ "b.example=127.0.0.1.1", NULL },
	{ "b.example=127.0.0.256", NULL },
	{ "b.example=127.0.0.0001", NULL },
	{ "b.example=127.0.0.[2..1]", NULL },
	{ "b.example=127.0.0.[]", NULL },
	{ "b.example=127.0.0.[2", NULL },
	{ "b.example=127.0.0.[2;]", NULL },
	{ "b.example=127.0.0.[2...3]", NULL },
	{ "b.example=127.0.0.2*3*4", NULL },
	{ "b.example=127.0.0.2 ", NULL },
	{ "", NULL },
	{ "=127.0.0.2", NULL },
	{ "*3", NULL },
	{ ".b.example", NULL },
	{ "b..example", NULL },
	{ "b.example.", NULL },
	{ "b example", NULL },
};

static void
test_parse(void)
{
	struct dnsbl_site s, s2;
	char out[DNSBL_TEXT_MAX];
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(site_cases) / sizeof(site_cases[0]); i++) {
		const struct site_case *t = &site_cases[i];

		err = dnsbl_site_parse(t->in, strlen(t->in), &s);
		if ((err == NULL) != (t->canon != NULL))
			fprintf(stderr, "site \"%s\": %s\n", t->in,
			    err ? err : "accepted");
		CHECK((err == NULL) == (t->canon != NULL));
		if (err != NULL || t->canon == NULL)
			continue;
		CHECK(dnsbl_site_format(&s, out, sizeof(out)));
		CHECK_STR(out, t->canon);
		CHECK(dnsbl_site_parse(out, strlen(out), &s2) == NULL);
		CHECK(memcmp(&s, &s2, sizeof(s)) == 0);
	}
	/* a zone of 200 characters is the longest */
	memset(out, 'a', 201);
	for (i = 63; i < 201; i += 64)
		out[i] = '.';
	CHECK(dnsbl_site_parse(out, 200, &s) == NULL);
	CHECK(dnsbl_site_parse(out, 201, &s) != NULL);
	CHECK(!dnsbl_site_format(&s2, out, 4));
}

static void
test_match(void)
{
	static const uint8_t a2[4] = { 127, 0, 0, 2 }, a11[4] = { 127, 0, 0, 11 },
	    a12[4] = { 127, 0, 0, 12 }, err[4] = { 127, 255, 255, 254 };
	struct dnsbl_site s;

	CHECK(dnsbl_site_parse("z.example=127.0.0.[2..11]", 25, &s) == NULL);
	CHECK(dnsbl_site_match(&s, a2));
	CHECK(dnsbl_site_match(&s, a11));
	CHECK(!dnsbl_site_match(&s, a12));
	CHECK(!dnsbl_site_match(&s, err));
	CHECK(dnsbl_site_parse("z.example", 9, &s) == NULL);
	CHECK(dnsbl_site_match(&s, err));
}

static void
test_query_name(void)
{
	char out[300];

	CHECK(dnsbl_query_name("192.0.2.1", "z.example", out, sizeof(out)));
	CHECK_STR(out, "1.2.0.192.z.example");
	CHECK(dnsbl_query_name("::ffff:192.0.2.1", "z.example", out,
	    sizeof(out)));
	CHECK_STR(out, "1.2.0.192.z.example");
	CHECK(dnsbl_query_name("2001:db8::1", "z.example", out, sizeof(out)));
	CHECK_STR(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "8.b.d.0.1.0.0.2.z.example");
	CHECK(!dnsbl_query_name("192.0.2.1", "z.example", out, 10));
	CHECK(!dnsbl_query_name("uid=0", "z.example", out, sizeof(out)));
	CHECK(!dnsbl_query_name("192.0.2", "z.example", out, sizeof(out)));
}

int
main(void)
{
	test_parse();
	test_match();
	test_query_name();
	return T_DONE();
}
