/* SPDX-License-Identifier: ISC */
/*
 * passwd.c - salted slow password hashes (see passwd.h for the format).
 *
 * Runs in facteur-authd (verification, as `user`) and facteur-keytool
 * (hashing).  Never logs, never keeps a cleartext or a derived key beyond
 * the call: every intermediate buffer is wiped before returning.  Errors are
 * reported as -1 / false; nothing here exits.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "passwd.h"
#include "strnum.h"
#include "xmem.h"

/* current cost: what passwd_hash writes and passwd_needs_rehash expects */
#define SCRYPT_LN	14
#define SCRYPT_R	8
#define SCRYPT_P	1
#define SALT_LEN	16
#define HASH_LEN	32

/* what verification accepts: memory 128*r*N*p bounded by MAXMEM */
#define SCRYPT_MAXMEM	(64UL * 1024 * 1024)
#define PBKDF2_MIN	1000
#define PBKDF2_MAX	10000000
#define B64_MAX		64		/* decoded salt or hash bytes */

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum passwd_scheme {
	SCHEME_SCRYPT,
	SCHEME_PBKDF2_SHA256,
};

struct passwd_parsed {
	enum passwd_scheme scheme;
	unsigned	 ln, r, p;	/* scrypt */
	unsigned	 iter;		/* pbkdf2 */
	unsigned char	 salt[B64_MAX];
	size_t		 saltlen;
	unsigned char	 hash[B64_MAX];
	size_t		 hashlen;
};

/* b64_encode - unpadded standard base64 of n bytes; false if it does not fit */
static bool
b64_encode(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		size_t k = n - i < 3 ? n - i : 3, j;

		v = (uint32_t)in[i] << 16;
		if (k > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (k > 2)
			v |= in[i + 2];
		for (j = 0; j < k + 1; j++) {
			if (o + 1 >= outsz)
				return false;
			out[o++] = b64_alpha[(v >> (18 - 6 * j)) & 0x3f];
		}
	}
	if (o >= outsz)
		return false;
	out[o] = '\0';
	return true;
}

static int
b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alpha, c);
	return p ? (int)(p - b64_alpha) : -1;
}

/* b64_decode - n chars of unpadded base64 into out (max outmax); false on junk */
static bool
b64_decode(const char *in, size_t n, unsigned char *out, size_t outmax,
    size_t *len_r)
{
	size_t i, o = 0;
	uint32_t acc = 0;
	int bits = 0, v;

	if (n % 4 == 1)
		return false;
	for (i = 0; i < n; i++) {
		if ((v = b64_value((unsigned char)in[i])) < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outmax)
				return false;
			out[o++] = (acc >> bits) & 0xff;
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (bits && (acc & ((1U << bits) - 1)))
		return false;
	*len_r = o;
	return true;
}

/* param_get - parse "name=DIGITS" at *sp up to ',' or end; advance */
static bool
param_get(const char **sp, const char *end, const char *name, long long min,
    long long max, unsigned *v_r)
{
	size_t nl = strlen(name);
	const char *s = *sp, *e, *err;
	char num[16];
	long long v;

	if ((size_t)(end - s) <= nl || memcmp(s, name, nl) != 0 || s[nl] != '=')
		return false;
	s += nl + 1;
	for (e = s; e < end && *e != ','; e++)
		;
	if (e == s || (size_t)(e - s) >= sizeof(num) || (e - s > 1 && *s == '0'))
		return false;
	memcpy(num, s, e - s);
	num[e - s] = '\0';
	v = strnum(num, min, max, &err);
	if (err != NULL)
		return false;
	*v_r = (unsigned)v;
	*sp = e < end ? e + 1 : e;
	return true;
}

/* passwd_parse - split a PHC string; false on anything unexpected */
static bool
passwd_parse(const char *stored, struct passwd_parsed *pp)
{
	const char *s, *params, *salt, *hash, *end;

	memset(pp, 0, sizeof(*pp));
	if (stored == NULL || stored[0] != '$')
		return false;
	s = stored + 1;
	if (strncmp(s, "scrypt$", 7) == 0) {
		pp->scheme = SCHEME_SCRYPT;
		params = s + 7;
	} else if (strncmp(s, "pbkdf2-sha256$", 14) == 0) {
		pp->scheme = SCHEME_PBKDF2_SHA256;
		params = s + 14;
	} else
		return false;
	if ((salt = strchr(params, '$')) == NULL)
		return false;
	if ((hash = strchr(salt + 1, '$')) == NULL)
		return false;
	end = salt;
	s = params;
	if (pp->scheme == SCHEME_SCRYPT) {
		if (!param_get(&s, end, "ln", 1, 31, &pp->ln) ||
		    !param_get(&s, end, "r", 1, 64, &pp->r) ||
		    !param_get(&s, end, "p", 1, 64, &pp->p) || s != end)
			return false;
		/* refuse costs this machine cannot afford (hostile store) */
		if (pp->ln > 24 || 128ULL * pp->r * ((uint64_t)1 << pp->ln) +
		    128ULL * pp->r * pp->p > SCRYPT_MAXMEM)
			return false;
	} else {
		if (!param_get(&s, end, "i", PBKDF2_MIN, PBKDF2_MAX, &pp->iter) ||
		    s != end)
			return false;
	}
	if (!b64_decode(salt + 1, hash - salt - 1, pp->salt, sizeof(pp->salt),
	    &pp->saltlen) || pp->saltlen < 4)
		return false;
	end = hash + 1 + strlen(hash + 1);
	if (!b64_decode(hash + 1, end - hash - 1, pp->hash, sizeof(pp->hash),
	    &pp->hashlen) || pp->hashlen < 16)
		return false;
	return true;
}

/* passwd_derive - run the parsed scheme on pw into out (pp->hashlen bytes) */
static bool
passwd_derive(const struct passwd_parsed *pp, const char *pw, size_t pwlen,
    unsigned char *out)
{
	if (pp->scheme == SCHEME_SCRYPT)
		return EVP_PBE_scrypt(pw, pwlen, pp->salt, pp->saltlen,
		    (uint64_t)1 << pp->ln, pp->r, pp->p, SCRYPT_MAXMEM + 65536,
		    out, pp->hashlen) == 1;
	if (pwlen > INT_MAX)
		return false;
	return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, pp->salt, (int)pp->saltlen,
	    (int)pp->iter, EVP_sha256(), (int)pp->hashlen, out) == 1;
}

int
passwd_hash(const char *pw, size_t pwlen, char *out, size_t outsz)
{
	struct passwd_parsed pp;
	char salt64[B64_MAX], hash64[B64_MAX];
	int rc = -1;

	memset(&pp, 0, sizeof(pp));
	pp.scheme = SCHEME_SCRYPT;
	pp.ln = SCRYPT_LN;
	pp.r = SCRYPT_R;
	pp.p = SCRYPT_P;
	pp.saltlen = SALT_LEN;
	pp.hashlen = HASH_LEN;
	if (RAND_bytes(pp.salt, SALT_LEN) != 1)
		goto done;
	if (!passwd_derive(&pp, pw, pwlen, pp.hash))
		goto done;
	if (!b64_encode(pp.salt, pp.saltlen, salt64, sizeof(salt64)) ||
	    !b64_encode(pp.hash, pp.hashlen, hash64, sizeof(hash64)))
		goto done;
	if (!bsnprintf(out, outsz, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", pp.ln,
	    pp.r, pp.p, salt64, hash64))
		goto done;
	rc = 0;
done:
	OPENSSL_cleanse(&pp, sizeof(pp));
	OPENSSL_cleanse(hash64, sizeof(hash64));
	return rc;
}

bool
passwd_verify(const char *pw, size_t pwlen, const char *stored)
{
	struct passwd_parsed pp;
	unsigned char got[B64_MAX];
	bool ok = false;

	if (!passwd_parse(stored, &pp))
		goto done;
	if (!passwd_derive(&pp, pw, pwlen, got))
		goto done;
	ok = CRYPTO_memcmp(got, pp.hash, pp.hashlen) == 0;
done:
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(&pp, sizeof(pp));
	return ok;
}

void
passwd_verify_dummy(const char *pw, size_t pwlen)
{
	/* a valid current-cost hash of a random password nobody knows */
	static const char dummy[] = "$scrypt$ln=14,r=8,p=1$"
	    "ZmFjdGV1ci1kdW1teQ$"
	    "qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE";

	(void)passwd_verify(pw, pwlen, dummy);
}

bool
passwd_needs_rehash(const char *stored)
{
	struct passwd_parsed pp;
	bool rehash;

	if (!passwd_parse(stored, &pp))
		return true;
	rehash = pp.scheme != SCHEME_SCRYPT || pp.ln < SCRYPT_LN ||
	    pp.r < SCRYPT_R || pp.p < SCRYPT_P || pp.saltlen < SALT_LEN ||
	    pp.hashlen < HASH_LEN;
	OPENSSL_cleanse(&pp, sizeof(pp));
	return rehash;
}

bool
passwd_valid(const char *stored)
{
	struct passwd_parsed pp;
	bool ok = passwd_parse(stored, &pp);

	OPENSSL_cleanse(&pp, sizeof(pp));
	return ok;
}
