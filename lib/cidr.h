/* SPDX-License-Identifier: ISC */
/*
 * cidr.h - is an address inside a network: "192.168.1.0/24",
 * "2001:db8::/32", a bare address (/32, /128).  Used by [smtp] trusted
 * (conf.c parses, smtpd matches at accept), and by keytool to tell a
 * loopback listen address from one other machines reach.
 *
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.7, what a dual-stack [::]
 * listener sees of an IPv4 client) is an IPv4 address here, on both
 * sides: a client ::ffff:127.0.0.1 is inside 127.0.0.0/8, and a network
 * written ::ffff:10.0.0.0/104 is 10.0.0.0/8.  Otherwise the families do
 * not mix: ::/0 holds every IPv6 address and no IPv4 one.
 *
 * No I/O, no allocation, no global state.
 */
#ifndef FACTEUR_CIDR_H
#define FACTEUR_CIDR_H

#include <stdbool.h>
#include <stddef.h>

#define CIDR_TEXT_MAX	64	/* "ffff:...:ffff/128" and a NUL fit */

struct cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* network order; IPv4 in the first 4 */
	unsigned	 prefix;	/* 0-32 or 0-128 */
};

/* what cidr_parse() says of text that is no address at all, and of a
 * network with address bits past its prefix */
extern const char cidr_what[];
extern const char cidr_hostbits[];

/*
 * cidr_parse - "ADDRESS[/PREFIX]" into *net.  Returns NULL, or what was
 * expected (a fixed string, for "expected ..." messages; cidr_what when
 * the text before any '/' is not an address): the prefix must
 * be decimal digits within the family's range, and the address must have
 * no bit set past the prefix (192.168.1.5/24 is refused: 192.168.1.0/24
 * or 192.168.1.5 was meant, and a guess could open the door too wide);
 * on that refusal (cidr_hostbits) *net holds the network with those bits
 * cleared, for the message.
 * An IPv6 scope ("fe80::1%eth0") is refused.
 */
const char	*cidr_parse(const char *text, struct cidr *net);
/* cidr_addr - a numeric client address (getnameinfo NI_NUMERICHOST; a
 * "%scope" suffix is ignored) as a /32 or /128; false if not one */
bool		 cidr_addr(const char *ip, struct cidr *addr);
/* cidr_contains - addr (cidr_addr) is inside net */
bool		 cidr_contains(const struct cidr *net, const struct cidr *addr);
/* cidr_match - ip (as cidr_addr takes it) is inside one of v[0..n) */
bool		 cidr_match(const struct cidr *v, size_t n, const char *ip);
/* cidr_loopback - ip (as cidr_addr takes it) is a loopback address:
 * 127.0.0.0/8 (also written ::ffff:127.x.y.z) or ::1 */
bool		 cidr_loopback(const char *ip);
/* cidr_equal - the same network */
bool		 cidr_equal(const struct cidr *a, const struct cidr *b);
/* cidr_format - "10.0.0.0/8", "::1/128"; false if it does not fit */
bool		 cidr_format(const struct cidr *net, char *out, size_t outsz);

#endif
