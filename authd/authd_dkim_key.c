/* SPDX-License-Identifier: ISC */
/*
 * authd_dkim_key.c - DKIM private keys under OpenSSL: parsing a key
 * file's bytes, checking its type and size, signing a digest.
 *
 * Runs only in processes authd forks (authd_dkim.c): the checker that
 * validates the keys at start and reload and exits, and the signer that
 * answers signing requests until authd closes its channel.  authd's main
 * process never starts OpenSSL (issue 17).
 *
 * Errors: -1 after one log line naming the key file and the reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "authc.h"
#include "ipc.h"
#include "log.h"
#include "authd/authd_dkim.h"
#include "authd/authd_dkim_key.h"

/* ssl_reason - the last OpenSSL error as text, for a log line */
static const char *
ssl_reason(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "no OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static EVP_PKEY *
key_parse(const struct authd_dkim_pem *k)
{
	EVP_PKEY *pkey;
	BIO *b;

	if ((b = BIO_new_mem_buf(k->pem, (int)k->len)) == NULL) {
		log_warnx("dkim key %s: %s", k->path, ssl_reason());
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (pkey == NULL)
		log_warnx("dkim key %s: not a PEM private key: %s", k->path,
		    ssl_reason());
	return pkey;
}

/* key_alg - enum authd_alg of a usable key, 0 (logged) otherwise */
static int
key_alg(EVP_PKEY *pkey, const char *path)
{
	int bits;

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < 1024) {	/* RFC 8301 3.2: verifiers reject these */
			log_warnx("dkim key %s: RSA %d bits, need at least 1024"
			    " (2048 recommended)", path, bits);
			return 0;
		}
		if (bits < 2048)
			log_warnx("dkim key %s: RSA %d bits, 2048 recommended"
			    " (RFC 8301)", path, bits);
		return AUTHD_ALG_RSA_SHA256;
	case EVP_PKEY_ED25519:
		return AUTHD_ALG_ED25519_SHA256;
	}
	log_warnx("dkim key %s: neither RSA nor Ed25519", path);
	return 0;
}

int
authd_dkim_key_check(const struct authd_dkim_pem *k, size_t n, int fd)
{
	uint32_t out[2];
	EVP_PKEY *pkey;
	size_t i;
	int alg;

	for (i = 0; i < n; i++) {
		if ((pkey = key_parse(&k[i])) == NULL)
			return -1;
		alg = key_alg(pkey, k[i].path);
		out[0] = (uint32_t)alg;
		out[1] = (uint32_t)EVP_PKEY_get_bits(pkey);
		EVP_PKEY_free(pkey);
		if (alg == 0)
			return -1;
		if (write(fd, out, sizeof(out)) != (ssize_t)sizeof(out))
			return -1;
	}
	return 0;
}

static int
sign_rsa(EVP_PKEY *pkey, const unsigned char *digest, unsigned char *sig,
    size_t *siglen_r)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if ((ctx = EVP_PKEY_CTX_new(pkey, NULL)) == NULL)
		return -1;
	ok = EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(ctx, sig, siglen_r, digest, 32) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* sign_ed25519 - PureEdDSA over the 32-byte digest (RFC 8463 3) */
static int
sign_ed25519(EVP_PKEY *pkey, const unsigned char *digest, unsigned char *sig,
    size_t *siglen_r)
{
	EVP_MD_CTX *ctx;
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, siglen_r, digest, 32) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* sign_one - the answer to one SIGN frame into o */
static void
sign_one(EVP_PKEY **pk, const struct authd_dkim_pem *k, size_t n,
    struct ipc_msg *m, struct ipc_out *o)
{
	unsigned char sig[AUTHD_DKIM_SIG_MAX];
	size_t siglen = sizeof(sig), dlen;
	const void *digest;
	uint32_t i, alg;
	int rc = -1;

	if (m->hdr.type == AUTHD_DKIM_SIGN_REQ && ipc_get_u32(m, &i) &&
	    ipc_get_u32(m, &alg) && ipc_get_data(m, &digest, &dlen) &&
	    ipc_get_end(m) && i < n && dlen == 32 && pk[i] != NULL) {
		if (alg == AUTHD_ALG_RSA_SHA256 &&
		    EVP_PKEY_get_base_id(pk[i]) == EVP_PKEY_RSA)
			rc = sign_rsa(pk[i], digest, sig, &siglen);
		else if (alg == AUTHD_ALG_ED25519_SHA256 &&
		    EVP_PKEY_get_base_id(pk[i]) == EVP_PKEY_ED25519)
			rc = sign_ed25519(pk[i], digest, sig, &siglen);
		if (rc == -1)
			log_warnx("dkim sign with %s: %s", k[i].path,
			    ssl_reason());
	}
	ipc_out_init(o);
	ipc_put_u32(o, rc == 0 ? 0 : 1);
	if (rc == 0)
		ipc_put_data(o, sig, siglen);
}

void
authd_dkim_key_serve(const struct authd_dkim_pem *k, size_t n, int fd)
{
	static uint8_t store[IPC_MAX_PAYLOAD];
	struct ipc_out o;
	struct ipc_msg m;
	EVP_PKEY **pk;
	size_t i;

	if ((pk = calloc(n ? n : 1, sizeof(*pk))) == NULL)
		_exit(1);
	for (i = 0; i < n; i++)
		pk[i] = key_parse(&k[i]);	/* NULL: its requests fail */
	for (;;) {
		if (ipc_read_sync(fd, &m, store, -1) == -1)
			_exit(0);	/* authd closed the channel */
		sign_one(pk, k, n, &m, &o);
		if (ipc_write_sync(fd, AUTHD_DKIM_SIGNED, m.hdr.id, -1, &o) == -1)
			_exit(0);
	}
}
