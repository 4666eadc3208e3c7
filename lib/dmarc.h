/* SPDX-License-Identifier: ISC */
/*
 * dmarc.h - DMARC (RFC 7489): record parsing, policy discovery through
 * lib/dns, alignment and the policy to apply.
 *
 * How smtpd uses it, once SPF and DKIM are known for a message:
 *
 *	struct dmarc_input in = {
 *		.from_domain = "example.org",	   the RFC5322.From domain
 *		.spf_pass = spf result == SPF_PASS,
 *		.spf_domain = "bounces.example.org", the domain SPF checked
 *		.dkim_domains = d, .ndkim = n,	   d= of PASSING signatures
 *		.sample = dmarc_sample(msgid, len),  0..99, for pct=
 *	};
 *	h = dmarc_check_start(psl, &in, on_dmarc, arg);
 *	static void on_dmarc(void *arg, const struct dmarc_result *r) {
 *		r->result: pass/fail/none/temperror/permerror
 *		r->policy: what to do: DMARC_POLICY_NONE, _QUARANTINE, _REJECT
 *		Authentication-Results: dmarc=<dmarc_res_name(r->result)>
 *		    header.from=<r->from_domain>
 *	}
 *	dmarc_check_cancel(h);		instead, if the message goes away
 *
 * The input is copied; the callback is called exactly once from the event
 * loop (never from inside dmarc_check_start()) unless cancelled; the
 * result is valid during the callback only.
 *
 * Discovery (RFC 7489 6.6.3): TXT at _dmarc.<From domain>; records not
 * starting with v=DMARC1 are dropped; when none is left (or NXDOMAIN /
 * NODATA), TXT at _dmarc.<organizational domain> (lib/psl.h), whose sp=
 * then applies (p= when there is no sp=).  np= (RFC 9091) is parsed, not
 * applied: that needs a lookup of the From domain itself.
 *
 * Alignment (3.1): DKIM with the d= of any passing signature, SPF with the
 * domain SPF checked, only when SPF passed; strict (adkim/aspf=s) needs
 * the same name, relaxed the same organizational domain.  The result says
 * whether each aligned whatever the outcome; without a usable record (none,
 * temperror, permerror) in relaxed mode, for local rules such as refusing
 * unaligned mail that claims one of our own domains.
 *
 * Results: pass (one aligned identifier); fail (none; r->policy is the
 * policy to apply); none (no record, or no DMARC processing because the
 * record's p= or sp= is invalid and there is no valid rua=: 6.6.3 step 6;
 * reason says which); permerror (several DMARC records at one name: 6.6.3
 * step 3 says apply no DMARC, so the policy is none; or no usable From
 * domain); temperror (a DNS failure during discovery; policy none, the
 * caller decides between 451 and marking).
 *
 * Records (6.3), leniently, as receivers do: v=DMARC1 must come first
 * (case-sensitive value); tags are split at ';' and '=' with WSP trimmed,
 * names case-insensitive, unknown tags and parts without '=' ignored, the
 * first of a repeated tag counts; p/sp values case-insensitive; an invalid
 * adkim, aspf, pct, fo, rf or ri is ignored (the default applies); an
 * invalid or missing p, or an invalid sp, makes the record p=none when rua
 * holds a valid URI, else unusable (none, above).  rua, ruf, fo, rf and ri
 * are parsed and ignored: facteur sends no reports.
 *
 * pct (6.6.4): a failing message gets the policy when sample < pct, else
 * the next milder one (reject -> quarantine -> none).  Sampling must not
 * be random here: a retried message would meet a different fate and tests
 * could not repeat.  The caller passes sample = dmarc_sample() of
 * something that identifies the message (its Message-ID, else the queue
 * id): the same message always gets the same decision, and over many
 * messages pct% are selected.
 */
#ifndef FACTEUR_DMARC_H
#define FACTEUR_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#define DMARC_NAME_MAX		253
#define DMARC_RECORD_MAX	512	/* record text kept in results */

struct psl;

enum dmarc_policy {
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

enum dmarc_res {
	DMARC_RES_NONE,
	DMARC_RES_PASS,
	DMARC_RES_FAIL,
	DMARC_RES_TEMPERROR,
	DMARC_RES_PERMERROR,
};

struct dmarc_record {
	enum dmarc_policy p, sp, np;	/* sp defaults to p, np to sp */
	bool		 has_sp, has_np;
	bool		 adkim_strict, aspf_strict;
	unsigned	 pct;		/* 0-100 */
	bool		 has_rua;	/* a valid reporting URI (ignored) */
	bool		 p_repaired;	/* p= or sp= invalid, taken as p=none */
};

enum dmarc_parse {
	DMARC_REC_OK,
	DMARC_REC_NOT_DMARC,	/* does not start with v=DMARC1: not a record */
	DMARC_REC_UNUSABLE,	/* p= or sp= invalid and no valid rua= */
};

/* dmarc_record_parse - one TXT record; *why_r explains non-OK results */
enum dmarc_parse dmarc_record_parse(const char *txt, size_t n,
		    struct dmarc_record *r, const char **why_r);

struct dmarc_input {
	const char	*from_domain;
	bool		 spf_pass;
	const char	*spf_domain;	/* MAIL FROM domain (HELO for <>) */
	const char *const *dkim_domains;	/* d= of passing signatures */
	size_t		 ndkim;
	unsigned	 sample;	/* 0-99, see pct above */
};

struct dmarc_result {
	enum dmarc_res	 result;
	enum dmarc_policy policy;	/* to apply (pct done); none unless fail */
	enum dmarc_policy requested;	/* p, or sp at the org domain */
	bool		 has_record;
	bool		 at_org;	/* record found at the org domain */
	bool		 spf_aligned, dkim_aligned;
	bool		 sampled_out;	/* pct made the policy milder */
	struct dmarc_record rec;
	const char	*reason;	/* static */
	char		 from_domain[DMARC_NAME_MAX + 1];
	char		 org_domain[DMARC_NAME_MAX + 1];
	char		 record_domain[DMARC_NAME_MAX + 8];	/* _dmarc.x */
	char		 record[DMARC_RECORD_MAX];	/* as published, cut */
};

/*
 * The pure part.  dmarc_choose - from the TXT records at one _dmarc name,
 * the DMARC record: DMARC_REC_OK with *rec_r (and its index in *idx_r),
 * DMARC_REC_NOT_DMARC when there is none (look further), or
 * DMARC_REC_UNUSABLE with *why_r (several records, or an unusable one).
 */
enum dmarc_parse dmarc_choose(const char *const *txt, const size_t *len,
		    size_t n, struct dmarc_record *rec_r, size_t *idx_r,
		    const char **why_r);
/*
 * dmarc_evaluate - the result for in given what discovery found: rec NULL
 * for no record; at_org when it came from the organizational domain.
 * Fills out completely (record text and names excepted: the caller's).
 */
void		 dmarc_evaluate(const struct psl *psl, const struct dmarc_input *in,
		    const struct dmarc_record *rec, bool at_org,
		    struct dmarc_result *out);
/* dmarc_aligned - whether a and b align (strict: same name) */
bool		 dmarc_aligned(const struct psl *psl, const char *a, const char *b,
		    bool strict);
/* dmarc_sample - a number 0-99 fixed by the bytes p[0..n) (FNV-1a) */
unsigned	 dmarc_sample(const void *p, size_t n);

/* the DNS part */
struct dmarc_check;
typedef void	 dmarc_cb(void *arg, const struct dmarc_result *r);
struct dmarc_check *dmarc_check_start(const struct psl *psl,
		    const struct dmarc_input *in, dmarc_cb *cb, void *arg);
void		 dmarc_check_cancel(struct dmarc_check *c);

const char	*dmarc_res_name(enum dmarc_res r);
const char	*dmarc_policy_name(enum dmarc_policy p);

#endif
