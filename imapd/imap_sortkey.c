/* SPDX-License-Identifier: ISC */
/*
 * imap_sortkey.c - the keys SORT and THREAD compare, from header values:
 * base subject (RFC 5256 2.1), sent date (RFC 5322 3.3), first address
 * (RFC 5256 3, RFC 5957 for the display form) and message-ids.
 *
 * Runs in the imapd worker on message headers (untrusted).  Pure: no
 * I/O, memory only through the output buffers and imap_addr_parse();
 * malformed input gives what can be read of it, never an error.  Each
 * function is linear in its input, which is cut first (SUBJ_IN_MAX,
 * ADDR_IN_MAX) so a 1 MB header costs no more than a normal one.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "imap_decode.h"
#include "imap_mime.h"
#include "imap_sortkey.h"

#define SUBJ_IN_MAX	4096	/* bytes of a Subject value looked at */
#define ADDR_IN_MAX	8192	/* bytes of an address header parsed */

void
sortkey_upper(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 32);
}

/*
 * Latin-1 letters U+00C0-U+00DE as RFC 5051's i;unicode-casemap sees
 * them (title case, then decomposed): base letter and the low byte of
 * the combining mark U+03xx; 0 where there is no decomposition.
 */
static const char latin_base[] = "AAAAAA\0CEEEEIIII\0NOOOOO\0\0UUUUY\0";
static const unsigned char latin_mark[31] = {
	0x00, 0x01, 0x02, 0x03, 0x08, 0x0a, 0, 0x27, 0x00, 0x01, 0x02, 0x08,
	0x00, 0x01, 0x02, 0x08, 0, 0x03, 0x00, 0x01, 0x02, 0x03, 0x08, 0, 0,
	0x00, 0x01, 0x02, 0x08, 0x01, 0 };

/* put_key - p as compared: ASCII upper-cased, Latin-1 letters title-cased
 * and decomposed, at most SORTKEY_MAX bytes, onto out */
static void
put_key(struct buf *out, const char *p, size_t n)
{
	unsigned char c, k[SORTKEY_MAX + 2];
	size_t i, o = 0;
	unsigned code;

	for (i = 0; i < n && o < SORTKEY_MAX; i++) {
		c = (unsigned char)p[i];
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 32);
		if (c != 0xc3 || i + 1 >= n || (unsigned char)p[i + 1] < 0x80 ||
		    (unsigned char)p[i + 1] > 0xbf) {
			k[o++] = c;
			continue;
		}
		code = 0xc0 + ((unsigned char)p[++i] - 0x80);
		if (code >= 0xe0 && code != 0xf7 && code != 0xff)
			code -= 0x20;		/* title case */
		if (code == 0xff)
			code = 0xdd + 0x100;	/* y diaeresis: Y + U+0308 */
		if (code == 0x1dd) {
			k[o++] = 'Y';
			k[o++] = 0xcc;
			k[o++] = 0x88;
		} else if (code <= 0xde && latin_base[code - 0xc0]) {
			k[o++] = (unsigned char)latin_base[code - 0xc0];
			k[o++] = 0xcc;
			k[o++] = (unsigned char)(0x80 | latin_mark[code - 0xc0]);
		} else {
			k[o++] = 0xc3;
			k[o++] = (unsigned char)(0x80 + (code - 0xc0));
		}
	}
	if (o > SORTKEY_MAX)
		o = SORTKEY_MAX;
	(void)buf_append(out, k, o);
}

/* ---- base subject (RFC 5256 2.1) ---- */

/* blob_len - subj-blob = "[" *BLOBCHAR "]" *WSP at p, or 0 */
static size_t
blob_len(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || p[0] != '[')
		return 0;
	for (i = 1; i < n && p[i] != '[' && p[i] != ']'; i++)
		;
	if (i >= n || p[i] != ']')
		return 0;
	for (i++; i < n && p[i] == ' '; i++)
		;
	return i;
}

/* refwd_len - subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static size_t
refwd_len(const char *p, size_t n)
{
	size_t i;

	if (n < 3)
		return 0;
	if (strncasecmp(p, "re", 2) == 0)
		i = 2;
	else if (strncasecmp(p, "fw", 2) == 0)
		i = (p[2] == 'd' || p[2] == 'D') ? 3 : 2;
	else
		return 0;
	while (i < n && p[i] == ' ')
		i++;
	i += blob_len(p + i, n - i);
	return i < n && p[i] == ':' ? i + 1 : 0;
}

/* leader_len - subj-leader = (*subj-blob subj-refwd) / WSP, or 0 */
static size_t
leader_len(const char *p, size_t n)
{
	size_t i = 0, b, r;

	if (n > 0 && p[0] == ' ')
		return 1;
	while ((b = blob_len(p + i, n - i)) > 0)
		i += b;
	r = refwd_len(p + i, n - i);
	return r ? i + r : 0;
}

/* normalize - step 1: words decoded, tabs and line breaks made spaces,
 * runs of spaces made one */
static void
normalize(const char *s, size_t len, struct buf *t)
{
	char *p;
	size_t i, j;
	bool sp = false;

	if (len > SUBJ_IN_MAX)
		len = SUBJ_IN_MAX;
	decode_header(s, len, t);
	p = buf_head(t);
	for (i = 0, j = 0; p && i < t->len; i++) {
		if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
		    p[i] == '\n') {
			if (!sp)
				p[j++] = ' ';
			sp = true;
			continue;
		}
		sp = false;
		p[j++] = p[i];
	}
	t->len = j;
}

bool
sortkey_subject(const char *s, size_t len, struct buf *out)
{
	struct buf t;
	const char *p;
	size_t a = 0, e, l, b;
	bool reply = false, changed;

	buf_init(&t, 0);
	normalize(s, len, &t);
	p = buf_head(&t) ? buf_head(&t) : "";
	e = t.len;
	for (;;) {
		/* (2) trailers: "(fwd)" and white space */
		for (;;) {
			if (e > a && p[e - 1] == ' ')
				e--;
			else if (e - a >= 5 && strncasecmp(p + e - 5, "(fwd)",
			    5) == 0) {
				e -= 5;
				reply = true;
			} else
				break;
		}
		/* (3)-(5) leaders, and a leading blob if text remains */
		do {
			changed = false;
			while ((l = leader_len(p + a, e - a)) > 0) {
				if (p[a] != ' ')
					reply = true;
				a += l;
				changed = true;
			}
			while ((b = blob_len(p + a, e - a)) > 0 && a + b < e) {
				a += b;
				changed = true;
			}
		} while (changed);
		/* (6) "[fwd:" ... "]" around it all: again from (2) */
		if (e - a >= 6 && strncasecmp(p + a, "[fwd:", 5) == 0 &&
		    p[e - 1] == ']') {
			a += 5;
			e--;
			reply = true;
			continue;
		}
		break;
	}
	put_key(out, p + a, e - a);
	buf_free(&t);
	return reply;
}

/* ---- dates (RFC 5322 3.3, 4.3) ---- */

static const char *months[] = { "jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec" };

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct dtok {
	const char	*p;
	size_t		 n;
};

/* date_tokens - words of s split at white space and commas, comments
 * dropped; at most max */
static size_t
date_tokens(const char *s, size_t len, struct dtok *v, size_t max)
{
	size_t i = 0, k = 0, st;
	int depth;

	while (i < len && k < max) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == ',' ||
		    s[i] == '\r' || s[i] == '\n') {
			i++;
			continue;
		}
		if (s[i] == '(') {
			for (depth = 0; i < len; i++) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
			continue;
		}
		for (st = i; i < len && s[i] != ' ' && s[i] != '\t' &&
		    s[i] != ',' && s[i] != '(' && s[i] != '\r' && s[i] != '\n';
		    i++)
			;
		v[k].p = s + st;
		v[k++].n = i - st;
	}
	return k;
}

/* num - the digits of t (all of them, at most 4) or -1 */
static int
num(const char *p, size_t n)
{
	int v = 0;
	size_t i;

	if (n == 0 || n > 4)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* zone_minutes - "+hhmm", "-hhmm" or an obsolete name (RFC 5322 4.3;
 * military letters and unknown names are +0000) */
static int
zone_minutes(const struct dtok *z)
{
	static const struct {
		const char *name;
		int off;
	} names[] = { { "EDT", -4 }, { "EST", -5 }, { "CDT", -5 },
	    { "CST", -6 }, { "MDT", -6 }, { "MST", -7 }, { "PDT", -7 },
	    { "PST", -8 } };
	size_t i;
	int v;

	if (z == NULL)
		return 0;
	if (z->n == 5 && (z->p[0] == '+' || z->p[0] == '-') &&
	    (v = num(z->p + 1, 4)) >= 0 && v % 100 < 60)
		return (z->p[0] == '-' ? -1 : 1) * (v / 100 * 60 + v % 100);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (z->n == 3 && strncasecmp(z->p, names[i].name, 3) == 0)
			return names[i].off * 60;
	return 0;
}

bool
sortkey_date(const char *s, size_t len, int64_t *t_r)
{
	struct dtok v[8];
	const struct dtok *d;
	size_t n, k = 0;
	int day, mon, year, hh, mm, ss = 0, f[3], nf;
	const char *p, *e;

	n = date_tokens(s, len, v, 8);
	if (n > 0 && isalpha((unsigned char)v[0].p[0]))
		k = 1;		/* day of week */
	if (n < k + 4)
		return false;
	d = &v[k];
	if ((day = num(d[0].p, d[0].n)) < 1 || day > 31 || d[1].n < 3)
		return false;
	for (mon = 0; mon < 12; mon++)
		if (strncasecmp(d[1].p, months[mon], 3) == 0)
			break;
	if (mon == 12 || (year = num(d[2].p, d[2].n)) < 0)
		return false;
	if (d[2].n <= 2)
		year += year < 50 ? 2000 : 1900;
	else if (d[2].n == 3)
		year += 1900;
	/* hh:mm[:ss] */
	for (p = d[3].p, e = p + d[3].n, nf = 0; nf < 3 && p < e; nf++) {
		const char *c = memchr(p, ':', (size_t)(e - p));
		size_t fl = c ? (size_t)(c - p) : (size_t)(e - p);

		if (fl < 1 || fl > 2 || (f[nf] = num(p, fl)) < 0)
			return false;
		p += fl + (c != NULL);
	}
	if (nf < 2 || p < e)
		return false;
	hh = f[0];
	mm = f[1];
	if (nf == 3)
		ss = f[2];
	if (hh > 23 || mm > 59 || ss > 60)
		return false;
	*t_r = days_from_civil(year, mon + 1, day) * 86400 + hh * 3600 +
	    mm * 60 + ss - (int64_t)zone_minutes(n > k + 4 ? &d[4] : NULL) * 60;
	return true;
}

/* ---- addresses ---- */

void
sortkey_addr(const char *s, size_t len, bool display, struct buf *out)
{
	struct imap_addrs a;
	const struct imap_addr *f;
	struct buf t;

	if (len > ADDR_IN_MAX)
		len = ADDR_IN_MAX;
	imap_addr_parse(s, len, &a);
	if (a.n == 0)
		goto done;
	f = &a.v[0];
	buf_init(&t, 0);
	if (f->group || !display) {
		if (f->mailbox)
			buf_puts(&t, f->mailbox);
	} else if (f->name && *f->name) {
		decode_header(f->name, strlen(f->name), &t);
	} else {
		if (f->mailbox)
			buf_puts(&t, f->mailbox);
		if (f->host && *f->host)
			buf_printf(&t, "@%s", f->host);
	}
	if (t.len)
		put_key(out, buf_head(&t), t.len);
	buf_free(&t);
done:
	imap_addr_free(&a);
}

/* ---- message-ids ---- */

/* skip_comment - past the comment opened at s[i] */
static size_t
skip_comment(const char *s, size_t len, size_t i)
{
	int depth = 0;

	for (; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return len;
}

bool
sortkey_msgid_next(const char *s, size_t len, size_t *pos, struct buf *out)
{
	size_t i = *pos, st;

	while (i < len) {
		if (s[i] == '(') {
			i = skip_comment(s, len, i);
			continue;
		}
		if (s[i++] != '<')
			continue;
		buf_reset(out);
		for (st = i; i < len && s[i] != '>' && s[i] != '<'; i++)
			if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
			    s[i] != '\n' && i - st < SORTKEY_MSGID_MAX + 1)
				(void)buf_append(out, s + i, 1);
		if (i >= len || s[i] == '<')
			continue;	/* unterminated: look on from here */
		i++;
		if (out->len == 0 || out->len > SORTKEY_MSGID_MAX)
			continue;
		*pos = i;
		return true;
	}
	*pos = len;
	return false;
}
