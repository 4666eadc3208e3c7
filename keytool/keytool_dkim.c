/* SPDX-License-Identifier: ISC */
/*
 * keytool_dkim.c - `facteur-keytool dkim generate DOMAIN SELECTOR
 * [--rsa|--ed25519] [--force]`: a new DKIM key pair, the [dkim] sign line
 * to add and the DNS record to publish.  Also the helpers the other
 * keytool commands share: writing a secret file, a key's TXT value.
 *
 * Runs as the administrator (root on a real system) from a shell.  The
 * private key is written with mode 0600 for the account that starts authd
 * (authd reads it at start, before anything else could); it is never
 * printed.  Errors go to stderr; exit status 0, 1, or 2 (usage).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "conf.h"
#include "dkim.h"
#include "xmem.h"
#include "keytool/keytool_dkim.h"

#define RSA_BITS	2048	/* RFC 8301 3.2: 1024 minimum, 2048 advised */

/*
 * mkdirs - create the directories leading to path (not path itself): the
 * one holding the file 0700, those above it 0755, since one of them may be
 * state_dir, which every daemon must be able to enter (a 0700 state_dir
 * made by `dkim generate` before the first start kept smtpd from starting)
 */
static int
mkdirs(const char *path)
{
	char dir[PATH_MAX];
	char *p, *last;

	if (!bstrcpy(dir, path, sizeof(dir)))
		return -1;
	last = strrchr(dir, '/');
	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, p == last ? 0700 : 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

int
keytool_write_file(const char *path, const void *data, size_t n,
    unsigned mode, bool force)
{
	char tmp[PATH_MAX];
	unsigned char rnd[6];
	ssize_t w;
	size_t off = 0;
	int fd;

	RAND_bytes(rnd, sizeof(rnd));
	if (!bsnprintf(tmp, sizeof(tmp), "%s.tmp%02x%02x%02x%02x%02x%02x", path,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5])) {
		fprintf(stderr, "%s: path too long\n", path);
		return -1;
	}
	if (mkdirs(path) == -1) {
		fprintf(stderr, "%s: cannot create its directory: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode)) == -1) {
		fprintf(stderr, "%s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) == -1)	/* umask must not widen or narrow it */
		goto fail;
	while (off < n) {
		if ((w = write(fd, (const char *)data + off, n - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (force ? rename(tmp, path) == -1 : link(tmp, path) == -1)
		goto fail;
	if (!force)
		unlink(tmp);
	return 0;
fail:
	fprintf(stderr, "%s: %s\n", errno == EEXIST ? path : tmp,
	    errno == EEXIST ? "exists; use --force to replace it" :
	    strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

int
keytool_dkim_txt(const char *path, enum dkim_alg *alg_r, char **txt_r,
    char *err, size_t errsz)
{
	unsigned char raw[32], *der = NULL;
	size_t rawlen = sizeof(raw);
	EVP_PKEY *pkey;
	FILE *fp;
	int n;

	*txt_r = NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pkey == NULL) {
		snprintf(err, errsz, "%s: not a PEM private key", path);
		ERR_clear_error();
		return -1;
	}
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
		*alg_r = DKIM_ED25519_SHA256;
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) == 1)
			*txt_r = dkim_txt_value(DKIM_ED25519_SHA256, raw, rawlen);
	} else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
		*alg_r = DKIM_RSA_SHA256;
		if ((n = i2d_PUBKEY(pkey, &der)) > 0)
			*txt_r = dkim_txt_value(DKIM_RSA_SHA256, der, (size_t)n);
		OPENSSL_free(der);
	} else
		snprintf(err, errsz, "%s: neither an RSA nor an Ed25519 key", path);
	EVP_PKEY_free(pkey);
	if (*txt_r == NULL && err[0] == '\0')
		snprintf(err, errsz, "%s: cannot encode the public key", path);
	return *txt_r ? 0 : -1;
}

/* name_ok - a DNS name (domain or selector): letters, digits, '-', '_', '.' */
static bool
name_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '.' || s[0] == '-' || strlen(s) > 200 ||
	    strstr(s, "..") != NULL)
		return false;
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return false;
	return s[i - 1] != '.';
}

static const struct conf_dkim_sign *
sign_line(const struct conf *c, const char *domain, const char *selector)
{
	size_t i;

	for (i = 0; i < c->dkim.nsign; i++)
		if (strcasecmp(c->dkim.sign[i].domain, domain) == 0 &&
		    strcasecmp(c->dkim.sign[i].selector, selector) == 0)
			return &c->dkim.sign[i];
	return NULL;
}

/* key_pem - a new key of alg as unencrypted PKCS#8 PEM (malloc'd) */
static char *
key_pem(enum dkim_alg alg, size_t *len_r)
{
	EVP_PKEY *pkey;
	BIO *bio;
	char *p, *pem = NULL;
	long n;

	if (alg == DKIM_RSA_SHA256)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL || (bio = BIO_new(BIO_s_secmem())) == NULL) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0) {
		pem = xmalloc((size_t)n);
		memcpy(pem, p, (size_t)n);
		*len_r = (size_t)n;
	}
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return pem;
}

int
keytool_dkim_keygen(const char *path, enum dkim_alg alg, bool force)
{
	char *pem;
	size_t len = 0;
	int rc;

	if ((pem = key_pem(alg, &len)) == NULL) {
		fprintf(stderr, "dkim: key generation failed\n");
		return -1;
	}
	rc = keytool_write_file(path, pem, len, 0600, force);
	wipe(pem, len);
	free(pem);
	return rc;
}

static int
dkim_generate(const struct conf *c, const char *domain, const char *selector,
    enum dkim_alg alg, bool force)
{
	const struct conf_dkim_sign *cs;
	char path[PATH_MAX], owner[300], err[512] = "";
	char *txt = NULL;
	enum dkim_alg got;

	if (!name_ok(domain) || !name_ok(selector)) {
		fprintf(stderr, "dkim: expected a domain and a selector made of "
		    "letters, digits, '-', '_' and '.'\n");
		return 1;
	}
	if (!conf_is_local_domain(c, domain, strlen(domain)))
		fprintf(stderr, "warning: %s is not in `domains` of %s\n",
		    domain, c->file);
	if ((cs = sign_line(c, domain, selector)) != NULL) {
		if (!bstrcpy(path, cs->keyfile, sizeof(path)))
			return 1;
	} else if (!bsnprintf(path, sizeof(path), "%s/dkim/%s.%s.key",
	    c->state_dir, domain, selector)) {
		fprintf(stderr, "dkim: key path too long\n");
		return 1;
	}
	if (!force && access(path, F_OK) == 0) {
		fprintf(stderr, "%s: exists; use --force to replace it (the DNS "
		    "record must then change too)\n", path);
		return 1;
	}
	if (keytool_dkim_keygen(path, alg, force) == -1)
		return 1;
	keytool_give(c, path);
	if (keytool_dkim_txt(path, &got, &txt, err, sizeof(err)) == -1) {
		fprintf(stderr, "dkim: %s\n", err);
		return 1;
	}
	printf("wrote %s (%s, mode 0600)\n\n", path, alg == DKIM_RSA_SHA256 ?
	    "RSA 2048 bits, rsa-sha256" : "Ed25519, ed25519-sha256");
	if (cs != NULL)
		printf("%s already has this line in [dkim]:\n", c->file);
	else
		printf("Add this line to the [dkim] section of %s, then restart "
		    "facteur-authd and facteur-smtpd:\n", c->file);
	printf("    sign = %s %s %s\n\n", domain, selector, path);
	printf("Publish this DNS record (facteur-keytool dns prints all of them):\n");
	if (keytool_dkim_owner(owner, sizeof(owner), domain, selector))
		keytool_txt_print(owner, txt);
	if (alg == DKIM_ED25519_SHA256)
		printf("\nMany receivers do not check Ed25519 yet (RFC 8463): "
		    "keep an RSA key as well.\n");
	free(txt);
	return 0;
}

int
keytool_cmd_dkim(const struct conf *c, int argc, char **argv)
{
	const char *pos[3];
	enum dkim_alg alg = DKIM_RSA_SHA256;
	bool force = false, rsa = false, ed = false;
	int i, npos = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rsa") == 0)
			rsa = true;
		else if (strcmp(argv[i], "--ed25519") == 0)
			ed = true;
		else if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (argv[i][0] == '-' || npos == 3)
			return keytool_bad_arg("dkim", argv[i]);
		else
			pos[npos++] = argv[i];
	}
	if (npos > 0 && strcmp(pos[0], "generate") != 0)
		return keytool_bad_arg("dkim", pos[0]);
	if (npos != 3)
		return keytool_bad_arg("dkim", NULL);
	if (rsa && ed) {
		fprintf(stderr, "facteur-keytool: dkim: --rsa or --ed25519, "
		    "not both\n");
		return KEYTOOL_USAGE;
	}
	if (ed)
		alg = DKIM_ED25519_SHA256;
	return dkim_generate(c, pos[1], pos[2], alg, force);
}
