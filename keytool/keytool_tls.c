/* SPDX-License-Identifier: ISC */
/*
 * keytool_tls.c - `facteur-keytool tls selfsigned [--force]`: a
 * self-signed certificate for `hostname`, written to the [tls] cert and
 * key paths (key mode 0600, certificate 0644).
 *
 * Choices: ECDSA P-256 (every current mail client and MTA accepts it and
 * handshakes cost a low-power CPU far less than RSA); SAN = hostname, CN
 * too; EKU serverAuth; valid 825 days, the longest validity Apple's
 * platforms accept for a TLS server certificate (iOS 13 / macOS 10.15),
 * since iPhones are among the clients.  Replace it by a CA-issued
 * certificate (e.g. Let's Encrypt) when you can; doctor warns about it.
 * Runs as the administrator; errors on stderr; exit 0, 1, or 2 (usage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "xmem.h"
#include "keytool/keytool_dkim.h"

#define CERT_DAYS	825

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *
make_cert(EVP_PKEY *pkey, const char *host)
{
	unsigned char serial[16];
	char san[300];
	X509_NAME *name;
	BIGNUM *bn;
	X509 *x;

	if ((x = X509_new()) == NULL)
		return NULL;
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;	/* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	BN_free(bn);
	bn = NULL;
	name = X509_get_subject_name(x);
	if (!bsnprintf(san, sizeof(san), "DNS:%s", host) ||
	    X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 86400) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)host, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_set_pubkey(x, pkey) != 1 ||
	    add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == -1 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") == -1 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") == -1 ||
	    add_ext(x, NID_subject_key_identifier, "hash") == -1 ||
	    add_ext(x, NID_subject_alt_name, san) == -1 ||
	    X509_sign(x, pkey, EVP_sha256()) == 0)
		goto fail;
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* pem_of - the PEM text a write function puts into a memory BIO */
static char *
pem_of(BIO *bio, size_t *len_r)
{
	char *p, *out;
	long n = BIO_get_mem_data(bio, &p);

	if (n <= 0)
		return NULL;
	out = xmalloc((size_t)n);
	memcpy(out, p, (size_t)n);
	*len_r = (size_t)n;
	return out;
}

int
keytool_tls_write(const struct conf *c, bool force)
{
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	BIO *kb = NULL, *cb = NULL;
	char *kpem = NULL, *cpem = NULL;
	size_t klen = 0, clen = 0;
	int rc = 1;

	if (c->tls.cert == NULL || c->tls.key == NULL) {
		fprintf(stderr, "%s: expected a [tls] section with cert and key\n",
		    c->file);
		return 1;
	}
	if (!force && (access(c->tls.cert, F_OK) == 0 ||
	    access(c->tls.key, F_OK) == 0)) {
		fprintf(stderr, "%s or %s exists; use --force to replace them\n",
		    c->tls.cert, c->tls.key);
		return 1;
	}
	if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (x = make_cert(pkey, c->hostname)) == NULL ||
	    (kb = BIO_new(BIO_s_secmem())) == NULL ||
	    (cb = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cb, x) != 1 ||
	    (kpem = pem_of(kb, &klen)) == NULL || (cpem = pem_of(cb, &clen)) == NULL) {
		fprintf(stderr, "tls: certificate generation failed\n");
		goto done;
	}
	if (keytool_write_file(c->tls.key, kpem, klen, 0600, force) == -1 ||
	    keytool_write_file(c->tls.cert, cpem, clen, 0644, force) == -1)
		goto done;
	keytool_give(c, c->tls.key);
	printf("wrote %s (ECDSA P-256 key, mode 0600)\n", c->tls.key);
	printf("wrote %s (self-signed for %s, valid %d days)\n", c->tls.cert,
	    c->hostname, CERT_DAYS);
	rc = 0;
done:
	if (kpem != NULL) {
		wipe(kpem, klen);
		free(kpem);
	}
	free(cpem);
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

int
keytool_cmd_tls(const struct conf *c, int argc, char **argv)
{
	bool force = false;

	if (argc < 2)
		return keytool_bad_arg("tls", NULL);
	if (strcmp(argv[1], "selfsigned") != 0)
		return keytool_bad_arg("tls", argv[1]);
	if (argc > 3 || (argc == 3 && strcmp(argv[2], "--force") != 0))
		return keytool_bad_arg("tls", argv[argc - 1]);
	force = argc == 3;
	if (keytool_tls_write(c, force) != 0)
		return 1;
	printf("Mail clients will ask you to trust it once; servers sending to "
	    "you accept it.\nA certificate from a CA (e.g. Let's Encrypt) "
	    "avoids the question.\nRunning daemons keep the old one until a "
	    "reload (SIGHUP: /etc/init.d/facteur reload,\nsystemctl reload "
	    "facteur-smtpd facteur-imapd).\n");
	return 0;
}
