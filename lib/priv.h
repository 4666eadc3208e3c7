/* SPDX-License-Identifier: ISC */
/*
 * priv.h - the role accounts and dropping root for good (STYLE 6).
 *
 * `user` (SPEC 3) names a family of accounts, one per role, so that the
 * kernel keeps the roles apart (README.md, "Who runs as whom"):
 *
 *   PRIV_MAIL   user          smtpd deliver, imapd workers: the Maildirs
 *   PRIV_AUTH   user-auth     authd: users.db, aliases.db
 *   PRIV_SMTP   user-smtp     smtpd smtp sessions (chroot run_dir/authd)
 *   PRIV_RELAY  user-relay    smtpd relay (chroot run_dir/empty)
 *   PRIV_QUEUE  user-queue    smtpd queue: state_dir/queue
 *   PRIV_LOGIN  user-login    imapd login (chroot run_dir/authd)
 *
 * `single_account = yes` makes every name `user` (a platform with one
 * account, such as a DSM package: weaker, documented).  Not started as root
 * every role is the caller's uid and nothing is dropped.
 */
#ifndef FACTEUR_PRIV_H
#define FACTEUR_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

enum priv_role {
	PRIV_MAIL,
	PRIV_AUTH,
	PRIV_SMTP,
	PRIV_RELAY,
	PRIV_QUEUE,
	PRIV_LOGIN,
	PRIV_NROLES
};

#define PRIV_NAME_MAX	64

struct priv_account {
	char	name[PRIV_NAME_MAX];
	uid_t	uid;
	gid_t	gid;
};

/* the chroot directories under run_dir (root's, 0755) */
#define PRIV_AUTHD_DIR	"authd"		/* holds authd.sock and nothing else */
#define PRIV_EMPTY_DIR	"empty"		/* holds nothing */

/* priv_account_name - the account of role r; false if it does not fit */
bool	priv_account_name(const struct conf *c, enum priv_role r, char *out,
	    size_t outsz);
/*
 * priv_accounts - look every role's account up.  As root, a missing
 * account, uid 0, or two roles sharing a uid without single_account is
 * fatal, with the names and the command that creates them.  Not as root,
 * every role is the caller.
 */
void	priv_accounts(const struct conf *c, struct priv_account a[PRIV_NROLES]);
/* priv_dir - run_dir/PRIV_*_DIR into out; fatal if too long */
void	priv_dir(const struct conf *c, const char *name, char *out,
	    size_t outsz);
/* priv_drop - chroot into `root` (NULL: none), become uid/gid; fatal on failure */
void	priv_drop(uid_t uid, gid_t gid, const char *root);

#endif
