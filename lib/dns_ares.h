/* SPDX-License-Identifier: ISC */
/*
 * dns_ares.h - the c-ares channel behind lib/dns, for the few callers
 * that need c-ares calls dns_lookup() does not offer (the relay's
 * ares_getaddrinfo(), which reads /etc/hosts too).  Their callbacks run
 * inside c-ares (not from a zero timer), and on dns_shutdown() with
 * ARES_EDESTRUCTION.  Call dns_ares_rearm() after each ares_* call that
 * starts a query, so its timeout is watched.
 */
#ifndef FACTEUR_DNS_ARES_H
#define FACTEUR_DNS_ARES_H

#include <ares.h>

#include "dns.h"

/* dns_ares_channel - the channel of dns_init() (made again if it was idle),
 * or NULL if there is none */
ares_channel dns_ares_channel(void);
void	 dns_ares_rearm(void);

#endif
