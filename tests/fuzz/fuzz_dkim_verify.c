/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dkim_verify.c - libFuzzer target for DKIM verification: the first
 * input byte chooses.  Bit 7 set: the rest is parsed as a DKIM-Signature
 * field (bit 0 clear) or a key record (bit 0 set), the parsers alone.
 * Otherwise the rest is a message streamed through the verifier in pieces
 * of (byte % 64) + 1 bytes, and every signature that asks for a key gets
 * the fixed Ed25519 key below (the seeds are signed with it, so mutations
 * reach the header hash and the signature check) or, for selector "rsa",
 * an RSA-1024 key.  Invariants: one result per signature up to the cap,
 * pass only with a key, strings NUL-terminated within their arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "dkim_verify.h"
#include "tests/fuzz/fuzz.h"

#define NOW	2000000000	/* t= of the seeds is in the past, x= tests work */

static const char ed_key[] =
    "v=DKIM1; k=ed25519; p=A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
static const char rsa_key[] =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGq"
    "Z9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/"
    "RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQ"
    "PNUYckcQ2QIDAQAB";

static void
check_res(const struct dkim_vres *r)
{
	if (r->reason == NULL || strnlen(r->domain, sizeof(r->domain)) ==
	    sizeof(r->domain) || strnlen(r->b8, sizeof(r->b8)) == sizeof(r->b8) ||
	    strnlen(r->auid, sizeof(r->auid)) == sizeof(r->auid))
		abort();
}

static void
run_verifier(const char *p, size_t size, size_t step)
{
	struct dkim_verify *v;
	const struct dkim_vres *r;
	const char *name, *txt[1];
	size_t i, n, len[1];

	if ((v = dkim_verify_new(8192, 3, NOW)) == NULL)
		return;
	for (i = 0; i < size; i += n) {
		n = size - i < step ? size - i : step;
		if (dkim_verify_feed(v, p + i, n) == -1)
			break;
	}
	dkim_verify_end(v);
	n = dkim_verify_results(v, &r);
	if (n > 3)
		abort();
	for (i = 0; i < n; i++) {
		if ((name = dkim_verify_key_name(v, i)) == NULL)
			continue;
		txt[0] = strncmp(name, "rsa.", 4) == 0 ? rsa_key : ed_key;
		len[0] = strlen(txt[0]);
		dkim_verify_set_key(v, i, DKIM_KEY_FOUND, txt, len, 1);
		if (dkim_verify_key_name(v, i) != NULL)
			abort();	/* a key decides */
	}
	n = dkim_verify_results(v, &r);
	for (i = 0; i < n; i++)
		check_res(&r[i]);
	dkim_verify_free(&v);
	dkim_verify_cache_flush();	/* no state between inputs */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_vres r;
	const char *why;
	unsigned bits;
	bool testing;
	uint8_t mode;

	if (size == 0)
		return 0;
	mode = data[0];
	data++;
	size--;
	if (mode & 0x80) {
		if (mode & 1) {
			(void)dkim_key_check((const char *)data, size, "rsa-sha256",
			    &bits, &testing, &why);
			(void)dkim_key_check((const char *)data, size,
			    "ed25519-sha256", &bits, &testing, &why);
		} else {
			(void)dkim_sig_check((const char *)data, size, NOW, &r);
			check_res(&r);
		}
		return 0;
	}
	run_verifier((const char *)data, size, (size_t)(mode % 64) + 1);
	return 0;
}
