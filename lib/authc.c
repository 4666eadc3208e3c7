/* SPDX-License-Identifier: ISC */
/*
 * authc.c - the asynchronous client of facteur-authd (protocol: authc.h).
 *
 * Runs in smtpd and imapd, inside their event loop, as `user`.  One
 * connection to run_dir/authd.sock, opened on the first request and again
 * after authd went away (restart): AUTHD_HELLO is queued first, requests
 * follow without waiting for its answer.  Each request waits in a list
 * under its id with a timer; an answer, the timeout (AUTHC_TIMEOUT_MS) or
 * the loss of the connection completes it exactly once, always from the
 * event loop, never from inside the authc_* call that queued it.  Answers
 * from authd are checked like any peer input: a malformed one drops the
 * connection and fails what was pending with AUTHD_TEMPFAIL.  Out of memory
 * makes a request return 0 (the caller answers a temporary failure).
 *
 * Positive RCPT answers are kept (lib/rcpt_cache.c) while the connection
 * stands and authd said at HELLO that it reports changes of its databases
 * (AUTHD_HELLO_NOTIFIES): AUTHD_CHANGED or the loss of the connection
 * empties the cache.  A cached answer completes the request from a 0 ms
 * timer, as an answer from authd would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "authc.h"
#include "log.h"
#include "rcpt_cache.h"
#include "xmem.h"

struct authc_req {
	struct authc_req	*next, *prev;
	uint32_t		 id;
	authc_cb		*cb;
	void			*arg;
	struct ev_timer		 timer;
	char			*rcpt;		/* an RCPT whose answer may be kept */
	uint8_t			*cached;	/* its answer, from the cache */
	size_t			 ncached;
};

/* a connection; freed from a timer, never inside its own callbacks */
struct authc_conn {
	struct ipc		 ch;
	struct authc_conn	*next_dead;
};

static struct {
	char			 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool			 path_ok;
	struct authc_conn	*conn;
	struct authc_conn	*dead;
	struct ev_timer		 reaper;
	struct authc_req	*reqs;
	uint32_t		 next_id;
	bool			 notified;	/* authd reports changes: cache */
	struct ev_timer		 expire;	/* frees expired cache entries */
} authc;

static void authc_reap(struct ev_timer *t, void *arg);
static void authc_expire(struct ev_timer *t, void *arg);

void
authc_init(const char *run_dir)
{
	authc.path_ok = bsnprintf(authc.path, sizeof(authc.path), "%s/%s",
	    run_dir, AUTHD_SOCKET);
	if (!authc.path_ok)
		log_warnx("authc: %s/%s: path too long for a socket", run_dir,
		    AUTHD_SOCKET);
	authc.next_id = 1;
	ev_timer_init(&authc.reaper, authc_reap, NULL);
	ev_timer_init(&authc.expire, authc_expire, NULL);
}

static void
authc_expire(struct ev_timer *t, void *arg)
{
	(void)arg;
	if (rcpt_cache_expire(ev_now()))
		ev_timer_add(t, RCPT_CACHE_TTL_MS / 4);
}

/* cache_forget - authd's databases may have changed: keep nothing */
static void
cache_forget(void)
{
	rcpt_cache_clear();
	ev_timer_del(&authc.expire);
}

static void
authc_reap(struct ev_timer *t, void *arg)
{
	struct authc_conn *c;

	(void)t;
	(void)arg;
	while ((c = authc.dead) != NULL) {
		authc.dead = c->next_dead;
		free(c);
	}
}

static void
req_unlink(struct authc_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		authc.reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	ev_timer_del(&r->timer);
}

static struct authc_req *
req_find(uint32_t id)
{
	struct authc_req *r;

	for (r = authc.reqs; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void
req_free(struct authc_req *r)
{
	free(r->rcpt);
	free(r->cached);
	free(r);
}

/* req_link - give r a free id and put it in the list of pending requests */
static void
req_link(struct authc_req *r)
{
	do {
		r->id = authc.next_id++;
	} while (r->id == 0 || req_find(r->id) != NULL);
	r->next = authc.reqs;
	if (r->next != NULL)
		r->next->prev = r;
	authc.reqs = r;
}

/* req_complete - unlink, call back once, free */
static void
req_complete(struct authc_req *r, enum authd_res res, struct ipc_msg *m)
{
	req_unlink(r);
	r->cb(r->arg, res, m);
	req_free(r);
}

/*
 * authc_drop - forget the connection and fail everything pending on it.
 * The ipc is closed here (if ipc.c has not already) and freed later.
 */
static void
authc_drop(const char *why)
{
	struct authc_conn *c = authc.conn;
	struct authc_req *r;

	if (c == NULL)
		return;
	if (why != NULL)
		log_warnx("authc: %s", why);
	authc.conn = NULL;
	authc.notified = false;		/* changes may go unreported now */
	cache_forget();
	ipc_close(&c->ch);
	c->next_dead = authc.dead;
	authc.dead = c;
	ev_timer_add(&authc.reaper, 0);
	/*
	 * callbacks may queue new requests (they go to a new connection) or
	 * cancel others: take the first one authd owed an answer each time
	 */
	for (;;) {
		for (r = authc.reqs; r != NULL && r->cached != NULL; r = r->next)
			;
		if (r == NULL)
			break;
		req_complete(r, AUTHD_TEMPFAIL, NULL);
	}
}

static void
authc_on_close(struct ipc *ch, void *arg)
{
	(void)arg;
	if (authc.conn != NULL && ch == &authc.conn->ch)
		authc_drop("authd closed the connection");
}

static void
authc_on_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct authc_req *r;
	uint32_t res;

	(void)arg;
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (authc.conn == NULL || ch != &authc.conn->ch)
		return;
	if (m->hdr.type == AUTHD_CHANGED && m->hdr.id == 0 && m->hdr.len == 0) {
		cache_forget();
		return;
	}
	if (m->hdr.type != AUTHD_REPLY || !ipc_get_u32(m, &res) ||
	    res > AUTHD_TEMPFAIL) {
		authc_drop("malformed answer from authd");
		return;
	}
	if (m->hdr.id == 0) {
		/* the answer to HELLO: OK, u32 version, u32 flags */
		uint32_t version, flags;

		if (res != AUTHD_OK)
			authc_drop("authd refused our protocol version");
		else if (!ipc_get_u32(m, &version) || !ipc_get_u32(m, &flags) ||
		    !ipc_get_end(m))
			authc_drop("malformed answer from authd");
		else
			authc.notified = (flags & AUTHD_HELLO_NOTIFIES) != 0;
		return;
	}
	if ((r = req_find(m->hdr.id)) == NULL || r->cached != NULL)
		return;		/* timed out or cancelled meanwhile */
	if (r->rcpt != NULL && res == AUTHD_OK && authc.notified) {
		rcpt_cache_put(r->rcpt, m->p + m->pos, m->hdr.len - m->pos,
		    ev_now());
		if (!ev_timer_pending(&authc.expire))
			ev_timer_add(&authc.expire, RCPT_CACHE_TTL_MS);
	}
	req_complete(r, (enum authd_res)res, m);
}

/* authc_connect - a connection with HELLO queued, or -1 */
static int
authc_connect(void)
{
	struct sockaddr_un sun;
	struct authc_conn *c;
	struct ipc_out o;
	int fd;

	if (!authc.path_ok) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, authc.path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	/* a local socket connects at once or not at all (EAGAIN: backlog full) */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return -1;
	}
	ipc_init(&c->ch, fd, authc_on_msg, authc_on_close, NULL);
	ipc_secret(&c->ch);	/* logins carry passwords */
	authc.conn = c;
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_PROTO_VERSION);
	if (ipc_send(&c->ch, AUTHD_HELLO, 0, -1, &o) == -1) {
		authc_drop(NULL);
		return -1;
	}
	return 0;
}

static void
authc_timeout(struct ev_timer *t, void *arg)
{
	struct authc_req *r = arg;

	(void)t;
	log_warnx("authc: request %u: no answer from authd in %d ms", r->id,
	    AUTHC_TIMEOUT_MS);
	req_complete(r, AUTHD_TEMPFAIL, NULL);
}

/* authc_peer_gone - EOF or an error is waiting on the connection */
static bool
authc_peer_gone(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR);
}

/* authc_send - queue one request; its id, or 0 (nothing will be called) */
static uint32_t
authc_send_fd(uint32_t type, int fd, const struct ipc_out *o, authc_cb *cb,
    void *arg)
{
	struct authc_req *r;
	static bool warned;

	if (o->overflow) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	/* authd restarted while the loop was busy: do not send into a dead socket */
	if (authc.conn != NULL && authc_peer_gone(authc.conn->ch.fd))
		authc_drop("authd closed the connection");
	if (authc.conn == NULL && authc_connect() == -1) {
		if (!warned)
			log_warn("authc: connect %s", authc.path);
		warned = true;
		if (fd != -1)
			close(fd);
		return 0;
	}
	warned = false;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	req_link(r);
	if (ipc_send(&authc.conn->ch, type, r->id, fd, o) == -1) {
		req_unlink(r);
		free(r);
		authc_drop("cannot send to authd");
		return 0;
	}
	r->cb = cb;
	r->arg = arg;
	ev_timer_init(&r->timer, authc_timeout, r);
	ev_timer_add(&r->timer, AUTHC_TIMEOUT_MS);
	return r->id;
}

static uint32_t
authc_send(uint32_t type, const struct ipc_out *o, authc_cb *cb, void *arg)
{
	return authc_send_fd(type, -1, o, cb, arg);
}

/* cached_done - the 0 ms timer of an answer from the cache */
static void
cached_done(struct ev_timer *t, void *arg)
{
	struct authc_req *r = arg;
	struct ipc_msg m = { .fd = -1 };

	(void)t;
	m.hdr.type = AUTHD_REPLY;
	m.hdr.id = r->id;
	m.hdr.len = r->ncached;
	m.p = r->cached;
	req_complete(r, AUTHD_OK, &m);
}

/* rcpt_cached - a request answered from the cache, or 0 when not there */
static uint32_t
rcpt_cached(const char *address, authc_cb *cb, void *arg)
{
	struct authc_req *r;
	const uint8_t *answer;
	size_t n;

	if (!rcpt_cache_get(address, ev_now(), &answer, &n) ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return 0;
	/* a copy: the cache may be emptied before the timer runs */
	if ((r->cached = malloc(n + 1)) == NULL) {
		free(r);
		return 0;
	}
	memcpy(r->cached, answer, n);
	r->ncached = n;
	r->cb = cb;
	r->arg = arg;
	req_link(r);
	ev_timer_init(&r->timer, cached_done, r);
	ev_timer_add(&r->timer, 0);
	return r->id;
}

uint32_t
authc_rcpt(const char *address, authc_cb *cb, void *arg)
{
	struct ipc_out o;

	struct authc_req *r;
	uint32_t id;

	/* authd gone while the loop was busy: what it said may be stale */
	if (authc.conn != NULL && authc_peer_gone(authc.conn->ch.fd))
		authc_drop("authd closed the connection");
	if (authc.notified && (id = rcpt_cached(address, cb, arg)) != 0)
		return id;
	ipc_out_init(&o);
	ipc_put_str(&o, address);
	/* kept if HELLO's answer, which comes first, allows it */
	if ((id = authc_send(AUTHD_RCPT, &o, cb, arg)) != 0 &&
	    (r = req_find(id)) != NULL)
		r->rcpt = strdup(address);	/* NULL: the answer is not kept */
	return id;
}

uint32_t
authc_login(const char *service, const char *user, const char *password,
    const char *client_ip, authc_cb *cb, void *arg)
{
	struct ipc_out o;
	uint32_t id;

	ipc_out_init(&o);
	ipc_put_str(&o, service);
	ipc_put_str(&o, user);
	ipc_put_str(&o, password);
	ipc_put_str(&o, client_ip);
	id = authc_send(AUTHD_LOGIN, &o, cb, arg);
	wipe(o.p, o.len);
	return id;
}

uint32_t
authc_senders(const char *user, authc_cb *cb, void *arg)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, user);
	return authc_send(AUTHD_SENDERS, &o, cb, arg);
}

uint32_t
authc_dkim_sign(const char *domain, const char *selector, enum authd_alg alg,
    const uint8_t digest[32], const uint8_t grant[AUTHD_GRANT_LEN],
    authc_cb *cb, void *arg)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, domain);
	ipc_put_str(&o, selector);
	ipc_put_u32(&o, alg);
	ipc_put_data(&o, digest, 32);
	ipc_put_data(&o, grant, AUTHD_GRANT_LEN);
	return authc_send(AUTHD_DKIM_SIGN, &o, cb, arg);
}

uint32_t
authc_local(int fd, authc_cb *cb, void *arg)
{
	struct ipc_out o;
	int copy;

	if ((copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return 0;
	ipc_out_init(&o);
	return authc_send_fd(AUTHD_LOCAL, copy, &o, cb, arg);
}

/* release_done - nobody waits for the answer to a release */
static void
release_done(void *arg, enum authd_res res, struct ipc_msg *m)
{
	(void)arg;
	(void)res;
	(void)m;
}

void
authc_release(const uint8_t grant[AUTHD_GRANT_LEN])
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_data(&o, grant, AUTHD_GRANT_LEN);
	(void)authc_send(AUTHD_RELEASE, &o, release_done, NULL);
}

uint32_t
authc_dkim_alg(const char *domain, const char *selector, authc_cb *cb, void *arg)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, domain);
	ipc_put_str(&o, selector);
	return authc_send(AUTHD_DKIM_ALG, &o, cb, arg);
}

bool
authc_credentials_ok(const char *user, const char *pass)
{
	const unsigned char *u;
	size_t n = strlen(pass);

	for (u = (const unsigned char *)user; *u; u++)
		if (*u <= ' ' || *u == 0x7f)
			return false;
	return *user != '\0' && u - (const unsigned char *)user <= 254 &&
	    n > 0 && n <= 1024 && strpbrk(pass, "\r\n") == NULL;
}

void
authc_cancel(uint32_t id)
{
	struct authc_req *r = req_find(id);

	if (r == NULL)
		return;
	req_unlink(r);
	req_free(r);
}
