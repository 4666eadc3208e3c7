/* SPDX-License-Identifier: ISC */
/*
 * authd_fairq_test.c - unit tests for authd/authd_fairq.c, the queue of
 * password checks: round-robin by network, priority first, the cap per
 * network, push-out from the longest network when full, bounded slots.
 */
#include <stdio.h>

#include "authd/authd.h"
#include "t.h"

struct item {
	struct authd_fq_item fq;	/* first */
	int		 tag;
};

static struct item items[64];

static enum authd_fq_res
push(struct authd_fairq *q, int n, const char *net, bool prio,
    struct item **out)
{
	struct authd_fq_item *ev;
	enum authd_fq_res r;

	items[n].tag = n;
	r = authd_fairq_push(q, &items[n].fq, net, prio, &ev);
	if (out != NULL)
		*out = (struct item *)ev;
	return r;
}

static int
pop(struct authd_fairq *q)
{
	struct item *it = (struct item *)authd_fairq_pop(q);

	return it != NULL ? it->tag : -1;
}

static void
count(struct authd_fq_item *it, void *arg)
{
	(void)it;
	(*(int *)arg)++;
}

int
main(void)
{
	struct authd_fairq *q = authd_fairq_new(8, 4);
	struct item *out;
	int i, n;

	CHECK(q != NULL);
	CHECK(pop(q) == -1);
	/* a flood network with 4, then another network with 2: turns */
	for (i = 0; i < 4; i++)
		CHECK(push(q, i, "10.0.0.0/24", false, NULL) == FQ_QUEUED);
	CHECK(push(q, 4, "10.0.0.0/24", false, NULL) == FQ_NET_FULL);
	CHECK(push(q, 10, "192.0.2.0/24", false, NULL) == FQ_QUEUED);
	CHECK(push(q, 11, "192.0.2.0/24", false, NULL) == FQ_QUEUED);
	CHECK(authd_fairq_len(q) == 6);
	n = 0;
	authd_fairq_foreach(q, count, &n);
	CHECK(n == 6);
	CHECK(pop(q) == 0);
	CHECK(pop(q) == 10);
	CHECK(pop(q) == 1);
	/* a priority item jumps ahead of every network */
	CHECK(push(q, 20, "2001:db8::/64", true, NULL) == FQ_QUEUED);
	CHECK(pop(q) == 20);
	CHECK(pop(q) == 11);
	CHECK(pop(q) == 2);
	/* a network that starts waiting joins at the end of the round */
	CHECK(push(q, 30, "198.51.100.0/24", false, NULL) == FQ_QUEUED);
	CHECK(pop(q) == 3);
	CHECK(pop(q) == 30);
	CHECK(pop(q) == -1);
	CHECK(authd_fairq_len(q) == 0);

	/* full: a newcomer pushes out the oldest of the longest network */
	for (i = 0; i < 4; i++)
		CHECK(push(q, i, "10.0.0.0/24", false, NULL) == FQ_QUEUED);
	for (i = 0; i < 3; i++)
		CHECK(push(q, 4 + i, "10.0.1.0/24", false, NULL) == FQ_QUEUED);
	CHECK(push(q, 7, "10.0.2.0/24", false, NULL) == FQ_QUEUED);
	CHECK(authd_fairq_len(q) == 8);
	CHECK(authd_fairq_room(q, "192.0.2.0/24") == FQ_QUEUED);
	CHECK(push(q, 10, "192.0.2.0/24", false, &out) == FQ_QUEUED);
	CHECK(out != NULL && out->tag == 0);
	CHECK(authd_fairq_len(q) == 8);
	/* now 10.0.0 and 10.0.1 have 3 each: 10.0.2 (1) may push out */
	CHECK(push(q, 11, "10.0.2.0/24", false, &out) == FQ_QUEUED);
	CHECK(out != NULL && (out->tag == 1 || out->tag == 4));
	/* a network as long as the longest may not */
	CHECK(push(q, 12, "10.0.1.0/24", false, &out) == FQ_FULL);
	CHECK(authd_fairq_room(q, "10.0.1.0/24") == FQ_FULL);
	while (pop(q) != -1)
		;
	CHECK(authd_fairq_len(q) == 0);
	authd_fairq_free(&q);
	CHECK(q == NULL);

	/* as many networks as places: slots are reused */
	q = authd_fairq_new(4, 2);
	for (n = 0; n < 3; n++) {
		char net[32];

		for (i = 0; i < 4; i++) {
			snprintf(net, sizeof(net), "10.%d.%d.0/24", n, i);
			CHECK(push(q, i, net, false, NULL) == FQ_QUEUED);
		}
		/* a fifth network pushes the first one's item out */
		snprintf(net, sizeof(net), "10.%d.9.0/24", n);
		CHECK(push(q, 4, net, false, &out) == FQ_QUEUED);
		CHECK(out != NULL && out->tag == 0);
		for (i = 1; i < 5; i++)
			CHECK(pop(q) == i);
		CHECK(pop(q) == -1);
	}
	authd_fairq_free(&q);
	return T_DONE();
}
