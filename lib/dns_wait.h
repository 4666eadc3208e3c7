/* SPDX-License-Identifier: ISC */
/*
 * dns_wait.h - block until the queries of a private c-ares channel end,
 * for the few callers that ask one question at a time outside an event
 * loop: the fetch role resolving its server through [dns] resolver
 * (smtpd/fetch_resolve.c) and `facteur-keytool doctor`
 * (keytool/doctor_dns.c).  lib/dns's own channel runs on lib/ev instead.
 */
#ifndef FACTEUR_DNS_WAIT_H
#define FACTEUR_DNS_WAIT_H

#include <stdbool.h>

#include <ares.h>

/*
 * dns_wait - run ch with select(2) until *done (set by the query's
 * callback) or ch has nothing left to wait for.  The channel's options
 * bound the time (timeout per try, tries: c-ares then ends the query with
 * ARES_ETIMEOUT); a select() failure other than EINTR ends the wait early,
 * leaving *done false.  The caller still owns ch.
 */
void	dns_wait(ares_channel ch, const bool *done);

#endif
