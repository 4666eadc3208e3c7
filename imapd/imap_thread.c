/* SPDX-License-Identifier: ISC */
/*
 * imap_thread.c - THREAD and UID THREAD (RFC 5256 4): ORDEREDSUBJECT and
 * REFERENCES.
 *
 * Runs in a worker as `user`, on the selected folder, as a job of
 * imap_sort.c (header cache, slices).  REFERENCES links messages while
 * the job reads them (step 1 needs only what came before), so only one
 * node per message or referenced id is kept, never the References
 * lists; the other steps run when the folder is read.  Every walk over
 * the tree is iterative: a reply chain 100,000 messages deep costs no
 * stack.  Where RFC 5256 1(B) keeps a message's old parent when its own
 * last reference would make a loop, this does as Dovecot does and drops
 * the old link (imaptest's "thread" script checks this).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_sort.h"
#include "imap_sortkey.h"
#include "xmem.h"

#define TNONE	UINT32_MAX

struct tnode {
	uint32_t	 parent, child, last, next;
	uint32_t	 nchild;
	uint32_t	 seq, num;	/* seq 0: a dummy (no message) */
	int64_t		 date;
	uint64_t	 id_off;	/* message-id in the arena */
	uint64_t	 subj_off;	/* base subject in the arena */
	uint16_t	 id_len, subj_len;
	bool		 reply;
	bool		 gone;		/* pruned */
	int64_t		 edate;		/* sort key: a dummy's first child's */
	uint32_t	 eseq;
};

struct thread_ctx {
	bool		 refs;		/* REFERENCES, else ORDEREDSUBJECT */
	struct tnode	*v;		/* v[0] is the root of the root set */
	size_t		 n, cap;
	uint32_t	*hash;		/* message-id -> node, open addressing */
	size_t		 hcap;
	struct buf	 arena;
	struct buf	 val, id;	/* scratch */
};

static struct thread_ctx *threading;	/* for qsort's comparators */

/* ---- nodes and links ---- */

static uint32_t
node_new(struct thread_ctx *x)
{
	struct tnode *t;

	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 256;
		x->v = xreallocarray(x->v, x->cap, sizeof(*x->v));
	}
	t = &x->v[x->n];
	memset(t, 0, sizeof(*t));
	t->parent = t->child = t->last = t->next = TNONE;
	return (uint32_t)x->n++;
}

static void
link_child(struct thread_ctx *x, uint32_t p, uint32_t c)
{
	struct tnode *pp = &x->v[p];

	x->v[c].parent = p;
	x->v[c].next = TNONE;
	if (pp->last == TNONE)
		pp->child = c;
	else
		x->v[pp->last].next = c;
	pp->last = c;
	pp->nchild++;
}

static void
unlink_child(struct thread_ctx *x, uint32_t c)
{
	uint32_t p = x->v[c].parent, k, prev = TNONE;

	if (p == TNONE)
		return;
	for (k = x->v[p].child; k != TNONE && k != c; k = x->v[k].next)
		prev = k;
	if (k == TNONE)
		return;
	if (prev == TNONE)
		x->v[p].child = x->v[c].next;
	else
		x->v[prev].next = x->v[c].next;
	if (x->v[p].last == c)
		x->v[p].last = prev;
	x->v[p].nchild--;
	x->v[c].parent = x->v[c].next = TNONE;
}

/* would_loop - making p the parent of c would close a loop */
static bool
would_loop(const struct thread_ctx *x, uint32_t p, uint32_t c)
{
	if (p == c)
		return true;
	if (x->v[c].nchild == 0)
		return false;	/* p cannot be under c */
	for (; p != TNONE; p = x->v[p].parent)
		if (p == c)
			return true;
	return false;
}

/* ---- message-ids ---- */

static uint64_t
hash_str(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
hash_grow(struct thread_ctx *x)
{
	uint32_t *old = x->hash;
	size_t oldcap = x->hcap, i, k;

	x->hcap = x->hcap ? x->hcap * 2 : 1024;
	x->hash = xreallocarray(NULL, x->hcap, sizeof(*x->hash));
	for (i = 0; i < x->hcap; i++)
		x->hash[i] = TNONE;
	for (i = 0; i < oldcap; i++) {
		if (old[i] == TNONE)
			continue;
		k = hash_str(buf_head(&x->arena) + x->v[old[i]].id_off,
		    x->v[old[i]].id_len) & (x->hcap - 1);
		while (x->hash[k] != TNONE)
			k = (k + 1) & (x->hcap - 1);
		x->hash[k] = old[i];
	}
	free(old);
}

/*
 * id_node - the node of message-id id (in x->id): found, or with `make`
 * a new dummy that owns the id; TNONE when absent and not made.
 */
static uint32_t
id_node(struct thread_ctx *x, bool make)
{
	const char *id = buf_head(&x->id);
	size_t len = x->id.len, k;
	uint32_t t;

	if (x->hcap == 0 || x->n * 2 >= x->hcap)
		hash_grow(x);
	k = hash_str(id, len) & (x->hcap - 1);
	for (; (t = x->hash[k]) != TNONE; k = (k + 1) & (x->hcap - 1))
		if (x->v[t].id_len == len && memcmp(buf_head(&x->arena) +
		    x->v[t].id_off, id, len) == 0)
			return t;
	if (!make)
		return TNONE;
	t = node_new(x);
	x->v[t].id_off = x->arena.len;
	x->v[t].id_len = (uint16_t)len;
	(void)buf_append(&x->arena, id, len);
	x->hash[k] = t;
	return t;
}

/* first_id - the first message-id of field name into x->id */
static bool
first_id(struct thread_ctx *x, const struct sort_msg *m, const char *name)
{
	size_t pos = 0;

	return sort_header(m, name, &x->val) && sortkey_msgid_next(
	    buf_head(&x->val), x->val.len, &pos, &x->id);
}

/* ---- step 1: per message, in sequence order ---- */

static void
thread_links(struct thread_ctx *x, const struct sort_msg *m, uint32_t node)
{
	uint32_t prev = TNONE, r;
	size_t pos = 0;

	if (sort_header(m, "References", &x->val) && x->val.len > 0) {
		while (sortkey_msgid_next(buf_head(&x->val), x->val.len, &pos,
		    &x->id)) {
			r = id_node(x, true);
			if (prev != TNONE && r != prev &&
			    x->v[r].parent == TNONE && !would_loop(x, prev, r))
				link_child(x, prev, r);
			prev = r;
		}
	}
	if (prev == TNONE && first_id(x, m, "In-Reply-To"))
		prev = id_node(x, true);
	if (prev == TNONE || x->v[node].parent == prev)
		return;
	/* the message's own last reference is its parent (RFC 5256 1B) */
	unlink_child(x, node);
	if (!would_loop(x, prev, node))
		link_child(x, prev, node);
}

static void
thread_each(struct imap_session *s, struct sort_job *j,
    const struct sort_msg *m)
{
	struct thread_ctx *x = j->ctx;
	struct tnode *t;
	uint32_t node = TNONE;
	size_t at;

	if (x->refs && first_id(x, m, "Message-ID")) {
		node = id_node(x, false);
		if (node != TNONE && x->v[node].seq != 0)
			node = node_new(x);	/* a duplicate: its own node */
		else if (node == TNONE)
			node = id_node(x, true);
	} else
		node = node_new(x);
	t = &x->v[node];
	t->seq = m->seq;
	t->num = j->uid ? m->uid : m->seq;
	t->date = sort_sent_date(s, m, &x->val);
	at = x->arena.len;
	if (sort_header(m, "Subject", &x->val))
		x->v[node].reply = sortkey_subject(buf_head(&x->val),
		    x->val.len, &x->arena);
	x->v[node].subj_off = at;
	x->v[node].subj_len = (uint16_t)(x->arena.len - at);
	if (x->refs)
		thread_links(x, m, node);
}

/* ---- sorting and output ---- */

static int
cmp_subj(const struct thread_ctx *x, const struct tnode *a,
    const struct tnode *b)
{
	const char *ar = buf_head(&x->arena);
	size_t la = a->subj_len, lb = b->subj_len;
	int r;

	r = memcmp(ar + a->subj_off, ar + b->subj_off, la < lb ? la : lb);
	return r ? r : la < lb ? -1 : la > lb;
}

static int
cmp_date(const void *pa, const void *pb)
{
	const struct tnode *a = &threading->v[*(const uint32_t *)pa];
	const struct tnode *b = &threading->v[*(const uint32_t *)pb];

	if (a->edate != b->edate)
		return a->edate < b->edate ? -1 : 1;
	return a->eseq < b->eseq ? -1 : a->eseq > b->eseq;
}

static int
cmp_subj_date(const void *pa, const void *pb)
{
	const struct tnode *a = &threading->v[*(const uint32_t *)pa];
	const struct tnode *b = &threading->v[*(const uint32_t *)pb];
	int r = cmp_subj(threading, a, b);

	return r ? r : cmp_date(pa, pb);
}

/* preorder - every node under the root, parents before children */
static size_t
preorder(struct thread_ctx *x, uint32_t *out)
{
	uint32_t *stack = xreallocarray(NULL, x->n, sizeof(*stack)), k, c;
	size_t sp = 0, n = 0;

	stack[sp++] = 0;
	while (sp > 0) {
		k = stack[--sp];
		out[n++] = k;
		for (c = x->v[k].child; c != TNONE; c = x->v[c].next)
			stack[sp++] = c;
	}
	free(stack);
	return n;
}

/* sort_children - siblings by sent date, every level, children first
 * (RFC 5256 4 steps 4 and 6); a dummy sorts as its first child */
static void
sort_children(struct thread_ctx *x, uint32_t *ord, uint32_t *tmp)
{
	size_t n = preorder(x, ord), i, k;
	struct tnode *t;
	uint32_t c;

	threading = x;
	while (n-- > 0) {
		t = &x->v[ord[n]];
		for (k = 0, c = t->child; c != TNONE; c = x->v[c].next)
			tmp[k++] = c;
		qsort(tmp, k, sizeof(*tmp), cmp_date);
		t->child = t->last = TNONE;
		t->nchild = 0;
		for (i = 0; i < k; i++)
			link_child(x, ord[n], tmp[i]);
		if (t->seq != 0) {
			t->edate = t->date;
			t->eseq = t->seq;
		} else if (t->child != TNONE) {
			t->edate = x->v[t->child].edate;
			t->eseq = x->v[t->child].eseq;
		}
	}
	threading = NULL;
}

/* prune - RFC 5256 4 step 3: dummies without children go, a dummy's
 * children move up but to the root only when they are alone */
static void
prune(struct thread_ctx *x, uint32_t *ord, uint32_t *tmp)
{
	size_t n = preorder(x, ord), k, i;
	uint32_t c, g;

	while (n-- > 0) {
		for (k = 0, c = x->v[ord[n]].child; c != TNONE;
		    c = x->v[c].next)
			tmp[k++] = c;
		x->v[ord[n]].child = x->v[ord[n]].last = TNONE;
		x->v[ord[n]].nchild = 0;
		for (i = 0; i < k; i++) {
			c = tmp[i];
			if (x->v[c].seq != 0 || (ord[n] == 0 &&
			    x->v[c].nchild > 1)) {
				link_child(x, ord[n], c);
				continue;
			}
			x->v[c].gone = true;
			for (g = x->v[c].child; g != TNONE; ) {
				uint32_t nx = x->v[g].next;

				link_child(x, ord[n], g);
				g = nx;
			}
		}
	}
}

/* subject_of - a root's subject node: itself, or a dummy's first child */
static const struct tnode *
subject_of(const struct thread_ctx *x, uint32_t r)
{
	return x->v[r].seq ? &x->v[r] : x->v[r].child != TNONE ?
	    &x->v[x->v[r].child] : &x->v[r];
}

/* merge_subjects - RFC 5256 4 step 5: roots with one base subject join */
static void
merge_subjects(struct thread_ctx *x, uint32_t *roots, size_t nr)
{
	uint32_t *tab, t, cur, d;
	size_t cap = 64, i, k;
	const struct tnode *s, *ts;
	const char *ar;

	while (cap < nr * 2)
		cap *= 2;
	tab = xreallocarray(NULL, cap, sizeof(*tab));	/* index into roots */
	for (k = 0; k < cap; k++)
		tab[k] = TNONE;
	for (i = 0; i < nr; i++) {
		s = subject_of(x, roots[i]);
		if (s->subj_len == 0)
			continue;
		ar = buf_head(&x->arena);
		k = hash_str(ar + s->subj_off, s->subj_len) & (cap - 1);
		for (; tab[k] != TNONE; k = (k + 1) & (cap - 1))
			if (cmp_subj(x, subject_of(x, roots[tab[k]]), s) == 0)
				break;
		if (tab[k] == TNONE) {
			tab[k] = (uint32_t)i;
			continue;
		}
		t = roots[tab[k]];
		ts = subject_of(x, t);
		if (x->v[t].seq != 0 && (x->v[roots[i]].seq == 0 ||
		    (ts->reply && !s->reply)))
			tab[k] = (uint32_t)i;
	}
	for (i = 0; i < nr; i++) {
		cur = roots[i];
		s = subject_of(x, cur);
		if (s->subj_len == 0)
			continue;
		ar = buf_head(&x->arena);
		k = hash_str(ar + s->subj_off, s->subj_len) & (cap - 1);
		for (; tab[k] != TNONE; k = (k + 1) & (cap - 1))
			if (cmp_subj(x, subject_of(x, roots[tab[k]]), s) == 0)
				break;
		if (tab[k] == TNONE || tab[k] == i)
			continue;
		t = roots[tab[k]];
		roots[i] = TNONE;
		if (x->v[t].seq == 0 && x->v[cur].seq == 0) {
			while ((d = x->v[cur].child) != TNONE) {
				unlink_child(x, d);
				link_child(x, t, d);
			}
			x->v[cur].gone = true;
		} else if (x->v[t].seq == 0 ||
		    (x->v[cur].reply && !x->v[t].reply)) {
			link_child(x, t, cur);
		} else {
			d = node_new(x);
			link_child(x, d, t);
			link_child(x, d, cur);
			roots[tab[k]] = d;
		}
	}
	free(tab);
}

/* put_tree - one thread of the root set (RFC 5256 4: "(1 (2 3)(4))") */
static void
put_tree(const struct thread_ctx *x, uint32_t top, struct buf *b,
    uint32_t *stack)
{
	size_t sp = 0;
	uint32_t cur = top, nx;
	bool space = false;

	buf_puts(b, "(");
	stack[sp++] = TNONE;
	for (;;) {
		if (x->v[cur].seq != 0) {
			buf_printf(b, "%s%u", space ? " " : "", x->v[cur].num);
			space = true;
		}
		if (x->v[cur].nchild == 1) {
			cur = x->v[cur].child;
			continue;
		}
		if (x->v[cur].nchild > 1) {
			cur = x->v[cur].child;
			buf_puts(b, space ? " (" : "(");
			space = false;
			stack[sp++] = x->v[cur].next;
			continue;
		}
		for (;;) {
			buf_puts(b, ")");
			nx = stack[--sp];
			if (sp == 0)
				return;
			if (nx != TNONE) {
				buf_puts(b, "(");
				space = false;
				stack[sp++] = x->v[nx].next;
				cur = nx;
				break;
			}
		}
	}
}

static void
thread_references(struct thread_ctx *x, struct buf *b)
{
	uint32_t *ord, *tmp, *roots, c;
	size_t i, nr = 0;

	/* the root set, then steps 3 and 4 */
	for (i = 1; i < x->n; i++)
		if (x->v[i].parent == TNONE)
			link_child(x, 0, (uint32_t)i);
	/* merging adds at most one dummy per root */
	ord = xreallocarray(NULL, x->n * 2, sizeof(*ord));
	tmp = xreallocarray(NULL, x->n * 2, sizeof(*tmp));
	prune(x, ord, tmp);
	sort_children(x, ord, tmp);
	roots = xreallocarray(NULL, x->v[0].nchild + 1, sizeof(*roots));
	for (c = x->v[0].child; c != TNONE; c = x->v[c].next)
		roots[nr++] = c;
	merge_subjects(x, roots, nr);
	x->v[0].child = x->v[0].last = TNONE;
	x->v[0].nchild = 0;
	for (i = 0; i < nr; i++)
		if (roots[i] != TNONE)
			link_child(x, 0, roots[i]);
	free(roots);
	sort_children(x, ord, tmp);
	for (c = x->v[0].child; c != TNONE; c = x->v[c].next)
		put_tree(x, c, b, tmp);
	free(ord);
	free(tmp);
}

/* thread_ordered - ORDEREDSUBJECT: by base subject then date; each run
 * of one subject is a thread, the first message its parent */
static void
thread_ordered(struct thread_ctx *x, struct buf *b)
{
	uint32_t *ord, *first;
	size_t n = x->n - 1, i, k, nt = 0;

	if (n == 0)
		return;
	ord = xreallocarray(NULL, n, sizeof(*ord));
	first = xreallocarray(NULL, n, sizeof(*first));
	for (i = 0; i < n; i++) {
		ord[i] = (uint32_t)(i + 1);
		x->v[i + 1].edate = x->v[i + 1].date;
		x->v[i + 1].eseq = x->v[i + 1].seq;
	}
	threading = x;
	qsort(ord, n, sizeof(*ord), cmp_subj_date);
	for (i = 0; i < n; i++) {
		if (i > 0 && cmp_subj(x, &x->v[ord[i - 1]], &x->v[ord[i]]) == 0)
			continue;
		first[nt++] = (uint32_t)i;	/* position in ord */
	}
	/* threads by their first message's date: sort positions */
	for (i = 0; i < nt; i++)
		first[i] = ord[first[i]];
	qsort(first, nt, sizeof(*first), cmp_date);
	threading = NULL;
	for (i = 0; i < nt; i++) {
		/* find the run again: ord is sorted by subject */
		const struct tnode *t = &x->v[first[i]];
		size_t lo = 0, hi = n, run;

		while (lo < hi) {	/* first position with subject >= t's */
			k = lo + (hi - lo) / 2;
			if (cmp_subj(x, &x->v[ord[k]], t) < 0)
				lo = k + 1;
			else
				hi = k;
		}
		for (run = lo; run < n && cmp_subj(x, &x->v[ord[run]], t) == 0;
		    run++)
			;
		buf_printf(b, "(%u", t->num);
		if (run - lo == 2)
			buf_printf(b, " %u", x->v[ord[lo + 1]].num);
		else if (run - lo > 2) {
			buf_puts(b, " ");
			for (k = lo + 1; k < run; k++)
				buf_printf(b, "(%u)", x->v[ord[k]].num);
		}
		buf_puts(b, ")");
	}
	free(ord);
	free(first);
}

static void
thread_done(struct imap_session *s, struct sort_job *j)
{
	struct thread_ctx *x = j->ctx;
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "* THREAD ");
	if (x->refs)
		thread_references(x, &b);
	else
		thread_ordered(x, &b);
	if (b.len == 9)		/* nothing matched: no space after it */
		buf_truncate(&b, 8);
	buf_puts(&b, "\r\n");
	session_write_buf(s, &b);
	buf_free(&b);
	session_tagged(s, "OK %sTHREAD completed", j->uid ? "UID " : "");
}

static void
thread_ctx_free(struct sort_job *j)
{
	struct thread_ctx *x = j->ctx;

	if (x == NULL)
		return;
	free(x->v);
	free(x->hash);
	buf_free(&x->arena);
	buf_free(&x->val);
	buf_free(&x->id);
	free(x);
	j->ctx = NULL;
}

void
cmd_thread(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	const struct imap_arg *a = c->args;
	struct sort_job *j = xcalloc(1, sizeof(*j));
	struct thread_ctx *x = xcalloc(1, sizeof(*x));

	j->ctx = x;
	j->free = thread_ctx_free;
	j->uid = uid;
	j->each = thread_each;
	j->done = thread_done;
	j->need_hdr = true;
	buf_init(&x->arena, 0);
	buf_init(&x->val, 1 << 20);
	buf_init(&x->id, 0);
	(void)node_new(x);		/* v[0]: the root */
	if (imap_arg_is(a, "REFERENCES"))
		x->refs = true;
	else if (!imap_arg_is(a, "ORDEREDSUBJECT")) {
		session_tagged(s, "BAD unknown THREAD algorithm");
		goto fail;
	}
	if (!sort_search_args(s, a->next, j))
		goto fail;
	sort_job_start(s, j);
	return;
fail:
	thread_ctx_free(j);
	free(j);
}
