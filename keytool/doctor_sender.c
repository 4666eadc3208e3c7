/* SPDX-License-Identifier: ISC */
/*
 * doctor_sender.c - the [sendmail] sender lines: each names a system
 * account, and each of its addresses in one of our domains reaches a
 * mailbox (a user, an alias, the catch-all).  Such an address is accepted
 * as the sender of facteur-sendmail's mail whether or not it does (a
 * sender is an identity, and refusing a cron job's report would lose it),
 * but then the bounces and the replies to that mail are lost: a DSN to it
 * is refused at our own door and dropped as a double bounce.  Addresses
 * of other domains (a smarthost account's) are not ours to check.
 *
 * Runs in facteur-keytool (root, or users.db's owner); reads users.db
 * and aliases.db, the password database.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "userdb.h"
#include "keytool/doctor.h"

/* check_addr - one address of account login's line */
static void
check_addr(struct doctor *d, struct userdb *udb, const char *login,
    const char *addr)
{
	struct userdb_list l = { .n = 0 };

	if (!userdb_is_local(udb, addr))
		return;
	if (userdb_resolve(udb, addr, &l) == USERDB_NOTFOUND)
		doctor_report(d, DOC_WARN, "[sendmail] sender %s (account %s) "
		    "reaches no mailbox: bounces and replies to its mail are "
		    "lost - facteur-keytool alias add %s YOUR-ADDRESS (or user "
		    "add it)", addr, login, addr);
	else
		doctor_report(d, DOC_OK, "[sendmail] sender %s (account %s) "
		    "reaches a mailbox", addr, login);
	userdb_list_free(&l);
}

void
doctor_check_senders(struct doctor *d)
{
	const struct conf *c = d->c;
	struct userdb *udb;
	size_t i, j;

	if (c->sendmail.nsender == 0)
		return;
	if ((udb = userdb_open(c->state_dir, c->domains)) == NULL) {
		doctor_report(d, DOC_WARN, "[sendmail] sender: cannot read "
		    "%s/users.db - run the doctor as root", c->state_dir);
		return;
	}
	for (i = 0; i < c->sendmail.nsender; i++) {
		const struct conf_sender *s = &c->sendmail.sender[i];

		if (getpwnam(s->login) == NULL)
			doctor_report(d, DOC_WARN, "[sendmail] sender %s: no such "
			    "system account - the line is never used: give the "
			    "account's name as `id -un` prints it", s->login);
		for (j = 0; j < s->naddrs; j++)
			check_addr(d, udb, s->login, s->addrs[j]);
	}
	userdb_close(&udb);
}
