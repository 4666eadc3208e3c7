/* SPDX-License-Identifier: ISC */
/*
 * imap_addr.c - RFC 5322 address lists as IMAP sees them: the address
 * structures of ENVELOPE (RFC 3501 7.4.2, groups as start and end
 * markers that always balance) and the text SEARCH FROM/TO/CC/BCC match
 * ("Name <local@domain>", "group:" and ";").
 *
 * No I/O: fed a header value, unit-tested and fuzzed (fuzz_mime).  A
 * display name is the phrase before "<...>", or else the last comment
 * outside the brackets ("user@domain (Real Name)"), as Dovecot does;
 * comments elsewhere are dropped.  Malformed input gives what can be
 * read of it, never an error.  Work and memory are linear in the input.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_mime.h"
#include "xmem.h"

enum tok_type {
	TK_ATOM,	/* also dots, domain literals */
	TK_QUOTED,
	TK_COMMENT,
	TK_SPECIAL,	/* one of < > @ , ; : */
};

struct tok {
	enum tok_type	 type;
	const char	*p;		/* unescaped text in the scratch copy */
	size_t		 len;
};

struct tokens {
	struct tok	*v;
	size_t		 n;
	char		*text;		/* scratch: the unescaped texts */
};

/* tok_delimited - a quoted string or comment from s (at its opener) */
static size_t
tok_delimited(const char *s, size_t len, char **o)
{
	size_t i = 1;
	int depth = 1;
	char close = *s == '"' ? '"' : ')';

	for (; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len) {
			*(*o)++ = s[++i];
			continue;
		}
		if (close == ')' && s[i] == '(')
			depth++;
		else if (s[i] == close && --depth == 0)
			return i + 1;
		*(*o)++ = s[i];
	}
	return len;
}

static void
tokenize(const char *s, size_t len, struct tokens *t)
{
	char *o;
	size_t i = 0, n;
	struct tok *k;

	t->v = xreallocarray(NULL, len + 1, sizeof(*t->v));
	t->text = xmalloc(len + 1);
	t->n = 0;
	o = t->text;
	while (i < len) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++;
			continue;
		}
		k = &t->v[t->n++];
		k->p = o;
		if (s[i] == '"' || s[i] == '(') {
			k->type = s[i] == '"' ? TK_QUOTED : TK_COMMENT;
			i += tok_delimited(s + i, len - i, &o);
		} else if (strchr("<>@,;:", s[i]) != NULL && s[i] != '\0') {
			k->type = TK_SPECIAL;
			*o++ = s[i++];
		} else if (s[i] == '[') {
			k->type = TK_ATOM;
			for (n = i; n < len && s[n] != ']'; n++)
				*o++ = s[n];
			if (n < len)
				*o++ = s[n++];
			i = n;
		} else {
			k->type = TK_ATOM;
			while (i < len && strchr(" \t\r\n\"()<>@,;:[", s[i]) ==
			    NULL)
				*o++ = s[i++];
			if (k->p == o) {	/* a stray ')' or a NUL */
				*o++ = s[i] != '\0' ? s[i] : ' ';
				i++;
			}
		}
		k->len = (size_t)(o - k->p);
	}
}

static bool
is_special(const struct tok *k, char c)
{
	return k->type == TK_SPECIAL && *k->p == c;
}

/* join - words of v[a..b) (atoms, quoted) with `sep` between, or NULL */
static char *
join(const struct tok *v, size_t a, size_t b, const char *sep)
{
	struct buf o;
	size_t i;
	bool any = false;
	char *r;

	buf_init(&o, 0);
	for (i = a; i < b; i++) {
		if (v[i].type != TK_ATOM && v[i].type != TK_QUOTED)
			continue;
		if (any)
			buf_puts(&o, sep);
		buf_append(&o, v[i].p, v[i].len);
		any = true;
	}
	if (!any) {
		buf_free(&o);
		return NULL;
	}
	buf_append(&o, "", 1);
	r = xstrdup(buf_head(&o));
	buf_free(&o);
	return r;
}

static struct imap_addr *
addr_new(struct imap_addrs *a)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 4;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	memset(&a->v[a->n], 0, sizeof(a->v[0]));
	return &a->v[a->n++];
}

/* last_comment - the last comment of v[a..b) outside <>, or NULL */
static char *
last_comment(const struct tok *v, size_t a, size_t b)
{
	size_t i;
	int angle = 0;
	const struct tok *c = NULL;

	for (i = a; i < b; i++) {
		if (is_special(&v[i], '<'))
			angle++;
		else if (is_special(&v[i], '>') && angle > 0)
			angle--;
		else if (v[i].type == TK_COMMENT && angle == 0 && v[i].len > 0)
			c = &v[i];
	}
	return c ? xstrndup(c->p, c->len) : NULL;
}

/* mailbox - one address from v[a..b) (no top-level , ; :) */
static void
mailbox(struct imap_addrs *out, const struct tok *v, size_t a, size_t b)
{
	struct imap_addr *m;
	size_t i, lt = b, at, gt, colon, a0 = a, b0 = b;

	for (i = a; i < b; i++)
		if (is_special(&v[i], '<')) {
			lt = i;
			break;
		}
	m = addr_new(out);
	if (lt < b) {
		m->name = join(v, a, lt, " ");
		for (gt = lt + 1; gt < b && !is_special(&v[gt], '>'); gt++)
			;
		a = lt + 1;
		/* an obsolete route "@a,@b:" before the address */
		if (a < gt && is_special(&v[a], '@')) {
			for (colon = a; colon < gt && !is_special(&v[colon], ':');
			    colon++)
				;
			if (colon < gt) {
				struct buf r;

				buf_init(&r, 0);
				for (i = a; i < colon; i++)
					buf_append(&r, v[i].p, v[i].len);
				buf_append(&r, "", 1);
				m->adl = xstrdup(buf_head(&r));
				buf_free(&r);
				a = colon + 1;
			}
		}
		b = gt;
	}
	for (at = a; at < b && !is_special(&v[at], '@'); at++)
		;
	m->mailbox = join(v, a, at, "");
	if (at < b)
		m->host = join(v, at + 1, b, "");
	if (m->name == NULL)
		m->name = last_comment(v, a0, b0);
}

/* item_empty - only comments in v[a..b) */
static bool
item_empty(const struct tok *v, size_t a, size_t b)
{
	for (; a < b; a++)
		if (v[a].type != TK_COMMENT)
			return false;
	return true;
}

void
imap_addr_parse(const char *s, size_t len, struct imap_addrs *out)
{
	struct tokens t;
	struct imap_addr *g;
	size_t i = 0, j;
	int angle;
	bool in_group = false;

	memset(out, 0, sizeof(*out));
	tokenize(s, len, &t);
	while (i < t.n) {
		/* one item: up to a top-level , ; or : (a group's name) */
		for (j = i, angle = 0; j < t.n; j++) {
			if (is_special(&t.v[j], '<'))
				angle++;
			else if (is_special(&t.v[j], '>') && angle > 0)
				angle--;
			else if (angle == 0 && (is_special(&t.v[j], ',') ||
			    is_special(&t.v[j], ';') ||
			    (is_special(&t.v[j], ':') && !in_group)))
				break;
		}
		if (j < t.n && is_special(&t.v[j], ':')) {
			g = addr_new(out);
			g->group = true;
			g->mailbox = join(t.v, i, j, " ");
			if (g->mailbox == NULL)
				g->mailbox = xstrdup("");
			in_group = true;
		} else {
			if (!item_empty(t.v, i, j))
				mailbox(out, t.v, i, j);
			if (j < t.n && is_special(&t.v[j], ';') && in_group) {
				addr_new(out)->group = true;
				in_group = false;
			}
		}
		i = j + 1;
	}
	if (in_group)
		addr_new(out)->group = true;	/* the missing ';' */
	free(t.v);
	free(t.text);
}

void
imap_addr_free(struct imap_addrs *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->v[i].name);
		free(a->v[i].adl);
		free(a->v[i].mailbox);
		free(a->v[i].host);
	}
	free(a->v);
	memset(a, 0, sizeof(*a));
}

void
imap_addr_envelope(const struct imap_addrs *a, struct buf *out)
{
	const struct imap_addr *m;
	size_t i;

	if (a->n == 0) {
		buf_puts(out, "NIL");
		return;
	}
	buf_puts(out, "(");
	for (i = 0; i < a->n; i++) {
		m = &a->v[i];
		buf_puts(out, "(");
		imap_put_nstring(out, m->name && *m->name ? m->name : NULL);
		buf_puts(out, " ");
		imap_put_nstring(out, m->adl);
		buf_puts(out, " ");
		/* a NIL host is a group marker: an address without a
		 * domain (or local part) gets Dovecot's fillers */
		if (m->group) {
			imap_put_nstring(out, m->mailbox);
			buf_puts(out, " NIL)");
			continue;
		}
		imap_put_nstring(out, m->mailbox && *m->mailbox ? m->mailbox :
		    "MISSING_MAILBOX");
		buf_puts(out, " ");
		imap_put_nstring(out, m->host && *m->host ? m->host :
		    "MISSING_DOMAIN");
		buf_puts(out, ")");
	}
	buf_puts(out, ")");
}

void
imap_addr_text(const struct imap_addrs *a, struct buf *out)
{
	const struct imap_addr *m;
	size_t i;

	for (i = 0; i < a->n; i++) {
		m = &a->v[i];
		if (i > 0)
			buf_puts(out, " ");
		if (m->group) {
			if (m->mailbox)
				buf_printf(out, "%s:", m->mailbox);
			else
				buf_puts(out, ";");
			continue;
		}
		if (m->name && *m->name)
			buf_printf(out, "%s <", m->name);
		buf_printf(out, "%s%s%s", m->mailbox ? m->mailbox : "",
		    m->host ? "@" : "", m->host ? m->host : "");
		if (m->name && *m->name)
			buf_puts(out, ">");
	}
}
