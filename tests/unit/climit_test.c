/* SPDX-License-Identifier: ISC */
/*
 * climit_test.c - unit tests for lib/climit.c: the connection counts per
 * client key (IPv6 by /64, IPv4-mapped as IPv4) and the connection rate
 * per minute (a new minute starts afresh, keys do not share a count, 0
 * is no limit, a full slot of another key is not taken over).
 */
#include <stdio.h>
#include <string.h>

#include "climit.h"
#include "t.h"

int
main(void)
{
	struct climit *t = climit_new();
	struct climit_rate *r = climit_rate_new();
	char key[CLIMIT_KEY_MAX];
	unsigned i, ok;

	climit_addr_key("2001:db8:1:2:aaaa::1", key, sizeof(key));
	CHECK_STR(key, "2001:db8:1:2::/64");
	climit_addr_key("::ffff:192.0.2.7", key, sizeof(key));
	CHECK_STR(key, "192.0.2.7");
	CHECK(climit_take(t, "192.0.2.1", 2));
	CHECK(climit_take(t, "192.0.2.1", 2));
	CHECK(!climit_take(t, "192.0.2.1", 2));
	CHECK(climit_take(t, "192.0.2.2", 2));
	climit_release(t, "192.0.2.1");
	CHECK(climit_count(t, "192.0.2.1") == 1);
	CHECK(climit_take(t, "2001:db8::1", 1));
	CHECK(!climit_take(t, "2001:db8::2", 1));	/* the same /64 */

	for (ok = 0, i = 0; i < 10; i++)
		ok += climit_rate_take(r, "198.51.100.1", 5, 1000 + i);
	CHECK(ok == 5);
	CHECK(climit_rate_take(r, "198.51.100.2", 5, 1100));
	CHECK(!climit_rate_take(r, "198.51.100.1", 5, 60999));
	CHECK(climit_rate_take(r, "198.51.100.1", 5, 61000));	/* a new minute */
	for (i = 0; i < 100; i++)
		CHECK(climit_rate_take(r, "198.51.100.3", 0, 2000));
	for (ok = 0, i = 0; i < 10; i++)
		ok += climit_rate_take(r, "2001:db8:5::1", 3, 3000) +
		    climit_rate_take(r, "2001:db8:5::2", 3, 3000);
	CHECK(ok == 3);		/* one /64, one count */
	/* every slot taken by a key at its limit: a new key still gets in */
	for (i = 0; i < 4 * CLIMIT_RATE_SLOTS; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.%u.%u.1", i >> 8, i & 255);
		(void)climit_rate_take(r, ip, 1, 4000);
	}
	CHECK(climit_rate_take(r, "203.0.113.99", 1, 4000));
	climit_rate_free(&r);
	CHECK(r == NULL);
	climit_free(&t);
	return T_DONE();
}
