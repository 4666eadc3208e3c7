/* SPDX-License-Identifier: ISC */
/*
 * passwd.h - salted, slow password hashes in PHC string form.
 *
 * New hashes are scrypt (RFC 7914) through OpenSSL:
 *
 *	$scrypt$ln=14,r=8,p=1$<salt>$<hash>
 *
 * with a 16-byte random salt and a 32-byte output, both in unpadded
 * standard base64.  N = 2^14, r = 8 needs 16 MiB for the duration of one
 * check, which a 256 MB NAS affords (authd runs [authd] hashers checks at
 * a time, 2 by default; authd/README.md says why these parameters).
 * Verification also accepts $pbkdf2-sha256$i=N$<salt>$<hash>, so a store
 * written with another scheme keeps working and passwd_needs_rehash() says
 * when to replace it.  Used by facteur-authd (verify) and facteur-keytool
 * (hash); the caller wipes the cleartext it passed in.
 */
#ifndef FACTEUR_PASSWD_H
#define FACTEUR_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

/* room for any hash string this module writes, NUL included */
#define PASSWD_HASH_MAX	160

/*
 * passwd_hash - hash `pw` (pwlen bytes, may hold any byte) with a fresh
 * salt into `out`.  Returns 0, or -1 when the output does not fit or
 * OpenSSL failed (no randomness, no memory).
 */
int	passwd_hash(const char *pw, size_t pwlen, char *out, size_t outsz);

/*
 * passwd_verify - true when `pw` matches the stored string `stored`.  An
 * unknown scheme, malformed string or out-of-range parameter is false.  The
 * final comparison is constant-time.
 */
bool	passwd_verify(const char *pw, size_t pwlen, const char *stored);

/*
 * passwd_verify_dummy - spend the time of one verification against nothing,
 * so an unknown user cannot be told from a wrong password by timing.
 */
void	passwd_verify_dummy(const char *pw, size_t pwlen);

/* passwd_needs_rehash - true when `stored` is not of the current scheme and cost */
bool	passwd_needs_rehash(const char *stored);

/* passwd_valid - true when `stored` parses as a supported hash string */
bool	passwd_valid(const char *stored);

#endif
