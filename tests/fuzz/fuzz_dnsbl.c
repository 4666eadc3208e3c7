/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dnsbl.c - libFuzzer target for lib/dnsbl.c, the parser of the
 * DNSBL/DNSWL site syntax of [screen] (postscreen's
 * "zone=127.0.0.[2..11]*3").  The configuration is trusted, but the
 * parser runs on every line of it and a crash is a crash at start-up.
 * Invariants: a site that parses prints (dnsbl_site_format) and parses
 * back to the same site, its zone is lower case and fits, its weight is
 * in range; matching and the query name of the input's last bytes as a
 * client address never fail unsafely.
 * Seeds: tests/fuzz/corpus/fuzz_dnsbl/.
 */
#include <string.h>

#include "dnsbl.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsbl_site s, again;
	char out[DNSBL_TEXT_MAX], name[300], ip[64];
	size_t n;

	if (dnsbl_site_parse((const char *)data, size, &s) != NULL)
		return 0;
	if (strlen(s.zone) == 0 || strlen(s.zone) > DNSBL_ZONE_MAX ||
	    s.weight < -DNSBL_WEIGHT_MAX || s.weight > DNSBL_WEIGHT_MAX)
		__builtin_trap();
	for (n = 0; s.zone[n]; n++)
		if (s.zone[n] >= 'A' && s.zone[n] <= 'Z')
			__builtin_trap();
	if (!dnsbl_site_format(&s, out, sizeof(out)))
		__builtin_trap();
	if (dnsbl_site_parse(out, strlen(out), &again) != NULL ||
	    memcmp(&s, &again, sizeof(s)) != 0)
		__builtin_trap();
	if (size >= 4)
		(void)dnsbl_site_match(&s, data + size - 4);
	n = size < sizeof(ip) - 1 ? size : sizeof(ip) - 1;
	memcpy(ip, data + size - n, n);
	ip[n] = '\0';
	if (dnsbl_query_name(ip, s.zone, name, sizeof(name)) &&
	    strlen(name) > 253)
		__builtin_trap();
	return 0;
}
