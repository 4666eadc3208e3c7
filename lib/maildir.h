/* SPDX-License-Identifier: ISC */
/*
 * maildir.h - delivery into a Maildir (SPEC 5): the file is written in
 * tmp/, fsync'd, renamed into new/, and new/ is fsync'd, so a message is
 * either completely there or not at all.
 *
 * Names are "TIME.UNIQUE.HOST" (the Maildir convention); the caller
 * chooses UNIQUE so that a delivery repeated after a crash gets the same
 * name and maildir_exists() can tell it was already done.
 */
#ifndef FACTEUR_MAILDIR_H
#define FACTEUR_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* maildir_create - dir and its tmp/ new/ cur/ (and missing parents), 0700 */
int	maildir_create(const char *dir);
/* maildir_exists - a message whose name starts with base in new/ or cur/ */
bool	maildir_exists(const char *dir, const char *base);
/*
 * maildir_deliver - write hdr, then len bytes of srcfd from offset 0, as
 * dir/new/base,W=SIZE (file fsync'd), SIZE being the message's size with
 * CRLF line ends (what IMAP reports as RFC822.SIZE; the file keeps LF).
 * 0, or -1 with errno set (nothing left in new/).  The delivery is
 * durable only after maildir_sync(dir), which several deliveries to one
 * Maildir may share.
 */
int	maildir_deliver(const char *dir, const char *base, const char *hdr,
	    size_t hdrlen, int srcfd, uint64_t len);
/* maildir_sync - fsync dir/new; 0 or -1 with errno set */
int	maildir_sync(const char *dir);
/* maildir_host - the host part of a name: '/' and ':' escaped (\057 \072) */
void	maildir_host(char *out, size_t outsz, const char *host);

#endif
