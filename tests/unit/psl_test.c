/* SPDX-License-Identifier: ISC */
/*
 * psl_test.c - unit tests of lib/psl.c: Punycode (RFC 3492 examples), the
 * list's own test vectors (publicsuffix.org tests/test_psl.txt: wildcards,
 * exceptions, IDN in U-label and A-label form, private entries) against
 * Debian's list, and a small list loaded from memory.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "psl.h"
#include "t.h"

static void
test_punycode(void)
{
	static const struct {
		const char	*in, *want;
	} cases[] = {
		{ "\xe5\x85\xac\xe5\x8f\xb8", "xn--55qx5d" },		/* 公司 */
		{ "\xe9\xa3\x9f\xe7\x8b\xae", "xn--85x722f" },		/* 食狮 */
		{ "b\xc3\xbc" "cher", "xn--bcher-kva" },		/* bücher */
		{ "m\xc3\xbcnchen", "xn--mnchen-3ya" },
		{ "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80", "xn--e1afmkfd" },
		{ "example", "example" },
	};
	char out[80];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(psl_punycode(cases[i].in, strlen(cases[i].in), out, sizeof(out)));
		CHECK_STR(out, cases[i].want);
	}
	CHECK(!psl_punycode("\xc3", 1, out, sizeof(out)));	/* cut UTF-8 */
	CHECK(!psl_punycode("\xc0\xaf", 2, out, sizeof(out)));	/* overlong */
	CHECK(!psl_punycode("m\xc3\xbcnchen", 8, out, 8));	/* does not fit */
}

/* org domains; NULL: the name is a public suffix (its own org domain) */
static const struct {
	const char	*name, *org;
} vectors[] = {
	{ "example.com", "example.com" },
	{ "b.example.com", "example.com" },
	{ "a.b.example.com", "example.com" },
	{ "EXAMPLE.COM.", "example.com" },
	{ "com", NULL },
	{ "uk.com", NULL },
	{ "example.uk.com", "example.uk.com" },
	{ "b.example.uk.com", "example.uk.com" },
	{ "test.ac", "test.ac" },
	{ "c.mm", NULL },
	{ "b.c.mm", "b.c.mm" },
	{ "a.b.c.mm", "b.c.mm" },
	{ "test.jp", "test.jp" },
	{ "www.test.jp", "test.jp" },
	{ "ac.jp", NULL },
	{ "test.ac.jp", "test.ac.jp" },
	{ "www.test.ac.jp", "test.ac.jp" },
	{ "kyoto.jp", NULL },
	{ "test.kyoto.jp", "test.kyoto.jp" },
	{ "ide.kyoto.jp", NULL },
	{ "b.ide.kyoto.jp", "b.ide.kyoto.jp" },
	{ "a.b.ide.kyoto.jp", "b.ide.kyoto.jp" },
	{ "c.kobe.jp", NULL },
	{ "b.c.kobe.jp", "b.c.kobe.jp" },
	{ "a.b.c.kobe.jp", "b.c.kobe.jp" },
	{ "city.kobe.jp", "city.kobe.jp" },
	{ "www.city.kobe.jp", "city.kobe.jp" },
	{ "test.ck", NULL },
	{ "b.test.ck", "b.test.ck" },
	{ "a.b.test.ck", "b.test.ck" },
	{ "www.ck", "www.ck" },
	{ "www.www.ck", "www.ck" },
	{ "test.us", "test.us" },
	{ "www.test.us", "test.us" },
	{ "ak.us", NULL },
	{ "test.ak.us", "test.ak.us" },
	{ "k12.ak.us", NULL },
	{ "test.k12.ak.us", "test.k12.ak.us" },
	{ "www.test.k12.ak.us", "test.k12.ak.us" },
	{ "\xe9\xa3\x9f\xe7\x8b\xae.com.cn", "\xe9\xa3\x9f\xe7\x8b\xae.com.cn" },
	{ "\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn",
	    "\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn" },
	{ "www.\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn",
	    "\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn" },
	{ "\xe5\x85\xac\xe5\x8f\xb8.cn", NULL },
	{ "xn--85x722f.com.cn", "xn--85x722f.com.cn" },
	{ "xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
	{ "www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
	{ "shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn" },
	{ "xn--55qx5d.cn", NULL },
	{ "example.co.uk", "example.co.uk" },
	{ "sub.example.co.uk", "example.co.uk" },
	{ "co.uk", NULL },
	{ "alice.github.io", "alice.github.io" },	/* private section */
	{ "www.alice.github.io", "alice.github.io" },
	{ "example.example", "example.example" },	/* unlisted TLD: "*" */
	{ "b.example.example", "example.example" },
	{ "example", NULL },
};

static void
test_vectors(void)
{
	struct psl *p;
	char err[256], out[256];
	size_t i;

	p = psl_load(PSL_DEFAULT_PATH, err, sizeof(err));
	CHECK(p != NULL);
	if (p == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK(psl_rules(p) > 9000);
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		CHECK(psl_org_domain(p, vectors[i].name, out, sizeof(out)));
		if (vectors[i].org != NULL)
			CHECK_STR(out, vectors[i].org);
		else {
			CHECK(psl_public_suffix(p, vectors[i].name, out, sizeof(out)));
			CHECK(strcasecmp(out, vectors[i].name) == 0);
		}
	}
	CHECK(psl_public_suffix(p, "a.b.example.co.uk", out, sizeof(out)));
	CHECK_STR(out, "co.uk");
	/* not names */
	CHECK(!psl_org_domain(p, "", out, sizeof(out)));
	CHECK(!psl_org_domain(p, ".", out, sizeof(out)));
	CHECK(!psl_org_domain(p, "a..example.com", out, sizeof(out)));
	CHECK(!psl_org_domain(p, ".example.com", out, sizeof(out)));
	CHECK(!psl_org_domain(p, "a b.com", out, sizeof(out)));
	CHECK(!psl_org_domain(p, "example.com", out, 5));	/* does not fit */
	psl_free(&p);
	CHECK(p == NULL);
	CHECK(psl_load("/nonexistent/psl.dat", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/psl.dat") != NULL);
}

static void
test_mem(void)
{
	static const char list[] =
	    "// comment\n\ncom\n*.wild.test  trailing words\n!ok.wild.test\r\n"
	    "CO.UK\n";
	struct psl *p = psl_load_mem(list, sizeof(list) - 1);
	char out[64];

	CHECK(p != NULL && psl_rules(p) == 4);
	CHECK(psl_org_domain(p, "a.b.x.wild.test", out, sizeof(out)));
	CHECK_STR(out, "b.x.wild.test");
	CHECK(psl_org_domain(p, "a.ok.wild.test", out, sizeof(out)));
	CHECK_STR(out, "ok.wild.test");
	CHECK(psl_org_domain(p, "a.example.co.uk", out, sizeof(out)));
	CHECK_STR(out, "example.co.uk");
	psl_free(&p);
	CHECK(psl_load_mem("// nothing\n", 11) == NULL);
}

int
main(void)
{
	test_punycode();
	test_vectors();
	test_mem();
	return T_DONE();
}
