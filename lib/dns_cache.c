/* SPDX-License-Identifier: ISC */
/*
 * dns_cache.c - the answers lib/dns keeps for their TTL: a hash table on
 * (type, name) and a least-recently-used list, bounded in entries and in
 * bytes (each entry one packed allocation plus its header).  Expiry is
 * lazy (on lookup) plus eviction from the old end when a bound is hit.
 * Times are ev_now() milliseconds.  Runs in whatever process uses lib/dns.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "dns_int.h"
#include "ev.h"
#include "xmem.h"

#define CACHE_BUCKETS	1024

struct cache_ent {
	struct cache_ent *hnext;
	TAILQ_ENTRY(cache_ent) lru;
	unsigned	 bucket;
	uint64_t	 stored;		/* ev_now() ms */
	uint64_t	 expires;
	size_t		 size;			/* counted against the bound */
	struct dns_result *r;			/* packed */
};

static struct cache_ent *buckets[CACHE_BUCKETS];
static TAILQ_HEAD(cache_lru, cache_ent) lru = TAILQ_HEAD_INITIALIZER(lru);
static size_t n_ent, n_bytes;
static size_t max_ent = DNS_CACHE_ENTRIES, max_bytes = DNS_CACHE_BYTES;

static unsigned
cache_hash(const char *name, enum dns_type type)
{
	uint32_t h = 2166136261u ^ (uint32_t)type;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % CACHE_BUCKETS;
}

static void
cache_del(struct cache_ent *e)
{
	struct cache_ent **pp;

	for (pp = &buckets[e->bucket]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	TAILQ_REMOVE(&lru, e, lru);
	n_ent--;
	n_bytes -= e->size;
	free(e->r);
	free(e);
}

static void
cache_trim(size_t ents, size_t bytes)
{
	while (n_ent > ents || n_bytes > bytes)
		cache_del(TAILQ_LAST(&lru, cache_lru));
}

static struct cache_ent *
cache_find(const char *name, enum dns_type type, unsigned b)
{
	struct cache_ent *e;

	for (e = buckets[b]; e != NULL; e = e->hnext)
		if (e->r->type == type && strcmp(e->r->name, name) == 0)
			return e;
	return NULL;
}

struct dns_result *
dns_cache_get(const char *name, enum dns_type type)
{
	unsigned b = cache_hash(name, type);
	struct cache_ent *e = cache_find(name, type, b);
	struct dns_result *r;
	uint64_t now = ev_now();
	uint32_t gone;
	size_t i;

	if (e == NULL)
		return NULL;
	if (now >= e->expires) {
		cache_del(e);
		return NULL;
	}
	TAILQ_REMOVE(&lru, e, lru);
	TAILQ_INSERT_HEAD(&lru, e, lru);
	r = dns_result_pack(e->r, NULL);
	gone = (uint32_t)((now - e->stored) / 1000);
	r->ttl = r->ttl > gone ? r->ttl - gone : 1;
	for (i = 0; i < r->nrr; i++)
		r->rr[i].ttl = r->rr[i].ttl > gone ? r->rr[i].ttl - gone : 1;
	r->cached = true;
	return r;
}

void
dns_cache_put(const struct dns_result *r)
{
	unsigned b = cache_hash(r->name, (enum dns_type)r->type);
	struct cache_ent *e;
	size_t size;

	if (r->ttl == 0 || max_ent == 0 || (r->status != DNS_OK &&
	    r->status != DNS_NXDOMAIN && r->status != DNS_NODATA))
		return;
	if ((e = cache_find(r->name, (enum dns_type)r->type, b)) != NULL)
		cache_del(e);
	e = xcalloc(1, sizeof(*e));
	e->r = dns_result_pack(r, &size);
	e->size = size + sizeof(*e);
	if (e->size > max_bytes / 4) {		/* one answer must not flush all */
		free(e->r);
		free(e);
		return;
	}
	e->r->cached = false;
	e->bucket = b;
	e->stored = ev_now();
	e->expires = e->stored + (uint64_t)r->ttl * 1000;
	cache_trim(max_ent - 1, max_bytes - e->size);
	e->hnext = buckets[b];
	buckets[b] = e;
	TAILQ_INSERT_HEAD(&lru, e, lru);
	n_ent++;
	n_bytes += e->size;
}

void
dns_cache_limits(size_t entries, size_t bytes)
{
	max_ent = entries;
	max_bytes = bytes;
	cache_trim(max_ent, max_bytes);
}

void
dns_cache_flush(void)
{
	cache_trim(0, 0);
}

void
dns_cache_stats(size_t *entries_r, size_t *bytes_r)
{
	*entries_r = n_ent;
	*bytes_r = n_bytes;
}
