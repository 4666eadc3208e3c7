/* SPDX-License-Identifier: ISC */
/*
 * screen.h - the front door of port 25 ([screen], issue 11): what the
 * smtp role does with a client before it may hand over mail.
 *
 *   screen.c        at connect: the pregreet test (a "220-" line, a
 *                   wait, then the "220 " one; a client that talks in
 *                   between is an early talker) and the DNSBL/DNSWL
 *                   queries, in parallel, scored against [screen]
 *                   threshold; a refused client gets 554 at each command
 *   screen_helo.c   HELO/EHLO (a FQDN, not our own name or address) and
 *                   MAIL FROM (a sender domain with MX or address)
 *
 * Runs in the smtp role (as user-smtp, chrooted); DNS through lib/dns on
 * the role's event loop.  Only port 25 (PORT_MX) is screened, never the
 * submission ports, facteur-sendmail or a client in [smtp] trusted.  Every refused client gets one
 * log line in one format, for people and fail2ban
 * (init/fail2ban/facteur.conf):
 *
 *   session=ID addr=IP screen=refused reason=REASON [detail=...]
 *
 * REASON is dnsbl, pregreet, helo_own, helo_fqdn or unknown_sender.
 */
#ifndef FACTEUR_SCREEN_H
#define FACTEUR_SCREEN_H

#include <stdbool.h>

#include "dns.h"
#include "ev.h"
#include "smtpd.h"

struct session;
struct screen_zone;
struct screen;

/* one lookup of the sender domain at MAIL FROM (screen_helo.c) */
struct screen_dq {
	struct screen	*sc;
	struct dns_query *q;		/* NULL once answered */
	enum dns_status	 st;
	bool		 nullmx;	/* MX: only "0 ." (RFC 7505) */
};

struct screen {
	struct session	*s;
	struct ev_timer	 timer;		/* pregreet end or a DNS deadline */
	uint64_t	 start;		/* ev_now() at connect */
	bool		 greeting;	/* connect screening under way */
	bool		 early;		/* talked before the final 220 */
	size_t		 early_bytes;
	char		 early_data[48];	/* what it said first, escaped */
	struct screen_zone *zq;		/* one lookup per DNSBL zone */
	size_t		 nzq, zq_out;	/* zones, lookups not answered */
	int		 score;
	char		 lists[200];	/* zones that listed the client */
	char		 refusal[320];	/* the reply to every command, or "" */
	bool		 logged;	/* the refusal line is out */

	struct screen_dq dq[3];		/* MX, A, AAAA of the sender domain */
	bool		 mail_wait;	/* MAIL FROM waits for them */
};

/* screen.c */
/* screen_init - parse the sites of [screen]: in the smtp role at start */
void	screen_init(void);
/* screen_uses_dns - whether [screen] needs lib/dns in the smtp role */
bool	screen_uses_dns(const struct conf *c);
/*
 * screen_connect - a new session: start the connect checks on port 25
 * (state S_SCREEN, the greeting is ours to send) and return true, or
 * return false when nothing is screened at connect (send the 220).
 */
bool	screen_connect(struct session *s);
/* screen_input - bytes arrived while the session is in S_SCREEN */
void	screen_input(struct session *s);
/*
 * screen_refused - a refused client's command: true when it was answered
 * here (554 for all but QUIT, NOOP and RSET), false to run it.
 */
bool	screen_refused(struct session *s, enum smtp_verb verb);
/* screen_log - the one line of a refused client (once per session) */
void	screen_log(struct session *s, const char *reason, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	screen_free(struct session *s);
/* screen_get - the session's screen state, made on first use */
struct screen *screen_get(struct session *s);

/* screen_helo.c */
/* screen_helo - HELO/EHLO args passed the syntax check: false if refused
 * (answered here) */
bool	screen_helo(struct session *s, const char *args);
/*
 * screen_mail - MAIL FROM passed its checks: true if the session now
 * waits for the sender domain's DNS (it will answer MAIL itself, with
 * session_mail_accept() or a refusal), false to accept it now.
 */
bool	screen_mail(struct session *s);
/* screen_mail_timeout - the sender domain's DNS took too long */
void	screen_mail_timeout(struct screen *sc);
/* screen_mail_cancel - drop the sender domain's lookups, if any */
void	screen_mail_cancel(struct screen *sc);

#endif
