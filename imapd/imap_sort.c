/* SPDX-License-Identifier: ISC */
/*
 * imap_sort.c - SORT and UID SORT (RFC 5256 3) with SORT=DISPLAY (RFC
 * 5957) and ESORT's RETURN (MIN MAX ALL COUNT) (RFC 5267 3), and the
 * job SORT and THREAD run in (imap_sort.h).
 *
 * Runs in a worker as `user`, on the selected folder.  Keys come from
 * the header cache (store_header(): a message file is read only the
 * first time), strings are cut at SORTKEY_MAX bytes, so memory is
 * about 20 bytes per matching message and key plus the string keys.
 * The job reads at most SORT_BATCH messages or SORT_SLICE_MS
 * milliseconds, then yields to the worker's other sessions.  Ties are
 * broken by sequence number (RFC 5256 3); strings compare as
 * i;ascii-casemap (upper-cased bytes).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_sort.h"
#include "imap_sortkey.h"
#include "xmem.h"

#define SORT_BATCH	4096	/* messages per slice at most */
#define SORT_SLICE_MS	20	/* then the other sessions get a turn */
#define SORT_MAX_CRIT	16

enum skey {
	SK_ARRIVAL, SK_CC, SK_DATE, SK_FROM, SK_SIZE, SK_SUBJECT, SK_TO,
	SK_DISPLAYFROM, SK_DISPLAYTO,
};

static const struct {
	const char	*name;
	enum skey	 k;
	bool		 str;
	const char	*field;
} sort_keys[] = {
	{ "ARRIVAL", SK_ARRIVAL, false, NULL },
	{ "CC", SK_CC, true, "Cc" },
	{ "DATE", SK_DATE, false, NULL },
	{ "FROM", SK_FROM, true, "From" },
	{ "SIZE", SK_SIZE, false, NULL },
	{ "SUBJECT", SK_SUBJECT, true, "Subject" },
	{ "TO", SK_TO, true, "To" },
	{ "DISPLAYFROM", SK_DISPLAYFROM, true, "From" },
	{ "DISPLAYTO", SK_DISPLAYTO, true, "To" },
};

#define ESR_MIN		0x1
#define ESR_MAX		0x2
#define ESR_ALL		0x4
#define ESR_COUNT	0x8
#define ESR_SAVE	0x10	/* RFC 5182 SEARCHRES */
#define ESR_PARTIAL	0x40	/* RFC 5267 CONTEXT=SORT */
#define ESR_UPDATE	0x80

struct sort_ctx {
	struct {
		unsigned k;	/* index in sort_keys */
		bool	 rev;
	}		 crit[SORT_MAX_CRIT];
	unsigned	 ncrit;
	unsigned	 ret;		/* ESORT RETURN options, 0: SORT */
	uint32_t	 plo, phi;	/* PARTIAL lo:hi */
	bool		 esort;
	uint32_t	*num;		/* what is reported: seq or UID */
	uint32_t	*seq;		/* the tie-breaker */
	int64_t		*key;		/* n * ncrit values; strings:
					 * arena offset << 8 | length */
	size_t		 n, cap;
	struct buf	 arena;
	struct buf	 val;		/* scratch: a header value */
};

/* ---- the job ---- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool
sort_header(const struct sort_msg *m, const char *name, struct buf *v)
{
	if (m->hdr == NULL) {
		buf_reset(v);
		return false;
	}
	return mime_header_get(m->hdr, 0, m->hlen, name, v);
}

int64_t
sort_sent_date(struct imap_session *s, const struct sort_msg *m,
    struct buf *tmp)
{
	int64_t t;

	if (sort_header(m, "Date", tmp) && sortkey_date(buf_head(tmp) ?
	    buf_head(tmp) : "", tmp->len, &t))
		return t;
	return store_msg_itime(s->f, m->fi);
}

bool
sort_search_args(struct imap_session *s, const struct imap_arg *a,
    struct sort_job *j)
{
	const char *cs = cmd_arg_str(a), *err;
	struct imap_seqset saved;

	if (cs == NULL) {
		session_tagged(s, "BAD charset and search keys expected");
		return false;
	}
	if (strcasecmp(cs, "UTF-8") != 0 && strcasecmp(cs, "US-ASCII") != 0) {
		session_tagged(s, "NO [BADCHARSET (UTF-8 US-ASCII)] "
		    "unsupported charset");
		return false;
	}
	saved_set(s, true, &saved);
	j->search = search_compile(a->next, &saved, &err);
	imap_seqset_free(&saved);
	if (j->search == NULL) {
		session_tagged(s, "BAD %s", err);
		return false;
	}
	return true;
}

void
cmd_sort_free(struct imap_session *s)
{
	struct sort_job *j = s->sort;

	if (j == NULL)
		return;
	search_free(&j->search);
	if (j->free)
		j->free(j);
	free(j);
	s->sort = NULL;
}

/* job_one - view index i: matched, read and handed to the callback */
static void
job_one(struct imap_session *s, struct sort_job *j, size_t i)
{
	struct sort_msg m;
	ssize_t fi;
	char *owned = NULL;

	if ((fi = store_find(s->f, s->view[i])) < 0)
		return;
	if (!search_match(j->search, s->f, (size_t)fi, (uint32_t)(i + 1),
	    (uint32_t)s->nview, session_is_recent(s, s->view[i])))
		return;
	memset(&m, 0, sizeof(m));
	m.seq = (uint32_t)(i + 1);
	m.uid = s->view[i];
	m.fi = (size_t)fi;
	if (j->need_hdr && (m.hdr = store_header(s->f, m.fi, &m.hlen,
	    &owned)) == NULL)
		return;		/* vanished: the next update says so */
	j->each(s, j, &m);
	free(owned);
}

/* job_run - one slice; true when the view is done */
static bool
job_run(struct imap_session *s, struct sort_job *j)
{
	uint64_t start = now_ms();
	size_t k;

	for (k = 0; j->pos < s->nview; k++) {
		if (k == SORT_BATCH || ((k & 63) == 63 &&
		    now_ms() - start >= SORT_SLICE_MS))
			return false;
		job_one(s, j, j->pos++);
	}
	return true;
}

void
cmd_sort_resume(struct imap_session *s)
{
	struct sort_job *j = s->sort;

	if (j == NULL)
		return;
	if (s->f != NULL && !job_run(s, j)) {
		ev_timer_add(&s->timer, 0);
		return;
	}
	if (s->f != NULL)
		j->done(s, j);
	cmd_sort_free(s);
	if (s->wait == SW_JOB) {
		s->wait = SW_NONE;
		conn_pause(&s->conn, false);
		session_continue(s);
	}
}

void
sort_job_start(struct imap_session *s, struct sort_job *j)
{
	cmd_sort_free(s);
	s->sort = j;
	if (job_run(s, j)) {
		j->done(s, j);
		cmd_sort_free(s);
		return;
	}
	s->wait = SW_JOB;
	ev_timer_add(&s->timer, 0);
}

/* ---- SORT ---- */

static void
sort_ctx_free(struct sort_job *j)
{
	struct sort_ctx *x = j->ctx;

	if (x == NULL)
		return;
	free(x->num);
	free(x->seq);
	free(x->key);
	buf_free(&x->arena);
	buf_free(&x->val);
	free(x);
	j->ctx = NULL;
}

/* str_key - the key of a string criterion of m into the arena */
static int64_t
str_key(struct sort_ctx *x, const struct sort_msg *m, unsigned k)
{
	size_t at = x->arena.len;

	if (sort_header(m, sort_keys[k].field, &x->val)) {
		const char *v = buf_head(&x->val) ? buf_head(&x->val) : "";

		if (sort_keys[k].k == SK_SUBJECT)
			(void)sortkey_subject(v, x->val.len, &x->arena);
		else
			sortkey_addr(v, x->val.len, sort_keys[k].k ==
			    SK_DISPLAYFROM || sort_keys[k].k == SK_DISPLAYTO,
			    &x->arena);
	}
	return (int64_t)((uint64_t)at << 8 | (x->arena.len - at));
}

static void
sort_each(struct imap_session *s, struct sort_job *j, const struct sort_msg *m)
{
	struct sort_ctx *x = j->ctx;
	int64_t *kv;
	unsigned c, k;

	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 256;
		x->num = xreallocarray(x->num, x->cap, sizeof(*x->num));
		x->seq = xreallocarray(x->seq, x->cap, sizeof(*x->seq));
		x->key = xreallocarray(x->key, x->cap * x->ncrit,
		    sizeof(*x->key));
	}
	x->num[x->n] = j->uid ? m->uid : m->seq;
	x->seq[x->n] = m->seq;
	kv = &x->key[x->n * x->ncrit];
	for (c = 0; c < x->ncrit; c++) {
		k = x->crit[c].k;
		switch (sort_keys[k].k) {
		case SK_ARRIVAL:
			kv[c] = store_msg_itime(s->f, m->fi);
			break;
		case SK_SIZE:
			kv[c] = store_msg_size(s->f, m->fi, NULL, 0);
			break;
		case SK_DATE:
			kv[c] = sort_sent_date(s, m, &x->val);
			break;
		default:
			kv[c] = str_key(x, m, k);
			break;
		}
	}
	x->n++;
}

/* qsort has no context argument in C11: the SORT being ordered */
static const struct sort_ctx *sorting;

static int
cmp_rec(const void *a, const void *b)
{
	const struct sort_ctx *x = sorting;
	size_t i = *(const uint32_t *)a, k = *(const uint32_t *)b;
	const int64_t *ka = &x->key[i * x->ncrit], *kb = &x->key[k * x->ncrit];
	const char *ar = buf_head(&x->arena);
	size_t la, lb;
	unsigned c;
	int r;

	for (c = 0; c < x->ncrit; c++) {
		if (sort_keys[x->crit[c].k].str) {
			la = (size_t)ka[c] & 0xff;
			lb = (size_t)kb[c] & 0xff;
			r = memcmp(ar + ((uint64_t)ka[c] >> 8),
			    ar + ((uint64_t)kb[c] >> 8), la < lb ? la : lb);
			if (r == 0)
				r = la < lb ? -1 : la > lb;
		} else
			r = ka[c] < kb[c] ? -1 : ka[c] > kb[c];
		if (r != 0)
			return x->crit[c].rev ? -r : r;
	}
	return x->seq[i] < x->seq[k] ? -1 : x->seq[i] > x->seq[k];
}

/* put_set - numbers in the given order as a sequence-set, ascending
 * runs joined ("1:3,7,5") */
static void
put_set(struct buf *b, const uint32_t *v, size_t n)
{
	size_t i, st;

	for (i = 0; i < n; i = st) {
		for (st = i + 1; st < n && v[st] == v[st - 1] + 1; st++)
			;
		buf_printf(b, "%s%u", i ? "," : "", v[i]);
		if (st - 1 > i)
			buf_printf(b, ":%u", v[st - 1]);
	}
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* sort_save - RETURN (SAVE): the UIDs found, or with MIN or MAX alone
 * only those (RFC 5182 2.4), kept in ascending order */
static void
sort_save(struct imap_session *s, struct sort_job *j)
{
	struct sort_ctx *x = j->ctx;
	uint32_t *v = xreallocarray(NULL, x->n ? x->n : 1, sizeof(*v));
	size_t i, n = 0;
	bool mm = (x->ret & (ESR_MIN | ESR_MAX)) &&
	    !(x->ret & (ESR_ALL | ESR_COUNT));

	for (i = 0; i < x->n; i++) {
		if (mm && !((i == 0 && (x->ret & ESR_MIN)) ||
		    (i == x->n - 1 && (x->ret & ESR_MAX))))
			continue;
		v[n++] = j->uid ? x->seq[i] : s->view[x->seq[i] - 1];
	}
	qsort(v, n, sizeof(*v), uid_cmp);
	saved_put(s, v, n);
}

static void
sort_done(struct imap_session *s, struct sort_job *j)
{
	struct sort_ctx *x = j->ctx;
	uint32_t *ord = NULL;
	struct buf b;
	size_t i;

	if (x->n) {
		ord = xreallocarray(NULL, x->n, sizeof(*ord));
		for (i = 0; i < x->n; i++)
			ord[i] = (uint32_t)i;
		sorting = x;
		qsort(ord, x->n, sizeof(*ord), cmp_rec);
		sorting = NULL;
		/* reuse seq[] for the reported numbers in order */
		for (i = 0; i < x->n; i++)
			x->seq[i] = x->num[ord[i]];
		free(ord);
	}
	if (x->ret & ESR_SAVE)
		sort_save(s, j);
	buf_init(&b, 0);
	if (x->ret == ESR_SAVE)
		;	/* SAVE alone: no ESEARCH (RFC 5182 2.1) */
	else if (!x->esort) {
		buf_puts(&b, "* SORT");
		for (i = 0; i < x->n; i++)
			buf_printf(&b, " %u", x->seq[i]);
	} else {
		buf_puts(&b, "* ESEARCH (TAG ");
		imap_put_string(&b, s->tag, strlen(s->tag));
		buf_puts(&b, ")");
		if (j->uid)
			buf_puts(&b, " UID");
		if ((x->ret & ESR_MIN) && x->n)
			buf_printf(&b, " MIN %u", x->seq[0]);
		if ((x->ret & ESR_MAX) && x->n)
			buf_printf(&b, " MAX %u", x->seq[x->n - 1]);
		if ((x->ret & ESR_ALL) && x->n) {
			buf_puts(&b, " ALL ");
			put_set(&b, x->seq, x->n);
		}
		if (x->ret & ESR_COUNT)
			buf_printf(&b, " COUNT %zu", x->n);
		if (x->ret & ESR_PARTIAL) {
			/* positions plo..phi of the sorted result */
			buf_printf(&b, " PARTIAL (%u:%u ", x->plo, x->phi);
			if (x->plo <= x->n)
				put_set(&b, x->seq + x->plo - 1, (x->phi < x->n ?
				    x->phi : x->n) - x->plo + 1);
			else
				buf_puts(&b, "NIL");
			buf_puts(&b, ")");
		}
	}
	if (b.len)
		buf_puts(&b, "\r\n");
	/* RFC 5267 4.5: a sorted result is not kept up to date here */
	if (x->ret & ESR_UPDATE)
		buf_printf(&b, "* NO [NOUPDATE \"%s\"] SORT results are not "
		    "kept up to date\r\n", s->tag);
	session_write_buf(s, &b);
	buf_free(&b);
	session_tagged(s, "OK %sSORT completed", j->uid ? "UID " : "");
}

/* sort_return - ESORT "RETURN (...)" (RFC 5267 3.2); false if malformed */
static bool
sort_return(const struct imap_arg **ap, struct sort_ctx *x)
{
	const struct imap_arg *a = *ap, *o;

	if (!imap_arg_is(a, "RETURN"))
		return true;
	if (a->next == NULL || a->next->type != IMAP_ARG_LIST)
		return false;
	x->esort = true;
	for (o = a->next->child; o; o = o->next) {
		if (imap_arg_is(o, "MIN"))
			x->ret |= ESR_MIN;
		else if (imap_arg_is(o, "MAX"))
			x->ret |= ESR_MAX;
		else if (imap_arg_is(o, "ALL"))
			x->ret |= ESR_ALL;
		else if (imap_arg_is(o, "COUNT"))
			x->ret |= ESR_COUNT;
		else if (imap_arg_is(o, "UPDATE"))
			x->ret |= ESR_UPDATE;
		else if (imap_arg_is(o, "SAVE"))
			x->ret |= ESR_SAVE;
		else if (imap_arg_is(o, "CONTEXT"))
			;	/* a hint (RFC 5267 4.2) */
		else if (imap_arg_is(o, "PARTIAL") && o->next &&
		    o->next->type == IMAP_ARG_ATOM &&
		    !(x->ret & ESR_PARTIAL) &&
		    imap_partial_parse(o->next->s, &x->plo, &x->phi)) {
			x->ret |= ESR_PARTIAL;
			o = o->next;
		} else
			return false;
	}
	if ((x->ret & ~(unsigned)(ESR_UPDATE | ESR_SAVE)) == 0 &&
	    x->ret != ESR_SAVE)
		x->ret |= ESR_ALL;
	*ap = a->next->next;
	return true;
}

/* sort_criteria - "(REVERSE SUBJECT DATE ...)" into x; false if bad */
static bool
sort_criteria(const struct imap_arg *a, struct sort_ctx *x)
{
	const struct imap_arg *k;
	size_t i;
	bool rev = false;

	if (a == NULL || a->type != IMAP_ARG_LIST || a->child == NULL)
		return false;
	for (k = a->child; k; k = k->next) {
		if (k->type != IMAP_ARG_ATOM || k->section)
			return false;
		if (strcasecmp(k->s, "REVERSE") == 0) {
			if (rev)
				return false;
			rev = true;
			continue;
		}
		for (i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++)
			if (strcasecmp(k->s, sort_keys[i].name) == 0)
				break;
		if (i == sizeof(sort_keys) / sizeof(sort_keys[0]) ||
		    x->ncrit == SORT_MAX_CRIT)
			return false;
		x->crit[x->ncrit].k = (unsigned)i;
		x->crit[x->ncrit++].rev = rev;
		rev = false;
	}
	return !rev;
}

void
cmd_sort(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	const struct imap_arg *a = c->args;
	struct sort_job *j = xcalloc(1, sizeof(*j));
	struct sort_ctx *x = xcalloc(1, sizeof(*x));
	unsigned i;

	j->ctx = x;
	j->free = sort_ctx_free;
	j->uid = uid;
	j->each = sort_each;
	j->done = sort_done;
	buf_init(&x->arena, 0);
	buf_init(&x->val, 1 << 20);
	if (!sort_return(&a, x)) {
		session_tagged(s, "BAD bad RETURN options");
		goto fail;
	}
	if (!sort_criteria(a, x)) {
		session_tagged(s, "BAD bad sort criteria");
		goto fail;
	}
	if (!sort_search_args(s, a->next, j))
		goto fail;
	for (i = 0; i < x->ncrit; i++)
		if (sort_keys[x->crit[i].k].str ||
		    sort_keys[x->crit[i].k].k == SK_DATE)
			j->need_hdr = true;
	sort_job_start(s, j);
	return;
fail:
	if (x->ret & ESR_SAVE)	/* RFC 5182 2.1: a failed SAVE empties "$" */
		saved_clear(s);
	search_free(&j->search);
	sort_ctx_free(j);
	free(j);
}
