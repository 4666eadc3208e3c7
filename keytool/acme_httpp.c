/* SPDX-License-Identifier: ISC */
/*
 * acme_httpp.c - the HTTP/1.1 response parser of the ACME client (RFC
 * 9112): status line, header fields (the few ACME needs are kept:
 * Location, Replay-Nonce, Content-Type, Retry-After), and the body by
 * Content-Length, chunked transfer coding or up to the end (the request
 * said Connection: close).  Bounded: lines of 8 KiB, 100 fields, a body
 * of ACME_BODY_MAX.  Also the request line a CA sends to the HTTP-01
 * listener (acme_chal_answer).  No I/O; the input is untrusted
 * (fuzz_acme).  Errors are a fixed text.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keytool/acme.h"

#define LINE_MAX_HTTP	8192
#define FIELDS_MAX	100
#define CHAL_PREFIX	"/.well-known/acme-challenge/"

struct rd {
	const char	*p;
	size_t		 len, pos;
};

/* rd_line - the next line without CRLF (or bare LF); false at the end */
static bool
rd_line(struct rd *r, const char **line_r, size_t *len_r)
{
	const char *nl;
	size_t n;

	if (r->pos >= r->len)
		return false;
	nl = memchr(r->p + r->pos, '\n', r->len - r->pos);
	if (nl == NULL)
		return false;
	n = (size_t)(nl - (r->p + r->pos));
	*line_r = r->p + r->pos;
	r->pos += n + 1;
	if (n > 0 && (*line_r)[n - 1] == '\r')
		n--;
	*len_r = n;
	return n <= LINE_MAX_HTTP;
}

/* copy_value - a field value (printable, no spaces inside) into out */
static bool
copy_value(const char *v, size_t n, char *out, size_t outsz)
{
	size_t i;

	if (n == 0 || n >= outsz)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
			return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

/* num - decimal or (hex) digits of s[0..n) into *v, bounded by max */
static bool
num(const char *s, size_t n, int base, size_t max, size_t *v)
{
	size_t i, d;

	*v = 0;
	if (n == 0 || n > 16)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = (size_t)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (size_t)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (size_t)(c - 'A' + 10);
		else
			return false;
		*v = *v * (size_t)base + d;
		if (*v > max)
			return false;
	}
	return true;
}

struct fields {
	bool	 chunked;
	bool	 has_len;
	size_t	 clen;
};

/* field - one header field line; false on a malformed line we need */
static bool
field(struct http_resp *r, struct fields *f, const char *l, size_t n)
{
	const char *colon = memchr(l, ':', n), *v, *end = l + n;
	size_t namelen, vlen, ra;

	if (colon == NULL || colon == l)
		return false;
	namelen = (size_t)(colon - l);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t)(end - v);
#define IS(name) (namelen == sizeof(name) - 1 && \
	strncasecmp(l, name, namelen) == 0)
	if (IS("Location"))
		return copy_value(v, vlen, r->location, sizeof(r->location));
	if (IS("Replay-Nonce"))
		return copy_value(v, vlen, r->nonce, sizeof(r->nonce));
	if (IS("Content-Type")) {
		if (vlen >= sizeof(r->ctype))
			vlen = sizeof(r->ctype) - 1;
		memcpy(r->ctype, v, vlen);
		r->ctype[vlen] = '\0';
		return true;
	}
	if (IS("Retry-After")) {
		/* an HTTP date instead of seconds: ignored */
		if (num(v, vlen, 10, 3600, &ra))
			r->retry_after = (unsigned)ra;
		return true;
	}
	if (IS("Content-Length")) {
		if (f->has_len || !num(v, vlen, 10, ACME_RESP_MAX, &f->clen))
			return false;
		f->has_len = true;
		return true;
	}
	if (IS("Transfer-Encoding")) {
		if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			return false;	/* no other coding was asked for */
		f->chunked = true;
		return true;
	}
#undef IS
	return true;
}

/* dechunk - the chunked body from r into out (at most max bytes) */
static bool
dechunk(struct rd *r, char *out, size_t max, size_t *len_r)
{
	const char *l, *semi;
	size_t n, size, o = 0;

	for (;;) {
		if (!rd_line(r, &l, &n))
			return false;
		if ((semi = memchr(l, ';', n)) != NULL)	/* extensions */
			n = (size_t)(semi - l);
		while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (!num(l, n, 16, ACME_BODY_MAX, &size))
			return false;
		if (size == 0)
			break;
		if (size > max - o || size > r->len - r->pos)
			return false;
		memcpy(out + o, r->p + r->pos, size);
		o += size;
		r->pos += size;
		/* CRLF after the data */
		if (!rd_line(r, &l, &n) || n != 0)
			return false;
	}
	/* trailer fields up to the empty line, if the server sent them */
	while (rd_line(r, &l, &n) && n != 0)
		;
	*len_r = o;
	return true;
}

int
http_parse(const char *buf, size_t len, bool head, struct http_resp *r,
    const char **err_r)
{
	struct rd rd = { buf, len, 0 };
	struct fields f = { false, false, 0 };
	const char *l;
	size_t n, status, nfields = 0, blen;

	memset(r, 0, sizeof(*r));
	if (!rd_line(&rd, &l, &n) || n < 12 || memcmp(l, "HTTP/1.", 7) != 0 ||
	    (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    !num(l + 9, 3, 10, 999, &status) || (n > 12 && l[12] != ' ') ||
	    status < 100) {
		*err_r = "not an HTTP/1.x status line";
		return -1;
	}
	r->status = (int)status;
	for (;;) {
		if (!rd_line(&rd, &l, &n)) {
			*err_r = "header fields cut short or too long";
			return -1;
		}
		if (n == 0)
			break;
		if (++nfields > FIELDS_MAX || !field(r, &f, l, n)) {
			*err_r = "malformed header field";
			return -1;
		}
	}
	if (head || status == 204 || status == 304)
		blen = 0;
	else if (f.chunked || !f.has_len)
		blen = len - rd.pos;	/* an upper bound */
	else
		blen = f.clen;
	if (blen > ACME_BODY_MAX) {
		*err_r = "response body too big";
		return -1;
	}
	if ((r->body = malloc(blen + 1)) == NULL) {
		*err_r = "out of memory";
		return -1;
	}
	if (head || status == 204 || status == 304)
		r->bodylen = 0;
	else if (f.chunked) {
		if (!dechunk(&rd, r->body, blen, &r->bodylen)) {
			http_resp_free(r);
			*err_r = "malformed chunked body";
			return -1;
		}
	} else {
		if (len - rd.pos < blen) {
			http_resp_free(r);
			*err_r = "response body cut short";
			return -1;
		}
		memcpy(r->body, buf + rd.pos, blen);
		r->bodylen = blen;
	}
	r->body[r->bodylen] = '\0';
	return 0;
}

void
http_resp_free(struct http_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->bodylen = 0;
}

/* acme_chal_answer - the request line of a CA fetching a challenge */
const char *
acme_chal_answer(const struct acme_chal *ch, const char *req, size_t len)
{
	const char *p, *end = req + len, *sp;
	size_t i, n, plen = strlen(CHAL_PREFIX);

	if (len > 4 && memcmp(req, "GET ", 4) == 0)
		p = req + 4;
	else if (len > 5 && memcmp(req, "HEAD ", 5) == 0)
		p = req + 5;
	else
		return NULL;
	if ((size_t)(end - p) < plen || memcmp(p, CHAL_PREFIX, plen) != 0)
		return NULL;
	p += plen;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
		return NULL;
	n = (size_t)(sp - p);
	for (i = 0; i < ch->n; i++)
		if (strlen(ch->token[i]) == n && memcmp(ch->token[i], p, n) == 0)
			return ch->keyauth[i];
	return NULL;
}
