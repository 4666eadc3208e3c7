/* SPDX-License-Identifier: ISC */
/*
 * imap_sortkey.h - what SORT (RFC 5256, 5957) and THREAD (RFC 5256)
 * compare, taken from header values: the base subject, the sent date,
 * the first address as mailbox or display name, and message-id lists.
 * No I/O: fed header values of received messages (untrusted), never
 * fails; unit test and fuzz target (fuzz_sortkey).
 */
#ifndef FACTEUR_IMAP_SORTKEY_H
#define FACTEUR_IMAP_SORTKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* string keys are cut here: enough to order, bounded memory per message */
#define SORTKEY_MAX	160
/* message-ids longer than this are ignored (RFC 5322 lines are 998) */
#define SORTKEY_MSGID_MAX 250

/*
 * sortkey_subject - the base subject (RFC 5256 2.1) of a Subject value
 * (unfolded, encoded words as received) appended to out: encoded words
 * decoded to UTF-8, white space collapsed, "Re:", "Fwd:", "[blob]",
 * "(fwd)" and "[fwd: ...]" removed, ASCII letters upper-cased for the
 * i;ascii-casemap comparison, at most SORTKEY_MAX bytes.  True when the
 * message is a reply or forward (something of the above was removed but
 * a lone "[blob]").
 */
bool	 sortkey_subject(const char *s, size_t len, struct buf *out);
/*
 * sortkey_date - an RFC 5322 Date value as UTC seconds (zone applied,
 * obsolete zone names understood, two-digit years as RFC 5322 4.3);
 * false when it cannot be read.
 */
bool	 sortkey_date(const char *s, size_t len, int64_t *t_r);
/*
 * sortkey_addr - the key of the first address of an address header:
 * its mailbox (local part; a group's name) for SORT FROM/TO/CC, or with
 * display, RFC 5957's display name (the decoded phrase, else the group's
 * name, else "local@domain").  Upper-cased as above, appended to out.
 */
void	 sortkey_addr(const char *s, size_t len, bool display, struct buf *out);
/*
 * sortkey_msgid_next - the next "<id>" of a Message-ID, References or
 * In-Reply-To value from *pos on: its text (without brackets, white
 * space and comments dropped) is set in out (reset first); false when
 * none is left.  Ids that are empty or longer than SORTKEY_MSGID_MAX
 * are skipped.  Linear in len over all calls.
 */
bool	 sortkey_msgid_next(const char *s, size_t len, size_t *pos,
	    struct buf *out);
/* sortkey_upper - ASCII letters to upper case in place */
void	 sortkey_upper(char *s, size_t len);

#endif
