/* SPDX-License-Identifier: ISC */
/*
 * acme_json.c - the bounded JSON parser of acme_json.h: recursive descent
 * over RFC 8259's grammar, at most JSON_MAX_DEPTH levels and the caller's
 * number of tokens; strings are checked (no control characters, valid
 * escapes, \u surrogates paired) but kept raw until json_str() decodes
 * them.  No I/O, no allocation; runs in facteur-keytool on what an ACME
 * server sent.  Errors are a fixed text, never a crash.
 */
#include <string.h>

#include "keytool/acme_json.h"
#include "strnum.h"

struct jp {
	struct json	*j;
	size_t		 pos;
	const char	*err;
};

static int	jp_value(struct jp *p, unsigned depth);

static void
jp_ws(struct jp *p)
{
	const char *s = p->j->text;

	while (p->pos < p->j->len && (s[p->pos] == ' ' || s[p->pos] == '\t' ||
	    s[p->pos] == '\n' || s[p->pos] == '\r'))
		p->pos++;
}

static int
jp_fail(struct jp *p, const char *why)
{
	if (p->err == NULL)
		p->err = why;
	return -1;
}

/* jp_tok - a new token of type at the current position, or -1 */
static int
jp_tok(struct jp *p, enum json_type type)
{
	struct json_tok *t;

	if (p->j->n >= p->j->max)
		return jp_fail(p, "too many values");
	t = &p->j->t[p->j->n];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->start = (uint32_t)p->pos;
	return (int)p->j->n++;
}

/* hex4 - the 4 hex digits at s (len checked by the caller), or -1 */
static long
hex4(const char *s)
{
	long v = 0;
	int i, h;

	for (i = 0; i < 4; i++) {
		if ((h = hex_digit(s[i])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* jp_string - at the opening quote; the token covers the inside */
static int
jp_string(struct jp *p)
{
	const char *s = p->j->text;
	size_t len = p->j->len;
	long u, lo;
	int t;

	p->pos++;
	if ((t = jp_tok(p, JSON_STRING)) == -1)
		return -1;
	while (p->pos < len && s[p->pos] != '"') {
		unsigned char c = (unsigned char)s[p->pos];

		if (c < 0x20)
			return jp_fail(p, "control character in a string");
		if (c != '\\') {
			p->pos++;
			continue;
		}
		if (p->pos + 1 >= len)
			break;
		c = (unsigned char)s[p->pos + 1];
		if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
			p->pos += 2;
			continue;
		}
		if (c != 'u' || p->pos + 6 > len ||
		    (u = hex4(s + p->pos + 2)) < 0)
			return jp_fail(p, "bad escape in a string");
		p->pos += 6;
		if (u >= 0xdc00 && u <= 0xdfff)
			return jp_fail(p, "lone low surrogate");
		if (u >= 0xd800 && u <= 0xdbff) {
			if (p->pos + 6 > len || s[p->pos] != '\\' ||
			    s[p->pos + 1] != 'u' ||
			    (lo = hex4(s + p->pos + 2)) < 0xdc00 || lo > 0xdfff)
				return jp_fail(p, "unpaired surrogate");
			p->pos += 6;
		}
	}
	if (p->pos >= len)
		return jp_fail(p, "unterminated string");
	p->j->t[t].end = (uint32_t)p->pos;
	p->j->t[t].next = (uint32_t)p->j->n;
	p->pos++;
	return t;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* jp_number - RFC 8259 section 6: -?int frac? exp? */
static int
jp_number(struct jp *p)
{
	const char *s = p->j->text;
	size_t len = p->j->len;
	int t;

	if ((t = jp_tok(p, JSON_NUMBER)) == -1)
		return -1;
	if (p->pos < len && s[p->pos] == '-')
		p->pos++;
	if (p->pos >= len || !is_digit(s[p->pos]))
		return jp_fail(p, "bad number");
	if (s[p->pos] == '0')
		p->pos++;
	else
		while (p->pos < len && is_digit(s[p->pos]))
			p->pos++;
	if (p->pos < len && s[p->pos] == '.') {
		p->pos++;
		if (p->pos >= len || !is_digit(s[p->pos]))
			return jp_fail(p, "bad number");
		while (p->pos < len && is_digit(s[p->pos]))
			p->pos++;
	}
	if (p->pos < len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < len && (s[p->pos] == '+' || s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= len || !is_digit(s[p->pos]))
			return jp_fail(p, "bad number");
		while (p->pos < len && is_digit(s[p->pos]))
			p->pos++;
	}
	p->j->t[t].end = (uint32_t)p->pos;
	p->j->t[t].next = (uint32_t)p->j->n;
	return t;
}

static int
jp_word(struct jp *p, const char *word, enum json_type type)
{
	size_t n = strlen(word);
	int t;

	if (p->j->len - p->pos < n || memcmp(p->j->text + p->pos, word, n) != 0)
		return jp_fail(p, "unexpected character");
	if ((t = jp_tok(p, type)) == -1)
		return -1;
	p->pos += n;
	p->j->t[t].end = (uint32_t)p->pos;
	p->j->t[t].next = (uint32_t)p->j->n;
	return t;
}

/* jp_container - object or array at its opening bracket */
static int
jp_container(struct jp *p, unsigned depth)
{
	bool obj = p->j->text[p->pos] == '{';
	char close = obj ? '}' : ']';
	int t;

	if (depth >= JSON_MAX_DEPTH)
		return jp_fail(p, "nested too deep");
	if ((t = jp_tok(p, obj ? JSON_OBJECT : JSON_ARRAY)) == -1)
		return -1;
	p->pos++;
	jp_ws(p);
	if (p->pos < p->j->len && p->j->text[p->pos] == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		if (obj) {
			jp_ws(p);
			if (p->pos >= p->j->len || p->j->text[p->pos] != '"')
				return jp_fail(p, "expected a member name");
			if (jp_string(p) == -1)
				return -1;
			jp_ws(p);
			if (p->pos >= p->j->len || p->j->text[p->pos] != ':')
				return jp_fail(p, "expected ':'");
			p->pos++;
		}
		if (jp_value(p, depth + 1) == -1)
			return -1;
		p->j->t[t].size++;
		jp_ws(p);
		if (p->pos >= p->j->len)
			return jp_fail(p, "unterminated object or array");
		if (p->j->text[p->pos] == close) {
			p->pos++;
			break;
		}
		if (p->j->text[p->pos] != ',')
			return jp_fail(p, "expected ',' or the end");
		p->pos++;
	}
done:
	p->j->t[t].end = (uint32_t)p->pos;
	p->j->t[t].next = (uint32_t)p->j->n;
	return t;
}

static int
jp_value(struct jp *p, unsigned depth)
{
	char c;

	jp_ws(p);
	if (p->pos >= p->j->len)
		return jp_fail(p, "expected a value");
	c = p->j->text[p->pos];
	switch (c) {
	case '{':
	case '[':
		return jp_container(p, depth);
	case '"':
		return jp_string(p);
	case 't':
		return jp_word(p, "true", JSON_TRUE);
	case 'f':
		return jp_word(p, "false", JSON_FALSE);
	case 'n':
		return jp_word(p, "null", JSON_NULL);
	default:
		if (c == '-' || is_digit(c))
			return jp_number(p);
		return jp_fail(p, "unexpected character");
	}
}

int
json_parse(struct json *j, const char *text, size_t len,
    struct json_tok *toks, size_t max, const char **err_r)
{
	struct jp p = { j, 0, NULL };

	j->text = text;
	j->len = len > UINT32_MAX ? 0 : len;
	j->t = toks;
	j->n = 0;
	j->max = max;
	if (len > UINT32_MAX) {
		*err_r = "too long";
		return -1;
	}
	if (jp_value(&p, 0) == -1) {
		*err_r = p.err;
		j->n = 0;
		return -1;
	}
	jp_ws(&p);
	if (p.pos != len) {
		*err_r = "text after the value";
		j->n = 0;
		return -1;
	}
	return 0;
}

bool
json_is(const struct json *j, int t, enum json_type type)
{
	return t >= 0 && (size_t)t < j->n && j->t[t].type == type;
}

int
json_get(const struct json *j, int obj, const char *key)
{
	size_t klen = strlen(key), i, k;

	if (!json_is(j, obj, JSON_OBJECT))
		return -1;
	k = (size_t)obj + 1;
	for (i = 0; i < j->t[obj].size; i++) {
		const struct json_tok *kt = &j->t[k];

		if (kt->end - kt->start == klen &&
		    memcmp(j->text + kt->start, key, klen) == 0)
			return (int)k + 1;
		k = j->t[k + 1].next;	/* past the member's value */
	}
	return -1;
}

int
json_elem(const struct json *j, int arr, size_t i)
{
	size_t k, n;

	if (!json_is(j, arr, JSON_ARRAY) || i >= j->t[arr].size)
		return -1;
	k = (size_t)arr + 1;
	for (n = 0; n < i; n++)
		k = j->t[k].next;
	return (int)k;
}

size_t
json_count(const struct json *j, int t)
{
	if (json_is(j, t, JSON_OBJECT) || json_is(j, t, JSON_ARRAY))
		return j->t[t].size;
	return 0;
}

/* put_utf8 - code point u into out[*o..outsz); false if it does not fit */
static bool
put_utf8(char *out, size_t outsz, size_t *o, unsigned long u)
{
	unsigned char b[4];
	size_t n, i;

	if (u < 0x80) {
		b[0] = (unsigned char)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (unsigned char)(0xc0 | (u >> 6));
		b[1] = (unsigned char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (u >> 12));
		b[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (u >> 18));
		b[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (u & 0x3f));
		n = 4;
	}
	if (*o + n >= outsz)
		return false;
	for (i = 0; i < n; i++)
		out[(*o)++] = (char)b[i];
	return true;
}

bool
json_str(const struct json *j, int t, char *out, size_t outsz)
{
	const char *s;
	size_t i, end, o = 0;
	unsigned long u;
	const char *esc = "\"\"\\\\//b\bf\fn\nr\rt\t";

	if (!json_is(j, t, JSON_STRING) || outsz == 0)
		return false;
	s = j->text;
	end = j->t[t].end;
	/* json_parse checked every escape: no bounds surprises below */
	for (i = j->t[t].start; i < end; ) {
		if (s[i] != '\\') {
			if (s[i] == '\0' || o + 1 >= outsz)
				return false;
			out[o++] = s[i++];
			continue;
		}
		if (s[i + 1] != 'u') {
			const char *e = strchr(esc, s[i + 1]);

			if (o + 1 >= outsz)
				return false;
			out[o++] = e[1];
			i += 2;
			continue;
		}
		u = (unsigned long)hex4(s + i + 2);
		i += 6;
		if (u >= 0xd800 && u <= 0xdbff) {
			u = 0x10000 + ((u - 0xd800) << 10) +
			    ((unsigned long)hex4(s + i + 2) - 0xdc00);
			i += 6;
		}
		if (u == 0 || !put_utf8(out, outsz, &o, u))
			return false;
	}
	out[o] = '\0';
	return true;
}

bool
json_get_str(const struct json *j, int obj, const char *key, char *out,
    size_t outsz)
{
	return json_str(j, json_get(j, obj, key), out, outsz);
}
