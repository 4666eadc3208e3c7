/* SPDX-License-Identifier: ISC */
/*
 * cidr_test.c - unit tests for lib/cidr.c: networks parsed and refused
 * (prefix out of range, garbage, host bits past the prefix), IPv4 and
 * IPv6 matches at the edges of a prefix, /0, /32, /128, IPv4-mapped
 * IPv6 on either side (what a dual-stack listener sees of an IPv4
 * client), a scope suffix, loopback addresses, and the text form.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "t.h"

/* in - ip inside the network written net (which must parse) */
static bool
in(const char *net, const char *ip)
{
	struct cidr n;

	if (cidr_parse(net, &n) != NULL) {
		fprintf(stderr, "cidr_test: %s does not parse\n", net);
		return false;
	}
	return cidr_match(&n, 1, ip);
}

/* fmt_net - a parsed network as text */
static const char *
fmt_net(const struct cidr *n)
{
	static char out[CIDR_TEXT_MAX];

	return cidr_format(n, out, sizeof(out)) ? out : "(error)";
}

/* fmt - net parsed then formatted */
static const char *
fmt(const char *net)
{
	static char out[CIDR_TEXT_MAX];
	struct cidr n;

	if (cidr_parse(net, &n) != NULL || !cidr_format(&n, out, sizeof(out)))
		return "(error)";
	return out;
}

int
main(void)
{
	static const char *const bad[] = {
		"", "/8", "127.0.0.0/", "127.0.0.0/33", "::/129", "10.0.0.0/-1",
		"10.0.0.0/+8", "10.0.0.0/8x", "10.0.0.0/8/8", "10.0.0.0/0008",
		"localhost", "127.1", "127.0.0.256", "1.2.3.4.5", "::1::",
		"fe80::1%eth0", "127.0.0.1/24", "10.0.0.1/8", "2001:db8::1/32",
		"::1/0", "::ffff:10.0.0.0/95", "::ffff:10.0.0.1/104",
		"192.168.1.128/24", "10.0.0.0 /8",
	};
	struct cidr v[3], a, b;
	char out[8];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cidr_parse(bad[i], &a) == NULL) {
			fprintf(stderr, "cidr_test: \"%s\" parsed\n", bad[i]);
			CHECK(!"a bad network parsed");
		} else
			CHECK(1);
	}
	CHECK(cidr_parse("10.0.0.1/8", &a) == cidr_hostbits &&
	    strcmp(fmt_net(&a), "10.0.0.0/8") == 0);
	CHECK(cidr_parse("2001:db8::1/32", &a) == cidr_hostbits &&
	    strcmp(fmt_net(&a), "2001:db8::/32") == 0);
	CHECK(cidr_parse("::ffff:10.0.0.1/104", &a) == cidr_hostbits &&
	    strcmp(fmt_net(&a), "10.0.0.0/8") == 0);
	CHECK(cidr_parse("localhost", &a) == cidr_what);
	CHECK(strstr(cidr_parse("10.0.0.0/33", &a), "IPv4 prefix length from /0 to /32") != NULL);
	CHECK(strstr(cidr_parse("::/129", &a), "IPv6 prefix length from /0 to /128") != NULL);

	/* IPv4: the edges of a prefix */
	CHECK(in("127.0.0.0/8", "127.0.0.1"));
	CHECK(in("127.0.0.0/8", "127.0.0.0"));
	CHECK(in("127.0.0.0/8", "127.255.255.255"));
	CHECK(!in("127.0.0.0/8", "126.255.255.255"));
	CHECK(!in("127.0.0.0/8", "128.0.0.0"));
	CHECK(in("192.168.1.0/25", "192.168.1.127"));
	CHECK(!in("192.168.1.0/25", "192.168.1.128"));
	CHECK(in("192.168.1.128/25", "192.168.1.128"));
	CHECK(in("10.0.0.0/9", "10.127.0.1"));
	CHECK(!in("10.0.0.0/9", "10.128.0.1"));
	CHECK(in("0.0.0.0/0", "203.0.113.9"));
	CHECK(in("0.0.0.0/0", "::ffff:203.0.113.9"));
	CHECK(!in("0.0.0.0/0", "2001:db8::1"));
	CHECK(in("127.0.0.1/32", "127.0.0.1"));
	CHECK(in("127.0.0.1", "127.0.0.1"));
	CHECK(!in("127.0.0.1", "127.0.0.2"));
	CHECK(!in("127.0.0.1/32", "127.0.0.2"));

	/* IPv4-mapped IPv6: the dual-stack [::]:25 listener's view */
	CHECK(in("127.0.0.0/8", "::ffff:127.0.0.1"));
	CHECK(in("127.0.0.0/8", "::FFFF:127.0.0.2"));
	CHECK(!in("127.0.0.0/8", "::ffff:128.0.0.1"));
	CHECK(in("127.0.0.1", "::ffff:7f00:1"));
	CHECK(in("::ffff:10.0.0.0/104", "10.1.2.3"));
	CHECK(in("::ffff:10.0.0.0/104", "::ffff:10.1.2.3"));
	CHECK(!in("::ffff:10.0.0.0/104", "11.0.0.1"));
	CHECK(in("::ffff:10.1.2.3", "10.1.2.3"));
	CHECK(!in("::/0", "::ffff:127.0.0.1"));
	CHECK(!in("::/0", "127.0.0.1"));

	/* IPv6 */
	CHECK(in("::1", "::1"));
	CHECK(in("::1/128", "::1"));
	CHECK(!in("::1", "::2"));
	CHECK(!in("::1", "127.0.0.1"));
	CHECK(!in("127.0.0.0/8", "::1"));
	CHECK(in("::/0", "2001:db8::1"));
	CHECK(in("::/0", "::"));
	CHECK(in("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	CHECK(!in("2001:db8::/32", "2001:db9::"));
	CHECK(!in("2001:db8::/32", "2001:db7:ffff::1"));
	CHECK(in("2001:db8:0:80::/57", "2001:db8:0:ff::1"));
	CHECK(!in("2001:db8:0:80::/57", "2001:db8:0:7f::1"));
	CHECK(!in("2001:db8:0:80::/57", "2001:db8:0:100::1"));
	CHECK(in("fe80::/10", "fe80::1%eth0"));
	CHECK(in("fe80::/10", "febf::1"));
	CHECK(!in("fe80::/10", "fec0::1"));
	CHECK(in("2001:DB8::/32", "2001:db8::5"));

	/* client addresses that are not */
	CHECK(!in("0.0.0.0/0", "unknown"));
	CHECK(!in("0.0.0.0/0", "uid=0"));
	CHECK(!in("0.0.0.0/0", ""));
	CHECK(!in("::/0", "%eth0"));

	/* lists */
	CHECK(cidr_parse("127.0.0.0/8", &v[0]) == NULL);
	CHECK(cidr_parse("::1", &v[1]) == NULL);
	CHECK(cidr_parse("192.168.0.0/16", &v[2]) == NULL);
	CHECK(cidr_match(v, 3, "192.168.44.1"));
	CHECK(cidr_match(v, 3, "::1"));
	CHECK(cidr_match(v, 3, "::ffff:127.0.0.9"));
	CHECK(!cidr_match(v, 3, "192.169.0.1"));
	CHECK(!cidr_match(v, 0, "127.0.0.1"));
	CHECK(cidr_addr("192.0.2.1", &a) && a.family == AF_INET && a.prefix == 32);
	CHECK(cidr_addr("::ffff:192.0.2.1", &b) && cidr_equal(&a, &b));
	CHECK(cidr_addr("2001:db8::1", &a) && a.family == AF_INET6 &&
	    a.prefix == 128);

	/* loopback: what keytool dns does not offer to other machines */
	CHECK(cidr_loopback("127.0.0.1"));
	CHECK(cidr_loopback("127.255.255.254"));
	CHECK(cidr_loopback("::1"));
	CHECK(cidr_loopback("::ffff:127.0.0.1"));
	CHECK(!cidr_loopback("128.0.0.1"));
	CHECK(!cidr_loopback("126.255.255.255"));
	CHECK(!cidr_loopback("0.0.0.0"));
	CHECK(!cidr_loopback("::"));
	CHECK(!cidr_loopback("::2"));
	CHECK(!cidr_loopback("192.0.2.1"));
	CHECK(!cidr_loopback("2001:db8::1"));
	CHECK(!cidr_loopback("localhost"));
	CHECK(!cidr_loopback(""));

	/* text form: round trips, bare addresses for full prefixes */
	CHECK_STR(fmt("127.0.0.0/8"), "127.0.0.0/8");
	CHECK_STR(fmt("::1"), "::1");
	CHECK_STR(fmt("::1/128"), "::1");
	CHECK_STR(fmt("10.0.0.1/32"), "10.0.0.1");
	CHECK_STR(fmt("0.0.0.0/0"), "0.0.0.0/0");
	CHECK_STR(fmt("::/0"), "::/0");
	CHECK_STR(fmt("2001:DB8:0::/48"), "2001:db8::/48");
	CHECK_STR(fmt("::ffff:10.0.0.0/104"), "10.0.0.0/8");
	CHECK(cidr_parse("2001:db8::/32", &a) == NULL &&
	    !cidr_format(&a, out, sizeof(out)));
	return T_DONE();
}
