/* SPDX-License-Identifier: ISC */
/*
 * imap_binary.c - FETCH BINARY[section]<partial> and BINARY.SIZE[section]
 * (RFC 3516 4): a leaf part's Content-Transfer-Encoding undone, so a
 * client gets the attachment's bytes without decoding base64 itself.
 *
 * Runs in the imapd worker on stored messages (untrusted).  No I/O: fed
 * the parsed message, fuzzed through fuzz_mime.  base64 skips what is
 * not base64 (RFC 2045 6.8); quoted-printable (RFC 2045 6.7) drops
 * trailing white space, joins soft line breaks, keeps a malformed "="
 * as it is and makes every hard line break CRLF.  A part in 7bit, 8bit,
 * binary (or none), a multipart, a message/rfc822 part and the whole
 * message are sent as BODY[section] would send them.  An encoding
 * other than those is refused (UNKNOWN-CTE, RFC 3516 4.3).  Decoded
 * content is built in memory: at most the part's size (base64 shrinks,
 * quoted-printable never grows but for CRLF on bare LF lines).
 */
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "imap_mime.h"
#include "strnum.h"

enum cte {
	CTE_IDENTITY,
	CTE_BASE64,
	CTE_QP,
	CTE_UNKNOWN,
};

static enum cte
part_cte(const struct mime_msg *m, const struct imap_section *s,
    const struct mime_part **p_r)
{
	const struct mime_part *p = mime_section_part(m, s);
	char charset[64], cte[64];

	*p_r = p;
	if (p == NULL || s->npart == 0 || p->multipart || p->message)
		return CTE_IDENTITY;
	mime_part_coding(m, p, charset, sizeof(charset), cte, sizeof(cte));
	if (cte[0] == '\0' || strcasecmp(cte, "7bit") == 0 ||
	    strcasecmp(cte, "8bit") == 0 || strcasecmp(cte, "binary") == 0)
		return CTE_IDENTITY;
	if (strcasecmp(cte, "base64") == 0)
		return CTE_BASE64;
	if (strcasecmp(cte, "quoted-printable") == 0)
		return CTE_QP;
	return CTE_UNKNOWN;
}

/* qp_line - one line's text (no line break) decoded onto out; true when
 * it ends in a soft line break */
static bool
qp_line(const char *p, size_t n, struct buf *out)
{
	size_t i, st;
	bool soft;
	int h, l;
	char c;

	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if ((soft = n > 0 && p[n - 1] == '=') == true)
		n--;
	for (i = 0, st = 0; i < n; i++) {
		if (p[i] != '=' || i + 2 >= n ||
		    (h = hex_digit((unsigned char)p[i + 1])) < 0 ||
		    (l = hex_digit((unsigned char)p[i + 2])) < 0)
			continue;
		(void)buf_append(out, p + st, i - st);
		c = (char)(h << 4 | l);
		(void)buf_append(out, &c, 1);
		i += 2;
		st = i + 1;
	}
	(void)buf_append(out, p + st, n - st);
	return soft;
}

static void
qp_decode(const char *d, size_t off, size_t end, struct buf *out)
{
	const char *nl;
	size_t e, n;

	while (off < end) {
		nl = memchr(d + off, '\n', end - off);
		e = nl ? (size_t)(nl - d) : end;
		n = e - off;
		if (n > 0 && d[off + n - 1] == '\r')
			n--;
		if (!qp_line(d + off, n, out) && nl != NULL)
			(void)buf_append(out, "\r\n", 2);
		off = nl ? e + 1 : end;
	}
}

bool
mime_binary(const struct mime_msg *m, const struct imap_section *s,
    struct buf *out)
{
	const struct mime_part *p;
	struct imap_section whole;
	size_t n;

	switch (part_cte(m, s, &p)) {
	case CTE_UNKNOWN:
		return false;
	case CTE_IDENTITY:
		whole = *s;
		whole.partial = false;
		whole.binary = IMAP_BIN_NONE;
		(void)mime_section(m, &whole, out);
		return true;
	case CTE_BASE64:
		n = p->body_end - p->body_off;
		if (buf_reserve(out, n / 4 * 3 + 4) == -1)
			return true;
		buf_commit(out, base64_decode_lenient(m->data + p->body_off, n,
		    buf_tail(out)));
		return true;
	case CTE_QP:
		qp_decode(m->data, p->body_off, p->body_end, out);
		return true;
	}
	return true;
}

bool
mime_binary_identity(const struct mime_msg *m, const struct imap_section *s)
{
	const struct mime_part *p;

	return part_cte(m, s, &p) == CTE_IDENTITY;
}

bool
mime_binary_item(const struct mime_msg *m, const struct imap_section *s,
    struct buf *out)
{
	struct buf dec;
	size_t skip = 0, n;
	bool ok;

	buf_init(&dec, 0);
	if (!(ok = mime_binary(m, s, &dec)))
		buf_printf(out, "%s NIL", s->name);
	else if (s->binary == IMAP_BIN_SIZE)
		buf_printf(out, "%s %zu", s->name, dec.len);
	else {
		n = dec.len;
		if (s->partial) {
			skip = s->off < dec.len ? s->off : dec.len;
			n = dec.len - skip < s->cnt ? dec.len - skip : s->cnt;
		}
		/* literal8 (RFC 3516 4.2) when a NUL makes a literal invalid */
		buf_printf(out, "%s %s{%zu}\r\n", s->name, n && memchr(
		    buf_head(&dec) + skip, '\0', n) ? "~" : "", n);
		if (n)
			(void)buf_append(out, buf_head(&dec) + skip, n);
	}
	buf_free(&dec);
	return ok;
}

/* ---- APPEND of literal8 ---- */

/* put_base64 - data as base64 in lines of 76 (RFC 2045 6.8) */
static void
put_base64(struct buf *out, const unsigned char *d, size_t n)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	size_t i, col = 0;
	unsigned v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned)d[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		q[0] = al[v >> 18 & 63];
		q[1] = al[v >> 12 & 63];
		q[2] = i + 1 < n ? al[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? al[v & 63] : '=';
		if (col == 76) {
			(void)buf_append(out, "\r\n", 2);
			col = 0;
		}
		(void)buf_append(out, q, 4);
		col += 4;
	}
}

/* needs_base64 - part p's body would not survive the store as it is */
static bool
needs_base64(const struct mime_msg *m, const struct mime_part *p)
{
	char charset[64], cte[64];

	mime_part_coding(m, p, charset, sizeof(charset), cte, sizeof(cte));
	if (strcasecmp(cte, "base64") == 0 ||
	    strcasecmp(cte, "quoted-printable") == 0)
		return false;
	return strcasecmp(cte, "binary") == 0 || memchr(m->data + p->body_off,
	    '\0', p->body_end - p->body_off) != NULL;
}

/* encode_part - the leaves under p that need it, as base64 */
static void
encode_part(const struct mime_msg *m, const struct mime_part *p, size_t *cur,
    struct buf *out, unsigned depth)
{
	const struct mime_part *k;
	const char *d = m->data, *nl;
	size_t off, e;
	bool skip = false;

	if (depth > MIME_MAX_DEPTH)
		return;
	if (p->multipart) {
		for (k = p->child; k; k = k->next)
			encode_part(m, k, cur, out, depth + 1);
		return;
	}
	if (p->message) {
		if (p->child)
			encode_part(m, p->child, cur, out, depth + 1);
		return;
	}
	if (p->hdr_off < *cur || !needs_base64(m, p))
		return;
	(void)buf_append(out, d + *cur, p->hdr_off - *cur);
	/* its header without Content-Transfer-Encoding, then ours */
	for (off = p->hdr_off; off < p->body_off; off = e) {
		nl = memchr(d + off, '\n', p->body_off - off);
		e = nl ? (size_t)(nl - d) + 1 : p->body_off;
		if (d[off] == '\n' || (d[off] == '\r' && e - off <= 2))
			break;		/* the blank line */
		if (d[off] != ' ' && d[off] != '\t')
			skip = e - off >= 26 && strncasecmp(d + off,
			    "Content-Transfer-Encoding:", 26) == 0;
		if (!skip)
			(void)buf_append(out, d + off, e - off);
	}
	buf_puts(out, "Content-Transfer-Encoding: base64\r\n\r\n");
	put_base64(out, (const unsigned char *)d + p->body_off,
	    p->body_end - p->body_off);
	*cur = p->body_end;
}

bool
mime_binary_encode(const char *data, size_t len, struct buf *out)
{
	struct mime_msg *m = mime_parse(data, len);
	size_t cur = 0;

	encode_part(m, m->root, &cur, out, 0);
	mime_free(&m);
	if (cur == 0)
		return false;	/* nothing to change */
	(void)buf_append(out, data + cur, len - cur);
	return true;
}
