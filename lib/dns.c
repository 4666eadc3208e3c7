/* SPDX-License-Identifier: ISC */
/*
 * dns.c - asynchronous lookups (dns.h): the c-ares channel driven by the
 * process's one event loop (its sockets are ev_io watchers, its timeouts
 * one ev_timer), the cache in front of it (dns_cache.c), or a backend
 * that answers at once (tests).  Each lookup's answer is handed over
 * from its own zero timer, never from inside dns_lookup() or c-ares.
 *
 * Runs in any role that asks DNS questions, as that role's user, inside
 * its chroot if it has one (c-ares read resolv.conf in dns_init()).
 * The channel itself is made at the first query and freed DNS_IDLE_MS
 * after the last one is answered (issue 17: c-ares 1.18's channel is 74
 * KiB of queue heads, written at creation, in each role that resolves):
 * dns_init() reads resolv.conf into a channel, keeps its options and
 * every server (ares_save_options keeps only the IPv4 ones, as ares_dup
 * knows) and frees it; dns_channel() makes it again from those, reading
 * no file.
 * c-ares has no per-query cancel: a cancelled lookup stays allocated,
 * flagged, until c-ares answers it, then is freed without a callback.
 */
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <ares.h>

#include "compat.h"
#include "conf.h"
#include "dns_ares.h"
#include "dns_int.h"
#include "ev.h"
#include "log.h"
#include "xmem.h"

#define DNS_SOCKS	16		/* c-ares sockets watched at once */
#define DNS_IDLE_MS	60000		/* the channel outlives its last query */

struct dns_query {
	dns_cb		*cb;
	void		*arg;
	char		 name[DNS_NAME_MAX + 1];
	enum dns_type	 type;
	bool		 inflight;	/* c-ares owes us an answer */
	bool		 cancelled;
	bool		 delivering;	/* inside the callback */
	struct dns_result *res;		/* packed, once answered */
	struct ev_timer	 done;
	LIST_ENTRY(dns_query) entry;
};

struct dns_sock {
	struct ev_io	 io;
	bool		 used;
};

static ares_channel dns_ch;		/* NULL between queries (idle) */
static bool dns_ok;			/* dns_init() succeeded */
static struct ares_options dns_opts;	/* what it read, to make dns_ch */
static int dns_optmask;
static struct ares_addr_port_node *dns_servers;
static bool dns_dying;			/* dns_shutdown() is running */
static unsigned dns_timeout_ms = DNS_TIMEOUT_MS, dns_tries = DNS_TRIES;
static struct dns_sock dns_socks[DNS_SOCKS];
static struct ev_timer dns_timer, dns_idle;
static const struct dns_backend *dns_backend;
static LIST_HEAD(, dns_query) dns_queries = LIST_HEAD_INITIALIZER(dns_queries);

/* dns_rearm - the c-ares timeout as our one timer; none: the idle one */
static void
dns_rearm(void)
{
	struct timeval tv, *tvp;

	if (dns_ch == NULL)
		return;
	if ((tvp = ares_timeout(dns_ch, NULL, &tv)) == NULL) {
		ev_timer_del(&dns_timer);
		ev_timer_add(&dns_idle, DNS_IDLE_MS);
		return;
	}
	ev_timer_del(&dns_idle);
	ev_timer_add(&dns_timer, (uint64_t)tvp->tv_sec * 1000 +
	    (uint64_t)tvp->tv_usec / 1000 + 1);
}

static void
dns_on_timer(struct ev_timer *t, void *arg)
{
	if (dns_ch != NULL)
		ares_process_fd(dns_ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm();
}

/* dns_on_idle - no query for DNS_IDLE_MS: free the channel */
static void
dns_on_idle(struct ev_timer *t, void *arg)
{
	struct timeval tv;

	if (dns_ch == NULL || ares_timeout(dns_ch, NULL, &tv) != NULL)
		return;		/* a query came: dns_rearm() arms us again */
	ares_destroy(dns_ch);	/* closes its sockets: dns_sock_state */
	dns_ch = NULL;
	malloc_trim(0);
}

static void
dns_on_io(struct ev_io *io, unsigned events, void *arg)
{
	int fd = io->fd;

	if (dns_ch == NULL)
		return;
	ares_process_fd(dns_ch,
	    (events & (EV_READ | EV_ERROR)) ? fd : ARES_SOCKET_BAD,
	    (events & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_rearm();
}

/* dns_sock_state - c-ares tells which of its sockets to watch */
static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_sock *s = NULL, *freeslot = NULL;
	size_t i;

	for (i = 0; i < DNS_SOCKS; i++) {
		if (dns_socks[i].used && dns_socks[i].io.fd == fd)
			s = &dns_socks[i];
		else if (!dns_socks[i].used && freeslot == NULL)
			freeslot = &dns_socks[i];
	}
	if (!readable && !writable) {
		if (s != NULL) {
			ev_io_stop(&s->io);
			s->used = false;
		}
		return;
	}
	if (s == NULL) {
		if (freeslot == NULL) {
			/* c-ares times the query out */
			log_warnx("dns: too many resolver sockets");
			return;
		}
		s = freeslot;
		s->used = true;
		ev_io_init(&s->io, fd, dns_on_io, NULL);
	}
	ev_io_want(&s->io, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
}

/* dns_channel - the channel, made again from dns_init()'s options if idle */
static ares_channel
dns_channel(void)
{
	int st;

	if (!dns_ok || dns_ch != NULL)
		return dns_ch;
	if ((st = ares_init_options(&dns_ch, &dns_opts, dns_optmask)) !=
	    ARES_SUCCESS) {
		dns_ch = NULL;
		log_warnx("dns: %s", ares_strerror(st));
		return NULL;
	}
	if (dns_servers != NULL &&
	    (st = ares_set_servers_ports(dns_ch, dns_servers)) != ARES_SUCCESS) {
		log_warnx("dns: %s", ares_strerror(st));
		ares_destroy(dns_ch);
		dns_ch = NULL;
	}
	return dns_ch;
}

ares_channel
dns_ares_channel(void)
{
	return dns_channel();
}

void
dns_ares_rearm(void)
{
	dns_rearm();
}

void
dns_set_timeout(unsigned ms, unsigned tries)
{
	dns_timeout_ms = ms ? ms : DNS_TIMEOUT_MS;
	dns_tries = tries ? tries : DNS_TRIES;
}

int
dns_init(const struct conf_addr *resolver)
{
	struct ares_options o;
	char csv[300];
	int st;

	ev_timer_init(&dns_timer, dns_on_timer, NULL);
	ev_timer_init(&dns_idle, dns_on_idle, NULL);
	if ((st = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_warnx("dns: %s", ares_strerror(st));
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = dns_sock_state;
	o.timeout = (int)dns_timeout_ms;
	o.tries = (int)dns_tries;
	st = ares_init_options(&dns_ch, &o, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (st != ARES_SUCCESS) {
		log_warnx("dns: %s", ares_strerror(st));
		ares_library_cleanup();
		return -1;
	}
	if (resolver != NULL) {
		st = ARES_EBADSTR;
		if (!conf_addr_format(resolver, csv, sizeof(csv)) ||
		    (st = ares_set_servers_ports_csv(dns_ch, csv)) != ARES_SUCCESS) {
			log_warnx("dns: resolver %s: %s", resolver->host,
			    ares_strerror(st));
			goto fail;
		}
	}
	/* keep what it read; the channel is made again at the first query */
	if ((st = ares_save_options(dns_ch, &dns_opts, &dns_optmask)) !=
	    ARES_SUCCESS) {
		log_warnx("dns: %s", ares_strerror(st));
		goto fail;
	}
	if ((st = ares_get_servers_ports(dns_ch, &dns_servers)) !=
	    ARES_SUCCESS) {
		log_warnx("dns: %s", ares_strerror(st));
		ares_destroy_options(&dns_opts);
		goto fail;
	}
	ares_destroy(dns_ch);
	dns_ch = NULL;
	dns_ok = true;
	return 0;
fail:
	ares_destroy(dns_ch);
	dns_ch = NULL;
	ares_library_cleanup();
	return -1;
}

static void
dns_q_free(struct dns_query *q)
{
	ev_timer_del(&q->done);
	LIST_REMOVE(q, entry);
	free(q->res);
	free(q);
}

void
dns_shutdown(void)
{
	struct dns_query *q;

	dns_dying = true;
	if (dns_ch != NULL) {
		ares_destroy(dns_ch);	/* answers every query: ARES_EDESTRUCTION */
		dns_ch = NULL;
	}
	if (dns_ok) {
		dns_ok = false;
		ares_destroy_options(&dns_opts);
		ares_free_data(dns_servers);
		dns_servers = NULL;
		ares_library_cleanup();
	}
	ev_timer_del(&dns_timer);
	ev_timer_del(&dns_idle);
	while ((q = LIST_FIRST(&dns_queries)) != NULL)
		dns_q_free(q);
	dns_cache_flush();
	dns_dying = false;
}

void
dns_set_backend(const struct dns_backend *b)
{
	dns_backend = b;
}

/* dns_on_done - hand the answer over, from the loop */
static void
dns_on_done(struct ev_timer *t, void *arg)
{
	struct dns_query *q = arg;

	LIST_REMOVE(q, entry);
	q->delivering = true;
	q->cb(q->arg, q->res);
	free(q->res);
	free(q);
}

/* dns_answered - q has its answer: cache it, schedule the callback */
static void
dns_answered(struct dns_query *q, struct dns_answer *ans)
{
	const struct dns_result *r = dns_answer_result(ans);

	dns_cache_put(r);
	q->res = dns_result_pack(r, NULL);
	ev_timer_add(&q->done, 0);
}

static void
dns_on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns_answer *ans;

	q->inflight = false;
	if (dns_dying)			/* dns_shutdown() frees q */
		return;
	ans = dns_answer_new(q->name, q->type);
	if (abuf != NULL && alen > 0)
		dns_answer_parse(ans, q->type, abuf, (size_t)alen);
	else if (status == ARES_ENOTFOUND)
		dns_answer_status(ans, DNS_NXDOMAIN, DNS_NEG_TTL_NOSOA);
	else if (status == ARES_ENODATA)
		dns_answer_status(ans, DNS_NODATA, DNS_NEG_TTL_NOSOA);
	else if (status == ARES_EBADNAME || status == ARES_EBADRESP)
		dns_answer_status(ans, DNS_FORMERR, 0);
	else
		dns_answer_status(ans, DNS_TEMPFAIL, 0);
	if (q->cancelled) {
		/* nobody waits, but the next client of that address will
		 * (a bot that hangs up at once comes back): keep it */
		dns_cache_put(dns_answer_result(ans));
		dns_q_free(q);
	} else
		dns_answered(q, ans);
	dns_answer_free(&ans);
}

struct dns_query *
dns_lookup(const char *name, enum dns_type type, dns_cb *cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	struct dns_answer *ans;
	ares_channel ch;
	bool ok;

	q->cb = cb;
	q->arg = arg;
	q->type = type;
	ev_timer_init(&q->done, dns_on_done, q);
	LIST_INSERT_HEAD(&dns_queries, q, entry);
	ok = dns_name_norm(name, q->name, sizeof(q->name));
	if (!ok)
		(void)bstrcpy(q->name, "", sizeof(q->name));
	if (ok && (q->res = dns_cache_get(q->name, type)) != NULL) {
		ev_timer_add(&q->done, 0);
		return q;
	}
	if (ok && dns_backend == NULL && (ch = dns_channel()) != NULL) {
		q->inflight = true;
		ares_query(ch, q->name, ns_c_in, (int)type, dns_on_ares, q);
		dns_rearm();
		return q;
	}
	ans = dns_answer_new(q->name, type);
	if (!ok)
		dns_answer_status(ans, DNS_FORMERR, 0);
	else if (dns_backend != NULL)
		dns_backend->query(dns_backend->ctx, q->name, type, ans);
	else
		dns_answer_status(ans, DNS_TEMPFAIL, 0);	/* no resolver */
	dns_answered(q, ans);
	dns_answer_free(&ans);
	return q;
}

void
dns_cancel(struct dns_query *q)
{
	if (q == NULL || q->delivering)	/* from its callback: freed after */
		return;
	if (q->inflight)
		q->cancelled = true;
	else
		dns_q_free(q);
}

bool
dns_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}
