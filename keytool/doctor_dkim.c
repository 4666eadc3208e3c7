/* SPDX-License-Identifier: ISC */
/*
 * doctor_dkim.c - DKIM and DMARC records: for each [dkim] sign line, that
 * SELECTOR._domainkey.DOMAIN publishes the public half of the key, and
 * when it does not, why in the words of what DNS panels do to a long
 * value (quotes kept, backslashes added, cut at 255 bytes); RSA keys
 * under 2048 bits (RFC 8301 allows 1024, large receivers want 2048); a
 * DMARC record for each domain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "conf.h"
#include "dkim.h"
#include "xmem.h"
#include "keytool/keytool_dkim.h"
#include "keytool/doctor.h"

#define DKIM_RSA_MIN	2048

/* rsa_bits - bits of an RSA key in path, 0 if not RSA or unreadable */
static int
rsa_bits(const char *path)
{
	EVP_PKEY *k = NULL;
	FILE *fp;
	int bits = 0;

	if ((fp = fopen(path, "r")) != NULL) {
		k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	if (k != NULL && EVP_PKEY_base_id(k) == EVP_PKEY_RSA)
		bits = EVP_PKEY_get_bits(k);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return bits;
}

static void
check_one(struct doctor *d, const struct conf_dkim_sign *cs)
{
	char name[300], err[512] = "", want_p[2048], got_p[2048] = "";
	char want_k[16], got_k[16], fix[8192], **v;
	const char *rec = NULL, *how;
	enum dkim_alg alg;
	enum dns_status st;
	char *txt;
	size_t i;
	int bits;

	snprintf(name, sizeof(name), "%s._domainkey.%s", cs->selector,
	    cs->domain);
	if (keytool_dkim_txt(cs->keyfile, &alg, &txt, err, sizeof(err)) == -1) {
		if (doctor_denied(cs->keyfile))	/* a new key: a new record */
			doctor_report(d, DOC_FAIL, "DKIM %s: cannot read the "
			    "key: %s - " DOCTOR_AS_ROOT, name, err);
		else
			doctor_report(d, DOC_FAIL, "DKIM %s: cannot read the "
			    "key: %s - run facteur-keytool dkim generate %s %s",
			    name, err, cs->domain, cs->selector);
		return;
	}
	if ((bits = rsa_bits(cs->keyfile)) > 0 && bits < DKIM_RSA_MIN)
		doctor_report(d, DOC_FAIL, "DKIM %s: the key %s is RSA %d bits; "
		    "receivers want at least %d (Gmail, Yahoo; RFC 8301) - run "
		    "facteur-keytool dkim generate %s NEWSELECTOR, publish what "
		    "it prints, then sign with it", name, cs->keyfile, bits,
		    DKIM_RSA_MIN, cs->domain);
	doctor_publish(fix, sizeof(fix), name, cs->domain, "TXT", txt);
	doctor_tag_value(txt, "p", want_p, sizeof(want_p));
	doctor_tag_value(txt, "k", want_k, sizeof(want_k));
	v = doctor_txt(d, name, &st);
	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strstr(v[i], "p=") != NULL)
			rec = v[i];
	if (st == DNS_TEMPFAIL)
		doctor_report(d, DOC_FAIL, "DKIM %s: cannot query TXT: %s", name,
		    doctor_status(st));
	else if (rec == NULL)
		doctor_report(d, DOC_FAIL, "DKIM %s: no record - %s", name, fix);
	else if (!doctor_tag_value(rec, "p", got_p, sizeof(got_p)) ||
	    strcmp(got_p, want_p) != 0 ||
	    (how = doctor_dkim_mangled(rec, got_p, want_p)) != NULL) {
		how = doctor_dkim_mangled(rec, got_p, want_p);
		doctor_report(d, DOC_FAIL, "DKIM %s: %s%s - %s", name,
		    how ? how : "the published key is not the one in ",
		    how ? "" : cs->keyfile, fix);
	} else if (!doctor_tag_value(rec, "k", got_k, sizeof(got_k)) ?
	    strcmp(want_k, "rsa") != 0 : strcmp(got_k, want_k) != 0)
		doctor_report(d, DOC_FAIL, "DKIM %s: the record says k=%s, the "
		    "key is %s - %s", name, got_k, want_k, fix);
	else
		doctor_report(d, DOC_OK, "DKIM %s: publishes the key in %s (%s)",
		    name, cs->keyfile, dkim_alg_name(alg));
	doctor_strv_free(v);
	free(txt);
}

void
doctor_check_dkim(struct doctor *d)
{
	size_t i;

	for (i = 0; i < d->c->dkim.nsign; i++)
		check_one(d, &d->c->dkim.sign[i]);
	if (d->c->dkim.nsign == 0)
		doctor_report(d, DOC_FAIL, "DKIM: no [dkim] sign line - mail will"
		    " not be signed; run facteur-keytool dkim generate DOMAIN "
		    "SELECTOR");
}

void
doctor_check_dmarc(struct doctor *d, const char *dom)
{
	char name[300], fix[1024], val[300], **v;
	const char *rec = NULL;
	enum dns_status st;
	size_t i;

	snprintf(name, sizeof(name), "_dmarc.%s", dom);
	snprintf(val, sizeof(val), "v=DMARC1; p=quarantine; "
	    "rua=mailto:postmaster@%s", dom);
	doctor_publish(fix, sizeof(fix), name, dom, "TXT", val);
	v = doctor_txt(d, name, &st);
	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strncasecmp(v[i], "v=DMARC1", 8) == 0)
			rec = v[i];
	if (st == DNS_TEMPFAIL)
		doctor_report(d, DOC_FAIL, "DMARC %s: cannot query TXT: %s", dom,
		    doctor_status(st));
	else if (rec == NULL)
		doctor_report(d, DOC_WARN, "DMARC %s: no v=DMARC1 record at %s - "
		    "big mailbox providers want one; %s", dom, name, fix);
	else if (strstr(rec, "p=none") != NULL)
		doctor_report(d, DOC_WARN, "DMARC %s: \"%s\" - p=none asks "
		    "receivers to do nothing; once DKIM verifies, %s", dom, rec,
		    fix);
	else
		doctor_report(d, DOC_OK, "DMARC %s: \"%s\"", dom, rec);
	doctor_strv_free(v);
}
