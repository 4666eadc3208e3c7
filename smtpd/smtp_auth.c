/* SPDX-License-Identifier: ISC */
/*
 * smtp_auth.c - decoding SMTP AUTH responses (RFC 4954, RFC 4616 PLAIN,
 * the LOGIN mechanism of draft-murchison-sasl-login): strict base64 and
 * the PLAIN message.  Pure code, unit-tested and fuzzed; the password
 * itself is checked by authd.
 */
#include <string.h>

#include "authc.h"
#include "base64.h"
#include "smtpd.h"

int
smtp_auth_b64(const char *in, char *out, size_t outsz, size_t *outlen)
{
	*outlen = 0;
	if (strcmp(in, "=") == 0)	/* RFC 4954 4: an empty response */
		return 0;
	if (*in == '\0')
		return -1;
	return base64_decode(in, strlen(in), out, outsz, outlen);
}

const char *
smtp_auth_check(const char *user, const char *pass)
{
	return authc_credentials_ok(user, pass) ? NULL :
	    "535 5.7.8 Authentication credentials invalid";
}

const char *
smtp_auth_plain(char *p, size_t len, const char **user, const char **pass)
{
	switch (authc_plain(p, len, user, pass)) {	/* room for p[len] */
	case AUTHC_PLAIN_BAD:
		return "501 5.5.2 Malformed PLAIN response";
	case AUTHC_PLAIN_PROXY:
		return "535 5.7.8 Authorization identity must be the user";
	case AUTHC_PLAIN_OK:
		break;
	}
	return smtp_auth_check(*user, *pass);
}
