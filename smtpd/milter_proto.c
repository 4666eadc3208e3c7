/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.c - encoder of milter commands and decoder of milter
 * replies (milter_proto.h).  The decoder reads what a milter sends, which
 * facteur does not trust: every length is checked, strings must end with
 * their NUL inside the packet, and a reply longer than MILTER_REPLY_MAX
 * is malformed.  Fuzzed by tests/fuzz/fuzz_milter.c.
 */
#include <string.h>

#include "smtpd/milter_proto.h"

static uint32_t
get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | u[3];
}

/* str - a NUL-terminated string at p[*off..n): its start, or NULL */
static const char *
str(const char *p, size_t n, size_t *off)
{
	const char *s = p + *off, *z;

	if (*off >= n || (z = memchr(s, '\0', n - *off)) == NULL)
		return NULL;
	*off += (size_t)(z - s) + 1;
	return s;
}

static int
parse_header(struct milter_reply *r, bool indexed)
{
	size_t off = 0;

	if (indexed) {
		if (r->len < 4)
			return -1;
		r->index = get32(r->data);
		off = 4;
	}
	if ((r->name = str(r->data, r->len, &off)) == NULL ||
	    (r->value = str(r->data, r->len, &off)) == NULL ||
	    r->name[0] == '\0')
		return -1;
	return 1;
}

int
milter_parse(const char *p, size_t n, struct milter_reply *r, size_t *used)
{
	uint32_t len;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	if (n < 4)
		return 0;
	len = get32(p);
	if (len == 0 || len > MILTER_REPLY_MAX)
		return -1;
	if (n - 4 < len)
		return 0;
	*used = 4 + (size_t)len;
	r->cmd = p[4];
	r->data = p + 5;
	r->len = len - 1;
	switch (r->cmd) {
	case SMFIR_OPTNEG:
		if (r->len < 12)
			return -1;
		r->version = get32(r->data);
		r->actions = get32(r->data + 4);
		r->proto = get32(r->data + 8);
		return 1;	/* macro lists may follow: ignored */
	case SMFIR_ADDHEADER:
		return parse_header(r, false);
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		return parse_header(r, true);
	case SMFIR_REPLYCODE:
	case SMFIR_QUARANTINE:
		if ((r->text = str(r->data, r->len, &off)) == NULL)
			return -1;
		return 1;
	case SMFIR_ACCEPT:
	case SMFIR_CONTINUE:
	case SMFIR_DISCARD:
	case SMFIR_PROGRESS:
	case SMFIR_REJECT:
	case SMFIR_SKIP:
	case SMFIR_TEMPFAIL:
	case SMFIR_REPLBODY:
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_CHGFROM:
	case '4':	/* SMFIR_SHUTDOWN */
	case 'f':	/* SMFIR_CONNFAIL */
	case 'l':	/* SMFIR_SETSYMLIST */
		return 1;
	default:
		return -1;
	}
}

bool
milter_reply_ok(const char *t)
{
	size_t i;

	if ((t[0] != '4' && t[0] != '5') || t[1] < '0' || t[1] > '9' ||
	    t[2] < '0' || t[2] > '9' || (t[3] != ' ' && t[3] != '\0'))
		return false;
	for (i = 0; t[i]; i++)
		if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] > 0x7e)
			return false;
	return i <= 512;
}

bool
milter_header_ok(const char *name, const char *value)
{
	size_t i;

	for (i = 0; name[i]; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] > 0x7e ||
		    name[i] == ':')
			return false;
	if (i == 0 || i > 128)
		return false;
	for (i = 0; value[i]; i++) {
		unsigned char ch = (unsigned char)value[i];

		if (ch == '\n' && value[i + 1] != ' ' && value[i + 1] != '\t')
			return false;	/* a continuation must be folded */
		if (ch == '\r' && value[i + 1] != '\n')
			return false;
		if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
			return false;
	}
	return i <= 16384;
}

static void
put32(unsigned char *u, uint32_t v)
{
	u[0] = (unsigned char)(v >> 24);
	u[1] = (unsigned char)(v >> 16);
	u[2] = (unsigned char)(v >> 8);
	u[3] = (unsigned char)v;
}

int
milter_put(struct buf *b, char cmd, const void *data, size_t len)
{
	unsigned char h[5];

	if (len >= MILTER_REPLY_MAX * 4)
		return -1;
	put32(h, (uint32_t)len + 1);
	h[4] = (unsigned char)cmd;
	if (buf_append(b, h, 5) == -1 || (len && buf_append(b, data, len) == -1))
		return -1;
	return 0;
}

int
milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions,
    uint32_t proto)
{
	unsigned char d[12];

	put32(d, version);
	put32(d + 4, actions);
	put32(d + 8, proto);
	return milter_put(b, SMFIC_OPTNEG, d, sizeof(d));
}

/* strs - n strings with their NULs, after `pre` bytes of prefix */
static int
put_strs(struct buf *b, char cmd, const void *pre, size_t npre,
    const char *const *s, size_t n)
{
	struct buf d;
	size_t i;
	int r = 0;

	buf_init(&d, 0);
	if (npre)
		r = buf_append(&d, pre, npre);
	for (i = 0; i < n && r == 0; i++)
		r = buf_append(&d, s[i], strlen(s[i]) + 1);
	if (r == 0)
		r = milter_put(b, cmd, buf_head(&d), d.len);
	buf_free(&d);
	return r;
}

int
milter_put_strs(struct buf *b, char cmd, const char *const *s, size_t n)
{
	return put_strs(b, cmd, NULL, 0, s, n);
}

int
milter_put_macros(struct buf *b, char forcmd, const char *const *kv, size_t nkv)
{
	return put_strs(b, SMFIC_MACRO, &forcmd, 1, kv, nkv);
}

int
milter_put_connect(struct buf *b, const char *hostname, const char *addr,
    uint16_t port)
{
	unsigned char pre[3];
	const char *s[1] = { addr };
	struct buf d;
	int r;

	/* hostname NUL, family, port (big-endian), address NUL */
	pre[0] = strchr(addr, ':') ? '6' : '4';
	pre[1] = (unsigned char)(port >> 8);
	pre[2] = (unsigned char)port;
	buf_init(&d, 0);
	r = buf_append(&d, hostname, strlen(hostname) + 1);
	if (r == 0)
		r = buf_append(&d, pre, 3);
	if (r == 0)
		r = buf_append(&d, s[0], strlen(s[0]) + 1);
	if (r == 0)
		r = milter_put(b, SMFIC_CONNECT, buf_head(&d), d.len);
	buf_free(&d);
	return r;
}
