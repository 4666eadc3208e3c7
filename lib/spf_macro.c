/* SPDX-License-Identifier: ISC */
/*
 * spf_macro.c - SPF macros (RFC 7208 7) without I/O: the syntax check of
 * a macro-string, domain-spec or explain-string, and its expansion:
 * letters s l o d i p h c r t v, the digit and "r" transformers, the
 * delimiters, URL escaping of upper-case letters, %% %_ %-, and the cut
 * of an expanded domain name to 253 bytes (7.3).
 *
 * Input comes from DNS records (untrusted) and from the SMTP client (the
 * sender and HELO): every write is bounded by the output buffer, a part
 * list by SPF_EXPAND_MAX; an expansion that does not fit fails (-1),
 * which the evaluator turns into a permerror.  Fuzzed by fuzz_spf.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "spf_int.h"

#define DELIMS	".-+,/_="

/* macro_parse - one "%{...}" at s[0..len): its length, or 0 if bad */
struct macro {
	char		 letter;	/* as written */
	unsigned	 digits;	/* 0: all parts */
	bool		 reverse;
	char		 delims[sizeof(DELIMS)];
};

static size_t
macro_parse(const char *s, size_t len, bool exp, struct macro *m)
{
	size_t i = 2, nd = 0, d = 0;

	memset(m, 0, sizeof(*m));
	if (len < 4 || s[0] != '%' || s[1] != '{')
		return 0;
	m->letter = s[i++];
	if (strchr(exp ? "slodiphcrtv" : "slodiphv",
	    tolower((unsigned char)m->letter)) == NULL || m->letter == '\0')
		return 0;
	while (i < len && isdigit((unsigned char)s[i])) {
		if (m->digits < 1000)
			m->digits = m->digits * 10 + (unsigned)(s[i] - '0');
		i++;
		d++;
	}
	if (d > 0 && m->digits == 0)
		return 0;			/* 7.1: DIGITS must be nonzero */
	if (i < len && (s[i] == 'r' || s[i] == 'R')) {
		m->reverse = true;
		i++;
	}
	while (i < len && s[i] != '\0' && strchr(DELIMS, s[i]) != NULL) {
		if (strchr(m->delims, s[i]) == NULL)
			m->delims[nd++] = s[i];
		i++;
	}
	if (i >= len || s[i] != '}')
		return 0;
	if (nd == 0)
		m->delims[0] = '.';
	return i + 1;
}

bool
spf_macro_check(const char *s, size_t len, bool domain, bool exp,
    bool *uses_p)
{
	struct macro m;
	size_t i = 0, n;
	bool last_macro = false;

	if (uses_p != NULL)
		*uses_p = false;
	if (domain && len == 0)
		return false;
	while (i < len) {
		if (s[i] == '%') {
			if (i + 1 < len && strchr("%_-", s[i + 1]) != NULL &&
			    s[i + 1] != '\0') {
				i += 2;
				last_macro = true;
				continue;
			}
			if ((n = macro_parse(s + i, len - i, exp, &m)) == 0)
				return false;
			if (uses_p != NULL && tolower((unsigned char)m.letter) == 'p')
				*uses_p = true;
			i += n;
			last_macro = true;
			continue;
		}
		if (((unsigned char)s[i] < 0x21 && !(exp && s[i] == ' ')) ||
		    (unsigned char)s[i] > 0x7e)
			return false;
		i++;
		last_macro = false;
	}
	return !domain || last_macro || spf_toplabel_end(s, len);
}

/* ip_nibbles - %{i} of an IPv6 address: 32 hex digits, dot-separated */
static void
ip_nibbles(const uint8_t *ip, char *out)
{
	/* upper case, as pyspf and the RFC 7208 test suite write them */
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	for (i = 0; i < 16; i++) {
		out[o++] = hex[ip[i] >> 4];
		out[o++] = '.';
		out[o++] = hex[ip[i] & 0xf];
		out[o++] = i < 15 ? '.' : '\0';
	}
}

/* macro_value - the value of a letter (lower case) into buf, or a string */
static const char *
macro_value(const struct spf_macro_ctx *c, char letter, char *buf,
    size_t bufsz)
{
	switch (letter) {
	case 's':
		return c->sender;
	case 'l':
		return c->local;
	case 'o':
		return c->sender_domain;
	case 'd':
		return c->domain;
	case 'p':
		return c->validated ? c->validated : "unknown";
	case 'h':
		return c->helo;
	case 'r':
		return c->receiver && c->receiver[0] ? c->receiver : "unknown";
	case 'v':
		return c->family == AF_INET ? "in-addr" : "ip6";
	case 't':
		snprintf(buf, bufsz, "%llu", (unsigned long long)c->now);
		return buf;
	case 'i':
		if (c->family == AF_INET6) {
			ip_nibbles(c->ip, buf);
			return buf;
		}
		/* FALLTHROUGH */
	case 'c':
		if (inet_ntop(c->family, c->ip, buf, (socklen_t)bufsz) == NULL)
			return "";
		return buf;
	}
	return "";
}

struct out {
	char	*p;
	size_t	 len, size;
	bool	 over;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->over || n >= o->size - o->len) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* put_escaped - RFC 3986 unreserved kept, every other byte %XX (7.3) */
static void
put_escaped(struct out *o, const char *s, size_t n, bool escape)
{
	char hx[4];
	size_t i;

	if (!escape) {
		put(o, s, n);
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (isalnum(ch) || strchr("-._~", ch) != NULL)
			put(o, s + i, 1);
		else {
			snprintf(hx, sizeof(hx), "%%%02X", ch);
			put(o, hx, 3);
		}
	}
}

/* expand_one - value split on delimiters, reversed, cut, joined by '.' */
static void
expand_one(struct out *o, const struct macro *m, const char *v)
{
	const char *part[SPF_EXPAND_MAX / 2 + 1];
	size_t plen[SPF_EXPAND_MAX / 2 + 1];
	size_t n = 0, i, first, vlen = strlen(v), start = 0;
	char tmp[SPF_EXPAND_MAX];
	struct out t = { tmp, 0, sizeof(tmp), false };

	if (vlen >= SPF_EXPAND_MAX) {
		o->over = true;
		return;
	}
	for (i = 0; i <= vlen; i++)
		if (i == vlen || strchr(m->delims, v[i]) != NULL) {
			part[n] = v + start;
			plen[n++] = i - start;
			start = i + 1;
		}
	if (m->reverse)
		for (i = 0; i < n / 2; i++) {
			const char *tp = part[i];
			size_t tl = plen[i];

			part[i] = part[n - 1 - i];
			plen[i] = plen[n - 1 - i];
			part[n - 1 - i] = tp;
			plen[n - 1 - i] = tl;
		}
	first = m->digits && m->digits < n ? n - m->digits : 0;
	tmp[0] = '\0';
	for (i = first; i < n; i++) {
		if (i > first)
			put(&t, ".", 1);
		put(&t, part[i], plen[i]);
	}
	if (t.over) {
		o->over = true;
		return;
	}
	put_escaped(o, tmp, t.len, isupper((unsigned char)m->letter));
}

int
spf_expand(const struct spf_macro_ctx *c, const char *s, size_t len,
    bool domain, char *out, size_t outsz)
{
	struct out o = { out, 0, outsz, false };
	struct macro m;
	char buf[80];
	size_t i = 0, n;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	while (i < len && !o.over) {
		if (s[i] != '%') {
			put(&o, s + i++, 1);
			continue;
		}
		if (i + 1 < len && s[i + 1] == '%')
			put(&o, "%", 1);
		else if (i + 1 < len && s[i + 1] == '_')
			put(&o, " ", 1);
		else if (i + 1 < len && s[i + 1] == '-')
			put(&o, "%20", 3);
		else if ((n = macro_parse(s + i, len - i, true, &m)) != 0) {
			expand_one(&o, &m, macro_value(c,
			    (char)tolower((unsigned char)m.letter), buf,
			    sizeof(buf)));
			i += n;
			continue;
		} else
			return -1;
		i += 2;
	}
	if (o.over)
		return -1;
	if (!domain)
		return 0;
	if (o.len > 0 && out[o.len - 1] == '.')
		out[--o.len] = '\0';
	/* 7.3: too long for a domain name: drop labels from the left */
	n = 0;
	while (o.len - n > DNS_NAME_MAX) {
		const char *dot = memchr(out + n, '.', o.len - n);

		if (dot == NULL)
			return -1;
		n = (size_t)(dot - out) + 1;
	}
	memmove(out, out + n, o.len - n + 1);
	return 0;
}
