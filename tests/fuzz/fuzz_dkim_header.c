/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dkim_header.c - libFuzzer target for lib/dkim.c: relaxed header
 * canonicalization of any bytes (with invariants: no line breaks, no WSP
 * runs, no trailing WSP, never longer than the input), and the whole
 * signer (header split, From domain, DKIM-Signature template, folding)
 * fed in pieces whose size the first input byte chooses.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dkim.h"
#include "tests/fuzz/fuzz.h"

static void
check_canon(const char *p, size_t n)
{
	struct buf out;
	const char *o, *colon;
	size_t i;

	buf_init(&out, 0);
	if (dkim_canon_header(&out, p, n) == 0) {
		o = buf_head(&out);
		if (out.len > n || (colon = memchr(o, ':', out.len)) == NULL)
			abort();
		/* the value: unfolded, WSP runs are one SP, no WSP at either end */
		for (i = (size_t)(colon - o) + 1; i < out.len; i++) {
			if (o[i] == '\n' || o[i] == '\t')
				abort();
			if (o[i] == ' ' && (i + 1 == out.len || o[i + 1] == ' ' ||
			    o + i == colon + 1))
				abort();
		}
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_sign *s;
	unsigned char digest[DKIM_DIGEST_LEN], sig[64];
	char dom[256], *tmpl, *fin;
	size_t step, i, n;

	check_canon((const char *)data, size);
	if (size == 0)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	if ((s = dkim_sign_new(4096)) == NULL)
		return 0;
	for (i = 0; i < size; i += n) {
		n = size - i < step ? size - i : step;
		if (dkim_sign_feed(s, data + i, n) == -1)
			break;
	}
	if (dkim_sign_end(s) == 0) {
		(void)dkim_from_domain(s, dom, sizeof(dom));
		if (dkim_header_digest(s, "example.org", "sel", DKIM_ED25519_SHA256,
		    1700000000, digest, &tmpl) == 0) {
			memset(sig, 0xa5, sizeof(sig));
			fin = dkim_finish(tmpl, sig, sizeof(sig), size & 1);
			free(fin);
			free(tmpl);
		}
	}
	dkim_sign_free(&s);
	return 0;
}
