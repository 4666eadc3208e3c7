/* SPDX-License-Identifier: ISC */
/*
 * acme.h - facteur-keytool's ACME client (RFC 8555), private to
 * keytool/acme*.c.
 *
 *   acme.c       `acme issue|renew`: the order from account to certificate,
 *                files, telling the daemons
 *   acme_jws.c   account key, JWK, thumbprint, ES256 JWS, base64url, CSR
 *   acme_http.c  HTTPS client over OpenSSL (I/O)
 *   acme_httpp.c HTTP/1.1 response parser (no I/O; fuzzed)
 *   acme_json.c  bounded JSON parser (no I/O; fuzzed)
 *   acme_chal.c  HTTP-01: a short-lived listener, or files in a webroot
 *
 * Runs as the administrator in the foreground; everything it reads from
 * the network is untrusted.  Errors are explained on stderr, prefixed
 * "acme: ", and make the command exit 1.
 */
#ifndef FACTEUR_ACME_H
#define FACTEUR_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#define ACME_URL_MAX	1024
#define ACME_NONCE_MAX	256
#define ACME_BODY_MAX	(256 * 1024)	/* a response body, decoded */
#define ACME_RESP_MAX	(512 * 1024)	/* a whole response on the wire */

/* acme_httpp.c: one HTTP/1.1 response */
struct http_resp {
	int		 status;
	char		 location[ACME_URL_MAX];	/* "" if none */
	char		 nonce[ACME_NONCE_MAX];		/* Replay-Nonce, "" if none */
	char		 ctype[128];			/* Content-Type, "" if none */
	unsigned	 retry_after;			/* seconds, 0 if none */
	char		*body;		/* NUL-terminated copy, malloc'd */
	size_t		 bodylen;
};

/*
 * http_parse - the response in buf[0..len) (read until the server closed
 * the connection): status line, headers, body by Content-Length, chunked
 * or to the end (no body when head).  0, or -1 with a fixed reason in
 * *err_r.  On 0 the caller frees r->body (http_resp_free).
 */
int	http_parse(const char *buf, size_t len, bool head, struct http_resp *r,
	    const char **err_r);
void	http_resp_free(struct http_resp *r);

/* acme_http.c: HTTPS requests */
struct acme_http {
	SSL_CTX		*ctx;		/* verifies against [acme] ca_file */
	unsigned	 timeout;	/* seconds per request */
};

/* acme_http_init - the client context; -1 explained on stderr */
int	acme_http_init(struct acme_http *h, const char *ca_file,
	    unsigned timeout);
void	acme_http_free(struct acme_http *h);
/*
 * acme_http_req - method (GET, HEAD, POST) to an https:// url, with body
 * as application/jose+json when not NULL; the response in r (caller
 * frees).  -1 explained on stderr (connection, TLS, malformed reply).
 */
int	acme_http_req(struct acme_http *h, const char *method, const char *url,
	    const char *body, struct http_resp *r);

/* acme_jws.c */
/* b64url - base64url without padding of in[0..n) into a new string */
char	*b64url(const void *in, size_t n);
/*
 * acme_account_key - load the P-256 key at path, or make one and write it
 * (mode 0600, atomic); NULL explained on stderr
 */
EVP_PKEY *acme_account_key(const char *path);
/* acme_jwk - {"crv":"P-256","kty":"EC","x":...,"y":...} (RFC 7638 order) */
char	*acme_jwk(EVP_PKEY *key);
/* acme_thumbprint - base64url(SHA-256(jwk)) (RFC 7638), NULL on error */
char	*acme_thumbprint(EVP_PKEY *key);
/*
 * acme_jws - the flattened JWS (RFC 7515 7.2.2) of payload ("" for
 * POST-as-GET) for url, signed ES256, with kid or (NULL) the jwk
 */
char	*acme_jws(EVP_PKEY *key, const char *kid, const char *nonce,
	    const char *url, const char *payload);
/* acme_csr - base64url DER of a CSR for names, signed by key; NULL on error */
char	*acme_csr(EVP_PKEY *key, char **names, size_t nnames);

/* acme_chal.c: HTTP-01 (RFC 8555 8.3) */
struct acme_chal {
	const char	*webroot;	/* NULL: listen */
	pid_t		 pid;		/* the listener, 0 if none */
	size_t		 n;
	char		*token[16];
	char		*keyauth[16];
};
/*
 * acme_chal_add - serve keyauth at /.well-known/acme-challenge/token
 * (webroot: write the file now); -1 explained
 */
int	acme_chal_add(struct acme_chal *ch, const char *token,
	    const char *keyauth);
/*
 * acme_chal_listen - fork the listener on addr:port serving every token
 * added so far (when not in webroot mode); -1 explained
 */
int	acme_chal_listen(struct acme_chal *ch, const char *host,
	    unsigned port);
/* acme_chal_done - stop the listener, remove the webroot files */
void	acme_chal_done(struct acme_chal *ch);
/*
 * acme_chal_webroot_ok - [acme] webroot can take challenge files: an
 * existing directory, its .well-known/acme-challenge made if missing
 * (0755), and a file written there and removed.  Checked before any
 * order (an order whose challenge cannot be served fails at the CA and
 * counts against its rate limits) and by `doctor`.  True, or false with
 * why ("DIR: REASON") set and errno the cause (EACCES: doctor run without
 * root on root's webroot).
 */
bool	acme_chal_webroot_ok(const char *webroot, char *why, size_t whysz);
/*
 * acme_chal_answer - the reply for one request line (for the listener and
 * the fuzz target): the key authorization for a known token, else NULL
 */
const char *acme_chal_answer(const struct acme_chal *ch, const char *req,
	    size_t len);

#endif
