/* SPDX-License-Identifier: ISC */
/*
 * dkim_verify.h - DKIM signature verification (RFC 6376, RFC 8463 for
 * ed25519-sha256, RFC 8301 for what is no longer a pass), streamed.
 *
 * How smtpd uses it (one verifier per message, fed from the same stream
 * as the queue write):
 *
 *	struct dkim_verify *v = dkim_verify_new(0, 0, time(NULL));
 *	dkim_verify_feed(v, p, n);		as often as needed, any split
 *	dkim_verify_end(v);			after the final dot
 *	dkim_verify_start_lookups(v, cb, arg);	cb(arg, v) runs once, from
 *						the event loop, when every
 *						key is in
 *	n = dkim_verify_results(v, &res);	res[0..n): one per signature
 *	dkim_verify_free(&v);			also cancels lookups under way
 *
 * feed and end return 0, or -1 when out of memory (then the results say
 * temperror).  A message whose header block passes header_max gets one
 * result, permerror "header too large", with an empty domain.
 *
 * What is verified: the first max_sigs DKIM-Signature fields from the top
 * (default 5); the rest are not reported.  The body is canonicalized and
 * hashed while it streams in: one hasher per distinct (c= body, a= hash,
 * l=) combination, so memory per message is the header block (bounded by
 * header_max) plus at most max_sigs hashers of ~4.3 KiB.  At the end each
 * header hash is computed; the key records (`s._domainkey.d` TXT) are
 * fetched through lib/dns by dkim_verify_start_lookups(), or given by the
 * caller to dkim_verify_set_key() (tests, tools: the pure part).
 *
 * Results (RFC 8601 2.7.1), with a fixed reason string:
 *   pass       the signature verified with an acceptable key
 *   fail       the signature or the body hash did not verify, the
 *              signature expired (x=), the body is shorter than l=
 *   policy     verified maybe, but not acceptable: a=rsa-sha1 (RFC 8301:
 *              never a pass; we do not even compute it) and RSA keys
 *              shorter than 1024 bits (RFC 8301 3.2)
 *   permerror  malformed or unusable signature or key record, missing
 *              tag, unknown algorithm or canonicalization, i= outside d=,
 *              From not signed, no key record (NXDOMAIN/no TXT), key
 *              revoked (empty p=: RFC 6376 3.6.1 calls it a failed check
 *              with PERMFAIL; no verification is possible, so permerror),
 *              key type or hash not allowed by the key (k=, h=), key not
 *              for email (s=), t=s key with i= in a subdomain, t= more
 *              than 5 minutes in the future, x= before t=
 *   temperror  the key could not be fetched (DNS error or timeout), or
 *              out of memory
 *   neutral    not produced (kept for the A-R vocabulary)
 * A key in testing mode (t=y) changes no result; the result says
 * `testing` so the Authentication-Results header can mention it.
 *
 * Line ends: CRLF or bare LF (the queue stores LF), hashed as CRLF, as in
 * lib/dkim.h.  Pure except dkim_verify_start_lookups() (lib/dns, event
 * loop).  Never aborts on input; allocates only in new, at the end of the
 * header block, and in end.
 */
#ifndef FACTEUR_DKIM_VERIFY_H
#define FACTEUR_DKIM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define DKIM_VERIFY_MAX_SIGS_DEFAULT	5
#define DKIM_VERIFY_SKEW		300	/* seconds a t= may be ahead */

enum dkim_res {
	DKIM_RES_PASS,
	DKIM_RES_FAIL,
	DKIM_RES_NEUTRAL,
	DKIM_RES_POLICY,
	DKIM_RES_TEMPERROR,
	DKIM_RES_PERMERROR,
};

/* one signature's outcome; strings are NUL-terminated, "" when absent */
struct dkim_vres {
	enum dkim_res	 result;
	const char	*reason;	/* static, e.g. "body hash mismatch" */
	char		 domain[254];	/* d=, lower-cased (header.d) */
	char		 selector[254];	/* s= (header.s) */
	char		 alg[24];	/* a= as written (header.a) */
	char		 b8[9];		/* first 8 characters of b= (header.b, RFC 6008) */
	char		 auid[320];	/* i= as written, or "@d" (header.i) */
	bool		 testing;	/* key record t=y */
	bool		 has_l;		/* l= given */
	uint64_t	 l;
	bool		 beyond_l;	/* the body has bytes l= does not cover */
};

struct dkim_verify;

/*
 * dkim_verify_new - a verifier for one message.  header_max bounds the
 * header block kept (0 = DKIM_HEADER_MAX_DEFAULT of lib/dkim.h), max_sigs
 * the signatures verified (0 = DKIM_VERIFY_MAX_SIGS_DEFAULT), now is the
 * time x= and t= are checked against.  NULL when out of memory.
 */
struct dkim_verify *dkim_verify_new(size_t header_max, size_t max_sigs,
		    time_t now);
int		 dkim_verify_feed(struct dkim_verify *v, const void *p, size_t n);
int		 dkim_verify_end(struct dkim_verify *v);
void		 dkim_verify_free(struct dkim_verify **vp);

/*
 * dkim_verify_results - after end: the signatures (n returned, *res_r
 * points into v, valid until free).  Results of signatures whose keys are
 * still awaited say temperror "key not fetched".
 */
size_t		 dkim_verify_results(const struct dkim_verify *v,
		    const struct dkim_vres **res_r);

/* dkim_verify_from_domain - the lower-cased From domain (for DMARC); false if none */
bool		 dkim_verify_from_domain(const struct dkim_verify *v, char *out,
		    size_t outsz);
/* dkim_verify_from_count - how many From fields the header has */
size_t		 dkim_verify_from_count(const struct dkim_verify *v);

/*
 * The DNS part.  dkim_verify_start_lookups - after end: fetch the key of
 * every signature that needs one (one query per distinct name) through
 * lib/dns (its cache, its resolver: dns_init() or a test backend);
 * cb(arg, v) is called exactly once when all are in, always from the
 * event loop (never from inside this call, even when nothing is to be
 * fetched).  -1 (cb never called) when called twice or out of memory.
 * dkim_verify_free() cancels what is under way, without calling cb.
 */
typedef void	 dkim_verify_cb(void *arg, struct dkim_verify *v);
int		 dkim_verify_start_lookups(struct dkim_verify *v,
		    dkim_verify_cb *cb, void *arg);

/*
 * The pure part.  dkim_verify_key_name - after end: the TXT name to fetch
 * for signature i ("s._domainkey.d"), or NULL when its result is already
 * final.  dkim_verify_set_key - the answer: DKIM_KEY_FOUND with the TXT
 * records (each the concatenation of its strings), DKIM_KEY_NONE for
 * NXDOMAIN or no TXT, DKIM_KEY_TEMPFAIL for a DNS failure; decides the
 * result of signature i.  With several records the first that parses as
 * a key is used.
 */
enum dkim_key_answer {
	DKIM_KEY_FOUND,
	DKIM_KEY_NONE,
	DKIM_KEY_TEMPFAIL,
};
const char	*dkim_verify_key_name(const struct dkim_verify *v, size_t i);
void		 dkim_verify_set_key(struct dkim_verify *v, size_t i,
		    enum dkim_key_answer a, const char *const *txt,
		    const size_t *txtlen, size_t ntxt);

/*
 * dkim_verify_cache_flush - forget the decoded keys kept per process (the
 * last 32 keys used, by record text: decoding an RSA key costs more than
 * verifying with it).  For tests and leak checks; never needed otherwise.
 */
void		 dkim_verify_cache_flush(void);

/* dkim_res_name - "pass", "fail", ... as in Authentication-Results */
const char	*dkim_res_name(enum dkim_res r);

/*
 * Parsers, exposed for tests and the fuzzer.
 * dkim_key_check - parse a key record strictly (RFC 6376 3.6.1, RFC 8463
 * 4.2) and say whether it may verify a signature of algorithm alg_name
 * ("rsa-sha256", "ed25519-sha256"): DKIM_RES_PASS if it may, otherwise
 * the result and *reason_r.  *bits_r gets the key size (RSA) or 256.
 */
enum dkim_res	 dkim_key_check(const char *txt, size_t n, const char *alg_name,
		    unsigned *bits_r, bool *testing_r, const char **reason_r);
/*
 * dkim_sig_check - parse one DKIM-Signature field (name, ':', value as in
 * the message) checked against time now; fills r (d=, s=, a=, b8, i=, l=)
 * and returns DKIM_RES_PASS when the field is usable, otherwise the
 * result the signature gets and r->reason.
 */
enum dkim_res	 dkim_sig_check(const char *field, size_t n, time_t now,
		    struct dkim_vres *r);

#endif
