/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dmarc.c - libFuzzer target for lib/dmarc.c and lib/psl.c; the first
 * input byte chooses: 0 mod 3, the rest is DMARC TXT records (one per
 * line) for dmarc_choose() and then dmarc_evaluate(); 1, it is a domain
 * name looked up in a small built-in list (wildcards, an exception, IDN)
 * and aligned with a fixed one; 2, it is a list file, loaded and asked
 * for fixed names.  Invariants: an organizational domain is a suffix of
 * the name it came from and ends with its public suffix; results and
 * policies stay in their enums.
 */
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "psl.h"
#include "tests/fuzz/fuzz.h"

static const char list[] =
    "com\nuk\nco.uk\n*.ck\n!www.ck\njp\n*.kobe.jp\n!city.kobe.jp\n"
    "cn\n\xe5\x85\xac\xe5\x8f\xb8.cn\ngithub.io\n";

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void
name_case(const struct psl *psl, const char *name)
{
	char org[PSL_NAME_MAX + 1], ps[PSL_NAME_MAX + 1];
	bool o = psl_org_domain(psl, name, org, sizeof(org));
	bool s = psl_public_suffix(psl, name, ps, sizeof(ps));

	if (o != s || (o && (!ends_with(org, ps) || strlen(org) > strlen(name))))
		abort();
	(void)dmarc_aligned(psl, name, "mail.example.co.uk", false);
	(void)dmarc_aligned(psl, name, name, true);
}

static void
records_case(const struct psl *psl, const char *p, size_t size)
{
	const char *txt[8], *why, *nl, *dk[1] = { "example.com" };
	size_t len[8], n = 0, idx;
	struct dmarc_record rec;
	struct dmarc_result res;
	struct dmarc_input in = { .from_domain = "a.example.com",
	    .dkim_domains = dk, .ndkim = 1, .sample = size % 100 };

	while (size > 0 && n < 8) {
		nl = memchr(p, '\n', size);
		txt[n] = p;
		len[n] = nl ? (size_t)(nl - p) : size;
		size -= nl ? len[n] + 1 : len[n];
		p += nl ? len[n] + 1 : len[n];
		n++;
	}
	if (dmarc_choose(txt, len, n, &rec, &idx, &why) != DMARC_REC_OK)
		return;
	if (idx >= n || rec.pct > 100 || rec.p > DMARC_POLICY_REJECT ||
	    rec.sp > DMARC_POLICY_REJECT)
		abort();
	dmarc_evaluate(psl, &in, &rec, n & 1, &res);
	if (res.result != DMARC_RES_PASS && res.result != DMARC_RES_FAIL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psl *psl, *own;
	char name[300];
	uint8_t mode;

	if (size == 0 || (psl = psl_load_mem(list, sizeof(list) - 1)) == NULL)
		return 0;
	mode = data[0] % 3;
	data++;
	size--;
	if (mode == 0)
		records_case(psl, (const char *)data, size);
	else if (mode == 1) {
		if (size >= sizeof(name))
			size = sizeof(name) - 1;
		memcpy(name, data, size);
		name[size] = '\0';
		name_case(psl, name);
	} else if ((own = psl_load_mem((const char *)data, size)) != NULL) {
		name_case(own, "a.b.example.co.uk");
		name_case(own, "www.city.kobe.jp");
		name_case(own, "x.y.z");
		psl_free(&own);
	}
	psl_free(&psl);
	return 0;
}
