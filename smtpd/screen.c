/* SPDX-License-Identifier: ISC */
/*
 * screen.c - the connect-time checks of port 25 (see screen.h): the
 * pregreet test and the DNSBL/DNSWL score, then the greeting, and the
 * 554 a refused client gets at each of its commands.
 *
 * Runs in the smtp role (as user-smtp, chrooted, no key).  At connect,
 * with [screen] pregreet set, the session sends "220-HOST ESMTP facteur"
 * at once and the final "220 HOST ESMTP facteur" only after `pregreet`
 * seconds (RFC 5321 4.2.1: a client must wait for the last line of a
 * reply, so whoever talks in between does not follow the protocol: most
 * spam bots do).  Its bytes are dropped; once greeted it gets
 * "554 5.5.1" at every command but QUIT, NOOP and RSET.  At the same
 * moment one A query per DNSBL/DNSWL zone goes out (lib/dns: parallel,
 * cached for the answer's TTL); the greeting waits for the answers, at
 * most [screen] dns_timeout after connect (missing answers count 0).
 * Each site whose filter matches an answer adds its weight (dnswl sites
 * and negative weights subtract); a score of `threshold` or more gets
 * "554 5.7.1 ... blocked using ZONES" at every command, a negative
 * score (allow-listed) skips the pregreet verdict.  Submission ports,
 * facteur-sendmail and port 25 clients in [smtp] trusted never wait.  Sessions stay in S_SCREEN meanwhile: no
 * command runs before the final 220.
 *
 * Errors: a client's behaviour is logged (one line per refused client,
 * screen_log) and answered, never fatal; DNS failures count as "not
 * listed".  Out of memory is fatal (x*), like the rest of the role.
 */
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsbl.h"
#include "log.h"
#include "xmem.h"
#include "smtp_session.h"
#include "screen.h"

/* the sites of [screen], parsed once; zones shared by sites asked once */
static struct dnsbl_site *sites;
static size_t		 nsites;
static size_t		*site_zone;	/* index into zones, per site */
static const char	**zones;
static size_t		 nzones;

/* one DNSBL query of a session */
struct screen_zone {
	struct screen	*sc;
	size_t		 zi;
	struct dns_query *q;
};

static void	screen_on_timer(struct ev_timer *t, void *arg);

/* screen_add_site - parse (checked by conf) one line; dnswl weighs < 0 */
static void
screen_add_site(const char *text, bool allow)
{
	struct dnsbl_site *site;
	size_t i;

	sites = xreallocarray(sites, nsites + 1, sizeof(*sites));
	site_zone = xreallocarray(site_zone, nsites + 1, sizeof(*site_zone));
	site = &sites[nsites];
	if (dnsbl_site_parse(text, strlen(text), site) != NULL)
		fatalx("[screen] %s: bad site", text);	/* conf checked it */
	if (allow && site->weight > 0)
		site->weight = -site->weight;
	for (i = 0; i < nsites; i++)
		if (strcmp(sites[i].zone, site->zone) == 0)
			break;
	site_zone[nsites] = i < nsites ? site_zone[i] : nzones++;
	nsites++;
}

void
screen_init(void)
{
	const struct conf *c = smtpd_conf;
	size_t i;

	for (i = 0; i < c->screen.dnsbl.n; i++)
		screen_add_site(c->screen.dnsbl.v[i], false);
	for (i = 0; i < c->screen.dnswl.n; i++)
		screen_add_site(c->screen.dnswl.v[i], true);
	zones = xcalloc(nzones ? nzones : 1, sizeof(*zones));
	for (i = 0; i < nsites; i++)
		zones[site_zone[i]] = sites[i].zone;
	if (nsites > 0 || c->screen.pregreet)
		log_info("screen: %zu DNS list sites in %zu zones, threshold "
		    "%u, pregreet %us", nsites, nzones, c->screen.threshold,
		    c->screen.pregreet);
}

bool
screen_uses_dns(const struct conf *c)
{
	return c->screen.dnsbl.n + c->screen.dnswl.n > 0 ||
	    c->screen.unknown_sender != 0;
}

struct screen *
screen_get(struct session *s)
{
	struct screen *sc = s->screen;

	if (sc == NULL) {
		sc = s->screen = xcalloc(1, sizeof(*sc));
		sc->s = s;
		ev_timer_init(&sc->timer, screen_on_timer, sc);
	}
	return sc;
}

void
screen_log(struct session *s, const char *reason, const char *fmt, ...)
{
	struct screen *sc = screen_get(s);
	char detail[400];
	va_list ap;

	if (sc->logged)
		return;
	sc->logged = true;
	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	log_info("session=%08x addr=%s screen=refused reason=%s%s%s", s->id,
	    s->addr, reason, detail[0] ? " " : "", detail);
}

/* screen_zones_cancel - the DNSBL queries still out */
static void
screen_zones_cancel(struct screen *sc)
{
	size_t i;

	for (i = 0; i < sc->nzq; i++) {
		dns_cancel(sc->zq[i].q);
		sc->zq[i].q = NULL;
	}
	sc->zq_out = 0;
}

/* screen_verdict - the score and the pregreet test into sc->refusal */
static void
screen_verdict(struct screen *sc)
{
	struct session *s = sc->s;

	if (nsites > 0 && sc->score >= (int)smtpd_conf->screen.threshold) {
		bsnprintf(sc->refusal, sizeof(sc->refusal), "554 5.7.1 Service "
		    "unavailable; client [%s] blocked using %s", s->addr,
		    sc->lists);
		screen_log(s, "dnsbl", "score=%d lists=%s", sc->score,
		    sc->lists);
	} else if (sc->early && sc->score >= 0) {
		bsnprintf(sc->refusal, sizeof(sc->refusal), "554 5.5.1 "
		    "Protocol error: you talked before the greeting");
		screen_log(s, "pregreet", "bytes=%zu data=\"%s\"",
		    sc->early_bytes, sc->early_data);
	} else if (sc->score != 0 || sc->early)
		log_info("session=%08x addr=%s screen=pass score=%d%s", s->id,
		    s->addr, sc->score, sc->early ? " pregreet=allowlisted" : "");
}

/* screen_greet - the checks are done: verdict, the final 220, commands */
static void
screen_greet(struct screen *sc)
{
	struct session *s = sc->s;

	ev_timer_del(&sc->timer);
	screen_zones_cancel(sc);
	sc->greeting = false;
	if (s->closing)
		return;
	screen_verdict(sc);
	s->state = S_CMD;
	session_reply(s, "220 %s ESMTP facteur", smtpd_conf->hostname);
	session_resume(s);	/* pipelined bytes (pregreet off) run now */
}

/* screen_check - greet when the wait is over, else wait for what is left */
static void
screen_check(struct screen *sc)
{
	const struct conf *c = smtpd_conf;
	uint64_t now = ev_now();
	uint64_t greet = sc->start + 1000ULL * c->screen.pregreet;
	uint64_t dns_end = sc->start + 1000ULL * c->screen.dns_timeout;

	if (now < greet)
		ev_timer_add(&sc->timer, greet - now);
	else if (sc->zq_out > 0 && now < dns_end)
		ev_timer_add(&sc->timer, dns_end - now);
	else
		screen_greet(sc);
}

static void
screen_on_timer(struct ev_timer *t, void *arg)
{
	struct screen *sc = arg;

	(void)t;
	if (sc->greeting)
		screen_check(sc);
	else if (sc->mail_wait)
		screen_mail_timeout(sc);
}

/* screen_listed - the answer of zone zi: add the weights of its sites */
static void
screen_listed(struct screen *sc, size_t zi, const struct dns_result *r)
{
	size_t i, j, n;

	for (i = 0; i < nsites; i++) {
		if (site_zone[i] != zi)
			continue;
		for (j = 0; j < r->nrr; j++)
			if (r->rr[j].family == AF_INET &&
			    dnsbl_site_match(&sites[i], r->rr[j].addr))
				break;
		if (j == r->nrr)
			continue;
		sc->score += sites[i].weight;
		if (sites[i].weight <= 0 || strstr(sc->lists, zones[zi]))
			continue;
		n = strlen(sc->lists);
		(void)bsnprintf(sc->lists + n, sizeof(sc->lists) - n, "%s%s",
		    n ? "," : "", zones[zi]);
	}
}

static void
screen_on_zone(void *arg, const struct dns_result *r)
{
	struct screen_zone *z = arg;
	struct screen *sc = z->sc;

	z->q = NULL;
	sc->zq_out--;
	if (r->status == DNS_OK)
		screen_listed(sc, z->zi, r);
	else if (r->status == DNS_TEMPFAIL)
		log_debug("session=%08x screen zone %s: %s", sc->s->id,
		    zones[z->zi], dns_status_name(r->status));
	screen_check(sc);
}

bool
screen_connect(struct session *s)
{
	const struct conf *c = smtpd_conf;
	struct screen *sc;
	char name[300];
	size_t i;

	if (s->l->kind != PORT_MX || s->trusted ||
	    (nsites == 0 && !c->screen.pregreet))
		return false;
	sc = screen_get(s);
	sc->greeting = true;
	sc->start = ev_now();
	s->state = S_SCREEN;
	if (c->screen.pregreet)
		session_reply(s, "220-%s ESMTP facteur", c->hostname);
	sc->zq = xcalloc(nzones ? nzones : 1, sizeof(*sc->zq));
	sc->nzq = nzones;
	for (i = 0; i < nzones; i++) {
		sc->zq[i].sc = sc;
		sc->zq[i].zi = i;
		if (!dnsbl_query_name(s->addr, zones[i], name, sizeof(name)))
			continue;
		sc->zq[i].q = dns_lookup(name, DNS_T_A, screen_on_zone,
		    &sc->zq[i]);
		sc->zq_out++;
	}
	/* answers come from the loop; so does the greeting, even at once */
	ev_timer_add(&sc->timer, c->screen.pregreet ?
	    1000ULL * c->screen.pregreet : sc->zq_out ?
	    1000ULL * c->screen.dns_timeout : 0);
	return true;
}

void
screen_input(struct session *s)
{
	struct screen *sc = screen_get(s);
	struct buf *in = &s->c.in;

	if (!smtpd_conf->screen.pregreet || in->len == 0)
		return;		/* kept for after the greeting */
	if (!sc->early)
		log_escape(sc->early_data, sizeof(sc->early_data), buf_head(in),
		    in->len < 32 ? in->len : 32);
	sc->early = true;
	sc->early_bytes += in->len;
	buf_drain(in, in->len);
}

bool
screen_refused(struct session *s, enum smtp_verb verb)
{
	struct screen *sc = s->screen;

	if (sc == NULL || sc->refusal[0] == '\0')
		return false;
	switch (verb) {
	case CMD_QUIT:
	case CMD_NOOP:
	case CMD_RSET:
		return false;
	default:
		session_reply(s, "%s", sc->refusal);
		return true;
	}
}

void
screen_free(struct session *s)
{
	struct screen *sc = s->screen;

	if (sc == NULL)
		return;
	ev_timer_del(&sc->timer);
	screen_zones_cancel(sc);
	screen_mail_cancel(sc);
	free(sc->zq);
	free(sc);
	s->screen = NULL;
}
