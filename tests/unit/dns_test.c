/* SPDX-License-Identifier: ISC */
/*
 * dns_test.c - unit tests for lib/dns: name checks and reverse names, the
 * wire parser on hand-made responses (TXT strings joined, MX through a
 * compression pointer, NXDOMAIN with its SOA TTL, SERVFAIL, pointer
 * loops, truncation), lookups through a zone-table backend (callback
 * never from inside dns_lookup, cache hits, negative caching, no caching
 * of temporary failures, cancel, the entry and byte bounds, expiry after
 * the TTL), and real lookups
 * through c-ares against a tiny UDP server in this process on 127.0.0.1
 * (an answer, NXDOMAIN, SERVFAIL, a timeout, a cancelled query).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "dns.h"
#include "ev.h"
#include "log.h"
#include "t.h"
#include "t_ev.h"

/* what a callback saw */
struct seen {
	int		 calls;
	enum dns_status	 status;
	size_t		 nrr;
	bool		 cached;
	uint32_t	 ttl;
	char		 first[256];
	size_t		 firstlen;
	uint16_t	 pref;
	int		 family;
	uint8_t		 addr[16];
	int		 break_after;	/* ev_break() when calls reaches it */
};

static bool in_lookup;		/* set around dns_lookup() calls */
static int called_inside;

static void
on_result(void *arg, const struct dns_result *r)
{
	struct seen *s = arg;

	if (in_lookup)
		called_inside++;
	s->calls++;
	s->status = r->status;
	s->nrr = r->nrr;
	s->cached = r->cached;
	s->ttl = r->ttl;
	s->first[0] = '\0';
	s->firstlen = 0;
	if (r->nrr > 0) {
		s->pref = r->rr[0].pref;
		s->family = r->rr[0].family;
		memcpy(s->addr, r->rr[0].addr, 16);
		if (r->rr[0].data != NULL && r->rr[0].len < sizeof(s->first)) {
			memcpy(s->first, r->rr[0].data, r->rr[0].len + 1);
			s->firstlen = r->rr[0].len;
		}
	}
	if (s->break_after && s->calls == s->break_after)
		ev_break();
}

static struct dns_query *
lookup(const char *name, enum dns_type type, struct seen *s)
{
	struct dns_query *q;

	in_lookup = true;
	q = dns_lookup(name, type, on_result, s);
	in_lookup = false;
	return q;
}

/* run until s has `calls` answers */
static void
wait_for(struct seen *s, int calls)
{
	s->break_after = calls;
	if (s->calls < calls)
		CHECK(t_run(3000));
}

static void
test_names(void)
{
	char out[300];
	uint8_t a4[4] = { 192, 0, 2, 1 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	CHECK(dns_ptr_name(AF_INET, a4, out, sizeof(out)));
	CHECK_STR(out, "1.2.0.192.in-addr.arpa");
	a6[15] = 0x1f;
	CHECK(dns_ptr_name(AF_INET6, a6, out, sizeof(out)));
	CHECK_STR(out, "f.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "8.b.d.0.1.0.0.2.ip6.arpa");
	CHECK(!dns_ptr_name(AF_INET6, a6, out, 40));
}

/* a response: header, question "a.example" type, then `rest` */
static size_t
msg(uint8_t *m, unsigned rcode, unsigned an, unsigned ns, uint16_t type,
    const uint8_t *rest, size_t restlen)
{
	static const uint8_t q[] = { 1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l',
	    'e', 0 };
	size_t n = 0;

	m[n++] = 0x12; m[n++] = 0x34;
	m[n++] = 0x81; m[n++] = (uint8_t)(0x80 | rcode);
	m[n++] = 0; m[n++] = 1;
	m[n++] = 0; m[n++] = (uint8_t)an;
	m[n++] = 0; m[n++] = (uint8_t)ns;
	m[n++] = 0; m[n++] = 0;
	memcpy(m + n, q, sizeof(q));
	n += sizeof(q);
	m[n++] = 0; m[n++] = (uint8_t)type; m[n++] = 0; m[n++] = 1;
	if (restlen > 0)
		memcpy(m + n, rest, restlen);
	return n + restlen;
}

static const struct dns_result *
parse(struct dns_answer **ans, enum dns_type type, const uint8_t *m, size_t n)
{
	dns_answer_free(ans);
	*ans = dns_answer_new("a.example", type);
	dns_answer_parse(*ans, type, m, n);
	return dns_answer_result(*ans);
}

static void
test_parse(void)
{
	/* owner = pointer to the question name (offset 12) */
	static const uint8_t txt[] = { 0xc0, 12, 0, 16, 0, 1, 0, 0, 1, 0,
	    0, 12, 5, 'v', '=', 's', 'p', 'f', 5, '1', ' ', '-', 'a', 'l' };
	static const uint8_t mx[] = { 0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60,
	    0, 7, 0, 10, 2, 'm', 'x', 0xc0, 12 };
	static const uint8_t soa[] = { 0xc0, 12, 0, 6, 0, 1, 0, 0, 0x0e, 0x10,
	    0, 24, 0xc0, 12, 0xc0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
	    0, 0, 0, 4, 0, 0, 0, 42 };
	static const uint8_t loop[] = { 0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60,
	    0, 4, 0, 10, 0xc0, 41 };
	uint8_t m[512];
	struct dns_answer *ans = NULL;
	const struct dns_result *r;
	size_t n;

	n = msg(m, 0, 1, 0, DNS_T_TXT, txt, sizeof(txt));
	r = parse(&ans, DNS_T_TXT, m, n);
	CHECK(r->status == DNS_OK && r->nrr == 1 && r->ttl == 256);
	CHECK(r->nrr == 1 && r->rr[0].len == 10 &&
	    memcmp(r->rr[0].data, "v=spf1 -al", 11) == 0);
	r = parse(&ans, DNS_T_TXT, m, n - 1);		/* cut short */
	CHECK(r->status == DNS_FORMERR && r->nrr == 0);
	r = parse(&ans, DNS_T_A, m, n);			/* TXT is not A */
	CHECK(r->status == DNS_NODATA);

	n = msg(m, 0, 1, 0, DNS_T_MX, mx, sizeof(mx));
	r = parse(&ans, DNS_T_MX, m, n);
	CHECK(r->status == DNS_OK && r->nrr == 1);
	CHECK(r->nrr == 1 && r->rr[0].pref == 10);
	CHECK_STR(r->nrr ? r->rr[0].data : "", "mx.a.example");

	n = msg(m, 0, 1, 0, DNS_T_MX, loop, sizeof(loop));
	r = parse(&ans, DNS_T_MX, m, n);		/* points to itself */
	CHECK(r->status == DNS_FORMERR);

	n = msg(m, 3, 0, 1, DNS_T_TXT, soa, sizeof(soa));
	r = parse(&ans, DNS_T_TXT, m, n);
	CHECK(r->status == DNS_NXDOMAIN && r->ttl == 42);
	n = msg(m, 0, 0, 1, DNS_T_TXT, soa, sizeof(soa));
	r = parse(&ans, DNS_T_TXT, m, n);
	CHECK(r->status == DNS_NODATA && r->ttl == 42);
	n = msg(m, 0, 0, 0, DNS_T_TXT, NULL, 0);
	r = parse(&ans, DNS_T_TXT, m, n);		/* no SOA: kept briefly */
	CHECK(r->status == DNS_NODATA && r->ttl == DNS_NEG_TTL_NOSOA);
	n = msg(m, 2, 0, 0, DNS_T_TXT, NULL, 0);
	r = parse(&ans, DNS_T_TXT, m, n);
	CHECK(r->status == DNS_TEMPFAIL && r->ttl == 0);
	n = msg(m, 5, 0, 0, DNS_T_TXT, NULL, 0);	/* REFUSED */
	CHECK(parse(&ans, DNS_T_TXT, m, n)->status == DNS_TEMPFAIL);
	m[2] = 0x01;					/* a query, not a response */
	CHECK(parse(&ans, DNS_T_TXT, m, n)->status == DNS_FORMERR);
	dns_answer_free(&ans);
}

/* the zone-table backend */
static int backend_calls;

static void
zone_query(void *ctx, const char *name, enum dns_type type,
    struct dns_answer *ans)
{
	static const uint8_t a4[4] = { 192, 0, 2, 7 };

	backend_calls++;
	if (strcmp(name, "spf.example") == 0 && type == DNS_T_TXT) {
		dns_answer_add_txt(ans, 300, "v=spf1 -all", 11);
		dns_answer_add_txt(ans, 100, "other", 5);
	} else if (strcmp(name, "spf.example") == 0 && type == DNS_T_A)
		dns_answer_add_addr(ans, 300, AF_INET, a4);
	else if (strcmp(name, "spf.example") == 0 && type == DNS_T_MX)
		dns_answer_add_mx(ans, 300, 5, "mx.spf.example.");
	else if (strcmp(name, "spf.example") == 0)
		dns_answer_status(ans, DNS_NODATA, 60);
	else if (strcmp(name, "short.example") == 0)
		dns_answer_add_txt(ans, 1, "one second", 10);
	else if (strncmp(name, "big", 3) == 0) {
		static char big[2000];

		memset(big, 'x', sizeof(big));
		dns_answer_add_txt(ans, 300, big, sizeof(big));
	} else if (strcmp(name, "fail.example") == 0)
		dns_answer_status(ans, DNS_TEMPFAIL, 0);
	else
		dns_answer_status(ans, DNS_NXDOMAIN, 600);
}

static void
test_backend(void)
{
	static const struct dns_backend zone = { zone_query, NULL };
	struct seen s;
	struct dns_query *q;
	size_t ents, bytes;
	int i;

	dns_set_backend(&zone);
	memset(&s, 0, sizeof(s));
	(void)lookup("SPF.example.", DNS_T_TXT, &s);
	CHECK(s.calls == 0);
	wait_for(&s, 1);
	CHECK(called_inside == 0);
	CHECK(s.status == DNS_OK && s.nrr == 2 && !s.cached && s.ttl == 100);
	CHECK_STR(s.first, "v=spf1 -all");
	CHECK(backend_calls == 1);

	(void)lookup("spf.example", DNS_T_TXT, &s);	/* from the cache */
	wait_for(&s, 2);
	CHECK(s.status == DNS_OK && s.nrr == 2 && s.cached);
	CHECK(backend_calls == 1);

	(void)lookup("spf.example", DNS_T_MX, &s);
	wait_for(&s, 3);
	CHECK(s.status == DNS_OK && s.pref == 5);
	CHECK_STR(s.first, "mx.spf.example");
	(void)lookup("spf.example", DNS_T_A, &s);
	wait_for(&s, 4);
	CHECK(s.status == DNS_OK && s.family == AF_INET && s.addr[3] == 7);

	(void)lookup("spf.example", DNS_T_AAAA, &s);	/* NODATA, cached */
	(void)lookup("nx.example", DNS_T_TXT, &s);	/* NXDOMAIN, capped */
	wait_for(&s, 6);
	CHECK(s.status == DNS_NXDOMAIN && s.ttl == DNS_NEG_TTL_MAX);
	i = backend_calls;
	(void)lookup("nx.example", DNS_T_TXT, &s);
	(void)lookup("spf.example", DNS_T_AAAA, &s);
	wait_for(&s, 8);
	CHECK(s.status == DNS_NODATA && s.cached && backend_calls == i);

	(void)lookup("fail.example", DNS_T_TXT, &s);	/* never cached */
	(void)lookup("fail.example", DNS_T_TXT, &s);
	wait_for(&s, 10);
	CHECK(s.status == DNS_TEMPFAIL && backend_calls == i + 2);

	(void)lookup("bad..example", DNS_T_TXT, &s);
	wait_for(&s, 11);
	CHECK(s.status == DNS_FORMERR && backend_calls == i + 2);
	(void)lookup("x.123456789012345678901234567890123456789012345678901234"
	    "5678901234.example", DNS_T_TXT, &s);	/* label of 64 */
	wait_for(&s, 12);
	CHECK(s.status == DNS_FORMERR);

	q = lookup("spf.example", DNS_T_TXT, &s);	/* cancelled */
	dns_cancel(q);
	(void)lookup("spf.example", DNS_T_A, &s);
	wait_for(&s, 13);
	CHECK(s.calls == 13 && s.status == DNS_OK && s.family == AF_INET);

	dns_cache_flush();
	dns_cache_stats(&ents, &bytes);
	CHECK(ents == 0 && bytes == 0);
	dns_cache_limits(3, DNS_CACHE_BYTES);
	for (i = 0; i < 10; i++) {
		char name[64];

		snprintf(name, sizeof(name), "n%d.example", i);
		(void)lookup(name, DNS_T_TXT, &s);
	}
	wait_for(&s, 23);
	dns_cache_stats(&ents, &bytes);
	CHECK(ents == 3 && bytes > 0);
	/* the byte bound: 2000-byte answers, 9000 bytes in all */
	dns_cache_limits(100, 9000);
	for (i = 0; i < 10; i++) {
		char name[64];

		snprintf(name, sizeof(name), "big%d.example", i);
		(void)lookup(name, DNS_T_TXT, &s);
	}
	wait_for(&s, 33);
	dns_cache_stats(&ents, &bytes);
	CHECK(ents >= 3 && ents <= 4 && bytes <= 9000);
	dns_cache_limits(DNS_CACHE_ENTRIES, DNS_CACHE_BYTES);
	dns_cache_flush();

	/* a TTL of 1 s: cached, then asked again once it has run out */
	i = backend_calls;
	(void)lookup("short.example", DNS_T_TXT, &s);
	(void)lookup("short.example", DNS_T_TXT, &s);
	wait_for(&s, 35);
	CHECK(backend_calls == i + 1 && s.cached && s.ttl == 1);
	CHECK(!t_run(1100));
	(void)lookup("short.example", DNS_T_TXT, &s);
	wait_for(&s, 36);
	CHECK(backend_calls == i + 2 && !s.cached);
	dns_cache_flush();
	dns_set_backend(NULL);
}

/* a tiny UDP DNS server on 127.0.0.1, on the same event loop */
struct udp_server {
	struct ev_io	 io;
	int		 queries;
};

static void
srv_on_read(struct ev_io *io, unsigned events, void *arg)
{
	struct udp_server *srv = arg;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	uint8_t m[512];
	ssize_t n;
	size_t len, qend;
	char qname[256];
	size_t o = 0, p = 12;

	n = recvfrom(io->fd, m, sizeof(m) - 64, 0, (struct sockaddr *)&from,
	    &fromlen);
	if (n < 17)
		return;
	srv->queries++;
	len = (size_t)n;
	/* the question name, dotted */
	while (p < len && m[p] != 0 && o + m[p] + 1 < sizeof(qname)) {
		if (o > 0)
			qname[o++] = '.';
		memcpy(qname + o, m + p + 1, m[p]);
		o += m[p];
		p += 1 + m[p];
	}
	qname[o] = '\0';
	qend = p + 5;
	if (qend > len)
		return;
	if (strcmp(qname, "slow.test") == 0)
		return;				/* never answers */
	m[2] |= 0x80;				/* QR */
	m[3] = 0x80;				/* RA, NOERROR */
	m[10] = m[11] = 0;
	len = qend;
	if (strcmp(qname, "txt.test") == 0) {
		static const uint8_t rr[] = { 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 30,
		    0, 6, 5, 'h', 'e', 'l', 'l', 'o' };

		m[7] = 1;
		memcpy(m + len, rr, sizeof(rr));
		len += sizeof(rr);
	} else if (strcmp(qname, "servfail.test") == 0)
		m[3] |= 2;
	else
		m[3] |= 3;			/* NXDOMAIN, no SOA */
	(void)sendto(io->fd, m, len, 0, (struct sockaddr *)&from, fromlen);
}

static void
test_cares(void)
{
	struct udp_server srv;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct conf_addr ca;
	struct seen s, s2;
	struct dns_query *q;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
	memset(&srv, 0, sizeof(srv));
	ev_io_init(&srv.io, fd, srv_on_read, &srv);
	ev_io_want(&srv.io, EV_READ);

	memset(&ca, 0, sizeof(ca));
	snprintf(ca.host, sizeof(ca.host), "127.0.0.1");
	ca.port = ntohs(sin.sin_port);
	dns_set_timeout(150, 1);
	CHECK(dns_init(&ca) == 0);

	memset(&s, 0, sizeof(s));
	(void)lookup("txt.test", DNS_T_TXT, &s);
	(void)lookup("nx.test", DNS_T_TXT, &s);
	(void)lookup("servfail.test", DNS_T_TXT, &s);
	wait_for(&s, 3);
	CHECK(called_inside == 0 && srv.queries >= 3);
	(void)lookup("txt.test", DNS_T_TXT, &s);
	wait_for(&s, 4);
	CHECK(s.status == DNS_OK && s.cached && s.ttl <= 30 && s.ttl > 0);
	CHECK_STR(s.first, "hello");

	memset(&s, 0, sizeof(s));
	(void)lookup("nx.test", DNS_T_TXT, &s);
	wait_for(&s, 1);
	CHECK(s.status == DNS_NXDOMAIN && s.cached);	/* no SOA: kept briefly */
	(void)lookup("servfail.test", DNS_T_TXT, &s);
	wait_for(&s, 2);
	CHECK(s.status == DNS_TEMPFAIL);
	(void)lookup("slow.test", DNS_T_TXT, &s);
	wait_for(&s, 3);
	CHECK(s.status == DNS_TEMPFAIL);

	/* a cancelled query: no callback even when the answer comes */
	memset(&s2, 0, sizeof(s2));
	q = lookup("nx2.test", DNS_T_TXT, &s2);
	dns_cancel(q);
	(void)lookup("nx3.test", DNS_T_TXT, &s);
	wait_for(&s, 4);
	CHECK(s2.calls == 0 && s.status == DNS_NXDOMAIN);

	/* shutdown with a query in flight: no callback, nothing leaks */
	(void)lookup("slow.test", DNS_T_TXT, &s2);
	dns_shutdown();
	CHECK(!t_run(400) && s2.calls == 0);

	ev_io_stop(&srv.io);
	close(fd);
}

int
main(void)
{
	log_init("dns_test", true, false);
	ev_init();
	test_names();
	test_parse();
	test_backend();
	test_cares();
	return T_DONE();
}
