/* SPDX-License-Identifier: ISC */
/*
 * acme_jws.c - the ACME client's cryptography, all OpenSSL: the account
 * key (ECDSA P-256, kept as PKCS#8 PEM mode 0600), its JWK and RFC 7638
 * thumbprint, ES256 flattened JWS (RFC 7515, RFC 8555 6.2) and the CSR
 * for the certificate (RFC 2986, DER in base64url as RFC 8555 7.4 asks).
 * Runs in facteur-keytool; failures return NULL (the caller explains).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "xmem.h"
#include "keytool/acme.h"
#include "keytool/keytool_dkim.h"

char *
b64url(const void *in, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	const unsigned char *p = in;
	char *out = xmalloc(n / 3 * 4 + 5), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*o++ = a[p[i] >> 2];
		*o++ = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = a[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = a[p[i + 2] & 63];
	}
	if (n - i == 1) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = a[p[i] >> 2];
		*o++ = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = a[(p[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

static char *
b64url_str(const char *s)
{
	return b64url(s, strlen(s));
}

EVP_PKEY *
acme_account_key(const char *path)
{
	EVP_PKEY *k = NULL;
	BIO *b;
	char *pem;
	long n;
	FILE *f;

	if ((f = fopen(path, "re")) != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (k == NULL || !EVP_PKEY_is_a(k, "EC")) {
			fprintf(stderr, "acme: %s: expected an EC P-256 private "
			    "key in PEM\n", path);
			EVP_PKEY_free(k);
			return NULL;
		}
		return k;
	}
	if (errno != ENOENT) {
		fprintf(stderr, "acme: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (b = BIO_new(BIO_s_secmem())) == NULL) {
		fprintf(stderr, "acme: cannot make an account key\n");
		EVP_PKEY_free(k);
		return NULL;
	}
	if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0 ||
	    keytool_write_file(path, pem, (size_t)n, 0600, false) == -1) {
		BIO_free(b);
		EVP_PKEY_free(k);
		return NULL;
	}
	BIO_free(b);
	printf("wrote %s (new ACME account key, ECDSA P-256, mode 0600)\n",
	    path);
	return k;
}

char *
acme_jwk(EVP_PKEY *key)
{
	unsigned char pub[65];
	size_t n = 0;
	char *x, *y, *out;
	struct buf b;

	/* the uncompressed point: 0x04, X, Y (32 bytes each for P-256) */
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub,
	    sizeof(pub), &n) != 1 || n != 65 || pub[0] != 4)
		return NULL;
	x = b64url(pub + 1, 32);
	y = b64url(pub + 33, 32);
	buf_init(&b, 0);
	(void)buf_printf(&b, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
	    "\"y\":\"%s\"}", x, y);
	free(x);
	free(y);
	out = xstrdup(buf_head(&b));
	buf_free(&b);
	return out;
}

char *
acme_thumbprint(EVP_PKEY *key)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *jwk;

	if ((jwk = acme_jwk(key)) == NULL)
		return NULL;
	if (EVP_Digest(jwk, strlen(jwk), md, &mdlen, EVP_sha256(), NULL) != 1) {
		free(jwk);
		return NULL;
	}
	free(jwk);
	return b64url(md, mdlen);
}

/* es256 - the JWS signature of in: r and s, 32 bytes each (RFC 7518 3.4) */
static char *
es256(EVP_PKEY *key, const char *in)
{
	unsigned char der[80], raw[64];
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	size_t dlen = sizeof(der);
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *ctx;
	char *out = NULL;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)in,
	    strlen(in)) == 1 &&
	    (sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) != NULL) {
		ECDSA_SIG_get0(sig, &r, &s);
		if (BN_bn2binpad(r, raw, 32) == 32 &&
		    BN_bn2binpad(s, raw + 32, 32) == 32)
			out = b64url(raw, sizeof(raw));
	}
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	return out;
}

char *
acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
    const char *payload)
{
	char *jwk = NULL, *prot64, *pay64, *sig, *out = NULL;
	struct buf b;

	buf_init(&b, 0);
	if (kid == NULL && (jwk = acme_jwk(key)) == NULL)
		return NULL;
	/* nonce and URLs come from the server: they were checked to be
	 * printable without quotes (acme_httpp.c copy_value, acme.c) */
	(void)buf_printf(&b, "{\"alg\":\"ES256\",%s%s%s,\"nonce\":\"%s\","
	    "\"url\":\"%s\"}", kid ? "\"kid\":\"" : "\"jwk\":",
	    kid ? kid : jwk, kid ? "\"" : "", nonce, url);
	free(jwk);
	prot64 = b64url_str(buf_head(&b));
	pay64 = b64url_str(payload);
	buf_reset(&b);
	(void)buf_printf(&b, "%s.%s", prot64, pay64);
	if ((sig = es256(key, buf_head(&b))) != NULL) {
		buf_reset(&b);
		(void)buf_printf(&b, "{\"protected\":\"%s\",\"payload\":\"%s\","
		    "\"signature\":\"%s\"}", prot64, pay64, sig);
		out = xstrdup(buf_head(&b));
	}
	free(sig);
	free(prot64);
	free(pay64);
	buf_free(&b);
	return out;
}

char *
acme_csr(EVP_PKEY *key, char **names, size_t nnames)
{
	X509_REQ *req;
	X509_EXTENSION *ext = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *der = NULL;
	char *out = NULL;
	struct buf san;
	size_t i;
	int n;

	buf_init(&san, 0);
	for (i = 0; i < nnames; i++)
		(void)buf_printf(&san, "%sDNS:%s", i ? "," : "", names[i]);
	if ((req = X509_REQ_new()) == NULL)
		goto done;
	/* the names are in the SAN; a CN only when it fits (64, RFC 5280) */
	if (X509_REQ_set_version(req, 0) != 1 || (strlen(names[0]) <= 64 &&
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	    MBSTRING_ASC, (const unsigned char *)names[0], -1, -1, 0) != 1) ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    (ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
	    buf_head(&san))) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) == 0)
		goto done;
	ext = NULL;	/* the stack has it */
	if (X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) == 0 ||
	    (n = i2d_X509_REQ(req, &der)) <= 0)
		goto done;
	out = b64url(der, (size_t)n);
done:
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	buf_free(&san);
	return out;
}
