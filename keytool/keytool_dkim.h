/* SPDX-License-Identifier: ISC */
/*
 * keytool_dkim.h - helpers shared by the dkim, dns, tls and doctor
 * commands of facteur-keytool (their keytool_cmd_*() entry points are
 * declared in keytool.h).
 */
#ifndef FACTEUR_KEYTOOL_DKIM_H
#define FACTEUR_KEYTOOL_DKIM_H

#include <stdbool.h>
#include <stddef.h>

#include "dkim.h"

#include "keytool/keytool.h"

/* keytool_dkim.c */
/*
 * keytool_dkim_txt - the TXT value "v=DKIM1; k=...; p=..." for the private
 * key in path, and its algorithm.  -1 with the reason in err.
 */
int	keytool_dkim_txt(const char *path, enum dkim_alg *alg_r, char **txt_r,
	    char *err, size_t errsz);
/*
 * keytool_write_file - write data to path with mode, atomically (temporary
 * file, fsync, then rename, or link when !force so an existing file is
 * never replaced).  Creates missing parent directories with mode 0700.
 * -1 with the reason on stderr.
 */
int	keytool_write_file(const char *path, const void *data, size_t n,
	    unsigned mode, bool force);

/*
 * keytool_dkim_keygen - a new private key of alg (RSA 2048 or Ed25519) as
 * PKCS#8 PEM in path, mode 0600 (keytool_write_file); -1 explained.
 */
int	keytool_dkim_keygen(const char *path, enum dkim_alg alg, bool force);

/* keytool_tls.c */
/*
 * keytool_tls_write - a self-signed ECDSA certificate for c->hostname at
 * the [tls] paths (key 0600, certificate 0644); says what it wrote on
 * stdout.  Non-zero explained on stderr.
 */
int	keytool_tls_write(const struct conf *c, bool force);

/* keytool_dns.c */
/* keytool_dkim_owner - "SELECTOR._domainkey.DOMAIN." into out */
bool	keytool_dkim_owner(char *out, size_t outsz, const char *domain,
	    const char *selector);
/* keytool_txt_print - owner IN TXT "value", and split in 255-byte strings */
void	keytool_txt_print(const char *owner, const char *value);

#endif
