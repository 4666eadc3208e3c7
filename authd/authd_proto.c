/* SPDX-License-Identifier: ISC */
/*
 * authd_proto.c - decoding of requests to facteur-authd (lib/authc.h).
 *
 * Pure functions over one frame's payload: no I/O, no state, fed bytes by
 * tests/fuzz/fuzz_authd.c.  Only AUTHD_LOCAL carries a descriptor; it is
 * not touched here (the caller closes it).  Runs in authd; every frame comes from a local
 * peer whose uid was checked, and is still treated as untrusted: every
 * string is length-checked, NUL-checked (by ipc_get_str) and, where it will
 * be logged or looked up, checked for control bytes.  A malformed frame is
 * reported by a static reason; the caller closes that peer.
 */
#include <string.h>

#include "authd.h"

bool
authd_printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

/* get_token - a printable string of 1..max bytes */
static bool
get_token(struct ipc_msg *m, const char **s_r, size_t max)
{
	size_t n;

	return ipc_get_str(m, s_r, &n) && n > 0 && n <= max &&
	    authd_printable(*s_r, n);
}

static const char *
decode_login(struct ipc_msg *m, struct authd_req *r)
{
	if (!get_token(m, &r->service, AUTHD_SERVICE_MAX))
		return "bad service";
	if (!get_token(m, &r->user, USERDB_ADDR_MAX - 1))
		return "bad user";
	/* any bytes but NUL (the SASL PLAIN separator), CR or LF */
	if (!ipc_get_str(m, &r->password, &r->passlen) ||
	    r->passlen > AUTHD_PASSWORD_MAX ||
	    memchr(r->password, '\r', r->passlen) != NULL ||
	    memchr(r->password, '\n', r->passlen) != NULL)
		return "bad password field";
	if (!get_token(m, &r->ip, AUTHD_IP_MAX))
		return "bad client address";
	return NULL;
}

static const char *
decode_dkim(struct ipc_msg *m, struct authd_req *r)
{
	const void *d;
	size_t n;

	if (!get_token(m, &r->domain, USERDB_ADDR_MAX - 1))
		return "bad domain";
	if (!get_token(m, &r->selector, 63))
		return "bad selector";
	if (!ipc_get_u32(m, &r->alg) || (r->alg != AUTHD_ALG_RSA_SHA256 &&
	    r->alg != AUTHD_ALG_ED25519_SHA256))
		return "bad algorithm";
	if (!ipc_get_data(m, &d, &n) || n != 32)
		return "bad digest";
	r->digest = d;
	if (!ipc_get_data(m, &d, &n) || n != AUTHD_GRANT_LEN)
		return "bad grant";
	r->grant = d;
	return NULL;
}

const char *
authd_req_decode(struct ipc_msg *m, struct authd_req *r)
{
	const char *why = NULL;

	const void *d;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->type = m->hdr.type;
	r->id = m->hdr.id;
	r->fd = -1;
	if ((m->fd != -1) != (m->hdr.type == AUTHD_LOCAL))
		return m->fd != -1 ? "unexpected descriptor" : "no descriptor";
	switch (m->hdr.type) {
	case AUTHD_HELLO:
		if (!ipc_get_u32(m, &r->version))
			why = "bad hello";
		break;
	case AUTHD_RCPT:
		if (!get_token(m, &r->address, USERDB_ADDR_MAX - 1))
			why = "bad address";
		break;
	case AUTHD_LOGIN:
		why = decode_login(m, r);
		break;
	case AUTHD_SENDERS:
		if (!get_token(m, &r->user, USERDB_ADDR_MAX - 1))
			why = "bad user";
		break;
	case AUTHD_DKIM_SIGN:
		why = decode_dkim(m, r);
		break;
	case AUTHD_DKIM_ALG:
		if (!get_token(m, &r->domain, USERDB_ADDR_MAX - 1))
			why = "bad domain";
		else if (!get_token(m, &r->selector, 63))
			why = "bad selector";
		break;
	case AUTHD_LOCAL:
		r->fd = m->fd;
		break;
	case AUTHD_RELEASE:
		if (!ipc_get_data(m, &d, &n) || n != AUTHD_GRANT_LEN)
			why = "bad grant";
		else
			r->grant = d;
		break;
	default:
		return "unknown request type";
	}
	if (why == NULL && !ipc_get_end(m))
		why = "trailing bytes";
	return why;
}
