/* SPDX-License-Identifier: ISC */
/*
 * authres.h - Authentication-Results (RFC 8601) for facteur-smtpd: the
 * header we add to mail received on port 25, and the filter that removes
 * incoming ones carrying our authserv-id (RFC 8601 5) while the message
 * streams into the queue.  Pure code, no I/O: unit-tested and fuzzed
 * (tests/fuzz/fuzz_authres.c).
 *
 * Messages are in the queue's LF form (smtp_data_feed() output).
 */
#ifndef FACTEUR_AUTHRES_H
#define FACTEUR_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define AUTHRES_FIELD_MAX	(64 * 1024)	/* an A-R field held to decide */

typedef void authres_sink(void *arg, const char *p, size_t n);

/*
 * The filter: the header section goes through field by field; a field
 * named Authentication-Results is held until it is complete and dropped
 * when its authserv-id is ours (compared without case), or when it is
 * over AUTHRES_FIELD_MAX before its authserv-id could be read.  Every
 * other byte is passed to the sink unchanged, in order; the body passes
 * at once.
 */
struct authres_filter {
	const char	*id;		/* our authserv-id, kept by the caller */
	authres_sink	*sink;
	void		*arg;
	int		 state;
	char		 name[24];	/* start of the current field's name */
	size_t		 nname;
	bool		 holding;	/* the current field is an A-R: held */
	bool		 dropping;	/* ... too long: dropped, skip the rest */
	struct buf	 held;
	unsigned	 removed;	/* fields removed so far */
};

void	authres_filter_init(struct authres_filter *f, const char *id,
	    authres_sink *sink, void *arg);
/* authres_filter_feed - the next n bytes of the message, any split */
void	authres_filter_feed(struct authres_filter *f, const char *p, size_t n);
/* authres_filter_end - end of message: a held field is decided now */
void	authres_filter_end(struct authres_filter *f);
void	authres_filter_free(struct authres_filter *f);

/*
 * authres_id_is - does the value of an Authentication-Results field (what
 * follows the colon, folded or not) carry authserv-id `id`?  The id is the
 * first token or quoted-string after comments and white space.
 */
bool	authres_id_is(const char *v, size_t n, const char *id);

/* what goes into our header; NULL strings are left out */
struct authres_dkim {
	const char	*result;	/* "pass", "fail", "neutral", ... */
	const char	*reason;	/* a comment, or NULL */
	const char	*d, *s, *a;	/* header.d header.s header.a */
	const char	*b;		/* header.b: the signature (first 8 used) */
};

struct authres {
	const char	*id;		/* authserv-id */
	const char	*spf;		/* result, NULL: not checked */
	bool		 spf_helo;	/* smtp.helo instead of smtp.mailfrom */
	const char	*spf_value;	/* the address or the HELO name */
	const char	*spf_reason;
	bool		 dkim_checked;	/* no signature then gives dkim=none */
	const struct authres_dkim *dkim;
	size_t		 ndkim;
	const char	*dmarc;		/* result, NULL: not checked */
	const char	*dmarc_reason;
	const char	*dmarc_from;	/* header.from: the From domain */
	const char	*dmarc_policy;	/* policy.dmarc: none, quarantine, reject */
};

/*
 * authres_format - the complete header field, folded, LF line ends, with
 * its final LF, appended to out.  Values that are not tokens are quoted,
 * reasons are cut and stripped of what a comment cannot hold.  -1 when
 * out is full.
 */
int	authres_format(struct buf *out, const struct authres *ar);

#endif
