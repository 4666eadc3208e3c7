/* SPDX-License-Identifier: ISC */
/*
 * dnsbl.c - parse, print and match DNSBL/DNSWL sites (see dnsbl.h).
 *
 * Runs in whatever process loads the configuration (conf/conf.c) and in
 * the smtp role; the text comes from the configuration file, the answers
 * from DNS.  No allocation, no I/O; every error is a returned message.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dnsbl.h"

#define BIT_SET(m, v)	((m)[(v) >> 3] |= (uint8_t)(1u << ((v) & 7)))
#define BIT_ISSET(m, v)	(((m)[(v) >> 3] >> ((v) & 7)) & 1u)

/* dnsbl_zone_ok - labels of letters, digits, '-' and '_', 1-63 bytes each */
static bool
dnsbl_zone_ok(const char *s, size_t n)
{
	size_t i, lab = 0;

	if (n == 0 || n > DNSBL_ZONE_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (lab == 0)
				return false;
			lab = 0;
		} else if ((isalnum(ch) || ch == '-' || ch == '_') && ++lab <= 63)
			continue;
		else
			return false;
	}
	return lab > 0;
}

/* dnsbl_num - 1 to `maxdig` digits at *pp, at most max; advances *pp */
static bool
dnsbl_num(const char **pp, const char *end, unsigned maxdig, unsigned max,
    unsigned *v_r)
{
	const char *p = *pp;
	unsigned v = 0, n = 0;

	while (p < end && isdigit((unsigned char)*p) && n < maxdig) {
		v = v * 10 + (unsigned)(*p++ - '0');
		n++;
	}
	if (n == 0 || (p < end && isdigit((unsigned char)*p)) || v > max)
		return false;
	*pp = p;
	*v_r = v;
	return true;
}

/* dnsbl_octet - "N" or "[a..b;c;...]" at *pp into the bitmap m */
static bool
dnsbl_octet(const char **pp, const char *end, uint8_t m[32])
{
	const char *p = *pp;
	unsigned a, b, v;

	if (p >= end)
		return false;
	if (*p != '[') {
		if (!dnsbl_num(&p, end, 3, 255, &a))
			return false;
		BIT_SET(m, a);
		*pp = p;
		return true;
	}
	for (p++;;) {
		if (!dnsbl_num(&p, end, 3, 255, &a))
			return false;
		b = a;
		if (end - p >= 2 && p[0] == '.' && p[1] == '.') {
			p += 2;
			if (!dnsbl_num(&p, end, 3, 255, &b) || b < a)
				return false;
		}
		for (v = a; v <= b; v++)
			BIT_SET(m, v);
		if (p < end && *p == ';') {
			p++;
			continue;
		}
		if (p < end && *p == ']') {
			*pp = p + 1;
			return true;
		}
		return false;
	}
}

const char *
dnsbl_site_parse(const char *text, size_t len, struct dnsbl_site *site)
{
	const char *p = text, *end = text + len, *z;
	unsigned w, i;
	bool neg;

	memset(site, 0, sizeof(*site));
	site->weight = 1;
	for (z = p; p < end && *p != '=' && *p != '*'; p++)
		;
	if (!dnsbl_zone_ok(z, (size_t)(p - z)))
		return "a zone like zen.spamhaus.org (letters, digits, '-', "
		    "up to 200 characters)";
	for (i = 0; i < (size_t)(p - z); i++)
		site->zone[i] = (char)tolower((unsigned char)z[i]);
	if (p < end && *p == '=') {
		p++;
		site->filter = true;
		for (i = 0; i < 4; i++) {
			if (i > 0 && (p >= end || *p++ != '.'))
				return "a filter of four parts like 127.0.0.[2..11]";
			if (!dnsbl_octet(&p, end, site->octet[i]))
				return "filter parts that are a number up to 255 "
				    "or a list like [2..11;20]";
		}
	}
	if (p < end && *p == '*') {
		p++;
		neg = p < end && *p == '-';
		if (neg)
			p++;
		if (!dnsbl_num(&p, end, 4, DNSBL_WEIGHT_MAX, &w))
			return "a weight from -1000 to 1000 after '*'";
		site->weight = neg ? -(int)w : (int)w;
	}
	if (p != end)
		return "nothing after zone=filter*weight";
	return NULL;
}

/* dnsbl_put - append to out at *n; false if it does not fit */
static bool
dnsbl_put(char *out, size_t outsz, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n + l >= outsz)
		return false;
	memcpy(out + *n, s, l + 1);
	*n += l;
	return true;
}

/* dnsbl_format_octet - a bitmap as "N" or "[a..b;c]" */
static bool
dnsbl_format_octet(const uint8_t m[32], char *out, size_t outsz, size_t *n)
{
	char tmp[16];
	unsigned v, a, count = 0;
	bool first = true;

	for (v = 0; v < 256; v++)
		count += BIT_ISSET(m, v);
	if (count == 1) {
		for (v = 0; !BIT_ISSET(m, v); v++)
			;
		snprintf(tmp, sizeof(tmp), "%u", v);
		return dnsbl_put(out, outsz, n, tmp);
	}
	if (!dnsbl_put(out, outsz, n, "["))
		return false;
	for (v = 0; v < 256; v++) {
		if (!BIT_ISSET(m, v))
			continue;
		for (a = v; v + 1 < 256 && BIT_ISSET(m, v + 1); v++)
			;
		if (a == v)
			snprintf(tmp, sizeof(tmp), "%s%u", first ? "" : ";", a);
		else
			snprintf(tmp, sizeof(tmp), "%s%u..%u", first ? "" : ";", a,
			    v);
		if (!dnsbl_put(out, outsz, n, tmp))
			return false;
		first = false;
	}
	return dnsbl_put(out, outsz, n, "]");
}

bool
dnsbl_site_format(const struct dnsbl_site *site, char *out, size_t outsz)
{
	char tmp[16];
	size_t n = 0;
	unsigned i;

	if (outsz == 0)
		return false;
	out[0] = '\0';
	if (!dnsbl_put(out, outsz, &n, site->zone))
		return false;
	for (i = 0; site->filter && i < 4; i++)
		if (!dnsbl_put(out, outsz, &n, i == 0 ? "=" : ".") ||
		    !dnsbl_format_octet(site->octet[i], out, outsz, &n))
			return false;
	if (site->weight != 1) {
		snprintf(tmp, sizeof(tmp), "*%d", site->weight);
		if (!dnsbl_put(out, outsz, &n, tmp))
			return false;
	}
	return true;
}

bool
dnsbl_site_match(const struct dnsbl_site *site, const uint8_t a[4])
{
	unsigned i;

	if (!site->filter)
		return true;
	for (i = 0; i < 4; i++)
		if (!BIT_ISSET(site->octet[i], a[i]))
			return false;
	return true;
}

bool
dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	struct in6_addr a6;
	uint8_t a4[4];
	char rev[80];
	int i, n;

	if (inet_pton(AF_INET6, ip, &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6))
		memcpy(a4, a6.s6_addr + 12, 4);
	else if (inet_pton(AF_INET6, ip, &a6) == 1) {
		for (i = 15, n = 0; i >= 0; i--) {
			rev[n++] = hex[a6.s6_addr[i] & 15];
			rev[n++] = '.';
			rev[n++] = hex[a6.s6_addr[i] >> 4];
			rev[n++] = '.';
		}
		rev[n] = '\0';
		n = snprintf(out, outsz, "%s%s", rev, zone);
		return n > 0 && (size_t)n < outsz && n <= 253;
	} else if (inet_pton(AF_INET, ip, a4) != 1)
		return false;
	n = snprintf(out, outsz, "%u.%u.%u.%u.%s", a4[3], a4[2], a4[1], a4[0],
	    zone);
	return n > 0 && (size_t)n < outsz && n <= 253;
}
