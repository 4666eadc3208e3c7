/* SPDX-License-Identifier: ISC */
/*
 * authd_throttle.c - bounded tables of recent login failures (SPEC 5:
 * "failed logins are throttled per address and per user"), per client
 * address, network and user, and of recent good logins per network and
 * user (whose checks authd_fairq.c serves first).
 *
 * Runs in facteur-authd.  A table is a set-associative cache: a key (a
 * client address or a user name, attacker-chosen) is reduced to 64 bits by
 * SHA-256 with a per-process random seed, so nobody can aim collisions at
 * the owner's entry; each set holds a few entries and evicts its least
 * recently used one.  Memory is fixed at creation, mapped anonymous and
 * zero (mmap): only the pages that hold entries become resident, so an
 * authd that sees no failure keeps none of its 4096-entry tables in RAM.
 * Nothing here logs or fails after authd_throttle_new().  Times are ev_now() milliseconds.
 */
#include <sys/mman.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "climit.h"
#include "sha256.h"
#include "strnum.h"
#include "xmem.h"

#define WAYS	8

struct throttle_entry {
	uint64_t	 h;		/* 0: free */
	uint64_t	 first;		/* first failure of the window */
	uint64_t	 used;		/* last touched, for LRU */
	uint64_t	 blocked_until;
	unsigned	 count;
};

struct authd_throttle {
	struct throttle_entry	*e;
	size_t			 nsets;
	size_t			 size;	/* of the mapping */
	uint8_t			 seed[16];
};

struct authd_throttle *
authd_throttle_new(size_t cap, const uint8_t seed[16])
{
	struct authd_throttle *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->nsets = cap / WAYS ? cap / WAYS : 1;
	t->size = t->nsets * WAYS * sizeof(*t->e);
	if ((t->e = mmap(NULL, t->size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) {
		free(t);
		return NULL;
	}
	memcpy(t->seed, seed, sizeof(t->seed));
	return t;
}

void
authd_throttle_free(struct authd_throttle **tp)
{
	if (*tp == NULL)
		return;
	(void)munmap((*tp)->e, (*tp)->size);
	free(*tp);
	*tp = NULL;
}

static uint64_t
throttle_hash(const struct authd_throttle *t, const char *key)
{
	uint8_t md[SHA256_LEN];
	struct sha256 s;
	uint64_t h;

	sha256_init(&s);
	sha256_update(&s, t->seed, sizeof(t->seed));
	sha256_update(&s, key, strlen(key));
	sha256_final(&s, md);
	memcpy(&h, md, sizeof(h));
	return h ? h : 1;
}

/* throttle_find - the entry of key, created (evicting) when `create` */
static struct throttle_entry *
throttle_find(struct authd_throttle *t, const char *key, uint64_t now,
    bool create)
{
	uint64_t h = throttle_hash(t, key);
	struct throttle_entry *set = t->e + (h % t->nsets) * WAYS, *victim;
	size_t i;

	victim = &set[0];
	for (i = 0; i < WAYS; i++) {
		if (set[i].h == h) {
			set[i].used = now;
			return &set[i];
		}
		if (set[i].h == 0 || (victim->h != 0 && set[i].used < victim->used))
			victim = &set[i];
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->h = h;
	victim->used = now;
	return victim;
}

uint64_t
authd_throttle_blocked(struct authd_throttle *t, const char *key, uint64_t now)
{
	struct throttle_entry *e = throttle_find(t, key, now, false);

	if (e == NULL || e->blocked_until <= now)
		return 0;
	return e->blocked_until - now;
}

unsigned
authd_throttle_fail(struct authd_throttle *t, const char *key, uint64_t now,
    uint64_t window_ms)
{
	struct throttle_entry *e = throttle_find(t, key, now, true);

	if (e->count == 0 || now - e->first > window_ms) {
		e->first = now;
		e->count = 0;
	}
	if (e->count < 1000000)
		e->count++;
	return e->count;
}

void
authd_throttle_block(struct authd_throttle *t, const char *key, uint64_t until)
{
	struct throttle_entry *e = throttle_find(t, key, until, true);

	e->blocked_until = until;
	/* a new window starts when the block ends */
	e->count = 0;
}

void
authd_throttle_reset(struct authd_throttle *t, const char *key)
{
	struct throttle_entry *e = throttle_find(t, key, 0, false);

	if (e != NULL)
		memset(e, 0, sizeof(*e));
}

unsigned
authd_throttle_count(struct authd_throttle *t, const char *key, uint64_t now,
    uint64_t window_ms)
{
	struct throttle_entry *e = throttle_find(t, key, now, false);

	if (e == NULL || e->count == 0 || now - e->first > window_ms)
		return 0;
	return e->count;
}

void
authd_throttle_touch(struct authd_throttle *t, const char *key, uint64_t now)
{
	struct throttle_entry *e = throttle_find(t, key, now, true);

	e->first = now;
	e->count = 1;
}

unsigned
authd_throttle_delay(unsigned failures, unsigned after, unsigned max_ms)
{
	unsigned steps;

	if (failures <= after)
		return 0;
	steps = failures - after - 1;
	if (steps >= 16)
		return max_ms;
	return (1000U << steps) < max_ms ? 1000U << steps : max_ms;
}

int
authd_throttle_conf_env(struct authd_throttle_conf *tc)
{
	const char *env = getenv("FACTEUR_AUTHD_THROTTLE"), *err;
	char buf[128], *p, *field[4];
	long long v[4];
	size_t i;

	tc->delay_after = 3;
	tc->block_after = 10;
	tc->user_after = 20;
	tc->net_after = 100;
	tc->window_ms = 15 * 60 * 1000;
	tc->block_ms = 15 * 60 * 1000;
	tc->max_delay_ms = 8000;
	if (env == NULL)
		return 0;
	if (!bstrcpy(buf, env, sizeof(buf)))
		return -1;
	p = buf;
	for (i = 0; i < 4; i++) {
		field[i] = p;
		if ((p = strchr(p, ',')) != NULL)
			*p++ = '\0';
		else if (i < 3)
			return -1;
	}
	for (i = 0; i < 4; i++) {
		v[i] = strnum(field[i], 1, 86400, &err);
		if (err != NULL)
			return -1;
	}
	tc->delay_after = (unsigned)v[0];
	tc->block_after = (unsigned)v[1];
	tc->user_after = 2 * tc->block_after;
	tc->net_after = 10 * tc->block_after;
	tc->window_ms = (uint64_t)v[2] * 1000;
	tc->block_ms = (uint64_t)v[3] * 1000;
	return 0;
}

void
authd_throttle_addr_key(const char *ip, char *key, size_t keysz)
{
	climit_addr_key(ip, key, keysz);
}

void
authd_throttle_net_key(const char *ip, char *key, size_t keysz)
{
	struct in6_addr a6;
	struct in_addr a4;
	const unsigned char *b = NULL;

	if (inet_pton(AF_INET, ip, &a4) == 1)
		b = (const unsigned char *)&a4.s_addr;
	else if (inet_pton(AF_INET6, ip, &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6))
		b = a6.s6_addr + 12;
	if (b == NULL || !bsnprintf(key, keysz, "%u.%u.%u.0/24", b[0], b[1],
	    b[2]))
		climit_addr_key(ip, key, keysz);	/* IPv6 by /64 */
}
