/* SPDX-License-Identifier: ISC */
/*
 * screen_helo.c - client hygiene on port 25 (see screen.h): the name a
 * client gives in HELO/EHLO and the domain of its MAIL FROM.
 *
 *   helo_fqdn = yes       the HELO name must be a fully-qualified domain
 *                         name (two labels or more, not all digits at the
 *                         end) or an address literal ([192.0.2.1],
 *                         [IPv6:...]): "504 5.5.2 ... need
 *                         fully-qualified hostname" otherwise
 *   helo_own = yes        a client may not call itself by our hostname,
 *                         one of our domains, or the address it connected
 *                         to: "554 5.7.1 ... you are not me".  A client
 *                         whose address is the server's own (a program on
 *                         the same host) is exempt.
 *   unknown_sender = 450 | 550
 *                         the MAIL FROM domain (not ours, not <>) must
 *                         have an MX or, without MX, an A or AAAA record:
 *                         "450 4.1.8" or "550 5.1.8 ... Domain not found"
 *                         otherwise; a null MX (RFC 7505) is "x.7.27";
 *                         DNS failing or slower than [screen] dns_timeout
 *                         is "451 4.4.3".
 *
 * Runs in the smtp role (as user-smtp, chrooted); the three lookups go
 * out in parallel through lib/dns and the session waits (S_WAIT) as it
 * does for authd.  Refusals are logged once per session (screen_log);
 * a refused HELO may be given again, a refused MAIL too.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "smtp_session.h"
#include "screen.h"

/* helo_literal - "[1.2.3.4]" or "[IPv6:...]" into its address; 0 if not */
static int
helo_literal(const char *a, unsigned char ip[16])
{
	char tmp[SMTP_DOMAIN_MAX + 1];
	size_t n = strlen(a);

	if (n < 3 || a[0] != '[' || a[n - 1] != ']' || n - 2 >= sizeof(tmp))
		return 0;
	memcpy(tmp, a + 1, n - 2);
	tmp[n - 2] = '\0';
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, ip) == 1 ? AF_INET6 : 0;
	return inet_pton(AF_INET, tmp, ip) == 1 ? AF_INET : 0;
}

/* helo_fqdn - a FQDN: valid, two labels or more, a last label not numeric */
static bool
helo_fqdn(const char *a)
{
	unsigned char ip[16];
	size_t n = strlen(a);
	const char *last;

	if (a[0] == '[')
		return helo_literal(a, ip) != 0;
	if (n > 0 && a[n - 1] == '.')
		n--;		/* a final dot is allowed */
	if (!smtp_cmd_valid_domain(a, n) || (last = memrchr(a, '.', n)) == NULL)
		return false;
	for (last++; last < a + n; last++)
		if (!(*last >= '0' && *last <= '9'))
			return true;
	return false;		/* 192.0.2.1 without brackets */
}

/* helo_addr - the address in HELO (literal or bare) as a sockaddr family */
static int
helo_addr(const char *a, unsigned char ip[16])
{
	int af;

	if ((af = helo_literal(a, ip)) != 0)
		return af;
	if (inet_pton(AF_INET, a, ip) == 1)
		return AF_INET;
	return inet_pton(AF_INET6, a, ip) == 1 ? AF_INET6 : 0;
}

/* same_addr - sockaddr sa and (af, ip), IPv4-mapped IPv6 as IPv4 */
static bool
same_addr(const struct sockaddr_storage *ss, int af, const unsigned char *ip)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return af == AF_INET && memcmp(&s4->sin_addr, ip, 4) == 0;
	if (ss->ss_family != AF_INET6)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return af == AF_INET && memcmp(s6->sin6_addr.s6_addr + 12, ip,
		    4) == 0;
	return af == AF_INET6 && memcmp(&s6->sin6_addr, ip, 16) == 0;
}

/* helo_is_us - HELO names our host, a domain of ours or our address */
static bool
helo_is_us(struct session *s, const char *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char local[NI_MAXHOST];
	unsigned char ip[16];
	size_t n = strlen(a);
	int af;

	if (getsockname(s->c.fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, local, sizeof(local), NULL,
	    0, NI_NUMERICHOST) != 0)
		return false;
	if (strcmp(local, s->addr) == 0)
		return false;	/* a program on this host */
	if ((af = helo_addr(a, ip)) != 0)
		return same_addr(&ss, af, ip);
	if (n > 0 && a[n - 1] == '.')
		n--;
	return dns_name_eq(a, smtpd_conf->hostname) ||
	    conf_is_local_domain(smtpd_conf, a, n);
}

bool
screen_helo(struct session *s, const char *args)
{
	const struct conf *c = smtpd_conf;
	char esc[80];

	if (s->l->kind != PORT_MX || s->trusted)
		return true;
	log_escape(esc, sizeof(esc), args, strlen(args));
	if (c->screen.helo_fqdn && !helo_fqdn(args)) {
		screen_log(s, "helo_fqdn", "helo=%s", esc);
		session_reply(s, "504 5.5.2 <%s>: Helo command rejected: need "
		    "fully-qualified hostname", args);
		return false;
	}
	if (c->screen.helo_own && helo_is_us(s, args)) {
		screen_log(s, "helo_own", "helo=%s", esc);
		session_reply(s, "554 5.7.1 <%s>: Helo command rejected: you "
		    "are not me", args);
		return false;
	}
	return true;
}

/* ---- MAIL FROM: the sender domain --------------------------------------- */

void
screen_mail_cancel(struct screen *sc)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		dns_cancel(sc->dq[i].q);
		sc->dq[i].q = NULL;
	}
	if (sc->mail_wait)
		ev_timer_del(&sc->timer);
	sc->mail_wait = false;
}

/* mail_done - answer MAIL: accepted (reply NULL) or refused, and go on */
static void
mail_done(struct screen *sc, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
mail_done(struct screen *sc, const char *reason, const char *fmt, ...)
{
	struct session *s = sc->s;
	char line[SMTP_PATH_MAX + 128];
	va_list ap;

	screen_mail_cancel(sc);
	if (fmt == NULL)
		session_mail_accept(s);
	else {
		va_start(ap, fmt);
		(void)vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		if (reason != NULL)
			screen_log(s, reason, "from=<%s> code=%.3s",
			    s->from.addr, line);
		else
			log_info("session=%08x addr=%s from=<%s> sender domain "
			    "lookup failed: %.3s", s->id, s->addr, s->from.addr,
			    line);
		session_reply(s, "%s", line);
	}
	session_resume(s);
}

/*
 * mail_decide - enough answers to decide?  An MX decides (a null MX
 * refuses); without one (NODATA) an A or AAAA does; NXDOMAIN refuses.
 * Unanswered lookups count as DNS_TEMPFAIL when the time is up.
 */
static void
mail_decide(struct screen *sc, bool timeout)
{
	const struct screen_dq *mx = &sc->dq[0], *a = &sc->dq[1],
	    *aaaa = &sc->dq[2];
	unsigned code = smtpd_conf->screen.unknown_sender;
	const char *addr = sc->s->from.addr;
	bool mx_done = mx->q == NULL, addr_ok;

	if (mx_done && mx->st == DNS_OK && mx->nullmx) {
		mail_done(sc, "unknown_sender", "%u %u.7.27 <%s>: Sender address "
		    "rejected: Domain does not accept mail (null MX)", code,
		    code / 100, addr);
		return;
	}
	if (mx_done && mx->st == DNS_OK) {
		mail_done(sc, NULL, NULL);
		return;
	}
	addr_ok = (a->q == NULL && a->st == DNS_OK) ||
	    (aaaa->q == NULL && aaaa->st == DNS_OK);
	if (addr_ok && mx->st != DNS_NXDOMAIN && (mx_done || timeout)) {
		mail_done(sc, NULL, NULL);
		return;
	}
	if (!timeout && !(mx_done && mx->st == DNS_NXDOMAIN) &&
	    (!mx_done || a->q != NULL || aaaa->q != NULL))
		return;		/* wait for the rest */
	if (mx->st != DNS_NXDOMAIN && (timeout || mx->st == DNS_TEMPFAIL ||
	    a->st == DNS_TEMPFAIL || aaaa->st == DNS_TEMPFAIL)) {
		mail_done(sc, NULL, "451 4.4.3 <%s>: Sender address rejected: "
		    "Domain lookup failed, try again later", addr);
		return;
	}
	mail_done(sc, "unknown_sender", "%u %u.1.8 <%s>: Sender address "
	    "rejected: Domain not found", code, code / 100, addr);
}

static void
mail_on_answer(void *arg, const struct dns_result *r)
{
	struct screen_dq *d = arg;

	d->q = NULL;
	d->st = r->status;
	/* RFC 7505 3: a null MX is the only MX record, "0 ." */
	d->nullmx = r->status == DNS_OK && r->type == DNS_T_MX &&
	    r->nrr == 1 && r->rr[0].len == 0;
	mail_decide(d->sc, false);
}

void
screen_mail_timeout(struct screen *sc)
{
	sc->mail_wait = false;
	mail_decide(sc, true);
}

bool
screen_mail(struct session *s)
{
	static const enum dns_type types[3] = { DNS_T_MX, DNS_T_A, DNS_T_AAAA };
	const char *domain;
	struct screen *sc;
	size_t i;

	if (smtpd_conf->screen.unknown_sender == 0 || s->l->kind != PORT_MX ||
	    s->trusted || s->auth_user != NULL || s->from.addr[0] == '\0' ||
	    s->from.at == 0)
		return false;
	domain = s->from.addr + s->from.at + 1;
	if (domain[0] == '[' || conf_is_local_domain(smtpd_conf, domain,
	    strlen(domain)))
		return false;
	sc = screen_get(s);
	session_wait(s);
	sc->mail_wait = true;
	for (i = 0; i < 3; i++) {
		sc->dq[i].sc = sc;
		sc->dq[i].st = DNS_TEMPFAIL;
		sc->dq[i].nullmx = false;
		sc->dq[i].q = dns_lookup(domain, types[i], mail_on_answer,
		    &sc->dq[i]);
	}
	ev_timer_add(&sc->timer, 1000ULL * smtpd_conf->screen.dns_timeout);
	return true;
}
