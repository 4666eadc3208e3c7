/* SPDX-License-Identifier: ISC */
/*
 * acme_test.c - the ACME client's parsers (keytool/acme_json.c,
 * keytool/acme_httpp.c): JSON accepted and refused, string decoding,
 * the limits, HTTP responses by length, chunked and to the end, the
 * HTTP-01 request line, and the HTTP-01 listener (keytool/acme_chal.c)
 * answering the CA while a client trickles its request (5 s at most).  The client as a whole is tested against pebble
 * (tests/integration/test_acme.py).
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "keytool/acme.h"
#include "keytool/acme_json.h"
#include "keytool/keytool_dkim.h"

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

/* keytool_write_file - acme_chal.c's webroot files (keytool_dkim.c); the
 * listener tested here writes none */
int
keytool_write_file(const char *path, const void *data, size_t n,
    unsigned mode, bool force)
{
	(void)path;
	(void)data;
	(void)n;
	(void)mode;
	(void)force;
	return -1;
}

static int
connect_to(unsigned port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd != -1 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* free_port - a loopback port nobody listens on (bound, then let go) */
static unsigned
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/*
 * the listener serves one connection at a time: a client that trickles
 * its request line (a byte a second, under the 5 s read timeout) must
 * not hold it past 5 s, or the CA's fetch behind it fails
 */
static void
test_chal_trickle(void)
{
	static const char get[] = "GET /.well-known/acme-challenge/tok "
	    "HTTP/1.1\r\n";
	struct acme_chal ch;
	struct timeval tv = { 15, 0 };
	struct timespec t0, t1;
	char buf[512];
	unsigned port = free_port();
	ssize_t n = 0, r;
	pid_t slow;
	int fd, i;

	memset(&ch, 0, sizeof(ch));
	CHECK(port != 0);
	CHECK(acme_chal_add(&ch, "tok", "tok.thumb") == 0);
	CHECK(acme_chal_listen(&ch, "127.0.0.1", port) == 0);
	if ((slow = fork()) == 0) {
		/* first in line: a byte a second for 30 s */
		fd = connect_to(port);
		for (i = 0; i < 30 && fd != -1; i++) {
			(void)write(fd, "G", 1);
			sleep(1);
		}
		_exit(0);
	}
	usleep(300 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fd = connect_to(port);
	CHECK(fd != -1);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(write(fd, get, sizeof(get) - 1) == (ssize_t)sizeof(get) - 1);
	while (n < (ssize_t)sizeof(buf) - 1 &&
	    (r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += r;
	buf[n > 0 ? n : 0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(strncmp(buf, "HTTP/1.0 200 ", 13) == 0);
	CHECK(strstr(buf, "\r\n\r\ntok.thumb") != NULL);
	CHECK(t1.tv_sec - t0.tv_sec <= 7);
	close(fd);
	kill(slow, SIGKILL);
	waitpid(slow, NULL, 0);
	acme_chal_done(&ch);
}

int
main(void)
{
	test_json_grammar();
	test_json_access();
	test_http();
	test_chal();
	test_chal_trickle();
	return T_DONE();
}
