/* SPDX-License-Identifier: ISC */
/*
 * relay_reply.c - SMTP replies as the relay role reads them (RFC 5321
 * 4.2): "CODE-text" continuation lines, then "CODE text" (or a bare
 * "CODE"), all lines with the same code; and the EHLO keywords
 * (RFC 5321 4.1.1.1, 3207, 2920, 1870, 6152, 6531, 4954).
 *
 * Pure functions, no I/O, fed by relay_smtp.c; unit-tested and fuzzed.
 * Input comes from a remote server and is untrusted: lengths and line
 * counts are bounded, stored text is printable ASCII only (it ends up in
 * logs, IPC strings and bounce messages).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "strnum.h"
#include "smtpd/relay.h"

void
relay_reply_init(struct relay_reply *r)
{
	r->code = 0;
	r->nlines = 0;
	r->len = 0;
	r->truncated = false;
	r->text[0] = '\0';
}

/* reply_append - printable ASCII into r->text; the rest becomes '?' */
static void
reply_append(struct relay_reply *r, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (r->len == REPLY_TEXT_MAX) {
			r->truncated = true;
			break;
		}
		r->text[r->len++] = (c >= 0x20 && c < 0x7f) || c == '\n' ?
		    (char)c : '?';
	}
	r->text[r->len] = '\0';
}

enum reply_state
relay_reply_line(struct relay_reply *r, const char *line, size_t len,
    const char **err_r)
{
	int code;
	char sep;

	*err_r = NULL;
	if (len > REPLY_LINE_MAX) {
		*err_r = "reply line too long";
		return REPLY_ERROR;
	}
	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2])) {
		*err_r = "malformed reply";
		return REPLY_ERROR;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599) {
		*err_r = "reply code out of range";
		return REPLY_ERROR;
	}
	sep = len == 3 ? ' ' : line[3];
	if (sep != ' ' && sep != '-') {
		*err_r = "malformed reply";
		return REPLY_ERROR;
	}
	if (r->nlines > 0 && code != r->code) {
		*err_r = "reply lines with different codes";
		return REPLY_ERROR;
	}
	if (r->nlines >= REPLY_LINES_MAX) {
		*err_r = "too many reply lines";
		return REPLY_ERROR;
	}
	r->code = code;
	if (r->nlines++ > 0)
		reply_append(r, "\n", 1);
	if (len > 4)
		reply_append(r, line + 4, len - 4);
	return sep == ' ' ? REPLY_DONE : REPLY_MORE;
}

void
relay_reply_format(const struct relay_reply *r, char *out, size_t outsz)
{
	size_t n, i;
	int w;

	if (outsz == 0)
		return;
	w = snprintf(out, outsz, r->len ? "%d " : "%d", r->code);
	if (w < 0 || (size_t)w >= outsz)
		return;
	n = (size_t)w;
	for (i = 0; i < r->len && n + 1 < outsz; i++)
		out[n++] = r->text[i] == '\n' ? ' ' : r->text[i];
	out[n] = '\0';
}

/* caps_word - does [p, p+n) equal the keyword kw, ignoring case? */
static bool
caps_word(const char *p, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

/* caps_auth - append the mechanism names in [p, end) to caps->auth */
static void
caps_auth(struct relay_caps *caps, const char *p, const char *end)
{
	size_t have = strlen(caps->auth);

	while (p < end) {
		const char *w;
		size_t n, i;

		while (p < end && *p == ' ')
			p++;
		w = p;
		while (p < end && *p != ' ')
			p++;
		n = (size_t)(p - w);
		/* RFC 4422 3.1: 1-20 of A-Z 0-9 - _ */
		if (n == 0 || n > 20)
			continue;
		for (i = 0; i < n; i++)
			if (!isalnum((unsigned char)w[i]) && w[i] != '-' && w[i] != '_')
				break;
		if (i < n || have + n + 2 > sizeof(caps->auth))
			continue;
		if (have > 0)
			caps->auth[have++] = ' ';
		for (i = 0; i < n; i++)
			caps->auth[have++] = (char)toupper((unsigned char)w[i]);
		caps->auth[have] = '\0';
	}
}

/* caps_size - "SIZE" or "SIZE 35882577" (RFC 1870 4) */
static void
caps_size(struct relay_caps *caps, const char *p, const char *end)
{
	char num[24];
	const char *err;
	size_t n;

	caps->size_given = true;
	caps->size = 0;
	while (p < end && *p == ' ')
		p++;
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(num))
		return;
	memcpy(num, p, n);
	num[n] = '\0';
	caps->size = (uint64_t)strnum(num, 0, INT64_MAX, &err);
	if (err != NULL)
		caps->size = 0;
}

/* caps_line - one EHLO line after the first: keyword [params] */
static void
caps_line(struct relay_caps *caps, const char *p, const char *end)
{
	const char *kw = p;
	size_t n;

	while (p < end && *p != ' ' && *p != '=')
		p++;
	n = (size_t)(p - kw);
	if (caps_word(kw, n, "STARTTLS"))
		caps->starttls = true;
	else if (caps_word(kw, n, "PIPELINING"))
		caps->pipelining = true;
	else if (caps_word(kw, n, "8BITMIME"))
		caps->eightbitmime = true;
	else if (caps_word(kw, n, "SMTPUTF8"))
		caps->smtputf8 = true;
	else if (caps_word(kw, n, "SIZE"))
		caps_size(caps, p, end);
	else if (caps_word(kw, n, "AUTH"))	/* also the old "AUTH=" form */
		caps_auth(caps, p < end ? p + 1 : p, end);
}

void
relay_caps_parse(const struct relay_reply *r, struct relay_caps *caps)
{
	const char *p = r->text, *end = r->text + r->len, *nl;

	memset(caps, 0, sizeof(*caps));
	caps->esmtp = true;
	/* the first line is the server's greeting text, not a keyword */
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return;
	p = nl + 1;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		caps_line(caps, p, nl);
		p = nl + 1;
	}
}
