/* SPDX-License-Identifier: ISC */
/*
 * imap_search.c - SEARCH keys (RFC 3501 6.4.4): compiled from the parsed
 * arguments into a small tree, then matched per message.
 *
 * Runs in facteur-imapd after login, on the selected folder only.  Text
 * keys match a substring, case-insensitively (ASCII and Latin-1 letters),
 * in UTF-8: header values with their RFC 2047 words decoded, the text
 * parts of the body with base64 or quoted-printable undone and Latin-1
 * made UTF-8 (imap_decode.c); attachments (non-text parts) are not
 * searched.  Message files are read only when a key needs their content,
 * headers come from the header cache.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_decode.h"
#include "imapd.h"
#include "strnum.h"
#include "xmem.h"

enum sop {
	SO_AND, SO_OR, SO_NOT, SO_FLAG, SO_SEQ, SO_UID, SO_LARGER, SO_SMALLER,
	SO_BEFORE, SO_ON, SO_SINCE, SO_SENTBEFORE, SO_SENTON, SO_SENTSINCE,
	SO_HEADER, SO_BODY, SO_TEXT, SO_CONST, SO_RECENT, SO_KEYWORD, SO_ADDR,
	SO_MODSEQ,
};

/* keys per SEARCH (NOT, AND, OR apart): bounds the work per message */
#define SEARCH_MAX_KEYS	128

struct search_node {
	enum sop	 op;
	uint8_t		 mask, want;	/* SO_FLAG: (flags & mask) == want */
	bool		 value;		/* SO_CONST; SO_RECENT, SO_KEYWORD: want */
	bool		 resolved;	/* SO_KEYWORD: kwbit found in the folder */
	uint32_t	 kwbit;
	struct imap_seqset set;
	uint64_t	 num;
	int64_t		 date;
	char		*hname;
	char		*str;
	size_t		 slen;
	struct search_node *child;	/* AND list, OR pair, NOT operand */
	struct search_node *next;
};

struct sctx {
	struct store_folder *f;
	size_t		 idx;
	uint32_t	 seq, maxseq;
	bool		 recent;	/* \Recent for the searching session */
	const char	*data;
	char		*owned;		/* header not from the cache: free it */
	size_t		 len;
	struct mime_msg	*m;
	bool		 loaded;
	bool		 full;		/* the whole file, not just its header */
	/* decoded and folded once per message, whatever the key count */
	struct buf	 hdr_text;	/* the header block (TEXT) */
	struct buf	 body_text;	/* every text part, NUL after each */
	bool		 hdr_done, body_done;
};

static const char *months[] = { "jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec" };

bool
search_parse_date(const char *s, int64_t *t_r)
{
	const char *err;
	char day[3], mon[4], year[5];
	struct tm tm;
	size_t i, n;
	int m;

	n = strspn(s, "0123456789");
	if (n < 1 || n > 2 || s[n] != '-')
		return false;
	memcpy(day, s, n);
	day[n] = '\0';
	s += n + 1;
	if (strlen(s) != 8 || s[3] != '-')
		return false;
	memcpy(mon, s, 3);
	mon[3] = '\0';
	memcpy(year, s + 4, 4);
	year[4] = '\0';
	for (m = 0; m < 12; m++)
		if (strcasecmp(mon, months[m]) == 0)
			break;
	for (i = 0; i < 4; i++)
		if (!isdigit((unsigned char)year[i]))
			return false;
	if (m == 12)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = (int)strnum(day, 1, 31, &err);
	if (err)
		return false;
	tm.tm_mon = m;
	tm.tm_year = (int)strnum(year, 1900, 9999, &err) - 1900;
	if (err)
		return false;
	*t_r = (int64_t)timegm(&tm);
	return true;
}

/* the RFC 5322 Date: header's day as UTC midnight; -1 when unreadable */
static int64_t
sent_day(const char *v)
{
	char tok[4][32];
	int nt = 0, m;
	size_t n;
	struct tm tm;
	const char *err;

	while (*v && nt < 4) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		n = strcspn(v, " \t,");
		if (n == 0)
			break;
		if (n >= sizeof(tok[0]))
			n = sizeof(tok[0]) - 1;
		memcpy(tok[nt], v, n);
		tok[nt][n] = '\0';
		v += strcspn(v, " \t,");
		if (!(nt == 0 && isalpha((unsigned char)tok[0][0])))
			nt++;	/* skip the day-of-week */
	}
	if (nt < 3)
		return -1;
	for (m = 0; m < 12; m++)
		if (strncasecmp(tok[1], months[m], 3) == 0)
			break;
	if (m == 12)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = (int)strnum(tok[0], 1, 31, &err);
	if (err)
		return -1;
	tm.tm_year = (int)strnum(tok[2], 0, 9999, &err);
	if (err)
		return -1;
	if (tm.tm_year < 50)
		tm.tm_year += 2000;
	else if (tm.tm_year < 1000)
		tm.tm_year += 1900;
	tm.tm_year -= 1900;
	tm.tm_mon = m;
	return (int64_t)timegm(&tm);
}

/* ---- compile ---- */

static struct search_node *
node_new(enum sop op)
{
	struct search_node *n = xcalloc(1, sizeof(*n));

	n->op = op;
	return n;
}

void
search_free(struct search_node **np)
{
	struct search_node *n = *np, *c, *nc;

	if (n == NULL)
		return;
	for (c = n->child; c; c = nc) {
		nc = c->next;
		search_free(&c);
	}
	imap_seqset_free(&n->set);
	free(n->hname);
	free(n->str);
	free(n);
	*np = NULL;
}

static struct search_node *compile_key(const struct imap_arg **ap,
    const char **err_r, unsigned depth);

/* take_str - the string to look for, case-folded like the text */
static bool
take_str(const struct imap_arg **ap, struct search_node *n)
{
	const struct imap_arg *a = *ap;

	if (!imap_arg_astring(a))
		return false;
	n->str = xstrndup(a->s, a->len);
	n->slen = a->len;
	decode_fold(n->str, n->slen);
	*ap = a->next;
	return true;
}

static bool
take_date(const struct imap_arg **ap, struct search_node *n)
{
	const struct imap_arg *a = *ap;

	if (!imap_arg_astring(a) || !search_parse_date(a->s, &n->date))
		return false;
	*ap = a->next;
	return true;
}

static bool
take_num(const struct imap_arg **ap, struct search_node *n)
{
	const struct imap_arg *a = *ap;
	const char *err;

	if (a == NULL || a->type != IMAP_ARG_ATOM)
		return false;
	n->num = (uint64_t)strnum(a->s, 0, UINT32_MAX, &err);
	if (err)
		return false;
	*ap = a->next;
	return true;
}

/*
 * take_modseq - "[entry-name entry-type] n" after MODSEQ (RFC 7162
 * 3.1.5): the entry (a flag's own modseq) is checked and not used, a
 * message has one modseq for all its flags.
 */
static bool
take_modseq(const struct imap_arg **ap, struct search_node *n)
{
	const struct imap_arg *a = *ap;
	const char *err;

	if (a && a->type == IMAP_ARG_STRING) {
		a = a->next;
		if (!imap_arg_is(a, "priv") && !imap_arg_is(a, "shared") &&
		    !imap_arg_is(a, "all"))
			return false;
		a = a->next;
	}
	if (a == NULL || a->type != IMAP_ARG_ATOM || a->section)
		return false;
	n->num = (uint64_t)strnum(a->s, 0, INT64_MAX, &err);
	if (err)
		return false;
	*ap = a->next;
	return true;
}

bool
search_has_modseq(const struct search_node *n)
{
	const struct search_node *k;

	if (n->op == SO_MODSEQ)
		return true;
	for (k = n->child; k; k = k->next)
		if (search_has_modseq(k))
			return true;
	return false;
}

static const struct {
	const char *name;
	uint8_t mask, want;
} flag_keys[] = {
	{ "ANSWERED", MF_ANSWERED, MF_ANSWERED }, { "DELETED", MF_DELETED, MF_DELETED },
	{ "DRAFT", MF_DRAFT, MF_DRAFT }, { "FLAGGED", MF_FLAGGED, MF_FLAGGED },
	{ "SEEN", MF_SEEN, MF_SEEN }, { "UNANSWERED", MF_ANSWERED, 0 },
	{ "UNDELETED", MF_DELETED, 0 }, { "UNDRAFT", MF_DRAFT, 0 },
	{ "UNFLAGGED", MF_FLAGGED, 0 }, { "UNSEEN", MF_SEEN, 0 },
};

static const struct {
	const char *name;
	enum sop op;
} arg_keys[] = {
	{ "BEFORE", SO_BEFORE }, { "ON", SO_ON }, { "SINCE", SO_SINCE },
	{ "SENTBEFORE", SO_SENTBEFORE }, { "SENTON", SO_SENTON },
	{ "SENTSINCE", SO_SENTSINCE }, { "LARGER", SO_LARGER },
	{ "SMALLER", SO_SMALLER }, { "BODY", SO_BODY }, { "TEXT", SO_TEXT },
	{ "FROM", SO_ADDR }, { "TO", SO_ADDR }, { "CC", SO_ADDR },
	{ "BCC", SO_ADDR }, { "SUBJECT", SO_HEADER },
};

/* the saved result (SEARCHRES) while search_compile runs, or NULL */
static const struct imap_seqset *compile_saved;

/* saved_copy - "$": a copy of the saved UID set; false if not "$" or
 * nothing can be saved here */
static bool
saved_copy(const char *s, struct imap_seqset *set)
{
	if (strcmp(s, "$") != 0 || compile_saved == NULL)
		return false;
	set->n = compile_saved->n;
	set->sorted = compile_saved->sorted;
	set->v = xreallocarray(NULL, set->n ? set->n : 1, sizeof(*set->v));
	if (set->n)
		memcpy(set->v, compile_saved->v, set->n * sizeof(*set->v));
	return true;
}

static struct search_node *
compile_list(const struct imap_arg *a, const char **err_r, unsigned depth)
{
	struct search_node *n = node_new(SO_AND), *k, *last = NULL;

	if (depth > 32) {
		*err_r = "search too deeply nested";
		goto fail;
	}
	while (a) {
		if ((k = compile_key(&a, err_r, depth + 1)) == NULL)
			goto fail;
		if (last)
			last->next = k;
		else
			n->child = k;
		last = k;
	}
	if (n->child == NULL) {
		*err_r = "empty search";
		goto fail;
	}
	return n;
fail:
	search_free(&n);
	return NULL;
}

static struct search_node *
compile_key(const struct imap_arg **ap, const char **err_r, unsigned depth)
{
	const struct imap_arg *a = *ap;
	struct search_node *n;
	size_t i;
	bool ok = true;

	*err_r = "bad search key";
	if (a == NULL || depth > 32)
		return NULL;
	if (a->type == IMAP_ARG_LIST) {
		*ap = a->next;
		return compile_list(a->child, err_r, depth);
	}
	if (a->type != IMAP_ARG_ATOM || a->section)
		return NULL;
	*ap = a->next;
	for (i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (strcasecmp(a->s, flag_keys[i].name) == 0) {
			n = node_new(SO_FLAG);
			n->mask = flag_keys[i].mask;
			n->want = flag_keys[i].want;
			return n;
		}
	}
	for (i = 0; i < sizeof(arg_keys) / sizeof(arg_keys[0]); i++) {
		if (strcasecmp(a->s, arg_keys[i].name) != 0)
			continue;
		n = node_new(arg_keys[i].op);
		switch (n->op) {
		case SO_LARGER:
		case SO_SMALLER:
			ok = take_num(ap, n);
			break;
		case SO_BODY:
		case SO_TEXT:
			ok = take_str(ap, n);
			break;
		case SO_HEADER:
		case SO_ADDR:
			n->hname = xstrdup(a->s);
			ok = take_str(ap, n);
			break;
		default:
			ok = take_date(ap, n);
			break;
		}
		if (!ok)
			search_free(&n);
		return n;
	}
	if (strcasecmp(a->s, "ALL") == 0) {
		n = node_new(SO_CONST);
		n->value = true;
		return n;
	}
	if (strcasecmp(a->s, "RECENT") == 0 || strcasecmp(a->s, "OLD") == 0) {
		n = node_new(SO_RECENT);
		n->value = strcasecmp(a->s, "RECENT") == 0;
		return n;
	}
	if (strcasecmp(a->s, "NEW") == 0) {
		/* RECENT UNSEEN */
		n = node_new(SO_AND);
		n->child = node_new(SO_RECENT);
		n->child->value = true;
		n->child->next = node_new(SO_FLAG);
		n->child->next->mask = MF_SEEN;
		return n;
	}
	if (strcasecmp(a->s, "KEYWORD") == 0 || strcasecmp(a->s, "UNKEYWORD") == 0) {
		n = node_new(SO_KEYWORD);
		n->value = strcasecmp(a->s, "KEYWORD") == 0;
		if (*ap == NULL || (*ap)->type != IMAP_ARG_ATOM)
			search_free(&n);
		else {
			n->str = xstrdup((*ap)->s);
			*ap = (*ap)->next;
		}
		return n;
	}
	if (strcasecmp(a->s, "HEADER") == 0) {
		n = node_new(SO_HEADER);
		if (!imap_arg_astring(*ap)) {
			search_free(&n);
			return NULL;
		}
		n->hname = xstrndup((*ap)->s, (*ap)->len);
		*ap = (*ap)->next;
		if (!take_str(ap, n))
			search_free(&n);
		return n;
	}
	if (strcasecmp(a->s, "NOT") == 0) {
		n = node_new(SO_NOT);
		if ((n->child = compile_key(ap, err_r, depth + 1)) == NULL)
			search_free(&n);
		return n;
	}
	if (strcasecmp(a->s, "OR") == 0) {
		n = node_new(SO_OR);
		if ((n->child = compile_key(ap, err_r, depth + 1)) == NULL ||
		    (n->child->next = compile_key(ap, err_r, depth + 1)) == NULL)
			search_free(&n);
		return n;
	}
	if (strcasecmp(a->s, "MODSEQ") == 0) {
		n = node_new(SO_MODSEQ);
		if (!take_modseq(ap, n))
			search_free(&n);
		return n;
	}
	if (strcasecmp(a->s, "UID") == 0) {
		n = node_new(SO_UID);
		a = *ap;
		if (a == NULL || a->type != IMAP_ARG_ATOM ||
		    !(saved_copy(a->s, &n->set) ||
		    imap_seqset_parse(a->s, &n->set))) {
			search_free(&n);
			return NULL;
		}
		*ap = a->next;
		return n;
	}
	if (strcmp(a->s, "$") == 0) {
		n = node_new(SO_UID);	/* the saved messages, by UID */
		if (!saved_copy(a->s, &n->set))
			search_free(&n);
		return n;
	}
	n = node_new(SO_SEQ);
	if (!imap_seqset_parse(a->s, &n->set))
		search_free(&n);
	return n;
}

/* cost - how much a node needs: 0 the index, 1 a stat, 2 the header,
 * 3 the body */
static int
cost(const struct search_node *n)
{
	const struct search_node *k;
	int c = 0, kc;

	switch (n->op) {
	case SO_AND:
	case SO_OR:
	case SO_NOT:
		for (k = n->child; k; k = k->next)
			if ((kc = cost(k)) > c)
				c = kc;
		return c;
	case SO_LARGER:
	case SO_SMALLER:
	case SO_BEFORE:
	case SO_ON:
	case SO_SINCE:
		return 1;
	case SO_HEADER:
	case SO_ADDR:
	case SO_SENTBEFORE:
	case SO_SENTON:
	case SO_SENTSINCE:
		return 2;
	case SO_BODY:
	case SO_TEXT:
		return 3;
	default:
		return 0;
	}
}

/* count - the keys (leaves) of the tree; NOT, AND, OR nest at most 32
 * deep, so the nodes are bounded by 33 times this */
static size_t
count(const struct search_node *n)
{
	const struct search_node *k;
	size_t c = 0;

	if (n->child == NULL)
		return 1;
	for (k = n->child; k; k = k->next)
		c += count(k);
	return c;
}

/*
 * order - cheap keys first, so that AND and OR decide without reading a
 * message when they can ("UNSEEN BODY x" reads only the unseen ones).
 * Run on at most SEARCH_MAX_KEYS nodes.
 */
static void
order(struct search_node *n)
{
	struct search_node *k, *sorted = NULL, **pp, *next;

	for (k = n->child; k; k = k->next)
		order(k);
	if (n->op != SO_AND && n->op != SO_OR)
		return;
	/* insertion sort of the child list by cost, stable */
	for (k = n->child; k; k = next) {
		next = k->next;
		for (pp = &sorted; *pp && cost(*pp) <= cost(k);
		    pp = &(*pp)->next)
			;
		k->next = *pp;
		*pp = k;
	}
	n->child = sorted;
}

/*
 * search_compile - the tree of the keys; NULL with *err_r when they are
 * malformed, nest deeper than 32 or number more than SEARCH_MAX_KEYS
 * (issue 16: thousands of NOT BODY keys cost minutes on a big folder).
 */
struct search_node *
search_compile(const struct imap_arg *a, const struct imap_seqset *saved,
    const char **err_r)
{
	struct search_node *n;

	compile_saved = saved;
	n = compile_list(a, err_r, 0);
	compile_saved = NULL;
	if (n == NULL)
		return NULL;
	if (count(n) > SEARCH_MAX_KEYS) {
		*err_r = "too many search keys";
		search_free(&n);
		return NULL;
	}
	order(n);
	return n;
}

/* ---- match ---- */

/* found - is needle n (folded) in the text h, folded in place? */
static bool
found(char *h, size_t hlen, const struct search_node *n)
{
	if (n->slen == 0)
		return true;
	if (h == NULL || hlen < n->slen)
		return false;
	decode_fold(h, hlen);
	return memmem(h, hlen, n->str, n->slen) != NULL;
}

/* header_has - the decoded header text [off, end) contains n */
static bool
header_has(const char *d, size_t off, size_t end, const struct search_node *n)
{
	struct buf t;
	bool r;

	buf_init(&t, 0);
	decode_header(d + off, end - off, &t);
	r = found(buf_head(&t), t.len, n);
	buf_free(&t);
	return r;
}

/* in_segments - n in one of the NUL-ended segments of b (folded) */
static bool
in_segments(const struct buf *b, const struct search_node *n)
{
	const char *p = buf_head(b), *e, *z;

	if (n->slen == 0)
		return true;
	if (p == NULL)
		return false;
	for (e = p + b->len; p < e; p = z + 1) {
		if ((z = memchr(p, '\0', (size_t)(e - p))) == NULL)
			z = e;
		if ((size_t)(z - p) >= n->slen &&
		    memmem(p, (size_t)(z - p), n->str, n->slen) != NULL)
			return true;
	}
	return false;
}

/* seg_end - fold the segment started at `from`, end it with a NUL */
static void
seg_end(struct buf *b, size_t from)
{
	if (b->len > from)
		decode_fold(buf_head(b) + from, b->len - from);
	(void)buf_append(b, "", 1);
}

/*
 * body_text - each text part of p's body decoded into b, one segment
 * each; an attached message's header counts as text too.
 */
static void
body_text(const struct mime_msg *m, const struct mime_part *p, struct buf *b,
    unsigned depth)
{
	char charset[64], cte[64];
	const struct mime_part *k;
	size_t from = b->len;

	if (depth > MIME_MAX_DEPTH)
		return;
	if (p->multipart) {
		for (k = p->child; k; k = k->next)
			body_text(m, k, b, depth + 1);
		return;
	}
	if (p->message && p->child) {
		decode_header(m->data + p->child->hdr_off,
		    p->child->body_off - p->child->hdr_off, b);
		seg_end(b, from);
		body_text(m, p->child, b, depth + 1);
		return;
	}
	if (strcmp(p->type, "text") != 0)
		return;
	mime_part_coding(m, p, charset, sizeof(charset), cte, sizeof(cte));
	decode_body(m->data + p->body_off, p->body_end - p->body_off, cte,
	    charset, b);
	seg_end(b, from);
}

static void
ctx_release(struct sctx *c)
{
	mime_free(&c->m);
	if (c->full)
		store_unmap(c->data, c->len);
	free(c->owned);
	c->owned = NULL;
	c->data = NULL;
}

/* ctx_load - the message for content keys; headers only when enough
 * (the whole file is mapped, the header block comes from the cache) */
static bool
ctx_load(struct sctx *c, bool full)
{
	if (c->loaded && (c->full || !full))
		return c->m != NULL;
	ctx_release(c);
	c->loaded = true;
	c->full = full;
	c->data = full ? store_map(c->f, c->idx, &c->len) :
	    store_header(c->f, c->idx, &c->len, &c->owned);
	c->m = c->data ? mime_parse(c->data, c->len) : NULL;
	return c->m != NULL;
}

/*
 * header_match - n in any occurrence of its header (RFC 3501 6.4.4:
 * HEADER, SUBJECT); for FROM, TO, CC, BCC in the parsed addresses as
 * "Name <local@domain>", comments and groups understood.
 */
static bool
header_match(struct sctx *c, const struct search_node *n)
{
	struct imap_addrs a;
	struct buf v, t;
	size_t pos = 0, end = c->m->root->body_off;
	bool r = false;

	buf_init(&v, 1 << 20);
	while (!r && mime_header_next(c->data, &pos, end, n->hname, &v)) {
		if (n->op != SO_ADDR) {
			r = header_has(buf_head(&v) ? buf_head(&v) : "", 0,
			    v.len, n);
			continue;
		}
		buf_init(&t, 1 << 20);
		imap_addr_parse(buf_head(&v) ? buf_head(&v) : "", v.len, &a);
		imap_addr_text(&a, &t);
		imap_addr_free(&a);
		r = header_has(buf_head(&t) ? buf_head(&t) : "", 0, t.len, n);
		buf_free(&t);
	}
	buf_free(&v);
	return r;
}

static int64_t
day_of(int64_t t)
{
	return t - ((t % 86400) + 86400) % 86400;
}

static bool
eval(struct search_node *n, struct sctx *c)
{
	struct store_msg *m = &c->f->v[c->idx];
	struct search_node *k;
	struct buf v;
	int64_t d;
	bool r;

	switch (n->op) {
	case SO_AND:
		for (k = n->child; k; k = k->next)
			if (!eval(k, c))
				return false;
		return true;
	case SO_OR:
		return eval(n->child, c) || eval(n->child->next, c);
	case SO_NOT:
		return !eval(n->child, c);
	case SO_CONST:
		return n->value;
	case SO_RECENT:
		return c->recent == n->value;
	case SO_KEYWORD:
		/* a keyword the folder never defined is on no message */
		if (!n->resolved) {
			n->kwbit = store_kw_bit(c->f, n->str, false);
			n->resolved = true;
		}
		return ((m->kw & n->kwbit) != 0) == n->value;
	case SO_FLAG:
		return (m->flags & n->mask) == n->want;
	case SO_MODSEQ:
		return m->modseq >= n->num;
	case SO_SEQ:
		return imap_seqset_has(&n->set, c->seq, c->maxseq);
	case SO_UID:
		return imap_seqset_has(&n->set, m->uid,
		    c->f->n ? c->f->v[c->f->n - 1].uid : 0);
	case SO_LARGER:
		return store_msg_size(c->f, c->idx, NULL, 0) > n->num;
	case SO_SMALLER:
		return store_msg_size(c->f, c->idx, NULL, 0) < n->num;
	case SO_BEFORE:
		return day_of(store_msg_itime(c->f, c->idx)) < n->date;
	case SO_ON:
		return day_of(store_msg_itime(c->f, c->idx)) == n->date;
	case SO_SINCE:
		return day_of(store_msg_itime(c->f, c->idx)) >= n->date;
	default:
		break;
	}
	if (!ctx_load(c, n->op == SO_BODY || n->op == SO_TEXT))
		return false;
	switch (n->op) {
	case SO_TEXT:
		if (!c->hdr_done) {
			decode_header(c->data, c->m->root->body_off, &c->hdr_text);
			seg_end(&c->hdr_text, 0);
			c->hdr_done = true;
		}
		if (in_segments(&c->hdr_text, n))
			return true;
		/* FALLTHROUGH */
	case SO_BODY:
		if (!c->body_done) {
			body_text(c->m, c->m->root, &c->body_text, 0);
			c->body_done = true;
		}
		return in_segments(&c->body_text, n);
	case SO_HEADER:
	case SO_ADDR:
		return header_match(c, n);
	default:
		break;
	}
	buf_init(&v, 1 << 20);
	r = mime_header_get(c->data, 0, c->m->root->body_off, "Date", &v);
	d = r ? sent_day(buf_head(&v) ? buf_head(&v) : "") : -1;
	r = d != -1 && (n->op == SO_SENTBEFORE ? d < n->date :
	    n->op == SO_SENTON ? d == n->date : d >= n->date);
	buf_free(&v);
	return r;
}

bool
search_match(struct search_node *n, struct store_folder *f, size_t idx,
    uint32_t seq, uint32_t maxseq, bool recent)
{
	struct sctx c;
	bool r;

	memset(&c, 0, sizeof(c));
	c.f = f;
	c.idx = idx;
	c.seq = seq;
	c.maxseq = maxseq;
	c.recent = recent;
	/* the body text is bounded by decode_body (DECODE_MAX_BODY a part) */
	buf_init(&c.hdr_text, 0);
	buf_init(&c.body_text, 0);
	r = eval(n, &c);
	ctx_release(&c);
	buf_free(&c.hdr_text);
	buf_free(&c.body_text);
	return r;
}
