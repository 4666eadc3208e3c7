/* SPDX-License-Identifier: ISC */
/*
 * imap_mime.c - MIME part tree, ENVELOPE, BODYSTRUCTURE and BODY[section]
 * for facteur-imapd (RFC 2045/2046, RFC 5322, RFC 3501 6.4.5 and 7.4.2).
 *
 * Runs in the imapd session code on message files the user received: the
 * bytes are untrusted.  Pure (no I/O), bounded: MIME_MAX_DEPTH nesting,
 * MIME_MAX_PARTS parts; anything past those is treated as opaque content.
 * Messages in Maildir may use LF or CRLF; every size and line count IMAP
 * sees is the CRLF form.  RFC 2047 encoded words are passed through as is;
 * RFC 2231 parameter continuations are joined (see params_parse).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crlf.h"
#include "imap_mime.h"
#include "xmem.h"

/* ---- line helpers ---- */

static size_t
line_end(const char *d, size_t off, size_t end)
{
	const char *nl = memchr(d + off, '\n', end - off);

	return nl ? (size_t)(nl - d) + 1 : end;
}

/* is the line [off, e) empty ("\n" or "\r\n")? */
static bool
line_blank(const char *d, size_t off, size_t e)
{
	return (e - off == 1 && d[off] == '\n') ||
	    (e - off == 2 && d[off] == '\r' && d[off + 1] == '\n');
}

size_t
mime_lines(const char *d, size_t off, size_t end)
{
	size_t n = 0;
	const char *p = d + off, *e = d + end, *nl;

	while (p < e && (nl = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		n++;
		p = nl + 1;
	}
	if (p < e)
		n++;
	return n;
}

/* ---- headers ---- */

/* header_end - offset just after the blank line ending the header block */
static size_t
header_end(const char *d, size_t off, size_t end, size_t *body_r)
{
	size_t e;

	while (off < end) {
		e = line_end(d, off, end);
		if (line_blank(d, off, e)) {
			*body_r = e;
			return e;
		}
		off = e;
	}
	*body_r = end;
	return end;
}

bool
mime_header_next(const char *d, size_t *pos, size_t end, const char *name,
    struct buf *out)
{
	size_t nlen = strlen(name), e, i, off = *pos;
	bool found = false;

	buf_reset(out);
	while (off < end) {
		e = line_end(d, off, end);
		if (line_blank(d, off, e))
			break;
		if (found) {
			if (d[off] != ' ' && d[off] != '\t')
				break;
		} else if (e - off > nlen && d[off + nlen] == ':' &&
		    strncasecmp(d + off, name, nlen) == 0) {
			found = true;
			off += nlen + 1;
			while (off < e && (d[off] == ' ' || d[off] == '\t'))
				off++;
		} else {
			off = e;
			continue;
		}
		/* append the line without its line break (unfolding) */
		for (i = off; i < e && d[i] != '\r' && d[i] != '\n'; i++)
			;
		(void)buf_append(out, d + off, i - off);
		off = e;
	}
	*pos = found ? off : end;
	return found;
}

bool
mime_header_get(const char *d, size_t off, size_t end, const char *name,
    struct buf *out)
{
	return mime_header_next(d, &off, end, name, out);
}

/* ---- Content-Type and other parameter headers ---- */

struct mime_param {
	char		 name[64];
	char		*value;
};

struct mime_ct {
	char		 type[64];
	char		 subtype[64];
	struct mime_param p[16];
	unsigned	 np;
};

static void
skip_cfws(const char **sp)
{
	const char *s = *sp;
	int depth;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '(')
			break;
		depth = 0;
		for (; *s; s++) {
			if (*s == '\\' && s[1])
				s++;
			else if (*s == '(')
				depth++;
			else if (*s == ')' && --depth == 0) {
				s++;
				break;
			}
		}
	}
	*sp = s;
}

static bool
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* read a token or quoted string into out (size outsz, truncated) */
static bool
read_value(const char **sp, char *out, size_t outsz)
{
	const char *s = *sp;
	size_t n = 0;

	skip_cfws(&s);
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			if (n + 1 < outsz)
				out[n++] = *s;
		}
		if (*s == '"')
			s++;
	} else {
		while ((unsigned char)*s > 0x20 && *s != ';' && *s != '(' &&
		    *s != '"' && *s != 0x7f) {
			if (n + 1 < outsz)
				out[n++] = *s;
			s++;
		}
		if (n == 0)
			return false;
	}
	out[n] = '\0';
	*sp = s;
	return true;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void
ct_free(struct mime_ct *ct)
{
	unsigned i;

	for (i = 0; i < ct->np; i++)
		free(ct->p[i].value);
	ct->np = 0;
}

#define RAW_PARAMS	64

struct raw_param {
	char		 name[64];
	char		*value;
	size_t		 blen;		/* continuation: length of the base name */
	unsigned	 idx;		/* its number */
	bool		 cont, ext, used;
};

/* cont_split - RFC 2231 3/4: "base*N" or "base*N*" (N without leading 0) */
static void
cont_split(struct raw_param *r)
{
	const char *star = strchr(r->name, '*'), *d;
	size_t k;

	r->cont = false;
	if (star == NULL || star == r->name)
		return;
	d = star + 1;
	for (k = 0, r->idx = 0; isdigit((unsigned char)d[k]) && k < 3; k++)
		r->idx = r->idx * 10 + (unsigned)(d[k] - '0');
	if (k == 0 || (k > 1 && d[0] == '0') || isdigit((unsigned char)d[k]))
		return;
	if (d[k] == '*' && d[k + 1] == '\0')
		r->ext = true;
	else if (d[k] == '\0')
		r->ext = false;
	else
		return;
	r->blen = (size_t)(star - r->name);
	r->cont = true;
}

/* a plain segment inside an extended value: %-encode what must be */
static void
put_pct(struct buf *b, const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c <= 0x20 || c >= 0x7f || strchr("*'%()<>@,;:\\\"/[]?=", c))
			buf_printf(b, "%%%02X", c);
		else
			buf_append(b, v, 1);
	}
}

/*
 * params_join - one parameter from the continuations of raw[i]'s base
 * name: the parts 0, 1, 2... joined; "base*" (an RFC 2231 extended value,
 * charset'language'%XX, as Dovecot gives it) when any part was extended.
 */
static void
params_join(struct raw_param *raw, size_t nraw, size_t i, struct mime_ct *ct)
{
	struct raw_param *seg[RAW_PARAMS];
	struct buf b;
	size_t j, n = 0;
	bool ext = false;

	memset(seg, 0, sizeof(seg));
	for (j = i; j < nraw; j++) {
		if (!raw[j].cont || raw[j].used || raw[j].blen != raw[i].blen ||
		    strncmp(raw[j].name, raw[i].name, raw[i].blen) != 0)
			continue;
		raw[j].used = true;
		if (raw[j].idx < RAW_PARAMS && seg[raw[j].idx] == NULL)
			seg[raw[j].idx] = &raw[j];
	}
	while (n < RAW_PARAMS && seg[n])
		ext |= seg[n++]->ext;
	if (n == 0 || ct->np >= sizeof(ct->p) / sizeof(ct->p[0]))
		return;
	buf_init(&b, 0);
	for (j = 0; j < n; j++) {
		if (ext && !seg[j]->ext)
			put_pct(&b, seg[j]->value);
		else
			buf_puts(&b, seg[j]->value);
	}
	(void)bsnprintf(ct->p[ct->np].name, sizeof(ct->p[0].name), "%.*s%s",
	    (int)raw[i].blen, raw[i].name, ext ? "*" : "");
	ct->p[ct->np++].value = xstrdup(buf_head(&b) ? buf_head(&b) : "");
	buf_free(&b);
}

/* params_raw - ";name=value" pairs as written; bad ones are skipped */
static size_t
params_raw(const char *s, struct raw_param *raw)
{
	char name[64], val[1024];
	size_t n, nraw = 0;

	for (;;) {
		skip_cfws(&s);
		if (*s != ';')
			return nraw;
		s++;
		skip_cfws(&s);
		n = 0;
		while (is_token_char((unsigned char)*s)) {
			if (n + 1 < sizeof(name))
				name[n++] = *s;
			s++;
		}
		name[n] = '\0';
		skip_cfws(&s);
		if (n == 0 || *s != '=') {
			/* skip to the next ';' */
			while (*s && *s != ';')
				s++;
			continue;
		}
		s++;
		if (!read_value(&s, val, sizeof(val)))
			val[0] = '\0';
		if (nraw < RAW_PARAMS) {
			lower(name);
			memset(&raw[nraw], 0, sizeof(raw[nraw]));
			memcpy(raw[nraw].name, name, n + 1);
			raw[nraw].value = xstrdup(val);
			cont_split(&raw[nraw]);
			nraw++;
		}
		while (*s && *s != ';')
			s++;
	}
}

/* params_parse - the parameters, RFC 2231 continuations joined */
static void
params_parse(const char *s, struct mime_ct *ct)
{
	struct raw_param raw[RAW_PARAMS];
	size_t nraw = params_raw(s, raw), i;

	for (i = 0; i < nraw; i++) {
		if (raw[i].cont) {
			if (!raw[i].used)
				params_join(raw, nraw, i, ct);
		} else if (ct->np < sizeof(ct->p) / sizeof(ct->p[0])) {
			memcpy(ct->p[ct->np].name, raw[i].name,
			    sizeof(ct->p[0].name));
			ct->p[ct->np++].value = raw[i].value;
			raw[i].value = NULL;
		}
	}
	for (i = 0; i < nraw; i++)
		free(raw[i].value);
}

/* ct_parse - "type/subtype; params"; defaults to text/plain */
static void
ct_parse(const char *s, struct mime_ct *ct, bool in_digest)
{
	const char *p = s;

	memset(ct, 0, sizeof(*ct));
	if (s != NULL && read_value(&p, ct->type, sizeof(ct->type))) {
		char *slash = strchr(ct->type, '/');

		if (slash && slash[1]) {
			*slash = '\0';
			if (bstrcpy(ct->subtype, slash + 1, sizeof(ct->subtype)) &&
			    ct->type[0]) {
				lower(ct->type);
				lower(ct->subtype);
				params_parse(p, ct);
				return;
			}
		}
	}
	memset(ct, 0, sizeof(*ct));
	if (in_digest) {
		memcpy(ct->type, "message", 8);
		memcpy(ct->subtype, "rfc822", 7);
	} else {
		memcpy(ct->type, "text", 5);
		memcpy(ct->subtype, "plain", 6);
		memcpy(ct->p[0].name, "charset", 8);
		ct->p[0].value = xstrdup("us-ascii");
		ct->np = 1;
	}
}

static const char *
ct_param(const struct mime_ct *ct, const char *name)
{
	unsigned i;

	for (i = 0; i < ct->np; i++)
		if (strcmp(ct->p[i].name, name) == 0)
			return ct->p[i].value;
	return NULL;
}

void
mime_part_coding(const struct mime_msg *m, const struct mime_part *p,
    char *charset, size_t cs_sz, char *cte, size_t cte_sz)
{
	struct buf v;
	struct mime_ct ct;
	const char *c;

	buf_init(&v, 65536);
	charset[0] = cte[0] = '\0';
	ct_parse(mime_header_get(m->data, p->hdr_off, p->body_off,
	    "Content-Type", &v) ? buf_head(&v) : NULL, &ct, false);
	if ((c = ct_param(&ct, "charset")) != NULL)
		(void)bsnprintf(charset, cs_sz, "%s", c);
	ct_free(&ct);
	if (mime_header_get(m->data, p->hdr_off, p->body_off,
	    "Content-Transfer-Encoding", &v) && (c = buf_head(&v)) != NULL)
		(void)read_value(&c, cte, cte_sz);
	buf_free(&v);
}

/* ---- the part tree ---- */

/* parts come from blocks of 16 so their addresses never move */
struct mime_block {
	struct mime_block *next;
	unsigned	 n;
	struct mime_part p[16];
};

static struct mime_part *
part_new(struct mime_msg *m)
{
	struct mime_block *b = m->blocks;
	struct mime_part *p;

	if (m->npool >= MIME_MAX_PARTS)
		return NULL;
	if (b == NULL || b->n == 16) {
		b = xcalloc(1, sizeof(*b));
		b->next = m->blocks;
		m->blocks = b;
	}
	p = &b->p[b->n++];
	m->npool++;
	memset(p, 0, sizeof(*p));
	return p;
}

static void parse_part(struct mime_msg *m, struct mime_part *p, size_t off,
    size_t end, unsigned depth, bool in_digest);

/* is the line [off, e) "--boundary" or "--boundary--" (trailing space ok)? */
static int
boundary_line(const char *d, size_t off, size_t e, const char *b, size_t blen)
{
	size_t i;
	int kind = 1;

	if (e - off < blen + 2 || d[off] != '-' || d[off + 1] != '-' ||
	    memcmp(d + off + 2, b, blen) != 0)
		return 0;
	i = off + 2 + blen;
	if (e - i >= 2 && d[i] == '-' && d[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < e; i++)
		if (d[i] != ' ' && d[i] != '\t' && d[i] != '\r' && d[i] != '\n')
			return 0;
	return kind;
}

/* the line break before a boundary belongs to the boundary (RFC 2046 5.1.1) */
static size_t
strip_eol(const char *d, size_t start, size_t at)
{
	if (at > start && d[at - 1] == '\n')
		at--;
	if (at > start && d[at - 1] == '\r')
		at--;
	return at;
}

static void
parse_multipart(struct mime_msg *m, struct mime_part *p, const char *b,
    unsigned depth, bool digest)
{
	const char *d = m->data;
	size_t blen = strlen(b), off = p->body_off, e, start = 0;
	struct mime_part *last = NULL, *c;
	bool in_part = false;
	int k;

	while (off < p->body_end) {
		e = line_end(d, off, p->body_end);
		k = boundary_line(d, off, e, b, blen);
		if (k != 0) {
			if (in_part && (c = part_new(m)) != NULL) {
				parse_part(m, c, start, strip_eol(d, start, off),
				    depth + 1, digest);
				if (last)
					last->next = c;
				else
					p->child = c;
				last = c;
			}
			if (k == 2) {
				in_part = false;
				break;
			}
			in_part = true;
			start = e;
		}
		off = e;
	}
	/* missing closing boundary: the last part runs to the end */
	if (in_part && (c = part_new(m)) != NULL) {
		parse_part(m, c, start, p->body_end, depth + 1, digest);
		if (last)
			last->next = c;
		else
			p->child = c;
	}
}

static void
parse_part(struct mime_msg *m, struct mime_part *p, size_t off, size_t end,
    unsigned depth, bool in_digest)
{
	struct buf v;
	struct mime_ct ct;
	const char *b;
	struct mime_part *c;

	p->hdr_off = off;
	header_end(m->data, off, end, &p->body_off);
	p->body_end = end;
	buf_init(&v, 65536);
	ct_parse(mime_header_get(m->data, off, p->body_off, "Content-Type", &v) ?
	    buf_head(&v) : NULL, &ct, in_digest);
	memcpy(p->type, ct.type, sizeof(p->type));
	memcpy(p->subtype, ct.subtype, sizeof(p->subtype));
	if (depth < MIME_MAX_DEPTH && strcmp(ct.type, "multipart") == 0) {
		b = ct_param(&ct, "boundary");
		if (b == NULL || *b == '\0') {
			/* no boundary: cannot be split, read as text */
			memcpy(p->type, "text", 5);
			memcpy(p->subtype, "plain", 6);
		} else {
			p->multipart = true;
			parse_multipart(m, p, b, depth,
			    strcmp(ct.subtype, "digest") == 0);
			if (p->child == NULL) {
				/* RFC 3501 needs one part: an empty text one */
				if ((c = part_new(m)) != NULL) {
					c->hdr_off = c->body_off = c->body_end =
					    p->body_end;
					memcpy(c->type, "text", 5);
					memcpy(c->subtype, "plain", 6);
					p->child = c;
				}
			}
		}
	} else if (depth < MIME_MAX_DEPTH && strcmp(ct.type, "message") == 0 &&
	    strcmp(ct.subtype, "rfc822") == 0) {
		if ((c = part_new(m)) != NULL) {
			p->message = true;
			p->child = c;
			parse_part(m, c, p->body_off, p->body_end, depth + 1, false);
		}
	}
	ct_free(&ct);
	buf_free(&v);
}

struct mime_msg *
mime_parse(const char *data, size_t len)
{
	struct mime_msg *m = xcalloc(1, sizeof(*m));

	m->data = data;
	m->len = len;
	m->root = part_new(m);
	parse_part(m, m->root, 0, len, 0, false);
	return m;
}

void
mime_free(struct mime_msg **mp)
{
	struct mime_block *b, *nb;

	if (*mp == NULL)
		return;
	for (b = (*mp)->blocks; b; b = nb) {
		nb = b->next;
		free(b);
	}
	free(*mp);
	*mp = NULL;
}

/* ---- IMAP output ---- */

void
imap_put_string(struct buf *out, const char *s, size_t len)
{
	size_t i;
	bool lit = len > 1024;

	for (i = 0; i < len && !lit; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
			lit = true;
	}
	if (lit) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append(out, "\"", 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, s + i, 1);
	}
	buf_append(out, "\"", 1);
}

void
imap_put_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		buf_puts(out, "NIL");
	else
		imap_put_string(out, s, strlen(s));
}

static void
put_upper(struct buf *out, const char *s)
{
	char tmp[64];
	size_t i;

	for (i = 0; s[i] && i < sizeof(tmp) - 1; i++)
		tmp[i] = (char)toupper((unsigned char)s[i]);
	tmp[i] = '\0';
	imap_put_string(out, tmp, i);
}

/* ---- ENVELOPE ---- */

/* hdr - a header's unfolded value or NULL */
static const char *
hdr(const struct mime_msg *m, const struct mime_part *p, const char *name,
    struct buf *tmp)
{
	if (!mime_header_get(m->data, p->hdr_off, p->body_off, name, tmp))
		return NULL;
	return buf_head(tmp) ? buf_head(tmp) : "";
}

static void
trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
}

/* put_addr_list - an address header as ENVELOPE's list, or `dflt`'s
 * (already parsed) when it holds no address */
static void
put_addr_list(struct buf *out, const char *v, const struct imap_addrs *dflt)
{
	struct imap_addrs a;

	if (v == NULL) {
		imap_addr_envelope(dflt ? dflt : &(struct imap_addrs){ 0 }, out);
		return;
	}
	imap_addr_parse(v, strlen(v), &a);
	imap_addr_envelope(a.n == 0 && dflt ? dflt : &a, out);
	imap_addr_free(&a);
}

void
mime_envelope(const struct mime_msg *m, const struct mime_part *p,
    struct buf *out)
{
	struct buf tmp;
	struct imap_addrs from;
	const char *v;
	static const char *strs1[] = { "Date", "Subject" };
	static const char *addrs[] = { "To", "Cc", "Bcc" };
	static const char *strs2[] = { "In-Reply-To", "Message-ID" };
	size_t i;

	buf_init(&tmp, 1 << 20);
	buf_puts(out, "(");
	for (i = 0; i < 2; i++) {
		v = hdr(m, p, strs1[i], &tmp);
		imap_put_nstring(out, v);
		buf_puts(out, " ");
	}
	/* Sender and Reply-To default to From (RFC 3501 7.4.2) */
	memset(&from, 0, sizeof(from));
	if ((v = hdr(m, p, "From", &tmp)) != NULL)
		imap_addr_parse(v, strlen(v), &from);
	imap_addr_envelope(&from, out);
	buf_puts(out, " ");
	put_addr_list(out, hdr(m, p, "Sender", &tmp), &from);
	buf_puts(out, " ");
	put_addr_list(out, hdr(m, p, "Reply-To", &tmp), &from);
	imap_addr_free(&from);
	for (i = 0; i < 3; i++) {
		buf_puts(out, " ");
		put_addr_list(out, hdr(m, p, addrs[i], &tmp), NULL);
	}
	for (i = 0; i < 2; i++) {
		buf_puts(out, " ");
		v = hdr(m, p, strs2[i], &tmp);
		if (v) {
			char *t = xstrdup(v);

			trim(t);
			imap_put_nstring(out, t);
			free(t);
		} else
			buf_puts(out, "NIL");
	}
	buf_puts(out, ")");
	buf_free(&tmp);
}

/* ---- BODYSTRUCTURE ---- */

static void
put_params(struct buf *out, const struct mime_ct *ct)
{
	unsigned i;

	if (ct->np == 0) {
		buf_puts(out, "NIL");
		return;
	}
	buf_puts(out, "(");
	for (i = 0; i < ct->np; i++) {
		if (i)
			buf_puts(out, " ");
		put_upper(out, ct->p[i].name);
		buf_puts(out, " ");
		imap_put_nstring(out, ct->p[i].value);
	}
	buf_puts(out, ")");
}

/* disposition, language, location (the extension data after md5) */
static void
put_ext_tail(const struct mime_msg *m, const struct mime_part *p,
    struct buf *out, struct buf *tmp)
{
	const char *v;
	struct mime_ct ct;

	buf_puts(out, " ");
	v = hdr(m, p, "Content-Disposition", tmp);
	if (v && *v) {
		memset(&ct, 0, sizeof(ct));
		read_value(&v, ct.type, sizeof(ct.type));
		params_parse(v, &ct);
		buf_puts(out, "(");
		imap_put_nstring(out, ct.type);
		buf_puts(out, " ");
		put_params(out, &ct);
		buf_puts(out, ")");
		ct_free(&ct);
	} else
		buf_puts(out, "NIL");
	buf_puts(out, " ");
	v = hdr(m, p, "Content-Language", tmp);
	if (v && *v) {
		char *t = xstrdup(v);

		trim(t);
		imap_put_nstring(out, t);
		free(t);
	} else
		buf_puts(out, "NIL");
	buf_puts(out, " ");
	v = hdr(m, p, "Content-Location", tmp);
	imap_put_nstring(out, v && *v ? v : NULL);
}

static void
put_field(struct buf *out, const char *v, bool upper)
{
	char *t;

	if (v == NULL) {
		buf_puts(out, "NIL");
		return;
	}
	t = xstrdup(v);
	trim(t);
	if (upper)
		put_upper(out, t);
	else
		imap_put_nstring(out, t);
	free(t);
}

void
mime_bodystructure(const struct mime_msg *m, const struct mime_part *p,
    bool ext, struct buf *out)
{
	struct buf tmp;
	struct mime_ct ct;
	const struct mime_part *c;
	const char *v;

	buf_init(&tmp, 1 << 20);
	v = hdr(m, p, "Content-Type", &tmp);
	ct_parse(v, &ct, false);
	buf_puts(out, "(");
	if (p->multipart) {
		for (c = p->child; c; c = c->next)
			mime_bodystructure(m, c, ext, out);
		buf_puts(out, " ");
		put_upper(out, p->subtype);
		if (ext) {
			buf_puts(out, " ");
			put_params(out, &ct);
			put_ext_tail(m, p, out, &tmp);
		}
		buf_puts(out, ")");
		goto done;
	}
	put_upper(out, p->type);
	buf_puts(out, " ");
	put_upper(out, p->subtype);
	buf_puts(out, " ");
	if (strcmp(ct.type, p->type) != 0) {
		/* multipart without boundary read as text: say so */
		ct_free(&ct);
		ct_parse(NULL, &ct, false);
	}
	put_params(out, &ct);
	buf_puts(out, " ");
	put_field(out, hdr(m, p, "Content-ID", &tmp), false);
	buf_puts(out, " ");
	put_field(out, hdr(m, p, "Content-Description", &tmp), false);
	buf_puts(out, " ");
	v = hdr(m, p, "Content-Transfer-Encoding", &tmp);
	put_field(out, v && *v ? v : "7BIT", true);
	buf_printf(out, " %zu", crlf_size(m->data, p->body_off, p->body_end));
	if (p->message) {
		buf_puts(out, " ");
		mime_envelope(m, p->child, out);
		buf_puts(out, " ");
		mime_bodystructure(m, p->child, ext, out);
	}
	if (p->message || strcmp(p->type, "text") == 0)
		buf_printf(out, " %zu", mime_lines(m->data, p->body_off,
		    p->body_end));
	if (ext) {
		buf_puts(out, " ");
		put_field(out, hdr(m, p, "Content-MD5", &tmp), false);
		put_ext_tail(m, p, out, &tmp);
	}
	buf_puts(out, ")");
done:
	ct_free(&ct);
	buf_free(&tmp);
}

/* ---- BODY[section] ---- */

const struct mime_part *
mime_section_part(const struct mime_msg *m, const struct imap_section *s)
{
	const struct mime_part *p = m->root, *c;
	unsigned i;
	uint32_t k;

	for (i = 0; i < s->npart; i++) {
		if (p->multipart) {
			for (c = p->child, k = 1; c && k < s->part[i]; k++)
				c = c->next;
			if (c == NULL)
				return NULL;
			p = c;
		} else if (s->part[i] != 1)
			return NULL;
		if (i + 1 < s->npart && p->message)
			p = p->child;
	}
	return p;
}

static bool
field_wanted(const char *d, size_t off, size_t e, const struct imap_section *s)
{
	unsigned i;
	size_t n;

	for (i = 0; i < s->nfields; i++) {
		n = strlen(s->fields[i]);
		if (e - off > n && d[off + n] == ':' &&
		    strncasecmp(d + off, s->fields[i], n) == 0)
			return true;
	}
	return false;
}

/* header lines selected by HEADER.FIELDS[.NOT], then the blank line */
static void
put_fields(struct buf *out, const char *d, size_t off, size_t end,
    const struct imap_section *s)
{
	size_t e;
	bool keep = false;
	bool not = s->kind == IMAP_SEC_HEADER_FIELDS_NOT;

	while (off < end) {
		e = line_end(d, off, end);
		if (line_blank(d, off, e))
			break;
		if (d[off] != ' ' && d[off] != '\t')
			keep = field_wanted(d, off, e, s) != not;
		if (keep) {
			crlf_put(out, d, off, e);
			if (d[e - 1] != '\n')
				buf_append(out, "\r\n", 2);
		}
		off = e;
	}
	buf_append(out, "\r\n", 2);
}

/*
 * section_range - the raw bytes [*off_r, *end_r) behind BODY[section];
 * *p_r is the part whose header HEADER.FIELDS reads.  False: no such part.
 */
static bool
section_range(const struct mime_msg *m, const struct imap_section *s,
    size_t *off_r, size_t *end_r, const struct mime_part **p_r)
{
	const struct mime_part *p = mime_section_part(m, s);

	if (p == NULL)
		return false;
	switch (s->kind) {
	case IMAP_SEC_ALL:
		*off_r = s->npart == 0 ? 0 : p->body_off;
		*end_r = s->npart == 0 ? m->len : p->body_end;
		return true;
	case IMAP_SEC_MIME:
		*off_r = p->hdr_off;
		*end_r = p->body_off;
		return true;
	default:
		break;
	}
	/* HEADER, TEXT, HEADER.FIELDS of a message: the root or an rfc822 part */
	if (s->npart > 0) {
		if (!p->message)
			return false;
		p = p->child;
	}
	*p_r = p;
	*off_r = s->kind == IMAP_SEC_TEXT ? p->body_off : p->hdr_off;
	*end_r = s->kind == IMAP_SEC_TEXT ? p->body_end : p->body_off;
	return true;
}

bool
mime_section(const struct mime_msg *m, const struct imap_section *s,
    struct buf *out)
{
	const struct mime_part *p = NULL;
	size_t off, end;

	if (!section_range(m, s, &off, &end, &p))
		return false;
	if (s->kind == IMAP_SEC_HEADER_FIELDS ||
	    s->kind == IMAP_SEC_HEADER_FIELDS_NOT) {
		put_fields(out, m->data, p->hdr_off, p->body_off, s);
		return true;
	}
	return crlf_put(out, m->data, off, end) == 0;
}

void
mime_crlf_init(struct mime_crlf *c, const char *d, size_t off, size_t end)
{
	c->d = d;
	c->off = c->pos = off;
	c->end = end;
	c->half = false;
}

size_t
mime_crlf_read(struct mime_crlf *c, struct buf *out, size_t max)
{
	const char *p, *nl;
	size_t done = 0, n;

	if (out && buf_reserve(out, max) == -1)
		return 0;
	while (done < max && c->pos < c->end) {
		p = c->d + c->pos;
		if (*p == '\n') {
			/* a bare LF is given as CR, then LF */
			if (!c->half && (c->pos == c->off || p[-1] != '\r')) {
				if (out)
					buf_append(out, "\r", 1);
				c->half = true;
			} else {
				if (out)
					buf_append(out, "\n", 1);
				c->half = false;
				c->pos++;
			}
			done++;
			continue;
		}
		nl = memchr(p, '\n', c->end - c->pos);
		n = nl ? (size_t)(nl - p) : c->end - c->pos;
		if (n > max - done)
			n = max - done;
		if (out)
			buf_append(out, p, n);
		c->pos += n;
		done += n;
	}
	return done;
}

bool
mime_section_span(const struct mime_msg *m, const struct imap_section *s,
    struct mime_span *sp)
{
	const struct mime_part *p = NULL;
	size_t total;

	memset(sp, 0, sizeof(*sp));
	if (s->kind == IMAP_SEC_HEADER_FIELDS ||
	    s->kind == IMAP_SEC_HEADER_FIELDS_NOT)
		return false;
	if (!section_range(m, s, &sp->off, &sp->end, &p)) {
		sp->off = sp->end = 0;	/* no such part: empty */
		return true;
	}
	total = crlf_size(m->data, sp->off, sp->end);
	sp->n = total;
	if (s->partial) {
		sp->skip = s->off < total ? s->off : total;
		sp->n = total - sp->skip < s->cnt ? total - sp->skip : s->cnt;
	}
	return true;
}

bool
mime_section_literal(const struct mime_msg *m, const struct imap_section *s,
    const char *label, struct buf *out)
{
	struct mime_span sp;
	struct mime_crlf rd;
	size_t skip = 0, n;
	struct buf tmp;

	if (!mime_section_span(m, s, &sp)) {
		/* HEADER.FIELDS: small; build, then cut */
		buf_init(&tmp, 0);
		(void)mime_section(m, s, &tmp);
		n = tmp.len;
		if (s->partial) {
			skip = s->off < tmp.len ? s->off : tmp.len;
			n = tmp.len - skip < s->cnt ? tmp.len - skip : s->cnt;
		}
		buf_printf(out, "%s {%zu}\r\n", label, n);
		if (n)
			buf_append(out, buf_head(&tmp) + skip, n);
		buf_free(&tmp);
		return true;
	}
	buf_printf(out, "%s {%zu}\r\n", label, sp.n);
	mime_crlf_init(&rd, m->data, sp.off, sp.end);
	(void)mime_crlf_read(&rd, NULL, sp.skip);
	/* short only when out of memory: the caller's buffer is short */
	return mime_crlf_read(&rd, out, sp.n) == sp.n;
}
