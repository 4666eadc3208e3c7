/* SPDX-License-Identifier: ISC */
/*
 * imap_parser_test.c - table-driven tests of the IMAP command parser, fed
 * whole and one byte at a time (STYLE 12), plus sequence sets and FETCH
 * attributes.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "buf.h"
#include "imapd/imap_parser.h"

static void
dump_args(struct buf *b, const struct imap_arg *a)
{
	for (; a; a = a->next) {
		switch (a->type) {
		case IMAP_ARG_ATOM:
			buf_puts(b, a->s);
			if (a->section) {
				buf_puts(b, "[");
				dump_args(b, a->child);
				buf_puts(b, "]");
				if (a->partial)
					buf_printf(b, "<%s>", a->partial);
			}
			break;
		case IMAP_ARG_STRING:
			buf_printf(b, "\"%s\"", a->s);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(b, "{%zu}", a->len);
			buf_append(b, a->s, a->len);
			break;
		case IMAP_ARG_LIST:
			buf_puts(b, "(");
			dump_args(b, a->child);
			buf_puts(b, ")");
			break;
		}
		if (a->next)
			buf_puts(b, " ");
	}
}

/* run - feed `in` in chunks of `step` (0 = whole); returns the dump or "ERR:msg" */
static char *
run(const char *in, size_t inlen, size_t step, int *conts)
{
	struct imap_parser *p = imap_parser_create(200, 1000, 5, 50);
	struct buf out;
	size_t off = 0, n, used;
	enum imap_parse_res r = IMAP_PARSE_NEED_MORE;
	char *res;

	buf_init(&out, 0);
	*conts = 0;
	while (off < inlen) {
		n = step ? step : inlen - off;
		if (n > inlen - off)
			n = inlen - off;
		r = imap_parser_feed(p, in + off, n, &used);
		off += used;
		if (imap_parser_want_cont(p))
			(*conts)++;
		if (r != IMAP_PARSE_NEED_MORE)
			break;
	}
	if (r == IMAP_PARSE_DONE) {
		const struct imap_cmd *c = imap_parser_cmd(p);

		buf_printf(&out, "%s %s", c->tag, c->name);
		if (c->args) {
			buf_puts(&out, " ");
			dump_args(&out, c->args);
		}
	} else if (r == IMAP_PARSE_ERROR)
		buf_printf(&out, "ERR:%s:%s%s", imap_parser_tag(p),
		    imap_parser_error(p), imap_parser_fatal(p) ? ":fatal" : "");
	else
		buf_puts(&out, "MORE");
	res = strdup(buf_head(&out) ? buf_head(&out) : "");
	buf_free(&out);
	imap_parser_free(&p);
	return res;
}

static const struct {
	const char *in;
	const char *want;
	int conts;
} cases[] = {
	{ "a1 NOOP\r\n", "a1 NOOP", 0 },
	{ "a1 NOOP\n", "a1 NOOP", 0 },
	{ "a1 NOOP", "MORE", 0 },
	{ "a LOGIN joe \"se\\\"cr\\\\et\"\r\n", "a LOGIN joe \"se\"cr\\et\"", 0 },
	{ "a LOGIN {3}\r\njoe {4+}\r\npass\r\n", "a LOGIN {3}joe {4}pass", 1 },
	{ "a LOGIN {0}\r\n \"\"\r\n", "a LOGIN {0} \"\"", 1 },
	{ "a SELECT INBOX\r\n", "a SELECT INBOX", 0 },
	{ "a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
	  "a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)", 0 },
	{ "a FETCH 1 BODY[]\r\n", "a FETCH 1 BODY[]", 0 },
	{ "a FETCH 1 (BODY[1.2.MIME] BODY[TEXT])\r\n",
	  "a FETCH 1 (BODY[1.2.MIME] BODY[TEXT])", 0 },
	{ "a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)\r\n",
	  "a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)", 0 },
	{ "a LIST \"\" *\r\n", "a LIST \"\" *", 0 },
	{ "a LIST \"\" %\r\n", "a LIST \"\" %", 0 },
	{ "a APPEND INBOX (\\Seen) \"01-Jan-2020 10:00:00 +0000\" {5}\r\nhello\r\n",
	  "a APPEND INBOX (\\Seen) \"01-Jan-2020 10:00:00 +0000\" {5}hello", 1 },
	{ "a X ((((a))))\r\n", "a X ((((a))))", 0 },
	{ "a X (((((a)))))\r\n", "a X (((((a)))))", 0 },
	{ "a X ((((((a))))))\r\n", "ERR:a:too deeply nested", 0 },
	{ "a X ()\r\n", "a X ()", 0 },
	{ "a X (a\r\n", "ERR:a:unterminated list", 0 },
	{ "a X a)\r\n", "ERR:a:unexpected close bracket", 0 },
	{ "a X (a)b\r\n", "ERR:a:missing space", 0 },
	{ "a X )\r\n", "ERR:a:unexpected close bracket", 0 },
	{ "a X \"abc\r\n", "ERR:a:unterminated quoted string", 0 },
	{ "a X \"a\\b\"\r\n", "ERR:a:bad escape in quoted string", 0 },
	{ "a X \"a\"b\r\n", "ERR:a:missing space", 0 },
	{ "a LOGIN {1001}\r\n", "ERR:a:literal too big", 0 },
	{ "a LOGIN {1001+}\r\n", "ERR:a:literal too big:fatal", 0 },
	{ "a LOGIN {4294967295}\r\n", "ERR:a:literal too big", 0 },
	{ "a LOGIN {4294967296}\r\n", "ERR:a:literal too big", 0 },
	{ "a LOGIN {99999999999999999999999}\r\n", "ERR:a:literal too big", 0 },
	{ "a LOGIN {600}\r\n", "MORE", 1 },
	{ "\r\n", "ERR:*:empty command", 0 },
	{ "a\r\n", "ERR:a:missing command", 0 },
	{ "a \r\n", "ERR:a:bad command name", 0 },
	{ "+a NOOP\r\n", "ERR:*:bad tag", 0 },
	{ "a NO-OP\r\n", "ERR:a:bad command name", 0 },
	{ "a UID FETCH 1,3:5,7:* (UID FLAGS)\r\n", "a UID FETCH 1,3:5,7:* (UID FLAGS)", 0 },
	{ "a SEARCH  CHARSET  UTF-8 TEXT x\r\n", "a SEARCH CHARSET UTF-8 TEXT x", 0 },
	{ "a X {\r\n", "ERR:a:bad literal", 0 },
	/* '[' is an atom character except after BODY and BINARY (imaptest) */
	{ "a SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}\r\n",
	  "a SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}", 0 },
	{ "a LIST \"\" x[1]%*\r\n", "a LIST \"\" x[1]%*", 0 },
	{ "a FETCH 1 (binary.peek[1] body[])\r\n",
	  "a FETCH 1 (binary.peek[1] body[])", 0 },
};

static void
test_table(void)
{
	size_t i, step;
	int conts;
	char *got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (step = 0; step < 3; step++) {
			got = run(cases[i].in, strlen(cases[i].in), step, &conts);
			CHECK_STR(got, cases[i].want);
			CHECK(conts == cases[i].conts);
			free(got);
		}
	}
}

static void
test_special(void)
{
	struct imap_parser *p = imap_parser_create(200, 1000, 5, 50);
	char line[600];
	size_t used;
	enum imap_parse_res r;
	int conts;
	char *got;
	static const char nul[] = "a LOGIN \"a\0b\" c\r\nb NOOP\r\n";

	/* an over-long line is skipped and the next command parses */
	memset(line, 'x', sizeof(line));
	memcpy(line, "t1 NOOP ", 8);
	r = imap_parser_feed(p, line, sizeof(line), &used);
	CHECK(r == IMAP_PARSE_NEED_MORE && used == sizeof(line));
	r = imap_parser_feed(p, "xx\r\nt2 NOOP\r\n", 13, &used);
	CHECK(r == IMAP_PARSE_ERROR && used == 4);
	CHECK_STR(imap_parser_error(p), "line too long");
	CHECK_STR(imap_parser_tag(p), "t1");
	r = imap_parser_feed(p, "t2 NOOP\r\n", 9, &used);
	CHECK(r == IMAP_PARSE_DONE);
	CHECK_STR(imap_parser_cmd(p)->tag, "t2");
	imap_parser_free(&p);
	CHECK(p == NULL);

	/* NUL in a line */
	got = run(nul, sizeof(nul) - 1, 0, &conts);
	CHECK_STR(got, "ERR:a:NUL in command");
	free(got);
	/* NUL inside a literal is kept (the caller decides) */
	got = run("a X {3}\r\na\0b\r\n", 14, 1, &conts);
	CHECK(got && strncmp(got, "a X {3}a", 8) == 0);
	free(got);
}

static void
test_seqset(void)
{
	struct imap_seqset s;

	CHECK(imap_seqset_parse("1:3,7,10:*", &s));
	CHECK(imap_seqset_has(&s, 1, 20) && imap_seqset_has(&s, 3, 20));
	CHECK(!imap_seqset_has(&s, 4, 20) && imap_seqset_has(&s, 7, 20));
	CHECK(imap_seqset_has(&s, 15, 20) && !imap_seqset_has(&s, 21, 20));
	imap_seqset_free(&s);
	CHECK(imap_seqset_parse("*:5", &s));
	CHECK(imap_seqset_has(&s, 6, 8) && !imap_seqset_has(&s, 4, 8));
	imap_seqset_free(&s);
	CHECK(!imap_seqset_parse("0", &s));
	CHECK(!imap_seqset_parse("1,", &s));
	CHECK(!imap_seqset_parse("1::2", &s));
	CHECK(!imap_seqset_parse("4294967296", &s));
	CHECK(!imap_seqset_parse("", &s));
	CHECK(imap_seqset_parse("4294967295", &s));
	imap_seqset_free(&s);
}

static void
test_partial(void)
{
	uint32_t lo, hi;
	struct imap_range r[2] = { { 2, 4 }, { 9, 9 } };
	struct imap_seqset s = { r, 2, true };

	CHECK(imap_partial_parse("1:10", &lo, &hi) && lo == 1 && hi == 10);
	CHECK(imap_partial_parse("4:2", &lo, &hi) && lo == 2 && hi == 4);
	CHECK(!imap_partial_parse("1", &lo, &hi));
	CHECK(!imap_partial_parse("1:*", &lo, &hi));
	CHECK(!imap_partial_parse("*:1", &lo, &hi));
	CHECK(!imap_partial_parse("0:1", &lo, &hi));
	CHECK(!imap_partial_parse("1:2,3", &lo, &hi));
	/* a sorted set (SEARCHRES) is searched, not walked */
	CHECK(imap_seqset_has(&s, 3, 0) && imap_seqset_has(&s, 9, 0));
	CHECK(!imap_seqset_has(&s, 1, 0) && !imap_seqset_has(&s, 5, 0) &&
	    !imap_seqset_has(&s, 10, 0));
}

static void
test_fetch(void)
{
	struct imap_parser *p = imap_parser_create(500, 1000, 5, 50);
	static const char cmd[] = "a FETCH 1 (UID FLAGS BODY.PEEK[1.2.HEADER.FIELDS"
	    " (From Subject)]<10.20> BODY[] RFC822.SIZE BODY[3.MIME])\r\n";
	struct imap_fetch f;
	const char *err;
	size_t used;

	CHECK(imap_parser_feed(p, cmd, sizeof(cmd) - 1, &used) == IMAP_PARSE_DONE);
	CHECK(imap_fetch_parse(imap_parser_cmd(p)->args->next, &f, &err));
	CHECK(f.items == (IMAP_F_UID | IMAP_F_FLAGS | IMAP_F_SIZE));
	CHECK(f.nsec == 3);
	CHECK(f.sec[0].peek && f.sec[0].npart == 2 && f.sec[0].part[1] == 2);
	CHECK(f.sec[0].kind == IMAP_SEC_HEADER_FIELDS && f.sec[0].nfields == 2);
	CHECK(f.sec[0].partial && f.sec[0].off == 10 && f.sec[0].cnt == 20);
	CHECK_STR(f.sec[0].name, "BODY[1.2.HEADER.FIELDS (\"From\" \"Subject\")]<10>");
	CHECK_STR(f.sec[1].name, "BODY[]");
	CHECK(f.sec[2].kind == IMAP_SEC_MIME);
	CHECK_STR(f.sec[2].name, "BODY[3.MIME]");

	CHECK(imap_parser_feed(p, "b FETCH 1 BODY[MIME]\r\n", 22, &used) == IMAP_PARSE_DONE);
	CHECK(!imap_fetch_parse(imap_parser_cmd(p)->args->next, &f, &err));
	CHECK(imap_parser_feed(p, "b FETCH 1 BODY[0]\r\n", 19, &used) == IMAP_PARSE_DONE);
	CHECK(!imap_fetch_parse(imap_parser_cmd(p)->args->next, &f, &err));
	CHECK(imap_parser_feed(p, "b FETCH 1 FOO\r\n", 15, &used) == IMAP_PARSE_DONE);
	CHECK(!imap_fetch_parse(imap_parser_cmd(p)->args->next, &f, &err));
	CHECK(imap_parser_feed(p, "b FETCH 1 ALL\r\n", 15, &used) == IMAP_PARSE_DONE);
	CHECK(imap_fetch_parse(imap_parser_cmd(p)->args->next, &f, &err));
	CHECK(f.items & IMAP_F_ENVELOPE);
	CHECK(imap_parser_feed(p, "b FETCH 1 BODY[]<0.0>\r\n", 23, &used) == IMAP_PARSE_DONE);
	CHECK(!imap_fetch_parse(imap_parser_cmd(p)->args->next, &f, &err));
	imap_parser_free(&p);
}

int
main(void)
{
	test_table();
	test_special();
	test_seqset();
	test_partial();
	test_fetch();
	return T_DONE();
}
