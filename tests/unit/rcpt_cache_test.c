/* SPDX-License-Identifier: ISC */
/*
 * rcpt_cache_test.c - unit tests for lib/rcpt_cache.c: an answer is found
 * by its exact address until its TTL, a new answer replaces the old one,
 * clear empties, expire frees what is due, a full cache gives up its
 * oldest entry, oversized answers and addresses are not kept.
 */
#include <stdio.h>
#include <string.h>

#include "rcpt_cache.h"
#include "t.h"

static bool
has(const char *addr, uint64_t now, const char *want)
{
	const uint8_t *p;
	size_t n;

	if (!rcpt_cache_get(addr, now, &p, &n))
		return want == NULL;
	return want != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

int
main(void)
{
	static uint8_t big[RCPT_CACHE_ANSWER_MAX + 1];
	char addr[RCPT_CACHE_ADDR_MAX + 2];
	unsigned i;

	CHECK(has("alice@example.org", 0, NULL));
	rcpt_cache_put("alice@example.org", (const uint8_t *)"A1", 2, 1000);
	CHECK(has("alice@example.org", 1000, "A1"));
	CHECK(has("Alice@example.org", 1000, NULL));	/* exact bytes only */
	CHECK(has("alice@example.org", 1000 + RCPT_CACHE_TTL_MS - 1, "A1"));
	CHECK(has("alice@example.org", 1000 + RCPT_CACHE_TTL_MS, NULL));
	CHECK(has("alice@example.org", 1000, NULL));	/* gone for good */

	rcpt_cache_put("alice@example.org", (const uint8_t *)"A1", 2, 2000);
	rcpt_cache_put("alice@example.org", (const uint8_t *)"A22", 3, 2001);
	CHECK(has("alice@example.org", 2002, "A22"));
	rcpt_cache_put("bob@example.org", (const uint8_t *)"", 0, 2002);
	CHECK(has("bob@example.org", 2003, ""));
	rcpt_cache_clear();
	CHECK(has("alice@example.org", 2003, NULL));
	CHECK(has("bob@example.org", 2003, NULL));

	/* expire frees what is due and says whether anything is left */
	rcpt_cache_put("a@x", (const uint8_t *)"1", 1, 0);
	rcpt_cache_put("b@x", (const uint8_t *)"2", 1, 10);
	CHECK(rcpt_cache_expire(RCPT_CACHE_TTL_MS));
	CHECK(has("a@x", 0, NULL));
	CHECK(has("b@x", 0, "2"));
	CHECK(!rcpt_cache_expire(RCPT_CACHE_TTL_MS + 10));

	/* full: the oldest goes, the others stay */
	for (i = 0; i < RCPT_CACHE_MAX + 1; i++) {
		snprintf(addr, sizeof(addr), "u%u@x", i);
		rcpt_cache_put(addr, (const uint8_t *)"k", 1, 100 + i);
	}
	CHECK(has("u0@x", 200, NULL));
	for (i = 1; i < RCPT_CACHE_MAX + 1; i++) {
		snprintf(addr, sizeof(addr), "u%u@x", i);
		CHECK(has(addr, 200, "k"));
	}
	rcpt_cache_clear();

	/* too big to keep */
	rcpt_cache_put("big@x", big, sizeof(big), 0);
	CHECK(has("big@x", 1, NULL));
	memset(addr, 'a', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	rcpt_cache_put(addr, (const uint8_t *)"1", 1, 0);
	CHECK(has(addr, 1, NULL));
	return T_DONE();
}
