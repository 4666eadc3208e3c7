/* SPDX-License-Identifier: ISC */
/*
 * authd_dkim.h - the DKIM private keys inside facteur-authd.
 *
 * authd_dkim_load() is called once at authd start, while authd can still
 * read the key files named by the `[dkim] sign` lines; the keys then live
 * only in authd's memory, as bytes (a child checks them, the signer
 * process parses them: authd_dkim.c).  authd_dkim_sign() answers AUTHD_DKIM_SIGN: it
 * signs a SHA-256 digest computed by lib/dkim.c in smtpd.
 */
#ifndef FACTEUR_AUTHD_DKIM_H
#define FACTEUR_AUTHD_DKIM_H

#include <stddef.h>

struct conf;

/* the longest signature we produce: RSA up to 8192 bits */
#define AUTHD_DKIM_SIG_MAX	1024

/*
 * authd_dkim_load - load every key of c->dkim.sign.  Refuses (-1, after
 * logging which file and why) a key that is missing, not a regular file,
 * not private to its owner (conf_secret_fd_ok), not RSA (>= 1024 bits, RFC 8301 3.2) or
 * Ed25519, or a domain+selector pair given twice.  Replaces keys loaded by
 * an earlier call only on success.  0 on success.
 */
int	authd_dkim_load(const struct conf *c);

/*
 * authd_dkim_sign - sign digest with the key of domain+selector (case-
 * insensitive) whose algorithm is alg (enum authd_alg): RSA PKCS#1 v1.5
 * over the SHA-256 DigestInfo, or Ed25519 over the 32 bytes (RFC 8463 3).
 * *siglen_r is the size of sig on entry, the signature length on return.
 * -1 (logged) when there is no such key or signing failed.
 */
int	authd_dkim_sign(const char *domain, const char *selector, int alg,
	    const unsigned char digest[32], unsigned char *sig, size_t *siglen_r);

/*
 * authd_dkim_alg - the algorithm (enum authd_alg) of the key of
 * domain+selector, 0 if there is none.  smtpd must know it before hashing
 * (a= is part of the signed header).
 */
int	authd_dkim_alg(const char *domain, const char *selector);

/* authd_dkim_free - forget every key (the bytes are wiped), close the
 * signer's channel (it exits) */
void	authd_dkim_free(void);

#endif
