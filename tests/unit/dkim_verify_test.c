/* SPDX-License-Identifier: ISC */
/*
 * dkim_verify_test.c - unit tests of lib/taglist.c, lib/dkim_vparse.c and
 * lib/dkim_verify.c: tag-list splitting, simple canonicalization (RFC 6376
 * 3.4.1, 3.4.3), signature field and key record parsing (tables), and
 * round trips: messages signed here with lib/dkim.c and OpenSSL keys made
 * by the test (RSA-2048, RSA-1024, RSA-768, Ed25519) verified when fed in
 * one piece and one byte at a time, then altered; the key lookups through
 * lib/dns with a zone-table backend.  dkimpy's signatures are
 * checked in tests/integration/test_dkim_verify.py.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "buf.h"
#include "dkim.h"
#include "dkim_verify.h"
#include "dns.h"
#include "ev.h"
#include "taglist.h"
#include "t.h"

#define NOW	1700000000

/* --- taglist --- */

static void
test_taglist(void)
{
	struct tag t[8];
	size_t n;
	char out[64];
	const char *f;

	CHECK(taglist_parse("v=1; a=rsa-sha256;", 18, t, 8, &n, false) == TAGLIST_OK);
	CHECK(n == 2 && t[1].vlen == 10 && memcmp(t[1].val, "rsa-sha256", 10) == 0);
	f = " v = 1 ;\r\n\tb=ab\r\n cd ; ";
	CHECK(taglist_parse(f, strlen(f), t, 8, &n, false) == TAGLIST_OK);
	CHECK(n == 2 && taglist_strip(&t[1], out, sizeof(out)) && strcmp(out, "abcd") == 0);
	CHECK(taglist_parse("v=1;;a=2", 8, t, 8, &n, false) == TAGLIST_SYNTAX);
	CHECK(taglist_parse("v=1; v=2", 8, t, 8, &n, false) == TAGLIST_DUP);
	CHECK(taglist_parse("v=1; V=2", 8, t, 8, &n, false) == TAGLIST_OK);
	CHECK(taglist_parse("v=1; V=2", 8, t, 8, &n, true) == TAGLIST_DUP);
	CHECK(taglist_parse("1v=1", 4, t, 8, &n, false) == TAGLIST_SYNTAX);
	CHECK(taglist_parse("v", 1, t, 8, &n, false) == TAGLIST_SYNTAX);
	CHECK(taglist_parse("", 0, t, 8, &n, false) == TAGLIST_SYNTAX);
	CHECK(taglist_parse("p=", 2, t, 8, &n, false) == TAGLIST_OK && t[0].vlen == 0);
	CHECK(taglist_parse("a=b\n", 4, t, 8, &n, false) == TAGLIST_SYNTAX);
	CHECK(taglist_parse("a=\xc3\xa9", 4, t, 8, &n, false) == TAGLIST_SYNTAX);
	CHECK(taglist_parse("a=1;b=2;c=3", 11, t, 2, &n, false) == TAGLIST_TOOMANY);
	CHECK(taglist_parse("a=x y", 5, t, 8, &n, false) == TAGLIST_OK && t[0].vlen == 3);
}

/* --- simple canonicalization --- */

static void
sink_buf(void *arg, const char *p, size_t n)
{
	buf_append(arg, p, n);
}

static const struct {
	const char	*in;
	const char	*want;
} simple_body[] = {
	{ "", "\r\n" },				/* 3.4.3: empty body is CRLF */
	{ "\n\n", "\r\n" },
	{ " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n" },	/* 3.4.5 */
	{ "abc", "abc\r\n" },
	{ "a\n \n", "a\r\n \r\n" },		/* a line of WSP is not empty */
	{ "a\n\nb\n\n", "a\r\n\r\nb\r\n" },
	{ "x\ry\n", "x\ry\r\n" },
};

static void
test_simple(void)
{
	struct dkim_body b;
	struct buf out;
	size_t i, k;

	for (i = 0; i < sizeof(simple_body) / sizeof(simple_body[0]); i++) {
		buf_init(&out, 0);
		buf_puts(&out, "");
		dkim_body_init_canon(&b, DKIM_CANON_SIMPLE, sink_buf, &out);
		for (k = 0; simple_body[i].in[k]; k++)
			dkim_body_feed(&b, simple_body[i].in + k, 1);
		dkim_body_end(&b);
		CHECK_STR(buf_head(&out), simple_body[i].want);
		buf_free(&out);
	}
	buf_init(&out, 0);
	CHECK(dkim_canon_field(&out, DKIM_CANON_SIMPLE, "Subject: a\n b\r\n c ", 18) == 0);
	CHECK_STR(buf_head(&out), "Subject: a\r\n b\r\n c ");
	buf_reset(&out);
	CHECK(dkim_canon_field(&out, DKIM_CANON_RELAXED, "Subject: a\n b", 13) == 0);
	CHECK_STR(buf_head(&out), "subject:a b");
	CHECK(dkim_canon_field(&out, DKIM_CANON_SIMPLE, "nocolon", 7) == -1);
	buf_free(&out);
}

/* --- the signature field --- */

#define BH	"bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"
#define BB	"b=dGVzdA==;"

static const struct {
	const char	*field;
	enum dkim_res	 want;
	const char	*reason;
} sig_cases[] = {
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    BH " " BB, DKIM_RES_PASS, "usable" },
	{ "DKIM-Signature: v=1; a=ed25519-sha256; c=simple; d=Example.ORG; "
	    "s=a.b; h=From:to; i=user@sub.example.org; " BH " " BB,
	    DKIM_RES_PASS, "usable" },
	{ "DKIM-Signature: v=1; a=rsa-sha1; d=example.org; s=sel; h=from; "
	    BH " " BB, DKIM_RES_POLICY, "rsa-sha1 is not accepted (RFC 8301)" },
	{ "DKIM-Signature: v=1; a=rsa-sha512; d=example.org; s=sel; h=from; "
	    BH " " BB, DKIM_RES_PERMERROR, "unknown algorithm" },
	{ "DKIM-Signature: v=2; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    BH " " BB, DKIM_RES_PERMERROR, "unknown signature version" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; " BH " " BB,
	    DKIM_RES_PERMERROR, "required tag missing" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=to:subject; "
	    BH " " BB, DKIM_RES_PERMERROR, "From field not signed" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "i=a@example.org.evil; " BH " " BB, DKIM_RES_PERMERROR, "i= not within d=" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "i=a@badexample.org; " BH " " BB, DKIM_RES_PERMERROR, "i= not within d=" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "c=relaxed/fancy; " BH " " BB, DKIM_RES_PERMERROR, "unknown canonicalization" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "q=dns/foo; " BH " " BB, DKIM_RES_PERMERROR, "unknown query method" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "x=1699999999; " BH " " BB, DKIM_RES_FAIL, "signature expired" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "t=1700000000; x=1690000000; " BH " " BB, DKIM_RES_PERMERROR, "x= before t=" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "t=1700001000; " BH " " BB, DKIM_RES_PERMERROR,
	    "signature timestamp in the future" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "l=12x; " BH " " BB, DKIM_RES_PERMERROR, "bad l= tag" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=exa mple.org; s=sel; h=from; "
	    BH " " BB, DKIM_RES_PERMERROR, "bad d= tag" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel h=from; "
	    BH " " BB, DKIM_RES_PERMERROR, "bad s= tag" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from "
	    BH " " BB, DKIM_RES_PERMERROR, "required tag missing" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    BH " " BB " x", DKIM_RES_PERMERROR, "signature syntax error" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=exa/mple.org; s=sel; h=from; "
	    BH " " BB, DKIM_RES_PERMERROR, "bad d= tag" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    BH " b=!!!!;", DKIM_RES_PERMERROR, "bad b= tag" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "bh=; " BB, DKIM_RES_PERMERROR, "bad bh= tag" },
	{ "DKIM-Signature: v=1; v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    BH " " BB, DKIM_RES_PERMERROR, "tag repeated in signature" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from::to; "
	    BH " " BB, DKIM_RES_PERMERROR, "bad h= tag" },
	{ "DKIM-Signature", DKIM_RES_PERMERROR, "not a header field" },
};

static void
test_sig_parse(void)
{
	struct dkim_vres r;
	size_t i;
	const char *f;

	for (i = 0; i < sizeof(sig_cases) / sizeof(sig_cases[0]); i++) {
		f = sig_cases[i].field;
		CHECK(dkim_sig_check(f, strlen(f), NOW, &r) == sig_cases[i].want);
		CHECK_STR(r.reason, sig_cases[i].reason);
	}
	f = sig_cases[1].field;
	dkim_sig_check(f, strlen(f), NOW, &r);
	CHECK_STR(r.domain, "example.org");
	CHECK_STR(r.selector, "a.b");
	CHECK_STR(r.alg, "ed25519-sha256");
	CHECK_STR(r.b8, "dGVzdA==");
	CHECK_STR(r.auid, "user@sub.example.org");
	f = sig_cases[0].field;
	dkim_sig_check(f, strlen(f), NOW, &r);
	CHECK_STR(r.auid, "@example.org");
}

/* --- keys made here --- */

static EVP_PKEY *
make_key(int type, int bits)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *k = NULL;

	if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
	    (type == EVP_PKEY_RSA && EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits) != 1) ||
	    EVP_PKEY_keygen(c, &k) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(c);
	return k;
}

/* key_txt - the TXT record of k (malloc'd) */
static char *
key_txt(EVP_PKEY *k)
{
	unsigned char raw[32], *der = NULL;
	size_t rawlen = sizeof(raw);
	char *v;
	int n;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		EVP_PKEY_get_raw_public_key(k, raw, &rawlen);
		return dkim_txt_value(DKIM_ED25519_SHA256, raw, rawlen);
	}
	n = i2d_PUBKEY(k, &der);
	v = dkim_txt_value(DKIM_RSA_SHA256, der, (size_t)n);
	OPENSSL_free(der);
	return v;
}

/* sign_msg - msg with a DKIM-Signature by k prepended (malloc'd) */
static char *
sign_msg(const char *msg, EVP_PKEY *k, const char *sel)
{
	enum dkim_alg alg = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ?
	    DKIM_ED25519_SHA256 : DKIM_RSA_SHA256;
	struct dkim_sign *s = dkim_sign_new(0);
	unsigned char d[DKIM_DIGEST_LEN], sig[1024];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *pc;
	EVP_MD_CTX *mc;
	char *tmpl, *hdr, *out;

	dkim_sign_feed(s, msg, strlen(msg));
	dkim_sign_end(s);
	dkim_header_digest(s, "example.org", sel, alg, NOW, d, &tmpl);
	if (alg == DKIM_RSA_SHA256) {
		pc = EVP_PKEY_CTX_new(k, NULL);
		EVP_PKEY_sign_init(pc);
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING);
		EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256());
		EVP_PKEY_sign(pc, sig, &siglen, d, sizeof(d));
		EVP_PKEY_CTX_free(pc);
	} else {
		mc = EVP_MD_CTX_new();
		EVP_DigestSignInit(mc, NULL, NULL, NULL, k);
		EVP_DigestSign(mc, sig, &siglen, d, sizeof(d));
		EVP_MD_CTX_free(mc);
	}
	hdr = dkim_finish(tmpl, sig, siglen, false);
	out = malloc(strlen(hdr) + strlen(msg) + 1);
	strcpy(out, hdr);
	strcat(out, msg);
	free(hdr);
	free(tmpl);
	dkim_sign_free(&s);
	return out;
}

/* verify - results of msg fed `step` bytes at a time, key txt for every name */
static enum dkim_res
verify(const char *msg, size_t step, const char *txt, const char **reason_r)
{
	struct dkim_verify *v = dkim_verify_new(0, 0, NOW);
	const struct dkim_vres *r;
	size_t i, n, len = strlen(msg);
	enum dkim_res res;
	const char *txts[1] = { txt };
	size_t lens[1] = { txt ? strlen(txt) : 0 };

	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		dkim_verify_feed(v, msg + i, n);
	}
	dkim_verify_end(v);
	if (dkim_verify_key_name(v, 0) != NULL)
		CHECK(strcmp(dkim_verify_key_name(v, 0), "") != 0);
	dkim_verify_set_key(v, 0, txt ? DKIM_KEY_FOUND : DKIM_KEY_NONE, txts, lens,
	    txt ? 1 : 0);
	n = dkim_verify_results(v, &r);
	res = n == 1 ? r[0].result : DKIM_RES_NEUTRAL;
	if (reason_r)
		*reason_r = n == 1 ? r[0].reason : "no result";
	dkim_verify_free(&v);
	return res;
}

static const char msg[] =
    "Received: from x by y\n"
    "From: Alice Example <alice@example.org>\n"
    "To: bob@example.net,\n"
    "    carol@example.net\n"
    "Subject: hello\n"
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
    "\n"
    "Hello  \n"
    "\n\n";

static void
test_roundtrip(void)
{
	EVP_PKEY *rsa = make_key(EVP_PKEY_RSA, 2048);
	EVP_PKEY *rsa1k = make_key(EVP_PKEY_RSA, 1024);
	EVP_PKEY *rsa768 = make_key(EVP_PKEY_RSA, 768);
	EVP_PKEY *ed = make_key(EVP_PKEY_ED25519, 0);
	EVP_PKEY *keys[] = { rsa, ed, rsa1k };
	char *txt, *s, *t, *p;
	const char *why;
	size_t i;

	CHECK(rsa && rsa1k && rsa768 && ed);
	for (i = 0; i < 3; i++) {
		txt = key_txt(keys[i]);
		s = sign_msg(msg, keys[i], "sel");
		CHECK(verify(s, 1, txt, &why) == DKIM_RES_PASS);
		CHECK(verify(s, 1 << 20, txt, &why) == DKIM_RES_PASS);
		CHECK(verify(s, 13, NULL, &why) == DKIM_RES_PERMERROR);
		CHECK_STR(why, "no key record");
		/* body changed */
		t = strdup(s);
		p = strstr(t, "Hello");
		p[0] = 'J';
		CHECK(verify(t, 5, txt, &why) == DKIM_RES_FAIL);
		CHECK_STR(why, "body hash mismatch");
		free(t);
		/* body changed in a way relaxed ignores */
		t = malloc(strlen(s) + 8);
		strcpy(t, s);
		strcat(t, "\n\n \n");
		CHECK(verify(t, 5, txt, &why) == DKIM_RES_PASS);
		free(t);
		/* signed header changed */
		t = strdup(s);
		p = strstr(t, "Subject: hello");
		p[9] = 'j';
		CHECK(verify(t, 3, txt, &why) == DKIM_RES_FAIL);
		CHECK_STR(why, "signature did not verify");
		free(t);
		/* the signer over-signs From: one more From fails */
		t = malloc(strlen(s) + 32);
		p = strstr(s, "Received:");
		memcpy(t, s, (size_t)(p - s));
		strcpy(t + (p - s), "From: mallory@evil.test\n");
		strcat(t, p);
		CHECK(verify(t, 4096, txt, &why) == DKIM_RES_FAIL);
		free(t);
		free(s);
		free(txt);
	}
	/* an RSA key under 1024 bits is not a pass */
	txt = key_txt(rsa768);
	s = sign_msg(msg, rsa768, "sel");
	CHECK(verify(s, 100, txt, &why) == DKIM_RES_POLICY);
	CHECK_STR(why, "RSA key shorter than 1024 bits");
	free(s);
	free(txt);
	/* key type mismatch: Ed25519 signature, RSA key */
	txt = key_txt(rsa);
	s = sign_msg(msg, ed, "sel");
	CHECK(verify(s, 100, txt, &why) == DKIM_RES_PERMERROR);
	CHECK_STR(why, "key type does not match a=");
	free(s);
	free(txt);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa1k);
	EVP_PKEY_free(rsa768);
	EVP_PKEY_free(ed);
}

/* --- key records --- */

/* fill - fmt with its one "%s" replaced by p (no printf: -Wformat-nonliteral) */
static void
fill(char *out, size_t outsz, const char *fmt, const char *p)
{
	const char *m = strstr(fmt, "%s");

	if (m == NULL)
		snprintf(out, outsz, "%s", fmt);
	else
		snprintf(out, outsz, "%.*s%s%s", (int)(m - fmt), fmt, p, m + 2);
}

static void
test_key_parse(void)
{
	EVP_PKEY *ed = make_key(EVP_PKEY_ED25519, 0);
	char *txt = key_txt(ed), rec[512];
	const char *p = strstr(txt, "p="), *why;
	unsigned bits;
	bool testing;
	static const struct {
		const char	*fmt;	/* %s = "p=..." */
		enum dkim_res	 want;
		const char	*reason;
	} cases[] = {
		{ "v=DKIM1; k=ed25519; %s", DKIM_RES_PASS, "usable" },
		{ "k=ed25519; %s", DKIM_RES_PASS, "usable" },
		{ "k=ed25519; %s; t=y:s; n=notes here", DKIM_RES_PASS, "usable" },
		{ "k=ed25519; h=sha256:sha512; s=email:*; %s", DKIM_RES_PASS, "usable" },
		{ "k=ed25519; h=sha1; %s", DKIM_RES_PERMERROR, "hash not allowed by key (h=)" },
		{ "k=ed25519; s=tlsrpt; %s", DKIM_RES_PERMERROR, "key not for email (s=)" },
		{ "k=ed25519; %s; v=DKIM1", DKIM_RES_PERMERROR, "bad key record version" },
		{ "v=DKIM2; k=ed25519; %s", DKIM_RES_PERMERROR, "bad key record version" },
		{ "v=DKIM1; k=dsa; %s", DKIM_RES_PERMERROR, "unknown key type" },
		{ "v=DKIM1; k=rsa; %s", DKIM_RES_PERMERROR, "bad key data" },
		{ "v=DKIM1; k=ed25519", DKIM_RES_PERMERROR, "key record without p=" },
		{ "v=DKIM1; k=ed25519; p=", DKIM_RES_PERMERROR, "key revoked" },
		{ "v=DKIM1; k=ed25519; p=AAAA", DKIM_RES_PERMERROR, "bad key data" },
		{ "v=DKIM1; k=ed25519; k=rsa; %s", DKIM_RES_PERMERROR,
		    "tag repeated in key record" },
		{ "v=DKIM1;; k=ed25519; %s", DKIM_RES_PERMERROR, "key record syntax error" },
		{ "", DKIM_RES_PERMERROR, "key record syntax error" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill(rec, sizeof(rec), cases[i].fmt, p);
		CHECK(dkim_key_check(rec, strlen(rec), "ed25519-sha256", &bits,
		    &testing, &why) == cases[i].want);
		CHECK_STR(why, cases[i].reason);
	}
	snprintf(rec, sizeof(rec), "k=ed25519; %s; t=y", p);
	dkim_key_check(rec, strlen(rec), "ed25519-sha256", &bits, &testing, &why);
	CHECK(testing && bits == 256);
	snprintf(rec, sizeof(rec), "k=ed25519; %s", p);
	CHECK(dkim_key_check(rec, strlen(rec), "rsa-sha256", &bits, &testing,
	    &why) == DKIM_RES_PERMERROR);
	free(txt);
	EVP_PKEY_free(ed);
}

/* --- the verifier's edges --- */

static void
test_edges(void)
{
	struct dkim_verify *v;
	const struct dkim_vres *r;
	char from[64], big[600];
	const char *f;
	size_t i;

	/* no signature: no result; From found */
	v = dkim_verify_new(0, 0, NOW);
	dkim_verify_feed(v, msg, strlen(msg));
	CHECK(dkim_verify_end(v) == 0);
	CHECK(dkim_verify_results(v, &r) == 0);
	CHECK(dkim_verify_from_domain(v, from, sizeof(from)));
	CHECK_STR(from, "example.org");
	CHECK(dkim_verify_from_count(v) == 1);
	dkim_verify_free(&v);

	/* cap: 7 malformed signatures, 3 reported */
	v = dkim_verify_new(0, 3, NOW);
	for (i = 0; i < 7; i++)
		dkim_verify_feed(v, "DKIM-Signature: v=1\n", 20);
	dkim_verify_feed(v, msg, strlen(msg));
	dkim_verify_end(v);
	CHECK(dkim_verify_results(v, &r) == 3);
	CHECK(r[2].result == DKIM_RES_PERMERROR);
	CHECK(dkim_verify_key_name(v, 0) == NULL);
	dkim_verify_free(&v);

	/* header over the bound: one permerror; the body still streams */
	memset(big, 'x', sizeof(big));
	memcpy(big, "X-Big: ", 7);
	big[sizeof(big) - 1] = '\n';
	v = dkim_verify_new(256, 0, NOW);
	dkim_verify_feed(v, big, sizeof(big));
	dkim_verify_feed(v, msg, strlen(msg));
	dkim_verify_feed(v, "more body\n", 10);
	dkim_verify_end(v);
	CHECK(dkim_verify_results(v, &r) == 1);
	CHECK(r[0].result == DKIM_RES_PERMERROR);
	CHECK_STR(r[0].reason, "header too large");
	CHECK(!dkim_verify_from_domain(v, from, sizeof(from)));
	dkim_verify_free(&v);

	/* a body hash that does not match: final before any key */
	v = dkim_verify_new(0, 0, NOW);
	f = "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    BH " " BB "\n";
	dkim_verify_feed(v, f, strlen(f));
	dkim_verify_feed(v, msg, strlen(msg));
	dkim_verify_end(v);
	CHECK(dkim_verify_results(v, &r) == 1);
	CHECK(r[0].result == DKIM_RES_FAIL);
	CHECK(dkim_verify_key_name(v, 0) == NULL);
	dkim_verify_free(&v);

	/* a key not given yet: temperror "key not fetched" */
	v = dkim_verify_new(0, 0, NOW);
	f = "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; "
	    "bh=frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=; " BB "\n"
	    "From: a@example.org\n\n";
	dkim_verify_feed(v, f, strlen(f));
	dkim_verify_end(v);
	CHECK(dkim_verify_results(v, &r) == 1);
	CHECK(r[0].result == DKIM_RES_TEMPERROR);
	CHECK_STR(r[0].reason, "key not fetched");
	CHECK_STR(dkim_verify_key_name(v, 0), "sel._domainkey.example.org");
	dkim_verify_free(&v);
}

/* --- lookups through lib/dns (zone-table backend) --- */

static char *zone_rsa, *zone_ed;
static int zone_queries;

static void
zone_query(void *ctx, const char *name, enum dns_type type,
    struct dns_answer *ans)
{
	zone_queries++;
	if (type != DNS_T_TXT)
		dns_answer_status(ans, DNS_NODATA, 60);
	else if (strcmp(name, "rsa._domainkey.example.org") == 0) {
		dns_answer_add_txt(ans, 300, "unrelated", 9);
		dns_answer_add_txt(ans, 300, zone_rsa, strlen(zone_rsa));
	} else if (strcmp(name, "ed._domainkey.example.org") == 0)
		dns_answer_add_txt(ans, 300, zone_ed, strlen(zone_ed));
	else if (strcmp(name, "down._domainkey.example.org") == 0)
		dns_answer_status(ans, DNS_TEMPFAIL, 0);
	else
		dns_answer_status(ans, DNS_NXDOMAIN, 60);
}

static int cb_calls;

static void
on_keys(void *arg, struct dkim_verify *v)
{
	cb_calls++;
	ev_break();
}

/* lookup_run - verify m through the backend; results as "res,res,..." */
static void
lookup_run(const char *m, char *out, size_t outsz)
{
	struct dkim_verify *v = dkim_verify_new(0, 0, NOW);
	const struct dkim_vres *r;
	size_t i, n;

	out[0] = '\0';
	dkim_verify_feed(v, m, strlen(m));
	dkim_verify_end(v);
	cb_calls = 0;
	CHECK(dkim_verify_start_lookups(v, on_keys, NULL) == 0);
	CHECK(cb_calls == 0);		/* never from inside start */
	CHECK(dkim_verify_start_lookups(v, on_keys, NULL) == -1);
	ev_run();
	CHECK(cb_calls == 1);
	n = dkim_verify_results(v, &r);
	for (i = 0; i < n; i++) {
		strncat(out, dkim_res_name(r[i].result), outsz - strlen(out) - 1);
		strncat(out, i + 1 < n ? "," : "", outsz - strlen(out) - 1);
	}
	dkim_verify_free(&v);
}

static void
test_lookups(void)
{
	static const struct dns_backend zone = { zone_query, NULL };
	EVP_PKEY *rsa = make_key(EVP_PKEY_RSA, 1024), *ed = make_key(EVP_PKEY_ED25519, 0);
	char *s1, *s2, *s3, *s4, got[128];
	struct dkim_verify *v;
	int q;

	zone_rsa = key_txt(rsa);
	zone_ed = key_txt(ed);
	dns_set_backend(&zone);
	s1 = sign_msg(msg, rsa, "rsa");
	s2 = sign_msg(s1, ed, "ed");
	s3 = sign_msg(s2, rsa, "rsa");		/* same key name: one query */
	s4 = sign_msg(s3, rsa, "down");
	zone_queries = 0;
	lookup_run(s3, got, sizeof(got));
	CHECK_STR(got, "pass,pass,pass");
	CHECK(zone_queries == 2);
	q = zone_queries;
	lookup_run(s3, got, sizeof(got));	/* from the cache now */
	CHECK_STR(got, "pass,pass,pass");
	CHECK(zone_queries == q);
	lookup_run(s4, got, sizeof(got));
	CHECK_STR(got, "temperror,pass,pass,pass");
	free(s4);
	s4 = sign_msg(s1, rsa, "gone");
	lookup_run(s4, got, sizeof(got));
	CHECK_STR(got, "permerror,pass");
	lookup_run(msg, got, sizeof(got));	/* nothing to fetch */
	CHECK_STR(got, "");
	/* freed while lookups are under way: no callback */
	dns_cache_flush();
	v = dkim_verify_new(0, 0, NOW);
	dkim_verify_feed(v, s3, strlen(s3));
	dkim_verify_end(v);
	cb_calls = 0;
	CHECK(dkim_verify_start_lookups(v, on_keys, NULL) == 0);
	dkim_verify_free(&v);
	dns_set_backend(NULL);
	free(s1);
	free(s2);
	free(s3);
	free(s4);
	free(zone_rsa);
	free(zone_ed);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	CHECK(cb_calls == 0);
}

int
main(void)
{
	ev_init();
	test_taglist();
	test_simple();
	test_sig_parse();
	test_key_parse();
	test_roundtrip();
	test_roundtrip();	/* again: the keys come from the cache now */
	test_edges();
	test_lookups();
	dkim_verify_cache_flush();
	return T_DONE();
}
