/* SPDX-License-Identifier: ISC */
/*
 * pop3_proto.c - POP3 command lines and the dot-stuffed message writer
 * (RFC 1939, RFC 2449, RFC 5034).  No I/O and no process knowledge: used
 * by the login process (before login) and by workers, unit-tested and
 * fuzzed.  Input is untrusted: a line may hold anything, NULs included;
 * errors come back as a message for -ERR, never as a crash.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "pop3_proto.h"

enum pop3_line_res
pop3_line(struct pop3_reader *r, const char *data, size_t len, size_t max,
    size_t *len_r, size_t *used_r)
{
	const char *nl = memchr(data, '\n', len);
	size_t n;

	*len_r = 0;
	if (r->skip) {
		*used_r = nl ? (size_t)(nl - data) + 1 : len;
		if (nl)
			r->skip = false;
		return POP3_LINE_MORE;
	}
	if (nl == NULL) {
		*used_r = 0;
		if (len <= max)
			return POP3_LINE_MORE;
		r->skip = true;		/* drop it up to its end */
		*used_r = len;
		return POP3_LINE_LONG;
	}
	n = (size_t)(nl - data);
	*used_r = n + 1;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if (n > max)
		return POP3_LINE_LONG;
	*len_r = n;
	return POP3_LINE_OK;
}

static const struct {
	const char	*name;
	enum pop3_kw	 kw;
	unsigned	 minnum, maxnum;	/* numeric arguments */
} pop3_cmds[] = {
	{ "USER", POP3_USER, 0, 0 },
	{ "PASS", POP3_PASS, 0, 0 },
	{ "AUTH", POP3_AUTH, 0, 0 },
	{ "STLS", POP3_STLS, 0, 0 },
	{ "CAPA", POP3_CAPA, 0, 0 },
	{ "QUIT", POP3_QUIT, 0, 0 },
	{ "STAT", POP3_STAT, 0, 0 },
	{ "LIST", POP3_LIST, 0, 1 },
	{ "RETR", POP3_RETR, 1, 1 },
	{ "DELE", POP3_DELE, 1, 1 },
	{ "NOOP", POP3_NOOP, 0, 0 },
	{ "RSET", POP3_RSET, 0, 0 },
	{ "TOP", POP3_TOP, 2, 2 },
	{ "UIDL", POP3_UIDL, 0, 1 },
	{ "APOP", POP3_APOP, 0, 0 },
};

/* parse_num - a decimal of at most 9 digits (messages and line counts) */
static bool
parse_num(const char *s, uint32_t *n_r)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 9)
			return false;
		n = n * 10 + (uint32_t)(s[i] - '0');
	}
	*n_r = n;
	return i > 0;
}

/* next_word - cut the word at *p (spaces before it skipped); NULL at end */
static char *
next_word(char **p)
{
	char *s = *p, *e;

	while (*s == ' ')
		s++;
	if (*s == '\0')
		return NULL;
	for (e = s; *e != '\0' && *e != ' '; e++)
		;
	if (*e != '\0')
		*e++ = '\0';
	*p = e;
	return s;
}

/* parse_nums - LIST, RETR, DELE, TOP, UIDL arguments */
static void
parse_nums(char *rest, struct pop3_cmd *c, unsigned min, unsigned max)
{
	char *w;

	while ((w = next_word(&rest)) != NULL) {
		if (c->nnum == max) {
			c->err = "too many arguments";
			return;
		}
		if (!parse_num(w, &c->num[c->nnum])) {
			c->err = "expected a number";
			return;
		}
		c->nnum++;
	}
	if (c->nnum < min)
		c->err = min == 2 ? "expected a message number and a line count" :
		    "expected a message number";
	else if (c->nnum > 0 && c->num[0] == 0)
		c->err = "no message 0";
}

void
pop3_parse(char *line, size_t len, struct pop3_cmd *c)
{
	char *rest, *w;
	size_t i, kwlen;

	memset(c, 0, sizeof(*c));
	c->kw = POP3_UNKNOWN;
	c->name = "";
	if (memchr(line, '\0', len) != NULL) {
		c->err = "NUL in command";
		return;
	}
	line[len] = '\0';
	for (kwlen = 0; kwlen < len && line[kwlen] != ' '; kwlen++)
		;
	for (i = 0; i < sizeof(pop3_cmds) / sizeof(pop3_cmds[0]); i++)
		if (strlen(pop3_cmds[i].name) == kwlen &&
		    strncasecmp(line, pop3_cmds[i].name, kwlen) == 0)
			break;
	if (i == sizeof(pop3_cmds) / sizeof(pop3_cmds[0])) {
		c->err = "unknown command";
		return;
	}
	c->kw = pop3_cmds[i].kw;
	c->name = pop3_cmds[i].name;
	rest = line + kwlen;
	if (*rest == ' ')
		rest++;
	switch (c->kw) {
	case POP3_USER:
	case POP3_PASS:
		/* RFC 1939 7: a password may hold spaces; so may nothing else */
		c->arg = rest;
		c->arglen = len - (size_t)(rest - line);
		if (c->arglen == 0)
			c->err = c->kw == POP3_USER ? "expected a user name" :
			    "expected a password";
		else if (c->kw == POP3_USER && memchr(rest, ' ', c->arglen))
			c->err = "expected one user name";
		break;
	case POP3_AUTH:
		/* RFC 5034 4: AUTH [mechanism [initial-response]] */
		if ((w = next_word(&rest)) == NULL)
			break;
		c->arg = w;
		c->arglen = strlen(w);
		if ((w = next_word(&rest)) != NULL) {
			c->arg2 = w;
			c->arg2len = strlen(w);
		}
		if (next_word(&rest) != NULL)
			c->err = "too many arguments";
		break;
	case POP3_APOP:
		break;
	default:
		parse_nums(rest, c, pop3_cmds[i].minnum, pop3_cmds[i].maxnum);
		break;
	}
}

void
pop3_stuff_init(struct pop3_stuff *st, const char *data, size_t len, bool top,
    uint32_t lines)
{
	memset(st, 0, sizeof(*st));
	st->data = data;
	st->len = len;
	st->top = top;
	st->lines = lines;
}

/* stuff_eol - the line ending at data[nl] ('\n') is sent: its end */
static int
stuff_eol(struct pop3_stuff *st, struct buf *out, size_t nl)
{
	bool cr = nl > st->line && st->data[nl - 1] == '\r';
	size_t n = nl - st->line - (cr ? 1 : 0);

	/* the CR of a CRLF was copied with the line: only LF is missing */
	if (buf_append(out, cr ? "\n" : "\r\n", cr ? 1 : 2) == -1)
		return -1;
	if (!st->body && n == 0)
		st->body = true;	/* the blank line ends the header */
	else if (st->body && st->top)
		st->lines--;
	st->off = nl + 1;
	st->line = st->off;
	return 0;
}

bool
pop3_stuff_read(struct pop3_stuff *st, struct buf *out, size_t max)
{
	const char *nl;
	size_t end, n, sent = 0, mark;
	bool dot;

	while (!st->done && sent < max) {
		mark = out->len;
		if (st->off == st->line) {
			/* the start of a line: TOP's end, the final dot, stuffing */
			if (st->off >= st->len || (st->top && st->body &&
			    st->lines == 0)) {
				if (buf_append(out, ".\r\n", 3) == -1)
					return false;
				st->done = true;
				break;
			}
		}
		dot = st->off == st->line && st->off < st->len &&
		    st->data[st->off] == '.';
		if (dot && buf_append(out, ".", 1) == -1)
			return false;
		nl = memchr(st->data + st->off, '\n', st->len - st->off);
		end = nl ? (size_t)(nl - st->data) : st->len;
		n = end - st->off;
		if (n > max - sent)
			n = max - sent;
		if (n > 0 && buf_append(out, st->data + st->off, n) == -1) {
			buf_truncate(out, mark);
			return false;
		}
		st->off += n;
		sent += n + (dot ? 1 : 0);
		if (st->off < end)
			continue;	/* the budget ended inside the line */
		if (nl == NULL) {
			/* the last line has no end: give it one (RFC 1939 3) */
			if (buf_append(out, "\r\n", 2) == -1)
				return false;
			st->line = st->off;
			continue;
		}
		if (stuff_eol(st, out, end) == -1)
			return false;
		sent += 2;
	}
	return st->done;
}

void
pop3_uidl(uint32_t uidvalidity, uint32_t uid, char out[17])
{
	(void)snprintf(out, 17, "%08X%08X", uid, uidvalidity);
}
