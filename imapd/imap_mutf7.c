/* SPDX-License-Identifier: ISC */
/*
 * imap_mutf7.c - mailbox names between modified UTF-7 (RFC 3501 5.1.3,
 * what the Maildir++ folders and IMAP4rev1 clients use) and UTF-8 (what
 * an IMAP4rev2 client sends and reads, RFC 9051 5.1).
 *
 * No I/O (fuzz_imap_parser checks both ways).  Both directions are
 * strict: a name that is not valid mUTF-7 (bad base64, an encoded
 * printable ASCII character, a lone surrogate, leftover bits) or not
 * valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF) is refused,
 * so one name has one spelling each way.
 */
#include <string.h>

#include "imap_mime.h"
#include "imap_mutf7.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64val(unsigned char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64, c)) == NULL)
		return -1;
	return (int)(p - b64);
}

/* out_put - one byte into out (room kept for the NUL) */
static bool
out_put(char *out, size_t outsz, size_t *o, char c)
{
	if (*o + 1 >= outsz)
		return false;
	out[(*o)++] = c;
	return true;
}

/* utf8_put - code point cp as UTF-8 */
static bool
utf8_put(char *out, size_t outsz, size_t *o, uint32_t cp)
{
	if (cp < 0x80)
		return out_put(out, outsz, o, (char)cp);
	if (cp < 0x800)
		return out_put(out, outsz, o, (char)(0xc0 | cp >> 6)) &&
		    out_put(out, outsz, o, (char)(0x80 | (cp & 0x3f)));
	if (cp < 0x10000)
		return out_put(out, outsz, o, (char)(0xe0 | cp >> 12)) &&
		    out_put(out, outsz, o, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
		    out_put(out, outsz, o, (char)(0x80 | (cp & 0x3f)));
	return out_put(out, outsz, o, (char)(0xf0 | cp >> 18)) &&
	    out_put(out, outsz, o, (char)(0x80 | ((cp >> 12) & 0x3f))) &&
	    out_put(out, outsz, o, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
	    out_put(out, outsz, o, (char)(0x80 | (cp & 0x3f)));
}

bool
mutf7_to_utf8(const char *in, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;
	uint32_t bits, nbits, hi, u, cp;
	int v;
	bool any;
	const unsigned char *shift_end = NULL;

	while (*p) {
		if (*p < 0x20 || *p > 0x7e)
			return false;
		if (*p != '&') {
			if (!out_put(out, outsz, &o, (char)*p++))
				return false;
			continue;
		}
		if (*++p == '-') {	/* "&-" is '&' */
			if (!out_put(out, outsz, &o, '&'))
				return false;
			p++;
			continue;
		}
		if (p - 1 == shift_end)	/* "&..-&..-": one shift */
			return false;
		bits = nbits = hi = 0;
		any = false;
		while (*p != '-') {
			if ((v = b64val(*p++)) < 0)
				return false;
			bits = (bits << 6 | (uint32_t)v) & 0xffffff;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			u = (bits >> nbits) & 0xffff;
			any = true;
			if (hi) {
				if (u < 0xdc00 || u > 0xdfff)
					return false;
				cp = 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00);
				hi = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				hi = u;
				continue;
			} else if ((u >= 0xdc00 && u <= 0xdfff) || u <= 0x7f)
				return false;	/* lone low half, ASCII, control */
			else
				cp = u;
			if (!utf8_put(out, outsz, &o, cp))
				return false;
		}
		shift_end = ++p;
		/* leftover: fewer than 6 bits, all zero; a whole shift */
		if (!any || hi || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			return false;
	}
	if (o >= outsz)
		return false;
	out[o] = '\0';
	return true;
}

/* utf8_get - the next code point of p, advancing it; false if invalid */
static bool
utf8_get(const unsigned char **pp, uint32_t *cp_r)
{
	const unsigned char *p = *pp;
	uint32_t cp, min;
	int n, i;

	if (p[0] < 0x80) {
		*cp_r = *p;
		*pp = p + 1;
		return true;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		n = 1;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 2;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 3;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return false;
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	*cp_r = cp;
	*pp = p + n + 1;
	return true;
}

/* put_unit - the 16-bit unit u into the shift's bit buffer */
static bool
put_unit(char *out, size_t outsz, size_t *o, uint32_t *bits, uint32_t *nbits,
    uint32_t u)
{
	*bits = (*bits << 16 | u) & 0xffffff;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		if (!out_put(out, outsz, o, b64[(*bits >> *nbits) & 0x3f]))
			return false;
	}
	return true;
}

/* shift_close - the last bits of a shift and its '-' */
static bool
shift_close(char *out, size_t outsz, size_t *o, uint32_t bits, uint32_t nbits)
{
	if (nbits && !out_put(out, outsz, o, b64[(bits << (6 - nbits)) & 0x3f]))
		return false;
	return out_put(out, outsz, o, '-');
}

bool
mutf7_from_utf8(const char *in, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;
	uint32_t cp, bits = 0, nbits = 0;
	bool shifted = false;

	while (*p) {
		if (!utf8_get(&p, &cp) || cp < 0x20 || cp == 0x7f)
			return false;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted) {
				if (!shift_close(out, outsz, &o, bits, nbits))
					return false;
				shifted = false;
				bits = nbits = 0;
			}
			if (!out_put(out, outsz, &o, (char)cp) ||
			    (cp == '&' && !out_put(out, outsz, &o, '-')))
				return false;
			continue;
		}
		if (!shifted) {
			if (!out_put(out, outsz, &o, '&'))
				return false;
			shifted = true;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			if (!put_unit(out, outsz, &o, &bits, &nbits,
			    0xd800 + (cp >> 10)) ||
			    !put_unit(out, outsz, &o, &bits, &nbits,
			    0xdc00 + (cp & 0x3ff)))
				return false;
		} else if (!put_unit(out, outsz, &o, &bits, &nbits, cp))
			return false;
	}
	if (shifted && !shift_close(out, outsz, &o, bits, nbits))
		return false;
	if (o >= outsz)
		return false;
	out[o] = '\0';
	return true;
}

bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	while (*p)
		if (!utf8_get(&p, &cp))
			return false;
	return true;
}

void
imap_put_mailbox(struct buf *b, const char *name, bool utf8)
{
	size_t i, n = strlen(name);

	/* IMAP4rev2 quoted strings carry UTF-8 (RFC 9051 9, QUOTED-CHAR) */
	if (!utf8 || n > 1024 || strpbrk(name, "\r\n") != NULL ||
	    !utf8_valid(name)) {
		imap_put_string(b, name, n);
		return;
	}
	buf_append(b, "\"", 1);
	for (i = 0; i < n; i++) {
		if (name[i] == '"' || name[i] == '\\')
			buf_append(b, "\\", 1);
		buf_append(b, name + i, 1);
	}
	buf_append(b, "\"", 1);
}
