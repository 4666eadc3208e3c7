/* SPDX-License-Identifier: ISC */
/*
 * imap_catenate.c - APPEND ... CATENATE (TEXT literal / URL "...") (RFC
 * 4469): a message built from text and from sections of messages the
 * user already has, named by relative IMAP URLs (RFC 5092):
 * "/MAILBOX[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.n]]".
 *
 * Runs in a worker as `user`; opens only that user's folders, by
 * store_folder_path() (the URL's mailbox is checked like any name).  A
 * URL that does not name a readable message gets NO [BADURL url] and
 * nothing is stored; the built message is bounded by [imap]
 * max_literal like a literal.  Absolute URLs (imap://...) and TEXT
 * literals big enough to be spooled (64 KiB) are refused.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "imap_mutf7.h"
#include "strnum.h"

struct cat_url {
	char		 mailbox[STORE_NAME_MAX + 1];
	uint32_t	 uidvalidity;	/* 0: not given */
	uint32_t	 uid;
	struct imap_section sec;
};

/* url_num - digits at *pp up to the next '/' or end; false if none */
static bool
url_num(const char **pp, uint32_t *v_r, bool nz)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (uint64_t)(*p++ - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (nz && v == 0)
		return false;
	*v_r = (uint32_t)v;
	*pp = p;
	return true;
}

/* url_section - "1.2.HEADER", "TEXT", "3.MIME"... (RFC 5092 enc-section;
 * HEADER.FIELDS is not taken) */
static bool
url_section(const char *p, size_t n, struct imap_section *s)
{
	char t[16];
	uint32_t v;
	const char *e = p + n, *q;

	while (p < e && isdigit((unsigned char)*p)) {
		q = p;
		if (!url_num(&q, &v, true) || q > e ||
		    s->npart == IMAP_SEC_MAXPART)
			return false;
		s->part[s->npart++] = v;
		p = q;
		if (p == e)
			return true;
		if (*p++ != '.')
			return false;
	}
	if ((size_t)(e - p) >= sizeof(t))
		return false;
	memcpy(t, p, (size_t)(e - p));
	t[e - p] = '\0';
	if (strcasecmp(t, "HEADER") == 0)
		s->kind = IMAP_SEC_HEADER;
	else if (strcasecmp(t, "TEXT") == 0)
		s->kind = IMAP_SEC_TEXT;
	else if (strcasecmp(t, "MIME") == 0 && s->npart > 0)
		s->kind = IMAP_SEC_MIME;
	else
		return false;
	return true;
}

static bool
key(const char **pp, const char *k)
{
	size_t n = strlen(k);

	if (strncasecmp(*pp, k, n) != 0)
		return false;
	*pp += n;
	return true;
}

/* url_parse - the relative URL into u; false when malformed */
static bool
url_parse(const char *p, struct cat_url *u)
{
	size_t o = 0;
	const char *e;
	int h, l;

	memset(u, 0, sizeof(*u));
	if (*p++ != '/')
		return false;
	/* the mailbox, %XX-encoded, up to ";UIDVALIDITY=" or "/;" */
	while (*p && *p != ';' && !(p[0] == '/' && p[1] == ';')) {
		char c = *p++;

		if (c == '%') {
			if ((h = hex_digit(p[0])) < 0 ||
			    (l = hex_digit(p[1])) < 0)
				return false;
			c = (char)(h << 4 | l);
			p += 2;
		}
		if (c == '\0' || o + 1 >= sizeof(u->mailbox))
			return false;
		u->mailbox[o++] = c;
	}
	if (o == 0)
		return false;
	if (key(&p, ";UIDVALIDITY=") && !url_num(&p, &u->uidvalidity, true))
		return false;
	if (!key(&p, "/;UID=") || !url_num(&p, &u->uid, true))
		return false;
	if (key(&p, "/;SECTION=")) {
		e = strstr(p, "/;");
		if (e == NULL)
			e = p + strlen(p);
		if (!url_section(p, (size_t)(e - p), &u->sec))
			return false;
		p = e;
	}
	if (key(&p, "/;PARTIAL=")) {
		u->sec.partial = true;
		u->sec.cnt = UINT32_MAX;
		if (!url_num(&p, &u->sec.off, false))
			return false;
		if (*p == '.' && (p++, !url_num(&p, &u->sec.cnt, true)))
			return false;
	}
	return *p == '\0';
}

/*
 * url_folder - the URL's mailbox: UTF-8 (RFC 5092 3.3: the name in
 * UTF-8, percent-encoded), so the store's modified UTF-7 of it, else
 * the name as written (clients that put modified UTF-7 there)
 */
static struct store_folder *
url_folder(struct imap_session *s, const char *name)
{
	char dir[PATH_MAX], st[MBOX_NAME_SZ];
	struct store_folder *f = NULL;

	if (strcasecmp(name, "INBOX") == 0)
		name = "INBOX";
	if (mutf7_from_utf8(name, st, sizeof(st)) &&
	    store_folder_path(s->root, st, dir, sizeof(dir)))
		f = store_folder_open(dir);
	if (f == NULL && store_folder_path(s->root, name, dir, sizeof(dir)))
		f = store_folder_open(dir);
	return f;
}

/* url_fetch - the URL's bytes (BODY[section]<partial>, CRLF) onto out */
static bool
url_fetch(struct imap_session *s, const char *url, struct buf *out)
{
	struct cat_url u;
	struct store_folder *f;
	struct mime_msg *m;
	const char *data;
	size_t len, before = out->len;
	ssize_t fi;
	bool ok = false;

	if (!url_parse(url, &u))
		return false;
	if ((f = url_folder(s, u.mailbox)) == NULL)
		return false;
	(void)store_sync(f, false);
	if ((u.uidvalidity == 0 || u.uidvalidity == f->uidvalidity) &&
	    (fi = store_find(f, u.uid)) >= 0 &&
	    (data = store_map(f, (size_t)fi, &len)) != NULL) {
		m = mime_parse(data, len);
		if (!u.sec.partial)
			ok = mime_section(m, &u.sec, out);
		else {
			struct buf tmp;
			size_t skip, n;

			buf_init(&tmp, 0);
			u.sec.partial = false;
			ok = mime_section(m, &u.sec, &tmp);
			skip = u.sec.off < tmp.len ? u.sec.off : tmp.len;
			n = tmp.len - skip < u.sec.cnt ? tmp.len - skip :
			    u.sec.cnt;
			if (ok && n && buf_append(out, buf_head(&tmp) + skip,
			    n) == -1)
				ok = false;
			buf_free(&tmp);
		}
		mime_free(&m);
		store_unmap(data, len);
	}
	store_folder_close(&f);
	if (!ok)
		buf_truncate(out, before);
	return ok;
}

bool
cat_build(struct imap_session *s, const struct imap_arg *a, struct buf *out)
{
	const char *url;

	if (a == NULL) {
		session_tagged(s, "BAD empty CATENATE");
		return false;
	}
	for (; a; a = a->next) {
		if (imap_arg_is(a, "TEXT") && a->next &&
		    a->next->type == IMAP_ARG_LITERAL) {
			a = a->next;
			if (a->spooled) {
				session_tagged(s, "NO [TOOBIG] CATENATE text "
				    "parts are limited to 64 KiB");
				return false;
			}
			if (buf_append(out, a->s, a->len) == -1)
				goto toobig;
			continue;
		}
		if (!imap_arg_is(a, "URL") || (url = cmd_arg_str(a->next)) ==
		    NULL) {
			session_tagged(s, "BAD CATENATE (TEXT literal / URL url)");
			return false;
		}
		a = a->next;
		if (!url_fetch(s, url, out)) {
			session_tagged(s, "NO [BADURL %.200s] no such message "
			    "or section", url);
			return false;
		}
	}
	return true;
toobig:
	session_tagged(s, "NO [TOOBIG] message larger than max_literal");
	return false;
}
