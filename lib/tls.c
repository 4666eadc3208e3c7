/* SPDX-License-Identifier: ISC */
/*
 * tls.c - OpenSSL contexts (see tls.h).  TLS 1.2 is the floor; session
 * tickets stay on for fast client reconnects; no compression, no
 * renegotiation.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "tls.h"

const char *
tls_error(void)
{
	static char msg[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "no OpenSSL error";
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return msg;
}

static SSL_CTX *
tls_ctx_new(const SSL_METHOD *m)
{
	SSL_CTX *ctx = SSL_CTX_new(m);

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_server_method());

	if (ctx == NULL) {
		log_warnx("tls: %s", tls_error());
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		log_warnx("tls: cannot load certificate %s: %s", cert, tls_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		log_warnx("tls: cannot load key %s: %s", key, tls_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_warnx("tls: key %s does not match certificate %s", key, cert);
		goto fail;
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"facteur", 7);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx(bool verify, const char *ca_file)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_client_method());

	if (ctx == NULL) {
		log_warnx("tls: %s", tls_error());
		return NULL;
	}
	if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		if (verify) {
			/* the usual cause on a fresh system */
			bool absent = ca_file != NULL && access(ca_file, F_OK) != 0;

			log_warnx("tls: cannot load CA file %s: %s",
			    ca_file ? ca_file : "(default)", absent ?
			    "no such file (on Debian: apt-get install "
			    "ca-certificates, or set [relay] ca_file)" :
			    tls_error());
			SSL_CTX_free(ctx);
			return NULL;
		}
		ERR_clear_error();
	}
	/* verification result is read after the handshake (SSL_get_verify_result)
	 * so an unverified peer can still be reported as tls=untrusted */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

void
tls_describe(SSL *ssl, char *out, size_t outsz)
{
	if (ssl == NULL) {
		snprintf(out, outsz, "none");
		return;
	}
	snprintf(out, outsz, "%s %s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}
