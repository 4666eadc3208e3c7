/* SPDX-License-Identifier: ISC */
/*
 * queue_env_eq.h - queue_env_eq(), field-by-field equality of two queue
 * envelopes (a NULL prepend equals ""), shared by queue_file_test.c and
 * tests/fuzz/fuzz_queue_file.c.  Include once, after smtpd/smtpd.h.
 */
#ifndef FACTEUR_QUEUE_ENV_EQ_H
#define FACTEUR_QUEUE_ENV_EQ_H

#include <string.h>

static inline bool
queue_env_eq(const struct queue_env *a, const struct queue_env *b)
{
	size_t i;

	if (strcmp(a->qid, b->qid) != 0 || a->time != b->time ||
	    strcmp(a->from, b->from) != 0 || (a->auth == NULL) != (b->auth == NULL) ||
	    (a->auth && strcmp(a->auth, b->auth) != 0) ||
	    (a->ret == NULL) != (b->ret == NULL) ||
	    (a->ret && strcmp(a->ret, b->ret) != 0) ||
	    strcmp(a->client, b->client) != 0 || strcmp(a->helo, b->helo) != 0 ||
	    strcmp(a->prepend ? a->prepend : "", b->prepend ? b->prepend : "") != 0 ||
	    a->junk != b->junk || a->verified != b->verified || strcmp(a->once, b->once) != 0 || a->nrcpt != b->nrcpt || a->msglen != b->msglen)
		return false;
	for (i = 0; i < a->nrcpt; i++)
		if (strcmp(a->rcpt[i].addr, b->rcpt[i].addr) != 0 ||
		    strcmp(a->rcpt[i].orig, b->rcpt[i].orig) != 0 ||
		    a->rcpt[i].done != b->rcpt[i].done)
			return false;
	return true;
}

#endif
