/* SPDX-License-Identifier: ISC */
/*
 * smtp_data_test.c - unit tests for smtpd/smtp_data.c, the DATA stream:
 * only <CRLF>.<CRLF> ends a message (SMTP smuggling: "\n.\n", "\r.\r",
 * "\n.\r\n", "\r\n.\n", "\r\n.\r" and friends do not, and mark the message
 * bad), dot-unstuffing (RFC 5321 4.5.2), 8-bit bytes pass, NUL, lines over
 * 998 octets and messages over max_size are flagged while the stream is
 * still read to its real end, and the output is the message in LF form.
 *
 * Every case runs fed whole, one byte at a time, and split in two and in
 * three at every position, into output buffers of exactly len + 1 bytes
 * (the contract in smtpd.h), so a split "\r\n.\r\n" and an output overrun
 * (under ASan) are both caught (STYLE 9, 12).  More than 100 Received
 * fields in the header mark a mail loop (RFC 5321 6.3).
 */
#include <stdlib.h>

#include "buf.h"
#include "smtpd/smtpd.h"
#include "t.h"

#define NOMAX	UINT64_MAX

struct result {
	struct buf	 out;
	size_t		 used;		/* input bytes consumed */
	bool		 done;
	unsigned	 errors;
	uint64_t	 size;
};

static int feed_bad;	/* feed1 calls that broke the contract */

/* feed1 - one smtp_data_feed call on a copy of exactly len (+1) bytes */
static size_t
feed1(struct smtp_data *d, const char *in, size_t len, struct result *r)
{
	char *cin = malloc(len ? len : 1), *out = malloc(len + 1);
	size_t olen = (size_t)-1, n;
	bool done = true;

	memcpy(cin, in, len);
	n = smtp_data_feed(d, cin, len, out, &olen, &done);
	/* stops early only at the end; never writes more than len + 1 */
	if (n > len || olen > len + 1 || (!done && n != len))
		feed_bad++;
	else if (buf_append(&r->out, out, olen) == -1)
		feed_bad++;
	r->used += n;
	r->done = done;
	free(cin);
	free(out);
	return n;
}

/*
 * run_split - feed `in` cut at the given points (sorted, npts of them),
 * stopping at the end of the message like a session would
 */
static void
run_split(const char *in, size_t len, uint64_t max, const size_t *pts,
    size_t npts, struct result *r)
{
	struct smtp_data d;
	size_t from = 0, i;

	memset(r, 0, sizeof(*r));
	buf_init(&r->out, 0);
	smtp_data_init(&d, max);
	for (i = 0; i <= npts && !r->done; i++) {
		size_t to = i < npts ? pts[i] : len;

		(void)feed1(&d, in + from, to - from, r);
		from = to;
	}
	r->errors = d.errors;
	r->size = d.size;
}

static bool
same(const struct result *a, const struct result *b)
{
	return a->used == b->used && a->done == b->done &&
	    a->errors == b->errors && a->size == b->size &&
	    a->out.len == b->out.len &&
	    (a->out.len == 0 || memcmp(buf_head(&a->out), buf_head(&b->out),
	    a->out.len) == 0);
}

/*
 * check_case - the whole-input result is as expected, and every way of
 * cutting the input gives the same result
 */
static void
check_case(const char *name, const char *in, size_t len, uint64_t max,
    bool done, size_t used, unsigned errors, const char *out, size_t outlen)
{
	struct result whole, r;
	size_t pts[2], i, j, *one;
	int bad = 0;

	feed_bad = 0;
	run_split(in, len, max, NULL, 0, &whole);
	if (whole.done != done || whole.used != used || whole.errors != errors ||
	    (out && (whole.out.len != outlen ||
	    memcmp(buf_head(&whole.out) ? buf_head(&whole.out) : "", out, outlen) != 0)))
		fprintf(stderr, "%s: done=%d used=%zu errors=%#x out=%zu\n", name,
		    whole.done, whole.used, whole.errors, whole.out.len);
	CHECK(whole.done == done);
	CHECK(whole.used == used);
	CHECK(whole.errors == errors);
	if (out) {
		CHECK(whole.out.len == outlen);
		CHECK(outlen == 0 || (whole.out.len == outlen &&
		    memcmp(buf_head(&whole.out), out, outlen) == 0));
	}
	if (errors == 0)
		CHECK(whole.size == whole.out.len);

	/* two pieces, cut at every position */
	for (i = 0; i <= len; i++) {
		pts[0] = i;
		run_split(in, len, max, pts, 1, &r);
		if (!same(&r, &whole))
			bad++;
		buf_free(&r.out);
	}
	/* three pieces, every pair of cuts (short inputs) */
	if (len <= 64)
		for (i = 0; i <= len; i++)
			for (j = i; j <= len; j++) {
				pts[0] = i;
				pts[1] = j;
				run_split(in, len, max, pts, 2, &r);
				if (!same(&r, &whole))
					bad++;
				buf_free(&r.out);
			}
	/* one byte at a time */
	one = malloc((len ? len : 1) * sizeof(*one));
	for (i = 0; i < len; i++)
		one[i] = i + 1;
	run_split(in, len, max, one, len ? len - 1 : 0, &r);
	if (!same(&r, &whole))
		bad++;
	buf_free(&r.out);
	free(one);
	if (bad || feed_bad)
		fprintf(stderr, "%s: %d ways of cutting differ, %d bad calls\n",
		    name, bad, feed_bad);
	CHECK(bad == 0);
	CHECK(feed_bad == 0);
	buf_free(&whole.out);
}

#define S(s)	s, sizeof(s) - 1

static const struct data_case {
	const char	*name;
	const char	*in;
	size_t		 len;
	bool		 done;
	size_t		 used;		/* (size_t)-1: all of it */
	unsigned	 errors;
	const char	*out;
	size_t		 outlen;
} cases[] = {
	{ "simple", S("Subject: x\r\n\r\nbody\r\n.\r\n"), true, (size_t)-1, 0,
	    S("Subject: x\n\nbody\n") },
	{ "empty", S(".\r\n"), true, 3, 0, S("") },
	{ "one empty line", S("\r\n.\r\n"), true, 5, 0, S("\n") },
	{ "no end yet", S("a\r\nb\r\n"), false, 6, 0, S("a\nb\n") },
	{ "dot line not at the end", S("a\r\n.\r"), false, 5, 0, S("a\n") },
	{ "stuffed dots", S("..dot\r\n...\r\n..\r\n.\r\n"), true, (size_t)-1, 0,
	    S(".dot\n..\n.\n") },
	{ "undoubled dot dropped", S(".x\r\n.\r\n"), true, (size_t)-1, 0, S("x\n") },
	{ "dot mid-line kept", S("a.b\r\n a.\r\n.\r\n"), true, (size_t)-1, 0,
	    S("a.b\n a.\n") },
	{ "trailing spaces kept", S("a  \r\n \r\n.\r\n"), true, (size_t)-1, 0,
	    S("a  \n \n") },
	{ "stops at the end", S("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), true, 6, 0, S("a\n") },
	{ "8-bit", S("caf\xc3\xa9 \xff\x80\x7f\t\r\n.\r\n"), true, (size_t)-1, 0,
	    S("caf\xc3\xa9 \xff\x80\x7f\t\n") },
	{ "dot space", S(". \r\n.\r\n"), true, (size_t)-1, 0, S(" \n") },

	/* smuggling: none of these ends the message; all mark it bad */
	{ "LF.LF", S("a\n.\nMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_LF, NULL, 0 },
	{ "CR.CR", S("a\r.\rMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_CR, NULL, 0 },
	{ "LF.CRLF", S("a\n.\r\nMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_LF, NULL, 0 },
	{ "CR.CRLF", S("a\r.\r\nMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_CR, NULL, 0 },
	{ "CRLF.LF", S("a\r\n.\nMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_LF, NULL, 0 },
	{ "CRLF.CR", S("a\r\n.\rMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_CR, NULL, 0 },
	{ "CRLF.CRCRLF", S("a\r\n.\r\r\nMAIL FROM:<evil@x>\r\n.\r\n"), true,
	    (size_t)-1, DATA_ERR_BARE_CR, NULL, 0 },
	{ "LF.LF at start", S("\n.\nMAIL FROM:<evil@x>\r\n.\r\n"), true,
	    (size_t)-1, DATA_ERR_BARE_LF, NULL, 0 },
	{ ".LF at start", S(".\nMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_LF, NULL, 0 },
	{ ".CR at start", S(".\rMAIL FROM:<evil@x>\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_CR, NULL, 0 },
	{ "CRCRLF.CRLF", S("a\r\r\n.\r\n"), true, (size_t)-1, DATA_ERR_BARE_CR,
	    NULL, 0 },
	{ "LFCRLF.CRLF", S("a\n\r\n.\r\n"), true, (size_t)-1, DATA_ERR_BARE_LF,
	    NULL, 0 },
	{ "CRLF..CRLF is data", S("a\r\n..\r\nb\r\n.\r\n"), true, (size_t)-1, 0,
	    S("a\n.\nb\n") },
	{ "bare LF alone", S("a\nb\r\n.\r\n"), true, (size_t)-1, DATA_ERR_BARE_LF,
	    NULL, 0 },
	{ "bare CR alone", S("a\rb\r\n.\r\n"), true, (size_t)-1, DATA_ERR_BARE_CR,
	    NULL, 0 },
	{ "both", S("a\rb\nc\r\n.\r\n"), true, (size_t)-1,
	    DATA_ERR_BARE_CR | DATA_ERR_BARE_LF, NULL, 0 },
	{ "LF.LF, no real end", S("a\n.\n"), false, (size_t)-1, DATA_ERR_BARE_LF,
	    NULL, 0 },
	{ "NUL", S("a\0b\r\n.\r\n"), true, (size_t)-1, DATA_ERR_NUL, NULL, 0 },
	{ "NUL at start of line", S("\0\r\n.\r\n"), true, (size_t)-1, DATA_ERR_NUL,
	    NULL, 0 },
	{ "NUL after dot", S(".\0\r\n.\r\n"), true, (size_t)-1, DATA_ERR_NUL,
	    NULL, 0 },
};

static void
test_cases(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct data_case *t = &cases[i];

		check_case(t->name, t->in, t->len, NOMAX, t->done,
		    t->used == (size_t)-1 ? t->len : t->used, t->errors, t->out,
		    t->outlen);
	}
}

/* a bad message writes nothing more once it is known to be bad */
static void
test_bad_stops_output(void)
{
	struct result r;

	run_split(S("good\r\nbad\n line\r\nmore\r\n.\r\n"), NOMAX, NULL, 0, &r);
	CHECK(r.done && r.errors == DATA_ERR_BARE_LF);
	CHECK(r.out.len == 8 && memcmp(buf_head(&r.out), "good\nbad", 8) == 0);
	buf_free(&r.out);
}

/* lines: 998 octets plus CRLF pass, 999 do not (RFC 5321 4.5.3.1.6) */
static void
test_long_lines(void)
{
	char *in = malloc(5000), *want = malloc(5000);
	size_t n;

	/* exactly 998, then the end */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	memset(want, 'x', 998);
	want[998] = '\n';
	check_case("998", in, 1003, NOMAX, true, 1003, 0, want, 999);

	/* 999 */
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	check_case("999", in, 1004, NOMAX, true, 1004, DATA_ERR_LONG_LINE, NULL, 0);

	/* the stuffed dot does not count: "." + 998 */
	in[0] = '.';
	memset(in + 1, '.', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	memset(want, '.', 998);
	want[998] = '\n';
	check_case("stuffed 998", in, 1004, NOMAX, true, 1004, 0, want, 999);

	/* many lines of 998: the count restarts at every line */
	for (n = 0; n < 4 * 1000; n += 1000) {
		memset(in + n, 'y', 998);
		memcpy(in + n + 998, "\r\n", 2);
	}
	memcpy(in + n, ".\r\n", 3);
	check_case("4 x 998", in, n + 3, NOMAX, true, n + 3, 0, NULL, 0);

	/* a bare LF restarts the count (the message is bad anyway) */
	memset(in, 'z', 1200);
	in[600] = '\n';
	memcpy(in + 1200, "\r\n.\r\n", 5);
	check_case("600 LF 599", in, 1205, NOMAX, true, 1205, DATA_ERR_BARE_LF,
	    NULL, 0);
	free(in);
	free(want);
}

/*
 * max_size counts what RFC 1870 counts: octets on the wire with CRLF line
 * ends, without the stuffed dots; over it the message is flagged
 */
static void
test_too_big(void)
{
	check_case("10 of 10", S("01234567\r\n.\r\n"), 10, true, 13, 0,
	    S("01234567\n"));
	check_case("11 of 10", S("012345678\r\n.\r\n"), 10, true, 14,
	    DATA_ERR_TOO_BIG, NULL, 0);
	/* an empty line is 2 octets, though 1 is stored */
	check_case("empty lines", S("\r\n\r\n\r\n\r\n\r\n\r\n.\r\n"), 10, true,
	    15, DATA_ERR_TOO_BIG, NULL, 0);
	check_case("5 empty lines", S("\r\n\r\n\r\n\r\n\r\n.\r\n"), 10, true,
	    13, 0, S("\n\n\n\n\n"));
	/* stuffed dots do not count */
	check_case("dots", S(".........\r\n.\r\n"), 10, true, 14, 0,
	    S("........\n"));
	/* the end is still found long after the limit */
	check_case("far", S("0123456789\r\n0123456789\r\n..\r\n.\r\nQUIT\r\n"),
	    10, true, 31, DATA_ERR_TOO_BIG, NULL, 0);
	check_case("empty of 0", S(".\r\n"), 0, true, 3, 0, S(""));
	check_case("every error", S("0\0\r\n\n\r..x\r\n.\r\n"), 3, true, 14,
	    DATA_ERR_TOO_BIG | DATA_ERR_NUL | DATA_ERR_BARE_LF | DATA_ERR_BARE_CR,
	    NULL, 0);
}

/* hops - n header lines `field`, then `tail` and the end, into in[] */
static size_t
hops(char *in, size_t sz, unsigned n, const char *field, const char *tail)
{
	size_t o = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		o += (size_t)snprintf(in + o, sz - o, "%s\r\n", field);
	o += (size_t)snprintf(in + o, sz - o, "%s\r\n.\r\n", tail);
	return o;
}

/* RFC 5321 6.3: over 100 Received fields in the header is a loop */
static void
test_hops(void)
{
	char *in = malloc(8192);
	size_t n;

	n = hops(in, 8192, 100, "Received: x", "\r\nbody");
	check_case("100 hops", in, n, NOMAX, true, n, 0, NULL, 0);
	n = hops(in, 8192, 101, "Received: x", "\r\nbody");
	check_case("101 hops", in, n, NOMAX, true, n, DATA_ERR_LOOP, NULL, 0);
	n = hops(in, 8192, 101, "rECEIVED:x", "");
	check_case("any case", in, n, NOMAX, true, n, DATA_ERR_LOOP, NULL, 0);
	/* folded lines, other fields, the body: not counted */
	n = hops(in, 8192, 101, " Received: x", "");
	check_case("folded", in, n, NOMAX, true, n, 0, NULL, 0);
	n = hops(in, 8192, 101, "X-Received: x", "");
	check_case("X-Received", in, n, NOMAX, true, n, 0, NULL, 0);
	n = hops(in, 8192, 101, "Received x", "");
	check_case("no colon", in, n, NOMAX, true, n, 0, NULL, 0);
	memcpy(in, "\r\n", 2);	/* an empty first line: all body */
	n = hops(in + 2, 8190, 101, "Received: x", "") + 2;
	check_case("in the body", in, n, NOMAX, true, n, 0, NULL, 0);
	CHECK(strncmp(smtp_data_error(DATA_ERR_LOOP), "554 5.4.6", 9) == 0);
	free(in);
}

/* "\r\n.\r\n" split across calls after real content, at every position */
static void
test_split_end(void)
{
	static const char msg[] = "Subject: split\r\n\r\nline one\r\n.line two\r\n.\r\nQUIT\r\n";
	size_t len = sizeof(msg) - 1, i;
	struct result r;

	check_case("split end", msg, len, NOMAX, true, len - 6, 0,
	    S("Subject: split\n\nline one\nline two\n"));
	/* the remainder after the end is left to the caller, however cut */
	for (i = 0; i <= len; i++) {
		size_t pts[1] = { i };

		run_split(msg, len, NOMAX, pts, 1, &r);
		CHECK(r.done && r.used == len - 6);
		buf_free(&r.out);
	}
}

static void
test_error_text(void)
{
	CHECK(strncmp(smtp_data_error(0), "250 ", 4) == 0);
	CHECK(strncmp(smtp_data_error(DATA_ERR_TOO_BIG), "552 5.3.4", 9) == 0);
	CHECK(strncmp(smtp_data_error(DATA_ERR_LONG_LINE), "500 5.5.2", 9) == 0);
	CHECK(strncmp(smtp_data_error(DATA_ERR_NUL), "554 5.6.0", 9) == 0);
	CHECK(strncmp(smtp_data_error(DATA_ERR_BARE_LF), "554 5.6.0", 9) == 0);
	CHECK(strncmp(smtp_data_error(DATA_ERR_BARE_CR), "554 5.6.0", 9) == 0);
	/* too big wins: the client must not retry it unchanged elsewhere */
	CHECK(strncmp(smtp_data_error(DATA_ERR_TOO_BIG | DATA_ERR_BARE_LF |
	    DATA_ERR_NUL | DATA_ERR_LONG_LINE), "552 ", 4) == 0);
	CHECK(strncmp(smtp_data_error(DATA_ERR_BARE_LF | DATA_ERR_NUL), "554 ", 4) == 0);
}

int
main(void)
{
	test_cases();
	test_bad_stops_output();
	test_long_lines();
	test_too_big();
	test_split_end();
	test_error_text();
	test_hops();
	return T_DONE();
}
