/* SPDX-License-Identifier: ISC */
/*
 * fuzz_acme.c - the parsers of facteur-keytool's ACME client on what a
 * server sends (keytool/acme_json.c, keytool/acme_httpp.c).  The first
 * byte picks: 'j' a JSON document, walked the way acme.c reads one (every
 * member and element, every string decoded); 'h' an HTTP response (and
 * 'H' the same for a HEAD request), its body then parsed as JSON; 'c' a
 * request line to the HTTP-01 listener.  Anything else: JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "keytool/acme.h"
#include "keytool/acme_json.h"

static struct json_tok toks[JSON_MAX_TOKENS];

/* walk - every token through the accessors acme.c uses */
static void
walk(const struct json *j)
{
	static const char *const keys[] = { "status", "detail", "type",
		"challenges", "token", "url", "authorizations", "finalize",
		"certificate", "newNonce", "identifier", "error", "value" };
	char s[512];
	size_t i, k, n;
	int t;

	for (t = 0; (size_t)t < j->n; t++) {
		(void)json_str(j, t, s, sizeof(s));
		(void)json_str(j, t, s, 3);	/* too small: refused */
		n = json_count(j, t);
		for (i = 0; i <= n; i++)	/* one past the end too */
			(void)json_elem(j, t, i);
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			(void)json_get_str(j, t, keys[k], s, sizeof(s));
	}
}

static void
json_one(const char *p, size_t n)
{
	struct json j;
	const char *err;

	if (json_parse(&j, p, n, toks, JSON_MAX_TOKENS, &err) == 0)
		walk(&j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_resp r;
	struct acme_chal ch;
	const char *err, *p = (const char *)data + 1;
	char *tok = "tok-EN_1", *ka = "tok-EN_1.thumb";
	char *copy;
	size_t n = size - 1;

	if (size == 0)
		return 0;
	/* a copy of exactly n bytes: ASan sees any read past the end */
	copy = malloc(n + 1);
	memcpy(copy, p, n);
	switch (data[0]) {
	case 'h':
	case 'H':
		if (http_parse(copy, n, data[0] == 'H', &r, &err) == 0) {
			json_one(r.body, r.bodylen);
			http_resp_free(&r);
		}
		break;
	case 'c':
		memset(&ch, 0, sizeof(ch));
		ch.n = 1;
		ch.token[0] = tok;
		ch.keyauth[0] = ka;
		(void)acme_chal_answer(&ch, copy, n);
		break;
	default:
		json_one(copy, n);
		break;
	}
	free(copy);
	return 0;
}
