/* SPDX-License-Identifier: ISC */
/*
 * dkim_sign_tool.c - test CLI for DKIM: signs a message with lib/dkim.c
 * (hashing, as smtpd does) and authd/authd_dkim.c (keys and signing, as
 * authd does), so tests can check the result with dkimpy and opendkim
 * before and beside the smtpd -> authd path.  Not installed.
 *
 *   dkim_sign_tool sign [-C] [-t TIME] DOMAIN:SELECTOR:KEYFILE... < msg
 *	writes one DKIM-Signature per key, then the message unchanged;
 *	-C ends the added header lines with CRLF (default LF)
 *   dkim_sign_tool pub KEYFILE	the DNS TXT value for the key
 *   dkim_sign_tool bench KEYFILE [SECONDS]	signatures per second
 *
 * Exit 0 on success, 1 on failure (reason on stderr), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "authc.h"
#include "buf.h"
#include "conf.h"
#include "dkim.h"
#include "log.h"
#include "strnum.h"
#include "authd/authd_dkim.h"

void	authd_child_shed(int fd, const char *ident);

/* authd_child_shed - authd_hash.c's, for the signer authd_dkim.c forks:
 * here there is nothing to shed but the descriptor's number */
void
authd_child_shed(int fd, const char *ident)
{
	(void)ident;
	if (fd != 3 && (dup2(fd, 3) == -1 || close(fd) == -1))
		_exit(1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: dkim_sign_tool sign [-C] [-t TIME] "
	    "DOMAIN:SELECTOR:KEYFILE... < msg\n"
	    "       dkim_sign_tool pub KEYFILE\n"
	    "       dkim_sign_tool bench KEYFILE [SECONDS]\n");
	exit(2);
}

/* load_keys - a struct conf holding only [dkim] sign lines, loaded */
static void
load_keys(struct conf *c, char **specs, int n)
{
	int i;
	char *p, *q;

	memset(c, 0, sizeof(*c));
	c->dkim.sign = calloc((size_t)n, sizeof(*c->dkim.sign));
	for (i = 0; i < n; i++) {
		if ((p = strchr(specs[i], ':')) == NULL ||
		    (q = strchr(p + 1, ':')) == NULL)
			usage();
		*p++ = '\0';
		*q++ = '\0';
		c->dkim.sign[i].domain = specs[i];
		c->dkim.sign[i].selector = p;
		c->dkim.sign[i].keyfile = q;
	}
	c->dkim.nsign = (size_t)n;
	if (authd_dkim_load(c) == -1)
		exit(1);
}

static int
cmd_sign(int argc, char **argv)
{
	struct conf c;
	struct buf msg;
	struct dkim_sign *s;
	unsigned char digest[32], sig[AUTHD_DKIM_SIG_MAX];
	size_t siglen, i;
	time_t when = time(NULL);
	const char *err;
	char *tmpl, *hdr;
	bool crlf = false;
	int ch, alg;

	while ((ch = getopt(argc, argv, "Ct:")) != -1) {
		switch (ch) {
		case 'C':
			crlf = true;
			break;
		case 't':
			when = (time_t)strnum(optarg, 0, 1LL << 40, &err);
			if (err)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	load_keys(&c, argv + optind, argc - optind);
	buf_init(&msg, 0);
	for (;;) {
		if (buf_reserve(&msg, 65536) == -1)
			return 1;
		siglen = fread(buf_tail(&msg), 1, 65536, stdin);
		if (siglen == 0)
			break;
		buf_commit(&msg, siglen);
	}
	if ((s = dkim_sign_new(0)) == NULL ||
	    dkim_sign_feed(s, buf_head(&msg), msg.len) == -1 ||
	    dkim_sign_end(s) == -1) {
		fprintf(stderr, "dkim: %s\n", s ? dkim_sign_error(s) : "no memory");
		return 1;
	}
	for (i = 0; i < c.dkim.nsign; i++) {
		const struct conf_dkim_sign *cs = &c.dkim.sign[i];

		alg = authd_dkim_alg(cs->domain, cs->selector);
		if (dkim_header_digest(s, cs->domain, cs->selector, alg, when,
		    digest, &tmpl) == -1) {
			fprintf(stderr, "dkim: %s\n", dkim_sign_error(s));
			return 1;
		}
		siglen = sizeof(sig);
		if (authd_dkim_sign(cs->domain, cs->selector, alg, digest, sig,
		    &siglen) == -1)
			return 1;
		hdr = dkim_finish(tmpl, sig, siglen, crlf);
		fputs(hdr, stdout);
		free(hdr);
		free(tmpl);
	}
	fwrite(buf_head(&msg), 1, msg.len, stdout);
	dkim_sign_free(&s);
	buf_free(&msg);
	authd_dkim_free();
	free(c.dkim.sign);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
cmd_pub(const char *path)
{
	unsigned char *der = NULL, raw[32];
	size_t rawlen = sizeof(raw);
	EVP_PKEY *pkey;
	FILE *fp;
	char *v;
	int n;

	if ((fp = fopen(path, "r")) == NULL) {
		perror(path);
		return 1;
	}
	pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pkey == NULL) {
		fprintf(stderr, "%s: not a private key\n", path);
		return 1;
	}
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
		EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen);
		v = dkim_txt_value(DKIM_ED25519_SHA256, raw, rawlen);
	} else {
		n = i2d_PUBKEY(pkey, &der);
		v = dkim_txt_value(DKIM_RSA_SHA256, der, (size_t)n);
		OPENSSL_free(der);
	}
	puts(v);
	free(v);
	EVP_PKEY_free(pkey);
	return 0;
}

static int
cmd_bench(char *path, const char *secs)
{
	char spec[4096];
	char *specs[1] = { spec };
	struct conf c;
	struct timespec t0, t1;
	unsigned char digest[32], sig[AUTHD_DKIM_SIG_MAX];
	size_t siglen;
	double el, limit = 3;
	const char *err;
	long n = 0;
	int alg;

	if (secs != NULL) {
		limit = (double)strnum(secs, 1, 600, &err);
		if (err)
			usage();
	}
	snprintf(spec, sizeof(spec), "example.org:bench:%s", path);
	load_keys(&c, specs, 1);
	alg = authd_dkim_alg("example.org", "bench");
	RAND_bytes(digest, sizeof(digest));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		siglen = sizeof(sig);
		if (authd_dkim_sign("example.org", "bench", alg, digest, sig,
		    &siglen) == -1)
			return 1;
		digest[n % 32]++;
		n++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	} while (el < limit);
	printf("%s %ld signatures in %.2fs: %.0f sign/s\n",
	    alg == AUTHD_ALG_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256",
	    n, el, (double)n / el);
	authd_dkim_free();
	free(c.dkim.sign);
	return 0;
}

int
main(int argc, char **argv)
{
	log_init("dkim_sign_tool", true, false);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "pub") == 0 && argc == 3)
		return cmd_pub(argv[2]);
	if (strcmp(argv[1], "bench") == 0 && (argc == 3 || argc == 4))
		return cmd_bench(argv[2], argc == 4 ? argv[3] : NULL);
	usage();
}
