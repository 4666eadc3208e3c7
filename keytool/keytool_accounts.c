/* SPDX-License-Identifier: ISC */
/*
 * keytool_accounts.c - "facteur-keytool accounts": the shell commands that
 * create the role accounts derived from `user` (lib/priv.h) that do not
 * exist yet, one useradd line each, for "facteur-keytool accounts | sh".
 * System accounts with their own group, no home, no login shell.  Prints
 * a comment alone when every account exists.  Reads /etc/passwd only.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "keytool.h"
#include "priv.h"

int
keytool_cmd_accounts(const struct conf *c, int argc, char **argv)
{
	char name[PRIV_NAME_MAX], done[PRIV_NROLES][PRIV_NAME_MAX];
	int r, i, n = 0, missing = 0;

	if (argc != 1)
		return keytool_bad_arg("accounts", argv[1]);
	for (r = 0; r < PRIV_NROLES; r++) {
		if (!priv_account_name(c, r, name, sizeof(name))) {
			fprintf(stderr, "facteur-keytool: user %s: name too "
			    "long\n", c->user);
			return KEYTOOL_FAIL;
		}
		for (i = 0; i < n; i++)
			if (strcmp(done[i], name) == 0)
				break;
		if (i < n)
			continue;	/* single_account: one name */
		memcpy(done[n++], name, sizeof(name));
		if (getpwnam(name) != NULL)
			continue;
		printf("useradd --system --user-group --no-create-home "
		    "--home-dir /nonexistent --shell /usr/sbin/nologin %s\n",
		    name);
		missing++;
	}
	if (missing == 0)
		printf("# every account of %s's roles exists\n", c->user);
	return 0;
}
