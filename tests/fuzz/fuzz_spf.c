/* SPDX-License-Identifier: ISC */
/*
 * fuzz_spf.c - libFuzzer target for the SPF record and macro parsers
 * (lib/spf_parse.c, lib/spf_macro.c), which read DNS records and the
 * client's MAIL FROM / HELO.  The input is a record ("v=spf1 ...") or,
 * when it starts with "%", a macro-string; a record's domain-specs and
 * modifiers are then expanded with a sender made from the input too.
 * Invariants: terms point inside the record; an expanded domain is at
 * most 253 bytes (7.3) and fits the output buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "spf_int.h"
#include "tests/fuzz/fuzz.h"

static void
expand_all(const struct spf_macro_ctx *m, const char *s, size_t n,
    bool domain)
{
	char out[SPF_EXPAND_MAX];
	size_t len;

	if (!spf_macro_check(s, n, domain, !domain, NULL))
		return;
	if (spf_expand(m, s, n, domain, out, sizeof(out)) == -1)
		return;
	len = strlen(out);
	if (len >= sizeof(out))
		abort();
	if (domain && len > DNS_NAME_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_macro_ctx m;
	struct spf_record r;
	char err[200], local[64], *txt;
	size_t i;

	txt = malloc(size + 1);
	memcpy(txt, data, size);
	txt[size] = '\0';
	memset(&m, 0, sizeof(m));
	snprintf(local, sizeof(local), "%.*s", (int)(size < 40 ? size : 40),
	    txt);
	m.sender = "strong-bad@email.example.com";
	m.local = strchr(local, '\0') == local ? "postmaster" : local;
	m.sender_domain = m.domain = "email.example.com";
	m.family = size % 2 ? AF_INET6 : AF_INET;
	memset(m.ip, 0xab, sizeof(m.ip));
	m.helo = local;
	m.validated = "unknown";
	m.receiver = "mx.example.net";
	m.now = 1;
	if (size > 0 && txt[0] == '%') {
		expand_all(&m, txt, size, true);
		expand_all(&m, txt, size, false);
		free(txt);
		return 0;
	}
	if (spf_record_parse(txt, size, &r, err, sizeof(err)) == 0) {
		for (i = 0; i < r.nterms; i++) {
			const struct spf_term *t = &r.terms[i];

			if (t->text < txt || t->text + t->textlen > txt + size)
				abort();
			if (t->spec != NULL)
				expand_all(&m, t->spec, t->speclen, true);
		}
		if (r.redirect != NULL)
			expand_all(&m, r.redirect, r.redirectlen, true);
		if (r.exp != NULL)
			expand_all(&m, r.exp, r.explen, true);
	}
	spf_record_free(&r);
	free(txt);
	return 0;
}
