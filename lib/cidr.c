/* SPDX-License-Identifier: ISC */
/*
 * cidr.c - address-in-network matching (see cidr.h): parse a network,
 * parse a client address, compare the first `prefix` bits.
 *
 * Runs wherever it is linked: the configuration parser at startup, the
 * smtp role at each accept().  Pure functions over the caller's buffers;
 * bad text is an answer (NULL or false), never fatal.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"

const char cidr_what[] = "a network like 192.168.1.0/24, 2001:db8::/32 "
    "or an address";
const char cidr_hostbits[] = "no address bits set past the prefix length";

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* cidr_pton - an address without prefix or scope; ::ffff:a.b.c.d as IPv4 */
static bool
cidr_pton(const char *s, struct cidr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->family = AF_INET;
		a->prefix = 32;
		return true;
	}
	if (inet_pton(AF_INET6, s, a->addr) != 1)
		return false;
	a->family = AF_INET6;
	a->prefix = 128;
	if (memcmp(a->addr, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
		a->prefix = 32;
	}
	return true;
}

/* cidr_bits_from - any bit set from bit `prefix` on (within `total`) */
static bool
cidr_bits_from(const unsigned char *p, unsigned prefix, unsigned total)
{
	unsigned i;

	for (i = prefix; i < total; i++)
		if (p[i / 8] & (0x80 >> (i % 8)))
			return true;
	return false;
}

const char *
cidr_parse(const char *text, struct cidr *net)
{
	char host[CIDR_TEXT_MAX];
	const char *slash = strchr(text, '/'), *d;
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	unsigned prefix = 0, max, i;
	bool v6mapped;

	if (hl == 0 || hl >= sizeof(host))
		return cidr_what;
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (!cidr_pton(host, net))
		return cidr_what;
	max = net->family == AF_INET ? 32 : 128;
	/* written as IPv6, kept as IPv4: the prefix counts the 96 bits */
	v6mapped = net->family == AF_INET && strchr(host, ':') != NULL;
	if (slash == NULL)
		return NULL;
	if (slash[1] == '\0' || strlen(slash + 1) > 3)
		return "a prefix length like /24 after the /";
	for (d = slash + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return "a prefix length like /24 after the /";
		prefix = prefix * 10 + (unsigned)(*d - '0');
	}
	if (v6mapped) {
		if (prefix < 96 || prefix > 128)
			return "a prefix length from /96 to /128 for an "
			    "IPv4-mapped network (::ffff:a.b.c.d)";
		prefix -= 96;
	} else if (prefix > max)
		return max == 32 ? "an IPv4 prefix length from /0 to /32" :
		    "an IPv6 prefix length from /0 to /128";
	net->prefix = prefix;
	if (!cidr_bits_from(net->addr, prefix, max))
		return NULL;
	for (i = prefix; i < max; i++)
		net->addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	return cidr_hostbits;
}

bool
cidr_addr(const char *ip, struct cidr *addr)
{
	char host[CIDR_TEXT_MAX];
	size_t n = strcspn(ip, "%");

	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, ip, n);
	host[n] = '\0';
	return cidr_pton(host, addr);
}

bool
cidr_contains(const struct cidr *net, const struct cidr *addr)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	unsigned char mask;

	if (net->family != addr->family)
		return false;
	if (memcmp(net->addr, addr->addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (addr->addr[full] & mask);
}

bool
cidr_match(const struct cidr *v, size_t n, const char *ip)
{
	struct cidr a;
	size_t i;

	if (n == 0 || !cidr_addr(ip, &a))
		return false;
	for (i = 0; i < n; i++)
		if (cidr_contains(&v[i], &a))
			return true;
	return false;
}

bool
cidr_loopback(const char *ip)
{
	static const struct cidr loopback[] = {
		{ AF_INET, { 127 }, 8 },
		{ AF_INET6, { [15] = 1 }, 128 },
	};

	return cidr_match(loopback, sizeof(loopback) / sizeof(loopback[0]),
	    ip);
}

bool
cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

bool
cidr_format(const struct cidr *net, char *out, size_t outsz)
{
	char a[INET6_ADDRSTRLEN];
	unsigned max = net->family == AF_INET ? 32 : 128;
	int n;

	if (inet_ntop(net->family, net->addr, a, sizeof(a)) == NULL)
		return false;
	if (net->prefix == max)
		n = snprintf(out, outsz, "%s", a);
	else
		n = snprintf(out, outsz, "%s/%u", a, net->prefix);
	return n >= 0 && (size_t)n < outsz;
}
