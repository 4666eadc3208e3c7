/* SPDX-License-Identifier: ISC */
/*
 * authd_cache.c - the login cache: recent successful password checks, so
 * a phone opening five connections pays one scrypt, not five (issue 14).
 *
 * Runs in facteur-authd's main process.  An entry is the key
 * HMAC-SHA256(secret, user NUL password), where the secret is 32 random
 * bytes drawn at start and never stored, plus SHA-256 of the users.db hash
 * string the password was verified against and an expiry time.  No
 * password and no password hash is kept: reading authd's memory gives
 * HMAC outputs under a secret that dies with the process.  A hit needs the
 * same user and password AND the same stored hash as at verification, so
 * a password change (a new salt, a new string) or a deleted user misses at
 * once and the stale entry is dropped.  Failed logins are never put here
 * (the caller's rule).  At most `cap` entries, least recently used evicted;
 * a linear scan of 256 entries costs microseconds.  Never logs.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "sha256.h"
#include "xmem.h"

#define CACHE_KEY_LEN	32

struct cache_entry {
	uint8_t		 key[CACHE_KEY_LEN];	/* HMAC(secret, user NUL password) */
	uint8_t		 stored[CACHE_KEY_LEN];	/* SHA-256 of the stored hash */
	uint64_t	 expires;		/* ev_now() ms */
	uint64_t	 used;			/* LRU clock; 0 = free */
};

struct authd_cache {
	struct cache_entry *e;
	size_t		 cap;
	uint64_t	 ttl_ms;
	uint64_t	 clock;
	uint8_t		 secret[32];
};

struct authd_cache *
authd_cache_new(size_t cap, uint64_t ttl_ms)
{
	struct authd_cache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (cap > 0 && (c->e = calloc(cap, sizeof(*c->e))) == NULL) {
		free(c);
		return NULL;
	}
	c->cap = cap;
	c->ttl_ms = ttl_ms;
	if (rand_bytes(c->secret, sizeof(c->secret)) == -1) {
		free(c->e);
		free(c);
		return NULL;
	}
	return c;
}

void
authd_cache_free(struct authd_cache **cp)
{
	struct authd_cache *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	explicit_bzero(c->secret, sizeof(c->secret));
	if (c->e != NULL)
		explicit_bzero(c->e, c->cap * sizeof(*c->e));
	free(c->e);
	free(c);
}

/* cache_key - HMAC-SHA256(secret, user NUL password); false if too long */
static bool
cache_key(const struct authd_cache *c, const char *user, const char *pw,
    size_t pwlen, uint8_t key[CACHE_KEY_LEN])
{
	uint8_t msg[USERDB_ADDR_MAX + 1 + AUTHD_PASSWORD_MAX];
	size_t ulen = strlen(user);

	if (ulen >= USERDB_ADDR_MAX || pwlen > AUTHD_PASSWORD_MAX)
		return false;
	memcpy(msg, user, ulen);
	msg[ulen] = '\0';
	memcpy(msg + ulen + 1, pw, pwlen);
	hmac_sha256(c->secret, sizeof(c->secret), msg, ulen + 1 + pwlen, key);
	explicit_bzero(msg, sizeof(msg));
	return true;
}

/* stored_digest - SHA-256 of the users.db value */
static void
stored_digest(const char *stored, uint8_t out[CACHE_KEY_LEN])
{
	sha256(stored, strlen(stored), out);
}

static struct cache_entry *
cache_find(struct authd_cache *c, const uint8_t key[CACHE_KEY_LEN])
{
	size_t i;

	for (i = 0; i < c->cap; i++)
		if (c->e[i].used != 0 &&
		    ct_equal(c->e[i].key, key, CACHE_KEY_LEN))
			return &c->e[i];
	return NULL;
}

bool
authd_cache_hit(struct authd_cache *c, const char *user, const char *password,
    size_t passlen, const char *stored, uint64_t now)
{
	uint8_t key[CACHE_KEY_LEN], dig[CACHE_KEY_LEN];
	struct cache_entry *e;
	bool hit = false;

	if (c == NULL || c->cap == 0 || stored == NULL ||
	    !cache_key(c, user, password, passlen, key) ||
	    (e = cache_find(c, key)) == NULL)
		goto done;
	stored_digest(stored, dig);
	if (now >= e->expires || !ct_equal(dig, e->stored, CACHE_KEY_LEN)) {
		/* expired, or the password changed since: forget it */
		memset(e, 0, sizeof(*e));
		goto done;
	}
	e->used = ++c->clock;
	hit = true;
done:
	explicit_bzero(key, sizeof(key));
	return hit;
}

void
authd_cache_put(struct authd_cache *c, const char *user, const char *password,
    size_t passlen, const char *stored, uint64_t now)
{
	uint8_t key[CACHE_KEY_LEN];
	struct cache_entry *e, *old;
	size_t i;

	if (c == NULL || c->cap == 0 || stored == NULL ||
	    !cache_key(c, user, password, passlen, key))
		return;
	if ((e = cache_find(c, key)) == NULL) {
		/* a free slot, an expired one, or the least recently used */
		old = &c->e[0];
		for (i = 0; i < c->cap; i++) {
			e = &c->e[i];
			if (e->used == 0 || now >= e->expires) {
				old = e;
				break;
			}
			if (e->used < old->used)
				old = e;
		}
		e = old;
	}
	stored_digest(stored, e->stored);
	memcpy(e->key, key, sizeof(key));
	e->expires = now + c->ttl_ms;
	e->used = ++c->clock;
	explicit_bzero(key, sizeof(key));
}
