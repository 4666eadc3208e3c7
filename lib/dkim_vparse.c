/* SPDX-License-Identifier: ISC */
/*
 * dkim_vparse.c - parse a DKIM-Signature field (RFC 6376 3.5, 6.1.1) and a
 * DKIM key record (3.6.1, RFC 8463 4.2), strictly: a tag-list syntax
 * error, a repeated tag, a missing required tag or a bad value is a
 * permerror; unknown tags are ignored.  Pure (OpenSSL only decodes keys);
 * runs wherever the verifier runs, on untrusted bytes; fuzzed by
 * tests/fuzz/fuzz_dkim_verify.c.
 *
 * Decoded keys are cached per process (KEY_CACHE entries, least recently
 * used go, keyed by the exact record text): under OpenSSL 3, decoding an
 * RSA-2048 key (d2i_PUBKEY, ~90 us) costs five times verifying with it,
 * and the same few keys sign most mail.  Only keys that parsed are kept;
 * the process is single-threaded.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base64.h"
#include "dkim_vsig.h"
#include "taglist.h"

#define MAX_TAGS	32
#define KEY_CACHE	32	/* decoded keys kept */
#define KEY_CACHE_TXT	2048	/* longer records are not kept */

/* copy_val - the value of t (NUL-terminated, truncated) into out */
static void
copy_val(const struct tag *t, char *out, size_t outsz)
{
	size_t n = t->vlen < outsz - 1 ? t->vlen : outsz - 1;

	memcpy(out, t->val, n);
	out[n] = '\0';
}

/* b64_tag - base64 value of t without FWS, strictly decoded into out */
static bool
b64_tag(const struct tag *t, unsigned char *out, size_t outsz, size_t *len_r)
{
	char tmp[DKIM_SIG_MAX * 4 / 3 + 8];

	if (!taglist_strip(t, tmp, sizeof(tmp)) || tmp[0] == '\0')
		return false;
	return base64_decode(tmp, strlen(tmp), out, outsz, len_r) == 0;
}

/* digits - a decimal number of at most 18 digits (l=, t=, x=) */
static bool
digits(const struct tag *t, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	if (t->vlen == 0 || t->vlen > 18)
		return false;
	for (i = 0; i < t->vlen; i++) {
		if (!isdigit((unsigned char)t->val[i]))
			return false;
		v = v * 10 + (uint64_t)(t->val[i] - '0');
	}
	*v_r = v;
	return true;
}

/* list_has - whether the colon-separated list (FWS allowed) holds word */
static bool
list_has(const struct tag *t, const char *word, bool nocase)
{
	char tmp[1024], *p, *q;

	if (!taglist_strip(t, tmp, sizeof(tmp)))
		return false;
	for (p = tmp; p != NULL; p = q) {
		if ((q = strchr(p, ':')) != NULL)
			*q++ = '\0';
		if (nocase ? strcasecmp(p, word) == 0 : strcmp(p, word) == 0)
			return true;
	}
	return false;
}

static enum dkim_res
bad(struct dkim_vsig *s, enum dkim_res r, const char *why)
{
	s->r.reason = why;
	return r;
}

/* parse_canon - c= "header[/body]" (3.5: body defaults to simple) */
static bool
parse_canon(const struct tag *t, struct dkim_vsig *s)
{
	char tmp[32], *slash;

	if (t == NULL) {
		s->hc = s->bc = DKIM_CANON_SIMPLE;
		return true;
	}
	if (t->vlen >= sizeof(tmp))
		return false;
	copy_val(t, tmp, sizeof(tmp));
	if ((slash = strchr(tmp, '/')) != NULL)
		*slash++ = '\0';
	if (strcmp(tmp, "simple") == 0)
		s->hc = DKIM_CANON_SIMPLE;
	else if (strcmp(tmp, "relaxed") == 0)
		s->hc = DKIM_CANON_RELAXED;
	else
		return false;
	if (slash == NULL || strcmp(slash, "simple") == 0)
		s->bc = DKIM_CANON_SIMPLE;
	else if (strcmp(slash, "relaxed") == 0)
		s->bc = DKIM_CANON_RELAXED;
	else
		return false;
	return true;
}

/* parse_auid - i= (default "@d"): its domain must be d= or below (6.1.1) */
static bool
parse_auid(const struct tag *t, struct dkim_vsig *s)
{
	const char *at, *dom = s->r.domain;
	size_t alen, dlen = strlen(dom);

	if (t == NULL) {
		snprintf(s->r.auid, sizeof(s->r.auid), "@%s", dom);
		s->auid_is_d = true;
		return true;
	}
	if (t->vlen >= sizeof(s->r.auid))
		return false;
	copy_val(t, s->r.auid, sizeof(s->r.auid));
	if ((at = strrchr(s->r.auid, '@')) == NULL)
		return false;
	at++;
	alen = strlen(at);
	if (alen == dlen && strcasecmp(at, dom) == 0) {
		s->auid_is_d = true;
		return true;
	}
	return alen > dlen && at[alen - dlen - 1] == '.' &&
	    strcasecmp(at + alen - dlen, dom) == 0;
}

/* parse_h - h= without FWS; From must be in it (5.4) */
static bool
parse_h(const struct tag *t, struct dkim_vsig *s, const char **why)
{
	char *p, *q;
	size_t count = 0;
	bool from = false;

	*why = "bad h= tag";
	if ((s->h = malloc(t->vlen + 1)) == NULL) {
		*why = "out of memory";
		return false;
	}
	if (!taglist_strip(t, s->h, t->vlen + 1) || s->h[0] == '\0')
		return false;
	for (p = s->h; p != NULL; p = q) {
		if ((q = strchr(p, ':')) != NULL)
			q++;
		if ((q ? (size_t)(q - 1 - p) : strlen(p)) == 0)
			return false;	/* empty field name */
		if (strncasecmp(p, "from", 4) == 0 && (p[4] == ':' || p[4] == '\0'))
			from = true;
		if (++count > DKIM_H_MAX) {
			*why = "too many fields in h=";
			return false;
		}
	}
	if (!from)
		*why = "From field not signed";
	return from;
}

/* parse_alg - a=; rsa-sha1 is a known algorithm but never a pass */
static enum dkim_res
parse_alg(const struct tag *t, struct dkim_vsig *s)
{
	copy_val(t, s->r.alg, sizeof(s->r.alg));
	if (taglist_is(t, "rsa-sha256", false))
		s->alg = DKIM_RSA_SHA256;
	else if (taglist_is(t, "ed25519-sha256", false))
		s->alg = DKIM_ED25519_SHA256;
	else if (taglist_is(t, "rsa-sha1", false))
		return bad(s, DKIM_RES_POLICY, "rsa-sha1 is not accepted (RFC 8301)");
	else
		return bad(s, DKIM_RES_PERMERROR, "unknown algorithm");
	return DKIM_RES_PASS;
}

/* parse_times - t= and x= against now (6.1.1, 3.5) */
static enum dkim_res
parse_times(const struct tag *t, const struct tag *x, struct dkim_vsig *s,
    time_t now)
{
	uint64_t tv = 0, xv = 0;

	if (t != NULL && !digits(t, &tv))
		return bad(s, DKIM_RES_PERMERROR, "bad t= tag");
	if (x != NULL && !digits(x, &xv))
		return bad(s, DKIM_RES_PERMERROR, "bad x= tag");
	if (t != NULL && now >= 0 && tv > (uint64_t)now + DKIM_VERIFY_SKEW)
		return bad(s, DKIM_RES_PERMERROR, "signature timestamp in the future");
	if (t != NULL && x != NULL && xv < tv)
		return bad(s, DKIM_RES_PERMERROR, "x= before t=");
	if (x != NULL && now >= 0 && xv < (uint64_t)now)
		return bad(s, DKIM_RES_FAIL, "signature expired");
	return DKIM_RES_PASS;
}

/* parse_ids - d=, s=, i=, and the key name */
static enum dkim_res
parse_ids(const struct tag *d, const struct tag *sel, const struct tag *i,
    struct dkim_vsig *s)
{
	size_t k;

	if (d->vlen >= sizeof(s->r.domain) || sel->vlen >= sizeof(s->r.selector))
		return bad(s, DKIM_RES_PERMERROR, "d= or s= too long");
	copy_val(d, s->r.domain, sizeof(s->r.domain));
	copy_val(sel, s->r.selector, sizeof(s->r.selector));
	for (k = 0; s->r.domain[k]; k++)
		s->r.domain[k] = (char)tolower((unsigned char)s->r.domain[k]);
	if (!dkim_name_ok(s->r.domain))
		return bad(s, DKIM_RES_PERMERROR, "bad d= tag");
	if (!dkim_name_ok(s->r.selector))
		return bad(s, DKIM_RES_PERMERROR, "bad s= tag");
	if (!parse_auid(i, s))
		return bad(s, DKIM_RES_PERMERROR, "i= not within d=");
	snprintf(s->keyname, sizeof(s->keyname), "%s._domainkey.%s",
	    s->r.selector, s->r.domain);
	return DKIM_RES_PASS;
}

static enum dkim_res
parse_tags(struct dkim_vsig *s, const struct tag *tags, size_t nt, time_t now)
{
	const struct tag *v, *a, *b, *bh, *d, *h, *sel, *t;
	char tmp[DKIM_SIG_MAX * 4 / 3 + 8];
	const char *why;
	enum dkim_res r;
	uint64_t l;

	v = taglist_find(tags, nt, "v", false);
	a = taglist_find(tags, nt, "a", false);
	b = taglist_find(tags, nt, "b", false);
	bh = taglist_find(tags, nt, "bh", false);
	d = taglist_find(tags, nt, "d", false);
	h = taglist_find(tags, nt, "h", false);
	sel = taglist_find(tags, nt, "s", false);
	if (d != NULL && sel != NULL &&
	    (r = parse_ids(d, sel, taglist_find(tags, nt, "i", false), s)) !=
	    DKIM_RES_PASS)
		return r;
	if (a != NULL && (r = parse_alg(a, s)) != DKIM_RES_PASS)
		return r;
	if (b != NULL && taglist_strip(b, tmp, sizeof(tmp)))
		snprintf(s->r.b8, sizeof(s->r.b8), "%.8s", tmp);
	if (v == NULL || a == NULL || b == NULL || bh == NULL || d == NULL ||
	    h == NULL || sel == NULL)
		return bad(s, DKIM_RES_PERMERROR, "required tag missing");
	if (!taglist_is(v, "1", false))
		return bad(s, DKIM_RES_PERMERROR, "unknown signature version");
	if (!parse_canon(taglist_find(tags, nt, "c", false), s))
		return bad(s, DKIM_RES_PERMERROR, "unknown canonicalization");
	if ((t = taglist_find(tags, nt, "q", false)) != NULL &&
	    !list_has(t, "dns/txt", false))
		return bad(s, DKIM_RES_PERMERROR, "unknown query method");
	if ((t = taglist_find(tags, nt, "l", false)) != NULL) {
		if (!digits(t, &l))
			return bad(s, DKIM_RES_PERMERROR, "bad l= tag");
		s->r.has_l = true;
		s->r.l = l;
	}
	if ((r = parse_times(taglist_find(tags, nt, "t", false),
	    taglist_find(tags, nt, "x", false), s, now)) != DKIM_RES_PASS)
		return r;
	if (!b64_tag(bh, s->bh, sizeof(s->bh), &s->bhlen))
		return bad(s, DKIM_RES_PERMERROR, "bad bh= tag");
	if (!b64_tag(b, s->sig, sizeof(s->sig), &s->siglen))
		return bad(s, DKIM_RES_PERMERROR, "bad b= tag");
	if (!parse_h(h, s, &why))
		return bad(s, DKIM_RES_PERMERROR, why);
	s->bstart = b->eq_end;
	s->bend = b->spec_end;
	return DKIM_RES_PASS;
}

enum dkim_res
dkim_vsig_parse(struct dkim_vsig *s, const char *field, size_t n, time_t now)
{
	struct tag tags[MAX_TAGS];
	const char *colon;
	size_t nt, off;
	enum taglist_res tr;
	enum dkim_res r;

	memset(s, 0, sizeof(*s));
	if ((colon = memchr(field, ':', n)) == NULL)
		return bad(s, DKIM_RES_PERMERROR, "not a header field");
	off = (size_t)(colon + 1 - field);
	tr = taglist_parse(field + off, n - off, tags, MAX_TAGS, &nt, false);
	if (tr == TAGLIST_DUP)
		return bad(s, DKIM_RES_PERMERROR, "tag repeated in signature");
	if (tr != TAGLIST_OK)
		return bad(s, DKIM_RES_PERMERROR, "signature syntax error");
	r = parse_tags(s, tags, nt, now);
	if (r != DKIM_RES_PASS) {
		free(s->h);
		s->h = NULL;
		return r;
	}
	s->bstart += off;
	s->bend += off;
	return DKIM_RES_PASS;
}

void
dkim_vsig_clear(struct dkim_vsig *s)
{
	free(s->h);
	s->h = NULL;
}

/* --- key records --- */

static enum dkim_res
kbad(const char **reason_r, const char *why)
{
	*reason_r = why;
	return DKIM_RES_PERMERROR;
}

/* key_decode - p= (already known non-empty) into an EVP_PKEY */
static EVP_PKEY *
key_decode(const struct tag *p, enum dkim_alg type)
{
	char tmp[8192];
	unsigned char der[6144];
	const unsigned char *q = der;
	size_t len;
	EVP_PKEY *pk;

	if (!taglist_strip(p, tmp, sizeof(tmp)) ||
	    base64_decode(tmp, strlen(tmp), der, sizeof(der), &len) == -1)
		return NULL;
	if (type == DKIM_ED25519_SHA256)
		return len == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
		    NULL, der, len) : NULL;
	/* RFC 6376 3.6.1: SubjectPublicKeyInfo; some publish a bare
	 * RSAPublicKey (PKCS#1), which other verifiers accept too */
	if ((pk = d2i_PUBKEY(NULL, &q, (long)len)) == NULL) {
		q = der;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
	}
	if (pk != NULL && (q != der + len || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

enum dkim_res
dkim_key_parse(const char *txt, size_t n, struct dkim_key *k,
    const char **reason_r)
{
	struct tag tags[MAX_TAGS];
	const struct tag *t, *p;
	size_t nt;
	enum taglist_res tr;

	memset(k, 0, sizeof(*k));
	k->type = DKIM_RSA_SHA256;
	k->sha256 = true;
	tr = taglist_parse(txt, n, tags, MAX_TAGS, &nt, false);
	if (tr != TAGLIST_OK)
		return kbad(reason_r, tr == TAGLIST_DUP ? "tag repeated in key record" :
		    "key record syntax error");
	/* v= is optional, but if present it is first and DKIM1 (3.6.1) */
	if ((t = taglist_find(tags, nt, "v", false)) != NULL &&
	    (t != &tags[0] || !taglist_is(t, "DKIM1", false)))
		return kbad(reason_r, "bad key record version");
	if ((t = taglist_find(tags, nt, "k", false)) != NULL) {
		if (taglist_is(t, "ed25519", false))
			k->type = DKIM_ED25519_SHA256;
		else if (!taglist_is(t, "rsa", false))
			return kbad(reason_r, "unknown key type");
	}
	if ((t = taglist_find(tags, nt, "h", false)) != NULL)
		k->sha256 = list_has(t, "sha256", false);
	if ((t = taglist_find(tags, nt, "s", false)) != NULL &&
	    !list_has(t, "*", false) && !list_has(t, "email", false))
		return kbad(reason_r, "key not for email (s=)");
	if ((t = taglist_find(tags, nt, "t", false)) != NULL) {
		k->testing = list_has(t, "y", false);
		k->strict = list_has(t, "s", false);
	}
	if ((p = taglist_find(tags, nt, "p", false)) == NULL)
		return kbad(reason_r, "key record without p=");
	if (p->vlen == 0)
		return kbad(reason_r, "key revoked");
	if ((k->pkey = key_decode(p, k->type)) == NULL)
		return kbad(reason_r, "bad key data");
	return DKIM_RES_PASS;
}

/* --- the cache of decoded keys --- */

static struct {
	char		*txt;
	size_t		 len;
	struct dkim_key	 k;
	unsigned long	 used;
} kcache[KEY_CACHE];
static unsigned long kclock;

enum dkim_res
dkim_key_parse_cached(const char *txt, size_t n, struct dkim_key *k,
    const char **reason_r)
{
	enum dkim_res r;
	size_t i, lru = 0;

	for (i = 0; i < KEY_CACHE; i++) {
		if (kcache[i].txt != NULL && kcache[i].len == n &&
		    memcmp(kcache[i].txt, txt, n) == 0 &&
		    EVP_PKEY_up_ref(kcache[i].k.pkey) == 1) {
			*k = kcache[i].k;
			kcache[i].used = ++kclock;
			return DKIM_RES_PASS;
		}
		if (kcache[i].used < kcache[lru].used)
			lru = i;
	}
	if ((r = dkim_key_parse(txt, n, k, reason_r)) != DKIM_RES_PASS ||
	    n > KEY_CACHE_TXT)
		return r;
	free(kcache[lru].txt);
	EVP_PKEY_free(kcache[lru].k.pkey);
	memset(&kcache[lru], 0, sizeof(kcache[lru]));
	if ((kcache[lru].txt = malloc(n ? n : 1)) == NULL ||
	    EVP_PKEY_up_ref(k->pkey) != 1) {
		free(kcache[lru].txt);
		kcache[lru].txt = NULL;
		return r;
	}
	memcpy(kcache[lru].txt, txt, n);
	kcache[lru].len = n;
	kcache[lru].k = *k;
	kcache[lru].used = ++kclock;
	return r;
}

void
dkim_verify_cache_flush(void)
{
	size_t i;

	for (i = 0; i < KEY_CACHE; i++) {
		free(kcache[i].txt);
		EVP_PKEY_free(kcache[i].k.pkey);
		memset(&kcache[i], 0, sizeof(kcache[i]));
	}
}
