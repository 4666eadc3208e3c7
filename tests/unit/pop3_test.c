/* SPDX-License-Identifier: ISC */
/*
 * pop3_test.c - imapd/pop3_proto.c: command lines (keywords, arguments,
 * numbers, PASS with spaces, AUTH), the line reader (CRLF, bare LF,
 * runaway lines) and the dot-stuffed writer (CRLF sizes, stuffing, TOP,
 * a missing last line end, small budgets).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imapd/pop3_proto.h"
#include "t.h"

static struct pop3_cmd
parse(const char *s)
{
	static char line[POP3_MAX_LINE + 1];
	struct pop3_cmd c;
	size_t n = strlen(s);

	memcpy(line, s, n + 1);
	pop3_parse(line, n, &c);
	return c;
}

static void
test_parse(void)
{
	struct pop3_cmd c;
	char nul[] = "NOOP\0x";

	c = parse("retr 12");
	CHECK(c.kw == POP3_RETR && c.err == NULL && c.nnum == 1 &&
	    c.num[0] == 12);
	c = parse("TOP 3 0");
	CHECK(c.kw == POP3_TOP && c.err == NULL && c.nnum == 2 &&
	    c.num[0] == 3 && c.num[1] == 0);
	c = parse("TOP 3");
	CHECK(c.kw == POP3_TOP && c.err != NULL);
	c = parse("LIST");
	CHECK(c.kw == POP3_LIST && c.err == NULL && c.nnum == 0);
	c = parse("LIST 0");
	CHECK(c.kw == POP3_LIST && c.err != NULL);
	c = parse("LIST 1 2");
	CHECK(c.kw == POP3_LIST && c.err != NULL);
	c = parse("DELE x");
	CHECK(c.kw == POP3_DELE && c.err != NULL);
	c = parse("DELE 1234567890");
	CHECK(c.kw == POP3_DELE && c.err != NULL);
	c = parse("RETR");
	CHECK(c.kw == POP3_RETR && c.err != NULL);
	c = parse("PASS correct horse  battery");
	CHECK(c.kw == POP3_PASS && c.err == NULL);
	CHECK_STR(c.arg, "correct horse  battery");
	c = parse("PASS");
	CHECK(c.kw == POP3_PASS && c.err != NULL);
	c = parse("USER alice@example.org");
	CHECK_STR(c.arg, "alice@example.org");
	c = parse("USER a b");
	CHECK(c.kw == POP3_USER && c.err != NULL);
	c = parse("AUTH");
	CHECK(c.kw == POP3_AUTH && c.err == NULL && c.arg == NULL);
	c = parse("AUTH PLAIN AGFsaWNlAHg=");
	CHECK(c.kw == POP3_AUTH && c.err == NULL);
	CHECK_STR(c.arg, "PLAIN");
	CHECK_STR(c.arg2, "AGFsaWNlAHg=");
	c = parse("AUTH PLAIN a b");
	CHECK(c.err != NULL);
	c = parse("capa");
	CHECK(c.kw == POP3_CAPA && c.err == NULL);
	c = parse("STATX");
	CHECK(c.kw == POP3_UNKNOWN && c.err != NULL);
	c = parse("");
	CHECK(c.kw == POP3_UNKNOWN && c.err != NULL);
	pop3_parse(nul, 6, &c);
	CHECK(c.err != NULL);
}

static void
test_lines(void)
{
	struct pop3_reader r = { false };
	char big[POP3_MAX_LINE + 100];
	size_t len, used;

	CHECK(pop3_line(&r, "STAT\r\nLIST", 10, POP3_MAX_LINE, &len, &used) ==
	    POP3_LINE_OK && len == 4 && used == 6);
	CHECK(pop3_line(&r, "LIST", 4, POP3_MAX_LINE, &len, &used) ==
	    POP3_LINE_MORE && used == 0);
	CHECK(pop3_line(&r, "NOOP\n", 5, POP3_MAX_LINE, &len, &used) ==
	    POP3_LINE_OK && len == 4 && used == 5);
	memset(big, 'x', sizeof(big));
	CHECK(pop3_line(&r, big, sizeof(big), POP3_MAX_LINE, &len, &used) ==
	    POP3_LINE_LONG && used == sizeof(big) && r.skip);
	CHECK(pop3_line(&r, "xx\r\nNOOP\r\n", 10, POP3_MAX_LINE, &len, &used) ==
	    POP3_LINE_MORE && used == 4 && !r.skip);
	CHECK(pop3_line(&r, "NOOP\r\n", 6, POP3_MAX_LINE, &len, &used) ==
	    POP3_LINE_OK);
}

/* stuff - the whole output for data, produced budget bytes at a time */
static char *
stuff(const char *data, bool top, uint32_t lines, size_t budget)
{
	struct pop3_stuff st;
	struct buf b;
	char *s;
	int rounds = 0;

	buf_init(&b, 0);
	pop3_stuff_init(&st, data, strlen(data), top, lines);
	while (!pop3_stuff_read(&st, &b, budget) && rounds++ < 100000)
		;
	s = strdup(buf_head(&b) ? buf_head(&b) : "");
	buf_free(&b);
	return s;
}

static void
check_stuff(const char *in, bool top, uint32_t lines, const char *want)
{
	size_t budgets[] = { 1, 2, 3, 7, 65536 };
	size_t i;
	char *got;

	for (i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
		got = stuff(in, top, lines, budgets[i]);
		CHECK_STR(got, want);
		free(got);
	}
}

static void
test_stuff(void)
{
	char id[17];

	check_stuff("A: b\n\nbody\n", false, 0, "A: b\r\n\r\nbody\r\n.\r\n");
	check_stuff("A: b\r\n\r\nbody\r\n", false, 0,
	    "A: b\r\n\r\nbody\r\n.\r\n");
	check_stuff(".x\n..\n.\nend", false, 0,
	    "..x\r\n...\r\n..\r\nend\r\n.\r\n");
	check_stuff("", false, 0, ".\r\n");
	check_stuff("A: b\nC: d\n\n1\n2\n3\n", true, 0,
	    "A: b\r\nC: d\r\n\r\n.\r\n");
	check_stuff("A: b\nC: d\n\n1\n2\n3\n", true, 2,
	    "A: b\r\nC: d\r\n\r\n1\r\n2\r\n.\r\n");
	check_stuff("A: b\n\n1\n", true, 9, "A: b\r\n\r\n1\r\n.\r\n");
	check_stuff("A: b\r\n\r\n.1\r\n2\r\n", true, 1,
	    "A: b\r\n\r\n..1\r\n.\r\n");
	check_stuff("no header end\n", true, 0, "no header end\r\n.\r\n");
	check_stuff("a\rb\n", false, 0, "a\rb\r\n.\r\n");
	pop3_uidl(0x5f5e100, 42, id);
	CHECK_STR(id, "0000002A05F5E100");
}

int
main(void)
{
	test_parse();
	test_lines();
	test_stuff();
	return T_DONE();
}
