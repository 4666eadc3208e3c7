/* SPDX-License-Identifier: ISC */
/*
 * authd_peer.c - the listening socket run_dir/authd.sock and the clients
 * connected to it.
 *
 * Runs in facteur-authd as user-auth.  The socket is mode 0666; who may
 * talk, and ask what, is decided by SO_PEERCRED against authd.allow (see
 * authd.h): a uid not listed is closed at accept, a request type its uid
 * may not ask closes the connection.  Every frame is decoded by
 * authd_proto.c; the first must be AUTHD_HELLO with our version.  A peer
 * that sends a malformed frame, speaks another version, or stops reading
 * its answers is closed; authd keeps serving the others.  A peer struct is
 * freed from a timer, never inside one of its own callbacks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authd.h"
#include "log.h"
#include "xmem.h"

/* an answer held back: FAIL by the throttle, TEMPFAIL of a full queue */
struct authd_delayed {
	struct authd_delayed	*next, *prev;
	struct authd_peer	*peer;
	uint32_t		 id;
	uint32_t		 res;		/* AUTHD_FAIL or AUTHD_TEMPFAIL */
	unsigned		 delay_ms;
	struct ev_timer		 t;
};

struct authd_peer {
	struct ipc		 ch;
	uid_t			 uid;
	uint32_t		 types;		/* what it may ask */
	pid_t			 pid;
	bool			 hello;
	bool			 dead;
	char			 name[48];
	struct authd_delayed	*delayed;
	struct ev_timer		 reap;
	struct authd_peer	*next, *prev;	/* all peers, for shutdown */
};

static struct authd_peer *peers;

static void
peer_free(struct ev_timer *t, void *arg)
{
	struct authd_peer *p = arg;

	(void)t;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	authd.npeers--;
	free(p);
}

static void
peer_drop_delayed(struct authd_peer *p)
{
	struct authd_delayed *d;

	while ((d = p->delayed) != NULL) {
		p->delayed = d->next;
		ev_timer_del(&d->t);
		authd.ndelayed--;
		free(d);
	}
}

void
authd_peer_kill(struct authd_peer *p, const char *why)
{
	if (p->dead)
		return;
	if (why != NULL)
		log_warnx("peer %s: %s, closing", p->name, why);
	p->dead = true;
	ipc_close(&p->ch);
	peer_drop_delayed(p);
	authd_hash_cancel(p);	/* its logins in the hashers answer nobody */
	ev_timer_add(&p->reap, 0);
}

const char *
authd_peer_name(const struct authd_peer *p)
{
	return p->name;
}

void
authd_peer_cred(const struct authd_peer *p, pid_t *pid_r, uid_t *uid_r)
{
	*pid_r = p->pid;
	*uid_r = p->uid;
}

bool
authd_peer_may(const struct authd_peer *p, uint32_t type)
{
	return type < 32 && (p->types & AUTHD_TYPE_BIT(type)) != 0;
}

static void
peer_on_close(struct ipc *ch, void *arg)
{
	struct authd_peer *p = arg;

	(void)ch;
	authd_peer_kill(p, NULL);
}

void
authd_peer_reply(struct authd_peer *p, uint32_t id, const struct ipc_out *o)
{
	if (p->dead)
		return;
	if (ipc_send(&p->ch, AUTHD_REPLY, id, -1, o) == -1) {
		authd_peer_kill(p, "cannot queue an answer");
		return;
	}
	if (ipc_pending(&p->ch) > AUTHD_OUT_MAX)
		authd_peer_kill(p, "does not read its answers");
}

static void
delayed_fire(struct ev_timer *t, void *arg)
{
	struct authd_delayed *d = arg;
	struct authd_peer *p = d->peer;
	struct ipc_out o;

	(void)t;
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		p->delayed = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	authd.ndelayed--;
	ipc_out_init(&o);
	ipc_put_u32(&o, d->res);
	if (d->res == AUTHD_FAIL)
		ipc_put_u32(&o, d->delay_ms);
	authd_peer_reply(p, d->id, &o);
	free(d);
}

/* peer_hold - answer res after delay_ms; false: too many held already */
static bool
peer_hold(struct authd_peer *p, uint32_t id, uint32_t res, unsigned delay_ms)
{
	struct authd_delayed *d;

	if (authd.ndelayed >= AUTHD_MAX_DELAYED ||
	    (d = calloc(1, sizeof(*d))) == NULL)
		return false;
	d->peer = p;
	d->id = id;
	d->res = res;
	d->delay_ms = delay_ms;
	d->next = p->delayed;
	if (d->next != NULL)
		d->next->prev = d;
	p->delayed = d;
	authd.ndelayed++;
	ev_timer_init(&d->t, delayed_fire, d);
	ev_timer_add(&d->t, delay_ms);
	return true;
}

void
authd_peer_fail_later(struct authd_peer *p, uint32_t id, unsigned delay_ms)
{
	struct ipc_out o;

	if (peer_hold(p, id, AUTHD_FAIL, delay_ms))
		return;
	/* too many held back: a flood; refuse without waiting */
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_THROTTLED);
	ipc_put_u32(&o, (delay_ms + 999) / 1000);
	authd_peer_reply(p, id, &o);
}

void
authd_peer_tempfail_later(struct authd_peer *p, uint32_t id, unsigned delay_ms)
{
	struct ipc_out o;

	if (peer_hold(p, id, AUTHD_TEMPFAIL, delay_ms))
		return;
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_TEMPFAIL);
	authd_peer_reply(p, id, &o);
}

static void
peer_hello(struct authd_peer *p, const struct authd_req *r)
{
	struct ipc_out o;

	if (r->type != AUTHD_HELLO) {
		authd_peer_kill(p, "request before hello");
		return;
	}
	if (r->version != AUTHD_PROTO_VERSION) {
		char why[64];

		bsnprintf(why, sizeof(why), "speaks protocol version %u, not %u",
		    r->version, AUTHD_PROTO_VERSION);
		authd_peer_kill(p, why);
		return;
	}
	p->hello = true;
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_u32(&o, AUTHD_PROTO_VERSION);
	ipc_put_u32(&o, authd_watch_active() ? AUTHD_HELLO_NOTIFIES : 0);
	authd_peer_reply(p, r->id, &o);
}

void
authd_peer_changed(bool unwatched)
{
	struct authd_peer *p, *next;
	struct ipc_out o;

	ipc_out_init(&o);
	for (p = peers; p != NULL; p = next) {
		next = p->next;
		if (p->dead || !p->hello || !authd_peer_may(p, AUTHD_RCPT))
			continue;
		if (unwatched)	/* its next HELLO says: keep nothing */
			authd_peer_kill(p, "the databases are no longer watched");
		else if (ipc_send(&p->ch, AUTHD_CHANGED, 0, -1, &o) == -1)
			authd_peer_kill(p, "cannot queue a change notice");
	}
}

static void
peer_on_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct authd_peer *p = arg;
	struct authd_req r;
	const char *why;

	(void)ch;
	if (p->dead)
		goto done;
	/* a descriptor comes only with AUTHD_LOCAL (the decoder checks) */
	if ((why = authd_req_decode(m, &r)) != NULL) {
		char msg[96];

		bsnprintf(msg, sizeof(msg), "malformed request type %u: %s",
		    m->hdr.type, why);
		authd_peer_kill(p, msg);
		goto done;
	}
	if (!p->hello || r.type == AUTHD_HELLO)
		peer_hello(p, &r);
	else if (!authd_peer_may(p, r.type)) {
		char msg[96];

		bsnprintf(msg, sizeof(msg), "request type %u not allowed for "
		    "this uid", r.type);
		authd_peer_kill(p, msg);
	} else
		authd_req_dispatch(p, &r);
done:
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
}

void
authd_peer_allow(uid_t uid, uint32_t types)
{
	size_t i;

	for (i = 0; i < authd.nallow; i++)
		if (authd.allow[i].uid == uid)
			break;
	if (i == sizeof(authd.allow) / sizeof(authd.allow[0]))
		fatalx("too many uids allowed");
	if (i == authd.nallow) {
		authd.allow[authd.nallow].uid = uid;
		authd.allow[authd.nallow++].types = 0;
	}
	authd.allow[i].types |= types;
}

/* peer_types - the request types uid may ask, 0 if it may not connect */
static uint32_t
peer_types(uid_t uid)
{
	size_t i;

	for (i = 0; i < authd.nallow; i++)
		if (authd.allow[i].uid == uid)
			return authd.allow[i].types;
	return 0;
}

static void
peer_accept_one(int fd)
{
	struct authd_peer *p;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(fd);
		return;
	}
	if (peer_types(cred.uid) == 0) {
		log_warnx("peer pid=%ld uid=%ld: not allowed, closing",
		    (long)cred.pid, (long)cred.uid);
		close(fd);
		return;
	}
	if (authd.npeers >= AUTHD_MAX_PEERS) {
		log_warnx("peer pid=%ld uid=%ld: %d peers already, closing",
		    (long)cred.pid, (long)cred.uid, AUTHD_MAX_PEERS);
		close(fd);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_warn("peer");
		close(fd);
		return;
	}
	authd.npeers++;
	p->next = peers;
	if (peers != NULL)
		peers->prev = p;
	peers = p;
	p->uid = cred.uid;
	p->types = peer_types(cred.uid);
	p->pid = cred.pid;
	bsnprintf(p->name, sizeof(p->name), "pid=%ld uid=%ld", (long)cred.pid,
	    (long)cred.uid);
	ev_timer_init(&p->reap, peer_free, p);
	ipc_init(&p->ch, fd, peer_on_msg, peer_on_close, p);
	ipc_secret(&p->ch);	/* logins carry passwords */
	log_debug("peer %s: connected", p->name);
}

static void
peer_accept(struct ev_io *io, unsigned events, void *arg)
{
	int fd, n;

	(void)events;
	(void)arg;
	for (n = 0; n < 64; n++) {
		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		peer_accept_one(fd);
	}
}

void
authd_peer_listen(int fd)
{
	authd.listen_fd = fd;
	ev_io_init(&authd.listen_io, fd, peer_accept, NULL);
	if (ev_io_want(&authd.listen_io, EV_READ) == -1)
		fatal("watch the listening socket");
}

void
authd_peer_close_all(void)
{
	while (peers != NULL) {
		struct authd_peer *p = peers;

		authd_peer_kill(p, NULL);
		ev_timer_del(&p->reap);
		peer_free(&p->reap, p);
	}
	ev_io_stop(&authd.listen_io);
	close(authd.listen_fd);
	authd.listen_fd = -1;
}
