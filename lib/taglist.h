/* SPDX-License-Identifier: ISC */
/*
 * taglist.h - the "tag=value; tag=value" lists of DKIM signatures and key
 * records (RFC 6376 3.2) and DMARC records (RFC 7489 6.4), split without
 * copying.
 *
 *	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
 *	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *	tag-name  =  ALPHA *(ALPHA / DIGIT / "_")
 *	tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]   tval = 1*(%x21-3A / %x3C-7E)
 *
 * FWS here is WSP, and CRLF or a bare LF followed by WSP (the queue stores
 * LF).  Pure: no allocation, no I/O; safe on any bytes.
 */
#ifndef FACTEUR_TAGLIST_H
#define FACTEUR_TAGLIST_H

#include <stdbool.h>
#include <stddef.h>

struct tag {
	const char	*name;		/* into the input */
	size_t		 nlen;
	const char	*val;		/* without FWS around it, may hold FWS */
	size_t		 vlen;
	size_t		 eq_end;	/* input offset just after '=' */
	size_t		 spec_end;	/* input offset of ';' or the end */
};

enum taglist_res {
	TAGLIST_OK,
	TAGLIST_SYNTAX,		/* not a tag-list */
	TAGLIST_DUP,		/* a tag named twice (RFC 6376 3.2: invalid) */
	TAGLIST_TOOMANY,	/* more than max tags */
};

/*
 * taglist_parse - split p[0..n) into at most max tags.  Names compare
 * case-sensitively for the duplicate check unless nocase (DMARC).
 */
enum taglist_res taglist_parse(const char *p, size_t n, struct tag *tags,
		    size_t max, size_t *ntags_r, bool nocase);

/* taglist_find - the tag called name (NUL-terminated), or NULL */
const struct tag *taglist_find(const struct tag *tags, size_t ntags,
		    const char *name, bool nocase);

/* taglist_is - whether the value is exactly s (case-sensitive unless nocase) */
bool		 taglist_is(const struct tag *t, const char *s, bool nocase);

/*
 * taglist_strip - the value without any FWS into out (NUL-terminated);
 * false if it does not fit (for base64 b=, bh=, p= and lists like h=)
 */
bool		 taglist_strip(const struct tag *t, char *out, size_t outsz);

#endif
