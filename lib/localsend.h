/* SPDX-License-Identifier: ISC */
/*
 * localsend.h - whom a local account may send as through facteur-sendmail:
 * the [sendmail] sender line of its name, else conf_sender_default().
 * Shared by smtpd's smtp role (the From and MAIL FROM checks) and authd
 * (which domains a local session may get DKIM signatures for).
 */
#ifndef FACTEUR_LOCALSEND_H
#define FACTEUR_LOCALSEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct conf;

/*
 * localsend_load - build the table uid -> addresses from the password
 * database, read in a child (lib/pwlookup.h); call before a chroot (no
 * /etc/passwd after).  Out of memory or no child dies (startup).  A second
 * call adds nothing.
 */
void	localsend_load(const struct conf *c);
/*
 * localsend_addrs - the addresses of uid: its own, or for an account the
 * table does not know (made after the start) the noreply@ address.
 * Pointers stay valid for the life of the process.  Returns the count.
 */
size_t	localsend_addrs(uid_t uid, const char *const **addrs_r);
/* localsend_domain_ok - is domain the domain of one of uid's addresses? */
bool	localsend_domain_ok(uid_t uid, const char *domain);
/* localsend_known - was uid in the password database at the load? */
bool	localsend_known(uid_t uid);
/*
 * localsend_accounts_digest - a digest of every account's uid and name,
 * read now in a child (lib/pwlookup.h), so that a daemon can see that
 * accounts were made or removed since its last load; 0 if they could not
 * be listed (logged).
 */
uint64_t	localsend_accounts_digest(void);

#endif
