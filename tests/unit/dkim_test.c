/* SPDX-License-Identifier: ISC */
/*
 * dkim_test.c - unit tests of lib/dkim.c: relaxed canonicalization against
 * RFC 6376 3.4.5 and edge cases (table-driven, every input also fed one
 * byte at a time), the DKIM-Signature template, From domain extraction.
 * End-to-end verification (dkimpy, opendkim) is in
 * tests/integration/test_dkim_sign.py.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dkim.h"
#include "t.h"

static void
sink_buf(void *arg, const char *p, size_t n)
{
	buf_append(arg, p, n);
}

/* body_canon - relaxed body of in, fed in pieces of `step` bytes */
static char *
body_canon(const char *in, size_t step)
{
	struct dkim_body b;
	struct buf out;
	size_t i, n, len = strlen(in);

	buf_init(&out, 0);
	buf_puts(&out, "");
	dkim_body_init(&b, sink_buf, &out);
	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		dkim_body_feed(&b, in + i, n);
	}
	dkim_body_end(&b);
	return buf_head(&out);
}

static const struct {
	const char	*in;
	const char	*want;
} body_cases[] = {
	/* RFC 6376 3.4.5 */
	{ " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
	{ "", "" },
	{ "\r\n", "" },
	{ "\n\n\n", "" },
	{ " \t \r\n\t\n", "" },
	{ "abc", "abc\r\n" },
	{ "abc  ", "abc\r\n" },
	{ "a\nb\n", "a\r\nb\r\n" },
	{ "a\r\nb\n", "a\r\nb\r\n" },
	{ "a \n\n \nb\n\n", "a\r\n\r\n\r\nb\r\n" },
	{ "..dot\n.\n", "..dot\r\n.\r\n" },
	{ "x\ry\r\n", "x\ry\r\n" },		/* lone CR is data */
	{ "x\r", "x\r\r\n" },
	{ "x \r\n", "x\r\n" },
	{ "\t lead\n", " lead\r\n" },
	{ "caf\xc3\xa9  cr\xc3\xa8me\n", "caf\xc3\xa9 cr\xc3\xa8me\r\n" },
	{ "a\r\r\nb", "a\r\r\nb\r\n" },
};

static void
test_body(void)
{
	size_t i, step;
	char *got;

	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		for (step = 1; step <= 3; step += 2) {
			got = body_canon(body_cases[i].in, step);
			CHECK(strcmp(got, body_cases[i].want) == 0);
			if (strcmp(got, body_cases[i].want) != 0)
				fprintf(stderr, "  body case %zu step %zu\n", i, step);
			free(got);
		}
		got = body_canon(body_cases[i].in, 4096);
		CHECK(strcmp(got, body_cases[i].want) == 0);
		free(got);
	}
}

static const struct {
	const char	*in;
	const char	*want;	/* NULL: rejected */
} hdr_cases[] = {
	/* RFC 6376 3.4.5 */
	{ "A: X", "a:X" },
	{ "B : Y\t\r\n\tZ  ", "b:Y Z" },
	{ "B : Y\t\n\tZ  ", "b:Y Z" },
	{ "Subject:   many    spaces\there  ", "subject:many spaces here" },
	{ "SUBJECT:", "subject:" },
	{ "X-Empty: \r\n ", "x-empty:" },
	{ "To: a@b,\r\n c@d,\r\n\t e@f", "to:a@b, c@d, e@f" },
	{ "Subject: =?UTF-8?B?Y2Fmw6k=?=", "subject:=?UTF-8?B?Y2Fmw6k=?=" },
	{ "Subject: caf\xc3\xa9", "subject:caf\xc3\xa9" },
	{ "no colon here", NULL },
	{ "Weird\tName\t: v", "weird\tname:v" },
};

static void
test_header(void)
{
	struct buf out;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		buf_init(&out, 0);
		rc = dkim_canon_header(&out, hdr_cases[i].in, strlen(hdr_cases[i].in));
		if (hdr_cases[i].want == NULL)
			CHECK(rc == -1);
		else {
			CHECK(rc == 0);
			CHECK_STR(buf_head(&out), hdr_cases[i].want);
		}
		buf_free(&out);
	}
}

static const char msg_lf[] =
    "Received: from x by y\n"
    "From: Alice Example <Alice@Example.ORG>\n"
    "To: bob@example.net,\n"
    "    carol@example.net\n"
    "Subject: =?UTF-8?Q?caf=C3=A9?=\n"
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
    "Message-ID: <1@example.org>\n"
    "X-Not-Signed: yes\n"
    "\n"
    "Hello  \n"
    ".dot line\n"
    "\n"
    "\n";

/* crlf - msg with every LF turned into CRLF (caller frees) */
static char *
crlf(const char *msg)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_puts(&b, "");
	for (i = 0; msg[i]; i++)
		buf_puts(&b, msg[i] == '\n' ? "\r\n" : (char[]){ msg[i], 0 });
	return buf_head(&b);
}

/* sign_digest - digest and template of msg fed `step` bytes at a time */
static int
sign_digest(const char *msg, size_t step, enum dkim_alg alg,
    unsigned char d[32], char **tmpl)
{
	struct dkim_sign *s = dkim_sign_new(0);
	size_t i, n, len = strlen(msg);
	int rc;

	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		if (dkim_sign_feed(s, msg + i, n) == -1)
			break;
	}
	rc = dkim_sign_end(s);
	if (rc == 0)
		rc = dkim_header_digest(s, "example.org", "rsa2026", alg,
		    1700000000, d, tmpl);
	dkim_sign_free(&s);
	CHECK(s == NULL);
	return rc;
}

static void
test_sign(void)
{
	unsigned char d1[32], d2[32], d3[32], bh[32];
	char *t1 = NULL, *t2 = NULL, *t3 = NULL, *c = crlf(msg_lf), *fin, *p;
	char bh64[64], want[128];
	unsigned char sig[256];
	const char *body = "Hello\r\n.dot line\r\n";
	const char *head = "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/relaxed; d=example.org;\r\n\ts=rsa2026; t=1700000000;";
	size_t i, linelen;

	CHECK(sign_digest(msg_lf, 100000, DKIM_RSA_SHA256, d1, &t1) == 0);
	CHECK(sign_digest(msg_lf, 1, DKIM_RSA_SHA256, d2, &t2) == 0);
	CHECK(sign_digest(c, 7, DKIM_RSA_SHA256, d3, &t3) == 0);
	CHECK(memcmp(d1, d2, 32) == 0);
	CHECK(memcmp(d1, d3, 32) == 0);
	CHECK_STR(t1, t2);
	CHECK_STR(t1, t3);
	if (t1 == NULL)
		return;
	EVP_Digest(body, strlen(body), bh, NULL, EVP_sha256(), NULL);
	EVP_EncodeBlock((unsigned char *)bh64, bh, 32);
	snprintf(want, sizeof(want), "bh=%s;", bh64);
	CHECK(strstr(t1, want) != NULL);
	CHECK(strncmp(t1, head, strlen(head)) == 0);
	CHECK(strstr(t1, "t=1700000000;") != NULL);
	CHECK(strstr(t1, "h=From:From:Subject:Date:To:Message-ID;") != NULL);
	CHECK(strstr(t1, "X-Not") == NULL && strstr(t1, "Received") == NULL);
	CHECK(strlen(t1) > 2 && strcmp(t1 + strlen(t1) - 2, "b=") == 0);

	/* another algorithm, another digest */
	free(t2);
	CHECK(sign_digest(msg_lf, 100000, DKIM_ED25519_SHA256, d2, &t2) == 0);
	CHECK(memcmp(d1, d2, 32) != 0);
	CHECK(t2 && strstr(t2, "a=ed25519-sha256;") != NULL);

	/* finish folds b= and keeps every line short */
	for (i = 0; i < sizeof(sig); i++)
		sig[i] = (unsigned char)i;
	fin = dkim_finish(t1, sig, sizeof(sig), true);
	CHECK(fin != NULL && strncmp(fin, t1, strlen(t1)) == 0);
	CHECK(fin && strcmp(fin + strlen(fin) - 2, "\r\n") == 0);
	for (p = fin; p && *p; p += linelen + 2) {
		linelen = (size_t)(strstr(p, "\r\n") - p);
		CHECK(linelen <= 78);
	}
	free(fin);
	fin = dkim_finish(t1, sig, sizeof(sig), false);
	CHECK(fin && strchr(fin, '\r') == NULL);
	free(fin);
	free(t1);
	free(t2);
	free(t3);
	free(c);
}

static void
test_errors(void)
{
	struct dkim_sign *s;
	unsigned char d[32];
	char *t = NULL;
	const char *nofrom = "Subject: x\n\nbody\n";
	const char *twofrom = "From: a@example.org\nSubject: x\nfrom: b@evil.test\n\nb\n";

	s = dkim_sign_new(0);
	CHECK(dkim_sign_feed(s, nofrom, strlen(nofrom)) == 0);
	CHECK(dkim_sign_end(s) == -1);
	CHECK_STR(dkim_sign_error(s), "no From header field");
	CHECK(dkim_header_digest(s, "example.org", "s", DKIM_RSA_SHA256, 0, d, &t) == -1);
	CHECK(t == NULL);
	dkim_sign_free(&s);

	s = dkim_sign_new(0);
	CHECK(dkim_sign_feed(s, twofrom, strlen(twofrom)) == 0);
	CHECK(dkim_sign_end(s) == -1);
	CHECK_STR(dkim_sign_error(s), "more than one From header field (RFC 5322 3.6)");
	dkim_sign_free(&s);

	s = dkim_sign_new(64);
	CHECK(dkim_sign_feed(s, msg_lf, strlen(msg_lf)) == -1);
	CHECK_STR(dkim_sign_error(s), "header too large");
	dkim_sign_free(&s);

	s = dkim_sign_new(0);
	CHECK(dkim_sign_feed(s, msg_lf, strlen(msg_lf)) == 0);
	CHECK(dkim_sign_end(s) == 0);
	CHECK(dkim_header_digest(s, "exa/mple.org", "s", DKIM_RSA_SHA256, 0, d, &t) == -1);
	CHECK(dkim_header_digest(s, "example.org", "a;b", DKIM_RSA_SHA256, 0, d, &t) == -1);
	CHECK(dkim_header_digest(s, "example.org", "s", (enum dkim_alg)9, 0, d, &t) == -1);
	dkim_sign_free(&s);
}

static const struct {
	const char	*from;
	const char	*want;	/* NULL: none */
} from_cases[] = {
	{ "From: Alice <Alice@Example.ORG>\n", "example.org" },
	{ "From: alice@example.org\n", "example.org" },
	{ "From: \"a@evil.test\" <alice@example.org>\n", "example.org" },
	{ "From: (a@evil.test) alice@example.org\n", "example.org" },
	{ "From: Alice\n <alice@sub.example.org>\n", "sub.example.org" },
	/* an '@' in an unquoted display name is not the address */
	{ "From: alice@example.org <bob@evil.test>\n", "evil.test" },
	{ "From: Smith, John <john@example.org>\n", "example.org" },
	{ "From: alice@example.org, Bob <bob@evil.test>\n", "example.org" },
	{ "From: Bob <bob@evil.test>, alice@example.org\n", "evil.test" },
	{ "From: <alice@example.org> (x@evil.test)\n", "example.org" },
	{ "From: alice@example.org <>\n", NULL },
	{ "From: undisclosed\n", NULL },
	{ "Subject: no from\n", NULL },
};

/* the From check of submission wants exactly one address */
static void
test_from_mailboxes(void)
{
	static const struct {
		const char	*from;
		size_t		 n;
	} c[] = {
		{ "From: alice@example.org\n", 1 },
		{ "From: Alice <alice@example.org>\n", 1 },
		{ "From: \"a@evil.test\" <alice@example.org>\n", 1 },
		{ "From: (x@evil.test) alice@example.org\n", 1 },
		{ "From: <@relay.test:alice@example.org>\n", 1 },
		{ "From: Doe, Alice <alice@example.org>\n", 1 },
		{ "From: alice@example.org <bob@evil.test>\n", 1 },	/* bob is checked */
		{ "From: alice@example.org, bob@evil.test\n", 2 },
		{ "From: Alice <alice@example.org>, Bob <bob@evil.test>\n", 2 },
		{ "From: undisclosed\n", 0 },
		/* issue 16 item 8: an address after the <> is a second one */
		{ "From: <alice@example.org>bob@example.org\n", 2 },
		{ "From: Alice <alice@example.org> bob@evil.test\n", 2 },
		{ "From: <alice@example.org><bob@evil.test>\n", 2 },
	};
	struct dkim_sign *s;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		s = dkim_sign_new(0);
		dkim_sign_feed(s, c[i].from, strlen(c[i].from));
		dkim_sign_feed(s, "\nbody\n", 6);
		dkim_sign_end(s);
		CHECK(dkim_from_mailboxes(s) == c[i].n);
		dkim_sign_free(&s);
	}
}

static void
test_from(void)
{
	struct dkim_sign *s;
	char dom[64];
	size_t i;
	bool ok;

	for (i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		s = dkim_sign_new(0);
		dkim_sign_feed(s, from_cases[i].from, strlen(from_cases[i].from));
		dkim_sign_feed(s, "\nbody\n", 6);
		dkim_sign_end(s);
		ok = dkim_from_domain(s, dom, sizeof(dom));
		if (from_cases[i].want == NULL)
			CHECK(!ok);
		else {
			CHECK(ok);
			CHECK_STR(ok ? dom : NULL, from_cases[i].want);
		}
		dkim_sign_free(&s);
	}
	s = dkim_sign_new(0);	/* the address the From check compares */
	dkim_sign_feed(s, from_cases[5].from, strlen(from_cases[5].from));
	dkim_sign_end(s);
	CHECK(dkim_from_address(s, dom, sizeof(dom)));
	CHECK_STR(dom, "bob@evil.test");
	dkim_sign_free(&s);
	test_from_mailboxes();
}

static void
test_txt(void)
{
	unsigned char k[32] = { 0 };
	char *v = dkim_txt_value(DKIM_ED25519_SHA256, k, sizeof(k));

	CHECK_STR(v, "v=DKIM1; k=ed25519; p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	free(v);
	v = dkim_txt_value(DKIM_RSA_SHA256, (const unsigned char *)"abc", 3);
	CHECK_STR(v, "v=DKIM1; k=rsa; p=YWJj");
	free(v);
}

int
main(void)
{
	test_body();
	test_header();
	test_sign();
	test_errors();
	test_from();
	test_txt();
	return T_DONE();
}
