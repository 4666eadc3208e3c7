/* SPDX-License-Identifier: ISC */
/*
 * rcpt_cache.h - positive RCPT answers of authd kept in its client for
 * RCPT_CACHE_TTL_MS, emptied when authd says its databases changed
 * (rcpt_cache.c).
 */
#ifndef FACTEUR_RCPT_CACHE_H
#define FACTEUR_RCPT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RCPT_CACHE_MAX		16
#define RCPT_CACHE_TTL_MS	60000
#define RCPT_CACHE_ADDR_MAX	320
#define RCPT_CACHE_ANSWER_MAX	1024

/* rcpt_cache_get - the answer payload cached for addr (valid until the next put/clear/expire) */
bool	rcpt_cache_get(const char *addr, uint64_t now, const uint8_t **answer,
	    size_t *n);
/* rcpt_cache_put - keep a copy (silently not, when too big or out of memory) */
void	rcpt_cache_put(const char *addr, const uint8_t *answer, size_t n,
	    uint64_t now);
void	rcpt_cache_clear(void);
/* rcpt_cache_expire - free the entries expired at now; true if some are left */
bool	rcpt_cache_expire(uint64_t now);

#endif
