/* SPDX-License-Identifier: ISC */
/*
 * smtp_local.c - whom a local account may send as through facteur-sendmail
 * (issue 16 item 7: any local account could send as any address of the
 * domain, DKIM-signed).
 *
 * The smtp role learns the caller's uid from SO_PEERCRED on run_dir/
 * smtpd.sock.  Its addresses are the [sendmail] sender line of its account
 * name, else conf_sender_default(): noreply@<first domain> for root and
 * the service accounts, <login>@<first domain> for people's accounts.
 * The table from uid to addresses is built by smtp_local_load() before the
 * role is chrooted (no /etc/passwd after); an account made later gets the
 * noreply@ address until smtpd restarts.  MAIL FROM and a From header with
 * an address must be one of these (or a +tag of one); `<>` and a From with
 * a bare name (cron's "root (Cron Daemon)") are let through, as they claim
 * no address.  Runs in the smtp role; out of memory dies (the parent
 * restarts the roles).
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmem.h"
#include "smtp_session.h"

struct local_uid {
	uid_t	 uid;
	char	*addr[CONF_SENDER_MAX];
	size_t	 n;
};

static struct local_uid	*tab;
static size_t		 ntab;
static char		*noreply;

static struct local_uid *
local_find(uid_t uid)
{
	size_t i;

	for (i = 0; i < ntab; i++)
		if (tab[i].uid == uid)
			return &tab[i];
	return NULL;
}

/* local_add - uid's addresses: a [sendmail] line or the default */
static void
local_add(const struct conf *c, const struct passwd *pw)
{
	const struct conf_sender *cs = conf_sender_find(c, pw->pw_name);
	struct local_uid *u;
	char a[320];
	size_t i;

	if (local_find(pw->pw_uid) != NULL)
		return;		/* two names, one uid: the first wins */
	tab = xreallocarray(tab, ntab + 1, sizeof(*tab));
	u = &tab[ntab++];
	memset(u, 0, sizeof(*u));
	u->uid = pw->pw_uid;
	if (cs != NULL) {
		for (i = 0; i < cs->naddrs && i < CONF_SENDER_MAX; i++)
			u->addr[u->n++] = xstrdup(cs->addrs[i]);
	} else if (conf_sender_default(c, pw->pw_name, pw->pw_uid, a, sizeof(a)))
		u->addr[u->n++] = xstrdup(a);
}

void
smtp_local_load(const struct conf *c)
{
	struct passwd *pw;
	char a[320];
	size_t i;

	if (conf_sender_default(c, NULL, 0, a, sizeof(a)))
		noreply = xstrdup(a);
	for (i = 0; i < c->sendmail.nsender; i++) {
		if ((pw = getpwnam(c->sendmail.sender[i].login)) == NULL) {
			log_warnx("[sendmail] sender %s: no such account, line "
			    "ignored", c->sendmail.sender[i].login);
			continue;
		}
		local_add(c, pw);
	}
	setpwent();
	while ((pw = getpwent()) != NULL)
		local_add(c, pw);
	endpwent();
}

void
smtp_local_bind(struct session *s, uid_t uid)
{
	const struct local_uid *u = local_find(uid);
	size_t i;

	if (u == NULL) {
		if (noreply != NULL) {
			s->senders = xcalloc(1, sizeof(*s->senders));
			s->senders[s->nsenders++] = xstrdup(noreply);
		}
		return;
	}
	s->senders = xcalloc(u->n ? u->n : 1, sizeof(*s->senders));
	for (i = 0; i < u->n; i++)
		s->senders[s->nsenders++] = xstrdup(u->addr[i]);
}
