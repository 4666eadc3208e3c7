/* SPDX-License-Identifier: ISC */
/*
 * acme_json.h - a small bounded JSON parser for the ACME client
 * (keytool/acme*.c): what an ACME server answers is untrusted input.
 *
 * json_parse() checks the whole text against RFC 8259 and records one
 * token per value (and per object key) in a caller's array; past
 * JSON_MAX_DEPTH nesting or the array's size it fails.  Accessors read
 * the tokens; nothing is allocated.  Fuzzed by tests/fuzz/fuzz_acme.c.
 */
#ifndef FACTEUR_ACME_JSON_H
#define FACTEUR_ACME_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH	32
#define JSON_MAX_TOKENS	2048

enum json_type {
	JSON_OBJECT = 1,
	JSON_ARRAY,
	JSON_STRING,	/* start/end: the bytes between the quotes, raw */
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL,
};

struct json_tok {
	enum json_type	 type;
	uint32_t	 start, end;	/* byte offsets in the text */
	uint32_t	 size;		/* object: members, array: elements */
	uint32_t	 next;		/* index of the token after this subtree */
};

struct json {
	const char	*text;
	size_t		 len;
	struct json_tok	*t;
	size_t		 n, max;
};

/*
 * json_parse - parse text[0..len) (one value, whitespace around it) into
 * toks[0..max); the root is token 0.  0, or -1 with a fixed reason in
 * *err_r.  j keeps pointers to text and toks.
 */
int	json_parse(struct json *j, const char *text, size_t len,
	    struct json_tok *toks, size_t max, const char **err_r);
/* json_get - the value of member key of object token obj, or -1 */
int	json_get(const struct json *j, int obj, const char *key);
/* json_elem - element i of array token arr, or -1 */
int	json_elem(const struct json *j, int arr, size_t i);
/* json_count - members or elements of token t (0 for others, -1) */
size_t	json_count(const struct json *j, int t);
/*
 * json_str - string token t decoded (escapes, \u as UTF-8) into out; false
 * when t is not a string, holds a NUL, or does not fit
 */
bool	json_str(const struct json *j, int t, char *out, size_t outsz);
/* json_get_str - json_str of member key of obj */
bool	json_get_str(const struct json *j, int obj, const char *key,
	    char *out, size_t outsz);
/* json_is - token t exists and has type */
bool	json_is(const struct json *j, int t, enum json_type type);

#endif
