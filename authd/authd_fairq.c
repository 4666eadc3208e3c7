/* SPDX-License-Identifier: ISC */
/*
 * authd_fairq.c - the queue of password checks waiting for a hasher, fair
 * between client networks, so that a login flood cannot lock real users
 * out (a FIFO let 400 addresses of one /24 fill it: a good login waited
 * 5 s behind their scrypts and was refused).
 *
 * Runs in facteur-authd's main process; pure (no I/O, no clock, no log),
 * tested by tests/unit/authd_fairq_test.c.  Items are the caller's; the
 * queue only links them.
 *
 * - Priority items (the caller decides: a user logging in again from a
 *   network it logged in from before) are served first, oldest first.
 * - The others are served round-robin by network: one item of each
 *   network that has some waiting, in turn, oldest first within a
 *   network.  A network that starts waiting joins at the end of the
 *   round.  400 addresses of one /24 thus get one turn, like one user.
 * - A network has at most `per_net` items waiting (priority ones
 *   included); the next is refused at once.
 * - When all `cap` places are taken, a newcomer pushes out the oldest
 *   ordinary item of the network with the most waiting, unless its own
 *   network already has as many: flooding from many networks cannot fill
 *   the queue against a network that has few items in it.
 *
 * Memory is fixed at creation: `cap` network slots, since a network with
 * nothing waiting has no slot.  Every call scans at most `cap` slots.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "xmem.h"

struct fq_net {
	char		 key[AUTHD_NETKEY_MAX];
	uint32_t	 h;
	unsigned	 n;		/* items waiting, priority ones too; 0: free */
	unsigned	 nnormal;	/* those in the list below */
	struct authd_fq_item *head, *tail;
	int		 rnext, rprev;	/* the ring; -1 when not in it */
};

struct authd_fairq {
	struct fq_net	*net;
	size_t		 cap;
	unsigned	 per_net;
	size_t		 n;
	struct authd_fq_item *phead, *ptail;	/* priority items */
	int		 cur;		/* the network served next; -1: none */
};

struct authd_fairq *
authd_fairq_new(size_t cap, unsigned per_net)
{
	struct authd_fairq *q;

	if (cap < 1 || cap > 65536 || per_net < 1 ||
	    (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	if ((q->net = calloc(cap, sizeof(*q->net))) == NULL) {
		free(q);
		return NULL;
	}
	q->cap = cap;
	q->per_net = per_net;
	q->cur = -1;
	return q;
}

void
authd_fairq_free(struct authd_fairq **qp)
{
	if (*qp == NULL)
		return;
	free((*qp)->net);
	free(*qp);
	*qp = NULL;
}

size_t
authd_fairq_len(const struct authd_fairq *q)
{
	return q->n;
}

static uint32_t
fq_hash(const char *key)
{
	const unsigned char *p = (const unsigned char *)key;
	uint32_t h = 2166136261u;

	for (; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* fq_find - the slot of `key`, or -1; *free_r: a free slot, or -1 */
static int
fq_find(const struct authd_fairq *q, const char *key, uint32_t h, int *free_r)
{
	size_t i;

	*free_r = -1;
	for (i = 0; i < q->cap; i++) {
		const struct fq_net *nt = &q->net[i];

		if (nt->n == 0) {
			if (*free_r == -1)
				*free_r = (int)i;
		} else if (nt->h == h && strcmp(nt->key, key) == 0)
			return (int)i;
	}
	return -1;
}

/* ring_add - network i starts waiting: it joins at the end of the round */
static void
ring_add(struct authd_fairq *q, int i)
{
	struct fq_net *nt = &q->net[i];

	if (q->cur == -1) {
		nt->rnext = nt->rprev = i;
		q->cur = i;
		return;
	}
	nt->rnext = q->cur;
	nt->rprev = q->net[q->cur].rprev;
	q->net[nt->rprev].rnext = i;
	q->net[q->cur].rprev = i;
}

static void
ring_del(struct authd_fairq *q, int i)
{
	struct fq_net *nt = &q->net[i];

	if (nt->rnext == i)
		q->cur = -1;
	else {
		q->net[nt->rprev].rnext = nt->rnext;
		q->net[nt->rnext].rprev = nt->rprev;
		if (q->cur == i)
			q->cur = nt->rnext;
	}
	nt->rnext = nt->rprev = -1;
}

/* net_less - one item of network i is gone; an empty slot is freed */
static void
net_less(struct authd_fairq *q, int i)
{
	q->net[i].n--;
	q->n--;
	if (q->net[i].n == 0)
		memset(&q->net[i], 0, sizeof(q->net[i]));
}

/* take_normal - the oldest ordinary item of network i (which has one) */
static struct authd_fq_item *
take_normal(struct authd_fairq *q, int i)
{
	struct fq_net *nt = &q->net[i];
	struct authd_fq_item *it = nt->head;

	if ((nt->head = it->next) == NULL)
		nt->tail = NULL;
	it->next = NULL;
	if (--nt->nnormal == 0)
		ring_del(q, i);
	net_less(q, i);
	return it;
}

/* longest - the network with the most ordinary items, -1 if none has any */
static int
longest(const struct authd_fairq *q)
{
	size_t i;
	int best = -1;

	for (i = 0; i < q->cap; i++)
		if (q->net[i].nnormal > 0 && (best == -1 ||
		    q->net[i].nnormal > q->net[best].nnormal))
			best = (int)i;
	return best;
}

/*
 * fq_admit - may an item of `key` (hash h) be queued?  *i_r: its
 * network's slot or -1, *free_r: a free slot or -1, *victim_r: the network
 * to push an item out of first, or -1.
 */
static enum authd_fq_res
fq_admit(const struct authd_fairq *q, const char *key, uint32_t h, int *i_r,
    int *free_r, int *victim_r)
{
	unsigned own;
	int j;

	*victim_r = -1;
	*i_r = -1;
	*free_r = -1;
	if (strlen(key) >= AUTHD_NETKEY_MAX)
		return FQ_FULL;
	*i_r = fq_find(q, key, h, free_r);
	own = *i_r >= 0 ? q->net[*i_r].n : 0;
	if (own >= q->per_net)
		return FQ_NET_FULL;
	if (q->n >= q->cap) {
		if ((j = longest(q)) == -1 || q->net[j].nnormal <= own)
			return FQ_FULL;
		*victim_r = j;
	}
	return FQ_QUEUED;
}

enum authd_fq_res
authd_fairq_room(const struct authd_fairq *q, const char *key)
{
	int i, fr, j;

	return fq_admit(q, key, fq_hash(key), &i, &fr, &j);
}

enum authd_fq_res
authd_fairq_push(struct authd_fairq *q, struct authd_fq_item *it,
    const char *key, bool prio, struct authd_fq_item **evicted_r)
{
	uint32_t h = fq_hash(key);
	enum authd_fq_res res;
	int i, fr, j;

	*evicted_r = NULL;
	if ((res = fq_admit(q, key, h, &i, &fr, &j)) != FQ_QUEUED)
		return res;
	if (j != -1) {
		*evicted_r = take_normal(q, j);
		if (i == -1)	/* the push-out may have freed the only slot */
			(void)fq_find(q, key, h, &fr);
	}
	if (i == -1) {
		if (fr == -1)		/* cannot be: fewer items than slots */
			return FQ_FULL;
		i = fr;
		memcpy(q->net[i].key, key, strlen(key) + 1);
		q->net[i].h = h;
		q->net[i].rnext = q->net[i].rprev = -1;
	}
	it->next = NULL;
	it->net = i;
	it->prio = prio;
	if (prio) {
		if (q->ptail != NULL)
			q->ptail->next = it;
		else
			q->phead = it;
		q->ptail = it;
	} else {
		struct fq_net *nt = &q->net[i];

		if (nt->tail != NULL)
			nt->tail->next = it;
		else
			nt->head = it;
		nt->tail = it;
		if (nt->nnormal++ == 0)
			ring_add(q, i);
	}
	q->net[i].n++;
	q->n++;
	return FQ_QUEUED;
}

struct authd_fq_item *
authd_fairq_pop(struct authd_fairq *q)
{
	struct authd_fq_item *it;
	int i;

	if ((it = q->phead) != NULL) {
		if ((q->phead = it->next) == NULL)
			q->ptail = NULL;
		it->next = NULL;
		net_less(q, it->net);
		return it;
	}
	if ((i = q->cur) == -1)
		return NULL;
	q->cur = q->net[i].rnext;	/* the next network's turn */
	return take_normal(q, i);
}

void
authd_fairq_foreach(struct authd_fairq *q,
    void (*fn)(struct authd_fq_item *, void *), void *arg)
{
	struct authd_fq_item *it;
	size_t i;

	for (it = q->phead; it != NULL; it = it->next)
		fn(it, arg);
	for (i = 0; i < q->cap; i++)
		for (it = q->net[i].head; it != NULL; it = it->next)
			fn(it, arg);
}
