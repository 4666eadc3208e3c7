/* SPDX-License-Identifier: ISC */
/*
 * dns_answer.c - DNS answers without I/O: the builder backends and the
 * wire parser fill (dns_answer_*), the packed copies the cache keeps and
 * callbacks see (dns_result_pack), name checks, reverse names.
 *
 * dns_answer_parse() reads a response from the network (untrusted): every
 * length is checked against the message, compression pointers must point
 * backwards (no loops), names are at most 255 bytes; a record we cannot
 * read makes the whole answer DNS_FORMERR.  Fuzzed by fuzz_dns_answer,
 * unit-tested in tests/unit/dns_test.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_int.h"
#include "xmem.h"

#define DNS_HDR		12
#define DNS_C_IN	1
#define DNS_T_SOA	6
#define DNS_JUMPS_MAX	64

struct dns_answer *
dns_answer_new(const char *name, enum dns_type type)
{
	struct dns_answer *ans = xcalloc(1, sizeof(*ans));

	(void)bstrcpy(ans->name, name, sizeof(ans->name));
	ans->type = type;
	ans->status = DNS_OK;
	return ans;
}

static void
answer_clear(struct dns_answer *ans)
{
	size_t i;

	for (i = 0; i < ans->nrr; i++)
		free(ans->rr[i].data);
	free(ans->rr);
	ans->rr = NULL;
	ans->nrr = 0;
}

void
dns_answer_free(struct dns_answer **ansp)
{
	if (*ansp == NULL)
		return;
	answer_clear(*ansp);
	free(*ansp);
	*ansp = NULL;
}

void
dns_answer_status(struct dns_answer *ans, enum dns_status st, uint32_t neg_ttl)
{
	ans->status = st;
	ans->neg_ttl = neg_ttl;
}

/* answer_add - a new record of type; data copied (NUL added) if not NULL */
static struct dns_rr *
answer_add(struct dns_answer *ans, uint32_t ttl, enum dns_type type,
    const char *data, size_t len)
{
	struct dns_rr *rr;

	if (ans->nrr == DNS_RR_MAX)
		return NULL;
	ans->rr = xreallocarray(ans->rr, ans->nrr + 1, sizeof(*ans->rr));
	rr = &ans->rr[ans->nrr++];
	memset(rr, 0, sizeof(*rr));
	rr->ttl = ttl;
	rr->type = type;
	if (data != NULL) {
		rr->data = xmalloc(len + 1);
		memcpy(rr->data, data, len);
		rr->data[len] = '\0';
		rr->len = len;
	}
	return rr;
}

void
dns_answer_add_txt(struct dns_answer *ans, uint32_t ttl, const char *data,
    size_t len)
{
	(void)answer_add(ans, ttl, DNS_T_TXT, data, len);
}

void
dns_answer_add_addr(struct dns_answer *ans, uint32_t ttl, int family,
    const uint8_t *addr)
{
	struct dns_rr *rr;

	if (family != AF_INET && family != AF_INET6)
		return;
	rr = answer_add(ans, ttl, family == AF_INET ? DNS_T_A : DNS_T_AAAA,
	    NULL, 0);
	if (rr == NULL)
		return;
	rr->family = family;
	memcpy(rr->addr, addr, family == AF_INET ? 4 : 16);
}

/* name_add - a record whose data is a host name (final dot dropped) */
static struct dns_rr *
name_add(struct dns_answer *ans, uint32_t ttl, enum dns_type type,
    const char *name)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	return answer_add(ans, ttl, type, name, len);
}

void
dns_answer_add_mx(struct dns_answer *ans, uint32_t ttl, uint16_t pref,
    const char *host)
{
	struct dns_rr *rr = name_add(ans, ttl, DNS_T_MX, host);

	if (rr != NULL)
		rr->pref = pref;
}

void
dns_answer_add_name(struct dns_answer *ans, uint32_t ttl, enum dns_type type,
    const char *name)
{
	(void)name_add(ans, ttl, type, name);
}

static uint32_t
min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

const struct dns_result *
dns_answer_result(struct dns_answer *ans)
{
	struct dns_result *r = &ans->res;
	size_t i;

	if (ans->status != DNS_OK)
		answer_clear(ans);
	else if (ans->nrr == 0)
		ans->status = DNS_NODATA;
	memset(r, 0, sizeof(*r));
	r->status = ans->status;
	r->type = ans->type;
	r->name = ans->name;
	r->nrr = ans->nrr;
	r->rr = ans->rr;
	switch (ans->status) {
	case DNS_OK:
		r->ttl = DNS_TTL_MAX;
		for (i = 0; i < ans->nrr; i++)
			r->ttl = min32(r->ttl, ans->rr[i].ttl);
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		r->ttl = min32(ans->neg_ttl, DNS_NEG_TTL_MAX);
		break;
	default:
		r->ttl = 0;
	}
	return r;
}

struct dns_result *
dns_result_pack(const struct dns_result *r, size_t *size_r)
{
	struct dns_result *p;
	size_t size, nlen = strlen(r->name), i;
	char *s;

	size = sizeof(*p) + r->nrr * sizeof(*p->rr) + nlen + 1;
	for (i = 0; i < r->nrr; i++)
		if (r->rr[i].data != NULL)
			size += r->rr[i].len + 1;
	p = xmalloc(size);
	*p = *r;
	p->rr = (struct dns_rr *)(void *)(p + 1);
	s = (char *)(p->rr + r->nrr);
	memcpy(s, r->name, nlen + 1);
	p->name = s;
	s += nlen + 1;
	for (i = 0; i < r->nrr; i++) {
		p->rr[i] = r->rr[i];
		if (r->rr[i].data == NULL)
			continue;
		memcpy(s, r->rr[i].data, r->rr[i].len);
		s[r->rr[i].len] = '\0';
		p->rr[i].data = s;
		s += r->rr[i].len + 1;
	}
	if (size_r != NULL)
		*size_r = size;
	return p;
}

bool
dns_name_norm(const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in), i, label = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX || n + 1 > outsz)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		/* c-ares reads '\' as an escape; controls are junk */
		if (ch < ' ' || ch == '\\' || ch == 0x7f)
			return false;
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > 63)
			return false;
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	return true;
}

bool
dns_ptr_name(int family, const uint8_t *a, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (family == AF_INET)
		return bsnprintf(out, outsz, "%u.%u.%u.%u.in-addr.arpa",
		    a[3], a[2], a[1], a[0]);
	if (family != AF_INET6 || outsz < 16 * 4 + sizeof("ip6.arpa"))
		return false;
	for (i = 16; i-- > 0; ) {
		out[o++] = hex[a[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
	return true;
}

/* wire reading */

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * wire_name - the name at *off into out (dotted, no final dot; "" for the
 * root), *off moved past it; false if malformed.  out may be NULL (skip).
 */
static bool
wire_name(const uint8_t *msg, size_t len, size_t *off, char *out, size_t outsz)
{
	size_t p = *off, o = 0, lowest = *off;
	unsigned jumps = 0;
	bool jumped = false;

	for (;;) {
		if (p >= len)
			return false;
		if ((msg[p] & 0xc0) == 0xc0) {
			size_t to;

			if (p + 1 >= len || ++jumps > DNS_JUMPS_MAX)
				return false;
			to = (size_t)(msg[p] & 0x3f) << 8 | msg[p + 1];
			if (to >= lowest)	/* only backwards: no loops */
				return false;
			if (!jumped)
				*off = p + 2;
			jumped = true;
			lowest = p = to;
			continue;
		}
		if (msg[p] & 0xc0)
			return false;
		if (msg[p] == 0)
			break;
		size_t l = msg[p];

		if (p + 1 + l > len || o + l + 1 > 255)
			return false;
		if (out != NULL) {
			if (o + l + 1 > outsz)
				return false;
			if (o > 0)
				out[o - 1] = '.';
			for (size_t i = 0; i < l; i++) {
				unsigned char ch = msg[p + 1 + i];

				if (ch == '.' || ch == '\0')
					return false;
				out[o + i] = (char)tolower(ch);
			}
			out[o + l] = '\0';
		}
		o += l + 1;
		p += 1 + l;
	}
	if (!jumped)
		*off = p + 1;
	if (out != NULL && o == 0)
		out[0] = '\0';
	return true;
}

/* wire_rdata - one record's data into ans; false if malformed */
static bool
wire_rdata(struct dns_answer *ans, uint16_t type, uint32_t ttl,
    const uint8_t *msg, size_t len, size_t off, size_t rdlen)
{
	char name[256], txt[65536];
	size_t end = off + rdlen, t = 0;

	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (rdlen != (type == DNS_T_A ? 4u : 16u))
			return false;
		dns_answer_add_addr(ans, ttl, type == DNS_T_A ? AF_INET : AF_INET6,
		    msg + off);
		return true;
	case DNS_T_MX:
		if (rdlen < 3)
			return false;
		off += 2;
		if (!wire_name(msg, end, &off, name, sizeof(name)) || off != end)
			return false;
		dns_answer_add_mx(ans, ttl, be16(msg + end - rdlen), name);
		return true;
	case DNS_T_PTR:
	case DNS_T_CNAME:
		if (!wire_name(msg, end, &off, name, sizeof(name)) || off != end)
			return false;
		dns_answer_add_name(ans, ttl, type, name);
		return true;
	case DNS_T_TXT:
		while (off < end) {
			size_t l = msg[off++];

			if (off + l > end)
				return false;
			memcpy(txt + t, msg + off, l);
			t += l;
			off += l;
		}
		dns_answer_add_txt(ans, ttl, txt, t);
		return true;
	}
	return true;
}

/* wire_neg_ttl - RFC 2308 5: min(SOA TTL, SOA minimum) from authority */
static void
wire_neg_ttl(struct dns_answer *ans, const uint8_t *msg, size_t len,
    size_t off, unsigned ns)
{
	size_t rdoff;

	for (; ns > 0; ns--) {
		if (!wire_name(msg, len, &off, NULL, 0) || off + 10 > len)
			return;
		uint16_t type = be16(msg + off);
		uint32_t ttl = be32(msg + off + 4);
		size_t rdlen = be16(msg + off + 8);

		off += 10;
		if (off + rdlen > len)
			return;
		rdoff = off;
		off += rdlen;
		if (type != DNS_T_SOA)
			continue;
		/* MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM */
		if (!wire_name(msg, off, &rdoff, NULL, 0) ||
		    !wire_name(msg, off, &rdoff, NULL, 0) || rdoff + 20 != off)
			return;
		ans->neg_ttl = min32(ttl, be32(msg + off - 4));
		return;
	}
}

void
dns_answer_parse(struct dns_answer *ans, enum dns_type qtype,
    const uint8_t *msg, size_t len)
{
	unsigned qd, an, ns, rcode;
	size_t off = DNS_HDR;

	answer_clear(ans);
	ans->status = DNS_FORMERR;
	ans->neg_ttl = DNS_NEG_TTL_NOSOA;	/* unless an SOA says otherwise */
	if (len < DNS_HDR || !(msg[2] & 0x80))	/* QR: a response */
		return;
	rcode = msg[3] & 0x0f;
	qd = be16(msg + 4);
	an = be16(msg + 6);
	ns = be16(msg + 8);
	if (rcode != 0 && rcode != 3) {		/* SERVFAIL, REFUSED, ... */
		ans->status = DNS_TEMPFAIL;
		return;
	}
	for (; qd > 0; qd--)
		if (!wire_name(msg, len, &off, NULL, 0) || (off += 4) > len)
			return;
	for (; an > 0; an--) {
		if (!wire_name(msg, len, &off, NULL, 0) || off + 10 > len)
			goto bad;
		uint16_t type = be16(msg + off), class = be16(msg + off + 2);
		uint32_t ttl = be32(msg + off + 4);
		size_t rdlen = be16(msg + off + 8);

		off += 10;
		if (off + rdlen > len)
			goto bad;
		/* RFC 2181 8: a TTL with the top bit set counts as 0 */
		if (ttl & 0x80000000u)
			ttl = 0;
		if (class == DNS_C_IN && type == qtype &&
		    !wire_rdata(ans, type, ttl, msg, len, off, rdlen))
			goto bad;
		off += rdlen;
	}
	if (rcode == 3)
		answer_clear(ans);
	ans->status = rcode == 3 ? DNS_NXDOMAIN : ans->nrr ? DNS_OK : DNS_NODATA;
	if (ans->status != DNS_OK)
		wire_neg_ttl(ans, msg, len, off, ns);
	return;
bad:
	answer_clear(ans);
	ans->status = DNS_FORMERR;
}

const char *
dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_FORMERR:
		return "formerr";
	}
	return "?";
}

const char *
dns_type_name(enum dns_type type)
{
	switch (type) {
	case DNS_T_A:
		return "A";
	case DNS_T_CNAME:
		return "CNAME";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	}
	return "?";
}
