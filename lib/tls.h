/* SPDX-License-Identifier: ISC */
/*
 * tls.h - OpenSSL contexts for facteur: TLS 1.2 and later only.
 *
 * OpenSSL is initialised only in the processes that do TLS, after the
 * fork: a parent opens the certificate and key as root (tls_open_pair),
 * checks them in a child that exits (tls_try), and the role that serves
 * TLS loads them from the inherited descriptors (tls_server_ctx_fd), so
 * the parent and every other role never carry OpenSSL's heap (about
 * 1.5 MB with a CA bundle).  Client contexts verify the peer against a
 * CA file when asked; tls_ca_open() opens it before a chroot and
 * tls_client_ctx_fd() loads it when a connection first needs it.
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
/*
 * tls_try - run fn(arg) in a child process and wait for it: true if it
 * returned true.  What fn allocates (OpenSSL's tables, a CA store) dies
 * with the child: the caller checks files without growing.
 */
bool	 tls_try(bool (*fn)(void *), void *arg);
/*
 * tls_open_checked - tls_open_pair, then a child loads the pair
 * (tls_try): -1 after logging why, else the caller owns both descriptors
 */
int	 tls_open_checked(const char *cert, const char *key, int *cert_fd_r,
	    int *key_fd_r);
/*
 * tls_ca_open - open ca_file, or OpenSSL's default CA file (SSL_CERT_FILE,
 * else OPENSSLDIR/cert.pem) when it is NULL, read-only; -1 if it cannot be
 * opened (errno set; nothing logged)
 */
int	 tls_ca_open(const char *ca_file);
/* tls_ca_name - the file tls_ca_open(ca_file) opens, for messages */
const char *tls_ca_name(const char *ca_file);
/*
 * tls_client_ctx_fd - tls_client_ctx with the CA certificates (and CRLs)
 * read from ca_fd (-1: none); verify: fail when they do not load
 */
SSL_CTX	*tls_client_ctx_fd(bool verify, int ca_fd, const char *ca_name);
/* tls_client_ctx - verify: check chain against ca_file (may be NULL: defaults) */
SSL_CTX	*tls_client_ctx(bool verify, const char *ca_file);
/* tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384" (bits) into out */
void	 tls_describe(SSL *ssl, char *out, size_t outsz);
/* tls_error - the last OpenSSL error as text, for logs (static buffer) */
const char *tls_error(void);

#endif
