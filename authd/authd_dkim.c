/* SPDX-License-Identifier: ISC */
/*
 * authd_dkim.c - DKIM private keys and the signing operation of authd.
 *
 * Runs in facteur-authd.  Keys are read once, at start (authd_dkim_load),
 * and never leave this process: callers hand in a SHA-256 digest computed
 * by lib/dkim.c in smtpd and get back the signature.  This file never
 * parses a message and never writes a key anywhere.
 *
 * Errors: -1 after one log line naming the key and the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "authc.h"
#include "conf.h"
#include "log.h"
#include "authd/authd_dkim.h"

struct dkim_key {
	char		*domain;
	char		*selector;
	int		 alg;		/* enum authd_alg */
	EVP_PKEY	*pkey;
};

static struct dkim_key *keys;
static size_t nkeys;

static void
keys_free(struct dkim_key *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(k[i].domain);
		free(k[i].selector);
		EVP_PKEY_free(k[i].pkey);
	}
	free(k);
}

void
authd_dkim_free(void)
{
	keys_free(keys, nkeys);
	keys = NULL;
	nkeys = 0;
}

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

/* key_read - open and check a secret key file, then parse it */
static EVP_PKEY *
key_read(const char *path)
{
	char err[512];
	EVP_PKEY *pkey = NULL;
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("dkim key %s", path);
		return NULL;
	}
	if (!conf_secret_fd_ok(fd, path, err, sizeof(err))) {
		log_warnx("dkim key %s", err);
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		log_warn("dkim key %s", path);
		close(fd);
		return NULL;
	}
	pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pkey == NULL)
		log_warnx("dkim key %s: not a PEM private key: %s", path,
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

static struct dkim_key *
key_find(struct dkim_key *k, size_t n, const char *domain, const char *selector)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(k[i].domain, domain) == 0 &&
		    strcasecmp(k[i].selector, selector) == 0)
			return &k[i];
	return NULL;
}

int
authd_dkim_load(const struct conf *c)
{
	const struct conf_dkim_sign *cs;
	struct dkim_key *nk;
	size_t i, n = 0;

	if (c->dkim.nsign == 0) {
		authd_dkim_free();
		return 0;
	}
	if ((nk = calloc(c->dkim.nsign, sizeof(*nk))) == NULL) {
		log_warn("dkim keys");
		return -1;
	}
	for (i = 0; i < c->dkim.nsign; i++) {
		cs = &c->dkim.sign[i];
		if (key_find(nk, n, cs->domain, cs->selector) != NULL) {
			log_warnx("dkim: domain %s selector %s given twice",
			    cs->domain, cs->selector);
			goto fail;
		}
		if ((nk[n].pkey = key_read(cs->keyfile)) == NULL)
			goto fail;
		n++;
		if ((nk[n - 1].alg = key_alg(nk[n - 1].pkey, cs->keyfile)) == 0)
			goto fail;
		if ((nk[n - 1].domain = strdup(cs->domain)) == NULL ||
		    (nk[n - 1].selector = strdup(cs->selector)) == NULL) {
			log_warn("dkim keys");
			goto fail;
		}
		log_info("dkim key loaded domain=%s selector=%s alg=%s bits=%d",
		    cs->domain, cs->selector,
		    nk[n - 1].alg == AUTHD_ALG_RSA_SHA256 ? "rsa-sha256" :
		    "ed25519-sha256", EVP_PKEY_get_bits(nk[n - 1].pkey));
	}
	authd_dkim_free();
	keys = nk;
	nkeys = n;
	return 0;
fail:
	keys_free(nk, n);
	return -1;
}

static int
sign_rsa(EVP_PKEY *pkey, const unsigned char digest[32], unsigned char *sig,
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
sign_ed25519(EVP_PKEY *pkey, const unsigned char digest[32], unsigned char *sig,
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

int
authd_dkim_alg(const char *domain, const char *selector)
{
	struct dkim_key *k = key_find(keys, nkeys, domain, selector);

	return k ? k->alg : 0;
}

int
authd_dkim_sign(const char *domain, const char *selector, int alg,
    const unsigned char digest[32], unsigned char *sig, size_t *siglen_r)
{
	struct dkim_key *k;
	char d[128], s[128];
	int rc;

	log_escape(d, sizeof(d), domain, strlen(domain));
	log_escape(s, sizeof(s), selector, strlen(selector));
	if ((k = key_find(keys, nkeys, domain, selector)) == NULL) {
		log_warnx("dkim sign: no key for domain=%s selector=%s", d, s);
		return -1;
	}
	if (k->alg != alg) {
		log_warnx("dkim sign: key domain=%s selector=%s is not of"
		    " algorithm %d", d, s, alg);
		return -1;
	}
	if (alg == AUTHD_ALG_RSA_SHA256)
		rc = sign_rsa(k->pkey, digest, sig, siglen_r);
	else
		rc = sign_ed25519(k->pkey, digest, sig, siglen_r);
	if (rc == -1)
		log_warnx("dkim sign: domain=%s selector=%s: %s", d, s,
		    ssl_reason());
	return rc;
}
