/* SPDX-License-Identifier: ISC */
/*
 * doctor_tls.c - the [tls] certificate as mail clients see it: it matches
 * its key, covers `hostname`, is valid now and for 30 more days, and its
 * chain (the certificates of the file after the first) verifies against
 * the CAs clients trust ([doctor] ca_file, the system bundle): an unknown
 * CA, a missing intermediate and a self-signed certificate each have
 * their own line.  Self-signed is decided by name and signature, not by
 * key usage (a certificate without keyCertSign still signs itself).
 * With [acme] webroot, that the challenge files can be written there.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "keytool/acme.h"
#include "keytool/doctor.h"

#define WARN_DAYS	30	/* certificate expiry warning */

/* read_chain - every certificate of path, the server's first */
static STACK_OF(X509) *
read_chain(const char *path)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	FILE *fp;
	X509 *x;

	if ((fp = fopen(path, "r")) != NULL) {
		while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL)
			sk_X509_push(sk, x);
		fclose(fp);
	}
	ERR_clear_error();
	return sk;
}

static EVP_PKEY *
read_key(const char *path)
{
	EVP_PKEY *k = NULL;
	FILE *fp;

	if ((fp = fopen(path, "r")) != NULL) {
		k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	ERR_clear_error();
	return k;
}

static bool
self_signed(X509 *x)
{
	bool r = X509_NAME_cmp(X509_get_subject_name(x),
	    X509_get_issuer_name(x)) == 0 &&
	    X509_verify(x, X509_get0_pubkey(x)) == 1;

	ERR_clear_error();
	return r;
}

static bool
has_ca_issuers(X509 *x)
{
	AUTHORITY_INFO_ACCESS *aia;
	bool r = false;
	int i;

	aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	for (i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia); i++)
		if (OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, i)->method) ==
		    NID_ad_ca_issuers)
			r = true;
	AUTHORITY_INFO_ACCESS_free(aia);
	return r;
}

static void
check_chain(struct doctor *d, STACK_OF(X509) *sk)
{
	const char *ca = d->c->doctor.ca_file;
	X509 *leaf = sk_X509_value(sk, 0), *cur;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *rest = sk_X509_dup(sk);
	char issuer[256];
	int err, depth;

	(void)sk_X509_shift(rest);
	if (X509_STORE_load_file(store, ca) != 1) {
		doctor_report(d, DOC_WARN, "TLS chain: cannot read the CA bundle"
		    " %s - install ca-certificates, or set [doctor] ca_file", ca);
		goto done;
	}
	X509_STORE_CTX_init(ctx, store, leaf, rest);
	/* dates and names have their own lines */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(ctx) == 1) {
		X509_NAME_oneline(X509_get_issuer_name(leaf), issuer,
		    sizeof(issuer));
		doctor_report(d, DOC_OK, "TLS chain verifies against %s (issuer "
		    "%s)", ca, issuer);
		goto done;
	}
	err = X509_STORE_CTX_get_error(ctx);
	depth = X509_STORE_CTX_get_error_depth(ctx);
	cur = X509_STORE_CTX_get_current_cert(ctx);
	X509_NAME_oneline(X509_get_issuer_name(cur ? cur : leaf), issuer,
	    sizeof(issuer));
	if ((err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) && depth == 0)
		doctor_report(d, DOC_FAIL, "TLS chain: %s: %s: its issuer %s is "
		    "neither in %s nor a CA in %s - %s", d->c->tls.cert,
		    has_ca_issuers(leaf) ? "the intermediate certificate is "
		    "missing" : "unknown CA or missing intermediate", issuer,
		    d->c->tls.cert, ca, "put the whole chain in [tls] cert: the "
		    "server certificate, then the intermediates (the "
		    "fullchain.pem of Let's Encrypt), or get one from a public CA");
	else if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
		doctor_report(d, DOC_FAIL, "TLS chain: unknown CA: the chain ends"
		    " at %s, which is not a CA in %s - clients refuse it; get a "
		    "certificate from a public CA (Let's Encrypt)", issuer, ca);
	else
		doctor_report(d, DOC_FAIL, "TLS chain: %s (at depth %d, issuer "
		    "%s) - install the certificate and intermediates your CA "
		    "gave", X509_verify_cert_error_string(err), depth, issuer);
done:
	ERR_clear_error();
	sk_X509_free(rest);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

void
doctor_check_tls(struct doctor *d)
{
	const struct conf *c = d->c;
	STACK_OF(X509) *sk;
	EVP_PKEY *key;
	X509 *x;
	int days, secs;

	if (c->tls.cert == NULL) {
		doctor_report(d, DOC_FAIL, "TLS certificate: no [tls] section - "
		    "without it there is no submission, IMAP or STARTTLS");
		return;
	}
	sk = read_chain(c->tls.cert);
	key = read_key(c->tls.key);
	if ((x = sk_X509_value(sk, 0)) == NULL) {
		if (doctor_denied(c->tls.cert))	/* not: replace a good one */
			doctor_report(d, DOC_FAIL, "TLS certificate %s: cannot "
			    "read it: permission denied - " DOCTOR_AS_ROOT,
			    c->tls.cert);
		else
			doctor_report(d, DOC_FAIL, "TLS certificate %s: cannot "
			    "read it - run facteur-keytool tls selfsigned, or "
			    "install one", c->tls.cert);
		goto done;
	}
	if (key == NULL)
		doctor_report(d, DOC_FAIL, "TLS key %s: cannot read it%s",
		    c->tls.key, doctor_denied(c->tls.key) ? ": permission "
		    "denied - " DOCTOR_AS_ROOT : "");
	else if (X509_check_private_key(x, key) != 1)
		doctor_report(d, DOC_FAIL, "TLS certificate %s does not match the"
		    " key %s", c->tls.cert, c->tls.key);
	else
		doctor_report(d, DOC_OK, "TLS certificate %s matches its key",
		    c->tls.cert);
	ERR_clear_error();
	if (X509_check_host(x, c->hostname, 0, 0, NULL) == 1)
		doctor_report(d, DOC_OK, "TLS certificate covers %s",
		    c->hostname);
	else
		doctor_report(d, DOC_FAIL, "TLS certificate does not cover %s - "
		    "clients will refuse it; get one for that name",
		    c->hostname);
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		doctor_report(d, DOC_FAIL, "TLS certificate is not valid yet "
		    "(check the clock)");
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1 ||
	    days < 0 || (days == 0 && secs < 0))
		doctor_report(d, DOC_FAIL, "TLS certificate has expired - renew "
		    "it");
	else if (days < WARN_DAYS)
		doctor_report(d, DOC_WARN, "TLS certificate will expire in %d "
		    "days - renew it", days);
	else
		doctor_report(d, DOC_OK, "TLS certificate valid for %d more days",
		    days);
	if (self_signed(x))
		doctor_report(d, DOC_WARN, "TLS certificate is self-signed - mail"
		    " clients ask to trust it by hand; get one from a public CA "
		    "(Let's Encrypt) for %s", c->hostname);
	else
		check_chain(d, sk);
done:
	sk_X509_pop_free(sk, X509_free);
	EVP_PKEY_free(key);
}

void
doctor_check_acme(struct doctor *d)
{
	const struct conf *c = d->c;
	char why[PATH_MAX + 128];

	if (!c->acme.enabled || c->acme.webroot == NULL)
		return;
	if (acme_chal_webroot_ok(c->acme.webroot, why, sizeof(why)))
		doctor_report(d, DOC_OK, "ACME webroot %s takes the challenge "
		    "files (the web server must serve it as http://%s/)",
		    c->acme.webroot, c->hostname);
	else if (geteuid() != 0 && (errno == EACCES || errno == EPERM))
		doctor_report(d, DOC_FAIL, "ACME webroot %s - run "
		    "facteur-keytool doctor as root (`acme renew` runs as root "
		    "and writes there)", why);
	else
		doctor_report(d, DOC_FAIL, "ACME webroot %s - `acme renew` "
		    "cannot write the challenge files: set [acme] webroot "
		    "(%s:%u) to the document root of the web server on port "
		    "80", why, c->file, c->acme.webroot_line);
}
