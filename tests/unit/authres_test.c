/* SPDX-License-Identifier: ISC */
/*
 * authres_test.c - unit tests for smtpd/authres.c: the filter removes
 * Authentication-Results fields with our authserv-id (any case, folded,
 * after comments, quoted) and keeps everything else byte for byte (other
 * ids, look-alike names, the same field in the body); every case is fed
 * whole and split at every position.  And the header we write: its
 * layout, quoting, reasons, dkim=none.
 */
#include <stdlib.h>

#include "buf.h"
#include "smtpd/authres.h"
#include "t.h"

#define ID	"mx.example.org"

static void
sink(void *arg, const char *p, size_t n)
{
	(void)buf_append(arg, p, n);
}

/* filter - in through the filter fed in pieces cut at a and b */
static char *
filter(const char *in, size_t a, size_t b, unsigned *removed)
{
	struct authres_filter f;
	struct buf out;
	size_t n = strlen(in);
	char *r;

	if (a > n)
		a = n;
	if (b < a || b > n)
		b = n;
	buf_init(&out, 0);
	authres_filter_init(&f, ID, sink, &out);
	authres_filter_feed(&f, in, a);
	authres_filter_feed(&f, in + a, b - a);
	authres_filter_feed(&f, in + b, n - b);
	authres_filter_end(&f);
	*removed = f.removed;
	authres_filter_free(&f);
	(void)buf_append(&out, "", 1);
	r = strdup(buf_head(&out));
	buf_free(&out);
	return r;
}

/* check_filter - every split of in gives want, with `removed` fields gone */
static void
check_filter(const char *in, const char *want, unsigned removed)
{
	size_t n = strlen(in), a, b;
	unsigned rm;
	char *got;
	bool ok = true;

	for (a = 0; a <= n && ok; a++)
		for (b = a; b <= n && ok; b += (n > 200 ? 7 : 1)) {
			got = filter(in, a, b, &rm);
			if (strcmp(got, want) != 0 || rm != removed) {
				fprintf(stderr, "split %zu %zu (removed %u):\n", a,
				    b, rm);
				CHECK_STR(got, want);
				ok = false;
			}
			free(got);
		}
	CHECK(ok);
}

static void
test_filter(void)
{
	char *big, *p;
	unsigned rm;

	check_filter("Subject: x\n\nbody\n", "Subject: x\n\nbody\n", 0);
	check_filter("Authentication-Results: mx.example.org; spf=pass\n"
	    "Subject: x\n\nbody\n", "Subject: x\n\nbody\n", 1);
	check_filter("Subject: x\nauthentication-results: MX.Example.ORG;\n"
	    "\tdkim=pass header.d=x\n\nbody\n", "Subject: x\n\nbody\n", 1);
	check_filter("A: 1\nAuthentication-Results:  (comment (nested)) \n"
	    " mx.example.org; none\nB: 2\n\n", "A: 1\nB: 2\n\n", 1);
	check_filter("Authentication-Results: \"mx.example.org\"; none\n\n",
	    "\n", 1);
	check_filter("Authentication-Results : mx.example.org; none\n\n",
	    "\n", 1);
	/* others stay */
	check_filter("Authentication-Results: other.example; spf=pass\n\nb\n",
	    "Authentication-Results: other.example; spf=pass\n\nb\n", 0);
	check_filter("Authentication-Results: mx.example.org.evil; none\n\n",
	    "Authentication-Results: mx.example.org.evil; none\n\n", 0);
	check_filter("Authentication-Results: mx.example; none\n\n",
	    "Authentication-Results: mx.example; none\n\n", 0);
	check_filter("Authentication-Results-X: mx.example.org; none\n\n",
	    "Authentication-Results-X: mx.example.org; none\n\n", 0);
	check_filter("X-Authentication-Results: mx.example.org; none\n\n",
	    "X-Authentication-Results: mx.example.org; none\n\n", 0);
	check_filter("Authentication-Results: (unterminated mx.example.org;\n\n",
	    "Authentication-Results: (unterminated mx.example.org;\n\n", 0);
	/* two of ours, one other, between them */
	check_filter("Authentication-Results: mx.example.org; a\n"
	    "Authentication-Results: o.example; b\n"
	    "Authentication-Results: mx.example.org; c\n\tx\n\n",
	    "Authentication-Results: o.example; b\n\n", 2);
	/* in the body: not a header */
	check_filter("S: 1\n\nAuthentication-Results: mx.example.org; a\n",
	    "S: 1\n\nAuthentication-Results: mx.example.org; a\n", 0);
	/* no body, no final line end */
	check_filter("Authentication-Results: mx.example.org; a",
	    "", 1);
	check_filter("Authentication-Results: o.example",
	    "Authentication-Results: o.example", 0);
	check_filter("Authentication-Res", "Authentication-Res", 0);
	check_filter("", "", 0);
	check_filter("no colon line\nA-R\n\n", "no colon line\nA-R\n\n", 0);
	/* too long to hold, its id unreadable: dropped with its lines */
	big = malloc(AUTHRES_FIELD_MAX + 200);
	p = big + sprintf(big, "Authentication-Results: (");
	memset(p, 'x', AUTHRES_FIELD_MAX);
	strcpy(p + AUTHRES_FIELD_MAX, "\n\tmore\nS: 1\n\nb\n");
	p = filter(big, 100, 100, &rm);
	CHECK_STR(p, "S: 1\n\nb\n");
	CHECK(rm == 1);
	free(p);
	/* too long, not ours: kept whole */
	p = big + sprintf(big, "Authentication-Results: o.example; x=");
	memset(p, 'y', AUTHRES_FIELD_MAX);
	strcpy(p + AUTHRES_FIELD_MAX, "\n\n");
	p = filter(big, 10, 70000, &rm);
	CHECK(strcmp(p, big) == 0 && rm == 0);
	free(p);
	free(big);
}

static void
test_id(void)
{
	CHECK(authres_id_is(" mx.example.org; none", 21, ID));
	CHECK(authres_id_is(" mx.example.org 1; none", 23, ID));
	CHECK(authres_id_is("mx.example.org", 14, ID));
	CHECK(!authres_id_is(" mx.example.or", 14, ID));
	CHECK(!authres_id_is("", 0, ID));
	CHECK(!authres_id_is(" ; none", 7, ID));
	CHECK(authres_id_is(" \"mx.exa\\mple.org\"", 18, ID));
	CHECK(!authres_id_is(" \"mx.example.org", 16, ID));
}

static char *
fmt(const struct authres *ar)
{
	struct buf b;
	char *r;

	buf_init(&b, 0);
	CHECK(authres_format(&b, ar) == 0);
	(void)buf_append(&b, "", 1);
	r = strdup(buf_head(&b));
	buf_free(&b);
	return r;
}

static void
test_format(void)
{
	struct authres_dkim d[2] = {
		{ "pass", NULL, "example.com", "rsa", "rsa-sha256",
		  "AbC/+1xyzzy" },
		{ "fail", "body hash (mismatch)", "example.com", "ed",
		  "ed25519-sha256", "q" },
	};
	struct authres ar;
	char *s;

	memset(&ar, 0, sizeof(ar));
	ar.id = ID;
	s = fmt(&ar);
	CHECK_STR(s, "Authentication-Results: mx.example.org; none\n");
	free(s);
	ar.spf = "pass";
	ar.spf_value = "bob@example.com";
	ar.dkim_checked = true;
	ar.dmarc = "pass";
	ar.dmarc_from = "example.com";
	ar.dmarc_policy = "reject";
	s = fmt(&ar);
	CHECK_STR(s, "Authentication-Results: mx.example.org;\n"
	    "\tspf=pass smtp.mailfrom=bob@example.com;\n"
	    "\tdkim=none;\n"
	    "\tdmarc=pass header.from=example.com policy.dmarc=reject\n");
	free(s);
	ar.spf = "softfail";
	ar.spf_helo = true;
	ar.spf_value = "mail.example.com";
	ar.spf_reason = "not (permitted)";
	ar.dkim = d;
	ar.ndkim = 2;
	ar.dmarc = NULL;
	s = fmt(&ar);
	CHECK_STR(s, "Authentication-Results: mx.example.org;\n"
	    "\tspf=softfail (not  permitted ) smtp.helo=mail.example.com;\n"
	    "\tdkim=pass header.d=example.com header.s=rsa header.a=rsa-sha256 "
	    "header.b=\"AbC/+1xy\";\n"
	    "\tdkim=fail (body hash  mismatch ) header.d=example.com header.s=ed "
	    "header.a=ed25519-sha256 header.b=q\n");
	free(s);
	memset(&ar, 0, sizeof(ar));
	ar.id = ID;
	ar.spf = "fail";
	ar.spf_value = "\"a b\"@example.com";
	s = fmt(&ar);
	CHECK_STR(s, "Authentication-Results: mx.example.org;\n"
	    "\tspf=fail smtp.mailfrom=\"\\\"a b\\\"@example.com\"\n");
	free(s);
}

int
main(void)
{
	test_id();
	test_filter();
	test_format();
	return T_DONE();
}
