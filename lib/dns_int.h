/* SPDX-License-Identifier: ISC */
/*
 * dns_int.h - what lib/dns.c, lib/dns_answer.c and lib/dns_cache.c share
 * and nobody else uses: the answer builder and the packed result (one
 * allocation holding a struct dns_result, its records and their bytes).
 */
#ifndef FACTEUR_DNS_INT_H
#define FACTEUR_DNS_INT_H

#include "dns.h"

struct dns_answer {
	char		 name[DNS_NAME_MAX + 1];
	enum dns_type	 type;
	enum dns_status	 status;
	uint32_t	 neg_ttl;
	struct dns_rr	*rr;		/* data of each: its own allocation */
	size_t		 nrr;
	struct dns_result res;		/* view filled by dns_answer_result() */
};

/* dns_result_pack - a copy of r in one allocation (free() it) */
struct dns_result *dns_result_pack(const struct dns_result *r, size_t *size_r);

/* dns_cache_get - a packed copy (free() it) of a live entry, or NULL */
struct dns_result *dns_cache_get(const char *name, enum dns_type type);
/* dns_cache_put - keep a copy of r if it may be cached */
void	 dns_cache_put(const struct dns_result *r);

/* dns_name_norm - lower case, no final dot, checked; false if malformed */
bool	 dns_name_norm(const char *in, char *out, size_t outsz);

#endif
