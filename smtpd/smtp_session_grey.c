/* SPDX-License-Identifier: ISC */
/*
 * smtp_session_grey.c - greylisting of port 25 recipients ([greylist],
 * issue 11): the session side of smtpd/greylist.c.
 *
 * Runs in the smtp role.  smtp_grey_init() opens state_dir/greylist.db
 * before the chroot and the privilege drop (the role keeps the handle,
 * the file is its account's, 0600); a file that cannot be opened turns
 * greylisting off with one warning, mail keeps flowing.  Per RCPT of an
 * unauthenticated client on port 25:
 *   - with [greylist] spf_skip, while the SPF answer of MAIL FROM is not
 *     in, the session pauses (at most [inbound] timeout; then it goes on
 *     without it) and runs the RCPT when it comes (session_grey_wait);
 *   - once the recipient is known to be ours (authd) or a backup domain's,
 *     greylist_check() decides: 451 4.7.1 and the recipient is not added,
 *     or it is (session_grey_rcpt).
 * Changes reach the file within a second (a timer) and at exit; a minute
 * timer expires 256 records besides the few each check looks at.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "xmem.h"
#include "smtp_session.h"
#include "smtpd/greylist.h"

#define GREY_SYNC_MS	1000
#define GREY_EXPIRE_MS	60000
#define GREY_EXPIRE_N	256

/* a transaction's greylisting state: a RCPT waiting for SPF */
struct grey_wait {
	struct session	*s;
	struct ev_timer	 timer;
	char		*args;		/* the RCPT to run, NULL: not waiting */
	bool		 gave_up;	/* SPF did not come in time */
};

static struct greylist	*grey;
static struct ev_timer	 sync_timer, expire_timer;

static void
on_sync(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	(void)greylist_sync(grey);
}

static void
on_expire(struct ev_timer *t, void *arg)
{
	(void)arg;
	(void)greylist_expire(grey, time(NULL), GREY_EXPIRE_N);
	if (!ev_timer_pending(&sync_timer))
		ev_timer_add(&sync_timer, GREY_SYNC_MS);
	ev_timer_add(t, GREY_EXPIRE_MS);
}

static void
grey_atexit(void)
{
	greylist_close(&grey);
}

/*
 * smtp_grey_init - in the smtp role, after ev_init() and before the
 * chroot: open the database, owned by uid/gid ((uid_t)-1: as we are)
 */
void
smtp_grey_init(uid_t uid, gid_t gid)
{
	const struct conf *c = smtpd_conf;
	struct greylist_params p;
	char path[4096], err[4200];

	if (!c->greylist.enable || c->smtp.listen.n == 0)
		return;
	p.delay = c->greylist.delay;
	p.retry_window = c->greylist.retry_window;
	p.allow_time = c->greylist.allow_time;
	p.allow_clients = c->greylist.allow_clients;
	if (!bsnprintf(path, sizeof(path), "%s/greylist.db", c->state_dir) ||
	    (grey = greylist_open(path, &p, uid, gid, err, sizeof(err))) == NULL) {
		log_warnx("greylisting off: %s", path[0] ? err : "path too long");
		return;
	}
	ev_timer_init(&sync_timer, on_sync, NULL);
	ev_timer_init(&expire_timer, on_expire, NULL);
	ev_timer_add(&expire_timer, GREY_EXPIRE_MS);
	atexit(grey_atexit);
}

static bool
grey_applies(const struct session *s)
{
	return grey != NULL && s->l->kind == PORT_MX && s->auth_user == NULL &&
	    !s->trusted;
}

/* session_grey_free - the transaction ends: stop waiting, forget */
void
session_grey_free(struct session *s)
{
	struct grey_wait *w = s->grey;

	if (w == NULL)
		return;
	ev_timer_del(&w->timer);
	if (w->args != NULL)
		session_inbound_spf_notify(s, NULL);
	free(w->args);
	free(w);
	s->grey = NULL;
}

/* grey_go - SPF is in, or will not be in time: run the RCPT */
static void
grey_go(struct session *s)
{
	struct grey_wait *w = s->grey;
	char *args = w->args;

	w->args = NULL;
	ev_timer_del(&w->timer);
	session_inbound_spf_notify(s, NULL);
	session_rcpt(s, args);
	free(args);
	if (s->authc_id == 0)	/* answered: the client's turn */
		session_resume(s);
}

static void
on_wait_timeout(struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)t;
	log_info("session=%08x addr=%s greylist: no SPF answer within %us, "
	    "going on without it", s->id, s->addr, smtpd_conf->inbound.timeout);
	s->grey->gave_up = true;
	grey_go(s);
}

/*
 * session_grey_wait - before a RCPT on port 25: true when the session now
 * waits for the SPF answer of the transaction (spf_skip needs it), and
 * will run session_rcpt(s, args) when it comes
 */
bool
session_grey_wait(struct session *s, const char *args)
{
	struct grey_wait *w;
	const char *dom;

	if (!grey_applies(s) || !smtpd_conf->greylist.spf_skip ||
	    (s->grey != NULL && s->grey->gave_up) ||
	    session_inbound_spf(s, &dom) != -1)
		return false;
	if ((w = s->grey) == NULL) {
		w = s->grey = xcalloc(1, sizeof(*w));
		w->s = s;
		ev_timer_init(&w->timer, on_wait_timeout, s);
	}
	w->args = xstrdup(args);
	ev_timer_add(&w->timer, 1000ULL * smtpd_conf->inbound.timeout);
	session_inbound_spf_notify(s, grey_go);
	session_wait(s);
	return true;
}

/*
 * session_grey_rcpt - the recipient rcpt (as given) would be accepted:
 * true when greylisting lets it through, false after a 451 reply
 */
bool
session_grey_rcpt(struct session *s, const char *rcpt)
{
	struct greylist_req r;
	enum greylist_res res;
	const char *dom = NULL;
	unsigned wait;

	if (!grey_applies(s))
		return true;
	r.addr = s->addr;
	r.from = s->from.addr;
	r.rcpt = rcpt;
	r.spf_domain = NULL;
	if (smtpd_conf->greylist.spf_skip && session_inbound_spf(s, &dom) == 1)
		r.spf_domain = dom;
	res = greylist_check(grey, &r, time(NULL), &wait);
	if (!ev_timer_pending(&sync_timer))
		ev_timer_add(&sync_timer, GREY_SYNC_MS);
	if (greylist_passed(res)) {
		if (res != GREY_PASS_KNOWN && res != GREY_PASS_CLIENT)
			log_info("session=%08x addr=%s greylist=%s from=<%s> "
			    "rcpt=<%s>%s%s", s->id, s->addr,
			    greylist_res_name(res), s->from.addr, rcpt,
			    dom ? " spf_pass=" : "", dom ? dom : "");
		return true;
	}
	log_info("session=%08x addr=%s greylist=%s from=<%s> rcpt=<%s> "
	    "retry_in=%us", s->id, s->addr, greylist_res_name(res),
	    s->from.addr, rcpt, wait);
	session_reply(s, "451 4.7.1 <%s>: Recipient address rejected: "
	    "Greylisted, try again later", rcpt);
	return false;
}
