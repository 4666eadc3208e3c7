/* SPDX-License-Identifier: ISC */
/*
 * imap_mutf7.h - mailbox names between modified UTF-7 (RFC 3501 5.1.3)
 * and UTF-8 (RFC 9051 5.1).  No I/O.
 */
#ifndef FACTEUR_IMAP_MUTF7_H
#define FACTEUR_IMAP_MUTF7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* mutf7_to_utf8 - false if in is not valid mUTF-7 or out is too small */
bool	mutf7_to_utf8(const char *in, char *out, size_t outsz);
/* mutf7_from_utf8 - false if in is not valid UTF-8 (or holds control
 * characters) or out is too small */
bool	mutf7_from_utf8(const char *in, char *out, size_t outsz);
struct buf;
/* imap_put_mailbox - a mailbox name as an IMAP string: quoted with its
 * UTF-8 when utf8 (IMAP4rev2), else quoted or a literal */
void	imap_put_mailbox(struct buf *b, const char *name, bool utf8);
/* utf8_valid - s is well-formed UTF-8 */
bool	utf8_valid(const char *s);

#endif
