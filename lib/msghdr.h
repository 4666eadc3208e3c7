/* SPDX-License-Identifier: ISC */
/*
 * msghdr.h - the header fields a mail system adds to a message that lacks
 * them (RFC 6409 8.2, 8.3): Date and Message-ID, for submissions and for
 * facteur-sendmail.  No I/O besides the clock and getrandom(2).
 */
#ifndef FACTEUR_MSGHDR_H
#define FACTEUR_MSGHDR_H

#include <stddef.h>
#include <time.h>

#define MSGHDR_MAX	320	/* room for either field, with a long host */

/* msghdr_date - "Date: Sun, 06 Dec 2026 14:10:00 +0100" (local time) */
void	 msghdr_date(char *out, size_t outsz, time_t now);
/* msghdr_message_id - "Message-ID: <TIME.PID.RANDOM@host>" */
void	 msghdr_message_id(char *out, size_t outsz, time_t now, const char *host);

#endif
