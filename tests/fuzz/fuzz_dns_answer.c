/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dns_answer.c - libFuzzer target for dns_answer_parse() (lib/
 * dns_answer.c), the reader of DNS responses from the network: the first
 * input byte picks the type asked (A, AAAA, MX, TXT, PTR), the rest is
 * the message.  Invariants: an OK answer has records of that type only,
 * each TXT/name followed by a NUL, names at most 253 bytes; a packed copy
 * equals the original.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_int.h"
#include "tests/fuzz/fuzz.h"

static const enum dns_type types[] = {
	DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_answer *ans;
	const struct dns_result *r;
	struct dns_result *p;
	enum dns_type type;
	size_t i;

	if (size < 1)
		return 0;
	type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	ans = dns_answer_new("fuzz.example", type);
	dns_answer_parse(ans, type, data + 1, size - 1);
	r = dns_answer_result(ans);
	if (r->status != DNS_OK && r->nrr != 0)
		abort();
	for (i = 0; i < r->nrr; i++) {
		if (r->rr[i].type != type)
			abort();
		if (r->rr[i].data != NULL && r->rr[i].data[r->rr[i].len] != '\0')
			abort();
		if (type != DNS_T_TXT && r->rr[i].data != NULL &&
		    r->rr[i].len > 254)
			abort();
	}
	p = dns_result_pack(r, NULL);
	if (p->nrr != r->nrr || p->status != r->status || p->ttl != r->ttl)
		abort();
	for (i = 0; i < r->nrr; i++)
		if (p->rr[i].len != r->rr[i].len || (r->rr[i].data != NULL &&
		    memcmp(p->rr[i].data, r->rr[i].data, r->rr[i].len) != 0))
			abort();
	free(p);
	dns_answer_free(&ans);
	return 0;
}
