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
 * The table from uid to addresses (lib/localsend.c, shared with authd) is
 * built by smtp_local_load() before the role is chrooted (no /etc/passwd
 * after); an account made later gets the noreply@ address until smtpd
 * restarts or a reload finds the accounts changed (smtpd.c on_hup), and
 * a refusal of its address says so.  MAIL FROM and a From header with
 * an address must be one of these (or a +tag of one); `<>` and a From with
 * a bare name (cron's "root (Cron Daemon)") are let through, as they claim
 * no address.  Runs in the smtp role; out of memory dies (the parent
 * restarts the roles).
 */
#include "localsend.h"
#include "xmem.h"
#include "smtp_session.h"

void
smtp_local_load(const struct conf *c)
{
	localsend_load(c);
}

void
smtp_local_bind(struct session *s, uid_t uid)
{
	const char *const *a;
	size_t i, n = localsend_addrs(uid, &a);

	s->local_unknown = !localsend_known(uid);
	s->senders = xcalloc(n ? n : 1, sizeof(*s->senders));
	for (i = 0; i < n; i++)
		s->senders[s->nsenders++] = xstrdup(a[i]);
}
