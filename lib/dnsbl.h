/* SPDX-License-Identifier: ISC */
/*
 * dnsbl.h - DNS block- and allow-list sites as postscreen writes them
 * (postscreen_dnsbl_sites): "zone[=filter][*weight]", e.g.
 *
 *	zen.spamhaus.org=127.0.0.[2..11]*3
 *	list.dnswl.org=127.0.[0..255].[1..3]*-2
 *	bl.spamcop.net
 *
 * The filter is a dotted quad whose parts are a number (0-255) or a list
 * in brackets of numbers and ranges separated by ';' ("[2..4;10]"); a
 * site without one matches any A record.  The weight is a whole number
 * from -1000 to 1000, 1 when left out; a negative one is an allow-list.
 * The zone is a host name (letters, digits, '-', '_', at most 200
 * characters so that an IPv6 query name fits).
 *
 * Pure functions, no I/O and no allocation: used by conf/conf.c to check
 * [screen] lines and by the smtp role (smtpd/screen.c) to build queries
 * and read answers; fuzzed by tests/fuzz/fuzz_dnsbl.c.
 */
#ifndef FACTEUR_DNSBL_H
#define FACTEUR_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSBL_ZONE_MAX		200	/* 253 less 32 nibbles and their dots */
#define DNSBL_WEIGHT_MAX	1000
#define DNSBL_TEXT_MAX		(DNSBL_ZONE_MAX + 4 * 1024 + 16)

struct dnsbl_site {
	char		 zone[DNSBL_ZONE_MAX + 1];	/* lower case */
	bool		 filter;	/* false: any answer matches */
	uint8_t		 octet[4][32];	/* filter: a bit per allowed value */
	int		 weight;
};

/*
 * dnsbl_site_parse - `len` bytes of `text` into *site.  Returns NULL, or
 * a static message saying what is wrong ("expected ...").
 */
const char	*dnsbl_site_parse(const char *text, size_t len,
		    struct dnsbl_site *site);
/*
 * dnsbl_site_format - the site back in its own syntax, canonical: ranges
 * merged ("[2..11]"), "*weight" unless 1.  False if out is too small
 * (DNSBL_TEXT_MAX always fits).
 */
bool		 dnsbl_site_format(const struct dnsbl_site *site, char *out,
		    size_t outsz);
/* dnsbl_site_match - does the A record `a` (4 bytes) list the client */
bool		 dnsbl_site_match(const struct dnsbl_site *site,
		    const uint8_t a[4]);
/*
 * dnsbl_query_name - the name to ask about numeric client address `ip`
 * (IPv4, IPv6, or IPv4-mapped IPv6) in `zone`: "4.3.2.1.zone", or the 32
 * nibbles of an IPv6 address in reverse.  False if ip is not an address
 * or the name does not fit in outsz.
 */
bool		 dnsbl_query_name(const char *ip, const char *zone, char *out,
		    size_t outsz);

#endif
