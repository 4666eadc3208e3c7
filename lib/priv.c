/* SPDX-License-Identifier: ISC */
/*
 * priv.c - dropping root for good, shared by the daemons' roles.
 */
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

void
priv_drop(uid_t uid, gid_t gid, const char *root)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (uid == 0)
		fatalx("refusing to run a network-facing role as root");
	tzset();	/* log timestamps after the chroot */
	if (root && (chroot(root) == -1 || chdir("/") == -1))
		fatal("chroot %s", root);
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		fatal("cannot become uid %ld", (long)uid);
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid || setuid(0) != -1)
		fatalx("privilege drop to uid %ld did not stick", (long)uid);
}
