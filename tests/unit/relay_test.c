/* SPDX-License-Identifier: ISC */
/*
 * relay_test.c - unit tests for the relay role's pure parts: the SMTP
 * reply parser and EHLO keywords (relay_reply.c), the DATA encoder and
 * scanner (relay_data.c), and the MX preference order (relay_dns.c).
 * Table-driven; the encoder is also fed one byte at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "smtpd/relay.h"
#include "tests/unit/t.h"

/* feed - a whole reply, lines split on "\n"; returns the last state */
static enum reply_state
feed(struct relay_reply *r, const char *text, const char **err_r)
{
	enum reply_state st = REPLY_MORE;
	const char *p = text, *nl;

	relay_reply_init(r);
	*err_r = NULL;
	do {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		st = relay_reply_line(r, p, (size_t)(nl - p), err_r);
		if (st != REPLY_MORE)
			return st;
		p = *nl ? nl + 1 : nl;
	} while (*p);
	return st;
}

static void
test_replies(void)
{
	static const struct {
		const char	*in;
		enum reply_state st;
		int		 code;
		const char	*formatted;
	} t[] = {
		{ "250 ok", REPLY_DONE, 250, "250 ok" },
		{ "250", REPLY_DONE, 250, "250" },
		{ "220-hello\n220-there\n220 ESMTP", REPLY_DONE, 220,
		    "220 hello there ESMTP" },
		{ "250-a", REPLY_MORE, 250, "250 a" },
		{ "550 5.1.1 <x@y>: unknown", REPLY_DONE, 550,
		    "550 5.1.1 <x@y>: unknown" },
		{ "250-a\n251 b", REPLY_ERROR, 0, NULL },	/* codes differ */
		{ "25 ok", REPLY_ERROR, 0, NULL },
		{ "2x0 ok", REPLY_ERROR, 0, NULL },
		{ "250_ok", REPLY_ERROR, 0, NULL },
		{ "199 no", REPLY_ERROR, 0, NULL },
		{ "600 no", REPLY_ERROR, 0, NULL },
		{ "", REPLY_ERROR, 0, NULL },
		{ "250 caf\xc3\xa9\x01\x7f!", REPLY_DONE, 250, "250 caf???" "?!" },
	};
	struct relay_reply r;
	const char *err;
	char out[128];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum reply_state st = feed(&r, t[i].in, &err);

		CHECK(st == t[i].st);
		CHECK((st == REPLY_ERROR) == (err != NULL));
		if (t[i].formatted == NULL)
			continue;
		CHECK(r.code == t[i].code);
		relay_reply_format(&r, out, sizeof(out));
		CHECK_STR(out, t[i].formatted);
	}
	/* a NUL inside a line is stored as '?', never cuts the text */
	relay_reply_init(&r);
	CHECK(relay_reply_line(&r, "250 a\0b", 7, &err) == REPLY_DONE);
	CHECK_STR(r.text, "a?b");
	/* formatting cuts to the buffer and stays terminated */
	(void)feed(&r, "421 a long goodbye", &err);
	relay_reply_format(&r, out, 8);
	CHECK_STR(out, "421 a l");
	relay_reply_format(&r, out, 3);
	CHECK(strlen(out) < 3);
}

static void
test_reply_limits(void)
{
	struct relay_reply r;
	char line[REPLY_LINE_MAX + 2];
	const char *err;
	unsigned i;

	/* over-long line */
	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	relay_reply_init(&r);
	CHECK(relay_reply_line(&r, line, REPLY_LINE_MAX + 1, &err) == REPLY_ERROR);
	relay_reply_init(&r);
	CHECK(relay_reply_line(&r, line, REPLY_LINE_MAX, &err) == REPLY_DONE);
	CHECK(r.len <= REPLY_TEXT_MAX && r.text[r.len] == '\0');
	/* endless continuation lines stop at REPLY_LINES_MAX */
	relay_reply_init(&r);
	for (i = 0; i < REPLY_LINES_MAX; i++)
		CHECK(relay_reply_line(&r, "250-SOMETHING LONGER THAN TWENTY BYTES",
		    38, &err) == REPLY_MORE);
	CHECK(relay_reply_line(&r, "250-x", 5, &err) == REPLY_ERROR);
	CHECK(r.truncated);
	CHECK(r.len == REPLY_TEXT_MAX && strlen(r.text) == REPLY_TEXT_MAX);
}

static void
test_caps(void)
{
	struct relay_reply r;
	struct relay_caps c;
	const char *err;

	CHECK(feed(&r, "250-mx.example.net greets you\n250-PIPELINING\n"
	    "250-SIZE 35882577\n250-8BITMIME\n250-starttls\n"
	    "250-AUTH PLAIN login CRAM-MD5 bad/mech TOOLONGMECHANISMNAME12345\n"
	    "250-AUTH=XOAUTH2\n250-SMTPUTF8\n250 ENHANCEDSTATUSCODES", &err) ==
	    REPLY_DONE);
	relay_caps_parse(&r, &c);
	CHECK(c.esmtp && c.pipelining && c.eightbitmime && c.starttls && c.smtputf8);
	CHECK(c.size_given && c.size == 35882577);
	CHECK_STR(c.auth, "PLAIN LOGIN CRAM-MD5 XOAUTH2");

	/* the greeting line is not a keyword; SIZE without a number */
	CHECK(feed(&r, "250-STARTTLS PIPELINING\n250 SIZE", &err) == REPLY_DONE);
	relay_caps_parse(&r, &c);
	CHECK(!c.starttls && !c.pipelining);
	CHECK(c.size_given && c.size == 0);

	/* a single-line EHLO reply has no keywords; junk SIZE is no limit */
	CHECK(feed(&r, "250 hi", &err) == REPLY_DONE);
	relay_caps_parse(&r, &c);
	CHECK(c.esmtp && !c.size_given && c.auth[0] == '\0');
	CHECK(feed(&r, "250-hi\n250-SIZE 12x\n250-AUTH\n250 STARTTLSX", &err) ==
	    REPLY_DONE);
	relay_caps_parse(&r, &c);
	CHECK(c.size_given && c.size == 0 && c.auth[0] == '\0' && !c.starttls);
}

/* encode - the whole input in pieces of `step` bytes (0 = at once) */
static char *
encode(const char *in, size_t len, size_t step, size_t *outlen_r)
{
	struct relay_enc e;
	char *out = malloc(2 * len + 8);
	size_t o = 0, i, n;

	relay_enc_init(&e);
	for (i = 0; i < len; i += n) {
		n = step == 0 || len - i < step ? len - i : step;
		o += relay_enc_feed(&e, in + i, n, out + o);
	}
	o += relay_enc_end(&e, out + o);
	out[o] = '\0';
	*outlen_r = o;
	return out;
}

static void
test_encoder(void)
{
	static const struct {
		const char	*in;
		const char	*out;
	} t[] = {
		{ "", ".\r\n" },
		{ "a\n", "a\r\n.\r\n" },
		{ "a", "a\r\n.\r\n" },			/* last line closed */
		{ ".\n", "..\r\n.\r\n" },
		{ "..x\n.\n", "...x\r\n..\r\n.\r\n" },
		{ "a.\n.b", "a.\r\n..b\r\n.\r\n" },
		{ "\n\n.", "\r\n\r\n..\r\n.\r\n" },
		{ "a\r\nb\n", "a\r\nb\r\n.\r\n" },	/* CR LF kept as one */
		{ "a\rb\n", "a b\r\n.\r\n" },		/* bare CR: a space */
		{ "a\r", "a\r\n.\r\n" },
		{ "\r.x\n", " .x\r\n.\r\n" },		/* not a line start */
		{ "\r\n.\r\n", "\r\n..\r\n.\r\n" },
		{ "x\r\r\n", "x \r\n.\r\n" },
	};
	size_t i, step, n, n1;
	char *out, *one;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		out = encode(t[i].in, strlen(t[i].in), 0, &n);
		CHECK_STR(out, t[i].out);
		for (step = 1; step <= 3; step++) {
			one = encode(t[i].in, strlen(t[i].in), step, &n1);
			CHECK(n1 == n && memcmp(one, out, n) == 0);
			free(one);
		}
		free(out);
	}
	/* binary and NUL bytes pass; never a lone CR or LF in the output */
	{
		char in[512];
		size_t k;

		for (k = 0; k < sizeof(in); k++)
			in[k] = (char)(k * 7 + k / 3);
		out = encode(in, sizeof(in), 5, &n);
		for (k = 0; k < n; k++) {
			if (out[k] == '\r')
				CHECK(k + 1 < n && out[k + 1] == '\n');
			if (out[k] == '\n')
				CHECK(k > 0 && out[k - 1] == '\r');
		}
		CHECK(n >= 5 && memcmp(out + n - 5, "\r\n.\r\n", 5) == 0);
		free(out);
	}
}

static void
test_scan(void)
{
	struct relay_scan s;

	relay_scan_init(&s);
	relay_scan_feed(&s, "Subject: x\n", 11);
	relay_scan_feed(&s, "\nbody \xc3\xa9\n", 9);
	CHECK(s.size == 20 + 3);
	CHECK(s.eightbit && !s.header8);
	relay_scan_init(&s);
	relay_scan_feed(&s, "Subject: \xc3", 10);
	relay_scan_feed(&s, "\xa9\n\nplain\n", 9);
	CHECK(s.eightbit && s.header8);
	relay_scan_init(&s);
	relay_scan_feed(&s, "a: b\r\n\r\nc", 9);	/* CR LF empty line */
	relay_scan_feed(&s, "\xff", 1);
	CHECK(s.eightbit && !s.header8);
}

static void
test_mx_order(void)
{
	unsigned pref[] = { 20, 10, 10, 30, 0 };
	size_t idx[5], i;
	bool first_a = false, first_b = false;
	uint32_t seed;

	for (seed = 1; seed < 64; seed++) {
		relay_dns_mx_order(pref, idx, 5, seed);
		CHECK(idx[0] == 4 && idx[3] == 0 && idx[4] == 3);
		CHECK((idx[1] == 1 && idx[2] == 2) || (idx[1] == 2 && idx[2] == 1));
		first_a |= idx[1] == 1;
		first_b |= idx[1] == 2;
		for (i = 1; i < 5; i++)
			CHECK(pref[idx[i - 1]] <= pref[idx[i]]);
	}
	CHECK(first_a && first_b);	/* equal preferences are shuffled */
}

int
main(void)
{
	test_replies();
	test_reply_limits();
	test_caps();
	test_encoder();
	test_scan();
	test_mx_order();
	return T_DONE();
}
