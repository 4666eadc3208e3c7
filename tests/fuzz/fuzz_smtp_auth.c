/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_auth.c - libFuzzer target for smtpd/smtp_auth.c, the decoding
 * of SMTP AUTH responses (RFC 4954, RFC 4616 PLAIN).
 *
 * The input is used twice:
 *   - as a response line (cut at the first CR, LF or NUL, as the session
 *     never passes those): smtp_auth_b64() into a buffer of exactly the
 *     size the session gives it, compared with a plain reference decoder
 *     (same verdict, same bytes, never more than the limit); a decoded
 *     response then goes to smtp_auth_plain() like AUTH PLAIN does;
 *   - as a decoded PLAIN message straight away (binary, so the fuzzer
 *     reaches the NUL separators without having to learn base64).
 * smtp_auth_plain() gets exactly len + 1 bytes (its contract), so ASan
 * sees any write past them.  On success user and password must be the
 * 2nd and 3rd NUL-separated fields, non-empty, within the limits authd
 * puts on a login (user 1-254 bytes above space and not DEL, password
 * 1-1024 bytes without CR or LF), and the authzid empty or equal to the
 * user; on failure the reply is a 501 or 535.
 * Seeds: tests/fuzz/corpus/fuzz_smtp_auth/.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtpd/smtpd.h"

#define OUT_MAX		1100	/* CRED_MAX of smtpd/smtp_session_auth.c */

static int
ref_val(unsigned char c)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p;

	if (c == '\0' || (p = strchr(a, c)) == NULL)
		return -1;
	return (int)(p - a);
}

/* ref_b64 - RFC 4648 4 with padding required, "=" alone is empty */
static long
ref_b64(const char *in, size_t n, unsigned char *out, size_t outsz)
{
	size_t pad = 0, i, o = 0;
	unsigned acc = 0, bits = 0;
	int v;

	if (n == 1 && in[0] == '=')
		return 0;
	if (n == 0 || n % 4 != 0)
		return -1;
	while (pad < n && in[n - 1 - pad] == '=')
		pad++;
	if (pad > 2)
		return -1;
	if (n / 4 * 3 - pad > outsz)
		return -1;
	for (i = 0; i < n - pad; i++) {
		if ((v = ref_val((unsigned char)in[i])) < 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

static void
check_plain(const unsigned char *msg, size_t n)
{
	char *p = malloc(n + 1);
	const char *user = NULL, *pass = NULL, *err;
	const char *z1, *z2;
	size_t alen, ulen, plen, i;

	if (p == NULL)
		return;
	memcpy(p, msg, n);
	err = smtp_auth_plain(p, n, &user, &pass);
	if (err != NULL) {
		if (strncmp(err, "501 5.5.2 ", 10) != 0 &&
		    strncmp(err, "535 5.7.8 ", 10) != 0)
			__builtin_trap();
		free(p);
		return;
	}
	/* the fields as RFC 4616 2 defines them, from the original bytes */
	z1 = memchr(msg, '\0', n);
	if (z1 == NULL)
		__builtin_trap();
	alen = (size_t)(z1 - (const char *)msg);
	z2 = memchr(z1 + 1, '\0', n - alen - 1);
	if (z2 == NULL)
		__builtin_trap();
	ulen = (size_t)(z2 - z1 - 1);
	plen = n - alen - ulen - 2;
	if (memchr(z2 + 1, '\0', plen) != NULL)
		__builtin_trap();
	if (user != p + alen + 1 || pass != p + alen + ulen + 2)
		__builtin_trap();
	if (ulen == 0 || plen == 0 || strlen(user) != ulen ||
	    strlen(pass) != plen || memcmp(pass, z2 + 1, plen) != 0)
		__builtin_trap();
	if (alen != 0 && (alen != ulen || memcmp(msg, user, ulen) != 0))
		__builtin_trap();
	/* only what authd takes as a well-formed LOGIN (authd/README.md) */
	if (ulen > 254 || plen > 1024 || strpbrk(pass, "\r\n") != NULL)
		__builtin_trap();
	for (i = 0; i < ulen; i++)
		if ((unsigned char)user[i] <= ' ' || user[i] == 0x7f)
			__builtin_trap();
	free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char want[OUT_MAX];
	char *line, *out;
	size_t len, n = 7;
	long r;
	int got;

	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	len = strcspn(line, "\r\n");	/* also stops at a NUL */
	line[len] = '\0';
	if ((out = malloc(OUT_MAX)) == NULL) {
		free(line);
		return 0;
	}
	got = smtp_auth_b64(line, out, OUT_MAX, &n);
	r = ref_b64(line, len, want, sizeof(want));
	if (got == 0) {
		if (r < 0 || n != (size_t)r || n > OUT_MAX ||
		    memcmp(out, want, n) != 0)
			__builtin_trap();
		check_plain((const unsigned char *)out, n);
	} else if (got != -1 || r >= 0 || n != 0)
		__builtin_trap();
	free(out);
	free(line);

	if (size <= OUT_MAX)
		check_plain(data, size);
	return 0;
}
