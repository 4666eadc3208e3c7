/* SPDX-License-Identifier: ISC */
/*
 * rcpt_cache.c - authd's positive RCPT answers kept for a while in the
 * asking process (lib/authc.c), so a known recipient costs no round trip
 * to authd (issue 17: the lookup was a tenth of the CPU per message).
 *
 * Only answers AUTHD_OK are kept, never "no such user": a user added with
 * facteur-keytool receives at once, and a dictionary attack on RCPT still
 * reaches authd's throttle.  An entry lives RCPT_CACHE_TTL_MS at most;
 * authd tells its clients when users.db or aliases.db changed
 * (AUTHD_CHANGED) and authc empties the cache then, so a deleted user is
 * refused again within milliseconds, not after the TTL.  At most
 * RCPT_CACHE_MAX entries (the oldest goes); each a malloc'd copy, freed
 * when it expires or goes, so an idle process keeps nothing.  Pure code
 * on ev_now()-style millisecond clocks given by the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "rcpt_cache.h"

struct rcpt_entry {
	uint64_t	 expires;
	size_t		 alen, n;
	uint8_t		*answer;	/* after the address's bytes */
	char		 addr[];
};

static struct rcpt_entry *cache[RCPT_CACHE_MAX];

static void
drop(size_t i)
{
	free(cache[i]);
	cache[i] = NULL;
}

void
rcpt_cache_clear(void)
{
	size_t i;

	for (i = 0; i < RCPT_CACHE_MAX; i++)
		drop(i);
}

/* rcpt_cache_expire - free what expired by now; true if any entry is left */
bool
rcpt_cache_expire(uint64_t now)
{
	bool left = false;
	size_t i;

	for (i = 0; i < RCPT_CACHE_MAX; i++) {
		if (cache[i] != NULL && cache[i]->expires <= now)
			drop(i);
		left |= cache[i] != NULL;
	}
	return left;
}

bool
rcpt_cache_get(const char *addr, uint64_t now, const uint8_t **answer,
    size_t *n)
{
	size_t i, alen = strlen(addr);

	for (i = 0; i < RCPT_CACHE_MAX; i++) {
		struct rcpt_entry *e = cache[i];

		if (e == NULL || e->alen != alen || memcmp(e->addr, addr, alen))
			continue;
		if (e->expires <= now) {
			drop(i);
			return false;
		}
		*answer = e->answer;
		*n = e->n;
		return true;
	}
	return false;
}

void
rcpt_cache_put(const char *addr, const uint8_t *answer, size_t n,
    uint64_t now)
{
	struct rcpt_entry *e;
	size_t i, slot = 0, alen = strlen(addr);

	if (alen > RCPT_CACHE_ADDR_MAX || n > RCPT_CACHE_ANSWER_MAX)
		return;
	for (i = 0; i < RCPT_CACHE_MAX; i++) {
		if (cache[i] != NULL && cache[i]->alen == alen &&
		    memcmp(cache[i]->addr, addr, alen) == 0) {
			slot = i;	/* replaced */
			break;
		}
		if (cache[i] == NULL)
			slot = i;
		else if (cache[slot] != NULL &&
		    cache[i]->expires < cache[slot]->expires)
			slot = i;	/* the oldest so far, unless a free one */
	}
	if ((e = malloc(sizeof(*e) + alen + 1 + n)) == NULL)
		return;		/* not cached: authd is asked next time */
	e->expires = now + RCPT_CACHE_TTL_MS;
	e->alen = alen;
	e->n = n;
	memcpy(e->addr, addr, alen + 1);
	e->answer = (uint8_t *)e->addr + alen + 1;
	memcpy(e->answer, answer, n);
	drop(slot);
	cache[slot] = e;
}
