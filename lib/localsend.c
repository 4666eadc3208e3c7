/* SPDX-License-Identifier: ISC */
/*
 * localsend.c - the table from local uid to the addresses that account
 * may send as through facteur-sendmail (issue 16 item 7: any local
 * account could send as any address of the domain, DKIM-signed).
 *
 * Its addresses are the [sendmail] sender line of its account name, else
 * conf_sender_default(): noreply@<first domain> for root and the service
 * accounts, <login>@<first domain> for people's accounts.  Built by
 * localsend_load() from the password database before the caller is
 * chrooted, in a child that does the lookups (lib/pwlookup.c: no NSS
 * module stays loaded in the caller); an account made later gets the
 * noreply@ address until the daemon restarts (smtpd: or reloads, which
 * compares localsend_accounts_digest() with the one of its last load).  Used by smtpd's smtp role
 * and by authd; no I/O after the load.  Out of memory, or no child for
 * the lookups, at load time dies.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "localsend.h"
#include "log.h"
#include "pwlookup.h"
#include "xmem.h"

struct local_uid {
	uid_t	 uid;
	char	*addr[CONF_SENDER_MAX];
	size_t	 n;
};

static struct local_uid	*tab;
static size_t		 ntab;
static char		*noreply;
static bool		 loaded;

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
local_add(const struct conf *c, const char *login, uid_t uid)
{
	const struct conf_sender *cs = conf_sender_find(c, login);
	struct local_uid *u;
	char a[320];
	size_t i;

	if (local_find(uid) != NULL)
		return;		/* two names, one uid: the first wins */
	tab = xreallocarray(tab, ntab + 1, sizeof(*tab));
	u = &tab[ntab++];
	memset(u, 0, sizeof(*u));
	u->uid = uid;
	if (cs != NULL) {
		for (i = 0; i < cs->naddrs && i < CONF_SENDER_MAX; i++)
			u->addr[u->n++] = xstrdup(cs->addrs[i]);
	} else if (conf_sender_default(c, login, uid, a, sizeof(a)))
		u->addr[u->n++] = xstrdup(a);
}

struct load_arg {
	const struct conf	*c;
	size_t			 i;	/* records seen: the sender lines first */
};

/* load_one - one record of the lookup child: a [sendmail] sender line's
 * account (in the order of the lines), then every account listed */
static void
load_one(const struct pwlookup_ent *e, void *arg)
{
	struct load_arg *la = arg;
	size_t i = la->i++;

	if (i < la->c->sendmail.nsender && !e->found) {
		log_warnx("[sendmail] sender %s: no such account, line "
		    "ignored", la->c->sendmail.sender[i].login);
		return;
	}
	local_add(la->c, e->name, e->uid);
}

void
localsend_load(const struct conf *c)
{
	struct load_arg la = { c, 0 };
	const char **names;
	char a[320];
	size_t i;

	if (loaded)
		return;
	loaded = true;
	if (conf_sender_default(c, NULL, 0, a, sizeof(a)))
		noreply = xstrdup(a);
	names = xcalloc(c->sendmail.nsender + 1, sizeof(*names));
	for (i = 0; i < c->sendmail.nsender; i++)
		names[i] = c->sendmail.sender[i].login;
	/* in a child: no NSS module stays loaded here (pwlookup.h) */
	if (pwlookup_run(names, c->sendmail.nsender, true, load_one, &la) == -1)
		fatalx("cannot list the local accounts");
	free(names);
}

size_t
localsend_addrs(uid_t uid, const char *const **addrs_r)
{
	const struct local_uid *u = local_find(uid);

	if (u == NULL) {
		*addrs_r = (const char *const *)&noreply;
		return noreply != NULL ? 1 : 0;
	}
	*addrs_r = (const char *const *)u->addr;
	return u->n;
}

bool
localsend_known(uid_t uid)
{
	return local_find(uid) != NULL;
}

/* digest_one - FNV-1a over each record's uid and name, in the order listed */
static void
digest_one(const struct pwlookup_ent *e, void *arg)
{
	uint64_t *h = arg;
	unsigned char u[sizeof(e->uid)];
	size_t i, n = strlen(e->name);

	memcpy(u, &e->uid, sizeof(u));
	for (i = 0; i < sizeof(u); i++)
		*h = (*h ^ u[i]) * 0x100000001b3ULL;
	for (i = 0; i <= n; i++)	/* the NUL separates the names */
		*h = (*h ^ (unsigned char)e->name[i]) * 0x100000001b3ULL;
}

uint64_t
localsend_accounts_digest(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (pwlookup_run(NULL, 0, true, digest_one, &h) == -1)
		return 0;
	return h ? h : 1;
}

bool
localsend_domain_ok(uid_t uid, const char *domain)
{
	const char *const *a;
	const char *at;
	size_t i, n = localsend_addrs(uid, &a);

	for (i = 0; i < n; i++)
		if ((at = strrchr(a[i], '@')) != NULL &&
		    strcasecmp(at + 1, domain) == 0)
			return true;
	return false;
}
