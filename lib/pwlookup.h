/* SPDX-License-Identifier: ISC */
/*
 * pwlookup.h - account lookups (getpwnam, getpwent) done in a short-lived
 * child, so that the daemon calling them never loads an NSS module
 * (issue 17: glibc dlopens nsswitch.conf's libnss_systemd.so.2, with
 * libcap and libm, and they stay mapped for the life of the process).
 * The child goes through nsswitch exactly as the caller would have (LDAP
 * or systemd accounts still resolve); only fixed-size records come back.
 *
 * Used by the daemons at start and by a role before it is chrooted
 * (lib/priv.c, lib/localsend.c).  Failures are logged; the caller decides.
 */
#ifndef FACTEUR_PWLOOKUP_H
#define FACTEUR_PWLOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* LOGIN_NAME_MAX on Linux, with the NUL: every useradd name fits */
#define PWLOOKUP_NAME_MAX	256

/* one account as the child saw it */
struct pwlookup_ent {
	bool	found;		/* false: no such account (by name only) */
	uid_t	uid;
	gid_t	gid;
	char	name[PWLOOKUP_NAME_MAX];	/* pw_name, "" if not found */
};

/* pwlookup_fn - called in the caller's process for each record, in order */
typedef void	pwlookup_fn(const struct pwlookup_ent *e, void *arg);

/*
 * pwlookup_run - in a child: getpwnam() of each of names[0..n), one record
 * each (found false if there is no such account, or if its pw_name would
 * not fit in name), then, if all, one record for every getpwent() entry
 * whose name fits.  fn is called for each record as it arrives, then the
 * child is reaped.  Returns 0, or -1 (logged) if the child could not be
 * started or did not report to the end; fn may have been called for some
 * records then.
 */
int	pwlookup_run(const char *const *names, size_t n, bool all,
	    pwlookup_fn *fn, void *arg);
/* pwlookup_names - pwlookup_run() of names[0..n) into ents[0..n) */
int	pwlookup_names(const char *const *names, size_t n,
	    struct pwlookup_ent *ents);

#endif
