/* SPDX-License-Identifier: ISC */
/*
 * smtp_server.c - the smtp role: accepts on every listener, keeps the table
 * of sessions, and owns the channel to the queue role, routing its answers
 * to sessions by id.
 *
 * Connection slots (issue 16 item 4): three pools, so that a crowd on one
 * port cannot shut out the others: port 25 ([smtp] max_clients), the
 * submission ports 587 and 465 together (max_submission) and
 * facteur-sendmail (max_local); and at most [smtp] max_per_addr sessions
 * per client address (IPv6 per /64) on the network ports, and on port 25
 * at most [smtp] max_conn_rate new connections per address and minute
 * (a bot reconnecting in a loop); clients in [smtp] trusted are not
 * counted by either (on any port for max_per_addr), only by their pool.  Past a limit
 * the connection gets 421 4.7.0 and is closed.  When accept() fails for
 * want of descriptors the listeners pause (lib/climit.c), no busy loop.
 *
 * Runs as `user`, chrooted into run_dir when started as root, so it reaches
 * authd at /authd.sock and nothing on disk besides.  A session's requests
 * carry its id; an answer for a session that has gone meanwhile is dropped
 * (an opened queue file is aborted).  If the queue role goes away this
 * role exits and the parent restarts the set.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authc.h"
#include "cidr.h"
#include "climit.h"
#include "compat.h"
#include "ev.h"
#include "log.h"
#include "tls.h"
#include "xmem.h"
#include "smtpd.h"
#include "smtp_session.h"

#define MAX_LISTENERS	32
#define STOP_WAIT_MS	1000

static struct listener	*lst;
static size_t		 nlst;
static struct ev_io	 lio[MAX_LISTENERS];
static struct ev_timer	 stop_timer;
static struct climit_pause accept_pause;
static struct climit	*per_addr;
static struct climit_rate *conn_rate;	/* port 25, [smtp] max_conn_rate */
static struct session	**sessions;
static size_t		 nsessions, maxsessions;
static size_t		 pool_used[3], pool_max[3];	/* by smtp_pool() */
static struct ipc	 qch;
static uint32_t		 next_id;
static SSL_CTX		*server_tls;	/* made on first use */
static int		 cert_fd = -1, key_fd = -1;	/* what it loads */
static char		 cert_name[PATH_MAX], key_name[PATH_MAX];
static struct ev_timer	 idle_timer;	/* frees server_tls */
static struct ev_timer	 trim_timer;	/* gives the heap back */
static struct ipc	 pch;		/* from the parent: reloads */
static int		 reload_cert_fd = -1;
static char		 reload_cert[PATH_MAX];

#define TLS_IDLE_MS	60000
/*
 * The heap goes back to the system a second after the last session ended,
 * not at once: a client that sends one message per connection would make
 * each session shrink the heap and the next one grow it again (brk and
 * page faults, a tenth of the role's time at one session).
 */
#define TRIM_IDLE_MS	1000

SSL_CTX *
smtp_server_tls(void)
{
	if (server_tls == NULL && cert_fd != -1 &&
	    (server_tls = tls_server_ctx_fd(cert_fd, key_fd, cert_name,
	    key_name)) == NULL)
		log_warnx("smtp: TLS refused: the certificate does not load");
	return server_tls;
}

/* on_idle - no session for a minute: free the TLS context, trim the heap */
static void
on_idle(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	if (nsessions > 0)
		return;
	SSL_CTX_free(server_tls);
	server_tls = NULL;
	smtp_inbound_idle();
	malloc_trim(0);
}

static void spare_trim(void);

/* on_trim - no session for a second: give the peak back (small boxes) */
static void
on_trim(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	if (nsessions == 0) {
		spare_trim();
		malloc_trim(0);
	}
}

static void
listeners_want(unsigned ev)
{
	size_t i;

	for (i = 0; i < nlst; i++)
		ev_io_want(&lio[i], ev);
}

static void
listeners_stop(void *arg)
{
	(void)arg;
	listeners_want(0);
}

static void
listeners_resume(void *arg)
{
	(void)arg;
	if (!ev_timer_pending(&stop_timer))
		listeners_want(EV_READ);
}

/* smtp_pool - 0: port 25, 1: submission ports, 2: facteur-sendmail */
static size_t
smtp_pool(enum smtp_port kind)
{
	switch (kind) {
	case PORT_MX:
		return 0;
	case PORT_LOCAL:
		return 2;
	default:
		return 1;
	}
}

static void
refuse(int fd, const char *why)
{
	char line[300];
	int n;

	n = snprintf(line, sizeof(line), "421 4.7.0 %s %s, try again later\r\n",
	    smtpd_conf->hostname, why);
	(void)send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * addr_capped - whether max_per_addr counts a client of l from host: not
 * facteur-sendmail, and not one of [smtp] trusted on any port (a webmail
 * on this machine opens many submission sessions from one address)
 */
static bool
addr_capped(const struct listener *l, const char *host)
{
	const struct conf_nets *t = &smtpd_conf->smtp.trusted;

	return l->kind != PORT_LOCAL && !cidr_match(t->v, t->n, host);
}

/* session_admit - a slot in the listener's pool and under the per-address
 * caps (which trusted clients skip) */
static bool
session_admit(int fd, const struct listener *l, const char *host)
{
	static const char *const key[] = { "max_clients", "max_submission",
	    "max_local" };
	size_t pool = smtp_pool(l->kind);
	bool trusted = smtp_session_trusted(l, host);

	if (pool_used[pool] >= pool_max[pool] || nsessions >= maxsessions) {
		log_info("addr=%s refused: %s %zu reached on %s", host,
		    key[pool], pool_max[pool], l->name);
		refuse(fd, "Too many connections");
		return false;
	}
	if (l->kind == PORT_MX && !trusted && !climit_rate_take(conn_rate, host,
	    smtpd_conf->smtp.max_conn_rate, ev_now())) {
		log_info("addr=%s refused: max_conn_rate %u per minute reached "
		    "on %s", host, smtpd_conf->smtp.max_conn_rate, l->name);
		refuse(fd, "Too many connections from your address");
		return false;
	}
	if (addr_capped(l, host) && !climit_take(per_addr, host,
	    smtpd_conf->smtp.max_per_addr)) {
		log_info("addr=%s refused: max_per_addr %u reached on %s", host,
		    smtpd_conf->smtp.max_per_addr, l->name);
		refuse(fd, "Too many connections from your address");
		return false;
	}
	pool_used[pool]++;
	return true;
}

/*
 * One connection per wakeup: the listener is watched level-triggered, so
 * the next round of the loop takes the next one, and a client that
 * connects alone costs no second accept4(2) that says EAGAIN.
 */
#define ACCEPT_PER_WAKEUP	1

static void
on_accept(struct ev_io *io, unsigned events, void *arg)
{
	const struct listener *l = arg;
	struct sockaddr_storage ss;
	char host[NI_MAXHOST];
	socklen_t sl;
	uid_t uid;
	int fd, n;

	(void)events;
	for (n = 0; n < ACCEPT_PER_WAKEUP; n++) {
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			(void)climit_accept_failed(&accept_pause, errno, l->name);
			return;
		}
		uid = (uid_t)-1;
		if (l->kind == PORT_LOCAL) {
			struct ucred cr;
			socklen_t crl = sizeof(cr);

			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == -1) {
				close(fd);
				continue;
			}
			uid = cr.uid;
			snprintf(host, sizeof(host), "uid=%ld", (long)cr.uid);
		} else if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host),
		    NULL, 0, NI_NUMERICHOST) != 0)
			bstrcpy(host, "unknown", sizeof(host));
		if (!session_admit(fd, l, host))
			continue;
		if (++next_id == 0)
			next_id = 1;
		sessions[nsessions] = smtp_session_new(fd, l, host, next_id,
		    l->kind != PORT_LOCAL && cert_fd != -1);
		if (l->kind == PORT_LOCAL)
			smtp_local_bind(sessions[nsessions], uid);
		nsessions++;
	}
}

static struct session *
session_find(uint32_t id)
{
	size_t i;

	for (i = 0; i < nsessions; i++)
		if (smtp_session_id(sessions[i]) == id)
			return sessions[i];
	return NULL;
}

void
smtp_server_session_done(struct session *s)
{
	size_t i;

	for (i = 0; i < nsessions; i++)
		if (sessions[i] == s) {
			sessions[i] = sessions[--nsessions];
			pool_used[smtp_pool(s->l->kind)]--;
			if (addr_capped(s->l, s->addr))
				climit_release(per_addr, s->addr);
			break;
		}
	smtp_session_free(&s);
	if (ev_timer_pending(&stop_timer) && nsessions == 0)
		exit(0);
	if (nsessions == 0) {
		ev_timer_add(&trim_timer, TRIM_IDLE_MS);
		ev_timer_add(&idle_timer, TLS_IDLE_MS);
	}
}

/*
 * Spare queue files: while mail comes, the role keeps a few empty queue
 * files opened ahead (asked for SPARE_MAX at a time with Q_OPEN id 0 and a
 * count), so that a session's DATA takes one at once instead of waiting for
 * the queue role's answer: one round trip and two wakeups less per message.
 * The session still sees a Q_OPEN_OK, handed over at the end of the round
 * (spare_hand); a spare whose session went meanwhile stays a spare.  Spares
 * are plain pool files to the queue (removed at its next start if the role
 * dies with them); those that hold an earlier message go back a second
 * after the last session (spare_trim).
 */
#define SPARE_MAX	8

static struct {
	char		 qid[QUEUE_ID_LEN + 1];
	int		 fd;
	uint64_t	 size;		/* a recycled file's: written over */
}			 spares[SPARE_MAX];
static size_t		 nspares;
static unsigned		 spares_asked;	/* Q_OPEN id 0 answers to come */
static uint32_t		 spare_wait[64];	/* sessions given one at the round's end */
static size_t		 nspare_wait;
static struct ev_timer	 spare_timer;

/* spare_refill - ask for what is missing once half the spares are gone */
static void
spare_refill(void)
{
	struct ipc_out o;
	unsigned want = SPARE_MAX - (unsigned)nspares - spares_asked;

	if (want < SPARE_MAX / 2)
		return;
	ipc_out_init(&o);
	ipc_put_u32(&o, want);
	if (ipc_send(&qch, Q_OPEN, 0, -1, &o) == 0)
		spares_asked += want;
}

/* spare_hand - the end of the round: each waiting session gets its spare */
static void
spare_hand(struct ev_timer *t, void *arg)
{
	struct ipc_msg m;
	struct ipc_out o;
	struct session *s;
	size_t i;

	(void)t;
	(void)arg;
	for (i = 0; i < nspare_wait && nspares > 0; i++) {
		if ((s = session_find(spare_wait[i])) == NULL)
			continue;	/* gone: its spare stays one */
		nspares--;
		ipc_out_init(&o);
		ipc_put_str(&o, spares[nspares].qid);
		ipc_put_u64(&o, spares[nspares].size);
		memset(&m, 0, sizeof(m));
		m.hdr.type = Q_OPEN_OK;
		m.hdr.len = (uint32_t)o.len;
		m.hdr.id = spare_wait[i];
		m.p = o.p;
		m.fd = spares[nspares].fd;
		smtp_session_queue_reply(s, &m);
		if (m.fd != -1)
			close(m.fd);
	}
	nspare_wait = 0;
}

int
smtp_server_queue_send(struct session *s, uint32_t type, const struct ipc_out *o)
{
	uint32_t id = smtp_session_id(s);

	if (type == Q_OPEN) {
		int r = 0;

		/* one spare per waiting session; none left: ask as before */
		if (nspares > nspare_wait && nspare_wait < sizeof(spare_wait) /
		    sizeof(spare_wait[0])) {
			spare_wait[nspare_wait++] = id;
			if (!ev_timer_pending(&spare_timer))
				ev_timer_add(&spare_timer, 0);
		} else
			r = ipc_send(&qch, type, id, -1, o);
		spare_refill();
		return r;
	}
	return ipc_send(&qch, type, id, -1, o);
}

/*
 * spare_trim - idle: the spares that hold an earlier message (recycled
 * files, written over by the next) go back to the queue, which removes
 * them, so that a delivered message does not stay on disk until then
 */
static void
spare_trim(void)
{
	struct ipc_out o;
	size_t i, k = 0;

	for (i = 0; i < nspares; i++) {
		if (spares[i].size == 0) {
			spares[k++] = spares[i];
			continue;
		}
		close(spares[i].fd);
		ipc_out_init(&o);
		ipc_put_str(&o, spares[i].qid);
		(void)ipc_send(&qch, Q_ABORT, 0, -1, &o);
	}
	nspares = k;
}

/* spare_add - a Q_OPEN id 0 answer: keep the file, or give it back */
static void
spare_add(struct ipc_msg *m)
{
	struct ipc_out o;
	const char *qid;
	uint64_t size;
	size_t n;

	if (spares_asked > 0)
		spares_asked--;
	if (m->hdr.type != Q_OPEN_OK)
		return;
	if (!ipc_get_str(m, &qid, &n) || n != QUEUE_ID_LEN || m->fd == -1)
		return;
	if (!ipc_get_u64(m, &size))
		size = 0;
	if (nspares == SPARE_MAX) {
		ipc_out_init(&o);
		ipc_put_str(&o, qid);
		(void)ipc_send(&qch, Q_ABORT, 0, -1, &o);
		return;
	}
	memcpy(spares[nspares].qid, qid, QUEUE_ID_LEN + 1);
	spares[nspares].size = size;
	spares[nspares++].fd = m->fd;
	m->fd = -1;
}

static void
on_queue_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct session *s;
	struct ipc_out o;
	const char *qid;
	size_t n;

	(void)ch;
	(void)arg;
	if (m->hdr.id == 0 && (m->hdr.type == Q_OPEN_OK ||
	    m->hdr.type == Q_OPEN_FAIL)) {
		spare_add(m);
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	if ((s = session_find(m->hdr.id)) != NULL) {
		smtp_session_queue_reply(s, m);
		return;
	}
	/* the session is gone: give an opened file back */
	if (m->hdr.type == Q_OPEN_OK && ipc_get_str(m, &qid, &n)) {
		ipc_out_init(&o);
		ipc_put_str(&o, qid);
		ipc_send(&qch, Q_ABORT, 0, -1, &o);
	}
	if (m->fd != -1)
		close(m->fd);
}

static void
on_queue_close(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_warnx("the queue role went away; exiting");
	exit(1);
}

static void
on_stop_timer(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	exit(0);
}

/* on_stop - SIGTERM: tell every client 421, give them a second, exit */
static void
on_stop(int sig, void *arg)
{
	size_t i, n = nsessions;

	(void)sig;
	(void)arg;
	listeners_want(0);
	if (n == 0)
		exit(0);
	ev_timer_add(&stop_timer, STOP_WAIT_MS);
	for (i = n; i > 0; i--)
		if (i <= nsessions)
			smtp_session_shutdown(sessions[i - 1]);
}

/*
 * on_parent_msg - P_TLS_CERT then P_TLS_KEY (SIGHUP), a pair the parent
 * had a child load: TLS started from now on uses it; each session in TLS
 * holds a reference to the context it began with, so nothing in progress
 * changes.
 */
static void
on_parent_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	const char *path;
	size_t n;

	if ((m->hdr.type != P_TLS_CERT && m->hdr.type != P_TLS_KEY) ||
	    m->fd == -1 || !ipc_get_str(m, &path, &n) || !ipc_get_end(m) ||
	    (m->hdr.type == P_TLS_KEY && reload_cert_fd == -1)) {
		log_warnx("smtp: unexpected message %u from the parent",
		    m->hdr.type);
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	if (m->hdr.type == P_TLS_CERT) {
		if (reload_cert_fd != -1)
			close(reload_cert_fd);
		reload_cert_fd = m->fd;
		(void)bstrcpy(reload_cert, path, sizeof(reload_cert));
		return;
	}
	if (cert_fd != -1)
		close(cert_fd);
	if (key_fd != -1)
		close(key_fd);
	cert_fd = reload_cert_fd;
	key_fd = m->fd;
	reload_cert_fd = -1;
	(void)bstrcpy(cert_name, reload_cert, sizeof(cert_name));
	(void)bstrcpy(key_name, path, sizeof(key_name));
	SSL_CTX_free(server_tls);	/* loaded again on first use */
	server_tls = NULL;
	log_info("reload: certificate %s and key %s in use for new "
	    "connections (%zu open sessions keep theirs)", cert_name,
	    key_name, nsessions);
}

static void
on_parent_close(struct ipc *ch, void *arg)
{
	ipc_close(ch);
}

void
smtp_server_run(struct listener *l, size_t nl, int queue_fd, int parent_fd,
    int cfd, int kfd)
{
	size_t i;

	lst = l;
	nlst = nl < MAX_LISTENERS ? nl : MAX_LISTENERS;
	cert_fd = cfd;
	key_fd = kfd;
	if (smtpd_conf->tls.cert != NULL)
		(void)bstrcpy(cert_name, smtpd_conf->tls.cert, sizeof(cert_name));
	if (smtpd_conf->tls.key != NULL)
		(void)bstrcpy(key_name, smtpd_conf->tls.key, sizeof(key_name));
	ev_timer_init(&idle_timer, on_idle, NULL);
	ev_timer_init(&trim_timer, on_trim, NULL);
	ev_timer_init(&spare_timer, spare_hand, NULL);
	pool_max[0] = smtpd_conf->smtp.max_clients;
	pool_max[1] = smtpd_conf->smtp.max_submission;
	pool_max[2] = smtpd_conf->smtp.max_local;
	maxsessions = pool_max[0] + pool_max[1] + pool_max[2];
	sessions = xcalloc(maxsessions, sizeof(*sessions));
	per_addr = climit_new();
	conn_rate = climit_rate_new();
	climit_pause_init(&accept_pause, listeners_stop, listeners_resume, NULL);
	authc_init(smtpd_privileged ? "/" : smtpd_conf->run_dir);
	ipc_init(&qch, queue_fd, on_queue_msg, on_queue_close, NULL);
	ipc_init(&pch, parent_fd, on_parent_msg, on_parent_close, NULL);
	ev_timer_init(&stop_timer, on_stop_timer, NULL);
	ev_signal(SIGTERM, on_stop, NULL);
	ev_signal(SIGINT, on_stop, NULL);
	for (i = 0; i < nlst; i++)
		ev_io_init(&lio[i], lst[i].fd, on_accept, &lst[i]);
	listeners_want(EV_READ);
	malloc_trim(0);		/* what the start-up checks (the PSL) freed */
	ev_run();
	exit(0);
}
