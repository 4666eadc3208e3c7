/* SPDX-License-Identifier: ISC */
/*
 * smtp_auth.c - decoding SMTP AUTH responses (RFC 4954, RFC 4616 PLAIN,
 * the LOGIN mechanism of draft-murchison-sasl-login): strict base64 and
 * the PLAIN message.  Pure code, unit-tested and fuzzed; the password
 * itself is checked by authd.
 */
#include <string.h>

#include "authc.h"
#include "smtpd.h"

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
smtp_auth_b64(const char *in, char *out, size_t outsz, size_t *outlen)
{
	size_t n = strlen(in), i, o = 0, pad = 0;

	*outlen = 0;
	if (n == 1 && in[0] == '=')	/* RFC 4954 4: an empty response */
		return 0;
	if (n == 0 || n % 4 != 0)
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	if (n / 4 * 3 - pad > outsz)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], k;
		bool last = i + 4 == n;

		for (k = 0; k < 4; k++) {
			if (last && k >= 4 - (int)pad) {
				v[k] = 0;
				continue;
			}
			if ((v[k] = b64val((unsigned char)in[i + (size_t)k])) < 0)
				return -1;
		}
		out[o++] = (char)(v[0] << 2 | v[1] >> 4);
		if (!last || pad < 2)
			out[o++] = (char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (!last || pad < 1)
			out[o++] = (char)((v[2] & 0x3) << 6 | v[3]);
	}
	*outlen = o;
	return 0;
}

/* smtp_auth_check - credentials authd cannot take get 535 here */
const char *
smtp_auth_check(const char *user, const char *pass)
{
	return authc_credentials_ok(user, pass) ? NULL :
	    "535 5.7.8 Authentication credentials invalid";
}

const char *
smtp_auth_plain(char *p, size_t len, const char **user, const char **pass)
{
	char *z1, *z2;

	if ((z1 = memchr(p, '\0', len)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', len - (size_t)(z1 - p) - 1)) == NULL)
		return "501 5.5.2 Malformed PLAIN response";
	if (memchr(z2 + 1, '\0', len - (size_t)(z2 - p) - 1) != NULL)
		return "501 5.5.2 Malformed PLAIN response";
	p[len] = '\0';		/* the caller leaves room for it */
	if (z1 != p && strcmp(p, z1 + 1) != 0)
		return "535 5.7.8 Authorization identity must be the user";
	*user = z1 + 1;
	*pass = z2 + 1;
	return smtp_auth_check(*user, *pass);
}
