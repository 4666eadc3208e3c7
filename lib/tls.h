/* SPDX-License-Identifier: ISC */
/*
 * tls.h - OpenSSL contexts for facteur: TLS 1.2 and later only.
 *
 * Server contexts are made in the parent (as root, so the key can be read)
 * before privileges are dropped.  Client contexts verify the peer against a
 * CA file when asked.
 */
#ifndef FACTEUR_TLS_H
#define FACTEUR_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* tls_server_ctx - load cert chain + key; NULL after logging why */
SSL_CTX	*tls_server_ctx(const char *cert, const char *key);
/*
 * tls_server_ctx_fd - the same from open files (read from offset 0 with
 * pread; the descriptors stay open): a chrooted role loads a certificate
 * and key its parent opened (SIGHUP).  cert and key name them in logs.
 */
SSL_CTX	*tls_server_ctx_fd(int cert_fd, int key_fd, const char *cert,
	    const char *key);
/* tls_open_pair - open both files read-only; -1 after logging why */
int	 tls_open_pair(const char *cert, const char *key, int *cert_fd_r,
	    int *key_fd_r);
/* tls_client_ctx - verify: check chain against ca_file (may be NULL: defaults) */
SSL_CTX	*tls_client_ctx(bool verify, const char *ca_file);
/* tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384" (bits) into out */
void	 tls_describe(SSL *ssl, char *out, size_t outsz);
/* tls_error - the last OpenSSL error as text, for logs (static buffer) */
const char *tls_error(void);

#endif
