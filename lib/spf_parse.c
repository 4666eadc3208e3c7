/* SPDX-License-Identifier: ISC */
/*
 * spf_parse.c - SPF record syntax (RFC 7208 4.5, 4.6, 5, 6, 12) without
 * I/O: which TXT strings are SPF records, every term of one record
 * (qualifier, mechanism, its domain-spec and CIDR lengths, modifiers),
 * client addresses, and the domain checks of 4.3.
 *
 * The record comes from DNS (untrusted); any syntax error anywhere makes
 * the whole record a permerror (4.6), so nothing is evaluated before the
 * parse has seen every byte.  Terms point into the caller's text; the
 * term array is the only allocation (at most SPF_TERMS_MAX entries).
 * Fuzzed by tests/fuzz/fuzz_spf.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "spf_int.h"
#include "xmem.h"

bool
spf_is_record(const char *txt, size_t len)
{
	return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 &&
	    (len == 6 || txt[6] == ' ');
}

void
spf_record_free(struct spf_record *r)
{
	free(r->terms);
	memset(r, 0, sizeof(*r));
}

/* cidr_len - "/N" (no leading zero) ending s[0..*len); cut it off */
static bool
cidr_len(const char *s, size_t *len, unsigned *val)
{
	size_t n = *len, d = 0;
	unsigned v = 0;

	while (d < n && isdigit((unsigned char)s[n - 1 - d]))
		d++;
	if (d == 0 || d > 3 || d == n || s[n - 1 - d] != '/' ||
	    (d > 1 && s[n - d] == '0'))
		return false;
	for (size_t i = n - d; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	*val = v;
	*len = n - d - 1;
	return true;
}

/* ip4_network - dotted quad, no leading zeros (RFC 7208 12 qnum) */
static bool
ip4_network(const char *s, size_t len, uint8_t *out)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, d = 0;

		if (part > 0 && (i >= len || s[i++] != '.'))
			return false;
		while (i < len && isdigit((unsigned char)s[i]) && d < 4) {
			v = v * 10 + (unsigned)(s[i++] - '0');
			d++;
		}
		if (d == 0 || d > 3 || v > 255 || (d > 1 && s[i - d] == '0'))
			return false;
		out[part] = (uint8_t)v;
	}
	return i == len;
}

static bool
ip6_network(const char *s, size_t len, uint8_t *out)
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1;
}

static int
perr(char *err, size_t errsz, const char *t, size_t n, const char *why)
{
	snprintf(err, errsz, "%s: %.*s", why, (int)(n > 80 ? 80 : n), t);
	return -1;
}

/* mech_name - the mechanism called s[0..n), or -1 */
static int
mech_name(const char *s, size_t n)
{
	static const char *const names[] = {
		[SPF_M_ALL] = "all", [SPF_M_INCLUDE] = "include", [SPF_M_A] = "a",
		[SPF_M_MX] = "mx", [SPF_M_PTR] = "ptr", [SPF_M_IP4] = "ip4",
		[SPF_M_IP6] = "ip6", [SPF_M_EXISTS] = "exists",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0)
			return (int)i;
	return -1;
}

/* parse_args - what follows the mechanism name: a = s[0..n) */
static int
parse_args(struct spf_term *t, const char *a, size_t n, char *err,
    size_t errsz)
{
	unsigned v;
	size_t len = n;

	switch (t->mech) {
	case SPF_M_ALL:
		return n == 0 ? 0 : -1;
	case SPF_M_IP4:
	case SPF_M_IP6:
		if (n < 2 || a[0] != ':')
			return -1;
		if (cidr_len(a, &len, &v)) {
			if (v > (t->mech == SPF_M_IP4 ? 32u : 128u))
				return -1;
			if (t->mech == SPF_M_IP4)
				t->cidr4 = (uint8_t)v;
			else
				t->cidr6 = (uint8_t)v;
		}
		if (t->mech == SPF_M_IP4)
			return ip4_network(a + 1, len - 1, t->addr) ? 0 : -1;
		return ip6_network(a + 1, len - 1, t->addr) ? 0 : -1;
	case SPF_M_A:
	case SPF_M_MX:
		/* dual-cidr-length, from the end: [ "/" N4 ] [ "//" N6 ] */
		if (cidr_len(a, &len, &v)) {
			if (len > 0 && a[len - 1] == '/') {
				if (v > 128)
					return -1;
				t->cidr6 = (uint8_t)v;
				len--;
				if (cidr_len(a, &len, &v)) {
					if (v > 32)
						return -1;
					t->cidr4 = (uint8_t)v;
				}
			} else {
				if (v > 32)
					return -1;
				t->cidr4 = (uint8_t)v;
			}
		}
		/* FALLTHROUGH */
	case SPF_M_PTR:
		if (len == 0)
			return 0;
		/* FALLTHROUGH */
	case SPF_M_INCLUDE:
	case SPF_M_EXISTS:
		if (len < 2 || a[0] != ':')
			return -1;
		t->spec = a + 1;
		t->speclen = len - 1;
		return spf_macro_check(t->spec, t->speclen, true, false, NULL) ?
		    0 : -1;
	}
	(void)err;
	(void)errsz;
	return -1;
}

/* parse_modifier - name=value; s[0..k) is the name */
static int
parse_modifier(struct spf_record *r, const char *s, size_t n, size_t k,
    char *err, size_t errsz)
{
	const char *v = s + k + 1;
	size_t vlen = n - k - 1, i;

	if (!isalpha((unsigned char)s[0]))
		return perr(err, errsz, s, n, "bad modifier name");
	for (i = 1; i < k; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return perr(err, errsz, s, n, "bad modifier name");
	if ((k == 8 && strncasecmp(s, "redirect", 8) == 0) ||
	    (k == 3 && strncasecmp(s, "exp", 3) == 0)) {
		bool redir = k == 8;
		const char **slot = redir ? &r->redirect : &r->exp;

		if (*slot != NULL)
			return perr(err, errsz, s, n, redir ?
			    "redirect= twice" : "exp= twice");
		if (!spf_macro_check(v, vlen, true, false, NULL))
			return perr(err, errsz, s, n, "bad domain-spec");
		*slot = v;
		if (redir)
			r->redirectlen = vlen;
		else
			r->explen = vlen;
		return 0;
	}
	/* unknown modifiers are ignored, but must be well formed (4.6.1) */
	if (!spf_macro_check(v, vlen, false, true, NULL))
		return perr(err, errsz, s, n, "bad macro in modifier");
	return 0;
}

static int
parse_term(struct spf_record *r, const char *s, size_t n, char *err,
    size_t errsz)
{
	struct spf_term *t;
	const char *name = s;
	size_t k = 0;
	char qual = '+';
	int m;

	if (strchr("+-~?", s[0]) != NULL) {
		qual = s[0];
		name++;
		n--;
	}
	while (k < n && name[k] != ':' && name[k] != '/' && name[k] != '=')
		k++;
	if (k < n && name[k] == '=' && k > 0) {
		if (name != s)
			return perr(err, errsz, s, n + 1, "qualifier on a modifier");
		return parse_modifier(r, name, n, k, err, errsz);
	}
	if ((m = mech_name(name, k)) == -1)
		return perr(err, errsz, s, n + (name != s), "unknown mechanism");
	if (r->nterms == SPF_TERMS_MAX)
		return perr(err, errsz, s, n + (name != s), "too many terms");
	r->terms = xreallocarray(r->terms, r->nterms + 1, sizeof(*r->terms));
	t = &r->terms[r->nterms++];
	memset(t, 0, sizeof(*t));
	t->mech = (uint8_t)m;
	t->qual = qual;
	t->cidr4 = 32;
	t->cidr6 = 128;
	t->text = s;
	t->textlen = n + (name != s);
	if (parse_args(t, name + k, n - k, err, errsz) == -1)
		return perr(err, errsz, t->text, t->textlen, "bad mechanism");
	return 0;
}

int
spf_record_parse(const char *txt, size_t len, struct spf_record *r,
    char *err, size_t errsz)
{
	size_t i, e;

	memset(r, 0, sizeof(*r));
	if (!spf_is_record(txt, len))
		return perr(err, errsz, txt, len, "not an SPF record");
	if (len > SPF_RECORD_MAX)
		return perr(err, errsz, txt, len, "record too long");
	for (i = 0; i < len; i++)
		if ((unsigned char)txt[i] < 0x20 || (unsigned char)txt[i] > 0x7e)
			return perr(err, errsz, txt, len,
			    "not printable US-ASCII (RFC 7208 3.1)");
	for (i = 6; i < len; i = e) {
		while (i < len && txt[i] == ' ')
			i++;
		if (i == len)
			break;
		for (e = i; e < len && txt[e] != ' '; e++)
			;
		if (parse_term(r, txt + i, e - i, err, errsz) == -1)
			return -1;
	}
	return 0;
}

bool
spf_parse_ip(const char *s, int *family_r, uint8_t *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	uint8_t a6[16];

	memset(ip, 0, 16);
	if (inet_pton(AF_INET, s, ip) == 1) {
		*family_r = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, a6) != 1)
		return false;
	if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
		memcpy(ip, a6 + 12, 4);
		*family_r = AF_INET;
	} else {
		memcpy(ip, a6, 16);
		*family_r = AF_INET6;
	}
	return true;
}

bool
spf_ip_match(int family, const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned max = family == AF_INET ? 32 : 128, full, rest;

	if (bits > max)
		bits = max;
	full = bits / 8;
	rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* toplabel_ok - RFC 7208 12 toplabel: not all digits, LDH */
static bool
toplabel_ok(const char *s, size_t n)
{
	bool alpha = false, hyphen = false;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (isalpha((unsigned char)s[i]))
			alpha = true;
		else if (s[i] == '-')
			hyphen = true;
		else if (!isdigit((unsigned char)s[i]))
			return false;
	}
	if (hyphen)
		return s[0] != '-' && s[n - 1] != '-';
	return alpha;
}

bool
spf_toplabel_end(const char *s, size_t n)
{
	size_t i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	for (i = n; i > 0 && s[i - 1] != '.'; i--)
		;
	if (i == 0)
		return false;			/* "." toplabel: needs the dot */
	return toplabel_ok(s + i, n - i);
}

bool
spf_domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX || memchr(d, '.', n) == NULL)
		return false;
	for (size_t i = 0, l = 0; i < n; i++) {
		if (d[i] == '.') {
			if (l == 0)
				return false;
			l = 0;
		} else if (++l > 63)
			return false;
	}
	return spf_toplabel_end(d, n);
}
