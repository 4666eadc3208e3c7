/* SPDX-License-Identifier: ISC */
/*
 * dns.h - asynchronous DNS lookups for any process: c-ares driven by the
 * process's one event loop (lib/ev), a bounded TTL cache in front, and a
 * pluggable backend so tests answer from a zone table without a server.
 *
 * Usage (one resolver per process, like the event loop):
 *
 *	ev_init();
 *	dns_init(c->dns.resolver_set ? &c->dns.resolver : NULL);  // before chroot
 *	q = dns_lookup("example.org", DNS_T_TXT, on_txt, arg);
 *	...
 *	static void on_txt(void *arg, const struct dns_result *r) {
 *		if (r->status == DNS_OK)
 *			for (i = 0; i < r->nrr; i++)
 *				use(r->rr[i].data, r->rr[i].len);
 *	}
 *
 * The callback is called exactly once per lookup, from the event loop
 * (a zero timer), never from inside dns_lookup() and never from inside
 * c-ares; unless dns_cancel() came first, in which case never.  The
 * result and everything it points to belong to lib/dns and are valid only
 * during the callback: copy what you keep.  The handle is invalid once
 * the callback has returned or dns_cancel() was called.
 *
 * Statuses: DNS_OK (at least one record of the type asked), DNS_NXDOMAIN
 * (the name does not exist), DNS_NODATA (it exists, no record of that
 * type), DNS_TEMPFAIL (timeout, SERVFAIL, REFUSED, no resolver: ask again
 * later), DNS_FORMERR (a name we cannot ask about, or an answer we cannot
 * read: permanent).  CNAMEs are followed by the recursive resolver; the
 * records returned are those of the type asked, whatever their owner.
 *
 * Cache: answers are kept for their TTL (at most DNS_TTL_MAX), negative
 * ones (NXDOMAIN, NODATA) for the SOA minimum of RFC 2308 5, at most
 * DNS_NEG_TTL_MAX, or DNS_NEG_TTL_NOSOA when the resolver sent no SOA
 * (RFC 2308 5 says not to cache those, lest they loop between servers;
 * we never serve answers, and asking again for each message of a burst
 * from one domain trips resolvers' rate limits: each dropped query then
 * costs a session a resolver timeout); temporary failures are never kept.
 * An answer that arrives for a cancelled lookup is still kept (a DNSBL
 * query of a bot that hung up serves its next connection).  The cache holds at
 * most DNS_CACHE_ENTRIES answers and DNS_CACHE_BYTES bytes (least recently
 * used go first); dns_cache_limits() changes both.
 *
 * Backend: dns_set_backend() replaces c-ares by a function that answers
 * (name, type) at once, e.g. from a zone table in a test; it need not
 * call dns_init().  The backend fills a struct dns_answer with
 * dns_answer_*(); answers still go through the cache (dns_cache_flush()
 * empties it) and still reach callers from the event loop.
 *
 * Memory: out of memory is fatal (x* functions), like the rest of the
 * roles that use it.  Names longer than DNS_NAME_MAX are DNS_FORMERR.
 */
#ifndef FACTEUR_DNS_H
#define FACTEUR_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_addr;

#define DNS_NAME_MAX		253	/* without the final dot (RFC 1035 2.3.4) */
#define DNS_RR_MAX		256	/* records kept per answer; more are dropped */
#define DNS_TTL_MAX		86400	/* seconds: longer TTLs are cut to this */
#define DNS_NEG_TTL_MAX		300	/* seconds: cap for negative answers */
#define DNS_NEG_TTL_NOSOA	5	/* seconds: negative answers without SOA */
#define DNS_CACHE_ENTRIES	2048
#define DNS_CACHE_BYTES		(1024 * 1024)
#define DNS_TIMEOUT_MS		2000	/* first try; c-ares doubles it */
#define DNS_TRIES		3

enum dns_type {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

enum dns_status {
	DNS_OK,
	DNS_NXDOMAIN,
	DNS_NODATA,
	DNS_TEMPFAIL,
	DNS_FORMERR,
};

/* dns_rr - one record of an answer */
struct dns_rr {
	uint32_t	 ttl;		/* seconds left */
	uint16_t	 type;		/* enum dns_type */
	uint16_t	 pref;		/* MX preference */
	int		 family;	/* A: AF_INET, AAAA: AF_INET6, else 0 */
	uint8_t		 addr[16];	/* A: 4 bytes, AAAA: 16 bytes */
	/*
	 * TXT: the character-strings of the record concatenated (may hold
	 * NUL bytes; a NUL follows the last byte); MX: the exchange host,
	 * PTR and CNAME: the target name, both without the final dot ("."
	 * itself is ""); A/AAAA: NULL.  len is its length.
	 */
	char		*data;
	size_t		 len;
};

struct dns_result {
	enum dns_status	 status;
	uint16_t	 type;		/* type asked */
	const char	*name;		/* name asked: lower case, no final dot */
	uint32_t	 ttl;		/* smallest TTL, or negative TTL; 0 if not cached */
	bool		 cached;	/* answered from the cache */
	size_t		 nrr;
	struct dns_rr	*rr;
};

struct dns_query;
typedef void dns_cb(void *arg, const struct dns_result *r);

/*
 * dns_init - set up c-ares: resolver `resolver` (port included) if not
 * NULL, else /etc/resolv.conf (read now: call before chroot).  -1 after
 * logging if it cannot; lookups then answer DNS_TEMPFAIL.  Call after
 * ev_init(); again only after dns_shutdown().
 */
int	 dns_init(const struct conf_addr *resolver);
/*
 * dns_shutdown - stop c-ares; pending lookups are dropped, no callback,
 * and their handles are freed: cancel what you hold first (spf checks).
 */
void	 dns_shutdown(void);
/*
 * dns_set_timeout - c-ares timeout of the first try in ms (doubled at each
 * of the next ones) and number of tries; call before dns_init().
 * Defaults: DNS_TIMEOUT_MS, DNS_TRIES.
 */
void	 dns_set_timeout(unsigned ms, unsigned tries);

/*
 * dns_lookup - ask for the records of `type` at `name` (with or without a
 * final dot; case does not matter).  Returns the handle (never NULL).
 */
struct dns_query *dns_lookup(const char *name, enum dns_type type, dns_cb *cb,
	    void *arg);
/* dns_cancel - the callback of q will not be called; NULL is a no-op */
void	 dns_cancel(struct dns_query *q);

const char *dns_status_name(enum dns_status st);
const char *dns_type_name(enum dns_type type);

/*
 * dns_ptr_name - the reverse name of an address (16 bytes for AF_INET6,
 * 4 for AF_INET): "4.3.2.1.in-addr.arpa", "...ip6.arpa"; out needs 74.
 */
bool	 dns_ptr_name(int family, const uint8_t *addr, char *out, size_t outsz);
/* dns_name_eq - host names equal, ignoring case and a final dot */
bool	 dns_name_eq(const char *a, const char *b);

/* cache */
void	 dns_cache_limits(size_t entries, size_t bytes);
void	 dns_cache_flush(void);
/* dns_cache_stats - entries and bytes held now */
void	 dns_cache_stats(size_t *entries_r, size_t *bytes_r);

/*
 * Backend.  query() answers `name` (lower case, no final dot) and `type`
 * synchronously: it calls dns_answer_status() once (DNS_OK is the
 * default) and dns_answer_add_*() for each record.  ctx is its own.
 * dns_set_backend(NULL) goes back to c-ares.
 */
struct dns_answer;
struct dns_backend {
	void	(*query)(void *ctx, const char *name, enum dns_type type,
		    struct dns_answer *ans);
	void	*ctx;
};
void	 dns_set_backend(const struct dns_backend *b);

/* dns_answer_status - status and, for negative answers, the TTL to cache */
void	 dns_answer_status(struct dns_answer *ans, enum dns_status st,
	    uint32_t neg_ttl);
/* dns_answer_add_txt - one TXT record: its strings already concatenated */
void	 dns_answer_add_txt(struct dns_answer *ans, uint32_t ttl,
	    const char *data, size_t len);
/* dns_answer_add_addr - A (family AF_INET) or AAAA (AF_INET6) */
void	 dns_answer_add_addr(struct dns_answer *ans, uint32_t ttl, int family,
	    const uint8_t *addr);
void	 dns_answer_add_mx(struct dns_answer *ans, uint32_t ttl, uint16_t pref,
	    const char *host);
/* dns_answer_add_name - PTR or CNAME target */
void	 dns_answer_add_name(struct dns_answer *ans, uint32_t ttl,
	    enum dns_type type, const char *name);

/*
 * dns_answer_parse - read a DNS response message (the wire bytes c-ares
 * hands over) into ans: rcode, the answer records of `type` and, for a
 * negative answer, the SOA TTL.  No I/O; exported for tests and fuzzing.
 */
void	 dns_answer_parse(struct dns_answer *ans, enum dns_type type,
	    const uint8_t *msg, size_t len);
/* dns_answer_new / dns_answer_free / dns_answer_result - for the above */
struct dns_answer *dns_answer_new(const char *name, enum dns_type type);
const struct dns_result *dns_answer_result(struct dns_answer *ans);
void	 dns_answer_free(struct dns_answer **ans);

#endif
