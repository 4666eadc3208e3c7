/* SPDX-License-Identifier: ISC */
/*
 * dkim_verify_int.h - private to lib/dkim_verify.c (pure part) and
 * lib/dkim_verify_dns.c (lookups): the verifier's state.
 */
#ifndef FACTEUR_DKIM_VERIFY_INT_H
#define FACTEUR_DKIM_VERIFY_INT_H

#include <openssl/evp.h>

#include "dkim.h"
#include "dkim_verify.h"

/* one body hash: signatures with the same c= body and l= share it */
struct dkim_hasher {
	enum dkim_canon	 canon;
	uint64_t	 limit;		/* l=, UINT64_MAX without */
	uint64_t	 seen;		/* canonical bytes produced */
	bool		 failed;
	EVP_MD_CTX	*ctx;
	struct dkim_body body;
	unsigned char	 digest[EVP_MAX_MD_SIZE];
	unsigned	 dlen;
};

struct dkim_vsig;
struct dkim_lookups;

struct dkim_verify {
	struct dkim_hdrs h;
	size_t		 max_sigs;
	time_t		 now;
	bool		 started;	/* header block parsed */
	bool		 ended;
	bool		 nomem;
	bool		 overflow;	/* header block over its bound */
	struct dkim_vsig *sigs;
	size_t		 nsigs;
	struct dkim_hasher *hashers;
	size_t		 nhashers;
	uint32_t	*fhash;		/* per field: hash of its name */
	struct dkim_vres *res;		/* dkim_verify_results() */
	/* lookups (dkim_verify_dns.c), cancelled by dkim_verify_free() */
	struct dkim_lookups *lk;
	void		(*lk_cancel)(struct dkim_verify *);
};

#endif
