/* SPDX-License-Identifier: ISC */
/*
 * imap_list.c - LIST and LSUB (RFC 3501 6.3.8-9), LIST-EXTENDED (RFC
 * 5258: selection SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE, several
 * patterns, RETURN (SUBSCRIBED CHILDREN SPECIAL-USE STATUS)) and
 * LIST-STATUS (RFC 5819).
 *
 * Runs in a worker as `user`, on the user's Maildir (store_list(),
 * store_subscriptions()).  The names are the folders, the subscribed
 * names (mailbox or not) and the superior levels of both, each with what
 * it is (exists, subscribed, has existing or subscribed children); one
 * sorted array, so the cost is bounded by the number and length of the
 * names (matching is linear: store_list_match()).  A level with no
 * folder of its own is shown only when a pattern ends with '%' (RFC 3501
 * 6.3.8) or as RECURSIVEMATCH's CHILDINFO.  Errors: BAD for a bad
 * argument, nothing else.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "imap_mutf7.h"
#include "xmem.h"

#define LIST_MAX_PATS	16

/* what a name is */
#define LN_EXISTS	0x01	/* a folder */
#define LN_SUB		0x02	/* subscribed */
#define LN_KID		0x04	/* an existing folder below it */
#define LN_KID_SUB	0x08	/* a subscribed name below it */
#define LN_KID_SUB_OUT	0x10	/* ... that no pattern matches (CHILDINFO) */

/* selection and return options */
#define LO_SUBSCRIBED	0x01
#define LO_RECURSIVE	0x02
#define LO_SPECIAL	0x04
#define LR_SUBSCRIBED	0x01
#define LR_CHILDREN	0x02
#define LR_STATUS	0x04

struct list_name {
	char		*name;
	unsigned	 what;
};

struct list_ctx {
	struct imap_session *s;
	char		 pat[LIST_MAX_PATS][STORE_PAT_MAX + 1];
	unsigned	 npat;
	bool		 lsub;
	bool		 extended;	/* RFC 5258 syntax was used */
	unsigned	 sel, ret;
	const struct imap_arg *status;	/* RETURN (STATUS (items)) */
	struct list_name *v;
	size_t		 n, cap;
};

static void
list_add(struct list_ctx *l, const char *name, unsigned what)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].name = xstrdup(name);
	l->v[l->n++].what = what;
}

/* names are kept, matched and sorted as the client reads them (UTF-8
 * once IMAP4rev2 is on): patterns are written that way too */
static void
list_collect(const char *name, void *arg)
{
	struct list_ctx *l = arg;
	char out[MBOX_OUT_SZ];

	list_add(l, name_out(l->s, name, out), LN_EXISTS);
}

static void
subs_collect(const char *name, void *arg)
{
	struct list_ctx *l = arg;
	char out[MBOX_OUT_SZ];

	list_add(l, name_out(l->s, name, out), LN_SUB);
}

/* INBOX first, then byte order */
static int
name_cmp(const void *a, const void *b)
{
	const struct list_name *x = a, *y = b;
	int r;

	if ((r = (strcmp(y->name, "INBOX") == 0) -
	    (strcmp(x->name, "INBOX") == 0)) != 0)
		return r;
	return strcmp(x->name, y->name);
}

/* list_parents - the superior levels of every name, as plain entries */
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
			list_add(l, sub, 0);
		}
	}
}

static bool
match_any(const struct list_ctx *l, const char *name, bool pct_only)
{
	unsigned i;
	size_t n;

	for (i = 0; i < l->npat; i++) {
		n = strlen(l->pat[i]);
		if (pct_only && (n == 0 || l->pat[i][n - 1] != '%'))
			continue;
		if (store_list_match(l->pat[i], name))
			return true;
	}
	return false;
}

/* list_find - the entry of name (the array is sorted), or NULL */
static struct list_name *
list_find(struct list_ctx *l, const char *name)
{
	struct list_name key = { (char *)(uintptr_t)name, 0 };

	return bsearch(&key, l->v, l->n, sizeof(*l->v), name_cmp);
}

/* list_kids - tell each name's superior levels what is below them */
static void
list_kids(struct list_ctx *l)
{
	char sub[STORE_NAME_MAX + 1];
	struct list_name *p;
	const char *nm, *dot;
	unsigned mark;
	size_t i;

	for (i = 0; i < l->n; i++) {
		nm = l->v[i].name;
		mark = 0;
		if (l->v[i].what & LN_EXISTS)
			mark |= LN_KID;
		if (l->v[i].what & LN_SUB) {
			mark |= LN_KID_SUB;
			if (!match_any(l, nm, false))
				mark |= LN_KID_SUB_OUT;
		}
		if (mark == 0)
			continue;
		for (dot = strchr(nm, '.'); dot; dot = strchr(dot + 1, '.')) {
			if ((size_t)(dot - nm) > STORE_NAME_MAX)
				break;
			memcpy(sub, nm, (size_t)(dot - nm));
			sub[dot - nm] = '\0';
			if ((p = list_find(l, sub)) != NULL)
				p->what |= mark;
		}
	}
}

static void
list_free(struct list_ctx *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* put_attr - one attribute into the list being built */
static void
put_attr(struct buf *b, bool *first, const char *a)
{
	buf_printf(b, "%s%s", *first ? "" : " ", a);
	*first = false;
}

/* list_emit - the LIST/LSUB line of v[i] if the options show it */
static void
list_emit(struct imap_session *s, struct list_ctx *l, size_t i, struct buf *b)
{
	const struct list_name *e = &l->v[i];
	const char *su = store_special_use(e->name);
	bool exists = (e->what & LN_EXISTS) != 0, sub = (e->what & LN_SUB) != 0;
	bool childinfo = false, first = true, kids;
	char dir[PATH_MAX], st[MBOX_NAME_SZ];

	if (!match_any(l, e->name, false))
		return;
	if (l->lsub) {
		if (!sub && !((e->what & LN_KID_SUB) &&
		    match_any(l, e->name, true)))
			return;
	} else if (l->sel & LO_SUBSCRIBED) {
		if (!sub) {
			if (!(l->sel & LO_RECURSIVE) ||
			    !(e->what & LN_KID_SUB_OUT))
				return;
			childinfo = true;
		}
	} else if (!exists && !((e->what & LN_KID) &&
	    match_any(l, e->name, true)))
		return;
	if ((l->sel & LO_SPECIAL) && (su == NULL || !exists))
		return;
	kids = (e->what & LN_KID) != 0;
	buf_printf(b, "* %s (", l->lsub ? "LSUB" : "LIST");
	if (l->lsub) {
		if (!sub)
			put_attr(b, &first, "\\Noselect");
	} else {
		if (!exists && (l->sel & LO_SUBSCRIBED))
			put_attr(b, &first, "\\NonExistent");
		else if (!exists)
			put_attr(b, &first, "\\Noselect");
		if (exists || !(l->sel & LO_SUBSCRIBED) ||
		    (l->ret & LR_CHILDREN))
			put_attr(b, &first, kids ? "\\HasChildren" :
			    "\\HasNoChildren");
		if (sub && ((l->sel & LO_SUBSCRIBED) ||
		    (l->ret & LR_SUBSCRIBED)))
			put_attr(b, &first, "\\Subscribed");
		if (su && exists)
			put_attr(b, &first, su);
	}
	buf_puts(b, ") \".\" ");
	imap_put_mailbox(b, e->name, s->rev2);
	if (childinfo)
		buf_puts(b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_puts(b, "\r\n");
	if (b->len > 65536 || ((l->ret & LR_STATUS) && exists)) {
		session_write(s, buf_head(b), b->len);
		buf_reset(b);
	}
	/* RFC 5819: the STATUS of each selectable mailbox listed */
	if ((l->ret & LR_STATUS) && exists && name_in(s, e->name, st,
	    sizeof(st)) && store_folder_path(s->root, st, dir, sizeof(dir)))
		(void)cmd_status_put(s, e->name, dir, l->status);
}

/* list_select - "(SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE)" */
static bool
list_select(const struct imap_arg *a, struct list_ctx *l)
{
	const struct imap_arg *o;

	for (o = a->child; o; o = o->next) {
		if (imap_arg_is(o, "SUBSCRIBED"))
			l->sel |= LO_SUBSCRIBED;
		else if (imap_arg_is(o, "RECURSIVEMATCH"))
			l->sel |= LO_RECURSIVE;
		else if (imap_arg_is(o, "SPECIAL-USE"))
			l->sel |= LO_SPECIAL;
		else if (!imap_arg_is(o, "REMOTE"))
			return false;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH needs another option to apply to */
	return !(l->sel & LO_RECURSIVE) || (l->sel & ~LO_RECURSIVE) != 0;
}

/* list_return - "RETURN (SUBSCRIBED CHILDREN SPECIAL-USE STATUS (..))" */
static bool
list_return(const struct imap_arg *a, struct list_ctx *l)
{
	const struct imap_arg *o;

	if (a == NULL || a->type != IMAP_ARG_LIST || a->next != NULL)
		return false;
	for (o = a->child; o; o = o->next) {
		if (imap_arg_is(o, "SUBSCRIBED"))
			l->ret |= LR_SUBSCRIBED;
		else if (imap_arg_is(o, "CHILDREN"))
			l->ret |= LR_CHILDREN;
		else if (imap_arg_is(o, "SPECIAL-USE"))
			;	/* always sent */
		else if (imap_arg_is(o, "STATUS") &&
		    cmd_status_items_ok(o->next)) {
			l->ret |= LR_STATUS;
			l->status = o = o->next;
		} else
			return false;
	}
	return true;
}

/* list_pattern - reference + pattern into the next slot */
static bool
list_pattern(struct list_ctx *l, const char *ref, const struct imap_arg *a)
{
	const char *pat = cmd_arg_str(a);
	char *p;

	if (pat == NULL || l->npat == LIST_MAX_PATS)
		return false;
	p = l->pat[l->npat];
	if (!bsnprintf(p, sizeof(l->pat[0]), "%s%s", ref, pat))
		return false;
	/* INBOX is case-insensitive (RFC 3501 5.1) */
	if (strncasecmp(p, "INBOX", 5) == 0)
		memcpy(p, "INBOX", 5);
	l->npat++;
	return true;
}

/* list_args - [(selection)] reference pattern(s) [RETURN (...)] */
static bool
list_args(const struct imap_cmd *c, struct list_ctx *l, bool *empty_r)
{
	const struct imap_arg *a = c->args, *p;
	const char *ref;

	if (!l->lsub && a && a->type == IMAP_ARG_LIST) {
		l->extended = true;
		if (!list_select(a, l))
			return false;
		a = a->next;
	}
	if ((ref = cmd_arg_str(a)) == NULL || (p = a->next) == NULL)
		return false;
	if (p->type == IMAP_ARG_LIST && !l->lsub) {
		l->extended = true;
		for (p = p->child; p; p = p->next)
			if (!list_pattern(l, ref, p))
				return false;
		p = a->next;
	} else {
		if (!list_pattern(l, ref, p))
			return false;
		*empty_r = *cmd_arg_str(p) == '\0';
	}
	if (p->next == NULL)
		return l->npat > 0;
	if (l->lsub || !imap_arg_is(p->next, "RETURN"))
		return false;
	l->extended = true;
	return list_return(p->next->next, l);
}

void
cmd_list(struct imap_session *s, const struct imap_cmd *c, bool lsub)
{
	struct list_ctx *l;
	struct buf b;
	bool empty = false;
	size_t i, j;

	l = xcalloc(1, sizeof(*l));
	l->s = s;
	l->lsub = lsub;
	if (!list_args(c, l, &empty)) {
		session_tagged(s, "BAD %s: bad arguments", c->name);
		goto done;
	}
	if (empty && !lsub && l->sel == 0) {
		session_reply(s, "* LIST (\\Noselect) \".\" \"\"");
		session_tagged(s, "OK LIST completed");
		goto done;
	}
	store_list(s->root, list_collect, l);
	if (lsub || l->sel || l->ret)
		store_subscriptions(s->root, subs_collect, l);
	list_add(l, "INBOX", LN_EXISTS | LN_SUB);
	list_parents(l);
	qsort(l->v, l->n, sizeof(*l->v), name_cmp);
	/* one entry per name, with what each occurrence said */
	for (i = 0, j = 0; i < l->n; i++) {
		if (j > 0 && strcmp(l->v[j - 1].name, l->v[i].name) == 0) {
			l->v[j - 1].what |= l->v[i].what;
			free(l->v[i].name);
			continue;
		}
		l->v[j++] = l->v[i];
	}
	l->n = j;
	list_kids(l);
	buf_init(&b, 0);
	for (i = 0; i < l->n; i++)
		list_emit(s, l, i, &b);
	if (b.len)
		session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	session_tagged(s, "OK %s completed", c->name);
done:
	list_free(l);
	free(l);
}

/* has_kids - does a folder below prefix (store spelling) exist? */
struct kids_ctx {
	const char	*prefix;
	size_t		 n;
	bool		 found;
};

static void
kids_check(const char *name, void *arg)
{
	struct kids_ctx *k = arg;

	if (strncmp(name, k->prefix, k->n) == 0 && name[k->n] == '.')
		k->found = true;
}

void
list_selected(struct imap_session *s, const char *name, const char *store)
{
	struct kids_ctx k = { store, strlen(store), false };
	const char *su = store_special_use(store);
	struct buf b;

	store_list(s->root, kids_check, &k);
	buf_init(&b, 0);
	buf_printf(&b, "* LIST (%s%s%s) \".\" ", k.found ? "\\HasChildren" :
	    "\\HasNoChildren", su ? " " : "", su ? su : "");
	imap_put_mailbox(&b, strcasecmp(store, "INBOX") == 0 ? "INBOX" : name,
	    s->rev2);
	buf_puts(&b, "\r\n");
	session_write_buf(s, &b);
	buf_free(&b);
}
