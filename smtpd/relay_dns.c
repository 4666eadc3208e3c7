/* SPDX-License-Identifier: ISC */
/*
 * relay_dns.c - DNS for the relay role, on lib/dns's c-ares channel
 * (driven by the process's one event loop, dns_ares.h).
 *
 * relay_dns_mx() does RFC 5321 5.1: MX records sorted by preference
 * (equal ones shuffled), each host's A/AAAA looked up, tried in that
 * order; no MX record means the domain itself (implicit MX); a single
 * "0 ." MX is a null MX (RFC 7505): the domain takes no mail, a
 * permanent failure.  NXDOMAIN is permanent too; timeouts, SERVFAIL and
 * the like are temporary.  For a domain we are backup MX for
 * (relay_dns_mx_backup), MX hosts named like our hostname and all at or
 * after its preference are dropped: mail goes only to better MX hosts,
 * and stays queued while there is none.  relay_dns_host() is A/AAAA (or
 * /etc/hosts) for the smarthost, or its address when it is one (no DNS).
 * Address literals ("[192.0.2.1]", "[IPv6:2001:db8::1]") need no DNS.
 *
 * Answers are delivered from a zero timer, never from inside the call
 * that asked or from inside c-ares.  Runs in the relay role as `user`.
 */
#include <arpa/nameser.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns.h"
#include "dns_ares.h"
#include "log.h"
#include "xmem.h"
#include "smtpd/relay.h"

struct dns_host {
	struct relay_dns_q *q;
	char		*name;
	unsigned	 pref;
	struct relay_addr *addrs;
	size_t		 naddrs;
	int		 status;	/* ares status of its address lookup */
};

struct relay_dns_q {
	relay_dns_cb	*cb;
	void		*arg;
	char		*name;
	char		*self;		/* backup MX: our hostname, else NULL */
	uint16_t	 port;
	bool		 cancelled;
	bool		 finished;
	unsigned	 pending;	/* c-ares lookups not answered yet */
	struct dns_host	 hosts[RELAY_MX_MAX];
	size_t		 nhosts;
	enum deliver_res res;
	char		 err[RELAY_TEXT_MAX];
	struct ev_timer	 done;
	LIST_ENTRY(relay_dns_q) entry;
};

static bool dns_dying;		/* relay_dns_shutdown() is running */
static LIST_HEAD(, relay_dns_q) dns_queries = LIST_HEAD_INITIALIZER(dns_queries);

static void dns_finish(struct relay_dns_q *q);

/* relay_dns_init - lib/dns's channel, with [dns] resolver if set */
int
relay_dns_init(const struct conf *c)
{
	dns_set_timeout(3000, 3);	/* 3 + 6 + 12 s: a relay can wait */
	return dns_init(c->dns.resolver_set ? &c->dns.resolver : NULL);
}

static void
dns_q_free(struct relay_dns_q *q)
{
	size_t i;

	for (i = 0; i < q->nhosts; i++) {
		free(q->hosts[i].name);
		free(q->hosts[i].addrs);
	}
	free(q->self);
	ev_timer_del(&q->done);
	LIST_REMOVE(q, entry);
	free(q->name);
	free(q);
}

void
relay_dns_shutdown(void)
{
	struct relay_dns_q *q;

	dns_dying = true;
	dns_shutdown();		/* answers every query: ARES_EDESTRUCTION */
	while ((q = LIST_FIRST(&dns_queries)) != NULL)
		dns_q_free(q);
	dns_dying = false;
}

/* dns_on_done - hand the answer over, outside c-ares */
static void
dns_on_done(struct ev_timer *t, void *arg)
{
	struct relay_dns_q *q = arg;
	struct relay_addr *addrs = NULL;
	size_t n = 0, i, j;

	if (q->res == RES_OK) {
		addrs = xreallocarray(NULL, RELAY_ADDR_MAX, sizeof(*addrs));
		for (i = 0; i < q->nhosts; i++)
			for (j = 0; j < q->hosts[i].naddrs && n < RELAY_ADDR_MAX; j++)
				addrs[n++] = q->hosts[i].addrs[j];
	}
	if (!q->cancelled)
		q->cb(q->arg, q->res, q->err, addrs, n);
	else
		free(addrs);
	dns_q_free(q);
}

static struct relay_dns_q *
dns_q_new(const char *name, uint16_t port, relay_dns_cb *cb, void *arg)
{
	struct relay_dns_q *q = xcalloc(1, sizeof(*q));

	q->cb = cb;
	q->arg = arg;
	q->name = xstrdup(name);
	q->port = port;
	q->res = RES_OK;
	ev_timer_init(&q->done, dns_on_done, q);
	LIST_INSERT_HEAD(&dns_queries, q, entry);
	return q;
}

/* dns_fail - the answer is this error (first error wins) */
static void
dns_fail(struct relay_dns_q *q, enum deliver_res res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
dns_fail(struct relay_dns_q *q, enum deliver_res res, const char *fmt, ...)
{
	va_list ap;

	if (q->res != RES_OK)
		return;
	q->res = res;
	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
}

/* dns_finish - every lookup answered: schedule the callback */
static void
dns_finish(struct relay_dns_q *q)
{
	size_t i, n = 0;

	if (q->pending > 0 || q->finished)
		return;
	q->finished = true;
	if (dns_dying)		/* nobody waits; relay_dns_shutdown frees q */
		return;
	for (i = 0; i < q->nhosts; i++)
		n += q->hosts[i].naddrs;
	/* hosts without an address: temporary, DNS may be catching up */
	if (q->res == RES_OK && n == 0)
		dns_fail(q, RES_TEMPFAIL, "451 4.4.4 no address for %s (%s: %s)",
		    q->name, q->nhosts ? q->hosts[0].name : q->name,
		    ares_strerror(q->nhosts ? q->hosts[0].status : ARES_ENODATA));
	ev_timer_add(&q->done, 0);
}

/* dns_addr_add - one address of host h, skipping duplicates */
static void
dns_addr_add(struct dns_host *h, const struct sockaddr *sa, socklen_t len)
{
	struct relay_dns_q *q = h->q;
	struct relay_addr *a;
	char ip[INET6_ADDRSTRLEN];
	const void *bin;
	size_t i, j;

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		bin = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		bin = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return;
	if (inet_ntop(sa->sa_family, bin, ip, sizeof(ip)) == NULL)
		return;
	for (i = 0; i < q->nhosts; i++)
		for (j = 0; j < q->hosts[i].naddrs; j++)
			if (strcmp(q->hosts[i].addrs[j].ip, ip) == 0)
				return;
	if (h->naddrs == RELAY_ADDR_MAX)
		return;
	h->addrs = xreallocarray(h->addrs, h->naddrs + 1, sizeof(*h->addrs));
	a = &h->addrs[h->naddrs++];
	memset(a, 0, sizeof(*a));
	memcpy(&a->sa, sa, len);
	a->salen = len;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)(void *)&a->sa)->sin_port = htons(q->port);
	else
		((struct sockaddr_in6 *)(void *)&a->sa)->sin6_port = htons(q->port);
	memcpy(a->ip, ip, sizeof(a->ip));
	(void)bstrcpy(a->host, h->name, sizeof(a->host));
}

static void
dns_on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_host *h = arg;
	struct relay_dns_q *q = h->q;
	struct ares_addrinfo_node *n;

	h->status = status;
	if (status == ARES_SUCCESS && ai != NULL)
		for (n = ai->nodes; n != NULL; n = n->ai_next)
			dns_addr_add(h, n->ai_addr, n->ai_addrlen);
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	q->pending--;
	dns_finish(q);
}

/* dns_lookup_hosts - A/AAAA of every host in q (after MX or for a host) */
static void
dns_lookup_hosts(struct relay_dns_q *q)
{
	struct ares_addrinfo_hints hints;
	size_t i;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	q->pending++;		/* answers may come before the loop ends */
	for (i = 0; i < q->nhosts; i++) {
		q->pending++;
		ares_getaddrinfo(dns_ares_channel(), q->hosts[i].name, NULL,
		    &hints, dns_on_addrinfo, &q->hosts[i]);
	}
	q->pending--;
	dns_finish(q);
}

static void
dns_host_add(struct relay_dns_q *q, const char *name, unsigned pref)
{
	struct dns_host *h = &q->hosts[q->nhosts++];

	h->q = q;
	h->name = xstrdup(name);
	h->pref = pref;
	h->status = ARES_ENODATA;
}

void
relay_dns_mx_order(unsigned *pref, size_t *idx, size_t n, uint32_t seed)
{
	uint32_t key[RELAY_MX_MAX * 4];
	size_t i, j;

	/* insertion sort on (preference, random key): RFC 5321 5.1 */
	for (i = 0; i < n && i < RELAY_MX_MAX * 4; i++) {
		seed = seed * 1103515245u + 12345u;
		key[i] = seed >> 8;
		idx[i] = i;
	}
	for (i = 1; i < n && i < RELAY_MX_MAX * 4; i++)
		for (j = i; j > 0 && (pref[idx[j - 1]] > pref[idx[j]] ||
		    (pref[idx[j - 1]] == pref[idx[j]] &&
		    key[idx[j - 1]] > key[idx[j]])); j--) {
			size_t t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
}

/* dns_name_ok - a host name we put in logs, SNI and lookups */
static bool
dns_name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' &&
		    s[i] != '_')
			return false;
	return true;
}

/* dns_mx_hosts - the MX answer into q->hosts; false if it was a null MX */
static bool
dns_mx_hosts(struct relay_dns_q *q, struct ares_mx_reply *mx)
{
	struct ares_mx_reply *m, *list[RELAY_MX_MAX * 4];
	unsigned pref[RELAY_MX_MAX * 4], cut = UINT_MAX;
	size_t idx[RELAY_MX_MAX * 4], n = 0, nnull = 0, i;

	for (m = mx; m != NULL && n < RELAY_MX_MAX * 4; m = m->next) {
		if (m->host == NULL || m->host[0] == '\0' ||
		    strcmp(m->host, ".") == 0) {
			nnull++;
			continue;
		}
		if (!dns_name_ok(m->host))
			continue;
		list[n] = m;
		pref[n] = m->priority;
		n++;
	}
	if (n == 0 && nnull > 0)
		return false;
	for (i = 0; q->self != NULL && i < n; i++)
		if (dns_name_eq(list[i]->host, q->self) && pref[i] < cut)
			cut = pref[i];
	relay_dns_mx_order(pref, idx, n, (uint32_t)ev_now() ^ (uint32_t)getpid());
	for (i = 0; i < n && q->nhosts < RELAY_MX_MAX; i++) {
		if (q->self != NULL && (pref[idx[i]] >= cut ||
		    dns_name_eq(list[idx[i]]->host, q->self)))
			continue;
		dns_host_add(q, list[idx[i]]->host, list[idx[i]]->priority);
	}
	if (q->self != NULL && q->nhosts == 0 && n > 0)
		dns_fail(q, RES_TEMPFAIL, "451 4.4.4 no MX host of %s better "
		    "than us (%s): kept in the queue", q->name, q->self);
	return true;
}

static void
dns_on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct relay_dns_q *q = arg;
	struct ares_mx_reply *mx = NULL;

	q->pending--;
	if (status == ARES_SUCCESS &&
	    (status = ares_parse_mx_reply(abuf, alen, &mx)) == ARES_SUCCESS &&
	    !dns_mx_hosts(q, mx))
		dns_fail(q, RES_PERMFAIL, "556 5.1.10 %s accepts no mail "
		    "(null MX, RFC 7505)", q->name);
	if (mx != NULL)
		ares_free_data(mx);
	if (status == ARES_ENODATA)	/* no MX: the domain itself */
		dns_host_add(q, q->name, 0);
	else if (status == ARES_ENOTFOUND)
		dns_fail(q, RES_PERMFAIL, "550 5.1.2 domain %s not found", q->name);
	else if (status != ARES_SUCCESS && status != ARES_EDESTRUCTION)
		dns_fail(q, RES_TEMPFAIL, "451 4.4.3 MX lookup of %s failed: %s",
		    q->name, ares_strerror(status));
	if (q->res == RES_OK && !dns_dying)
		dns_lookup_hosts(q);
	else
		dns_finish(q);
}

/*
 * dns_ip_add - ip, an address of family (AF_UNSPEC: either), as h's
 * address; false if it is not one
 */
static bool
dns_ip_add(struct dns_host *h, const char *ip, int family)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (family != AF_INET6 && inet_pton(AF_INET, ip, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		dns_addr_add(h, (struct sockaddr *)&s4, sizeof(s4));
		return true;
	}
	if (family != AF_INET && inet_pton(AF_INET6, ip, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		dns_addr_add(h, (struct sockaddr *)&s6, sizeof(s6));
		return true;
	}
	return false;
}

/* dns_literal - "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3) */
static bool
dns_literal(struct relay_dns_q *q, const char *domain)
{
	char ip[SMTP_DOMAIN_MAX + 1];
	size_t n = strlen(domain);
	const char *p = domain + 1;

	if (domain[0] != '[' || n < 3 || domain[n - 1] != ']' || n > sizeof(ip))
		return false;
	if (strncasecmp(p, "IPv6:", 5) == 0)
		p += 5;
	memcpy(ip, p, (size_t)(domain + n - 1 - p));
	ip[domain + n - 1 - p] = '\0';
	dns_host_add(q, ip, 0);
	if (!dns_ip_add(&q->hosts[0], ip, p == domain + 1 ? AF_INET : AF_INET6))
		dns_fail(q, RES_PERMFAIL, "501 5.1.3 bad address literal %s", domain);
	if (q->hosts[0].naddrs)
		q->hosts[0].addrs[0].literal = true;
	return true;
}

struct relay_dns_q *
relay_dns_mx(const char *domain, uint16_t port, relay_dns_cb *cb, void *arg)
{
	struct relay_dns_q *q = dns_q_new(domain, port, cb, arg);

	if (dns_literal(q, domain))
		dns_finish(q);
	else if (dns_ares_channel() == NULL) {
		dns_fail(q, RES_TEMPFAIL, "451 4.4.3 no DNS resolver");
		dns_finish(q);
	} else {
		q->pending++;
		ares_query(dns_ares_channel(), domain, ns_c_in, ns_t_mx,
		    dns_on_mx, q);
		dns_ares_rearm();
	}
	return q;
}

struct relay_dns_q *
relay_dns_mx_backup(const char *domain, const char *self, uint16_t port,
    relay_dns_cb *cb, void *arg)
{
	struct relay_dns_q *q;

	if (dns_ares_channel() == NULL || domain[0] == '[')
		return relay_dns_mx(domain, port, cb, arg);
	q = dns_q_new(domain, port, cb, arg);
	q->self = xstrdup(self);
	q->pending++;
	ares_query(dns_ares_channel(), domain, ns_c_in, ns_t_mx, dns_on_mx, q);
	dns_ares_rearm();
	return q;
}

struct relay_dns_q *
relay_dns_host(const char *host, uint16_t port, relay_dns_cb *cb, void *arg)
{
	struct relay_dns_q *q = dns_q_new(host, port, cb, arg);

	dns_host_add(q, host, 0);
	/*
	 * a smarthost given as an address needs nobody: c-ares 1.18 sends
	 * "192.0.2.1" to the resolver as a name, so with DNS down every start
	 * of the relay role waited out its retries (about 6 s)
	 */
	if (dns_ip_add(&q->hosts[0], host, AF_UNSPEC)) {
		q->hosts[0].status = ARES_SUCCESS;
		dns_finish(q);		/* answered from the zero timer */
	} else if (dns_ares_channel() == NULL) {
		dns_fail(q, RES_TEMPFAIL, "451 4.4.3 no DNS resolver");
		dns_finish(q);
	} else {
		dns_lookup_hosts(q);
		dns_ares_rearm();
	}
	return q;
}

void
relay_dns_cancel(struct relay_dns_q *q)
{
	if (q != NULL)
		q->cancelled = true;
}
