/* SPDX-License-Identifier: ISC */
/*
 * priv.c - the role accounts derived from `user`, and dropping root for
 * good, shared by the daemons' roles (see priv.h).  The accounts are
 * looked up in a child (pwlookup.c), so that the daemons never load an
 * NSS module.
 */
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"
#include "pwlookup.h"
#include "xmem.h"

static const char *const suffix[PRIV_NROLES] = {
	[PRIV_MAIL] = "",
	[PRIV_AUTH] = "-auth",
	[PRIV_SMTP] = "-smtp",
	[PRIV_RELAY] = "-relay",
	[PRIV_QUEUE] = "-queue",
	[PRIV_LOGIN] = "-login",
};

bool
priv_account_name(const struct conf *c, enum priv_role r, char *out,
    size_t outsz)
{
	return bsnprintf(out, outsz, "%s%s", c->user,
	    c->single_account ? "" : suffix[r]);
}

void
priv_accounts(const struct conf *c, struct priv_account a[PRIV_NROLES])
{
	char missing[PRIV_NROLES * (PRIV_NAME_MAX + 1)] = "";
	struct pwlookup_ent pw[PRIV_NROLES];
	const char *names[PRIV_NROLES];
	int r, s;

	for (r = 0; r < PRIV_NROLES; r++) {
		if (!priv_account_name(c, r, a[r].name, sizeof(a[r].name)))
			fatalx("%s: user %s: name too long", c->file, c->user);
		a[r].uid = geteuid();
		a[r].gid = getegid();
		names[r] = a[r].name;
	}
	if (geteuid() != 0)
		return;
	/* in a child: no NSS module stays loaded here (pwlookup.h) */
	if (pwlookup_names(names, PRIV_NROLES, pw) == -1)
		fatalx("%s: cannot look facteur's accounts up", c->file);
	for (r = 0; r < PRIV_NROLES; r++) {
		if (!pw[r].found) {
			if (strstr(missing, a[r].name) == NULL) {
				strcat(missing, " ");
				strcat(missing, a[r].name);
			}
			continue;
		}
		a[r].uid = pw[r].uid;
		a[r].gid = pw[r].gid;
		if (a[r].uid == 0)
			fatalx("account %s has uid 0: facteur's roles must not "
			    "run as root", a[r].name);
	}
	if (missing[0] != '\0')
		fatalx("no account for facteur's roles:%s; create them with "
		    "\"facteur-keytool -c %s accounts | sh\" (or, where only "
		    "one account is possible, set single_account = yes: "
		    "weaker, see README)", missing, c->file);
	if (geteuid() != 0 || c->single_account)
		return;
	for (r = 0; r < PRIV_NROLES; r++)
		for (s = r + 1; s < PRIV_NROLES; s++)
			if (a[r].uid == a[s].uid)
				fatalx("accounts %s and %s share uid %ld: each "
				    "role needs its own (or set single_account "
				    "= yes)", a[r].name, a[s].name,
				    (long)a[r].uid);
}

void
priv_dir(const struct conf *c, const char *name, char *out, size_t outsz)
{
	if (!bsnprintf(out, outsz, "%s/%s", c->run_dir, name))
		fatalx("%s: run_dir too long", c->file);
}

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
