/* SPDX-License-Identifier: ISC */
/*
 * dkim.c - DKIM canonicalization (simple and relaxed, RFC 6376 3.4), the
 * header block of a streamed message, body and header hashing, and the
 * DKIM-Signature header text of the signer (RFC 6376, RFC 8301, RFC 8463).
 *
 * Runs inside smtpd (as `user`, network-facing) and in test tools.  It
 * never sees a private key and does no I/O: it hashes, and leaves signing
 * the digest to authd.  The header block of a message is kept in a bounded
 * buffer (struct dkim_hdrs); the body is canonicalized and hashed as it
 * streams through (struct dkim_body).  Both are shared with the verifier,
 * lib/dkim_verify.c.  Errors are -1 with a static reason in s->err (see
 * dkim.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dkim.h"

/* header fields we sign when present (From always, see dkim.h) */
static const char *const dkim_sign_names[] = {
	"From", "Subject", "Date", "To", "Cc", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "In-Reply-To", "References",
};
#define NSIGN	(sizeof(dkim_sign_names) / sizeof(dkim_sign_names[0]))

#define FOLD_AT	76	/* fold generated header lines before this column */

struct dkim_sign {
	struct dkim_hdrs h;		/* raw header block and its fields */
	EVP_MD_CTX	*bodyctx;
	struct dkim_body body;
	bool		 ended;
	bool		 nofrom;	/* ended, only fault: no From field */
	unsigned char	 bh[DKIM_DIGEST_LEN];
	const char	*err;
};

static inline bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* --- body canonicalization (RFC 6376 3.4.3 simple, 3.4.4 relaxed) --- */

static void
body_flush(struct dkim_body *b)
{
	if (b->fill) {
		b->sink(b->arg, b->out, b->fill);
		b->total += b->fill;
		b->fill = 0;
	}
}

static inline void
body_put(struct dkim_body *b, char c)
{
	if (b->fill == sizeof(b->out))
		body_flush(b);
	b->out[b->fill++] = c;
}

/* body_char - a byte that is neither WSP nor a line end */
static inline void
body_char(struct dkim_body *b, char c)
{
	for (; b->blank > 0; b->blank--) {	/* empty lines that were not last */
		body_put(b, '\r');
		body_put(b, '\n');
	}
	if (b->wsp) {		/* a WSP run inside a line is one SP */
		body_put(b, ' ');
		b->linelen++;
		b->wsp = false;
	}
	body_put(b, c);
	b->linelen++;
}

static inline void
body_eol(struct dkim_body *b)
{
	b->wsp = false;		/* WSP at the end of a line goes */
	if (b->linelen == 0) {
		b->blank++;	/* held back: empty lines at the end go */
		return;
	}
	body_put(b, '\r');
	body_put(b, '\n');
	b->linelen = 0;
}

void
dkim_body_init(struct dkim_body *b, dkim_sink *sink, void *arg)
{
	dkim_body_init_canon(b, DKIM_CANON_RELAXED, sink, arg);
}

void
dkim_body_init_canon(struct dkim_body *b, enum dkim_canon canon,
    dkim_sink *sink, void *arg)
{
	memset(b, 0, offsetof(struct dkim_body, out));
	b->sink = sink;
	b->arg = arg;
	b->simple = canon == DKIM_CANON_SIMPLE;
}

void
dkim_body_feed(struct dkim_body *b, const char *p, size_t n)
{
	size_t i;
	char c;

	for (i = 0; i < n; i++) {
		c = p[i];
		if (b->cr) {
			b->cr = false;
			if (c == '\n') {
				body_eol(b);
				continue;
			}
			body_char(b, '\r');	/* a lone CR is data */
		}
		if (c == '\r')
			b->cr = true;
		else if (c == '\n')
			body_eol(b);
		else if (is_wsp(c) && !b->simple)
			b->wsp = true;
		else
			body_char(b, c);
	}
}

/*
 * dkim_body_end - a last line without a line end gets one; a body that is
 * empty after canonicalization stays empty in relaxed (RFC 6376 3.4.4,
 * errata 1384) and is one CRLF in simple (3.4.3).
 */
void
dkim_body_end(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = false;
		body_char(b, '\r');
	}
	b->wsp = false;
	if (b->linelen > 0) {
		body_put(b, '\r');
		body_put(b, '\n');
		b->linelen = 0;
	}
	b->blank = 0;
	if (b->simple && b->total == 0 && b->fill == 0) {
		body_put(b, '\r');
		body_put(b, '\n');
	}
	body_flush(b);
}

/* --- header canonicalization (RFC 6376 3.4.1 simple, 3.4.2 relaxed) --- */

static size_t
field_namelen(const char *p, size_t n, bool *colon_r)
{
	const char *c;
	size_t len;

	c = memchr(p, ':', n);
	*colon_r = c != NULL;
	if (c == NULL)
		return 0;
	len = (size_t)(c - p);
	while (len > 0 && is_wsp(p[len - 1]))
		len--;
	return len;
}

int
dkim_canon_header(struct buf *out, const char *p, size_t n)
{
	size_t namelen, i, start;
	bool colon, wsp;
	char c;

	namelen = field_namelen(p, n, &colon);
	if (!colon)
		return -1;
	if (buf_reserve(out, n + 1) == -1)	/* never grows: n bounds it */
		return -1;
	start = out->len;
	for (i = 0; i < namelen; i++) {
		c = (char)tolower((unsigned char)p[i]);
		buf_tail(out)[0] = c;
		buf_commit(out, 1);
	}
	buf_tail(out)[0] = ':';
	buf_commit(out, 1);
	i = (size_t)((const char *)memchr(p, ':', n) - p) + 1;
	wsp = false;
	for (; i < n; i++) {
		c = p[i];
		/* unfold: drop line breaks (CRLF or LF), keep the WSP after them */
		if (c == '\n' || (c == '\r' && i + 1 < n && p[i + 1] == '\n'))
			continue;
		if (is_wsp(c)) {
			wsp = true;
			continue;
		}
		if (wsp && out->len > start + namelen + 1) {
			buf_tail(out)[0] = ' ';
			buf_commit(out, 1);
		}
		wsp = false;
		buf_tail(out)[0] = c;
		buf_commit(out, 1);
	}
	return 0;
}

/*
 * canon_header_simple - the field unchanged but for line ends: a LF
 * without a CR before it becomes CRLF (the queue stores LF)
 */
static int
canon_header_simple(struct buf *out, const char *p, size_t n)
{
	size_t i;

	if (memchr(p, ':', n) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r') &&
		    buf_append(out, "\r", 1) == -1)
			return -1;
		if (buf_append(out, p + i, 1) == -1)
			return -1;
	}
	return 0;
}

int
dkim_canon_field(struct buf *out, enum dkim_canon canon, const char *p,
    size_t n)
{
	if (canon == DKIM_CANON_SIMPLE)
		return canon_header_simple(out, p, n);
	return dkim_canon_header(out, p, n);
}

/* --- the header block of a message --- */

void
dkim_hdrs_init(struct dkim_hdrs *h, size_t max)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->hdr, max ? max : DKIM_HEADER_MAX_DEFAULT);
}

void
dkim_hdrs_free(struct dkim_hdrs *h)
{
	buf_free(&h->hdr);
	free(h->fields);
	h->fields = NULL;
	h->nfields = 0;
}

/*
 * dkim_hdrs_feed - header bytes go to h->hdr until the first empty line
 * (which itself belongs to neither part); *p and *n are advanced past
 * what was taken, so what is left is body.
 */
int
dkim_hdrs_feed(struct dkim_hdrs *h, const char **pp, size_t *np)
{
	const char *p = *pp, *nl;
	size_t n = *np, take, linelen;
	int rc = 0;

	while (n > 0 && !h->in_body) {
		nl = memchr(p, '\n', n);
		take = nl ? (size_t)(nl - p) + 1 : n;
		if (buf_append(&h->hdr, p, take) == -1) {
			rc = -1;
			break;
		}
		p += take;
		n -= take;
		if (nl == NULL)
			break;
		linelen = h->hdr.len - h->line_start;
		if (linelen == 1 || (linelen == 2 && buf_head(&h->hdr)[h->line_start] == '\r')) {
			h->hdr.len = h->line_start;	/* drop the separator */
			h->in_body = true;
		} else
			h->line_start = h->hdr.len;
	}
	*pp = p;
	*np = n;
	return rc;
}

/* dkim_hdrs_split - index the header block; continuation lines start with WSP */
int
dkim_hdrs_split(struct dkim_hdrs *hs)
{
	const char *h = buf_head(&hs->hdr);
	size_t i, n = hs->hdr.len, start, end, max = 0;
	struct dkim_field *f, *nf;
	bool colon;

	for (i = 0; i < n; i++)
		if (h[i] == '\n')
			max++;
	max++;
	free(hs->fields);
	hs->nfields = 0;
	if ((hs->fields = calloc(max, sizeof(*hs->fields))) == NULL)
		return -1;
	f = NULL;
	for (start = 0; start < n; start = end + 1) {
		const char *nl = memchr(h + start, '\n', n - start);

		end = nl ? (size_t)(nl - h) : n;
		if (f != NULL && is_wsp(h[start])) {
			f->len = end - f->off;	/* continuation */
		} else {
			nf = &hs->fields[hs->nfields++];
			nf->off = start;
			nf->len = end - start;
			f = nf;
		}
		if (f->len > 0 && h[f->off + f->len - 1] == '\r')
			f->len--;
	}
	for (i = 0; i < hs->nfields; i++) {
		f = &hs->fields[i];
		f->namelen = field_namelen(h + f->off, f->len, &colon);
	}
	return 0;
}

bool
dkim_hdrs_is(const struct dkim_hdrs *h, const struct dkim_field *f,
    const char *name, size_t len)
{
	return f->namelen == len &&
	    strncasecmp(buf_head(&h->hdr) + f->off, name, len) == 0;
}

/* --- the signer --- */

static void
body_sink_sha(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

struct dkim_sign *
dkim_sign_new(size_t header_max)
{
	struct dkim_sign *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	dkim_hdrs_init(&s->h, header_max);
	if ((s->bodyctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(s->bodyctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(s->bodyctx);
		free(s);
		return NULL;
	}
	dkim_body_init(&s->body, body_sink_sha, s->bodyctx);
	return s;
}

void
dkim_sign_free(struct dkim_sign **sp)
{
	struct dkim_sign *s = *sp;

	if (s == NULL)
		return;
	dkim_hdrs_free(&s->h);
	EVP_MD_CTX_free(s->bodyctx);
	free(s);
	*sp = NULL;
}

const char *
dkim_sign_error(const struct dkim_sign *s)
{
	return s->err ? s->err : "no error";
}

/* dkim_sign_feed - the header block is kept, the body hashed */
int
dkim_sign_feed(struct dkim_sign *s, const void *vp, size_t n)
{
	const char *p = vp;

	if (s->ended) {
		s->err = "message already ended";
		return -1;
	}
	if (dkim_hdrs_feed(&s->h, &p, &n) == -1) {
		s->err = "header too large";
		return -1;
	}
	if (n > 0)
		dkim_body_feed(&s->body, p, n);
	return 0;
}

static bool
field_is(const struct dkim_hdrs *h, const struct dkim_field *f, const char *name)
{
	return dkim_hdrs_is(h, f, name, strlen(name));
}

int
dkim_sign_end(struct dkim_sign *s)
{
	size_t i, from = 0;

	if (s->ended)
		return 0;
	s->ended = true;
	dkim_body_end(&s->body);
	if (EVP_DigestFinal_ex(s->bodyctx, s->bh, NULL) != 1) {
		s->err = "body hash failed";
		return -1;
	}
	if (dkim_hdrs_split(&s->h) == -1) {
		s->err = "out of memory";
		return -1;
	}
	for (i = 0; i < s->h.nfields; i++)
		if (field_is(&s->h, &s->h.fields[i], "From"))
			from++;
	if (from == 0) {
		s->err = "no From header field";
		s->nofrom = true;
		return -1;
	}
	if (from > 1) {	/* a reader may be shown the one nobody checked */
		s->err = "more than one From header field (RFC 5322 3.6)";
		return -1;
	}
	return 0;
}

/*
 * addr_plain - step the quote and comment state of an address field over
 * v[*i] (skipping a quoted pair); true when v[*i] is outside quotes and
 * comments and is not one of their delimiters
 */
static bool
addr_plain(const char *v, size_t *i, int *depth, bool *quoted)
{
	char c = v[*i];

	if (*quoted) {
		if (c == '\\')
			(*i)++;
		else if (c == '"')
			*quoted = false;
		return false;
	}
	if (*depth > 0) {
		if (c == '\\')
			(*i)++;
		else if (c == '(')
			(*depth)++;
		else if (c == ')')
			(*depth)--;
		return false;
	}
	if (c == '"' || c == '(') {
		*quoted = c == '"';
		*depth += c == '(';
		return false;
	}
	return true;
}

/*
 * from_at - in the (first) From field, the '@' of its first mailbox: the
 * one inside <> when the mailbox has an angle-addr (an '@' in a display
 * name written without quotes, "alice@example.org <bob@evil.test>", is not
 * the address: RFC 5322 3.4; "<>" has none), else the first '@' outside
 * quotes and comments.  The field value in *v_r, *n_r.
 */
static const char *
from_at(const struct dkim_hdrs *h, const char **v_r, size_t *n_r)
{
	const struct dkim_field *f = NULL;
	const char *v, *bare = NULL, *angle = NULL;
	size_t i, n;
	int depth = 0;
	bool quoted = false, in_angle = false;

	for (i = 0; i < h->nfields && f == NULL; i++)
		if (field_is(h, &h->fields[i], "From"))
			f = &h->fields[i];
	if (f == NULL)
		return NULL;
	v = (const char *)memchr(buf_head(&h->hdr) + f->off, ':', f->len) + 1;
	n = f->len - (size_t)(v - (buf_head(&h->hdr) + f->off));
	*v_r = v;
	*n_r = n;
	for (i = 0; i < n; i++) {
		char c = v[i];

		if (!addr_plain(v, &i, &depth, &quoted))
			continue;
		if (c == '<' && !in_angle)
			in_angle = true;
		else if (c == '>' && in_angle)
			return angle;	/* NULL for "<>" */
		else if (c == '@') {
			if (in_angle && angle == NULL)
				angle = v + i;
			else if (!in_angle && bare == NULL)
				bare = v + i;
		} else if (c == ',' && !in_angle && bare != NULL)
			break;	/* the end of the first mailbox (a comma before
				   any address is taken as part of a name) */
	}
	return in_angle ? angle : bare;
}

size_t
dkim_from_mailboxes(const struct dkim_sign *s)
{
	return dkim_hdrs_from_mailboxes(&s->h);
}

bool
dkim_sign_has_field(const struct dkim_sign *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->h.nfields; i++)
		if (field_is(&s->h, &s->h.fields[i], name))
			return true;
	return false;
}

int
dkim_sign_add_field(struct dkim_sign *s, const char *field)
{
	struct buf nb;

	/* in front, where it will be delivered; the fields are indexed again */
	buf_init(&nb, 0);
	if (buf_printf(&nb, "%s\n", field) == -1 ||
	    buf_append(&nb, buf_head(&s->h.hdr), s->h.hdr.len) == -1) {
		buf_free(&nb);
		s->err = "out of memory";
		return -1;
	}
	nb.max = s->h.hdr.max;
	buf_free(&s->h.hdr);
	s->h.hdr = nb;
	if (dkim_hdrs_split(&s->h) == -1) {
		s->err = "out of memory";
		s->nofrom = false;
		return -1;
	}
	if (s->nofrom && dkim_sign_has_field(s, "From")) {
		s->nofrom = false;
		s->err = NULL;
	}
	return 0;
}

bool
dkim_sign_lacks_from(const struct dkim_sign *s)
{
	return s->nofrom;
}

size_t
dkim_hdrs_from_mailboxes(const struct dkim_hdrs *h)
{
	const char *v;
	size_t i, n, count = 0, nangle = 0;
	int depth = 0;
	bool quoted = false, in_angle = false, bare = false, angle = false;
	bool after = false;

	if (from_at(h, &v, &n) == NULL)
		return 0;
	/*
	 * per mailbox (split at commas outside quotes, comments and <>): each
	 * <...@...> is one address; without one, '@'s outside <> make one;
	 * an '@' after a <...@...> is one more, so
	 * "<alice@example.org>bob@example.org" counts two (issue 16 item 8:
	 * the From check saw alice, a mail reader may show bob).  An '@'
	 * before the <> is a (malformed) display name, the <> is checked.
	 */
	for (i = 0; i <= n; i++) {
		char c = i < n ? v[i] : ',';

		if (i < n && !addr_plain(v, &i, &depth, &quoted))
			continue;
		if (c == '<')
			in_angle = true;
		else if (c == '>') {
			in_angle = false;
			nangle += angle;
			angle = false;
		} else if (c == '@')
			*(in_angle ? &angle : nangle > 0 ? &after : &bare) = true;
		else if (c == ',' && !in_angle) {
			count += nangle > 0 ? nangle + after : bare;
			nangle = 0;
			angle = bare = after = false;
		}
	}
	return count;
}

/* from_domain_len - the domain's length after '@' at `at` */
static size_t
from_domain_len(const char *at, const char *end)
{
	size_t len = 0;

	while (at + 1 + len < end && (isalnum((unsigned char)at[1 + len]) ||
	    at[1 + len] == '.' || at[1 + len] == '-'))
		len++;
	return len;
}

bool
dkim_from_domain(const struct dkim_sign *s, char *out, size_t outsz)
{
	return dkim_hdrs_from_domain(&s->h, out, outsz);
}

bool
dkim_hdrs_from_domain(const struct dkim_hdrs *h, char *out, size_t outsz)
{
	const char *v, *at;
	size_t i, n, len;

	if ((at = from_at(h, &v, &n)) == NULL)
		return false;
	len = from_domain_len(at, v + n);
	if (len == 0 || len >= outsz)
		return false;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)at[1 + i]);
	out[len] = '\0';
	return true;
}

bool
dkim_from_address(const struct dkim_sign *s, char *out, size_t outsz)
{
	const char *v, *at, *start;
	size_t n, len;

	if ((at = from_at(&s->h, &v, &n)) == NULL)
		return false;
	for (start = at; start > v && strchr(" \t\r\n<>:,;\"", start[-1]) == NULL;
	    start--)
		;
	len = (size_t)(at - start) + 1 + from_domain_len(at, v + n);
	if (start == at || len >= outsz)
		return false;
	memcpy(out, start, len);
	out[len] = '\0';
	return true;
}

/* --- the DKIM-Signature header --- */

const char *
dkim_alg_name(enum dkim_alg alg)
{
	switch (alg) {
	case DKIM_RSA_SHA256:
		return "rsa-sha256";
	case DKIM_ED25519_SHA256:
		return "ed25519-sha256";
	}
	return NULL;
}

/* dkim_name_ok - letters, digits, '-', '_' in dot-separated labels */
bool
dkim_name_ok(const char *s)
{
	size_t i, label = 0;

	if (s[0] == '\0' || strlen(s) > 253)
		return false;
	for (i = 0; s[i]; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return label > 0;
}

/* fold_put - append token, folding before it if the line would get long */
static int
fold_put(struct buf *b, size_t *col, const char *tok, bool space)
{
	size_t n = strlen(tok);

	if (*col + (space ? 1 : 0) + n > FOLD_AT && *col > 8) {
		if (buf_puts(b, "\r\n\t") == -1)
			return -1;
		*col = 8;
	} else if (space) {
		if (buf_puts(b, " ") == -1)
			return -1;
		(*col)++;
	}
	if (buf_puts(b, tok) == -1)
		return -1;
	*col += n;
	return 0;
}

static int
build_template(struct dkim_sign *s, struct buf *t, const char *domain,
    const char *selector, enum dkim_alg alg, time_t when, struct buf *hashed)
{
	char tok[300], bh[64];
	size_t col, i, k, count;
	bool first = true;

	EVP_EncodeBlock((unsigned char *)bh, s->bh, DKIM_DIGEST_LEN);
	if (buf_puts(t, "DKIM-Signature: v=1;") == -1)
		return -1;
	col = t->len;
	snprintf(tok, sizeof(tok), "a=%s;", dkim_alg_name(alg));
	if (fold_put(t, &col, tok, true) == -1 ||
	    fold_put(t, &col, "c=relaxed/relaxed;", true) == -1)
		return -1;
	snprintf(tok, sizeof(tok), "d=%s;", domain);
	if (fold_put(t, &col, tok, true) == -1)
		return -1;
	snprintf(tok, sizeof(tok), "s=%s;", selector);
	if (fold_put(t, &col, tok, true) == -1)
		return -1;
	snprintf(tok, sizeof(tok), "t=%lld;", (long long)when);
	if (fold_put(t, &col, tok, true) == -1)
		return -1;
	/* h=: each present instance, bottom-up (RFC 6376 5.4.2); From once more */
	for (k = 0; k < NSIGN; k++) {
		count = 0;
		for (i = s->h.nfields; i-- > 0;) {
			const struct dkim_field *f = &s->h.fields[i];

			if (!field_is(&s->h, f, dkim_sign_names[k]))
				continue;
			count++;
			if (dkim_canon_header(hashed, buf_head(&s->h.hdr) + f->off,
			    f->len) == -1 || buf_puts(hashed, "\r\n") == -1)
				return -1;
		}
		if (k == 0)
			count++;
		for (; count > 0; count--) {
			snprintf(tok, sizeof(tok), "%s%s:", first ? "h=" : "",
			    dkim_sign_names[k]);
			if (fold_put(t, &col, tok, first) == -1)
				return -1;
			first = false;
		}
	}
	t->len--;	/* the last ':' becomes ';' */
	col--;
	if (buf_puts(t, ";") == -1)
		return -1;
	col++;
	snprintf(tok, sizeof(tok), "bh=%s;", bh);
	if (fold_put(t, &col, tok, true) == -1 ||
	    fold_put(t, &col, "b=", true) == -1)
		return -1;
	return 0;
}

int
dkim_header_digest(struct dkim_sign *s, const char *domain,
    const char *selector, enum dkim_alg alg, time_t when,
    unsigned char digest[DKIM_DIGEST_LEN], char **tmpl_r)
{
	struct buf t, hashed;
	int rc = -1;

	*tmpl_r = NULL;
	if (!s->ended || s->err != NULL) {
		s->err = s->err ? s->err : "message not ended";
		return -1;
	}
	if (dkim_alg_name(alg) == NULL) {
		s->err = "unknown algorithm";
		return -1;
	}
	if (!dkim_name_ok(domain) || !dkim_name_ok(selector)) {
		s->err = "bad domain or selector";
		return -1;
	}
	buf_init(&t, 0);
	buf_init(&hashed, 0);
	if (build_template(s, &t, domain, selector, alg, when, &hashed) == -1 ||
	    dkim_canon_header(&hashed, buf_head(&t), t.len) == -1) {
		s->err = "out of memory";
		goto done;
	}
	if (EVP_Digest(buf_head(&hashed), hashed.len, digest, NULL,
	    EVP_sha256(), NULL) != 1) {
		s->err = "header hash failed";
		goto done;
	}
	*tmpl_r = buf_head(&t);
	t.data = NULL;
	rc = 0;
done:
	buf_free(&t);
	buf_free(&hashed);
	return rc;
}

char *
dkim_finish(const char *tmpl, const unsigned char *sig, size_t siglen, bool crlf)
{
	struct buf out;
	char *b64, *res;
	const char *nl;
	size_t col, n, i, len;

	if ((b64 = malloc(4 * ((siglen + 2) / 3) + 1)) == NULL)
		return NULL;
	len = (size_t)EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	buf_init(&out, 0);
	for (i = 0; tmpl[i]; i++) {
		if (tmpl[i] == '\r' && tmpl[i + 1] == '\n' && !crlf)
			continue;
		if (buf_append(&out, &tmpl[i], 1) == -1)
			goto fail;
	}
	nl = strrchr(tmpl, '\n');
	col = nl ? strlen(nl + 1) + 7 : strlen(tmpl);	/* tab = 8 columns */
	for (i = 0; i < len; i += n) {
		n = col < FOLD_AT ? FOLD_AT - col : 0;
		if (n == 0) {
			if (buf_puts(&out, crlf ? "\r\n\t" : "\n\t") == -1)
				goto fail;
			col = 8;
			continue;
		}
		if (n > len - i)
			n = len - i;
		if (buf_append(&out, b64 + i, n) == -1)
			goto fail;
		col += n;
	}
	if (buf_puts(&out, crlf ? "\r\n" : "\n") == -1)
		goto fail;
	free(b64);
	res = buf_head(&out);
	return res;
fail:
	free(b64);
	buf_free(&out);
	return NULL;
}

char *
dkim_txt_value(enum dkim_alg alg, const unsigned char *pub, size_t n)
{
	const char *k = alg == DKIM_ED25519_SHA256 ? "ed25519" : "rsa";
	size_t len = 4 * ((n + 2) / 3) + 32;
	char *v;
	int off;

	if (n > 16384 || (v = malloc(len)) == NULL)
		return NULL;
	off = snprintf(v, len, "v=DKIM1; k=%s; p=", k);
	EVP_EncodeBlock((unsigned char *)v + off, pub, (int)n);
	return v;
}
