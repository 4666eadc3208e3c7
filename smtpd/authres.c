/* SPDX-License-Identifier: ISC */
/*
 * authres.c - Authentication-Results (RFC 8601): the header facteur-smtpd
 * adds to mail received on port 25 and the filter that removes forged ones
 * carrying our authserv-id (RFC 8601 5), see authres.h.
 *
 * Runs in the smtp role (as `user`, chrooted) over untrusted input: the
 * header section of a message as it streams in.  No I/O, no allocation
 * beyond the held field (bounded by AUTHRES_FIELD_MAX); never fails: what
 * it cannot read is passed on unchanged, except an over-long
 * Authentication-Results field whose authserv-id cannot be read, dropped.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "authres.h"

#define AR_NAME		"authentication-results"
#define AR_NAME_LEN	(sizeof(AR_NAME) - 1)

enum {
	ST_LINE,	/* at the start of a header line */
	ST_NAME,	/* in a field name (held until it is known) */
	ST_FIELD,	/* in a field's value */
	ST_BODY,	/* past the header section: everything passes */
};

void
authres_filter_init(struct authres_filter *f, const char *id,
    authres_sink *sink, void *arg)
{
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->sink = sink;
	f->arg = arg;
	f->state = ST_LINE;
	buf_init(&f->held, AUTHRES_FIELD_MAX + 1);
}

void
authres_filter_free(struct authres_filter *f)
{
	buf_free(&f->held);
}

/* skip_cfws - comments (nested, quoted-pairs) and white space; NULL if a
 * comment does not end before e */
static const char *
skip_cfws(const char *p, const char *e)
{
	int depth = 0;

	for (; p < e; p++) {
		if (depth > 0 && *p == '\\') {
			if (++p == e)
				return NULL;
		} else if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r')
			return p;
	}
	return depth ? NULL : p;
}

/* tokenchar - RFC 2045 token: no space, controls or tspecials */
static bool
tokenchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/*
 * id_match - 1: the field value v carries authserv-id id, 0: another id,
 * -1: cannot tell (v ends inside a comment or, unless complete, inside
 * the id)
 */
static int
id_match(const char *v, size_t n, const char *id, bool complete)
{
	const char *p, *e = v + n, *s;
	char val[256];
	size_t k = 0;

	if ((p = skip_cfws(v, e)) == NULL)
		return complete ? 0 : -1;
	if (p < e && *p == '"') {
		for (p++; p < e && *p != '"'; p++) {
			if (*p == '\\' && ++p == e)
				break;
			if (k < sizeof(val) - 1)
				val[k++] = *p;
		}
		if (p == e)
			return complete ? 0 : -1;
	} else {
		for (s = p; p < e && tokenchar((unsigned char)*p); p++)
			if (k < sizeof(val) - 1)
				val[k++] = *p;
		if (p == e && !complete)
			return -1;
		if (p == s)
			return 0;
	}
	val[k] = '\0';
	return strlen(id) == k && strcasecmp(val, id) == 0;
}

bool
authres_id_is(const char *v, size_t n, const char *id)
{
	return id_match(v, n, id, true) == 1;
}

/* held_value - the value part of the held A-R field (after its colon) */
static const char *
held_value(struct authres_filter *f, size_t *n_r)
{
	const char *h = buf_head(&f->held), *c;

	c = memchr(h, ':', f->held.len);
	*n_r = f->held.len - (size_t)(c + 1 - h);
	return c + 1;
}

/* decide - the held field is complete, or too long (complete false) */
static void
decide(struct authres_filter *f, bool complete)
{
	const char *v;
	size_t n;
	int m;

	v = held_value(f, &n);
	m = id_match(v, n, f->id, complete);
	if (m == 1 || (m == -1 && !complete)) {
		f->removed++;
		f->dropping = !complete;
	} else
		f->sink(f->arg, buf_head(&f->held), f->held.len);
	buf_reset(&f->held);
	f->holding = false;
}

/* name_char - one more byte of a field name; true when the name is known */
static void
name_char(struct authres_filter *f, char c)
{
	size_t i = f->held.len;	/* the byte's position in the name */
	bool can_be = true;

	(void)buf_append(&f->held, &c, 1);
	if (c == ':')
		can_be = i >= AR_NAME_LEN;
	else if (i < AR_NAME_LEN)
		can_be = tolower((unsigned char)c) == AR_NAME[i];
	else
		can_be = c == ' ' || c == '\t';	/* obs-optional WSP before ':' */
	if (c == '\n')
		can_be = false;
	if (can_be && c != ':') {
		if (f->held.len < AUTHRES_FIELD_MAX)
			return;		/* not known yet */
		can_be = false;		/* a name that long: not ours to judge */
	}
	if (can_be) {			/* "Authentication-Results:" */
		f->holding = true;
		f->state = ST_FIELD;
		return;
	}
	f->sink(f->arg, buf_head(&f->held), f->held.len);
	buf_reset(&f->held);
	f->state = c == '\n' ? ST_LINE : ST_FIELD;
}

void
authres_filter_feed(struct authres_filter *f, const char *p, size_t n)
{
	const char *e = p + n, *run = p;

	while (p < e) {
		char c = *p;

		switch (f->state) {
		case ST_BODY:
			p = e;
			continue;
		case ST_LINE:
			if (c == ' ' || c == '\t') {
				f->state = ST_FIELD;	/* a continuation line */
				continue;
			}
			if (run < p)
				f->sink(f->arg, run, (size_t)(p - run));
			run = p;
			if (f->holding)
				decide(f, true);
			f->dropping = false;
			if (c == '\n') {
				f->state = ST_BODY;
				continue;
			}
			f->state = ST_NAME;
			continue;
		case ST_NAME:
			name_char(f, c);
			run = ++p;
			continue;
		case ST_FIELD:
			if (f->holding || f->dropping) {
				if (f->holding) {
					(void)buf_append(&f->held, &c, 1);
					if (f->held.len >= AUTHRES_FIELD_MAX)
						decide(f, false);
				}
				run = ++p;
			} else
				p++;
			if (c == '\n')
				f->state = ST_LINE;
			continue;
		}
	}
	if (run < e)
		f->sink(f->arg, run, (size_t)(e - run));
}

void
authres_filter_end(struct authres_filter *f)
{
	if (f->holding)
		decide(f, true);
	else if (f->state == ST_NAME && f->held.len)
		f->sink(f->arg, buf_head(&f->held), f->held.len);
	buf_reset(&f->held);
	f->state = ST_BODY;
}

/* ---- our header ------------------------------------------------------ */

/* put_value - a token as is, anything else as a quoted-string */
static int
put_value(struct buf *out, const char *v, bool pvalue)
{
	const char *p;
	bool tok = *v != '\0';

	for (p = v; *p && tok; p++)
		tok = tokenchar((unsigned char)*p) ||
		    (pvalue && (*p == '@' || *p == '/' || *p == '='));
	if (tok)
		return buf_puts(out, v);
	if (buf_puts(out, "\"") == -1)
		return -1;
	for (p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			continue;
		if ((c == '"' || c == '\\') && buf_puts(out, "\\") == -1)
			return -1;
		if (buf_append(out, p, 1) == -1)
			return -1;
	}
	return buf_puts(out, "\"");
}

/* put_reason - " (reason)", cut at 100 bytes, without ( ) \ or controls */
static int
put_reason(struct buf *out, const char *r)
{
	size_t k = 0;

	if (r == NULL || *r == '\0')
		return 0;
	if (buf_puts(out, " (") == -1)
		return -1;
	for (; *r && k < 100; r++, k++) {
		unsigned char c = (unsigned char)*r;

		if (c < 0x20 || c == 0x7f || c == '(' || c == ')' || c == '\\')
			c = ' ';
		if (buf_append(out, &c, 1) == -1)
			return -1;
	}
	return buf_puts(out, ")");
}

/* put_prop - " ptype.property=value" when value is set */
static int
put_prop(struct buf *out, const char *prop, const char *v, bool pvalue)
{
	if (v == NULL)
		return 0;
	if (buf_printf(out, " %s=", prop) == -1)
		return -1;
	return put_value(out, v, pvalue);
}

static int
put_dkim(struct buf *out, const struct authres_dkim *d)
{
	char b8[9];
	size_t i;

	if (buf_printf(out, ";\n\tdkim=%s", d->result) == -1 ||
	    put_reason(out, d->reason) == -1 ||
	    put_prop(out, "header.d", d->d, false) == -1 ||
	    put_prop(out, "header.s", d->s, false) == -1 ||
	    put_prop(out, "header.a", d->a, false) == -1)
		return -1;
	if (d->b == NULL)
		return 0;
	for (i = 0; i < 8 && d->b[i]; i++)
		b8[i] = d->b[i];
	b8[i] = '\0';
	return put_prop(out, "header.b", b8, false);
}

int
authres_format(struct buf *out, const struct authres *ar)
{
	size_t start = out->len, i;
	int r = 0;

	r |= buf_puts(out, "Authentication-Results: ");
	r |= put_value(out, ar->id, false);
	if (ar->spf == NULL && !ar->dkim_checked && ar->dmarc == NULL)
		r |= buf_puts(out, "; none");
	if (ar->spf) {
		r |= buf_printf(out, ";\n\tspf=%s", ar->spf);
		r |= put_reason(out, ar->spf_reason);
		r |= put_prop(out, ar->spf_helo ? "smtp.helo" : "smtp.mailfrom",
		    ar->spf_value, true);
	}
	if (ar->dkim_checked && ar->ndkim == 0)
		r |= buf_puts(out, ";\n\tdkim=none");
	for (i = 0; i < ar->ndkim && r == 0; i++)
		r |= put_dkim(out, &ar->dkim[i]);
	if (ar->dmarc) {
		r |= buf_printf(out, ";\n\tdmarc=%s", ar->dmarc);
		r |= put_reason(out, ar->dmarc_reason);
		r |= put_prop(out, "header.from", ar->dmarc_from, true);
		r |= put_prop(out, "policy.dmarc", ar->dmarc_policy, false);
	}
	r |= buf_puts(out, "\n");
	if (r) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}
