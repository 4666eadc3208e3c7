/* SPDX-License-Identifier: ISC */
/*
 * imap_decode.c - header and body text decoded for SEARCH: RFC 2047
 * encoded words, base64 and quoted-printable (RFC 2045 6.7, 6.8), Latin-1
 * to UTF-8, and a case fold for matching.
 *
 * Runs in the imapd worker on message bytes (untrusted).  Pure: no I/O,
 * no allocation but through the output buffer; bad encodings are decoded
 * as far as they go, never refused (a search must not fail on them).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "imap_decode.h"
#include "strnum.h"

enum charset {
	CS_UTF8,	/* and US-ASCII: copied */
	CS_LATIN1,	/* ISO-8859-1, -15, Windows-1252: one byte, one letter */
	CS_OTHER,	/* copied as they are */
};

static enum charset
charset_of(const char *s, size_t n)
{
	static const char *latin1[] = { "iso-8859-1", "iso-8859-15",
	    "windows-1252", "latin1", "cp1252", "iso_8859-1" };
	size_t i;

	if ((n == 5 && strncasecmp(s, "utf-8", 5) == 0) ||
	    (n == 8 && strncasecmp(s, "us-ascii", 8) == 0) || n == 0)
		return CS_UTF8;
	for (i = 0; i < sizeof(latin1) / sizeof(latin1[0]); i++)
		if (strlen(latin1[i]) == n && strncasecmp(s, latin1[i], n) == 0)
			return CS_LATIN1;
	return CS_OTHER;
}

/* put - bytes in charset cs as UTF-8 */
static void
put(struct buf *out, const unsigned char *p, size_t n, enum charset cs)
{
	char u[2];
	size_t i, start = 0;

	if (cs != CS_LATIN1) {
		buf_append(out, p, n);
		return;
	}
	for (i = 0; i < n; i++) {
		if (p[i] < 0x80)
			continue;
		buf_append(out, p + start, i - start);
		u[0] = (char)(0xc0 | (p[i] >> 6));
		u[1] = (char)(0x80 | (p[i] & 0x3f));
		buf_append(out, u, 2);
		start = i + 1;
	}
	buf_append(out, p + start, n - start);
}

/* qp - quoted-printable (underscore is a space in RFC 2047 Q words) */
static size_t
qp(const char *s, size_t n, unsigned char *o, bool q_word)
{
	size_t i, k = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		if (s[i] == '_' && q_word)
			o[k++] = ' ';
		else if (s[i] != '=')
			o[k++] = (unsigned char)s[i];
		else if (i + 2 < n && (h = hex_digit((unsigned char)s[i + 1])) >= 0 &&
		    (l = hex_digit((unsigned char)s[i + 2])) >= 0) {
			o[k++] = (unsigned char)(h << 4 | l);
			i += 2;
		} else if (i + 1 < n && s[i + 1] == '\n')
			i++;		/* soft line break */
		else if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n')
			i += 2;
		else
			o[k++] = '=';
	}
	return k;
}

/*
 * word - an encoded word at s: its length, 0 if there is none; decoded
 * into out unless out is NULL.
 */
static size_t
word(const char *s, size_t n, struct buf *out)
{
	const char *cs, *enc, *text, *end, *star;
	unsigned char tmp[256];
	size_t csn, k;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	cs = s + 2;
	if ((enc = memchr(cs, '?', n - 2)) == NULL || enc - cs > 40 ||
	    enc + 3 > s + n || enc[2] != '?')
		return 0;
	text = enc + 3;
	for (end = text; end + 1 < s + n; end++) {
		if (*end == ' ' || *end == '\t')
			return 0;
		if (end[0] == '?' && end[1] == '=')
			break;
	}
	if (end + 1 >= s + n || end - text > 200)
		return 0;
	if (out == NULL)
		return (size_t)(end + 2 - s);
	/* "charset*language" (RFC 2231 5) */
	star = memchr(cs, '*', (size_t)(enc - cs));
	csn = (size_t)((star ? star : enc) - cs);
	if (enc[1] == 'B' || enc[1] == 'b')
		k = base64_decode_lenient(text, (size_t)(end - text), tmp);
	else if (enc[1] == 'Q' || enc[1] == 'q')
		k = qp(text, (size_t)(end - text), tmp, true);
	else
		return 0;
	put(out, tmp, k, charset_of(cs, csn));
	return (size_t)(end + 2 - s);
}

void
decode_header(const char *s, size_t len, struct buf *out)
{
	size_t i = 0, w, e, n;
	bool prev_enc = false;

	while (i < len) {
		for (w = i; w < len && (s[w] == ' ' || s[w] == '\t'); w++)
			;
		if (w > i) {
			/* white space between two encoded words is dropped */
			if (!prev_enc || word(s + w, len - w, NULL) == 0)
				buf_append(out, s + i, w - i);
			i = w;
			continue;
		}
		if ((n = word(s + i, len - i, out)) > 0) {
			i += n;
			prev_enc = true;
			continue;
		}
		for (e = i + 1; e < len && s[e] != ' ' && s[e] != '\t' &&
		    !(s[e] == '=' && e + 1 < len && s[e + 1] == '?'); e++)
			;
		buf_append(out, s + i, e - i);
		i = e;
		prev_enc = false;
	}
}

void
decode_body(const char *s, size_t len, const char *cte, const char *charset,
    struct buf *out)
{
	enum charset cs = charset_of(charset, strlen(charset));
	unsigned char *o;
	size_t k;

	if (len > DECODE_MAX_BODY)
		len = DECODE_MAX_BODY;
	if (strcasecmp(cte, "base64") != 0 &&
	    strcasecmp(cte, "quoted-printable") != 0) {
		put(out, (const unsigned char *)s, len, cs);
		return;
	}
	if (buf_reserve(out, len + 4) == -1)
		return;
	o = (unsigned char *)buf_tail(out);
	k = strcasecmp(cte, "base64") == 0 ? base64_decode_lenient(s, len, o) :
	    qp(s, len, o, false);
	if (cs != CS_LATIN1) {
		buf_commit(out, k);
		return;
	}
	/* Latin-1 doubles at most: convert from a copy */
	{
		struct buf raw;

		buf_init(&raw, 0);
		buf_append(&raw, o, k);
		put(out, (const unsigned char *)buf_head(&raw), raw.len, cs);
		buf_free(&raw);
	}
}

void
decode_fold(char *s, size_t len)
{
	unsigned char *p = (unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (unsigned char)(p[i] + 32);
		/* U+00C0-U+00DE (not U+00D7): C3 80-9E -> C3 A0-BE */
		else if (p[i] == 0xc3 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9e && p[i + 1] != 0x97) {
			p[i + 1] = (unsigned char)(p[i + 1] + 0x20);
			i++;
		}
	}
}
