/* SPDX-License-Identifier: ISC */
/*
 * smtp_cmd_test.c - unit tests for smtpd/smtp_cmd.c: verbs, MAIL FROM and
 * RCPT TO paths (null sender, postmaster, quoted local parts, source
 * routes, address literals, length limits, bad syntax) and their ESMTP
 * parameters (SIZE=, BODY=, AUTH=, unknown ones: 555 5.5.4), domains and
 * HELO names (RFC 5321 4.1.2, 4.1.4, 4.5.3.1; STYLE 9, 12).
 *
 */
#include <stdlib.h>

#include "smtpd/smtpd.h"
#include "t.h"

static const struct verb_case {
	const char	*line;
	enum smtp_verb	 verb;
	const char	*args;		/* NULL: not checked (CMD_UNKNOWN) */
} verb_cases[] = {
	{ "EHLO client.example.com", CMD_EHLO, "client.example.com" },
	{ "ehlo x", CMD_EHLO, "x" },
	{ "HeLo x", CMD_HELO, "x" },
	{ "MAIL FROM:<a@b.c>", CMD_MAIL, "FROM:<a@b.c>" },
	{ "mail   FROM:<a@b.c> SIZE=1", CMD_MAIL, "FROM:<a@b.c> SIZE=1" },
	{ "RCPT TO:<a@b.c>", CMD_RCPT, "TO:<a@b.c>" },
	{ "DATA", CMD_DATA, "" },
	{ "DATA ", CMD_DATA, "" },
	{ "RSET", CMD_RSET, "" },
	{ "NOOP", CMD_NOOP, "" },
	{ "NOOP whatever", CMD_NOOP, "whatever" },
	{ "QUIT", CMD_QUIT, "" },
	{ "quit   ", CMD_QUIT, "" },
	{ "VRFY alice", CMD_VRFY, "alice" },
	{ "EXPN list", CMD_EXPN, "list" },
	{ "HELP", CMD_HELP, "" },
	{ "STARTTLS", CMD_STARTTLS, "" },
	{ "starttls", CMD_STARTTLS, "" },
	{ "AUTH PLAIN AGFsaWNlAHNlY3JldA==", CMD_AUTH, "PLAIN AGFsaWNlAHNlY3JldA==" },
	{ "BDAT 100 LAST", CMD_BDAT, "100 LAST" },
	{ "", CMD_UNKNOWN, NULL },
	{ " QUIT", CMD_UNKNOWN, NULL },
	{ "QUI", CMD_UNKNOWN, NULL },
	{ "QUITT", CMD_UNKNOWN, NULL },
	{ "STARTTLSX", CMD_UNKNOWN, NULL },
	{ "MAILFROM:<a@b.c>", CMD_UNKNOWN, NULL },
	{ "MAIL\tFROM:<a@b.c>", CMD_UNKNOWN, NULL },
	{ "QUIT\t", CMD_UNKNOWN, NULL },
	{ "DATA\r", CMD_UNKNOWN, NULL },	/* the caller strips CRLF */
	{ "Q\xc3\x9cIT", CMD_UNKNOWN, NULL },
	{ "GET / HTTP/1.1", CMD_UNKNOWN, NULL },
};

static void
test_verbs(void)
{
	size_t i;

	for (i = 0; i < sizeof(verb_cases) / sizeof(verb_cases[0]); i++) {
		const struct verb_case *t = &verb_cases[i];
		const char *args = NULL;
		enum smtp_verb v;

		v = smtp_cmd_verb(t->line, strlen(t->line), &args);
		if (v != t->verb)
			fprintf(stderr, "verb_cases[%zu] \"%s\": %d\n", i, t->line, v);
		CHECK(v == t->verb);
		CHECK(args != NULL && args >= t->line &&
		    args <= t->line + strlen(t->line));
		if (t->args)
			CHECK_STR(args, t->args);
	}
	/* only len bytes count: the rest of the buffer is not looked at */
	{
		const char *args;

		CHECK(smtp_cmd_verb("QUITX", 4, &args) == CMD_QUIT);
		CHECK(smtp_cmd_verb("DATA FROM", 4, &args) == CMD_DATA);
		CHECK(smtp_cmd_verb("HELO", 3, &args) == CMD_UNKNOWN);
	}
}

/* a path case: err NULL or the start of the expected reply */
static const struct path_case {
	const char	*args;
	bool		 mail;
	const char	*err;
	const char	*addr;
	size_t		 at;
	uint64_t	 size;
	bool		 body8;
} path_cases[] = {
	/* MAIL FROM */
	{ "FROM:<alice@example.org>", true, NULL, "alice@example.org", 5, 0, false },
	{ "from:<alice@example.org>", true, NULL, "alice@example.org", 5, 0, false },
	{ "From: <alice@example.org>", true, NULL, "alice@example.org", 5, 0, false },
	{ "FROM:<>", true, NULL, "", 0, 0, false },
	{ "FROM:<> ", true, NULL, "", 0, 0, false },
	{ "FROM:<> SIZE=100", true, NULL, "", 0, 100, false },
	{ "FROM:<a@b.c> SIZE=12345 BODY=8BITMIME", true, NULL, "a@b.c", 1, 12345, true },
	{ "FROM:<a@b.c> body=8bitmime size=1", true, NULL, "a@b.c", 1, 1, true },
	{ "FROM:<a@b.c>  SIZE=10   BODY=8BITMIME  ", true, NULL, "a@b.c", 1, 10, true },
	{ "FROM:<a@b.c> BODY=7BIT", true, NULL, "a@b.c", 1, 0, false },
	{ "FROM:<a@b.c> SIZE=0", true, NULL, "a@b.c", 1, 0, false },
	{ "FROM:<a@b.c> SIZE=9223372036854775807", true, NULL, "a@b.c", 1,
	    9223372036854775807ULL, false },
	{ "FROM:<a@b.c> AUTH=<>", true, NULL, "a@b.c", 1, 0, false },
	{ "FROM:<> ONCE=0123456789abcdef0123456789abcdef", true, NULL, "", 0, 0, false },
	{ "FROM:<> ONCE=0123456789abcdef", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<> ONCE=0123456789ABCDEF0123456789abcdef", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<> ONCE=0123456789abcdef0123456789abcdefa", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<> ONCE=0123456789abcdef0123456789abcdeg", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<> ONCE=0123456789abcdef0123456789abcdef ONCE=0123456789abcdef0123456789abcdef",
	    true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<> ONCE", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> AUTH=alice@example.org", true, NULL, "a@b.c", 1, 0, false },
	{ "FROM:<a@b.c>    ", true, NULL, "a@b.c", 1, 0, false },
	{ "FROM:<a@b.c> BODY=BINARYMIME", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> BODY=", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> BODY=8BITMIMEX", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=abc", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=-1", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=1K", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=9223372036854775808", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=99999999999999999999", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=123456789012345678901", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> BODY", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> FOO=bar", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> RET=HDRS", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> ENVID=x", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SMTPUTF8", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZE=10 FOO", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> SIZES=10", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:<a@b.c> =10", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:a@b.c", true, NULL, "a@b.c", 1, 0, false },
	{ "FROM:<a@b.c", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM<a@b.c>", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM :<a@b.c>", true, "501 5.5.4", NULL, 0, 0, false },
	{ "TO:<a@b.c>", true, "501 5.5.4", NULL, 0, 0, false },
	{ "", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:<postmaster>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<alice>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<@b.c>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a b@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a..b@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<.a@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a.@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a(b)@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a,b@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a\\b@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a\x7f@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a\t@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@-c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@c-.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@c..d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@.c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@c d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@c/d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@c@d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@[]>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@[1.2.3.4>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@[1.2 3.4]>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<a@c_d.example>", true, NULL, "a@c_d.example", 1, 0, false },
	{ "FROM:<a@example.org.>", true, NULL, "a@example.org.", 1, 0, false },
	{ "FROM:<first.last+tag@sub.example.org>", true, NULL,
	    "first.last+tag@sub.example.org", 14, 0, false },
	{ "FROM:<!#$%&'*+-/=?^_`{|}~@x.y>", true, NULL,
	    "!#$%&'*+-/=?^_`{|}~@x.y", 19, 0, false },
	{ "FROM:<a@[192.0.2.1]>", true, NULL, "a@[192.0.2.1]", 1, 0, false },
	{ "FROM:<a@[IPv6:2001:db8::1]>", true, NULL, "a@[IPv6:2001:db8::1]", 1, 0, false },
	/* quoted local parts: no spaces, no quoted-pairs (queue format) */
	{ "FROM:<\"quoted\"@example.org>", true, NULL, "\"quoted\"@example.org",
	    8, 0, false },
	{ "FROM:<\"a@b\"@c.d>", true, NULL, "\"a@b\"@c.d", 5, 0, false },
	{ "FROM:<\"a..b.\"@c.d>", true, NULL, "\"a..b.\"@c.d", 7, 0, false },
	{ "FROM:<\"john doe\"@example.org>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<\"\"@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<\"abc@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<abc\"@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<\"a\\\"b\"@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<\"a\tb\"@c.d>", true, "553 5.1.3", NULL, 0, 0, false },
	/* source routes are dropped (RFC 5321 4.1.2, C) */
	{ "FROM:<@a,@b:u@d>", true, NULL, "u@d", 1, 0, false },
	{ "FROM:<@relay.example:bob@example.net> SIZE=5", true, NULL,
	    "bob@example.net", 3, 5, false },
	{ "FROM:<@a,@b>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<@a:u>", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:<@a:b:c@d>", true, "553 5.1.3", NULL, 0, 0, false },
	/* 8-bit (UTF-8) local parts and domains pass unchanged (see report) */
	{ "FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example>", true, NULL,
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 5, 0, false },

	/* RCPT TO */
	{ "TO:<bob@example.net>", false, NULL, "bob@example.net", 3, 0, false },
	{ "to:<bob@example.net>", false, NULL, "bob@example.net", 3, 0, false },
	{ "TO:<bob@example.net>  ", false, NULL, "bob@example.net", 3, 0, false },
	{ "TO:<postmaster>", false, NULL, "postmaster", 0, 0, false },
	{ "TO:<PostMaster>", false, NULL, "PostMaster", 0, 0, false },
	{ "TO:<postmaster> ", false, NULL, "postmaster", 0, 0, false },
	{ "TO:<postmaster@example.org>", false, NULL, "postmaster@example.org",
	    10, 0, false },
	{ "TO:<@a,@b:u@d>", false, NULL, "u@d", 1, 0, false },
	{ "TO:<postmaster> FOO=1", false, "555 5.5.4", NULL, 0, 0, false },
	{ "TO:<postmistress>", false, "553 5.1.3", NULL, 0, 0, false },
	{ "TO:<postmaster@>", false, "553 5.1.3", NULL, 0, 0, false },
	{ "TO:<>", false, "553 5.1.3", NULL, 0, 0, false },
	{ "TO:<> ", false, "553 5.1.3", NULL, 0, 0, false },
	{ "TO:<bob@example.net> SIZE=10", false, "555 5.5.4", NULL, 0, 0, false },
	{ "TO:<bob@example.net> BODY=8BITMIME", false, "555 5.5.4", NULL, 0, 0, false },
	{ "TO:<bob@example.net> AUTH=<>", false, "555 5.5.4", NULL, 0, 0, false },
	{ "TO:<bob@example.net> NOTIFY=NEVER", false, "555 5.5.4", NULL, 0, 0, false },
	{ "TO:<bob@example.net> ORCPT=rfc822;bob@example.net", false, "555 5.5.4",
	    NULL, 0, 0, false },
	{ "FROM:<bob@example.net>", false, "501 5.5.4", NULL, 0, 0, false },
	/* without brackets, as devices send it (Postfix's default) */
	{ "TO:bob@example.net", false, NULL, "bob@example.net", 3, 0, false },
	{ "TO: bob@example.net ", false, NULL, "bob@example.net", 3, 0, false },
	{ "TO:postmaster", false, NULL, "postmaster", 0, 0, false },
	{ "FROM:scan@nas.example SIZE=42 BODY=8BITMIME", true, NULL,
	    "scan@nas.example", 4, 42, true },
	{ "FROM:scan@nas.example FOO", true, "555 5.5.4", NULL, 0, 0, false },
	{ "FROM:scan", true, "553 5.1.3", NULL, 0, 0, false },
	{ "FROM:a<b@c.d", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:a@c.d>", true, "501 5.5.4", NULL, 0, 0, false },
	{ "FROM:@a:u@d", true, "501 5.5.4", NULL, 0, 0, false },
	{ "TO:bob", false, "553 5.1.3", NULL, 0, 0, false },
	{ "TO:", false, "501 5.5.4", NULL, 0, 0, false },
	{ "TO:   ", false, "501 5.5.4", NULL, 0, 0, false },
	{ "TO <bob@example.net>", false, "501 5.5.4", NULL, 0, 0, false },
	{ "TO:<bob>", false, "553 5.1.3", NULL, 0, 0, false },
	/* a source route must be followed by a mailbox (RFC 5321 4.1.2 Path) */
	{ "FROM:<@a:>", true, "553 5.1.3", NULL, 0, 0, false },
	/* a label must not end with "-" (RFC 5321 4.1.2 sub-domain) */
	{ "FROM:<a@example.org->", true, "553 5.1.3", NULL, 0, 0, false },
	{ "TO:<a@b->", false, "553 5.1.3", NULL, 0, 0, false },
};

static void
test_paths(void)
{
	struct smtp_path p;
	size_t i;

	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *t = &path_cases[i];
		const char *err;

		memset(&p, 0xa5, sizeof(p));
		err = smtp_cmd_path(t->args, t->mail, &p);
		if ((err == NULL) != (t->err == NULL) ||
		    (err && strncmp(err, t->err, strlen(t->err)) != 0))
			fprintf(stderr, "path_cases[%zu] \"%s\": %s\n", i, t->args,
			    err ? err : "(ok)");
		if (t->err) {
			CHECK(err != NULL && strncmp(err, t->err, strlen(t->err)) == 0);
			continue;
		}
		CHECK(err == NULL);
		if (err)
			continue;
		CHECK_STR(p.addr, t->addr);
		CHECK(p.at == t->at);
		CHECK(p.size == t->size);
		CHECK(p.body8 == t->body8);
	}
}

/* text right after ">" is not a path: it must not pass as one */
static void
test_after_path(void)
{
	struct smtp_path p;

	CHECK(smtp_cmd_path("TO:<a@b.c>x", false, &p) != NULL);
	CHECK(smtp_cmd_path("TO:<a@b.c>>", false, &p) != NULL);
	CHECK(smtp_cmd_path("FROM:<a@b.c>>", true, &p) != NULL);
	CHECK(smtp_cmd_path("FROM:<> <b@c.d>", true, &p) != NULL);
}

/* length limits: local part 64, label 63, domain 255, path 256 */
static void
test_lengths(void)
{
	struct smtp_path p;
	char args[1024], local[100], dom[300];
	const char *err;

	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@x.y>", local);
	CHECK(smtp_cmd_path(args, true, &p) == NULL);
	CHECK(p.at == 64 && strlen(p.addr) == 68);
	local[64] = 'l';
	local[65] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@x.y>", local);
	err = smtp_cmd_path(args, true, &p);
	CHECK(err != NULL && strncmp(err, "553 5.1.3", 9) == 0);

	/* quoted: the quotes count */
	memset(local, 'q', 64);
	local[0] = local[63] = '"';
	local[64] = '\0';
	snprintf(args, sizeof(args), "TO:<%s@x.y>", local);
	CHECK(smtp_cmd_path(args, false, &p) == NULL);

	memset(dom, 'd', 63);
	strcpy(dom + 63, ".example");
	snprintf(args, sizeof(args), "TO:<u@%s>", dom);
	CHECK(smtp_cmd_path(args, false, &p) == NULL);
	memset(dom, 'd', 64);
	strcpy(dom + 64, ".example");
	snprintf(args, sizeof(args), "TO:<u@%s>", dom);
	CHECK(smtp_cmd_path(args, false, &p) != NULL);

	/* 64 + "@" + 191 = 256: the longest path; one more is refused */
	memset(local, 'l', 64);
	local[64] = '\0';
	memset(dom, 'd', 191);
	for (size_t i = 60; i < 191; i += 61)
		dom[i] = '.';
	dom[191] = '\0';
	snprintf(args, sizeof(args), "TO:<%s@%s>", local, dom);
	CHECK(smtp_cmd_path(args, false, &p) == NULL);
	CHECK(strlen(p.addr) == SMTP_PATH_MAX && p.at == 64);
	dom[191] = 'd';
	dom[192] = '\0';
	snprintf(args, sizeof(args), "TO:<%s@%s>", local, dom);
	err = smtp_cmd_path(args, false, &p);
	CHECK(err != NULL && strncmp(err, "553 5.1.3", 9) == 0);

	/* a long source route does not count, the mailbox does */
	memset(dom, 'r', 250);
	dom[0] = '@';
	dom[250] = '\0';
	snprintf(args, sizeof(args), "TO:<%s:u@x.y>", dom);
	CHECK(smtp_cmd_path(args, false, &p) == NULL);
	CHECK_STR(p.addr, "u@x.y");

	/* a path of 1000 bytes: refused, nothing overflows */
	memset(dom, 'd', 299);
	dom[299] = '\0';
	snprintf(args, sizeof(args), "TO:<%s%s%s@x.y>", dom, dom, dom);
	CHECK(smtp_cmd_path(args, false, &p) != NULL);
}

static const struct dom_case {
	const char	*d;
	bool		 ok;
} dom_cases[] = {
	{ "example.org", true },
	{ "a", true },
	{ "a.b.c.d.e", true },
	{ "xn--bcher-kva.example", true },
	{ "a-b.c", true },
	{ "a--b.c", true },
	{ "1.2.3.4", true },
	{ "a_b.c", true },
	{ "example.org.", true },
	{ "[192.0.2.1]", true },
	{ "[IPv6:::1]", true },
	{ "", false },
	{ ".", false },
	{ ".a", false },
	{ "a..b", false },
	{ "-a.b", false },
	{ "a.-b", false },
	{ "a-.b", false },
	{ "a b", false },
	{ "a\tb", false },
	{ "a/b", false },
	{ "a@b", false },
	{ "a\\b", false },
	{ "[]", false },
	{ "[", false },
	{ "[1.2.3.4", false },
	{ "1.2.3.4]", false },
	{ "[1.2.3.4]x", false },
	{ "[1 2]", false },
	{ "[1/2]", false },
	{ "a-", false },
	{ "example.org-", false },
};

static void
test_domains(void)
{
	char d[300];
	size_t i;

	for (i = 0; i < sizeof(dom_cases) / sizeof(dom_cases[0]); i++) {
		const struct dom_case *t = &dom_cases[i];
		bool ok = smtp_cmd_valid_domain(t->d, strlen(t->d));

		if (ok != t->ok)
			fprintf(stderr, "dom_cases[%zu] \"%s\": %d\n", i, t->d, ok);
		CHECK(ok == t->ok);
	}
	/* only len bytes count */
	CHECK(smtp_cmd_valid_domain("example.org junk", 11));
	CHECK(!smtp_cmd_valid_domain("example.org", 0));
	/* labels of 63, a label of 64, a domain of 255 and 256 */
	memset(d, 'a', 64);
	CHECK(smtp_cmd_valid_domain(d, 63));
	CHECK(!smtp_cmd_valid_domain(d, 64));
	memset(d, 'a', 256);
	for (i = 63; i < 256; i += 64)
		d[i] = '.';
	CHECK(smtp_cmd_valid_domain(d, 255));
	d[255] = 'a';
	CHECK(!smtp_cmd_valid_domain(d, 256));
}

static void
test_helo(void)
{
	char s[300];

	CHECK(smtp_cmd_valid_helo("client.example.com"));
	CHECK(smtp_cmd_valid_helo("[192.0.2.1]"));
	CHECK(smtp_cmd_valid_helo("[IPv6:2001:db8::1]"));
	CHECK(smtp_cmd_valid_helo("localhost"));
	CHECK(smtp_cmd_valid_helo("WIN-7ABC_1"));	/* bare words exist */
	CHECK(!smtp_cmd_valid_helo(""));
	CHECK(!smtp_cmd_valid_helo("a b"));
	CHECK(!smtp_cmd_valid_helo(" a"));
	CHECK(!smtp_cmd_valid_helo("a\t"));
	CHECK(!smtp_cmd_valid_helo("a\r"));
	CHECK(!smtp_cmd_valid_helo("a\n"));
	CHECK(!smtp_cmd_valid_helo("a\x7f"));
	CHECK(!smtp_cmd_valid_helo("caf\xc3\xa9"));	/* 8-bit: not in a header */
	memset(s, 'h', 255);
	s[255] = '\0';
	CHECK(smtp_cmd_valid_helo(s));
	s[255] = 'h';
	s[256] = '\0';
	CHECK(!smtp_cmd_valid_helo(s));
}

int
main(void)
{
	test_verbs();
	test_paths();
	test_after_path();
	test_lengths();
	test_domains();
	test_helo();
	return T_DONE();
}
