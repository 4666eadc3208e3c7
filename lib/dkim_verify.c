/* SPDX-License-Identifier: ISC */
/*
 * dkim_verify.c - the streaming DKIM verifier (see dkim_verify.h): keeps
 * the header block (lib/dkim.c struct dkim_hdrs, bounded), parses the
 * DKIM-Signature fields when the block ends, hashes the body once per
 * distinct (canonicalization, l=) with lib/dkim.c's canonicalizer while
 * it streams, computes each header hash at the end, and checks each
 * signature against its key record when the caller supplies it.
 *
 * Pure: no I/O (the lookups are in dkim_verify_dns.c).  Runs inside the
 * process that receives mail on port 25, on untrusted input: never
 * aborts, bounded memory, out of memory becomes temperror.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "buf.h"
#include "dkim_verify_int.h"
#include "dkim_vsig.h"

/* hasher_sink - canonical body bytes: hash what l= covers, count all */
static void
hasher_sink(void *arg, const char *p, size_t n)
{
	struct dkim_hasher *h = arg;
	uint64_t left = h->seen < h->limit ? h->limit - h->seen : 0;
	uint64_t take = n < left ? n : left;

	if (take > 0 && EVP_DigestUpdate(h->ctx, p, (size_t)take) != 1)
		h->failed = true;
	h->seen += n;
}

struct dkim_verify *
dkim_verify_new(size_t header_max, size_t max_sigs, time_t now)
{
	struct dkim_verify *v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	dkim_hdrs_init(&v->h, header_max);
	v->max_sigs = max_sigs ? max_sigs : DKIM_VERIFY_MAX_SIGS_DEFAULT;
	v->now = now;
	return v;
}

void
dkim_verify_free(struct dkim_verify **vp)
{
	struct dkim_verify *v = *vp;
	size_t i;

	if (v == NULL)
		return;
	if (v->lk_cancel != NULL)
		v->lk_cancel(v);
	for (i = 0; i < v->nsigs; i++)
		dkim_vsig_clear(&v->sigs[i]);
	for (i = 0; i < v->nhashers; i++)
		EVP_MD_CTX_free(v->hashers[i].ctx);
	free(v->sigs);
	free(v->hashers);
	free(v->res);
	free(v->fhash);
	dkim_hdrs_free(&v->h);
	free(v);
	*vp = NULL;
}

static void
sig_final(struct dkim_vsig *s, enum dkim_res r, const char *why)
{
	s->r.result = r;
	s->r.reason = why;
	s->final = true;
}

/* hasher_for - the body hasher of s, shared with earlier signatures */
static int
hasher_for(struct dkim_verify *v, struct dkim_vsig *s)
{
	struct dkim_hasher *h;
	uint64_t limit = s->r.has_l ? s->r.l : UINT64_MAX;
	size_t i;

	for (i = 0; i < v->nhashers; i++)
		if (v->hashers[i].canon == s->bc && v->hashers[i].limit == limit) {
			s->hasher = i;
			return 0;
		}
	h = &v->hashers[v->nhashers];
	memset(h, 0, sizeof(*h));
	h->canon = s->bc;
	h->limit = limit;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		return -1;
	}
	dkim_body_init_canon(&h->body, s->bc, hasher_sink, h);
	s->hasher = v->nhashers++;
	return 0;
}

/* start - the header block is complete: find and parse the signatures */
static int
start(struct dkim_verify *v)
{
	static const char name[] = "DKIM-Signature";
	struct dkim_field *f;
	struct dkim_vsig *s;
	size_t i, count = 0;
	enum dkim_res r;

	v->started = true;
	if (v->overflow)
		return 0;
	if (dkim_hdrs_split(&v->h) == -1)
		return -1;
	for (i = 0; i < v->h.nfields; i++)
		if (dkim_hdrs_is(&v->h, &v->h.fields[i], name, sizeof(name) - 1))
			count++;
	if (count > v->max_sigs)
		count = v->max_sigs;
	if (count == 0)
		return 0;
	if ((v->sigs = calloc(count, sizeof(*v->sigs))) == NULL ||
	    (v->hashers = calloc(count, sizeof(*v->hashers))) == NULL)
		return -1;
	for (i = 0; i < v->h.nfields && v->nsigs < count; i++) {
		f = &v->h.fields[i];
		if (!dkim_hdrs_is(&v->h, f, name, sizeof(name) - 1))
			continue;
		s = &v->sigs[v->nsigs++];
		r = dkim_vsig_parse(s, buf_head(&v->h.hdr) + f->off, f->len, v->now);
		s->field = i;
		if (r != DKIM_RES_PASS)
			sig_final(s, r, s->r.reason);
		else if (hasher_for(v, s) == -1)
			return -1;
	}
	return 0;
}

/* nomem - out of memory: every result becomes temperror */
static int
nomem(struct dkim_verify *v)
{
	v->nomem = true;
	return -1;
}

int
dkim_verify_feed(struct dkim_verify *v, const void *vp, size_t n)
{
	const char *p = vp;
	size_t i;

	if (v->nomem || v->ended)
		return v->nomem ? -1 : 0;
	if (v->overflow)
		return 0;	/* one permerror; nothing to hash */
	if (!v->started) {
		if (dkim_hdrs_feed(&v->h, &p, &n) == -1) {
			v->overflow = true;
			buf_free(&v->h.hdr);	/* give the memory back now */
			return 0;
		}
		if (!v->h.in_body)
			return 0;
		if (start(v) == -1)
			return nomem(v);
	}
	for (i = 0; i < v->nhashers && n > 0; i++)
		dkim_body_feed(&v->hashers[i].body, p, n);
	return 0;
}

/* hash_name - FNV-1a of a field name, lower-cased */
static uint32_t
hash_name(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)tolower((unsigned char)p[i])) * 16777619u;
	return h;
}

/*
 * field_hashes - the hash of each field's name, once per message, so
 * that picking fields for h= lists is cheap (h= names at most DKIM_H_MAX)
 */
static int
field_hashes(struct dkim_verify *v)
{
	size_t i;

	if (v->fhash != NULL || v->h.nfields == 0)
		return 0;
	if ((v->fhash = calloc(v->h.nfields, sizeof(*v->fhash))) == NULL)
		return -1;
	for (i = 0; i < v->h.nfields; i++)
		v->fhash[i] = hash_name(buf_head(&v->h.hdr) + v->h.fields[i].off,
		    v->h.fields[i].namelen);
	return 0;
}

/*
 * hash_field - canonicalize field text p[0..n) into tmp and hash it; with
 * a CRLF after it unless last
 */
static int
hash_field(EVP_MD_CTX *ctx, struct buf *tmp, enum dkim_canon c,
    const char *p, size_t n, bool last)
{
	buf_reset(tmp);
	if (dkim_canon_field(tmp, c, p, n) == -1 ||
	    (!last && buf_append(tmp, "\r\n", 2) == -1))
		return -1;
	return EVP_DigestUpdate(ctx, buf_head(tmp), tmp->len) == 1 ? 0 : -1;
}

/*
 * pick_fields - for each name in s->h, the field it covers (RFC 6376
 * 5.4.2: instances from the bottom up; a name listed more often than it
 * occurs covers nothing the extra times), as field index + 1 in pick
 * (0 = nothing).  The same name earlier in h= is where the scan goes on,
 * so it is linear per distinct name.
 */
static size_t
pick_fields(const struct dkim_verify *v, const struct dkim_vsig *s,
    size_t *pick)
{
	uint32_t nh[DKIM_H_MAX];
	const char *names[DKIM_H_MAX], *p, *q;
	size_t nlen[DKIM_H_MAX], n = 0, j, k, from;

	for (p = s->h; p != NULL && n < DKIM_H_MAX; p = q, n++) {
		q = strchr(p, ':');
		names[n] = p;
		nlen[n] = q ? (size_t)(q - p) : strlen(p);
		nh[n] = hash_name(p, nlen[n]);
		if (q != NULL)
			q++;
		from = v->h.nfields;
		for (k = n; k-- > 0;)	/* the same name earlier in h= */
			if (nh[k] == nh[n] && nlen[k] == nlen[n] &&
			    strncasecmp(names[k], p, nlen[n]) == 0) {
				from = pick[k] ? pick[k] - 1 : 0;
				break;
			}
		for (j = from; j > 0; j--)
			if (v->fhash[j - 1] == nh[n] &&
			    dkim_hdrs_is(&v->h, &v->h.fields[j - 1], p, nlen[n]))
				break;
		pick[n] = j;
	}
	return n;
}

/* header_digest - the header hash of s (RFC 6376 3.7) */
static int
header_digest(struct dkim_verify *v, struct dkim_vsig *s)
{
	size_t pick[DKIM_H_MAX], n, i;
	const struct dkim_field *f, *sf = &v->h.fields[s->field];
	const char *hdr = buf_head(&v->h.hdr);
	struct buf tmp, self;
	EVP_MD_CTX *ctx;
	int rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	buf_init(&tmp, 0);
	buf_init(&self, 0);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	n = pick_fields(v, s, pick);
	for (i = 0; i < n; i++) {
		if (pick[i] == 0)
			continue;
		f = &v->h.fields[pick[i] - 1];
		if (hash_field(ctx, &tmp, s->hc, hdr + f->off, f->len, false) == -1)
			goto done;
	}
	/* the signature itself, b= emptied, without a final CRLF */
	if (buf_append(&self, hdr + sf->off, s->bstart) == -1 ||
	    buf_append(&self, hdr + sf->off + s->bend, sf->len - s->bend) == -1 ||
	    hash_field(ctx, &tmp, s->hc, buf_head(&self), self.len, true) == -1 ||
	    EVP_DigestFinal_ex(ctx, s->hd, NULL) != 1)
		goto done;
	rc = 0;
done:
	buf_free(&tmp);
	buf_free(&self);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* check_body - l= and bh= of s against its hasher */
static void
check_body(struct dkim_verify *v, struct dkim_vsig *s)
{
	const struct dkim_hasher *h = &v->hashers[s->hasher];

	if (s->r.has_l && h->seen < s->r.l) {
		sig_final(s, DKIM_RES_FAIL, "body shorter than l=");
		return;
	}
	s->r.beyond_l = s->r.has_l && h->seen > s->r.l;
	if (s->bhlen != h->dlen || memcmp(s->bh, h->digest, h->dlen) != 0)
		sig_final(s, DKIM_RES_FAIL, "body hash mismatch");
}

int
dkim_verify_end(struct dkim_verify *v)
{
	struct dkim_hasher *h;
	size_t i;

	if (v->ended || v->nomem)
		return v->nomem ? -1 : 0;
	v->ended = true;
	if (!v->started) {	/* no empty line: all header, empty body */
		v->h.in_body = true;
		if (start(v) == -1)
			return nomem(v);
	}
	for (i = 0; i < v->nhashers; i++) {
		h = &v->hashers[i];
		dkim_body_end(&h->body);
		if (h->failed || EVP_DigestFinal_ex(h->ctx, h->digest, &h->dlen) != 1)
			return nomem(v);
	}
	if (v->nsigs > 0 && field_hashes(v) == -1)
		return nomem(v);
	for (i = 0; i < v->nsigs; i++) {
		if (v->sigs[i].final)
			continue;
		check_body(v, &v->sigs[i]);
		if (!v->sigs[i].final && header_digest(v, &v->sigs[i]) == -1)
			return nomem(v);
	}
	return 0;
}

/* --- keys --- */

/* verify_sig - the signature of s with the key k (RSA: bits checked) */
static void
verify_sig(struct dkim_vsig *s, const struct dkim_key *k)
{
	EVP_PKEY_CTX *pc = NULL;
	EVP_MD_CTX *mc = NULL;
	int ok = 0;

	if (k->type == DKIM_RSA_SHA256) {
		if (EVP_PKEY_get_bits(k->pkey) < 1024) {
			sig_final(s, DKIM_RES_POLICY, "RSA key shorter than 1024 bits");
			return;
		}
		ok = (pc = EVP_PKEY_CTX_new(k->pkey, NULL)) != NULL &&
		    EVP_PKEY_verify_init(pc) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pc, s->sig, s->siglen, s->hd, sizeof(s->hd)) == 1;
	} else {
		/* RFC 8463 3: Ed25519 (pure) over the SHA-256 header hash */
		ok = (mc = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestVerifyInit(mc, NULL, NULL, NULL, k->pkey) == 1 &&
		    EVP_DigestVerify(mc, s->sig, s->siglen, s->hd, sizeof(s->hd)) == 1;
	}
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(mc);
	if (ok)
		sig_final(s, DKIM_RES_PASS, "signature verified");
	else
		sig_final(s, DKIM_RES_FAIL, "signature did not verify");
}

/* key_fits - whether key k may verify s (RFC 6376 3.6.1, 6.1.2) */
static bool
key_fits(struct dkim_vsig *s, const struct dkim_key *k)
{
	if (k->type != s->alg)
		sig_final(s, DKIM_RES_PERMERROR, "key type does not match a=");
	else if (!k->sha256)
		sig_final(s, DKIM_RES_PERMERROR, "hash not allowed by key (h=)");
	else if (k->strict && !s->auid_is_d)
		sig_final(s, DKIM_RES_PERMERROR, "i= in a subdomain of d= (key t=s)");
	else
		return true;
	return false;
}

void
dkim_verify_set_key(struct dkim_verify *v, size_t i, enum dkim_key_answer a,
    const char *const *txt, const size_t *txtlen, size_t ntxt)
{
	struct dkim_vsig *s;
	struct dkim_key k;
	const char *why = "no key record";
	size_t j;

	if (i >= v->nsigs || v->sigs[i].final || !v->ended || v->nomem)
		return;
	s = &v->sigs[i];
	if (a == DKIM_KEY_TEMPFAIL) {
		sig_final(s, DKIM_RES_TEMPERROR, "key lookup failed");
		return;
	}
	for (j = 0; a == DKIM_KEY_FOUND && j < ntxt; j++) {
		if (dkim_key_parse_cached(txt[j], txtlen[j], &k, j == 0 ? &why :
		    &(const char *){ NULL }) != DKIM_RES_PASS)
			continue;
		s->r.testing = k.testing;
		if (key_fits(s, &k))
			verify_sig(s, &k);
		EVP_PKEY_free(k.pkey);
		return;
	}
	sig_final(s, DKIM_RES_PERMERROR, why);
}

const char *
dkim_verify_key_name(const struct dkim_verify *v, size_t i)
{
	if (!v->ended || v->nomem || i >= v->nsigs || v->sigs[i].final)
		return NULL;
	return v->sigs[i].keyname;
}

size_t
dkim_verify_results(const struct dkim_verify *cv, const struct dkim_vres **res_r)
{
	struct dkim_verify *v = (struct dkim_verify *)cv;	/* cache only */
	size_t i, n;

	*res_r = NULL;
	n = v->overflow ? 1 : v->nsigs;
	if (n == 0)
		return 0;
	if (v->res == NULL && (v->res = calloc(n, sizeof(*v->res))) == NULL) {
		static const struct dkim_vres oom = {
			.result = DKIM_RES_TEMPERROR, .reason = "out of memory",
		};
		*res_r = &oom;
		return 1;
	}
	if (v->overflow) {
		v->res[0].result = DKIM_RES_PERMERROR;
		v->res[0].reason = "header too large";
	}
	for (i = 0; i < v->nsigs && !v->overflow; i++) {
		v->res[i] = v->sigs[i].r;
		if (v->nomem)
			v->res[i].result = DKIM_RES_TEMPERROR, v->res[i].reason = "out of memory";
		else if (!v->sigs[i].final)
			v->res[i].result = DKIM_RES_TEMPERROR, v->res[i].reason = "key not fetched";
	}
	*res_r = v->res;
	return n;
}

bool
dkim_verify_from_domain(const struct dkim_verify *v, char *out, size_t outsz)
{
	if (!v->started || v->overflow)
		return false;
	return dkim_hdrs_from_domain(&v->h, out, outsz);
}

size_t
dkim_verify_from_count(const struct dkim_verify *v)
{
	size_t i, n = 0;

	if (!v->started || v->overflow)
		return 0;
	for (i = 0; i < v->h.nfields; i++)
		if (dkim_hdrs_is(&v->h, &v->h.fields[i], "From", 4))
			n++;
	return n;
}

const char *
dkim_res_name(enum dkim_res r)
{
	switch (r) {
	case DKIM_RES_PASS:
		return "pass";
	case DKIM_RES_FAIL:
		return "fail";
	case DKIM_RES_NEUTRAL:
		return "neutral";
	case DKIM_RES_POLICY:
		return "policy";
	case DKIM_RES_TEMPERROR:
		return "temperror";
	case DKIM_RES_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

/* --- the parsers alone (tests, fuzzer) --- */

enum dkim_res
dkim_sig_check(const char *field, size_t n, time_t now, struct dkim_vres *r)
{
	struct dkim_vsig s;
	enum dkim_res res;

	res = dkim_vsig_parse(&s, field, n, now);
	dkim_vsig_clear(&s);
	*r = s.r;
	if (res == DKIM_RES_PASS)
		r->reason = "usable";
	r->result = res;
	return res;
}

enum dkim_res
dkim_key_check(const char *txt, size_t n, const char *alg_name,
    unsigned *bits_r, bool *testing_r, const char **reason_r)
{
	struct dkim_key k;
	enum dkim_res r;

	*bits_r = 0;
	*testing_r = false;
	if ((r = dkim_key_parse(txt, n, &k, reason_r)) != DKIM_RES_PASS)
		return r;
	*bits_r = (unsigned)EVP_PKEY_get_bits(k.pkey);
	*testing_r = k.testing;
	*reason_r = "usable";
	if (strcmp(alg_name, dkim_alg_name(k.type)) != 0) {
		*reason_r = "key type does not match a=";
		r = DKIM_RES_PERMERROR;
	} else if (!k.sha256) {
		*reason_r = "hash not allowed by key (h=)";
		r = DKIM_RES_PERMERROR;
	} else if (k.type == DKIM_RSA_SHA256 && *bits_r < 1024) {
		*reason_r = "RSA key shorter than 1024 bits";
		r = DKIM_RES_POLICY;
	}
	EVP_PKEY_free(k.pkey);
	return r;
}
