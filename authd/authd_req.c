/* SPDX-License-Identifier: ISC */
/*
 * authd_req.c - the answers of facteur-authd, one function per request
 * type of lib/authc.h (decoded and checked by authd_proto.c).
 *
 * Runs in facteur-authd as `user`.  Database errors answer TEMPFAIL and
 * log; a failed login is counted per client address and per user, logged
 * in one fail2ban-friendly line, and its answer delayed by the throttle.
 * A login is answered from the login cache (authd_cache.c) when the same
 * user and password were verified recently against the same stored hash;
 * otherwise its scrypt runs in a hashing process (authd_hash.c) and the
 * answer comes when that process does, while other requests go on.  Only
 * successes enter the cache.  The check waits in a queue fair between
 * client networks (authd_fairq.c), ahead of the others when this user
 * logged in from this network within GOOD_MS and the network has not
 * failed delay_after times lately.  Never logs a password; user names and
 * addresses are escaped first.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "authd.h"
#include "conf.h"
#include "localsend.h"
#include "log.h"
#include "passwd.h"
#include "xmem.h"

#define GOOD_MS		(30 * 86400 * 1000ULL)	/* a good login gives priority */
#define GOOD_KEY_MAX	(AUTHD_NETKEY_MAX + USERDB_ADDR_MAX)

static const char *const action_name[] = {
	[ACTION_NONE] = "none",
	[ACTION_DELAY] = "delay",
	[ACTION_BLOCK] = "block",
};

static void
reply_res(struct authd_peer *p, uint32_t id, enum authd_res res)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_u32(&o, res);
	authd_peer_reply(p, id, &o);
}

/* reply_list - OK and the addresses, TEMPFAIL if they do not fit a frame */
static void
reply_list(struct authd_peer *p, uint32_t id, const struct userdb_list *l)
{
	struct ipc_out o;
	size_t i;

	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_u32(&o, (uint32_t)l->n);
	for (i = 0; i < l->n; i++)
		ipc_put_str(&o, l->v[i]);
	if (o.overflow) {
		log_warnx("answer to %s: too many addresses", authd_peer_name(p));
		reply_res(p, id, AUTHD_TEMPFAIL);
		return;
	}
	authd_peer_reply(p, id, &o);
}

static enum authd_res
userdb_to_res(enum userdb_res r)
{
	switch (r) {
	case USERDB_OK:
		return AUTHD_OK;
	case USERDB_NOTFOUND:
		return AUTHD_NOTFOUND;
	default:
		return AUTHD_TEMPFAIL;
	}
}

static int
first_user(const char *key, const char *val, void *arg)
{
	char **out = arg;

	(void)val;
	*out = xstrdup(key);
	return 1;			/* the first one is enough */
}

/*
 * postmaster_resolve - RFC 5321 4.5.1: postmaster@ of every local domain
 * must take mail.  When no user or alias has that address, it goes to
 * `postmaster` of the configuration, else to the first user of users.db
 * in key order (the database keeps no creation time), said once in the
 * log.  USERDB_NOTFOUND when addr is not a postmaster or there is no user.
 */
static enum userdb_res
postmaster_resolve(const char *addr, struct userdb_list *l)
{
	static char *logged;
	char *target = NULL;
	const char *at = strrchr(addr, '@');
	enum userdb_res res;

	if (at == NULL || at - addr != 10 || strncasecmp(addr, "postmaster", 10) != 0 ||
	    !conf_is_local_domain(authd.conf, at + 1, strlen(at + 1)))
		return USERDB_NOTFOUND;
	if (authd.conf->postmaster != NULL)
		target = xstrdup(authd.conf->postmaster);
	else if (userdb_foreach(authd.udb, USERDB_USERS, first_user, &target) == -1)
		return USERDB_ERROR;
	if (target == NULL)
		return USERDB_NOTFOUND;
	res = userdb_resolve(authd.udb, target, l);
	if (res == USERDB_OK && (logged == NULL || strcmp(logged, target) != 0)) {
		log_info("postmaster@ of the local domains goes to %s%s", target,
		    authd.conf->postmaster ? "" : " (the first user; set "
		    "postmaster = in the configuration to choose)");
		free(logged);
		logged = xstrdup(target);
	}
	free(target);
	return res;
}

/*
 * foreign_domain - addr (with an @) is in no domain of ours.  smtpd asks
 * only about its own domains, so its configuration names a domain ours
 * does not: a domain added and smtpd reloaded, while this authd, started
 * as root and chrooted, cannot reread the file.  "User unknown" would
 * bounce the mail for good; the caller answers "try again" and the log
 * says to restart authd, once per domain in a row.
 */
static bool
foreign_domain(const char *addr)
{
	static char *logged;
	char a[USERDB_ADDR_MAX];
	const char *at;

	if (!userdb_normalize(addr, strlen(addr), false, a, sizeof(a)) ||
	    (at = strrchr(a, '@')) == NULL || userdb_is_local(authd.udb, a))
		return false;
	if (logged == NULL || strcmp(logged, at + 1) != 0) {
		log_warnx("rcpt: %s is not one of the domains authd read at its "
		    "start; answering \"try again\": restart authd to apply %s",
		    at + 1, authd.conf->file);
		free(logged);
		logged = xstrdup(at + 1);
	}
	return true;
}

static void
req_rcpt(struct authd_peer *p, const struct authd_req *r)
{
	struct userdb_list l = { .n = 0 };
	enum userdb_res res;

	if (foreign_domain(r->address)) {
		reply_res(p, r->id, AUTHD_TEMPFAIL);
		return;
	}
	res = userdb_resolve(authd.udb, r->address, &l);
	if (res == USERDB_NOTFOUND)
		res = postmaster_resolve(r->address, &l);
	if (res == USERDB_OK)
		reply_list(p, r->id, &l);
	else
		reply_res(p, r->id, userdb_to_res(res));
	userdb_list_free(&l);
}

/*
 * login_user - the canonical login name: lower case "local@domain"; a
 * bare local part is accepted when there is exactly one local domain.
 */
static bool
login_user(const char *in, char *out, size_t outsz)
{
	const struct conf *c = authd.conf;
	char full[USERDB_ADDR_MAX];

	if (strchr(in, '@') == NULL) {
		if (c->ndomains != 1 || !bsnprintf(full, sizeof(full), "%s@%s",
		    in, c->domains[0]))
			return false;
		in = full;
	}
	return userdb_normalize(in, strlen(in), false, out, outsz);
}

/* a login whose scrypt runs in a hasher: what the answer needs */
struct login_wait {
	struct authd_peer *p;
	uint32_t	 id;
	bool		 cache;		/* put it in the cache if it succeeds */
	char		 service[AUTHD_SERVICE_MAX + 1];
	char		 rawuser[USERDB_ADDR_MAX];	/* as given, for the log */
	char		 user[USERDB_ADDR_MAX];		/* canonical */
	char		 ip[AUTHD_IP_MAX + 1];
	char		 ipkey[AUTHD_IP_MAX + 8];
	char		 netkey[AUTHD_NETKEY_MAX];
	char		 stored[USERDB_VALUE_MAX];
	char		 password[AUTHD_PASSWORD_MAX];	/* only while cache */
	size_t		 passlen;
};

static void
log_login(const char *what, const struct authd_req *r, const char *extra)
{
	char u[96], a[72];

	log_info("auth %s service=%s user=%s addr=%s%s", what, r->service,
	    log_escape(u, sizeof(u), r->user, strlen(r->user)),
	    log_escape(a, sizeof(a), r->ip, strlen(r->ip)), extra);
}

/*
 * log_busy - a login answered TEMPFAIL for want of a hasher's time: one
 * line a second at most, with the number of those not logged since (a
 * flood's excess is refused at once and would flood the log too)
 */
static void
log_busy(const struct authd_req *r, const char *why)
{
	static uint64_t last;
	static unsigned quiet;
	char extra[96];
	uint64_t now = ev_now();

	if (last != 0 && now - last < 1000) {
		quiet++;
		return;
	}
	bsnprintf(extra, sizeof(extra), " busy=%zu queue=%s unlogged=%u",
	    authd_hash_busy(), why, quiet);
	log_login("tempfail", r, extra);
	last = now;
	quiet = 0;
}

/* good_key - the key of `user` logging in from network `netkey` */
static void
good_key(const char *netkey, const char *user, char *key, size_t keysz)
{
	if (!bsnprintf(key, keysz, "%s %s", netkey, user))
		key[0] = '\0';		/* cannot be: sizes are checked */
}

/*
 * login_ok - reset the address's failures, remember the network of this
 * user, log, answer OK; an SMTP login of a peer that may ask for
 * signatures also gets a grant (authd_grant.c).  The network's failures
 * are not reset: another host of it may be guessing.
 */
static void
login_ok(struct authd_peer *p, const struct authd_req *r, const char *ipkey,
    const char *netkey, const char *user)
{
	uint8_t grant[AUTHD_GRANT_LEN];
	char gk[GOOD_KEY_MAX];
	struct ipc_out o;
	pid_t pid;
	uid_t uid;

	authd_throttle_reset(authd.ip_fail, ipkey);
	good_key(netkey, user, gk, sizeof(gk));
	authd_throttle_touch(authd.good, gk, ev_now());
	log_login("ok", r, "");
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_str(&o, user);
	authd_peer_cred(p, &pid, &uid);
	if (strcmp(r->service, "smtp") == 0 &&
	    authd_peer_may(p, AUTHD_DKIM_SIGN) &&
	    authd_grant_new(pid, uid, user, 0, ev_now(), grant) == 0)
		ipc_put_data(&o, grant, sizeof(grant));
	authd_peer_reply(p, r->id, &o);
	explicit_bzero(grant, sizeof(grant));
}

/*
 * login_failed - count (address, network, user), maybe block the address,
 * log, answer after the longest of the three delays
 */
static void
login_failed(struct authd_peer *p, const struct authd_req *r,
    const char *ipkey, const char *netkey, const char *user)
{
	const struct authd_throttle_conf *tc = &authd.tc;
	uint64_t now = ev_now();
	enum authd_action action = ACTION_NONE;
	unsigned n, u, nn, delay, udelay, ndelay;
	char extra[64];

	n = authd_throttle_fail(authd.ip_fail, ipkey, now, tc->window_ms);
	u = authd_throttle_fail(authd.user_fail, user, now, tc->window_ms);
	nn = authd_throttle_fail(authd.net_fail, netkey, now, tc->window_ms);
	delay = authd_throttle_delay(n, tc->delay_after, tc->max_delay_ms);
	udelay = authd_throttle_delay(u, tc->user_after, tc->max_delay_ms);
	ndelay = authd_throttle_delay(nn, tc->net_after, tc->max_delay_ms);
	if (udelay > delay)
		delay = udelay;
	if (ndelay > delay)
		delay = ndelay;
	if (delay > 0)
		action = ACTION_DELAY;
	if (n >= tc->block_after) {
		authd_throttle_block(authd.ip_fail, ipkey, now + tc->block_ms);
		action = ACTION_BLOCK;
	}
	bsnprintf(extra, sizeof(extra), " failures=%u action=%s", n,
	    action_name[action]);
	log_login("failed", r, extra);
	if (delay == 0) {
		struct ipc_out o;

		ipc_out_init(&o);
		ipc_put_u32(&o, AUTHD_FAIL);
		ipc_put_u32(&o, 0);
		authd_peer_reply(p, r->id, &o);
	} else
		authd_peer_fail_later(p, r->id, delay);
}

static void
login_wait_free(struct login_wait *w)
{
	explicit_bzero(w, sizeof(*w));
	free(w);
}

/* login_checked - a hasher answered (or the peer went away meanwhile) */
static void
login_checked(void *arg, enum authd_check check, bool cancelled)
{
	struct login_wait *w = arg;
	struct authd_req r;

	if (cancelled)
		goto done;
	memset(&r, 0, sizeof(r));
	r.id = w->id;
	r.service = w->service;
	r.user = w->rawuser;
	r.ip = w->ip;
	switch (check) {
	case CHECK_OK:
		if (w->cache)
			authd_cache_put(authd.cache, w->user, w->password,
			    w->passlen, w->stored, ev_now());
		login_ok(w->p, &r, w->ipkey, w->netkey, w->user);
		break;
	case CHECK_FAIL:
		login_failed(w->p, &r, w->ipkey, w->netkey, w->user);
		break;
	default:	/* waited too long, pushed out, or a hasher died */
		log_busy(&r, "waited");
		reply_res(w->p, r.id, AUTHD_TEMPFAIL);
		break;
	}
done:
	login_wait_free(w);
}

/*
 * login_wait_new - what login_checked() needs, copied from the request;
 * stored NULL: no such user.  NULL if it does not fit or no memory.
 */
static struct login_wait *
login_wait_new(struct authd_peer *p, const struct authd_req *r,
    const char *user, const char *ipkey, const char *netkey,
    const char *stored)
{
	struct login_wait *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->p = p;
	w->id = r->id;
	if (!bstrcpy(w->service, r->service, sizeof(w->service)) ||
	    !bstrcpy(w->rawuser, r->user, sizeof(w->rawuser)) ||
	    !bstrcpy(w->user, user, sizeof(w->user)) ||
	    !bstrcpy(w->ip, r->ip, sizeof(w->ip)) ||
	    !bstrcpy(w->ipkey, ipkey, sizeof(w->ipkey)) ||
	    !bstrcpy(w->netkey, netkey, sizeof(w->netkey)) ||
	    r->passlen > sizeof(w->password)) {
		login_wait_free(w);
		return NULL;
	}
	if (stored != NULL && authd.cache != NULL) {
		w->cache = true;
		bstrcpy(w->stored, stored, sizeof(w->stored));
		memcpy(w->password, r->password, r->passlen);
		w->passlen = r->passlen;
	}
	return w;
}

/*
 * login_prio - may this check go ahead of the queue: this user logged in
 * from this network lately, and the network is not failing?
 */
static bool
login_prio(const char *netkey, const char *user)
{
	char gk[GOOD_KEY_MAX];
	uint64_t now = ev_now();

	good_key(netkey, user, gk, sizeof(gk));
	return authd_throttle_count(authd.good, gk, now, GOOD_MS) > 0 &&
	    authd_throttle_count(authd.net_fail, netkey, now,
	    authd.tc.window_ms) < authd.tc.delay_after;
}

/* login_submit - queue the check for a hasher, or answer TEMPFAIL at once */
static void
login_submit(struct authd_peer *p, const struct authd_req *r,
    const char *user, const char *ipkey, const char *netkey,
    const char *stored)
{
	static const char *const why[] = {
		[FQ_QUEUED] = "", [FQ_NET_FULL] = "network", [FQ_FULL] = "full",
	};
	enum authd_fq_res res;
	struct login_wait *w;

	/* a full network costs no allocation and no more lookups */
	if ((res = authd_hash_room(netkey)) != FQ_QUEUED)
		goto refuse;
	if ((w = login_wait_new(p, r, user, ipkey, netkey, stored)) == NULL) {
		res = FQ_FULL;
		goto refuse;
	}
	if ((res = authd_hash_submit(p, netkey, login_prio(netkey, user),
	    r->service, user, stored, r->password, r->passlen, login_checked,
	    w)) == FQ_QUEUED)
		return;
	login_wait_free(w);
refuse:
	log_busy(r, why[res]);
	/* not at once: a client retrying at once would keep us refusing */
	authd_peer_tempfail_later(p, r->id, AUTHD_HASH_REFUSE_MS);
}

static void
req_login(struct authd_peer *p, const struct authd_req *r)
{
	char user[USERDB_ADDR_MAX], ipkey[AUTHD_IP_MAX + 8], extra[48];
	char netkey[AUTHD_NETKEY_MAX], stored[USERDB_VALUE_MAX];
	enum userdb_res ures = USERDB_NOTFOUND;
	struct ipc_out o;
	uint64_t left;

	authd_throttle_addr_key(r->ip, ipkey, sizeof(ipkey));
	authd_throttle_net_key(r->ip, netkey, sizeof(netkey));
	if ((left = authd_throttle_blocked(authd.ip_fail, ipkey, ev_now())) > 0) {
		bsnprintf(extra, sizeof(extra), " retry_after=%llu",
		    (unsigned long long)(left + 999) / 1000);
		log_login("throttled", r, extra);
		ipc_out_init(&o);
		ipc_put_u32(&o, AUTHD_THROTTLED);
		ipc_put_u32(&o, (uint32_t)((left + 999) / 1000));
		authd_peer_reply(p, r->id, &o);
		return;
	}
	stored[0] = '\0';
	if (login_user(r->user, user, sizeof(user)))
		ures = userdb_get(authd.udb, USERDB_USERS, user, stored,
		    sizeof(stored));
	else	/* not even an address: same cost, same answer as a bad password */
		bstrcpy(user, r->user, sizeof(user));
	if (ures == USERDB_ERROR) {
		log_login("tempfail", r, "");
		reply_res(p, r->id, AUTHD_TEMPFAIL);
		goto done;
	}
	if (ures == USERDB_OK && r->passlen > 0 && authd_cache_hit(authd.cache,
	    user, r->password, r->passlen, stored, ev_now())) {
		login_ok(p, r, ipkey, netkey, user);
		goto done;
	}
	login_submit(p, r, user, ipkey, netkey,
	    ures == USERDB_OK ? stored : NULL);
done:
	explicit_bzero(stored, sizeof(stored));
}

static void
req_senders(struct authd_peer *p, const struct authd_req *r)
{
	struct userdb_list l = { .n = 0 };
	char user[USERDB_ADDR_MAX];
	enum userdb_res res = USERDB_NOTFOUND;

	if (login_user(r->user, user, sizeof(user)))
		res = userdb_senders(authd.udb, user, &l);
	if (res == USERDB_OK)
		reply_list(p, r->id, &l);
	else
		reply_res(p, r->id, userdb_to_res(res));
	userdb_list_free(&l);
}

/* domain_of - does address or "@domain" pattern a belong to domain? */
static bool
domain_of(const char *a, const char *domain)
{
	const char *at = strrchr(a, '@');

	return at != NULL && strcasecmp(at + 1, domain) == 0;
}

/* grant_covers - may grant g have mail of `domain` signed? */
static enum authd_res
grant_covers(const struct authd_grant *g, const char *domain)
{
	struct userdb_list l = { .n = 0 };
	enum authd_res res = AUTHD_FAIL;
	size_t i;

	if (g->local)
		return localsend_domain_ok(g->local_uid, domain) ? AUTHD_OK :
		    AUTHD_FAIL;
	switch (userdb_senders(authd.udb, g->user, &l)) {
	case USERDB_OK:
		for (i = 0; i < l.n && res != AUTHD_OK; i++)
			if (domain_of(l.v[i], domain))
				res = AUTHD_OK;
		break;
	case USERDB_NOTFOUND:	/* deleted since the login */
		break;
	default:
		res = AUTHD_TEMPFAIL;
		break;
	}
	userdb_list_free(&l);
	return res;
}

/*
 * sign_allowed - the request carries a grant of this very process that
 * covers the domain; else the reason is logged and FAIL or TEMPFAIL
 */
static enum authd_res
sign_allowed(struct authd_peer *p, const struct authd_req *r)
{
	const struct authd_grant *g;
	enum authd_res res;
	char d[96], u[96];
	pid_t pid;
	uid_t uid;

	authd_peer_cred(p, &pid, &uid);
	if ((g = authd_grant_use(pid, uid, r->grant, ev_now())) == NULL) {
		log_warnx("dkim: peer %s asked to sign for domain=%s without a "
		    "valid grant, refused", authd_peer_name(p),
		    log_escape(d, sizeof(d), r->domain, strlen(r->domain)));
		return AUTHD_FAIL;
	}
	if ((res = grant_covers(g, r->domain)) == AUTHD_FAIL) {
		if (g->local)
			bsnprintf(u, sizeof(u), "local uid=%ld", (long)g->local_uid);
		else
			log_escape(u, sizeof(u), g->user, strlen(g->user));
		log_warnx("dkim: peer %s asked to sign for domain=%s, not a "
		    "domain of %s, refused", authd_peer_name(p),
		    log_escape(d, sizeof(d), r->domain, strlen(r->domain)), u);
	}
	return res;
}

static void
req_dkim_sign(struct authd_peer *p, const struct authd_req *r)
{
	unsigned char sig[AUTHD_DKIM_SIG_MAX];
	size_t siglen = sizeof(sig);
	enum authd_res res;
	struct ipc_out o;
	char d[96], s[96];

	if ((res = sign_allowed(p, r)) != AUTHD_OK) {
		reply_res(p, r->id, res);
		return;
	}
	if (authd_dkim_alg(r->domain, r->selector) != (int)r->alg) {
		log_warnx("dkim: no key for domain=%s selector=%s alg=%u",
		    log_escape(d, sizeof(d), r->domain, strlen(r->domain)),
		    log_escape(s, sizeof(s), r->selector, strlen(r->selector)),
		    r->alg);
		reply_res(p, r->id, AUTHD_NOTFOUND);
		return;
	}
	if (authd_dkim_sign(r->domain, r->selector, (int)r->alg, r->digest, sig,
	    &siglen) == -1) {
		reply_res(p, r->id, AUTHD_TEMPFAIL);
		return;
	}
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_data(&o, sig, siglen);
	authd_peer_reply(p, r->id, &o);
}

static void
req_dkim_alg(struct authd_peer *p, const struct authd_req *r)
{
	struct ipc_out o;
	int alg = authd_dkim_alg(r->domain, r->selector);

	if (alg == 0) {
		reply_res(p, r->id, AUTHD_NOTFOUND);
		return;
	}
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_u32(&o, (uint32_t)alg);
	authd_peer_reply(p, r->id, &o);
}

/*
 * local_peer - the uid at the other end of fd, facteur-sendmail's
 * connection to run_dir/smtpd.sock as smtpd's smtp role accepted it; -1
 * (with the reason) for anything else: a socket the asking process made
 * or connected itself (its peer would be itself, or authd's listener,
 * which was bound by root), or one of facteur's own roles.
 */
static int
local_peer(int fd, uid_t *uid_r, const char **why_r)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	struct ucred cred;
	char want[sizeof(sun.sun_path)];
	size_t i;

	memset(&sun, 0, sizeof(sun));
	*why_r = "not a connection to smtpd.sock";
	if (!bsnprintf(want, sizeof(want), "%s/%s", authd.conf->run_dir,
	    "smtpd.sock") ||
	    getsockname(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un,
	    sun_path) || strncmp(sun.sun_path, want, sizeof(sun.sun_path)) != 0)
		return -1;
	len = sizeof(cred);
	*why_r = "no peer credentials";
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    cred.pid <= 0)
		return -1;
	*why_r = "the peer is one of facteur's roles";
	for (i = 0; i < authd.nnogrant; i++)
		if (authd.nogrant[i] == cred.uid)
			return -1;
	*uid_r = cred.uid;
	return 0;
}

static void
req_local(struct authd_peer *p, const struct authd_req *r)
{
	uint8_t grant[AUTHD_GRANT_LEN];
	struct ipc_out o;
	const char *why;
	uid_t luid;
	pid_t pid;
	uid_t uid;

	if (local_peer(r->fd, &luid, &why) == -1) {
		log_warnx("local grant for peer %s refused: %s",
		    authd_peer_name(p), why);
		reply_res(p, r->id, AUTHD_FAIL);
		return;
	}
	authd_peer_cred(p, &pid, &uid);
	if (authd_grant_new(pid, uid, NULL, luid, ev_now(), grant) == -1) {
		reply_res(p, r->id, AUTHD_TEMPFAIL);
		return;
	}
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_data(&o, grant, sizeof(grant));
	authd_peer_reply(p, r->id, &o);
	explicit_bzero(grant, sizeof(grant));
}

static void
req_release(struct authd_peer *p, const struct authd_req *r)
{
	pid_t pid;
	uid_t uid;

	authd_peer_cred(p, &pid, &uid);
	authd_grant_release(pid, uid, r->grant, ev_now());
	reply_res(p, r->id, AUTHD_OK);
}

void
authd_req_dispatch(struct authd_peer *p, const struct authd_req *r)
{
	switch (r->type) {
	case AUTHD_RCPT:
		req_rcpt(p, r);
		break;
	case AUTHD_LOGIN:
		req_login(p, r);
		break;
	case AUTHD_SENDERS:
		req_senders(p, r);
		break;
	case AUTHD_DKIM_SIGN:
		req_dkim_sign(p, r);
		break;
	case AUTHD_DKIM_ALG:
		req_dkim_alg(p, r);
		break;
	case AUTHD_LOCAL:
		req_local(p, r);
		break;
	case AUTHD_RELEASE:
		req_release(p, r);
		break;
	default:
		authd_peer_kill(p, "unexpected request");
		break;
	}
}
