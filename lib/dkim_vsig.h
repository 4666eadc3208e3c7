/* SPDX-License-Identifier: ISC */
/*
 * dkim_vsig.h - private to lib/dkim_verify*.c: one DKIM-Signature being
 * verified, and the parsers of the signature field and the key record
 * (lib/dkim_vparse.c).
 */
#ifndef FACTEUR_DKIM_VSIG_H
#define FACTEUR_DKIM_VSIG_H

#include <openssl/evp.h>

#include "dkim.h"
#include "dkim_verify.h"

#define DKIM_SIG_MAX	1024	/* bytes: RSA-8192 */
#define DKIM_H_MAX	256	/* fields named in h= */

struct dkim_vsig {
	struct dkim_vres r;
	bool		 final;		/* r.result decided */
	size_t		 field;		/* index in the header block */
	enum dkim_canon	 hc, bc;
	enum dkim_alg	 alg;
	unsigned char	 bh[64];
	size_t		 bhlen;
	unsigned char	 sig[DKIM_SIG_MAX];
	size_t		 siglen;
	char		*h;		/* h= without FWS, malloc'd */
	size_t		 bstart, bend;	/* b= value in the field, to delete */
	bool		 auid_is_d;	/* i= domain is d= (key t=s) */
	size_t		 hasher;	/* index of the body hasher */
	unsigned char	 hd[DKIM_DIGEST_LEN];	/* header hash */
	char		 keyname[520];	/* s._domainkey.d */
};

/*
 * dkim_vsig_parse - fill s from the field (name ':' value, folded);
 * DKIM_RES_PASS when it is usable, otherwise the final result with
 * s->r.reason.  s->h is malloc'd when PASS (dkim_vsig_clear frees it).
 */
enum dkim_res	 dkim_vsig_parse(struct dkim_vsig *s, const char *field,
		    size_t n, time_t now);
void		 dkim_vsig_clear(struct dkim_vsig *s);

struct dkim_key {
	enum dkim_alg	 type;		/* k= */
	bool		 sha256;	/* h= allows sha256 */
	bool		 testing;	/* t=y */
	bool		 strict;	/* t=s */
	EVP_PKEY	*pkey;
};

/*
 * dkim_key_parse - DKIM_RES_PASS with k->pkey set (the caller frees it),
 * or the result and *reason_r; dkim_key_parse_cached - the same through
 * the per-process cache of decoded keys
 */
enum dkim_res	 dkim_key_parse(const char *txt, size_t n, struct dkim_key *k,
		    const char **reason_r);
enum dkim_res	 dkim_key_parse_cached(const char *txt, size_t n,
		    struct dkim_key *k, const char **reason_r);

#endif
