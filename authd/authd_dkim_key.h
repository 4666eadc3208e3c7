/* SPDX-License-Identifier: ISC */
/*
 * authd_dkim_key.h - the OpenSSL side of the DKIM keys, run only in the
 * processes authd forks for it (authd_dkim.c): the key checker at start
 * and reload, and the signer.  authd's main process keeps the keys' PEM
 * bytes and never parses them.
 */
#ifndef FACTEUR_AUTHD_DKIM_KEY_H
#define FACTEUR_AUTHD_DKIM_KEY_H

#include <stddef.h>
#include <stdint.h>

/* one key file as read by authd: its name (for log lines) and bytes */
struct authd_dkim_pem {
	const char		*path;
	const unsigned char	*pem;
	size_t			 len;
};

/* the signer's frames: SIGN u32 index, u32 alg, data digest (32 bytes);
 * SIGNED u32 0 (ok) or 1, data signature */
#define AUTHD_DKIM_SIGN_REQ	1
#define AUTHD_DKIM_SIGNED	2

/*
 * authd_dkim_key_check - parse the n keys and write, for each, two u32
 * (enum authd_alg, bits) to fd.  -1 (logged with the file and the
 * reason) at the first key that is not a usable PEM private key.
 */
int	authd_dkim_key_check(const struct authd_dkim_pem *k, size_t n, int fd);

/*
 * authd_dkim_key_serve - parse the n keys, then answer SIGN frames on fd
 * until EOF; exits the process
 */
void	authd_dkim_key_serve(const struct authd_dkim_pem *k, size_t n, int fd)
	    __attribute__((noreturn));

#endif
