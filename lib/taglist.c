/* SPDX-License-Identifier: ISC */
/*
 * taglist.c - split DKIM and DMARC tag-lists (see taglist.h for the
 * grammar).  Pure: runs wherever a parser needs it, allocates nothing.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "taglist.h"

static inline bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* fws_len - length of the FWS at p[i] (0 if none) */
static size_t
fws_len(const char *p, size_t n, size_t i)
{
	size_t s = i;

	for (;;) {
		if (i < n && is_wsp(p[i]))
			i++;
		else if (i + 1 < n && p[i] == '\n' && is_wsp(p[i + 1]))
			i += 2;
		else if (i + 2 < n && p[i] == '\r' && p[i + 1] == '\n' &&
		    is_wsp(p[i + 2]))
			i += 3;
		else
			return i - s;
	}
}

static inline bool
is_valchar(char c)
{
	return c >= 0x21 && c <= 0x7e && c != ';';
}

static bool
same_name(const struct tag *a, const struct tag *b, bool nocase)
{
	if (a->nlen != b->nlen)
		return false;
	return nocase ? strncasecmp(a->name, b->name, a->nlen) == 0 :
	    memcmp(a->name, b->name, a->nlen) == 0;
}

/* parse_spec - one tag-spec from p[*i]; stops at ';' or the end */
static bool
parse_spec(const char *p, size_t n, size_t *ip, struct tag *t)
{
	size_t i = *ip, f, vend;

	i += fws_len(p, n, i);
	if (i >= n || !isalpha((unsigned char)p[i]))
		return false;
	t->name = p + i;
	while (i < n && (isalnum((unsigned char)p[i]) || p[i] == '_'))
		i++;
	t->nlen = (size_t)(p + i - t->name);
	i += fws_len(p, n, i);
	if (i >= n || p[i] != '=')
		return false;
	t->eq_end = ++i;
	i += fws_len(p, n, i);
	t->val = p + i;
	vend = i;
	for (;;) {
		while (i < n && is_valchar(p[i]))
			i++;
		vend = i;
		f = fws_len(p, n, i);
		if (f == 0 || i + f >= n || !is_valchar(p[i + f]))
			break;
		i += f;
	}
	t->vlen = (size_t)(p + vend - t->val);
	i = vend + fws_len(p, n, vend);
	if (i < n && p[i] != ';')
		return false;
	t->spec_end = i;
	*ip = i;
	return true;
}

enum taglist_res
taglist_parse(const char *p, size_t n, struct tag *tags, size_t max,
    size_t *ntags_r, bool nocase)
{
	size_t i = 0, k, nt = 0;
	struct tag t;

	*ntags_r = 0;
	for (;;) {
		if (!parse_spec(p, n, &i, &t))
			return TAGLIST_SYNTAX;
		for (k = 0; k < nt; k++)
			if (same_name(&tags[k], &t, nocase))
				return TAGLIST_DUP;
		if (nt == max)
			return TAGLIST_TOOMANY;
		tags[nt++] = t;
		*ntags_r = nt;
		if (i >= n)
			return TAGLIST_OK;
		i++;			/* the ';' */
		if (i + fws_len(p, n, i) >= n)	/* a final ';' */
			return TAGLIST_OK;
	}
}

const struct tag *
taglist_find(const struct tag *tags, size_t ntags, const char *name,
    bool nocase)
{
	size_t i, len = strlen(name);

	for (i = 0; i < ntags; i++)
		if (tags[i].nlen == len && (nocase ?
		    strncasecmp(tags[i].name, name, len) == 0 :
		    memcmp(tags[i].name, name, len) == 0))
			return &tags[i];
	return NULL;
}

bool
taglist_is(const struct tag *t, const char *s, bool nocase)
{
	size_t len = strlen(s);

	return t->vlen == len && (nocase ? strncasecmp(t->val, s, len) == 0 :
	    memcmp(t->val, s, len) == 0);
}

bool
taglist_strip(const struct tag *t, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < t->vlen; i++) {
		char c = t->val[i];

		if (is_wsp(c) || c == '\r' || c == '\n')
			continue;
		if (o + 1 >= outsz)
			return false;
		out[o++] = c;
	}
	if (outsz == 0)
		return false;
	out[o] = '\0';
	return true;
}
