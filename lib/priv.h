/* SPDX-License-Identifier: ISC */
/*
 * priv.h - dropping root for good (STYLE 6): optional chroot, then the
 * unprivileged uid/gid, then a check that root cannot be regained.
 */
#ifndef FACTEUR_PRIV_H
#define FACTEUR_PRIV_H

#include <sys/types.h>

/* priv_drop - chroot into `root` (NULL: none), become uid/gid; fatal on failure */
void	priv_drop(uid_t uid, gid_t gid, const char *root);

#endif
