/* SPDX-License-Identifier: ISC */
/*
 * dmarc.c - DMARC record parsing and evaluation (RFC 7489), the pure part
 * (see dmarc.h; discovery through DNS is dmarc_dns.c).  No I/O, no
 * allocation; safe on any bytes (fuzzed by tests/fuzz/fuzz_dmarc.c).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"
#include "psl.h"

static inline bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* trim - p[0..*n) without WSP (and CR/LF) at either end */
static const char *
trim(const char *p, size_t *n)
{
	while (*n > 0 && (is_wsp(p[0]) || p[0] == '\r' || p[0] == '\n'))
		p++, (*n)--;
	while (*n > 0 && (is_wsp(p[*n - 1]) || p[*n - 1] == '\r' ||
	    p[*n - 1] == '\n'))
		(*n)--;
	return p;
}

static bool
val_is(const char *v, size_t n, const char *s)
{
	return n == strlen(s) && strncasecmp(v, s, n) == 0;
}

static bool
policy(const char *v, size_t n, enum dmarc_policy *p)
{
	if (val_is(v, n, "none"))
		*p = DMARC_POLICY_NONE;
	else if (val_is(v, n, "quarantine"))
		*p = DMARC_POLICY_QUARANTINE;
	else if (val_is(v, n, "reject"))
		*p = DMARC_POLICY_REJECT;
	else
		return false;
	return true;
}

/* uri_ok - one URI of a rua list: scheme ":" something (6.2, RFC 3986) */
static bool
uri_ok(const char *v, size_t n)
{
	size_t i;

	v = trim(v, &n);
	if (n == 0 || !isalpha((unsigned char)v[0]))
		return false;
	for (i = 1; i < n && v[i] != ':'; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '+' && v[i] != '-' &&
		    v[i] != '.')
			return false;
	return i + 1 < n;
}

/* rua_ok - at least one valid URI in the comma-separated list */
static bool
rua_ok(const char *v, size_t n)
{
	const char *c;
	size_t len;

	for (;;) {
		c = memchr(v, ',', n);
		len = c ? (size_t)(c - v) : n;
		if (uri_ok(v, len))
			return true;
		if (c == NULL)
			return false;
		v = c + 1;
		n -= len + 1;
	}
}

static bool
pct_val(const char *v, size_t n, unsigned *pct)
{
	unsigned x = 0;
	size_t i;

	if (n == 0 || n > 3)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return false;
		x = x * 10 + (unsigned)(v[i] - '0');
	}
	if (x > 100)
		return false;
	*pct = x;
	return true;
}

/* seen - one bit per known tag: the first of a repeated tag counts */
enum { T_P = 1, T_SP = 2, T_NP = 4, T_ADKIM = 8, T_ASPF = 16, T_PCT = 32,
	T_RUA = 64 };

/* one_tag - apply tag name=v to r; *bad_r when p or sp is invalid */
static void
one_tag(const char *name, size_t nlen, const char *v, size_t n,
    struct dmarc_record *r, unsigned *seen, bool *badp, bool *badsp)
{
#define FIRST(bit) (!(*seen & (bit)) && (*seen |= (bit)))
	if (val_is(name, nlen, "p") && FIRST(T_P))
		*badp = !policy(v, n, &r->p);
	else if (val_is(name, nlen, "sp") && FIRST(T_SP))
		*badsp = !(r->has_sp = policy(v, n, &r->sp));
	else if (val_is(name, nlen, "np") && FIRST(T_NP))
		r->has_np = policy(v, n, &r->np);
	else if (val_is(name, nlen, "adkim") && FIRST(T_ADKIM))
		r->adkim_strict = val_is(v, n, "s");
	else if (val_is(name, nlen, "aspf") && FIRST(T_ASPF))
		r->aspf_strict = val_is(v, n, "s");
	else if (val_is(name, nlen, "pct") && FIRST(T_PCT)) {
		if (!pct_val(v, n, &r->pct))
			r->pct = 100;
	} else if (val_is(name, nlen, "rua") && FIRST(T_RUA))
		r->has_rua = rua_ok(v, n);
	/* ruf, fo, rf, ri and unknown tags: ignored (no reports sent) */
#undef FIRST
}

enum dmarc_parse
dmarc_record_parse(const char *txt, size_t n, struct dmarc_record *r,
    const char **why_r)
{
	const char *part, *semi, *eq, *name, *v;
	size_t plen, nlen, vlen, i;
	unsigned seen = 0;
	bool badp = true, badsp = false;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	*why_r = "no error";
	for (i = 0; n > 0; i++) {
		semi = memchr(txt, ';', n);
		plen = semi ? (size_t)(semi - txt) : n;
		part = txt;
		txt += semi ? plen + 1 : plen;
		n -= semi ? plen + 1 : plen;
		eq = memchr(part, '=', plen);
		nlen = eq ? (size_t)(eq - part) : plen;
		name = trim(part, &nlen);
		vlen = eq ? plen - (size_t)(eq + 1 - part) : 0;
		v = eq ? trim(eq + 1, &vlen) : part;
		if (i == 0) {	/* v=DMARC1, exactly, first (6.4) */
			if (eq == NULL || !val_is(name, nlen, "v") || vlen != 6 ||
			    memcmp(v, "DMARC1", 6) != 0) {
				*why_r = "not a DMARC record";
				return DMARC_REC_NOT_DMARC;
			}
			continue;
		}
		if (eq != NULL)
			one_tag(name, nlen, v, vlen, r, &seen, &badp, &badsp);
	}
	if (i == 0) {
		*why_r = "not a DMARC record";
		return DMARC_REC_NOT_DMARC;
	}
	if (badp || badsp) {	/* 6.6.3 step 6 */
		if (!r->has_rua) {
			*why_r = badp ? "DMARC record without a valid p=" :
			    "DMARC record with an invalid sp=";
			return DMARC_REC_UNUSABLE;
		}
		r->p = r->sp = DMARC_POLICY_NONE;
		r->has_sp = false;
		r->p_repaired = true;
	}
	if (!r->has_sp)
		r->sp = r->p;
	if (!r->has_np)
		r->np = r->sp;
	return DMARC_REC_OK;
}

enum dmarc_parse
dmarc_choose(const char *const *txt, const size_t *len, size_t n,
    struct dmarc_record *rec_r, size_t *idx_r, const char **why_r)
{
	struct dmarc_record r;
	enum dmarc_parse res = DMARC_REC_NOT_DMARC, one;
	const char *why;
	size_t i, found = 0;

	*why_r = "no DMARC record";
	for (i = 0; i < n; i++) {
		one = dmarc_record_parse(txt[i], len[i], &r, &why);
		if (one == DMARC_REC_NOT_DMARC)
			continue;
		if (found++ > 0) {	/* 6.6.3 step 3 */
			*why_r = "more than one DMARC record";
			return DMARC_REC_UNUSABLE;
		}
		res = one;
		*why_r = why;
		*rec_r = r;
		*idx_r = i;
	}
	return res;
}

/* lower - name lower-cased, without a final dot, into out (false: unusable) */
static bool
lower(const char *name, char *out, size_t outsz)
{
	size_t i, len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= outsz)
		return false;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[len] = '\0';
	return true;
}

bool
dmarc_aligned(const struct psl *psl, const char *a, const char *b, bool strict)
{
	char la[DMARC_NAME_MAX + 1], lb[DMARC_NAME_MAX + 1];
	char oa[DMARC_NAME_MAX + 1], ob[DMARC_NAME_MAX + 1];

	if (a == NULL || b == NULL || !lower(a, la, sizeof(la)) ||
	    !lower(b, lb, sizeof(lb)))
		return false;
	if (strcmp(la, lb) == 0)
		return true;
	if (strict)
		return false;
	return psl_org_domain(psl, la, oa, sizeof(oa)) &&
	    psl_org_domain(psl, lb, ob, sizeof(ob)) && strcmp(oa, ob) == 0;
}

/* milder - the policy one step below (6.6.4) */
static enum dmarc_policy
milder(enum dmarc_policy p)
{
	return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE :
	    DMARC_POLICY_NONE;
}

void
dmarc_evaluate(const struct psl *psl, const struct dmarc_input *in,
    const struct dmarc_record *rec, bool at_org, struct dmarc_result *out)
{
	bool sstrict = rec != NULL && rec->aspf_strict;
	bool dstrict = rec != NULL && rec->adkim_strict;
	size_t i;

	out->result = DMARC_RES_NONE;
	out->policy = out->requested = DMARC_POLICY_NONE;
	out->has_record = rec != NULL;
	out->at_org = at_org;
	out->spf_aligned = out->dkim_aligned = out->sampled_out = false;
	if (rec != NULL)
		out->rec = *rec;
	/* without a record: relaxed, for local rules (our own domains) */
	for (i = 0; i < in->ndkim && !out->dkim_aligned; i++)
		out->dkim_aligned = dmarc_aligned(psl, in->from_domain,
		    in->dkim_domains[i], dstrict);
	out->spf_aligned = in->spf_pass && dmarc_aligned(psl, in->from_domain,
	    in->spf_domain, sstrict);
	out->reason = "no DMARC record";
	if (rec == NULL)
		return;
	out->requested = at_org ? rec->sp : rec->p;
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_RES_PASS;
		out->reason = out->dkim_aligned ? "aligned DKIM pass" :
		    "aligned SPF pass";
		return;
	}
	out->result = DMARC_RES_FAIL;
	out->reason = "no aligned SPF or DKIM pass";
	out->policy = out->requested;
	if (in->sample >= rec->pct && out->policy != DMARC_POLICY_NONE) {
		out->policy = milder(out->policy);
		out->sampled_out = true;
	}
}

unsigned
dmarc_sample(const void *vp, size_t n)
{
	const unsigned char *p = vp;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % 100;
}

const char *
dmarc_res_name(enum dmarc_res r)
{
	switch (r) {
	case DMARC_RES_NONE:
		return "none";
	case DMARC_RES_PASS:
		return "pass";
	case DMARC_RES_FAIL:
		return "fail";
	case DMARC_RES_TEMPERROR:
		return "temperror";
	case DMARC_RES_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "none";
}
