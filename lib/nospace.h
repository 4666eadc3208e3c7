/* SPDX-License-Identifier: ISC */
/*
 * nospace.h - is this errno a full disk?  ENOSPC (the file system has no
 * free block or inode) and EDQUOT (the account's quota is used up) are
 * the environment, not a bug: each daemon answers them with its
 * protocol's "no room" reply (SMTP 452 4.3.1, IMAP NO [OVERQUOTA], the
 * README's "When the disk fills up") instead of a generic error, so that
 * clients retry later and admins know what to free.
 */
#ifndef FACTEUR_NOSPACE_H
#define FACTEUR_NOSPACE_H

#include <errno.h>
#include <stdbool.h>

static inline bool
errno_nospace(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

#endif
