/* SPDX-License-Identifier: ISC */
/*
 * sha256.c - SHA-256 as FIPS 180-4 section 6.2 gives it, HMAC as RFC 2104
 * does, random bytes from getrandom(2) and a constant-time comparison:
 * what authd's main process needs, without OpenSSL (sha256.h says why).
 * tests/unit/sha256_test.c checks them against FIPS and RFC 4231 vectors
 * and against OpenSSL for every length up to a few blocks.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "sha256.h"

/* the first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes (FIPS 180-4 4.2.2) */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z)	(((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z)	(((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x)	(ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x)	(ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x)	(ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x)	(ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))

static void
block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int t;

	for (t = 0; t < 16; t++)
		w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
		    (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
	for (; t < 64; t++)
		w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];
	a = h[0], b = h[1], c = h[2], d = h[3];
	e = h[4], f = h[5], g = h[6], hh = h[7];
	for (t = 0; t < 64; t++) {
		t1 = hh + BSIG1(e) + CH(e, f, g) + K[t] + w[t];
		t2 = BSIG0(a) + MAJ(a, b, c);
		hh = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
	explicit_bzero(w, sizeof(w));
}

void
sha256_init(struct sha256 *s)
{
	/* FIPS 180-4 5.3.3: square roots of the first 8 primes */
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

void
sha256_update(struct sha256 *s, const void *p, size_t n)
{
	const uint8_t *in = p;
	size_t k;

	s->len += n;
	if (s->n > 0) {
		k = SHA256_BLOCK - s->n < n ? SHA256_BLOCK - s->n : n;
		memcpy(s->buf + s->n, in, k);
		s->n += k, in += k, n -= k;
		if (s->n < SHA256_BLOCK)
			return;
		block(s->h, s->buf);
		s->n = 0;
	}
	for (; n >= SHA256_BLOCK; in += SHA256_BLOCK, n -= SHA256_BLOCK)
		block(s->h, in);
	memcpy(s->buf, in, n);
	s->n = n;
}

void
sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN])
{
	uint64_t bits = s->len * 8;
	int i;

	/* 5.1.1: a 1 bit, zeros, the length in bits in the last 8 bytes */
	s->buf[s->n++] = 0x80;
	if (s->n > SHA256_BLOCK - 8) {
		memset(s->buf + s->n, 0, SHA256_BLOCK - s->n);
		block(s->h, s->buf);
		s->n = 0;
	}
	memset(s->buf + s->n, 0, SHA256_BLOCK - 8 - s->n);
	for (i = 0; i < 8; i++)
		s->buf[SHA256_BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
	block(s->h, s->buf);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
	explicit_bzero(s, sizeof(*s));
}

void
sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	struct sha256 s;

	sha256_init(&s);
	sha256_update(&s, p, n);
	sha256_final(&s, out);
}

void
hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
    uint8_t out[SHA256_LEN])
{
	uint8_t k[SHA256_BLOCK], pad[SHA256_BLOCK], inner[SHA256_LEN];
	struct sha256 s;
	int i;

	/* RFC 2104 2: a key longer than a block is hashed first */
	memset(k, 0, sizeof(k));
	if (keylen > SHA256_BLOCK)
		sha256(key, keylen, k);
	else if (keylen > 0)
		memcpy(k, key, keylen);
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&s);
	sha256_update(&s, pad, sizeof(pad));
	sha256_update(&s, msg, n);
	sha256_final(&s, inner);
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&s);
	sha256_update(&s, pad, sizeof(pad));
	sha256_update(&s, inner, sizeof(inner));
	sha256_final(&s, out);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
	explicit_bzero(inner, sizeof(inner));
}

int
rand_bytes(void *p, size_t n)
{
	uint8_t *out = p;
	ssize_t r;

	while (n > 0) {
		if ((r = getrandom(out, n, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		out += r, n -= (size_t)r;
	}
	return 0;
}

bool
ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
