/* SPDX-License-Identifier: ISC */
/*
 * fuzz_milter.c - libFuzzer target for smtpd/milter_proto.c, the decoder
 * of what a milter answers (untrusted: the milter is another program,
 * perhaps on another host).  The input is a stream of reply packets,
 * parsed as milter.c does, in one piece and then one byte at a time.
 * Invariants: a parsed packet lies inside the input, its strings end
 * with their NUL inside it, both ways give the same packets; texts the
 * checks accept are one printable line.  Each packet is also re-encoded
 * with milter_put() and must parse back the same.
 * Seeds: tests/fuzz/corpus/fuzz_milter/.
 */
#include <string.h>

#include "smtpd/milter_proto.h"
#include "tests/fuzz/fuzz.h"

static void
check(const char *p, size_t n, const struct milter_reply *r, size_t used)
{
	struct milter_reply again;
	struct buf b;
	size_t u2;

	if (used < 5 || used > n || r->data != p + 5 || r->len != used - 5)
		__builtin_trap();
	if (r->name && (r->name < p || r->name + strlen(r->name) >= p + used))
		__builtin_trap();
	if (r->value && (r->value < p || r->value + strlen(r->value) >= p + used))
		__builtin_trap();
	if (r->text && (r->text < p || r->text + strlen(r->text) >= p + used))
		__builtin_trap();
	if (r->text && milter_reply_ok(r->text) &&
	    (strchr(r->text, '\n') || strchr(r->text, '\r')))
		__builtin_trap();
	if (r->name && milter_header_ok(r->name, r->value) &&
	    (strchr(r->name, ':') || strchr(r->name, ' ')))
		__builtin_trap();
	buf_init(&b, 0);
	if (milter_put(&b, r->cmd, r->data, r->len) != 0 ||
	    milter_parse(buf_head(&b), b.len, &again, &u2) != 1 ||
	    u2 != used || again.cmd != r->cmd || memcmp(buf_head(&b), p, used))
		__builtin_trap();
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct milter_reply r;
	size_t off = 0, used, k, cut[64], ncut = 0;
	int res;

	while ((res = milter_parse(p + off, size - off, &r, &used)) == 1) {
		check(p + off, size - off, &r, used);
		if (ncut < 64)
			cut[ncut++] = used;
		off += used;
	}
	/* growing prefixes: 0 until a packet is whole, then the same packet */
	off = 0;
	for (k = 0; k < ncut; k++) {
		size_t len;

		for (len = 0; len < cut[k] && len < 64; len++)
			if (milter_parse(p + off, len, &r, &used) != 0)
				__builtin_trap();
		if (milter_parse(p + off, cut[k], &r, &used) != 1 ||
		    used != cut[k])
			__builtin_trap();
		off += cut[k];
	}
	return 0;
}
