/* SPDX-License-Identifier: ISC */
/*
 * acme_test.c - the ACME client's parsers (keytool/acme_json.c,
 * keytool/acme_httpp.c): JSON accepted and refused, string decoding,
 * the limits, HTTP responses by length, chunked and to the end, and the
 * HTTP-01 request line.  The client as a whole is tested against pebble
 * (tests/integration/test_acme.py).
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "keytool/acme.h"
#include "keytool/acme_json.h"

static struct json_tok toks[JSON_MAX_TOKENS];

static bool
parses(const char *s)
{
	struct json j;
	const char *err;

	return json_parse(&j, s, strlen(s), toks, JSON_MAX_TOKENS, &err) == 0;
}

static void
test_json_grammar(void)
{
	static const char *const good[] = { "{}", "[]", "\"\"", "0", "-0.5e+3",
		"true", " null ", "{\"a\":[1,{\"b\":\"c\"}],\"d\":false}",
		"\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"" };
	static const char *const bad[] = { "", "{", "[1,]", "{\"a\"}",
		"{\"a\":}", "{a:1}", "01", "1.", "-", "1e", "tru", "\"\\x\"",
		"\"\\u12\"", "\"\\ud83d\"", "\"\\ude00\"", "\"a\nb\"", "\"abc",
		"[1] 2", "{\"a\":1,}", "'a'", "[1 2]" };
	char deep[2 * JSON_MAX_DEPTH + 3];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(parses(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parses(bad[i])) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			CHECK(0);
		}
	/* JSON_MAX_DEPTH levels pass, one more does not */
	memset(deep, '[', JSON_MAX_DEPTH);
	memset(deep + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	deep[2 * JSON_MAX_DEPTH] = '\0';
	CHECK(parses(deep));
	memset(deep, '[', JSON_MAX_DEPTH + 1);
	memset(deep + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
	deep[2 * JSON_MAX_DEPTH + 2] = '\0';
	CHECK(!parses(deep));
}

static void
test_json_access(void)
{
	const char *s = "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
	    "\"value\":\"mail.example.org\"},\"challenges\":[{\"type\":"
	    "\"dns-01\",\"token\":\"a\"},{\"type\":\"http-01\",\"token\":"
	    "\"b\\u00e9\"}],\"n\":\"x\\u0000y\"}";
	struct json j;
	const char *err;
	char out[64];
	int chs;

	CHECK(json_parse(&j, s, strlen(s), toks, JSON_MAX_TOKENS, &err) == 0);
	CHECK(json_get_str(&j, 0, "status", out, sizeof(out)));
	CHECK_STR(out, "pending");
	CHECK(json_get_str(&j, json_get(&j, 0, "identifier"), "value", out,
	    sizeof(out)));
	CHECK_STR(out, "mail.example.org");
	chs = json_get(&j, 0, "challenges");
	CHECK(json_count(&j, chs) == 2);
	CHECK(json_get_str(&j, json_elem(&j, chs, 1), "token", out,
	    sizeof(out)));
	CHECK_STR(out, "b\xc3\xa9");
	CHECK(json_elem(&j, chs, 2) == -1);
	CHECK(json_get(&j, 0, "nothing") == -1);
	CHECK(json_get(&j, chs, "type") == -1);		/* not an object */
	CHECK(!json_get_str(&j, 0, "n", out, sizeof(out)));	/* a NUL */
	CHECK(!json_get_str(&j, 0, "status", out, 7));	/* does not fit */
	CHECK(json_get_str(&j, 0, "status", out, 8));
	/* too many tokens for the array */
	CHECK(json_parse(&j, "[1,2,3]", 7, toks, 3, &err) == -1);
}

static void
test_http(void)
{
	static const char len[] = "HTTP/1.1 201 Created\r\nLocation: "
	    "https://ca/order/1\r\nReplay-Nonce: abc_-1\r\nContent-Type: "
	    "application/json\r\nContent-Length: 2\r\nRetry-After: 3\r\n\r\n{}";
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	static const char eof[] = "HTTP/1.0 404 Not Found\n\nno length";
	static const char *const bad[] = { "HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nLocation\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc\r\n",
		"HTTP/1.1 200 OK\r\nLocation: a b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: y" };
	struct http_resp r;
	const char *err;
	size_t i;

	CHECK(http_parse(len, sizeof(len) - 1, false, &r, &err) == 0);
	CHECK(r.status == 201 && r.bodylen == 2 && r.retry_after == 3);
	CHECK_STR(r.location, "https://ca/order/1");
	CHECK_STR(r.nonce, "abc_-1");
	CHECK_STR(r.ctype, "application/json");
	CHECK_STR(r.body, "{}");
	http_resp_free(&r);
	CHECK(http_parse(len, sizeof(len) - 1, true, &r, &err) == 0);
	CHECK(r.bodylen == 0);
	http_resp_free(&r);
	CHECK(http_parse(chunked, sizeof(chunked) - 1, false, &r, &err) == 0);
	CHECK(r.status == 200 && r.bodylen == 5);
	CHECK_STR(r.body, "abcde");
	http_resp_free(&r);
	CHECK(http_parse(eof, sizeof(eof) - 1, false, &r, &err) == 0);
	CHECK(r.status == 404);
	CHECK_STR(r.body, "no length");
	http_resp_free(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_parse(bad[i], strlen(bad[i]), false, &r, &err) == 0) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			http_resp_free(&r);
			CHECK(0);
		}
}

static void
test_chal(void)
{
	struct acme_chal ch;
	const char *req;

	memset(&ch, 0, sizeof(ch));
	ch.n = 1;
	ch.token[0] = "tok";
	ch.keyauth[0] = "tok.thumb";
	req = "GET /.well-known/acme-challenge/tok HTTP/1.1";
	CHECK_STR(acme_chal_answer(&ch, req, strlen(req)), "tok.thumb");
	req = "HEAD /.well-known/acme-challenge/tok HTTP/1.0";
	CHECK(acme_chal_answer(&ch, req, strlen(req)) != NULL);
	req = "GET /.well-known/acme-challenge/tokx HTTP/1.1";
	CHECK(acme_chal_answer(&ch, req, strlen(req)) == NULL);
	req = "GET /.well-known/acme-challenge/to HTTP/1.1";
	CHECK(acme_chal_answer(&ch, req, strlen(req)) == NULL);
	req = "POST /.well-known/acme-challenge/tok HTTP/1.1";
	CHECK(acme_chal_answer(&ch, req, strlen(req)) == NULL);
	req = "GET /.well-known/acme-challenge/tok";	/* no version */
	CHECK(acme_chal_answer(&ch, req, strlen(req)) == NULL);
}

int
main(void)
{
	test_json_grammar();
	test_json_access();
	test_http();
	test_chal();
	return T_DONE();
}
