/* SPDX-License-Identifier: ISC */
/*
 * spf_test.c - unit tests for lib/spf: record selection and parsing
 * (every mechanism, CIDR forms, modifiers, the errors that make a
 * permerror), macro syntax, the expansion examples of RFC 7208 7.4 (IPv4
 * and IPv6), URL escaping, the 253-byte cut of 7.3, address matching,
 * and the asynchronous API over a zone-table backend: the callback never
 * runs inside spf_check_start(), HELO identity for MAIL FROM:<>, the
 * trace, cancel, and the overall time limit (temperror) against a
 * resolver that never answers.  The whole RFC 7208 test suite runs in
 * tests/integration/test_spf_suite.py.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "dns.h"
#include "ev.h"
#include "log.h"
#include "spf_int.h"
#include "t.h"
#include "t_ev.h"

static int
parse(const char *rec)
{
	struct spf_record r;
	char err[200];
	int rc = spf_record_parse(rec, strlen(rec), &r, err, sizeof(err));

	spf_record_free(&r);
	return rc;
}

static void
test_select(void)
{
	CHECK(spf_is_record("v=spf1", 6));
	CHECK(spf_is_record("V=SPF1 -all", 11));
	CHECK(!spf_is_record("v=spf10 -all", 12));
	CHECK(!spf_is_record("v=spf1-all", 10));
	CHECK(!spf_is_record(" v=spf1 -all", 12));
	CHECK(!spf_is_record("spf2.0/pra", 10));
}

static void
test_parse(void)
{
	struct spf_record r;
	char err[200];
	const char *rec = "v=spf1 a mx:mx.example.org/24//64 -ip4:192.0.2.0/24 "
	    "~ip6:2001:db8::/32 ?ptr include:_spf.%{d2} exists:%{ir}.bl.org "
	    "redirect=other.org exp=exp.%{d} foo=bar-%{l}";

	CHECK(spf_record_parse(rec, strlen(rec), &r, err, sizeof(err)) == 0);
	CHECK(r.nterms == 7);
	if (r.nterms == 7) {
		CHECK(r.terms[0].mech == SPF_M_A && r.terms[0].spec == NULL &&
		    r.terms[0].cidr4 == 32 && r.terms[0].cidr6 == 128);
		CHECK(r.terms[1].mech == SPF_M_MX && r.terms[1].cidr4 == 24 &&
		    r.terms[1].cidr6 == 64 && r.terms[1].speclen == 14);
		CHECK(r.terms[2].qual == '-' && r.terms[2].cidr4 == 24 &&
		    r.terms[2].addr[0] == 192 && r.terms[2].addr[3] == 0);
		CHECK(r.terms[3].qual == '~' && r.terms[3].cidr6 == 32 &&
		    r.terms[3].addr[1] == 0x01 && r.terms[3].addr[3] == 0xb8);
		CHECK(r.terms[4].mech == SPF_M_PTR && r.terms[4].qual == '?');
		CHECK(r.terms[5].mech == SPF_M_INCLUDE);
		CHECK(r.terms[6].mech == SPF_M_EXISTS);
	}
	CHECK(r.redirect != NULL && r.redirectlen == 9);
	CHECK(r.exp != NULL && r.explen == 8);
	spf_record_free(&r);

	CHECK(parse("v=spf1") == 0);
	CHECK(parse("v=spf1    -all   ") == 0);
	CHECK(parse("v=spf1 a//64 mx/0 a:x.example.org//0") == 0);
	CHECK(parse("v=spf1 A:EXAMPLE.ORG MX IP4:192.0.2.1 ALL") == 0);
	CHECK(parse("v=spf1 ip4:0.0.0.0/0 ip6:::/0 ip6:::ffff:1.2.3.4") == 0);
	CHECK(parse("v=spf1 a:foo-bar.123-4 -all") == 0);	/* LDH toplabel */
	CHECK(parse("v=spf1 exists:%{l}.%{d}") == 0);
	/* errors anywhere: permerror */
	CHECK(parse("v=spf1 -all foo") == -1);		/* unknown mechanism */
	CHECK(parse("v=spf1 -all:x.org") == -1);
	CHECK(parse("v=spf1 include") == -1);
	CHECK(parse("v=spf1 include:") == -1);
	CHECK(parse("v=spf1 a:foo.1") == -1);		/* numeric toplabel */
	CHECK(parse("v=spf1 a:localhost") == -1);	/* no dot */
	CHECK(parse("v=spf1 a/33") == -1);
	CHECK(parse("v=spf1 a//129") == -1);
	CHECK(parse("v=spf1 a/024") == -1);		/* leading zero */
	CHECK(parse("v=spf1 ip4:192.0.2.1/33") == -1);
	CHECK(parse("v=spf1 ip4:192.0.02.1") == -1);
	CHECK(parse("v=spf1 ip4:192.0.2") == -1);
	CHECK(parse("v=spf1 ip4:192.0.2.256") == -1);
	CHECK(parse("v=spf1 ip6:2001:db8::/129") == -1);
	CHECK(parse("v=spf1 ip6:2001:db8:::1") == -1);
	CHECK(parse("v=spf1 redirect=a.org redirect=b.org") == -1);
	CHECK(parse("v=spf1 exp=a.org exp=b.org") == -1);
	CHECK(parse("v=spf1 -redirect=a.org") == -1);
	CHECK(parse("v=spf1 1foo=bar") == -1);
	CHECK(parse("v=spf1 foo=%{x}") == -1);		/* bad macro */
	CHECK(parse("v=spf1 exists:%{c}.example.org") == -1);	/* exp only */
	CHECK(parse("v=spf1 exists:%{d0}.example.org") == -1);
	CHECK(parse("v=spf1 a:%.example.org") == -1);
	CHECK(parse("v=spf1 a:ex\xe9mple.org") == -1);	/* not ASCII */
	CHECK(parse("v=spf1 a\tmx") == -1);
}

static void
ctx4(struct spf_macro_ctx *m)
{
	memset(m, 0, sizeof(*m));
	m->sender = "strong-bad@email.example.com";
	m->local = "strong-bad";
	m->sender_domain = "email.example.com";
	m->domain = "email.example.com";
	m->family = AF_INET;
	inet_pton(AF_INET, "192.0.2.3", m->ip);
	m->helo = "mx.example.org";
	m->validated = "mx.example.org";
	m->receiver = "example.net";
	m->now = 1234;
}

static const char *
exp_str(const struct spf_macro_ctx *m, const char *s, bool domain)
{
	static char out[600];

	if (!spf_macro_check(s, strlen(s), domain, !domain, NULL))
		return "(syntax)";
	if (spf_expand(m, s, strlen(s), domain, out, sizeof(out)) == -1)
		return "(error)";
	return out;
}

static void
test_macros(void)
{
	struct spf_macro_ctx m;
	char big[400], out[300];
	bool p;
	size_t i;

	ctx4(&m);
	/* RFC 7208 7.4 */
	CHECK_STR(exp_str(&m, "%{s}", false), "strong-bad@email.example.com");
	CHECK_STR(exp_str(&m, "%{o}", false), "email.example.com");
	CHECK_STR(exp_str(&m, "%{d}", false), "email.example.com");
	CHECK_STR(exp_str(&m, "%{d4}", false), "email.example.com");
	CHECK_STR(exp_str(&m, "%{d3}", false), "email.example.com");
	CHECK_STR(exp_str(&m, "%{d2}", false), "example.com");
	CHECK_STR(exp_str(&m, "%{d1}", false), "com");
	CHECK_STR(exp_str(&m, "%{dr}", false), "com.example.email");
	CHECK_STR(exp_str(&m, "%{d2r}", false), "example.email");
	CHECK_STR(exp_str(&m, "%{l}", false), "strong-bad");
	CHECK_STR(exp_str(&m, "%{l-}", false), "strong.bad");
	CHECK_STR(exp_str(&m, "%{lr}", false), "strong-bad");
	CHECK_STR(exp_str(&m, "%{lr-}", false), "bad.strong");
	CHECK_STR(exp_str(&m, "%{l1r-}", false), "strong");
	CHECK_STR(exp_str(&m, "%{ir}.%{v}._spf.%{d2}", true),
	    "3.2.0.192.in-addr._spf.example.com");
	CHECK_STR(exp_str(&m, "%{lr-}.lp._spf.%{d2}", true),
	    "bad.strong.lp._spf.example.com");
	CHECK_STR(exp_str(&m, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", true),
	    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
	CHECK_STR(exp_str(&m, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", true),
	    "3.2.0.192.in-addr.strong.lp._spf.example.com");
	CHECK_STR(exp_str(&m, "%{d2}.trusted-domains.example.net", true),
	    "example.com.trusted-domains.example.net");
	CHECK_STR(exp_str(&m, "%{p2}.trusted-domains.example.net.", true),
	    "example.org.trusted-domains.example.net");
	/* exp-only letters, escapes, URL escaping, delimiters */
	CHECK_STR(exp_str(&m, "%{c} %{r} %{t} %{h}", false),
	    "192.0.2.3 example.net 1234 mx.example.org");
	CHECK_STR(exp_str(&m, "%{S}", false), "strong-bad%40email.example.com");
	CHECK_STR(exp_str(&m, "a%%b%_c%-d", false), "a%b c%20d");
	CHECK_STR(exp_str(&m, "%{l2-.}", false), "strong.bad");
	CHECK(!spf_macro_check("%{s@}", 5, false, true, NULL));
	CHECK_STR(exp_str(&m, "%{l2r-}", false), "bad.strong");
	CHECK_STR(exp_str(&m, "%{d99}", false), "email.example.com");
	CHECK(!spf_macro_check("%{d0}", 5, false, true, NULL));
	CHECK(!spf_macro_check("%{x}", 4, false, true, NULL));
	CHECK(!spf_macro_check("%{d", 3, false, true, NULL));
	CHECK(!spf_macro_check("%d", 2, false, true, NULL));
	CHECK(!spf_macro_check("%{c}.example.org", 16, true, false, NULL));
	CHECK(spf_macro_check("%{p}.example.org", 16, true, false, &p) && p);
	CHECK(spf_macro_check("%{d}", 4, true, false, &p) && !p);

	/* IPv6: %{i} is nibbles, %{c} the usual text */
	inet_pton(AF_INET6, "2001:db8::cb01", m.ip);
	m.family = AF_INET6;
	CHECK_STR(exp_str(&m, "%{ir}.%{v}._spf.%{d2}", true),
	    "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2"
	    ".ip6._spf.example.com");
	CHECK_STR(exp_str(&m, "%{c}", false), "2001:db8::cb01");
	CHECK_STR(exp_str(&m, "%{i8}", false), "0.0.0.0.C.B.0.1");

	/* 7.3: a domain longer than 253 loses labels on the left */
	m.domain = big;
	for (i = 0; i + 4 < 300; i += 4)
		memcpy(big + i, "abc.", 4);
	memcpy(big + i - 4, "org", 4);
	CHECK(spf_expand(&m, "%{d}", 4, true, out, sizeof(out)) == 0);
	CHECK(strlen(out) <= 253 && strlen(out) > 245 &&
	    strcmp(out + strlen(out) - 4, ".org") == 0 && out[0] == 'a');
	CHECK(spf_expand(&m, "%{d}", 4, true, out, 50) == -1);	/* too small */
}

static void
test_ip(void)
{
	uint8_t a[16], b[16];
	int fam;

	CHECK(spf_parse_ip("192.0.2.1", &fam, a) && fam == AF_INET);
	CHECK(spf_parse_ip("::ffff:192.0.2.1", &fam, b) && fam == AF_INET);
	CHECK(memcmp(a, b, 4) == 0);
	CHECK(spf_parse_ip("2001:db8::1", &fam, a) && fam == AF_INET6);
	CHECK(!spf_parse_ip("mail.example.org", &fam, a));
	inet_pton(AF_INET, "192.0.2.130", a);
	inet_pton(AF_INET, "192.0.2.0", b);
	CHECK(spf_ip_match(AF_INET, a, b, 24));
	CHECK(!spf_ip_match(AF_INET, a, b, 25));
	CHECK(spf_ip_match(AF_INET, a, b, 0));
	CHECK(spf_domain_ok("example.org") && spf_domain_ok("example.org."));
	CHECK(!spf_domain_ok("example") && !spf_domain_ok("[192.0.2.1]"));
	CHECK(!spf_domain_ok("a..example.org") && !spf_domain_ok(""));
}

/* the zone: example.org passes 192.0.2.0/24 via include and mx */
static void
zone(void *ctx, const char *name, enum dns_type type, struct dns_answer *ans)
{
	static const uint8_t mx4[4] = { 192, 0, 2, 25 };

	if (strcmp(name, "example.org") == 0 && type == DNS_T_TXT) {
		dns_answer_add_txt(ans, 60, "google-site-verification=x", 26);
		dns_answer_add_txt(ans, 60, "v=spf1 include:_spf.example.org "
		    "-all", 36);
	} else if (strcmp(name, "_spf.example.org") == 0 && type == DNS_T_TXT)
		dns_answer_add_txt(ans, 60, "v=spf1 mx ~all", 14);
	else if (strcmp(name, "_spf.example.org") == 0 && type == DNS_T_MX)
		dns_answer_add_mx(ans, 60, 10, "mx.example.org");
	else if (strcmp(name, "mx.example.org") == 0 && type == DNS_T_A)
		dns_answer_add_addr(ans, 60, AF_INET, mx4);
	else if (strcmp(name, "helo.example.org") == 0 && type == DNS_T_TXT)
		dns_answer_add_txt(ans, 60, "v=spf1 a:mx.example.org -all", 28);
	else
		dns_answer_status(ans, DNS_NXDOMAIN, 0);
}

struct got {
	int		 calls;
	enum spf_res	 res;
	enum spf_identity id;
	char		 mech[64], domain[64], sender[64], expl[200], trace[2000];
};

static bool inside;

static void
on_spf(void *arg, const struct spf_result *r)
{
	struct got *g = arg;

	CHECK(!inside);
	g->calls++;
	g->res = r->result;
	g->id = r->identity;
	snprintf(g->mech, sizeof(g->mech), "%s", r->mechanism);
	snprintf(g->domain, sizeof(g->domain), "%s", r->domain);
	snprintf(g->sender, sizeof(g->sender), "%s", r->sender);
	snprintf(g->expl, sizeof(g->expl), "%s", r->explanation);
	snprintf(g->trace, sizeof(g->trace), "%s", r->trace);
	ev_break();
}

/* a callback that cancels its own check: harmless (freed after it) */
static struct spf_check *self_handle;
static int self_calls;

static void
on_spf_cancel_self(void *arg, const struct spf_result *r)
{
	self_calls++;
	spf_check_cancel(self_handle);
	ev_break();
}

static void
check(const char *ip, const char *helo, const char *from, struct got *g,
    bool trace)
{
	struct spf_request req;

	memset(g, 0, sizeof(*g));
	memset(&req, 0, sizeof(req));
	req.ip = ip;
	req.helo = helo;
	req.mailfrom = from;
	req.trace = trace;
	inside = true;
	(void)spf_check_start_req(&req, on_spf, g);
	inside = false;
	CHECK(t_run(2000) && g->calls == 1);
}

static void
test_check(void)
{
	static const struct dns_backend be = { zone, NULL };
	struct spf_check *h;
	struct got g;

	dns_set_backend(&be);
	check("192.0.2.25", "x", "alice@example.org", &g, true);
	CHECK(g.res == SPF_PASS && g.id == SPF_ID_MAILFROM);
	CHECK_STR(g.mech, "include:_spf.example.org");
	CHECK_STR(g.domain, "example.org");
	CHECK(strstr(g.trace, "_spf.example.org: \"v=spf1 mx ~all\"") != NULL);
	CHECK(strstr(g.trace, "  mx: match") != NULL);
	CHECK(strstr(g.trace, "result: pass") != NULL);

	check("192.0.2.26", "x", "alice@example.org", &g, false);
	CHECK(g.res == SPF_FAIL && g.trace[0] == '\0');
	CHECK_STR(g.mech, "-all");
	CHECK_STR(g.expl, "SPF: 192.0.2.26 is not allowed to send mail for "
	    "example.org");

	/* MAIL FROM:<>: the HELO identity */
	check("192.0.2.25", "helo.example.org", "", &g, false);
	CHECK(g.res == SPF_PASS && g.id == SPF_ID_HELO);
	CHECK_STR(g.sender, "postmaster@helo.example.org");
	check("2001:db8::1", "helo.example.org", "", &g, false);
	CHECK(g.res == SPF_FAIL);
	check("192.0.2.25", "x", "bob@nowhere.example", &g, false);
	CHECK(g.res == SPF_NONE);
	check("not-an-ip", "x", "bob@example.org", &g, false);
	CHECK(g.res == SPF_NONE);
	check("192.0.2.25", "x", "bob@[192.0.2.1]", &g, false);
	CHECK(g.res == SPF_NONE);

	self_handle = spf_check_start("192.0.2.25", "x", "alice@example.org",
	    on_spf_cancel_self, NULL);
	CHECK(t_run(2000) && self_calls == 1);

	/* cancelled: never called */
	memset(&g, 0, sizeof(g));
	h = spf_check_start("192.0.2.25", "x", "alice@example.org", on_spf, &g);
	spf_check_cancel(h);
	CHECK(!t_run(200) && g.calls == 0);
	dns_set_backend(NULL);
	dns_cache_flush();

	CHECK_STR(spf_result_name(SPF_SOFTFAIL), "softfail");
	CHECK_STR(spf_result_name(SPF_TEMPERROR), "temperror");
	CHECK_STR(spf_identity_name(SPF_ID_HELO), "helo");
}

/* a resolver that never answers: the overall limit gives temperror */
static void
test_deadline(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct conf_addr ca;
	struct spf_check *h;
	struct got g;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
	memset(&ca, 0, sizeof(ca));
	snprintf(ca.host, sizeof(ca.host), "127.0.0.1");
	ca.port = ntohs(sin.sin_port);
	dns_set_timeout(5000, 1);
	CHECK(dns_init(&ca) == 0);
	spf_set_timeout(200);
	check("192.0.2.1", "x", "a@slow.example", &g, true);
	CHECK(g.res == SPF_TEMPERROR);
	CHECK(strstr(g.trace, "no answer within 200 ms") != NULL);
	/* cancelled while its lookup is in flight: no callback, no leak */
	memset(&g, 0, sizeof(g));
	h = spf_check_start("192.0.2.1", "x", "b@slow.example", on_spf, &g);
	CHECK(!t_run(100) && g.calls == 0);
	spf_check_cancel(h);
	spf_set_timeout(0);
	dns_shutdown();
	close(fd);
}

int
main(void)
{
	log_init("spf_test", true, false);
	ev_init();
	test_select();
	test_parse();
	test_macros();
	test_ip();
	test_check();
	test_deadline();
	return T_DONE();
}
