/* SPDX-License-Identifier: ISC */
/*
 * smtp_auth_test.c - unit tests for smtpd/smtp_auth.c: smtp_auth_b64()
 * (RFC 4648 vectors, "=" as the empty response of RFC 4954 4, padding,
 * characters outside the alphabet, the output limit, a round trip of
 * every length up to 300) and smtp_auth_plain() (the RFC 4616 4
 * examples, authzid equal to or other than authcid, missing or extra NUL
 * separators, empty fields).  Buffers are allocated to their exact size
 * so ASan sees a byte written past the end.
 *
 * The limits authd puts on a login (authd/README.md "Field limits": user
 * 1-254 bytes above space and not DEL, password 1-1024 bytes without CR or
 * LF) are checked here too, through smtp_auth_plain() and
 * smtp_auth_check(): what passes them reaches authd, and anything else
 * would be a malformed frame that makes authd drop smtpd's one connection
 * and every login waiting on it.
 */
#include <stdlib.h>

#include "smtpd/smtpd.h"
#include "t.h"

#define OUT_MAX		1100	/* what smtp_session_auth.c passes */

/* decode - smtp_auth_b64 into an exact buffer; -1 or the length */
static long
decode(const char *in, size_t outsz, char *copy, size_t copysz)
{
	char *out = malloc(outsz ? outsz : 1);
	size_t n = 12345;
	long r;

	if (out == NULL)
		return -2;
	r = smtp_auth_b64(in, out, outsz, &n);
	if (r == 0) {
		r = (long)n;
		if (n > outsz || n > copysz)
			r = -3;
		else
			memcpy(copy, out, n);
	} else if (n != 0)
		r = -4;		/* a failure reports no output */
	free(out);
	return r;
}

static const struct b64_case {
	const char	*in;
	const char	*out;	/* NULL: refused */
	size_t		 len;
} b64_cases[] = {
	/* RFC 4648 10 */
	{ "Zg==", "f", 1 },
	{ "Zm8=", "fo", 2 },
	{ "Zm9v", "foo", 3 },
	{ "Zm9vYg==", "foob", 4 },
	{ "Zm9vYmE=", "fooba", 5 },
	{ "Zm9vYmFy", "foobar", 6 },
	/* RFC 4954 4: "=" is an empty response */
	{ "=", "", 0 },
	/* the whole alphabet */
	{ "+/+/", "\xfb\xff\xbf", 3 },
	{ "AAAA", "\0\0\0", 3 },
	{ "////", "\xff\xff\xff", 3 },
	{ "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==",
	  "\0alice@example.org\0secret", 25 },
	/* empty and bad lengths */
	{ "", NULL, 0 },
	{ "Z", NULL, 0 },
	{ "Zg", NULL, 0 },
	{ "Zg=", NULL, 0 },
	{ "Zm9vY", NULL, 0 },
	{ "Zm8==", NULL, 0 },
	/* bad padding */
	{ "==", NULL, 0 },
	{ "====", NULL, 0 },
	{ "Z===", NULL, 0 },
	{ "=Zg=", NULL, 0 },
	{ "Z=g=", NULL, 0 },
	{ "Zg=A", NULL, 0 },
	{ "Zg==Zm9v", NULL, 0 },	/* padding inside */
	{ "Zm8=Zm8=", NULL, 0 },
	{ "Zm9v=", NULL, 0 },
	{ "==Zg", NULL, 0 },
	/* characters outside the alphabet */
	{ "Zm9v!", NULL, 0 },
	{ "Zm9!", NULL, 0 },
	{ "Zm 9v", NULL, 0 },
	{ " Zm9", NULL, 0 },
	{ "Zm9v ", NULL, 0 },
	{ "Zm9v\n", NULL, 0 },
	{ "Zg==\r\n", NULL, 0 },
	{ "Zm\t9", NULL, 0 },
	{ "Zm-_", NULL, 0 },		/* base64url is another alphabet */
	{ "Zm9\x80", NULL, 0 },
	{ "Zm9\xff", NULL, 0 },
	{ "*", NULL, 0 },		/* the cancel line is not base64 */
	{ "==\x01\x01", NULL, 0 },
};

static void
test_b64_cases(void)
{
	char got[OUT_MAX];
	size_t i;

	for (i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		long r = decode(c->in, OUT_MAX, got, sizeof(got));

		if (c->out == NULL) {
			if (r != -1)
				fprintf(stderr, "case %zu \"%s\": %ld\n", i, c->in, r);
			CHECK(r == -1);
		} else {
			if (r != (long)c->len)
				fprintf(stderr, "case %zu \"%s\": %ld\n", i, c->in, r);
			CHECK(r == (long)c->len && memcmp(got, c->out, c->len) == 0);
		}
	}
}

static void
test_b64_limit(void)
{
	char got[16];

	/* the output limit is exact: 6 bytes fit in 6, not in 5 */
	CHECK(decode("Zm9vYmFy", 6, got, sizeof(got)) == 6);
	CHECK(decode("Zm9vYmFy", 5, got, sizeof(got)) == -1);
	CHECK(decode("Zm9vYg==", 4, got, sizeof(got)) == 4);
	CHECK(decode("Zm9vYg==", 3, got, sizeof(got)) == -1);
	CHECK(decode("Zm9vYmE=", 5, got, sizeof(got)) == 5);
	CHECK(decode("Zg==", 1, got, sizeof(got)) == 1);
	CHECK(decode("Zg==", 0, got, sizeof(got)) == -1);
	CHECK(decode("=", 0, got, sizeof(got)) == 0);
}

/* enc - a plain reference encoder for the round trip */
static void
enc(const unsigned char *in, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[o++] = a[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		out[o++] = a[in[i + 2] & 63];
	}
	if (n - i == 1) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[o++] = a[(in[i + 1] & 15) << 2];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static void
test_b64_roundtrip(void)
{
	unsigned char raw[300];
	char text[420], got[300];
	unsigned x = 12345;
	size_t n, i;
	int bad = 0;

	for (n = 1; n <= sizeof(raw); n++) {
		for (i = 0; i < n; i++) {
			x = x * 1103515245 + 12345;
			raw[i] = (unsigned char)(x >> 16);
		}
		enc(raw, n, text);
		if (decode(text, n, got, sizeof(got)) != (long)n ||
		    memcmp(got, raw, n) != 0)
			bad++;
		/* one byte less room than needed: refused */
		if (decode(text, n - 1, got, sizeof(got)) != -1)
			bad++;
	}
	CHECK(bad == 0);
}

/* plain - smtp_auth_plain on a copy of n bytes in an exact n+1 buffer */
static const char *
plain(const char *msg, size_t n, char *user, char *pass)
{
	char *p = malloc(n + 1);
	const char *u = NULL, *pw = NULL, *err;

	if (p == NULL)
		return "malloc";
	memcpy(p, msg, n);
	err = smtp_auth_plain(p, n, &u, &pw);
	user[0] = pass[0] = '\0';
	if (err == NULL) {
		if (u < p || u > p + n || pw < p || pw > p + n)
			err = "pointer outside the message";
		else {
			snprintf(user, 300, "%s", u);
			snprintf(pass, 1100, "%s", pw);
		}
	}
	free(p);
	return err;
}

#define PLAIN(lit, u, pw)	plain(lit, sizeof(lit) - 1, u, pw)

static void
test_plain(void)
{
	char u[300], pw[1100];
	const char *err;

	/* RFC 4616 4, first example: no authzid */
	CHECK(PLAIN("\0tim\0tanstaaftanstaaf", u, pw) == NULL);
	CHECK_STR(u, "tim");
	CHECK_STR(pw, "tanstaaftanstaaf");
	/* RFC 4616 4, second example: Kurt acting as Ursel - not offered */
	err = PLAIN("Ursel\0Kurt\0xipj3plmq", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	/* authzid equal to authcid */
	CHECK(PLAIN("tim\0tim\0tanstaaftanstaaf", u, pw) == NULL);
	CHECK_STR(u, "tim");
	CHECK_STR(pw, "tanstaaftanstaaf");
	/* compared exactly: another spelling is another identity */
	err = PLAIN("Tim\0tim\0x", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	err = PLAIN("tim \0tim\0x", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	/* prefix of the user is not the user */
	err = PLAIN("ti\0tim\0x", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	err = PLAIN("timx\0tim\0x", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);

	/* "=" (empty response) and missing separators: malformed */
	err = plain("", 0, u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);
	err = PLAIN("tim", u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);
	err = PLAIN("\0timtanstaaf", u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);
	err = PLAIN("tim\0", u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);
	err = PLAIN("\0", u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);
	/* a third NUL: no room for it in RFC 4616 2 */
	err = PLAIN("\0tim\0pass\0", u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);
	err = PLAIN("\0tim\0pa\0ss", u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);
	err = PLAIN("\0\0\0", u, pw);
	CHECK(err != NULL && strncmp(err, "501 5.5.2", 9) == 0);

	/* empty user or password */
	err = PLAIN("\0\0pass", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	err = PLAIN("\0tim\0", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	err = PLAIN("\0\0", u, pw);
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);

	/* bytes other than NUL are the client's business */
	CHECK(PLAIN("\0alice@example.org\0p\xc3\xa4ss w:rd\x7f", u, pw) == NULL);
	CHECK_STR(u, "alice@example.org");
	CHECK_STR(pw, "p\xc3\xa4ss w:rd\x7f");
}

/* plain_sized - a PLAIN message of a user of ulen and password of plen bytes */
static const char *
plain_sized(size_t ulen, size_t plen, char ubyte, char pbyte)
{
	char msg[OUT_MAX + 8], u[300], pw[1100];
	size_t n = 0;

	if (ulen + plen + 2 > sizeof(msg))
		return "too long for the test";
	msg[n++] = '\0';
	memset(msg + n, 'u', ulen);
	if (ulen > 1)
		msg[n + ulen / 2] = ubyte;
	n += ulen;
	msg[n++] = '\0';
	memset(msg + n, 'p', plen);
	if (plen > 1)
		msg[n + plen / 2] = pbyte;
	n += plen;
	return plain(msg, n, u, pw);
}

static void
test_plain_lengths(void)
{
	/*
	 * what authd takes: user up to 254 bytes, password up to 1024; the
	 * session decodes at most OUT_MAX bytes, so both at once do not fit
	 */
	CHECK(plain_sized(1, 1, 'u', 'p') == NULL);
	CHECK(plain_sized(254, OUT_MAX - 256, 'u', 'p') == NULL);
	CHECK(plain_sized(OUT_MAX - 1026, 1024, '@', ' ') == NULL);
	CHECK(plain_sized(254, 8, '.', '\x01') == NULL);
}

/* the limits of authd/README.md "Field limits", through PLAIN */
static void
test_plain_field_limits(void)
{
	CHECK(plain_sized(255, 8, 'u', 'p') != NULL);
	CHECK(plain_sized(8, 1025, 'u', 'p') != NULL);
	CHECK(plain_sized(8, 8, 'u', '\r') != NULL);
	CHECK(plain_sized(8, 8, 'u', '\n') != NULL);
	CHECK(plain_sized(8, 8, ' ', 'p') != NULL);
	CHECK(plain_sized(8, 8, '\t', 'p') != NULL);
	CHECK(plain_sized(8, 8, '\x7f', 'p') != NULL);
	CHECK(plain_sized(8, 8, '\n', 'p') != NULL);
	CHECK(plain_sized(8, 8, '\x01', 'p') != NULL);
	/* high bytes are printable enough for authd; it answers FAIL */
	CHECK(plain_sized(8, 8, '\xc3', 'p') == NULL);
}

/* the same limits as smtp_auth_check() gives them to AUTH LOGIN */
static void
test_check(void)
{
	char u[300], pw[1100];
	const char *err;

	CHECK(smtp_auth_check("alice@example.org", "pass word") == NULL);
	CHECK(smtp_auth_check("a", "p") == NULL);
	err = smtp_auth_check("", "p");
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	err = smtp_auth_check("a", "");
	CHECK(err != NULL && strncmp(err, "535 5.7.8", 9) == 0);
	CHECK(smtp_auth_check("a b", "p") != NULL);
	CHECK(smtp_auth_check("a\x7f", "p") != NULL);
	CHECK(smtp_auth_check("a", "p\r") != NULL);
	CHECK(smtp_auth_check("a", "\np") != NULL);
	CHECK(smtp_auth_check("a", "p\tq \x01") == NULL);
	memset(u, 'u', 254);
	u[254] = '\0';
	memset(pw, 'p', 1024);
	pw[1024] = '\0';
	CHECK(smtp_auth_check(u, pw) == NULL);
	u[254] = 'u';
	u[255] = '\0';
	CHECK(smtp_auth_check(u, "p") != NULL);
	pw[1024] = 'p';
	pw[1025] = '\0';
	CHECK(smtp_auth_check("a", pw) != NULL);
}

int
main(void)
{
	test_b64_cases();
	test_b64_limit();
	test_b64_roundtrip();
	test_plain();
	test_plain_lengths();
	test_plain_field_limits();
	test_check();
	return T_DONE();
}
