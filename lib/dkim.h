/* SPDX-License-Identifier: ISC */
/*
 * dkim.h - DKIM signing arithmetic (RFC 6376, RFC 8301, RFC 8463) without
 * keys and without I/O, and the canonicalization and header-block code
 * that signing and verifying (lib/dkim_verify.h) share.
 *
 * smtpd (network-facing, no keys) feeds a message to a signer context,
 * which keeps the header fields (bounded) and hashes the body as it
 * streams through; dkim_header_digest() then builds a DKIM-Signature header
 * with an empty b= and returns the SHA-256 digest that authd signs
 * (RSA PKCS#1 v1.5 with a SHA-256 DigestInfo, or Ed25519 over the 32-byte
 * digest per RFC 8463 3); dkim_finish() puts the signature into the header.
 *
 *	struct dkim_sign *s = dkim_sign_new(0);
 *	dkim_sign_feed(s, msg, len);	(as often as needed)
 *	dkim_sign_end(s);
 *	dkim_header_digest(s, "example.org", "rsa2026", DKIM_RSA_SHA256,
 *	    time(NULL), digest, &tmpl);
 *	... authd signs digest ...
 *	hdr = dkim_finish(tmpl, sig, siglen, false);	prepend hdr
 *
 * Policy, fixed: c=relaxed/relaxed, body hash over the whole body (no l=),
 * t= set, no x=.  Signed header fields: From always (over-signed: h= names
 * it once more than present, so no From can be added later), and Subject,
 * Date, To, Cc, Message-ID, Reply-To, MIME-Version, Content-Type,
 * In-Reply-To, References as often as present.
 *
 * Line ends: input may use CRLF or bare LF (the queue stores LF); both end
 * a line, and the hashes are computed over the CRLF form that goes on the
 * wire.  A CR not followed by LF is an ordinary byte.
 *
 * Errors: functions returning int give 0 or -1; after -1,
 * dkim_sign_error() names the reason (static string).  Memory failures
 * return -1 with "out of memory", never abort: smtpd decides.
 */
#ifndef FACTEUR_DKIM_H
#define FACTEUR_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* the values equal enum authd_alg (lib/authc.h) on purpose */
enum dkim_alg {
	DKIM_RSA_SHA256 = 1,
	DKIM_ED25519_SHA256 = 2,
};

#define DKIM_HEADER_MAX_DEFAULT	(256 * 1024)	/* header block kept for signing */
#define DKIM_DIGEST_LEN		32

struct dkim_sign;

/*
 * dkim_sign_new - a signer for one message.  header_max bounds the header
 * block it keeps (0 = DKIM_HEADER_MAX_DEFAULT).  NULL when out of memory.
 */
struct dkim_sign *dkim_sign_new(size_t header_max);
void		 dkim_sign_free(struct dkim_sign **sp);

/* dkim_sign_feed - the next n bytes of the message, any split */
int		 dkim_sign_feed(struct dkim_sign *s, const void *p, size_t n);
/* dkim_sign_end - end of message; fails unless there is exactly one From
 * field (RFC 5322 3.6): the From check and d= read that one */
int		 dkim_sign_end(struct dkim_sign *s);
const char	*dkim_sign_error(const struct dkim_sign *s);

/*
 * dkim_from_domain - the lower-cased domain of the (first) address in the
 * message's From field, into out.  For choosing d= (DMARC alignment).
 * False if there is no From or no domain, or it does not fit.
 */
bool		 dkim_from_domain(const struct dkim_sign *s, char *out, size_t outsz);
/* dkim_from_address - local@domain of that address as written (the check
 * that a user sends only as themselves) */
bool		 dkim_from_address(const struct dkim_sign *s, char *out, size_t outsz);
/*
 * dkim_from_mailboxes - how many mailboxes with an address the From field
 * lists ("Doe, Alice <a@x>" is one, "a@x, b@y" two): the From check of
 * submission accepts exactly one
 */
size_t		 dkim_from_mailboxes(const struct dkim_sign *s);

/*
 * After dkim_sign_end(): dkim_sign_has_field - whether the message has a
 * field of that name (any case); dkim_sign_add_field - a field the mail
 * system adds in front of the message ("Name: value", no line end), which
 * is then signed like one the author wrote.  -1 when out of memory.
 */
bool		 dkim_sign_has_field(const struct dkim_sign *s, const char *name);
int		 dkim_sign_add_field(struct dkim_sign *s, const char *field);
/*
 * dkim_sign_lacks_from - dkim_sign_end() failed only because the message
 * has no From field: adding one with dkim_sign_add_field() makes the
 * signer usable (the mail submission agent's choice, RFC 6409 8)
 */
bool		 dkim_sign_lacks_from(const struct dkim_sign *s);

/*
 * dkim_header_digest - after dkim_sign_end(): the DKIM-Signature header for
 * domain/selector/alg/t with an empty b= into *tmpl_r (malloc'd, CRLF folded,
 * no final line end; the caller frees it), and the SHA-256 digest to sign.
 * May be called once per algorithm.  domain and selector must be plain
 * DNS labels (checked).
 */
int		 dkim_header_digest(struct dkim_sign *s, const char *domain,
		    const char *selector, enum dkim_alg alg, time_t t,
		    unsigned char digest[DKIM_DIGEST_LEN], char **tmpl_r);

/*
 * dkim_finish - the complete header: tmpl with the base64 signature as b=,
 * folded, ending with a line end; lines end in CRLF when crlf, else LF.
 * malloc'd, NULL when out of memory.
 */
char		*dkim_finish(const char *tmpl, const unsigned char *sig,
		    size_t siglen, bool crlf);

/*
 * Canonicalization (RFC 6376 3.4), shared by the signer (always relaxed)
 * and the verifier (either), exposed for tests and the fuzzers.
 */
enum dkim_canon {
	DKIM_CANON_SIMPLE,
	DKIM_CANON_RELAXED,
};

/*
 * dkim_canon_header - one header field (name ":" value, folded with CRLF
 * or LF, without its final line end) appended to out in relaxed form,
 * without a line end.  -1 if there is no colon or out is full.
 */
int		 dkim_canon_header(struct buf *out, const char *p, size_t n);
/*
 * dkim_canon_field - the same in either form; simple (3.4.1) keeps the
 * field as it is, but a LF without a CR before it becomes CRLF
 */
int		 dkim_canon_field(struct buf *out, enum dkim_canon canon,
		    const char *p, size_t n);

/* the body canonicalizer streams its output into a sink */
typedef void	 dkim_sink(void *arg, const char *p, size_t n);

struct dkim_body {
	dkim_sink	*sink;
	void		*arg;
	size_t		 blank;		/* empty lines held back */
	size_t		 linelen;	/* bytes emitted on this line */
	bool		 wsp;		/* WSP seen, not yet emitted */
	bool		 cr;		/* CR seen, waiting for LF */
	bool		 simple;	/* simple (3.4.3), else relaxed (3.4.4) */
	size_t		 total;		/* bytes given to the sink */
	size_t		 fill;
	char		 out[4096];	/* batches the sink calls */
};

/* dkim_body_init - relaxed; dkim_body_init_canon - either */
void		 dkim_body_init(struct dkim_body *b, dkim_sink *sink, void *arg);
void		 dkim_body_init_canon(struct dkim_body *b, enum dkim_canon canon,
		    dkim_sink *sink, void *arg);
void		 dkim_body_feed(struct dkim_body *b, const char *p, size_t n);
void		 dkim_body_end(struct dkim_body *b);

/*
 * The header block of a streamed message, bounded: dkim_hdrs_feed() takes
 * the header bytes from the front of *p (advancing *p, *n) until the
 * empty line that ends the block; what it leaves is body.  -1 when the
 * block would pass the bound.  After the block, dkim_hdrs_split() indexes
 * the fields (hdr offsets, lengths without the final line end, the name
 * length without WSP before ':'); -1 when out of memory.
 */
struct dkim_field {
	size_t		 off;		/* into hdr */
	size_t		 len;		/* without the final line end */
	size_t		 namelen;	/* bytes before ':' minus trailing WSP */
};

struct dkim_hdrs {
	struct buf	 hdr;		/* raw header block */
	bool		 in_body;
	size_t		 line_start;	/* offset in hdr of the current line */
	struct dkim_field *fields;
	size_t		 nfields;
};

void		 dkim_hdrs_init(struct dkim_hdrs *h, size_t max);
void		 dkim_hdrs_free(struct dkim_hdrs *h);
int		 dkim_hdrs_feed(struct dkim_hdrs *h, const char **p, size_t *n);
int		 dkim_hdrs_split(struct dkim_hdrs *h);
/* dkim_hdrs_is - whether field f is named name (len bytes, any case) */
bool		 dkim_hdrs_is(const struct dkim_hdrs *h, const struct dkim_field *f,
		    const char *name, size_t len);
/* the same as dkim_from_domain() and dkim_from_mailboxes(), on a block */
bool		 dkim_hdrs_from_domain(const struct dkim_hdrs *h, char *out,
		    size_t outsz);
size_t		 dkim_hdrs_from_mailboxes(const struct dkim_hdrs *h);

/*
 * dkim_txt_value - the DNS TXT value "v=DKIM1; k=rsa|ed25519; p=BASE64"
 * for a public key: for RSA the DER SubjectPublicKeyInfo, for Ed25519 the
 * raw 32 bytes (RFC 8463 4.2).  malloc'd, NULL when out of memory.
 */
char		*dkim_txt_value(enum dkim_alg alg, const unsigned char *pub, size_t n);

/*
 * dkim_name_ok - whether s is a d= or s= value we sign with or accept:
 * dot-separated labels (1-63) of letters, digits, '-', '_', at most 253
 */
bool		 dkim_name_ok(const char *s);

/* dkim_alg_name - "rsa-sha256", "ed25519-sha256", NULL if unknown */
const char	*dkim_alg_name(enum dkim_alg alg);

#endif
