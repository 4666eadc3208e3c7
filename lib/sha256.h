/* SPDX-License-Identifier: ISC */
/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) without
 * OpenSSL, for a process that needs a digest now and then but should not
 * carry OpenSSL's initialised state: authd's main process (issue 17, idle
 * memory: OpenSSL's providers cost it 400 KiB of heap and, in the static
 * builds, megabytes of mapped code).  Not for bulk data: about a third of
 * OpenSSL's speed.
 *
 *	struct sha256 s;
 *	sha256_init(&s);
 *	sha256_update(&s, p, n);	(any number of times)
 *	sha256_final(&s, out);		(s is wiped)
 *	sha256(p, n, out);
 *	hmac_sha256(key, keylen, msg, n, out);
 *
 *	rand_bytes(p, n)	getrandom(2) until n bytes: 0, or -1 (errno)
 *	ct_equal(a, b, n)	true if equal, in time independent of where
 *				they differ
 */
#ifndef FACTEUR_SHA256_H
#define FACTEUR_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32
#define SHA256_BLOCK	64

struct sha256 {
	uint32_t	h[8];
	uint64_t	len;		/* bytes hashed so far */
	uint8_t		buf[SHA256_BLOCK];
	size_t		n;		/* bytes in buf */
};

void	sha256_init(struct sha256 *s);
void	sha256_update(struct sha256 *s, const void *p, size_t n);
void	sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);
void	sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);
void	hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
	    uint8_t out[SHA256_LEN]);
int	rand_bytes(void *p, size_t n);
bool	ct_equal(const void *a, const void *b, size_t n);

#endif
