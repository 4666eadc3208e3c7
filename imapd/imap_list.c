/* SPDX-License-Identifier: ISC */
/*
 * imap_list.c - LIST and LSUB (RFC 3501 6.3.8-9, with the RFC 5258
 * selection options SUBSCRIBED and SPECIAL-USE of RFC 6154).
 *
 * Runs in a worker as `user`, on the user's Maildir (store_list(),
 * store_subscriptions()).  The candidates are the folders (LIST) or the
 * subscribed names, mailbox or not (LSUB); when the pattern ends with
 * '%', their missing superior levels too, as \Noselect (RFC 3501 6.3.8:
 * "matching levels of hierarchy are also returned").  Matching is
 * linear (store_list_match()), so the cost is bounded by the number and
 * length of the names.  Errors: BAD for a bad argument, nothing else.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "xmem.h"

enum list_kind {
	LK_REAL,	/* LIST: a folder; LSUB: a subscribed name */
	LK_PARENT,	/* only a superior level of one */
};

struct list_name {
	char		*name;
	enum list_kind	 kind;
};

struct list_ctx {
	char		 pat[STORE_PAT_MAX + 1];
	bool		 lsub;
	bool		 special_only;
	bool		 subscribed_only;
	struct list_name *v;
	size_t		 n, cap;
	char		**subs;		/* sorted subscriptions (SUBSCRIBED) */
	size_t		 nsubs;
};

static void
list_add(struct list_ctx *l, const char *name, enum list_kind kind)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].name = xstrdup(name);
	l->v[l->n++].kind = kind;
}

static void
list_collect(const char *name, void *arg)
{
	list_add(arg, name, LK_REAL);
}

static void
subs_collect(const char *name, void *arg)
{
	struct list_ctx *l = arg;

	l->subs = xreallocarray(l->subs, l->nsubs + 1, sizeof(*l->subs));
	l->subs[l->nsubs++] = xstrdup(name);
}

/* INBOX first, then byte order; the real entry before a parent one */
static int
name_cmp(const void *a, const void *b)
{
	const struct list_name *x = a, *y = b;
	int r;

	if ((r = (strcmp(y->name, "INBOX") == 0) -
	    (strcmp(x->name, "INBOX") == 0)) != 0)
		return r;
	if ((r = strcmp(x->name, y->name)) != 0)
		return r;
	return (int)x->kind - (int)y->kind;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_parents - the superior levels of every candidate, as parents */
static void
list_parents(struct list_ctx *l)
{
	char sub[STORE_NAME_MAX + 1];
	const char *nm, *dot;
	size_t i, n = l->n;

	for (i = 0; i < n; i++) {
		nm = l->v[i].name;
		for (dot = strchr(nm, '.'); dot; dot = strchr(dot + 1, '.')) {
			if ((size_t)(dot - nm) > STORE_NAME_MAX)
				break;
			memcpy(sub, nm, (size_t)(dot - nm));
			sub[dot - nm] = '\0';
			list_add(l, sub, LK_PARENT);
		}
	}
}

/*
 * has_children - an entry below v[i]: the first name not before "NAME."
 * (binary search: the array is sorted after INBOX) starts with it.  A
 * parent entry counts, as it is there only for a real one below it.
 */
static bool
has_children(const struct list_ctx *l, size_t i)
{
	const char *nm = l->v[i].name;
	size_t nl = strlen(nm), lo = i + 1, hi = l->n, mid;
	const char *x;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		x = l->v[mid].name;
		/* is x before "NAME."? */
		if (strncmp(x, nm, nl) < 0 || (strncmp(x, nm, nl) == 0 &&
		    (unsigned char)x[nl] < '.'))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && strncmp(l->v[lo].name, nm, nl) == 0 &&
	    l->v[lo].name[nl] == '.';
}

static bool
subscribed(const struct list_ctx *l, const char *name)
{
	if (strcmp(name, "INBOX") == 0)
		return true;
	return bsearch(&name, l->subs, l->nsubs, sizeof(*l->subs),
	    str_cmp) != NULL;
}

static void
list_emit(struct imap_session *s, struct list_ctx *l, size_t i, struct buf *b)
{
	const char *nm = l->v[i].name;
	const char *su = l->lsub ? NULL : store_special_use(nm);

	if (!store_list_match(l->pat, nm))
		return;
	if (l->special_only && su == NULL)
		return;
	if (l->subscribed_only && !subscribed(l, nm))
		return;
	buf_printf(b, "* %s (", l->lsub ? "LSUB" : "LIST");
	if (l->v[i].kind == LK_PARENT)
		buf_puts(b, l->lsub ? "\\Noselect" : "\\Noselect \\HasChildren");
	else if (!l->lsub)
		buf_printf(b, "%s%s%s", has_children(l, i) ? "\\HasChildren" :
		    "\\HasNoChildren", su ? " " : "", su ? su : "");
	buf_puts(b, ") \".\" ");
	imap_put_string(b, nm, strlen(nm));
	buf_puts(b, "\r\n");
	if (b->len > 65536) {
		session_write(s, buf_head(b), b->len);
		buf_reset(b);
	}
}

static void
list_free(struct list_ctx *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	for (i = 0; i < l->nsubs; i++)
		free(l->subs[i]);
	free(l->subs);
}

/* list_args - [(options)] reference pattern into l; BAD on error */
static bool
list_args(struct imap_session *s, const struct imap_cmd *c,
    struct list_ctx *l, const char **pat_r)
{
	const struct imap_arg *a = c->args, *o;
	const char *ref, *pat;

	/* RFC 5258 selection options, as used with RFC 6154 */
	if (!l->lsub && a && a->type == IMAP_ARG_LIST) {
		for (o = a->child; o; o = o->next) {
			if (imap_arg_is(o, "SPECIAL-USE"))
				l->special_only = true;
			else if (imap_arg_is(o, "SUBSCRIBED"))
				l->subscribed_only = true;
		}
		a = a->next;
	}
	ref = cmd_arg_str(a);
	pat = a ? cmd_arg_str(a->next) : NULL;
	if (ref == NULL || pat == NULL || a->next->next != NULL) {
		session_tagged(s, "BAD %s reference pattern", c->name);
		return false;
	}
	if (!bsnprintf(l->pat, sizeof(l->pat), "%s%s", ref, pat)) {
		session_tagged(s, "BAD pattern too long");
		return false;
	}
	/* INBOX is case-insensitive (RFC 3501 5.1) */
	if (strncasecmp(l->pat, "INBOX", 5) == 0)
		memcpy(l->pat, "INBOX", 5);
	*pat_r = pat;
	return true;
}

void
cmd_list(struct imap_session *s, const struct imap_cmd *c, bool lsub)
{
	struct list_ctx l;
	struct buf b;
	const char *pat;
	size_t i, j, pl;

	memset(&l, 0, sizeof(l));
	l.lsub = lsub;
	if (!list_args(s, c, &l, &pat))
		return;
	if (*pat == '\0' && !lsub) {
		session_reply(s, "* LIST (\\Noselect) \".\" \"\"");
		session_tagged(s, "OK LIST completed");
		return;
	}
	if (lsub) {
		list_add(&l, "INBOX", LK_REAL);
		store_subscriptions(s->root, list_collect, &l);
	} else {
		store_list(s->root, list_collect, &l);
		if (l.subscribed_only) {
			store_subscriptions(s->root, subs_collect, &l);
			qsort(l.subs, l.nsubs, sizeof(*l.subs), str_cmp);
		}
	}
	pl = strlen(l.pat);
	if (pl > 0 && l.pat[pl - 1] == '%')
		list_parents(&l);
	qsort(l.v, l.n, sizeof(*l.v), name_cmp);
	/* one entry per name, the real one if any (sorted first) */
	for (i = 0, j = 0; i < l.n; i++) {
		if (j > 0 && strcmp(l.v[j - 1].name, l.v[i].name) == 0) {
			free(l.v[i].name);
			continue;
		}
		l.v[j++] = l.v[i];
	}
	l.n = j;
	buf_init(&b, 0);
	for (i = 0; i < l.n; i++)
		list_emit(s, &l, i, &b);
	if (b.len)
		session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	list_free(&l);
	session_tagged(s, "OK %s completed", c->name);
}
