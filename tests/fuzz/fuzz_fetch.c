/* SPDX-License-Identifier: ISC */
/*
 * fuzz_fetch.c - libFuzzer target for smtpd/fetch_proto.c: every line of
 * the input goes through each reader of remote IMAP/POP3 answers and of
 * SMTP replies; the whole input through the DATA stuffer, whose output
 * must end with CRLF "." CRLF, hold no bare LF and no Return-Path field
 * in its header.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "smtpd/fetch.h"
#include "tests/fuzz/fuzz.h"

static void
one_line(const char *l, size_t n)
{
	char *s = malloc(n + 1), id[71], q[256];
	uint32_t uv, *v = NULL, num;
	size_t nv = 0, cap = 0, plen;
	uint64_t lit;
	const char *p;
	bool ok;

	memcpy(s, l, n);
	s[n] = '\0';
	(void)fetch_imap_tagged(s, "f1", &ok);
	(void)fetch_imap_uidvalidity(s, &uv);
	(void)fetch_imap_search(s, &v, &nv, &cap);
	if (nv > cap)
		abort();
	(void)fetch_imap_literal(s, strlen(s), &lit);
	(void)fetch_imap_quote(s, q, sizeof(q));
	(void)fetch_pop3_ok(s);
	if (fetch_pop3_uidl(s, &num, id, sizeof(id)) && strlen(id) > 70)
		abort();
	if (fetch_pop3_unstuff(s, n, &p, &plen) && plen > n)
		abort();
	(void)fetch_smtp_code(s, n);
	free(v);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data, *nl;
	struct fetch_stuff st;
	struct buf out;
	size_t i, n = size;

	while (n > 0) {
		nl = memchr(d, '\n', n);
		i = nl ? (size_t)(nl - d) : n;
		one_line(d, i);
		d += i + (nl ? 1 : 0);
		n -= i + (nl ? 1 : 0);
	}
	buf_init(&out, 0);
	fetch_stuff_init(&st);
	(void)fetch_stuff(&st, (const char *)data, size / 2, &out);
	(void)fetch_stuff(&st, (const char *)data + size / 2, size - size / 2,
	    &out);
	(void)fetch_stuff_end(&st, &out);
	if (out.len < 3 || memcmp(buf_head(&out) + out.len - 3, ".\r\n", 3))
		abort();
	for (i = 0; i < out.len; i++)
		if (buf_head(&out)[i] == '\n' && (i == 0 ||
		    buf_head(&out)[i - 1] != '\r'))
			abort();
	/* the header: lines up to the first empty one */
	for (i = 0; i < out.len && buf_head(&out)[i] != '\r'; ) {
		if (out.len - i >= 12 &&
		    strncasecmp(buf_head(&out) + i, "Return-Path:", 12) == 0)
			abort();
		nl = memchr(buf_head(&out) + i, '\n', out.len - i);
		i = (size_t)(nl - buf_head(&out)) + 1;
	}
	buf_free(&out);
	return 0;
}
