/* SPDX-License-Identifier: ISC */
/*
 * mime_test.c - BODYSTRUCTURE, ENVELOPE and BODY[section] on tricky MIME
 * (nested multiparts, missing boundaries, message/rfc822, LF endings,
 * RFC 2231 parameter continuations, 8-bit headers), the resumable CRLF
 * reader that streams big literals, and the text SEARCH compares
 * (RFC 2047 words, base64, quoted-printable, Latin-1, case folding),
 * the SORT and THREAD keys (base subjects, dates with zones, first
 * addresses, message-ids), BINARY decoding and literal8 encoding, and
 * mailbox names between modified UTF-7 and UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "buf.h"
#include "crlf.h"
#include "imapd/imap_decode.h"
#include "imapd/imap_mime.h"
#include "imapd/imap_mutf7.h"
#include "imapd/imap_sortkey.h"

static char *
bs(const char *msg, bool ext)
{
	struct mime_msg *m = mime_parse(msg, strlen(msg));
	struct buf out;
	char *r;

	buf_init(&out, 0);
	mime_bodystructure(m, m->root, ext, &out);
	r = strdup(buf_head(&out));
	buf_free(&out);
	mime_free(&m);
	return r;
}

static char *
env(const char *msg)
{
	struct mime_msg *m = mime_parse(msg, strlen(msg));
	struct buf out;
	char *r;

	buf_init(&out, 0);
	mime_envelope(m, m->root, &out);
	r = strdup(buf_head(&out));
	buf_free(&out);
	mime_free(&m);
	return r;
}

static char *
sec(const char *msg, const char *spec, const char *f1, const char *f2)
{
	struct mime_msg *m = mime_parse(msg, strlen(msg));
	struct imap_section s;
	struct imap_arg a, fl, fa, fb;
	struct buf out;
	char *r, tmp[64];

	memset(&a, 0, sizeof(a));
	memset(&fl, 0, sizeof(fl));
	memset(&fa, 0, sizeof(fa));
	memset(&fb, 0, sizeof(fb));
	memset(&s, 0, sizeof(s));
	snprintf(tmp, sizeof(tmp), "%s", spec);
	a.type = IMAP_ARG_ATOM;
	a.s = tmp;
	a.len = strlen(tmp);
	if (f1) {
		a.next = &fl;
		fl.type = IMAP_ARG_LIST;
		fl.child = &fa;
		fa.type = IMAP_ARG_ATOM;
		fa.s = (char *)f1;
		fa.len = strlen(f1);
		if (f2) {
			fa.next = &fb;
			fb.type = IMAP_ARG_ATOM;
			fb.s = (char *)f2;
			fb.len = strlen(f2);
		}
	}
	buf_init(&out, 0);
	if (!imap_section_parse(*spec ? &a : NULL, &s))
		r = strdup("BADSPEC");
	else if (!mime_section(m, &s, &out))
		r = strdup("NOPART");
	else
		r = strdup(buf_head(&out) ? buf_head(&out) : "");
	buf_free(&out);
	mime_free(&m);
	return r;
}

static const char simple[] =
    "From: Joe <joe@example.org>\nTo: a@b.c\nSubject: hi\n\nline1\nline2\n";

static const char mixed[] =
    "From: x@y.z\n"
    "Content-Type: multipart/mixed; boundary=\"=_outer\"\n"
    "\n"
    "preamble\n"
    "--=_outer\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "plain\n"
    "--inner\n"
    "Content-Type: text/html\n"
    "\n"
    "<b>x</b>\n"
    "--inner--\n"
    "\n"
    "--=_outer\n"
    "Content-Type: application/pdf; name=\"a b.pdf\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"a b.pdf\"\n"
    "\n"
    "QUJD\n"
    "--=_outer--\n"
    "epilogue\n";

static const char noclose[] =
    "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n";

static const char nobound[] =
    "Content-Type: multipart/mixed\n\n--b\n\none\n";

static const char rfc822[] =
    "Subject: outer\n"
    "Content-Type: multipart/mixed; boundary=b\n"
    "\n"
    "--b\n"
    "\n"
    "see attached\n"
    "--b\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: inner\n"
    "From: i@j.k\n"
    "\n"
    "inner body\n"
    "--b--\n";

static void
test_bodystructure(void)
{
	char *r;

	r = bs(simple, true);
	CHECK_STR(r, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)");
	free(r);
	r = bs(simple, false);
	CHECK_STR(r, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2)");
	free(r);
	r = bs(mixed, false);
	CHECK_STR(r, "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1)"
	    "(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 8 1) \"ALTERNATIVE\")"
	    "(\"APPLICATION\" \"PDF\" (\"NAME\" \"a b.pdf\") NIL NIL \"BASE64\" 4) \"MIXED\")");
	free(r);
	r = bs(mixed, true);
	CHECK(r && strstr(r, "(\"attachment\" (\"FILENAME\" \"a b.pdf\"))") != NULL);
	CHECK(r && strstr(r, "\"MIXED\" (\"BOUNDARY\" \"=_outer\") NIL NIL NIL)") != NULL);
	free(r);
	r = bs(noclose, false);
	CHECK_STR(r, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 3 1)"
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 1) \"MIXED\")");
	free(r);
	r = bs(nobound, false);
	CHECK_STR(r, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 3)");
	free(r);
	r = bs(rfc822, false);
	CHECK_STR(r, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 1)"
	    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 41 "
	    "(NIL \"inner\" ((NIL NIL \"i\" \"j.k\")) ((NIL NIL \"i\" \"j.k\")) ((NIL NIL \"i\" \"j.k\")) NIL NIL NIL NIL NIL) "
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 1) 4) \"MIXED\")");
	free(r);
	/* garbage must not crash and must still give one part */
	r = bs("Content-Type: multipart/\n\n", false);
	CHECK(r != NULL && r[0] == '(');
	free(r);
	r = bs("Content-Type: multipart/mixed; boundary=x\n\nno parts here\n", false);
	CHECK_STR(r, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) \"MIXED\")");
	free(r);
}

static void
test_envelope(void)
{
	char *r;

	r = env(simple);
	CHECK_STR(r, "(NIL \"hi\" ((\"Joe\" NIL \"joe\" \"example.org\")) ((\"Joe\" NIL \"joe\" \"example.org\")) "
	    "((\"Joe\" NIL \"joe\" \"example.org\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL)");
	free(r);
	r = env("Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
	    "From: \"Doe, John\" <john@x.org>, jane@y.org (Jane)\n"
	    "To: friends: a@b.c, \"Q\\\"t\" <d@e.f>;, z@z.z\n"
	    "Subject: =?utf-8?q?caf=C3=A9?=\n  folded\n"
	    "Message-ID:  <id@host>\n\nbody\n");
	CHECK_STR(r, "(\"Mon, 1 Jan 2024 10:00:00 +0000\" \"=?utf-8?q?caf=C3=A9?=  folded\" "
	    "((\"Doe, John\" NIL \"john\" \"x.org\")(\"Jane\" NIL \"jane\" \"y.org\")) "
	    "((\"Doe, John\" NIL \"john\" \"x.org\")(\"Jane\" NIL \"jane\" \"y.org\")) "
	    "((\"Doe, John\" NIL \"john\" \"x.org\")(\"Jane\" NIL \"jane\" \"y.org\")) "
	    "((NIL NIL \"friends\" NIL)(NIL NIL \"a\" \"b.c\")(\"Q\\\"t\" NIL \"d\" \"e.f\")(NIL NIL NIL NIL)(NIL NIL \"z\" \"z.z\")) "
	    "NIL NIL NIL \"<id@host>\")");
	free(r);
	/* 8-bit text goes out as a literal */
	r = env("Subject: caf\xc3\xa9\n\n");
	CHECK_STR(r, "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)");
	free(r);
}

/* address lists: ENVELOPE form and the SEARCH text (imap_addr.c) */
static void
test_addresses(void)
{
	static const struct {
		const char *in, *env, *text;
	} c[] = {
		{ "a@b", "((NIL NIL \"a\" \"b\"))", "a@b" },
		{ "", "NIL", "" },
		{ "(only a comment)", "NIL", "" },
		{ "Real Name <u@d>", "((\"Real Name\" NIL \"u\" \"d\"))",
		  "Real Name <u@d>" },
		/* no phrase: the trailing comment is the name (as Dovecot) */
		{ "u@d (Real Name)", "((\"Real Name\" NIL \"u\" \"d\"))",
		  "Real Name <u@d>" },
		{ "<u (c1)@ (c2) d.org>", "((NIL NIL \"u\" \"d.org\"))",
		  "u@d.org" },
		{ "<@route:user@domain>",
		  "((NIL \"@route\" \"user\" \"domain\"))", "user@domain" },
		{ "\"Doe, J\" <j@x>, k@y",
		  "((\"Doe, J\" NIL \"j\" \"x\")(NIL NIL \"k\" \"y\"))",
		  "Doe, J <j@x> k@y" },
		/* groups: markers always balance */
		{ "g: a@b, c@d;, g2: e@f;",
		  "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")"
		  "(NIL NIL NIL NIL)(NIL NIL \"g2\" NIL)(NIL NIL \"e\" \"f\")"
		  "(NIL NIL NIL NIL))", "g: a@b c@d ; g2: e@f ;" },
		{ "group:;, group2: (foo) ;",
		  "((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)"
		  "(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL))",
		  "group: ; group2: ;" },
		{ "g: a@b", "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")"
		  "(NIL NIL NIL NIL))", "g: a@b ;" },
		{ "a@b; c@d", "((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\"))",
		  "a@b c@d" },
		{ "g: h: a@b;;", "((NIL NIL \"g\" NIL)(NIL NIL \"ha\" \"b\")"
		  "(NIL NIL NIL NIL))", "g: ha@b ;" },
		/* a NIL host would be a group start: Dovecot's fillers */
		{ "user", "((NIL NIL \"user\" \"MISSING_DOMAIN\"))", "user" },
		{ "@d", "((NIL NIL \"MISSING_MAILBOX\" \"d\"))", "@d" },
		{ "\"a b\"@c", "((NIL NIL \"a b\" \"c\"))", "a b@c" },
		{ "x@[1.2.3.4] (a (nested) c)",
		  "((\"a (nested) c\" NIL \"x\" \"[1.2.3.4]\"))",
		  "a (nested) c <x@[1.2.3.4]>" },
		{ "<a@b", "((NIL NIL \"a\" \"b\"))", "a@b" },
		{ "\"unterminated <a@b>",
		  "((NIL NIL \"unterminated <a@b>\" \"MISSING_DOMAIN\"))",
		  "unterminated <a@b>" },
	};
	struct imap_addrs a;
	struct buf e, t;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		buf_init(&e, 0);
		buf_init(&t, 0);
		imap_addr_parse(c[i].in, strlen(c[i].in), &a);
		imap_addr_envelope(&a, &e);
		imap_addr_text(&a, &t);
		buf_append(&e, "", 1);
		buf_append(&t, "", 1);
		CHECK_STR(buf_head(&e), c[i].env);
		CHECK_STR(buf_head(&t), c[i].text);
		imap_addr_free(&a);
		buf_free(&e);
		buf_free(&t);
	}
}

static void
test_sections(void)
{
	char *r;

	r = sec(simple, "", NULL, NULL);
	CHECK(r && strlen(r) == sizeof(simple) - 1 + 6);
	free(r);
	r = sec(simple, "TEXT", NULL, NULL);
	CHECK_STR(r, "line1\r\nline2\r\n");
	free(r);
	r = sec(simple, "1", NULL, NULL);
	CHECK_STR(r, "line1\r\nline2\r\n");
	free(r);
	r = sec(simple, "HEADER.FIELDS", "subject", "TO");
	CHECK_STR(r, "To: a@b.c\r\nSubject: hi\r\n\r\n");
	free(r);
	r = sec(simple, "HEADER.FIELDS.NOT", "subject", "TO");
	CHECK_STR(r, "From: Joe <joe@example.org>\r\n\r\n");
	free(r);
	r = sec(mixed, "1.2", NULL, NULL);
	CHECK_STR(r, "<b>x</b>");
	free(r);
	r = sec(mixed, "1.1.MIME", NULL, NULL);
	CHECK_STR(r, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	free(r);
	r = sec(mixed, "2", NULL, NULL);
	CHECK_STR(r, "QUJD");
	free(r);
	r = sec(mixed, "3", NULL, NULL);
	CHECK_STR(r, "NOPART");
	free(r);
	r = sec(mixed, "2.HEADER", NULL, NULL);
	CHECK_STR(r, "NOPART");
	free(r);
	r = sec(rfc822, "2.HEADER", NULL, NULL);
	CHECK_STR(r, "Subject: inner\r\nFrom: i@j.k\r\n\r\n");
	free(r);
	r = sec(rfc822, "2.TEXT", NULL, NULL);
	CHECK_STR(r, "inner body");
	free(r);
	r = sec(rfc822, "2.1", NULL, NULL);
	CHECK_STR(r, "inner body");
	free(r);
	r = sec(rfc822, "2", NULL, NULL);
	CHECK_STR(r, "Subject: inner\r\nFrom: i@j.k\r\n\r\ninner body");
	free(r);
	r = sec(rfc822, "2.HEADER.FIELDS", "from", NULL);
	CHECK_STR(r, "From: i@j.k\r\n\r\n");
	free(r);
	/* CRLF input stays CRLF, sizes agree */
	CHECK(crlf_size("a\r\nb\nc", 0, 7) == 8);
	CHECK(mime_lines("a\nb\nc", 0, 5) == 3);
}

/* every <off.cnt> of BODY[] equals the slice of the full CRLF form */
static void
test_partial_literal(void)
{
	static const char *msgs[] = { simple, mixed, "a\r\nb\n\r\nc",
	    "\n\n\r\n", "x" };
	struct imap_section s;
	struct buf full, lit, want;
	struct mime_msg *m;
	size_t k, off, cnt, n, bad = 0;

	for (k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++) {
		m = mime_parse(msgs[k], strlen(msgs[k]));
		memset(&s, 0, sizeof(s));
		buf_init(&full, 0);
		(void)mime_section(m, &s, &full);
		for (off = 0; off <= full.len + 1; off++) {
			for (cnt = 1; cnt <= full.len + 2; cnt++) {
				s.partial = true;
				s.off = (uint32_t)off;
				s.cnt = (uint32_t)cnt;
				buf_init(&lit, 0);
				buf_init(&want, 0);
				n = off < full.len ? full.len - off : 0;
				if (n > cnt)
					n = cnt;
				buf_printf(&want, "X {%zu}\r\n", n);
				if (n)
					buf_append(&want, buf_head(&full) + off, n);
				(void)mime_section_literal(m, &s, "X", &lit);
				if (lit.len != want.len || memcmp(buf_head(&lit),
				    buf_head(&want), lit.len) != 0)
					bad++;
				buf_free(&lit);
				buf_free(&want);
			}
		}
		/* and without partial: the whole section */
		s.partial = false;
		buf_init(&lit, 0);
		(void)mime_section_literal(m, &s, "X", &lit);
		CHECK(lit.len > full.len && memcmp(buf_head(&lit) + lit.len -
		    full.len, buf_head(&full), full.len) == 0);
		buf_free(&lit);
		buf_free(&full);
		mime_free(&m);
	}
	CHECK(bad == 0);
}


/* RFC 2231: continuations joined, extended values kept encoded */
static void
test_rfc2231(void)
{
	char *r;

	r = bs("Content-Type: application/pdf;\n"
	    " name*0=\"very long \";\n name*1=\"file name.pdf\"\n"
	    "Content-Disposition: attachment;\n"
	    " filename*0*=utf-8''caf%C3%A9;\n filename*1=\" 100%.pdf\"\n"
	    "\nx\n", true);
	CHECK(r && strstr(r, "(\"NAME\" \"very long file name.pdf\")") != NULL);
	CHECK(r && strstr(r, "(\"attachment\" (\"FILENAME*\" "
	    "\"utf-8''caf%C3%A9%20100%25.pdf\"))") != NULL);
	free(r);
	/* out of order, a gap: only 0..n in a row count; with a leading
	 * zero it is no continuation, just a name */
	r = bs("Content-Type: text/plain; a*1=B; a*0=A; a*3=D; b*01=x;"
	    " b*0=y; charset*=us-ascii'en'x\n\nx\n", false);
	CHECK_STR(r, "(\"TEXT\" \"PLAIN\" (\"A\" \"AB\" \"B*01\" \"x\" "
	    "\"B\" \"y\" \"CHARSET*\" \"us-ascii'en'x\") NIL NIL \"7BIT\" 3 1)");
	free(r);
	/* a boundary split in two */
	r = bs("Content-Type: multipart/mixed; boundary*0=\"ab\";"
	    " boundary*1=\"cd\"\n\n--abcd\n\none\n--abcd--\n", false);
	CHECK_STR(r, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
	    "\"7BIT\" 3 1) \"MIXED\")");
	free(r);
	/* 8-bit in a parameter: a literal, not a broken quoted string */
	r = bs("Content-Type: text/plain; name=\"\xc3\xa9t\xc3\xa9.txt\"\n\nx\n",
	    false);
	CHECK(r && strstr(r, "(\"NAME\" {9}\r\n\xc3\xa9t\xc3\xa9.txt)") != NULL);
	free(r);
}

/* the CRLF reader gives the same bytes in any chunking */
static void
test_crlf_reader(void)
{
	static const char *src[] = { "a\nb\r\nc\n\n", "\n", "\r\n\n\rx", "" };
	struct mime_crlf rd;
	struct buf full, got;
	size_t k, step, skip, n, bad = 0;

	for (k = 0; k < sizeof(src) / sizeof(src[0]); k++) {
		buf_init(&full, 0);
		crlf_put(&full, src[k], 0, strlen(src[k]));
		for (skip = 0; skip <= full.len; skip++) {
			for (step = 1; step <= full.len + 1; step++) {
				mime_crlf_init(&rd, src[k], 0, strlen(src[k]));
				CHECK(mime_crlf_read(&rd, NULL, skip) == skip);
				buf_init(&got, 0);
				while ((n = mime_crlf_read(&rd, &got, step)) > 0)
					;
				if (got.len != full.len - skip || (got.len &&
				    memcmp(buf_head(&got), buf_head(&full) + skip,
				    got.len) != 0))
					bad++;
				buf_free(&got);
			}
		}
		buf_free(&full);
	}
	CHECK(bad == 0);
}

static char *
dh(const char *in)
{
	struct buf out;
	char *r;

	buf_init(&out, 0);
	decode_header(in, strlen(in), &out);
	r = strndup(buf_head(&out) ? buf_head(&out) : "", out.len);
	buf_free(&out);
	return r;
}

static char *
db(const char *in, const char *cte, const char *cs)
{
	struct buf out;
	char *r;

	buf_init(&out, 0);
	decode_body(in, strlen(in), cte, cs, &out);
	r = strndup(buf_head(&out) ? buf_head(&out) : "", out.len);
	buf_free(&out);
	return r;
}

static void
test_decode(void)
{
	char *r, f[64];

	r = dh("=?utf-8?q?caf=C3=A9?= =?UTF-8?B?4pyT?= ok");
	CHECK_STR(r, "caf\xc3\xa9\xe2\x9c\x93 ok");
	free(r);
	r = dh("=?iso-8859-1?Q?Gr=FC=DFe_aus?= K\xc3\xb6ln");
	CHECK_STR(r, "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln");
	free(r);
	r = dh("a =?x?q?no end b =?utf-8*fr?q?=41?= =?bad");
	CHECK_STR(r, "a =?x?q?no end b A =?bad");
	free(r);
	r = dh("=?utf-8?q?" "?= =?us-ascii?b?!!!?=");	/* empty, junk */
	CHECK_STR(r, "");
	free(r);
	r = db("SGVs\nbG8g\r\nd29y\nbGQ=\n", "BASE64", "utf-8");
	CHECK_STR(r, "Hello world");
	free(r);
	r = db("caf=E9 soft=\nbreak =3D =\r\nend=", "quoted-printable",
	    "ISO-8859-1");
	CHECK_STR(r, "caf\xc3\xa9 softbreak = end=");
	free(r);
	r = db("plain \xe9", "8bit", "windows-1252");
	CHECK_STR(r, "plain \xc3\xa9");
	free(r);
	snprintf(f, sizeof(f), "%s", "Caf\xc3\x89 \xc3\x97 ABC");
	decode_fold(f, strlen(f));
	CHECK_STR(f, "caf\xc3\xa9 \xc3\x97 abc");
}

/* ---- SORT/THREAD keys (imap_sortkey.c) and BINARY (imap_binary.c) ---- */

static char *
subj(const char *v, bool *reply)
{
	struct buf out;
	char *r;

	buf_init(&out, 0);
	*reply = sortkey_subject(v, strlen(v), &out);
	r = strndup(buf_head(&out) ? buf_head(&out) : "", out.len);
	buf_free(&out);
	return r;
}

static void
test_sortkeys(void)
{
	static const struct {
		const char *in, *base;
		bool reply;
	} subjects[] = {
		{ "hello", "HELLO", false },
		{ "Re: hello", "HELLO", true },
		{ "RE: Fwd: FW: re[2]: hello", "HELLO", true },
		{ "[list] Re: [PATCH 1/2] hello", "HELLO", true },
		{ "[list] hello", "HELLO", false },
		{ "[only]", "[ONLY]", false },
		{ "[a] [b]", "[B]", false },
		{ "hello (fwd)  (FWD)", "HELLO", true },
		{ "[Fwd: [fwd: hello]]", "HELLO", true },
		{ "re: [fwd: [fwd: re: [fwd: babylon]]]", "BABYLON", true },
		{ "Ad: hello", "AD: HELLO", false },
		{ "  hello \t  world  ", "HELLO WORLD", false },
		{ "=?utf-8?q?Re=3A_hello?=", "HELLO", true },
		{ "=?iso-8859-1?q?=E9t=E9?=", "E\xcc\x81TE\xcc\x81", false },
		{ "Re:", "", true },
		{ "", "", false },
		{ "Re : x", "X", true },
		{ "Re x: y", "RE X: Y", false },
		{ "Re [2]: x", "X", true },
	};
	static const struct {
		const char *in;
		int64_t t;	/* INT64_MIN: unreadable */
	} dates[] = {
		{ "Mon, 1 Jan 2024 10:00:00 +0200", 1704096000 },
		{ "1 Jan 2024 10:00 GMT", 1704103200 },
		{ "Sun, 31 Dec 2023 23:30:00 -0500 (EST)", 1704083400 },
		{ "1 Jan 24 10:00:00 EST", 1704103200 + 5 * 3600 },
		{ "1 Jan 99 00:00:00 +0000", 915148800 },
		{ "Mon,1 Jan 2024 10:00:00 +0000", 1704103200 },
		{ "1 Jan 2024 25:00:00 +0000", INT64_MIN },
		{ "not a date", INT64_MIN },
		{ "", INT64_MIN },
		{ "32 Jan 2024 10:00 +0000", INT64_MIN },
	};
	static const struct {
		const char *in, *mailbox, *display;
	} addrs[] = {
		{ "Ann <ann@x.org>", "ANN", "ANN" },
		{ "bob@y.org, Ann <a@x>", "BOB", "BOB@Y.ORG" },
		{ "team: x@y.org;", "TEAM", "TEAM" },
		{ "c@d (Cee)", "C", "CEE" },
		{ "=?iso-8859-1?q?=C9mile?= <e@f>", "E", "E\xcc\x81MILE" },
		{ "", "", "" },
	};
	struct buf out;
	size_t i, pos;
	int64_t t;
	bool reply, ok;
	char *r;

	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		r = subj(subjects[i].in, &reply);
		CHECK_STR(r, subjects[i].base);
		CHECK(reply == subjects[i].reply);
		free(r);
	}
	for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		t = INT64_MIN;
		ok = sortkey_date(dates[i].in, strlen(dates[i].in), &t);
		CHECK(ok == (dates[i].t != INT64_MIN));
		if (ok)
			CHECK(t == dates[i].t);
	}
	buf_init(&out, 0);
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		buf_reset(&out);
		sortkey_addr(addrs[i].in, strlen(addrs[i].in), false, &out);
		(void)buf_append(&out, "", 1);
		CHECK_STR(buf_head(&out), addrs[i].mailbox);
		buf_reset(&out);
		sortkey_addr(addrs[i].in, strlen(addrs[i].in), true, &out);
		(void)buf_append(&out, "", 1);
		CHECK_STR(buf_head(&out), addrs[i].display);
	}
	{
		const char *refs = "<a@b> (comment <no@no>) < c @\r\n d > <> "
		    "<unterminated <e@f>";
		const char *want[] = { "a@b", "c@d", "e@f" };

		pos = 0;
		for (i = 0; sortkey_msgid_next(refs, strlen(refs), &pos, &out);
		    i++) {
			(void)buf_append(&out, "", 1);
			CHECK(i < 3);
			if (i < 3)
				CHECK_STR(buf_head(&out), want[i]);
		}
		CHECK(i == 3);
	}
	buf_free(&out);
}

static char *
bin(const char *msg, uint32_t part, bool *ok)
{
	struct mime_msg *m = mime_parse(msg, strlen(msg));
	struct imap_section s;
	struct buf out;
	char *r;

	memset(&s, 0, sizeof(s));
	s.npart = 1;
	s.part[0] = part;
	buf_init(&out, 0);
	*ok = mime_binary(m, &s, &out);
	r = strndup(buf_head(&out) ? buf_head(&out) : "", out.len);
	buf_free(&out);
	mime_free(&m);
	return r;
}

static void
test_binary(void)
{
	const char *msg = "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Transfer-Encoding: base64\n\n aGVs\nbG8=\n--b\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "a=3Db  \nsoft=\nbreak= \t\n=ZZ end\n--b\n"
	    "Content-Transfer-Encoding: 8bit\n\nline\nline2\n--b\n"
	    "Content-Transfer-Encoding: x-uue\n\nzz\n--b--\n";
	const char *app = "From: a\r\nContent-Transfer-Encoding: Binary\r\n"
	    " (folded)\r\nX: y\r\n\r\nab\r\n";
	struct buf out;
	bool ok;
	char *r;

	r = bin(msg, 1, &ok);
	CHECK(ok);
	CHECK_STR(r, "hello");
	free(r);
	r = bin(msg, 2, &ok);
	CHECK_STR(r, "a=b\r\nsoftbreak=ZZ end");
	free(r);
	r = bin(msg, 3, &ok);
	CHECK_STR(r, "line\r\nline2");
	free(r);
	r = bin(msg, 4, &ok);
	CHECK(!ok);
	free(r);
	r = bin(msg, 9, &ok);	/* no such part: empty */
	CHECK(ok);
	CHECK_STR(r, "");
	free(r);
	buf_init(&out, 0);
	CHECK(mime_binary_encode(app, strlen(app), &out));
	(void)buf_append(&out, "", 1);
	CHECK_STR(buf_head(&out), "From: a\r\nX: y\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nYWINCg==");
	buf_reset(&out);
	CHECK(!mime_binary_encode(msg, strlen(msg), &out));
	CHECK(out.len == 0);
	buf_free(&out);
}

static void
test_mutf7(void)
{
	static const char *pairs[][2] = {
		{ "INBOX", "INBOX" }, { "&-", "&" }, { "a&-b", "a&b" },
		{ "Gr&APwA3w-e", "Gr\xc3\xbc\xc3\x9f" "e" },
		{ "&AOQ-&-&AOU-", "\xc3\xa4&\xc3\xa5" },
		{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
		{ "x&2DTdHg-", "x\xf0\x9d\x84\x9e" },	/* U+1D11E */
	};
	static const char *bad7[] = { "&", "&AOQ", "&AOQ-&AOU-", "&AGE-",
		"&2DQ-", "&3R4-", "&AOQA-", "&AOR-", "a\xc3\xa4", "&*-", "&-\t" };
	static const char *bad8[] = { "\xc3", "\xc0\x80", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "a\tb" };
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		CHECK(mutf7_to_utf8(pairs[i][0], out, sizeof(out)));
		CHECK_STR(out, pairs[i][1]);
		CHECK(mutf7_from_utf8(pairs[i][1], out, sizeof(out)));
		CHECK_STR(out, pairs[i][0]);
	}
	for (i = 0; i < sizeof(bad7) / sizeof(bad7[0]); i++)
		CHECK(!mutf7_to_utf8(bad7[i], out, sizeof(out)));
	for (i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++)
		CHECK(!mutf7_from_utf8(bad8[i], out, sizeof(out)));
	CHECK(!mutf7_from_utf8("\xc3\xa4\xc3\xa4\xc3\xa4", out, 8));
	CHECK(!mutf7_to_utf8("abc", out, 3));
}

int
main(void)
{
	test_mutf7();
	test_sortkeys();
	test_binary();
	test_decode();
	test_rfc2231();
	test_crlf_reader();
	test_partial_literal();
	test_bodystructure();
	test_envelope();
	test_addresses();
	test_sections();
	return T_DONE();
}
