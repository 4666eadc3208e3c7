/* SPDX-License-Identifier: ISC */
/*
 * authc_cred.c - what SMTP, IMAP and POP3 do alike with a login before
 * asking authd: the SASL PLAIN message split (RFC 4616) and the user and
 * password copied out of a parser's buffer and checked.  Pure code, apart
 * from authc.c so that tests can link it with a fake authd client.
 */
#include <string.h>

#include "authc.h"
#include "xmem.h"

bool
authc_credentials_copy(const char *user, size_t ulen, const char *pass,
    size_t plen, char u[AUTHC_CRED_MAX], char p[AUTHC_CRED_MAX])
{
	if (ulen >= AUTHC_CRED_MAX || plen >= AUTHC_CRED_MAX ||
	    memchr(user, '\0', ulen) != NULL || memchr(pass, '\0', plen) != NULL)
		return false;
	memcpy(u, user, ulen);
	u[ulen] = '\0';
	memcpy(p, pass, plen);
	p[plen] = '\0';
	if (authc_credentials_ok(u, p))
		return true;
	wipe(p, AUTHC_CRED_MAX);
	return false;
}

enum authc_plain
authc_plain(char *m, size_t len, const char **user, const char **pass)
{
	char *z1, *z2;

	if ((z1 = memchr(m, '\0', len)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', len - (size_t)(z1 - m) - 1)) == NULL ||
	    memchr(z2 + 1, '\0', len - (size_t)(z2 - m) - 1) != NULL)
		return AUTHC_PLAIN_BAD;
	m[len] = '\0';
	if (z1 != m && strcmp(m, z1 + 1) != 0)
		return AUTHC_PLAIN_PROXY;
	*user = z1 + 1;
	*pass = z2 + 1;
	return AUTHC_PLAIN_OK;
}
