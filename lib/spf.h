/* SPDX-License-Identifier: ISC */
/*
 * spf.h - SPF (RFC 7208): is this client IP allowed to send mail for the
 * MAIL FROM domain (or, for MAIL FROM:<>, the HELO name)?  Asynchronous,
 * on lib/dns and the process's event loop.
 *
 * Usage:
 *
 *	dns_init(...);			// once per process, see dns.h
 *	spf_set_receiver(c->hostname);	// for %{r} in explanations (optional)
 *	h = spf_check_start("192.0.2.1", "mail.example.org",
 *	    "alice@example.org", on_spf, session);
 *	...
 *	static void on_spf(void *arg, const struct spf_result *r) {
 *		// r->result: SPF_PASS, SPF_FAIL, ...; spf_result_name(r->result)
 *		// Authentication-Results: spf=<name> smtp.<spf_identity_name(
 *		//     r->identity)>=<r->identity == SPF_ID_HELO ? r->domain :
 *		//     r->sender>
 *		// on SPF_FAIL, r->explanation is the text for "550 5.7.1 ..."
 *	}
 *	spf_check_cancel(h);	// instead, when the session goes away first
 *
 * mailfrom is the MAIL FROM address without angle brackets ("" for the
 * null reverse-path: the HELO identity, postmaster@helo, is checked then);
 * a MAIL FROM without a local part counts as postmaster@domain.  helo is
 * the HELO/EHLO argument; ip the client address as text (IPv4, IPv6, or
 * IPv4-mapped IPv6, which counts as IPv4).
 *
 * The callback is called exactly once, from the event loop (never from
 * inside spf_check_start()), unless spf_check_cancel() came first; the
 * handle is invalid after either.  The result and its strings belong to
 * lib/spf and are valid only during the callback.
 *
 * Results (RFC 7208 2.6): none (no SPF record, or no domain to check),
 * neutral, pass, fail, softfail, temperror (DNS trouble: the sender may
 * retry; never a reason for a 5xx), permerror (the domain's record is
 * broken).  Limits (RFC 7208 4.6.4): 10 terms that cause DNS lookups, 2
 * lookups that return nothing, 10 MX names per mx, 10 PTR names per ptr;
 * at most SPF_TIMEOUT_MS in all (temperror after that).
 *
 * Memory: a check holds its records (one per include level, at most
 * SPF_RECORD_MAX bytes each) and, if asked, a trace of at most
 * SPF_TRACE_MAX bytes; out of memory is fatal (x* functions).
 */
#ifndef FACTEUR_SPF_H
#define FACTEUR_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPF_TIMEOUT_MS		20000	/* whole evaluation (RFC 7208 4.6.4) */
#define SPF_RECORD_MAX		4096	/* bytes of one record; longer: permerror */
#define SPF_TRACE_MAX		8192
#define SPF_EXPLAIN_MAX		512
/* the explanation of a fail when the domain gives none: IP, domain */
#define SPF_DEFAULT_EXPLANATION	"SPF: %s is not allowed to send mail for %s"

enum spf_res {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

enum spf_identity {
	SPF_ID_MAILFROM,
	SPF_ID_HELO,
};

struct spf_result {
	enum spf_res	 result;
	enum spf_identity identity;	/* which identity was checked */
	const char	*sender;	/* the <sender> checked: local@domain */
	const char	*domain;	/* its domain ("" if there was none) */
	const char	*mechanism;	/* the term that decided: "-all",
					   "include:x.org", "default" (no
					   match), or "" (none/errors) */
	const char	*explanation;	/* fail: exp= text or ours; else "" */
	const char	*problem;	/* temperror, permerror, none: why */
	const char	*trace;		/* the records and terms evaluated,
					   one per line, if asked; else "" */
};

typedef void spf_cb(void *arg, const struct spf_result *r);

struct spf_check;

/* spf_request - all spf_check_start_req() needs; strings copied */
struct spf_request {
	const char	*ip;
	const char	*helo;
	const char	*mailfrom;
	bool		 trace;		/* fill spf_result.trace */
	uint64_t	 now;		/* %{t}, seconds since the epoch; 0: time() */
};

/* spf_check_start - check_host() for the identity (see above); never NULL */
struct spf_check *spf_check_start(const char *ip, const char *helo,
	    const char *mailfrom, spf_cb *cb, void *arg);
struct spf_check *spf_check_start_req(const struct spf_request *req,
	    spf_cb *cb, void *arg);
/* spf_check_cancel - no callback; frees the check; NULL is a no-op */
void	 spf_check_cancel(struct spf_check *c);

/* spf_set_receiver - our host name for %{r} (else "unknown") */
void	 spf_set_receiver(const char *hostname);
/* spf_set_timeout - overall limit in ms (tests); 0: SPF_TIMEOUT_MS */
void	 spf_set_timeout(unsigned ms);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" */
const char *spf_result_name(enum spf_res r);
/* "mailfrom", "helo": the RFC 8601 ptype.property is smtp.<this> */
const char *spf_identity_name(enum spf_identity id);

#endif
