/* SPDX-License-Identifier: ISC */
/*
 * fetch_proto.c - reading the answers of the remote IMAP and POP3
 * servers of `[fetch]` accounts, and of our own smtpd.  No I/O: lines
 * in, values out; a remote server is untrusted, so every number is
 * bounded and a malformed line is false, never a crash
 * (tests/fuzz/fuzz_fetch.c).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "xmem.h"
#include "smtpd/fetch.h"

/* num - a decimal up to max at *p; advances *p */
static bool
num(const char **p, uint64_t max, uint64_t *v_r)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*p = s;
	*v_r = v;
	return true;
}

bool
fetch_imap_tagged(const char *line, const char *tag, bool *ok_r)
{
	size_t n = strlen(tag);

	if (strncmp(line, tag, n) != 0 || line[n] != ' ')
		return false;
	*ok_r = strncasecmp(line + n + 1, "OK", 2) == 0 &&
	    (line[n + 3] == ' ' || line[n + 3] == '\0');
	return true;
}

bool
fetch_imap_uidvalidity(const char *line, uint32_t *uv_r)
{
	const char *p;
	uint64_t v;

	if (strncasecmp(line, "* OK [UIDVALIDITY ", 18) != 0)
		return false;
	p = line + 18;
	if (!num(&p, UINT32_MAX, &v) || *p != ']' || v == 0)
		return false;
	*uv_r = (uint32_t)v;
	return true;
}

bool
fetch_imap_search(const char *line, uint32_t **v, size_t *n, size_t *cap)
{
	const char *p;
	uint64_t u;

	if (strncasecmp(line, "* SEARCH", 8) != 0 ||
	    (line[8] != ' ' && line[8] != '\0'))
		return false;
	for (p = line + 8; *p == ' '; ) {
		p++;
		if (!num(&p, UINT32_MAX, &u) || u == 0 || (*p != ' ' && *p))
			return false;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*v = xreallocarray(*v, *cap, sizeof(**v));
		}
		(*v)[(*n)++] = (uint32_t)u;
	}
	return *p == '\0';
}

bool
fetch_imap_literal(const char *line, size_t len, uint64_t *n_r)
{
	const char *open, *p;
	uint64_t v;

	if (len < 3 || line[len - 1] != '}')
		return false;
	for (open = line + len - 2; open > line && *open != '{'; open--)
		;
	if (*open != '{')
		return false;
	p = open + 1;
	if (*p == '}' || !num(&p, (uint64_t)1 << 32, &v) || p != line + len - 1)
		return false;
	*n_r = v;
	return true;
}

bool
fetch_imap_quote(const char *s, char *out, size_t outsz)
{
	size_t o = 0;

	if (outsz < 3)
		return false;
	out[o++] = '"';
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n' || o + 4 > outsz)
			return false;
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
	return true;
}

bool
fetch_pop3_ok(const char *line)
{
	return strncmp(line, "+OK", 3) == 0 &&
	    (line[3] == '\0' || line[3] == ' ');
}

bool
fetch_pop3_uidl(const char *line, uint32_t *n_r, char *id, size_t idsz)
{
	const char *p = line;
	uint64_t v;
	size_t n;

	if (!num(&p, UINT32_MAX, &v) || v == 0 || *p != ' ')
		return false;
	p++;
	/* RFC 1939 7: 1 to 70 characters 0x21-0x7E */
	for (n = 0; p[n] > 0x20 && p[n] < 0x7f; n++)
		;
	if (n == 0 || n > 70 || n >= idsz || p[n] != '\0')
		return false;
	memcpy(id, p, n);
	id[n] = '\0';
	*n_r = (uint32_t)v;
	return true;
}

bool
fetch_pop3_unstuff(const char *line, size_t len, const char **p_r,
    size_t *len_r)
{
	if (len == 1 && line[0] == '.')
		return false;
	if (len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	*p_r = line;
	*len_r = len;
	return true;
}

int
fetch_smtp_code(const char *line, size_t len)
{
	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]))
		return 0;
	if (len > 3 && line[3] != ' ')
		return 0;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

void
fetch_stuff_init(struct fetch_stuff *st)
{
	st->bol = true;
	st->cr = false;
	st->body = false;
	st->held = 0;
}

/*
 * stuff_return_path - c goes on a header line's name: a field named
 * Return-Path (any case) comes out as X-Original-Return-Path.  Mail is
 * fetched with MAIL FROM:<> (it must never bounce to a sender the remote
 * did not check) and delivery writes Return-Path: <>; the remote's own,
 * written at its final delivery, would stack under it (RFC 5321 4.4: one
 * Return-Path, the delivering MTA's), and renamed it still names the
 * original sender.  1: c was taken (held or written), 0: c is the
 * caller's (held bytes written first), -1: no memory.
 */
static int
stuff_return_path(struct fetch_stuff *st, char c, struct buf *out)
{
	static const char rp[] = "Return-Path:";

	if (st->held < sizeof(st->hold) &&
	    tolower((unsigned char)c) == tolower((unsigned char)rp[st->held])) {
		st->hold[st->held++] = c;
		st->bol = false;
		if (st->held < sizeof(st->hold))
			return 1;
		st->held = 0;
		return buf_append(out, "X-Original-", 11) == -1 ||
		    buf_append(out, st->hold, sizeof(st->hold)) == -1 ? -1 : 1;
	}
	if (st->held > 0 && buf_append(out, st->hold, st->held) == -1)
		return -1;
	st->held = 0;
	return 0;
}

int
fetch_stuff(struct fetch_stuff *st, const char *p, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!st->body && !st->cr && (st->bol || st->held > 0)) {
			int r = stuff_return_path(st, p[i], out);

			if (r == -1)
				return -1;
			if (r == 1)
				continue;
		}
		if (st->cr && p[i] != '\n') {
			/* a lone CR is data */
			if (buf_append(out, "\r", 1) == -1)
				return -1;
			st->bol = false;
		}
		st->cr = false;
		if (p[i] == '\r') {
			st->cr = true;
			continue;
		}
		if (p[i] == '\n') {
			if (st->bol)
				st->body = true;	/* the empty line */
			if (buf_append(out, "\r\n", 2) == -1)
				return -1;
			st->bol = true;
			continue;
		}
		if (st->bol && p[i] == '.' && buf_append(out, ".", 1) == -1)
			return -1;
		if (buf_append(out, p + i, 1) == -1)
			return -1;
		st->bol = false;
	}
	return 0;
}

int
fetch_stuff_end(struct fetch_stuff *st, struct buf *out)
{
	if (st->held > 0 && buf_append(out, st->hold, st->held) == -1)
		return -1;
	st->held = 0;
	if (st->cr && buf_append(out, "\r", 1) == -1)
		return -1;
	if ((st->cr || !st->bol) && buf_append(out, "\r\n", 2) == -1)
		return -1;
	st->cr = false;
	st->bol = true;
	return buf_append(out, ".\r\n", 3);
}
