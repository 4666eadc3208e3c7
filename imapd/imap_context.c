/* SPDX-License-Identifier: ISC */
/*
 * imap_context.c - CONTEXT=SEARCH (RFC 5267 4): searches kept up to date
 * with SEARCH RETURN (UPDATE): "* ESEARCH (TAG t) [UID] ADDTO (0 set)"
 * and "REMOVEFROM (0 set)" as messages come to match or stop matching,
 * until CANCELUPDATE or the mailbox is left.
 *
 * Runs in a worker as `user`, on the selected folder's shared index.  A
 * context keeps its search tree and its result as UIDs; it looks again
 * only at messages changed since it last looked (their modseq) and new
 * ones (UID), so its cost is that of the changes.  Updates go out with
 * the session's other untagged updates: REMOVEFROM for expunged messages
 * before their EXPUNGE (their numbers still valid), the rest after
 * EXISTS (RFC 5267 4.4: never a message not announced yet).
 */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "xmem.h"

#define CTX_MAX	8		/* updating searches per session */

struct search_ctx {
	char		 tag[64];
	bool		 uid;		/* UID SEARCH: UIDs in the updates */
	struct search_node *n;
	uint32_t	*v;		/* the result, UIDs ascending */
	size_t		 nv;
	uint64_t	 modseq;	/* the folder's modseq it looked at */
	uint32_t	 maxuid;	/* the last UID of the view it saw */
	struct search_ctx *next;
};

bool
ctx_add(struct imap_session *s, const char *tag, bool uid,
    struct search_node **np, uint32_t *v, size_t nv)
{
	struct search_ctx *x, **pp;
	unsigned n = 0;

	for (pp = &s->ctxs; *pp; pp = &(*pp)->next)
		if (++n == CTX_MAX)
			return false;
	x = xcalloc(1, sizeof(*x));
	(void)bstrcpy(x->tag, tag, sizeof(x->tag));
	x->uid = uid;
	x->n = *np;
	*np = NULL;
	x->v = v;
	x->nv = nv;
	x->modseq = s->f->modseq;
	x->maxuid = s->nview ? s->view[s->nview - 1] : 0;
	*pp = x;
	return true;
}

static void
ctx_free(struct search_ctx *x)
{
	search_free(&x->n);
	free(x->v);
	free(x);
}

void
ctx_clear(struct imap_session *s)
{
	struct search_ctx *x;

	while ((x = s->ctxs) != NULL) {
		s->ctxs = x->next;
		ctx_free(x);
	}
}

/* ctx_put - "* ESEARCH (TAG t) [UID] what (0 set)" if set is not empty */
static void
ctx_put(struct imap_session *s, struct search_ctx *x, const char *what,
    struct uidset *set)
{
	struct buf b;

	if (set->b.len == 0)
		return;
	buf_init(&b, 0);
	buf_puts(&b, "* ESEARCH (TAG ");
	imap_put_string(&b, x->tag, strlen(x->tag));
	buf_printf(&b, ")%s %s (0 %s)\r\n", x->uid ? " UID" : "", what,
	    uidset_text(set));
	session_write_buf(s, &b);
	buf_free(&b);
}

void
ctx_expunged(struct imap_session *s)
{
	struct search_ctx *x;
	struct uidset rem;
	size_t i, j;
	ssize_t pos;

	for (x = s->ctxs; x; x = x->next) {
		uidset_init(&rem);
		for (i = 0, j = 0; i < x->nv; i++) {
			if (store_find(s->f, x->v[i]) >= 0) {
				x->v[j++] = x->v[i];
				continue;
			}
			if ((pos = session_view_pos(s, x->v[i])) >= 0)
				uidset_add(&rem, x->uid ? x->v[i] :
				    (uint32_t)pos + 1);
		}
		x->nv = j;
		ctx_put(s, x, "REMOVEFROM", &rem);
		uidset_free(&rem);
	}
}

/* push - uid at the end of *v (n used of *cap) */
static void
push(uint32_t **v, size_t *n, size_t *cap, uint32_t uid)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = uid;
}

/* ctx_look - one context against the messages changed or new since it
 * last looked */
static void
ctx_look(struct imap_session *s, struct search_ctx *x)
{
	struct store_folder *f = s->f;
	struct uidset add, rem;
	uint32_t *nv = NULL, num;
	size_t i, k, o, n = 0, cap = 0;
	bool in, match;

	uidset_init(&add);
	uidset_init(&rem);
	/* merge walk: the view, the folder and the result by UID */
	for (i = 0, k = 0, o = 0; i < s->nview; i++) {
		while (k < f->n && f->v[k].uid < s->view[i])
			k++;
		while (o < x->nv && x->v[o] < s->view[i])
			push(&nv, &n, &cap, x->v[o++]);	/* ctx_expunged's */
		in = o < x->nv && x->v[o] == s->view[i];
		if (in)
			o++;
		if (k >= f->n || f->v[k].uid != s->view[i] ||
		    (f->v[k].modseq <= x->modseq && s->view[i] <= x->maxuid))
			match = in;	/* not in the folder, or unchanged */
		else
			match = search_match(x->n, f, k, (uint32_t)(i + 1),
			    (uint32_t)s->nview, session_is_recent(s,
			    s->view[i]));
		num = x->uid ? s->view[i] : (uint32_t)(i + 1);
		if (match && !in)
			uidset_add(&add, num);
		else if (!match && in)
			uidset_add(&rem, num);
		if (match)
			push(&nv, &n, &cap, s->view[i]);
	}
	while (o < x->nv)
		push(&nv, &n, &cap, x->v[o++]);
	free(x->v);
	x->v = nv;
	x->nv = n;
	x->modseq = f->modseq;
	x->maxuid = s->nview ? s->view[s->nview - 1] : 0;
	ctx_put(s, x, "REMOVEFROM", &rem);
	ctx_put(s, x, "ADDTO", &add);
	uidset_free(&add);
	uidset_free(&rem);
}

void
ctx_refresh(struct imap_session *s)
{
	struct search_ctx *x;
	uint32_t last = s->nview ? s->view[s->nview - 1] : 0;

	for (x = s->ctxs; x; x = x->next)
		if (x->modseq != s->f->modseq || x->maxuid != last)
			ctx_look(s, x);
}

void
cmd_cancelupdate(struct imap_session *s, const struct imap_cmd *c)
{
	const struct imap_arg *a;
	struct search_ctx **pp, *x;
	const char *t;

	if (c->args == NULL) {
		session_tagged(s, "BAD CANCELUPDATE tag...");
		return;
	}
	for (a = c->args; a; a = a->next) {
		if ((t = cmd_arg_str(a)) == NULL) {
			session_tagged(s, "BAD CANCELUPDATE \"tag\"...");
			return;
		}
		for (pp = &s->ctxs; *pp; pp = &(*pp)->next)
			if (strcmp((*pp)->tag, t) == 0)
				break;
		if (*pp == NULL) {
			session_tagged(s, "BAD no updating search %s", t);
			return;
		}
		x = *pp;
		*pp = x->next;
		ctx_free(x);
	}
	session_tagged(s, "OK CANCELUPDATE completed");
}
