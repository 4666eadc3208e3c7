/* SPDX-License-Identifier: ISC */
/*
 * imap_decode.h - text as SEARCH compares it (RFC 3501 6.4.4): header
 * values with their RFC 2047 encoded words decoded, bodies with their
 * Content-Transfer-Encoding undone, both in UTF-8, then case-folded.
 * No I/O; fed bytes of received messages (untrusted), never fails.
 */
#ifndef FACTEUR_IMAP_DECODE_H
#define FACTEUR_IMAP_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* the largest body part decoded for a BODY or TEXT search */
#define DECODE_MAX_BODY	(16u << 20)

/*
 * decode_header - an unfolded header value with its encoded words
 * (=?charset?B|Q?...?=) decoded, appended to out.  Charsets: UTF-8,
 * US-ASCII, ISO-8859-1 and -15, Windows-1252 (as Latin-1); words in
 * other charsets keep their decoded bytes as they are.
 */
void	 decode_header(const char *s, size_t len, struct buf *out);
/*
 * decode_body - a leaf part's body: base64 or quoted-printable undone
 * (cte, any case; else the bytes as they are), Latin-1 charsets made
 * UTF-8, appended to out (at most DECODE_MAX_BODY bytes).
 */
void	 decode_body(const char *s, size_t len, const char *cte,
	    const char *charset, struct buf *out);
/* decode_fold - case-fold UTF-8 text in place for comparing: ASCII and
 * the Latin-1 letters (U+00C0-U+00DE to U+00E0-U+00FE) */
void	 decode_fold(char *s, size_t len);

#endif
