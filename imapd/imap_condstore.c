/* SPDX-License-Identifier: ISC */
/*
 * imap_condstore.c - CONDSTORE and QRESYNC (RFC 7162): ENABLE, the
 * SELECT/EXAMINE parameters, VANISHED (EARLIER), the flags of messages
 * expunged by another session but not announced to this one (ghosts),
 * and UID sets as text.
 *
 * Runs in a worker as `user`, on the selected folder's shared index;
 * modseqs and tombstones come from the store (store_modseq.c).  Bad
 * arguments get BAD; nothing here touches a file.
 *
 * VANISHED (EARLIER) after a modseq lists the tombstones above it; when
 * the store has forgotten expunges that old (it keeps STORE_TOMBS), it
 * lists every UID of the range below UIDNEXT that is not in the folder,
 * which RFC 7162 3.2.5.1 allows.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "strnum.h"
#include "xmem.h"

/* ---- UID sets ---- */

void
uidset_init(struct uidset *u)
{
	buf_init(&u->b, 0);
	u->last = u->start = 0;
}

static void
uidset_close(struct uidset *u)
{
	if (u->last && u->last != u->start)
		buf_printf(&u->b, ":%u", u->last);
}

void
uidset_add(struct uidset *u, uint32_t uid)
{
	if (u->last && uid == u->last + 1) {
		u->last = uid;
		return;
	}
	uidset_close(u);
	buf_printf(&u->b, "%s%u", u->b.len ? "," : "", uid);
	u->start = u->last = uid;
}

/* uidset_range - add lo:hi (ascending after what is there) */
static void
uidset_range(struct uidset *u, uint32_t lo, uint32_t hi)
{
	if (lo > hi)
		return;
	uidset_add(u, lo);
	u->last = hi;
}

const char *
uidset_text(struct uidset *u)
{
	uidset_close(u);
	u->start = u->last = 0;
	return u->b.len ? buf_head(&u->b) : "";
}

void
uidset_free(struct uidset *u)
{
	buf_free(&u->b);
}

void
session_vanished(struct imap_session *s, struct uidset *u, bool earlier)
{
	struct buf b;

	if (u->b.len == 0)
		return;
	buf_init(&b, 0);
	buf_printf(&b, "* VANISHED %s%s\r\n", earlier ? "(EARLIER) " : "",
	    uidset_text(u));
	session_write_buf(s, &b);
	buf_free(&b);
}

/* ---- ENABLE ---- */

/*
 * resp_modseq - the [HIGHESTMODSEQ] response code takes a positive value
 * (RFC 7162 7: mod-sequence-value); a folder nothing changed in yet (0)
 * says 1, as Dovecot does; STATUS may say 0 (mod-sequence-valzer)
 */
static uint64_t
resp_modseq(uint64_t m)
{
	return m ? m : 1;
}

void
condstore_on(struct imap_session *s)
{
	if (s->condstore)
		return;
	s->condstore = true;
	/* RFC 7162 3.1: enabled in the selected state, HIGHESTMODSEQ now */
	if (s->state == SS_SELECTED && s->f)
		session_reply(s, "* OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)resp_modseq(s->f->modseq));
}

void
cmd_enable(struct imap_session *s, const struct imap_cmd *c)
{
	const struct imap_arg *a;
	struct buf b;
	bool was;

	if (c->args == NULL) {
		session_tagged(s, "BAD ENABLE capability...");
		return;
	}
	for (a = c->args; a; a = a->next) {
		if (a->type != IMAP_ARG_ATOM) {
			session_tagged(s, "BAD ENABLE capability...");
			return;
		}
	}
	was = s->condstore;
	buf_init(&b, 0);
	buf_puts(&b, "* ENABLED");
	for (a = c->args; a; a = a->next) {
		/* RFC 5161 3.1: only what was not enabled before */
		if (imap_arg_is(a, "CONDSTORE") && !s->condstore) {
			s->condstore = true;
			buf_puts(&b, " CONDSTORE");
		} else if (imap_arg_is(a, "QRESYNC") && !s->qresync) {
			s->qresync = s->condstore = true;
			buf_puts(&b, " QRESYNC");
		} else if (imap_arg_is(a, "IMAP4rev2") && !s->rev2) {
			s->rev2 = true;	/* RFC 9051 6.3.1 */
			buf_puts(&b, " IMAP4rev2");
		}
	}
	buf_puts(&b, "\r\n");
	session_write_buf(s, &b);
	buf_free(&b);
	if (!was && s->condstore) {
		s->condstore = false;
		condstore_on(s);	/* HIGHESTMODSEQ if selected */
	}
	session_tagged(s, "OK ENABLE completed");
}

/* ---- SELECT (CONDSTORE) and (QRESYNC (...)) ---- */

struct qresync_args {
	uint32_t	 uidvalidity;
	uint64_t	 modseq;
	struct imap_seqset known;	/* known-uids, n == 0: all */
};

static bool
arg_num(const struct imap_arg *a, uint64_t min, uint64_t max, uint64_t *n_r)
{
	const char *err;

	if (a == NULL || a->type != IMAP_ARG_ATOM || a->section)
		return false;
	*n_r = (uint64_t)strnum(a->s, (long long)min, (long long)max, &err);
	return err == NULL;
}

static bool
qresync_parse(const struct imap_arg *l, struct qresync_args *q)
{
	const struct imap_arg *a = l->child, *m;
	uint64_t v;

	/* (uidvalidity modseq [known-uids [(seqs uids)]]) */
	if (l->type != IMAP_ARG_LIST || !arg_num(a, 1, UINT32_MAX, &v))
		return false;
	q->uidvalidity = (uint32_t)v;
	if (!arg_num(a = a->next, 1, INT64_MAX, &q->modseq))
		return false;
	if ((a = a->next) == NULL)
		return true;
	if (a->type == IMAP_ARG_ATOM) {
		if (a->section || !imap_seqset_parse(a->s, &q->known))
			return false;
		a = a->next;
	}
	if (a == NULL)
		return true;
	/* the sequence match data only helps a server that forgot
	 * expunges: checked, not used */
	m = a->child;
	return a->type == IMAP_ARG_LIST && a->next == NULL && m &&
	    m->type == IMAP_ARG_ATOM && m->next &&
	    m->next->type == IMAP_ARG_ATOM && m->next->next == NULL;
}

void
qresync_args_free(struct qresync_args **qp)
{
	if (*qp == NULL)
		return;
	imap_seqset_free(&(*qp)->known);
	free(*qp);
	*qp = NULL;
}

bool
condstore_select_args(struct imap_session *s, const struct imap_arg *a,
    struct qresync_args **q_r)
{
	const struct imap_arg *p;
	struct qresync_args *q = NULL;

	*q_r = NULL;
	if (a == NULL)
		return true;
	if (a->type != IMAP_ARG_LIST || a->next != NULL)
		goto bad;
	for (p = a->child; p; p = p->next) {
		if (imap_arg_is(p, "CONDSTORE"))
			s->condstore = true;
		else if (imap_arg_is(p, "QRESYNC") && q == NULL && p->next) {
			/* RFC 7162 3.2.5: only once QRESYNC is enabled */
			if (!s->qresync) {
				session_tagged(s, "BAD QRESYNC not enabled");
				return false;
			}
			q = xcalloc(1, sizeof(*q));
			p = p->next;
			if (!qresync_parse(p, q))
				goto bad;
		} else
			goto bad;
	}
	*q_r = q;
	return true;
bad:
	qresync_args_free(&q);
	session_tagged(s, "BAD bad SELECT parameters");
	return false;
}

/* put_fetch_changed - FETCH (UID FLAGS MODSEQ) for view index i */
static void
put_fetch_changed(struct imap_session *s, struct buf *b, size_t i,
    const struct store_msg *m)
{
	buf_printf(b, "* %zu FETCH (UID %u ", i + 1, m->uid);
	session_put_flags(s, b, m);
	buf_printf(b, " MODSEQ (%llu))\r\n", (unsigned long long)m->modseq);
}

void
condstore_select_end(struct imap_session *s, struct qresync_args *q)
{
	struct store_folder *f = s->f;
	struct buf b;
	size_t i;
	ssize_t fi;
	uint32_t star;

	if (s->condstore)
		session_reply(s, "* OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)resp_modseq(f->modseq));
	if (q == NULL || q->uidvalidity != f->uidvalidity)
		goto done;
	condstore_vanished_earlier(s, q->known.n ? &q->known : NULL,
	    q->modseq);
	buf_init(&b, 0);
	star = s->nview ? s->view[s->nview - 1] : 0;
	for (i = 0; i < s->nview; i++) {
		if (q->known.n && !imap_seqset_has(&q->known, s->view[i], star))
			continue;
		if ((fi = store_find(f, s->view[i])) < 0 ||
		    f->v[fi].modseq <= q->modseq)
			continue;
		put_fetch_changed(s, &b, i, &f->v[fi]);
		if (b.len > 65536)
			session_write_buf(s, &b);
	}
	session_write_buf(s, &b);
	buf_free(&b);
done:
	qresync_args_free(&q);
}

/* ---- VANISHED (EARLIER) ---- */

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* vanished_all - every UID of set (NULL: all) below UIDNEXT not in f:
 * the set's ranges resolved, sorted and walked beside the index */
static void
vanished_all(struct store_folder *f, const struct imap_seqset *set,
    uint32_t star, struct uidset *u)
{
	struct imap_range all, *r;
	uint32_t top = f->uidnext ? f->uidnext - 1 : 0, lo, hi, uid, t;
	size_t i, k = 0, nr = set ? set->n : 1;

	all.lo = 1;
	all.hi = top;
	r = xreallocarray(NULL, nr, sizeof(*r));
	for (i = 0; i < nr; i++) {
		r[i] = set ? set->v[i] : all;
		if (r[i].lo == 0)
			r[i].lo = star;
		if (r[i].hi == 0)
			r[i].hi = star;
		if (r[i].lo > r[i].hi) {
			t = r[i].lo;
			r[i].lo = r[i].hi;
			r[i].hi = t;
		}
	}
	qsort(r, nr, sizeof(*r), range_cmp);
	for (i = 0, uid = 1; i < nr; i++) {
		lo = r[i].lo > uid ? r[i].lo : uid;
		hi = r[i].hi < top ? r[i].hi : top;
		if (lo == 0 || lo > hi)
			continue;
		while (k < f->n && f->v[k].uid < lo)
			k++;
		for (uid = lo; uid <= hi;) {
			if (k < f->n && f->v[k].uid == uid) {
				k++;
				uid++;
				continue;
			}
			t = k < f->n && f->v[k].uid <= hi ? f->v[k].uid - 1 : hi;
			uidset_range(u, uid, t);
			uid = t + 1;
			if (uid == 0)
				break;
		}
		if (uid == 0 || hi == UINT32_MAX)
			break;
		uid = hi + 1;
	}
	free(r);
}

void
condstore_vanished_earlier(struct imap_session *s,
    const struct imap_seqset *set, uint64_t since)
{
	struct store_folder *f = s->f;
	struct uidset u;
	uint32_t *v = NULL, star = f->uidnext ? f->uidnext - 1 : 0;
	size_t i, n = 0;

	uidset_init(&u);
	if (!store_vanished_known(f, since))
		vanished_all(f, set, star, &u);
	else {
		v = xreallocarray(NULL, f->ntomb + 1, sizeof(*v));
		for (i = 0; i < f->ntomb; i++)
			if (f->tomb[i].modseq > since && (set == NULL ||
			    imap_seqset_has(set, f->tomb[i].uid, star)))
				v[n++] = f->tomb[i].uid;
		qsort(v, n, sizeof(*v), u32_cmp);
		for (i = 0; i < n; i++)
			if (i == 0 || v[i] != v[i - 1])
				uidset_add(&u, v[i]);
		free(v);
	}
	session_vanished(s, &u, true);
	uidset_free(&u);
}

/* ---- ghosts: expunged elsewhere, not announced here ---- */

bool
session_msg(struct imap_session *s, uint32_t uid, ssize_t fi,
    struct store_msg *out)
{
	const struct store_tomb *t = NULL;
	size_t i;

	if (fi >= 0) {
		*out = s->f->v[fi];
		return true;
	}
	memset(out, 0, sizeof(*out));
	out->uid = uid;
	for (i = 0; i < s->nghost && t == NULL; i++)
		if (s->ghost[i].uid == uid)
			t = &s->ghost[i];
	if (t == NULL)
		t = store_tomb_find(s->f, uid);
	if (t == NULL) {	/* forgotten: no flags, changed now */
		out->modseq = s->f->modseq;
		return false;
	}
	out->flags = t->flags;
	out->kw = t->kw;
	out->modseq = t->modseq;
	return true;
}

void
session_ghost_set(struct imap_session *s, const struct store_msg *m)
{
	size_t i;

	for (i = 0; i < s->nghost; i++)
		if (s->ghost[i].uid == m->uid)
			break;
	if (i == s->nghost) {
		if (s->nghost == s->capghost) {
			s->capghost = s->capghost ? s->capghost * 2 : 8;
			s->ghost = xreallocarray(s->ghost, s->capghost,
			    sizeof(*s->ghost));
		}
		s->nghost++;
	}
	s->ghost[i].uid = m->uid;
	s->ghost[i].flags = m->flags & MF_FILE;
	s->ghost[i].kw = m->kw;
	s->ghost[i].modseq = m->modseq;
}

void
session_ghosts_clear(struct imap_session *s)
{
	free(s->ghost);
	s->ghost = NULL;
	s->nghost = s->capghost = 0;
}
