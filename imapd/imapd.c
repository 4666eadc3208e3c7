/* SPDX-License-Identifier: ISC */
/*
 * imapd.c - facteur-imapd main() and its three roles (SPEC 4, 5; the
 * table is in imapd.h and README.md).
 *
 * Started as root, the master binds `[imap] listen` (implicit TLS) and
 * `listen_starttls`, opens the certificate and key (a child that exits
 * checks that they load: OpenSSL never runs in the master, so workers do
 * not inherit its heap), watches the listeners and forks the login process
 * when the first client comes (it loads them; it is chrooted into
 * run_dir/authd, where authd's socket is alone, as user-login before it
 * reads a byte from the network; lib/priv.h; it exits after
 * min(60 s, [imap] timeout) without a session, and the master watches
 * again) and forks one worker per logged-in user on demand (chroot into the
 * Maildir, then `user`, which owns the Maildirs; the key files are closed
 * first: workers never hold the key, the login process proxies TLS).  The master keeps root only to fork and chroot;
 * its one input, a session hand-over from login, is validated.  Started
 * as an ordinary user it warns once and keeps its ids (no chroot).
 * Startup errors exit 1 with a message; nothing a client sends makes a
 * process exit, and the master restarts a login process that died.
 * Without -d the master detaches once it is listening (pid file
 * run_dir/imapd.pid, which it holds an flock on: one imapd per run_dir).  SIGHUP to the master rereads the configuration: a
 * file with errors or a certificate that does not load is logged and
 * changes nothing; a good one is used by the next login process and new
 * workers, while the old login process stops listening and ends when its
 * last session does (listen addresses, run_dir and user: next start).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authc.h"
#include "climit.h"
#include "daemon.h"
#include "dirsync.h"
#include "ipc.h"
#include "imapd.h"
#include "log.h"
#include "pop3.h"
#include "priv.h"
#include "compat.h"
#include "tls.h"
#include "xmem.h"

#define IMAPD_MAX_SESSIONS	1000

struct imapd imapd = { .cert_fd = -1, .key_fd = -1 };

struct listener {
	struct ev_io	 io;
	bool		 implicit_tls;
	bool		 pop3;		/* [pop3], not [imap] */
};

static struct listener *listeners;
static size_t nlisteners;
static bool login_draining;	/* login process replaced by a reload */
static struct climit *per_addr;		/* login: connections per client address */
static struct climit_pause accept_pause;

static void
listeners_want(unsigned ev)
{
	size_t i;

	for (i = 0; i < nlisteners; i++)
		ev_io_want(&listeners[i].io, ev);
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
	if (!login_draining && imapd.nsessions < IMAPD_MAX_SESSIONS)
		listeners_want(EV_READ);
}

/* refuse - over [imap] max_per_addr: one untagged BYE in clear, and close */
static void
refuse(int fd, const char *host)
{
	static const char bye[] = "* BYE Too many connections from your "
	    "address, try again later\r\n";

	log_info("addr=%s refused: max_per_addr %u reached", host,
	    imapd.conf->imap.max_per_addr);
	(void)send(fd, bye, sizeof(bye) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void
usage(void)
{
	fprintf(stderr, "usage: facteur-imapd -c FILE [-d]\n");
	exit(2);
}

static void
listener_cb(struct ev_io *io, unsigned events, void *arg)
{
	struct listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	char host[NI_MAXHOST];
	int fd, one = 1;

	for (;;) {
		if (imapd.nsessions >= IMAPD_MAX_SESSIONS) {
			log_warnx("too many sessions, not accepting");
			listeners_want(0);
			return;
		}
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/* EMFILE: pause, not a busy loop (issue 16 item 5) */
			if (!climit_accept_failed(&accept_pause, errno,
			    "the IMAP/POP3 listeners") && errno != EAGAIN &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		/* replies are small and often answer a client waiting for
		 * them (literal continuations): do not let Nagle hold them */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host),
		    NULL, 0, NI_NUMERICHOST) != 0)
			memcpy(host, "unknown", 8);
		if (!climit_take(per_addr, host, imapd.conf->imap.max_per_addr)) {
			refuse(fd, host);
			continue;
		}
		imapd.nsessions++;
		if (l->pop3)
			pop3_start(fd, host, l->implicit_tls);
		else
			session_start(fd, host, l->implicit_tls);
	}
}

static int
listen_on(const struct conf_addr *a)
{
	struct addrinfo hints, *res, *ai;
	char port[8];
	int fd = -1, one = 1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	snprintf(port, sizeof(port), "%u", a->port);
	if ((e = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res)) != 0)
		fatalx("listen %s:%u: %s", a->host, a->port, gai_strerror(e));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		fatal("listen %s:%u", a->host, a->port);
	return fd;
}

static void
add_listeners(const struct conf_addrs *as, bool implicit_tls, bool pop3)
{
	size_t i;
	struct listener *l;

	for (i = 0; i < as->n; i++) {
		listeners = xreallocarray(listeners, nlisteners + 1,
		    sizeof(*listeners));
		l = &listeners[nlisteners++];
		memset(l, 0, sizeof(*l));
		l->implicit_tls = implicit_tls;
		l->pop3 = pop3;
		l->io.fd = listen_on(&as->v[i]);
		log_info("listening on %s:%u %s%s", as->v[i].host, as->v[i].port,
		    pop3 ? "pop3" : "imap", implicit_tls ? " (tls)" :
		    " (starttls)");
	}
}

static struct priv_account acc[PRIV_NROLES];

/*
 * open_tls - open c's certificate and key, checked by a child (the master
 * never runs OpenSSL, so nothing it forks inherits its heap); -1 after
 * logging why
 */
static int
open_tls(const struct conf *c, int *cfd_r, int *kfd_r)
{
	return tls_open_checked(c->tls.cert, c->tls.key, cfd_r, kfd_r);
}

static struct ev_timer login_idle;

/*
 * imapd_idle_ms - how long the login process and a worker stay without a
 * session before they exit: min(60 s, [imap] timeout), so a test can
 * shorten it with the setting it already has
 */
static uint64_t
imapd_idle_ms(void)
{
	return 1000ULL * (imapd.conf->imap.timeout < 60 ?
	    imapd.conf->imap.timeout : 60);
}

SSL_CTX *
imapd_tls(void)
{
	/* the pair was checked by the master (open_tls) */
	if (imapd.tls == NULL && imapd.cert_fd != -1 &&
	    (imapd.tls = tls_server_ctx_fd(imapd.cert_fd, imapd.key_fd,
	    imapd.conf->tls.cert, imapd.conf->tls.key)) == NULL)
		log_warnx("login: TLS refused: the certificate does not load");
	return imapd.tls;
}

/* listeners_pending - login: a client waits on one of the listeners */
static bool
listeners_pending(void)
{
	struct pollfd pfd[16];
	size_t i, n;

	for (i = 0; i < nlisteners; i += n) {
		for (n = 0; n < 16 && i + n < nlisteners; n++) {
			pfd[n].fd = listeners[i + n].io.fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
		}
		if (poll(pfd, n, 0) > 0)
			return true;
	}
	return false;
}

/*
 * login_idle_cb - no session at all for imapd_idle_ms(): exit 0, and the
 * master watches the listeners again (issue 17: no login process when
 * nobody connects).  A client that came meanwhile is accepted first; one
 * that comes between this check and the exit waits in the listen queue,
 * which the master owns, until the master forks the next login process.
 */
static void
login_idle_cb(struct ev_timer *t, void *arg)
{
	if (imapd.nsessions > 0)
		return;
	if (!login_draining && listeners_pending()) {
		ev_timer_add(&login_idle, imapd_idle_ms());
		return;
	}
	log_debug("login: no session for %llu s, exiting",
	    (unsigned long long)imapd_idle_ms() / 1000);
	ev_break();
}

static void
close_tls(void)
{
	if (imapd.cert_fd != -1)
		close(imapd.cert_fd);
	if (imapd.key_fd != -1)
		close(imapd.key_fd);
	imapd.cert_fd = imapd.key_fd = -1;
}

static void
on_signal(int sig, void *arg)
{
	log_info("signal %d, exiting", sig);
	ev_break();
}

/* ---- the login role: TLS, pre-login commands, then a proxy ---- */

static struct ipc login_master;	/* in the login process */

static void
login_master_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	if (m->fd != -1)
		close(m->fd);
	log_warnx("login: unexpected message %u from the master", m->hdr.type);
}

static void
login_master_closed(struct ipc *ch, void *arg)
{
	log_warnx("login: master gone, exiting");
	ev_break();
}

/* login_drain - SIGHUP from the master after a reload: stop listening,
 * end with the last session */
static void
login_drain(int sig, void *arg)
{
	size_t i;

	if (login_draining)
		return;
	login_draining = true;
	for (i = 0; i < nlisteners; i++) {
		ev_io_stop(&listeners[i].io);
		close(listeners[i].io.fd);
	}
	log_info("replaced after a reload, %u sessions to finish",
	    imapd.nsessions);
	if (imapd.nsessions == 0)
		ev_break();
}

/* login_main - runs as user-login in run_dir/authd; never opens mail,
 * only proxies to workers */
static void __attribute__((noreturn))
login_main(int fd)
{
	char root[PATH_MAX];
	size_t i;

	ev_init();
	ev_timer_init(&login_idle, login_idle_cb, NULL);
	if (geteuid() == 0) {
		priv_dir(imapd.conf, PRIV_AUTHD_DIR, root, sizeof(root));
		priv_drop(acc[PRIV_LOGIN].uid, acc[PRIV_LOGIN].gid, root);
		authc_init("/");
	} else
		authc_init(imapd.conf->run_dir);
	log_set_ident("imapd-login");
	imapd.role = IMAPD_ROLE_LOGIN;
	imapd.master = &login_master;
	ipc_init(&login_master, fd, login_master_msg, login_master_closed, NULL);
	ev_signal(SIGTERM, on_signal, NULL);
	ev_signal(SIGINT, on_signal, NULL);
	ev_signal(SIGHUP, login_drain, NULL);
	per_addr = climit_new();
	climit_pause_init(&accept_pause, listeners_stop, listeners_resume, NULL);
	for (i = 0; i < nlisteners; i++) {
		ev_io_init(&listeners[i].io, listeners[i].io.fd, listener_cb,
		    &listeners[i]);
		ev_io_want(&listeners[i].io, EV_READ);
	}
	/* forked for a client, which may have gone before the accept */
	ev_timer_add(&login_idle, imapd_idle_ms());
	log_info("login process ready");
	(void)ev_run();
	_exit(0);
}

/* ---- the worker role: one user's mail, chrooted into it when root ---- */

static struct ipc worker_master;	/* in a worker process */
static struct ev_timer worker_idle;

/*
 * An idle worker asks the master before it exits (IMAPD_MSG_IDLE); the
 * master stops routing logins to it and answers IMAPD_MSG_EXIT.  A session
 * the master sent before it saw IDLE arrives before EXIT, and then the
 * worker stays (and asks again when idle).  No hand-over is ever lost.
 */
static void
worker_idle_cb(struct ev_timer *t, void *arg)
{
	struct ipc_out o;

	if (imapd.nsessions > 0)
		return;
	ipc_out_init(&o);
	(void)ipc_send(&worker_master, IMAPD_MSG_IDLE, 0, -1, &o);
}

static void
worker_master_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	const char *user, *addr, *tag;
	size_t n;
	uint32_t id;

	if (m->hdr.type == IMAPD_MSG_EXIT && m->fd == -1) {
		if (imapd.nsessions == 0) {
			log_debug("worker user=%s idle, exiting", imapd.worker_user);
			ev_break();
		}
		return;
	}
	if ((m->hdr.type != IMAPD_MSG_SESSION &&
	    m->hdr.type != IMAPD_MSG_POP3) || m->fd == -1 ||
	    !ipc_get_str(m, &user, &n) || !ipc_get_str(m, &addr, &n) ||
	    !ipc_get_str(m, &tag, &n) || !ipc_get_u32(m, &id) ||
	    !ipc_get_end(m) || strcmp(user, imapd.worker_user) != 0) {
		log_warnx("worker: bad message from the master");
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	ev_timer_del(&worker_idle);
	imapd.nsessions++;
	if (m->hdr.type == IMAPD_MSG_POP3)
		pop3_start_worker(m->fd, addr, id);
	else
		session_start_worker(m->fd, addr, tag, id);
}

static void
worker_master_closed(struct ipc *ch, void *arg)
{
	ev_break();
}

/* worker_maildir - create the Maildir as `user` (it must own it); as
 * root (mail: `user`'s account, else NULL), missing parents (mail_dir's
 * %d level) are made for `user` too */
static void
worker_maildir(const char *root, const struct priv_account *mail)
{
	char p[PATH_MAX], *s;

	if (mail != NULL && bstrcpy(p, root, sizeof(p))) {
		for (s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			if (mkdir(p, 0700) == 0) {
				if (chown(p, mail->uid, mail->gid) == -1)
					log_warn("chown %s", p);
				if (fsync_parent(p) == -1)	/* lib/dirsync.h */
					log_warn("fsync of the directory above %s",
					    p);
			}
			*s = '/';
		}
	}
	if (mail != NULL && (setegid(mail->gid) == -1 ||
	    seteuid(mail->uid) == -1))
		fatal("seteuid %s", imapd.conf->user);
	if (store_user_init(root) == -1)
		log_warn("worker: maildir %s", root);
	if (mail != NULL && (seteuid(0) == -1 || setegid(0) == -1))
		fatal("seteuid 0");
}

static void
worker_term(int sig)
{
	_exit(0);
}

/*
 * worker_signals - SIGTERM and SIGINT end a worker at once, even in the
 * middle of a long command (issue 16), not when it is back in the loop:
 * a plain handler, the signals unblocked (the master's mask is
 * inherited).  Nothing is lost: a UID is on disk before any client sees
 * it and every rewrite is a rename, as for SIGKILL.
 */
static void
worker_signals(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_term;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigprocmask(SIG_UNBLOCK, &set, NULL) == -1)
		fatal("worker signals");
}

static void __attribute__((noreturn))
worker_main(int fd, const char *user, const char *root)
{
	ev_init();
	close_tls();			/* the TLS key stays in login */
	imapd.role = IMAPD_ROLE_WORKER;
	imapd.worker_user = xstrdup(user);
	log_set_ident("imapd-worker");
	if (geteuid() == 0) {
		/*
		 * `user` as the master looked it up at start (priv_accounts:
		 * it cannot change without a restart), so that no worker
		 * loads an NSS module
		 */
		worker_maildir(root, &acc[PRIV_MAIL]);
		/* the session code sees nothing but this user's Maildir */
		imapd.worker_root = xstrdup("/.");
		priv_drop(acc[PRIV_MAIL].uid, acc[PRIV_MAIL].gid, root);
	} else {
		worker_maildir(root, NULL);
		imapd.worker_root = xstrdup(root);
	}
	ipc_init(&worker_master, fd, worker_master_msg, worker_master_closed,
	    NULL);
	store_init();
	ev_timer_init(&worker_idle, worker_idle_cb, NULL);
	worker_signals();
	ev_signal(SIGHUP, NULL, NULL);
	log_debug("worker user=%s root=%s ready", user, root);
	(void)ev_run();
	_exit(0);
}

void
imapd_addr_release(const char *addr)
{
	if (imapd.role == IMAPD_ROLE_LOGIN && per_addr != NULL && addr != NULL)
		climit_release(per_addr, addr);
}

void
imapd_session_gone(const char *addr)
{
	imapd_addr_release(addr);
	if (imapd.nsessions-- == IMAPD_MAX_SESSIONS &&
	    imapd.role == IMAPD_ROLE_LOGIN && !login_draining)
		listeners_want(EV_READ);
	if (imapd.role == IMAPD_ROLE_LOGIN && login_draining &&
	    imapd.nsessions == 0)
		ev_break();
	if (imapd.role == IMAPD_ROLE_LOGIN && imapd.nsessions == 0)
		ev_timer_add(&login_idle, imapd_idle_ms());
	if (imapd.role == IMAPD_ROLE_WORKER)
		malloc_trim(0);	/* a big mailbox's peak goes back (issue 17) */
	if (imapd.role == IMAPD_ROLE_WORKER && imapd.nsessions == 0)
		ev_timer_add(&worker_idle, imapd_idle_ms());
}

/* ---- the master: stays root, forks login and per-user workers ---- */

struct worker {
	char		*user;
	pid_t		 pid;
	bool		 retiring;	/* asked to exit: route no session to it */
	struct ipc	 ch;
	struct worker	*next;
};

/* the login process, and those replaced by a reload that still finish
 * their sessions (they may still hand logged-in sessions over) */
#define LOGIN_SLOTS	4

struct login {
	pid_t		 pid;		/* 0: free slot */
	struct ipc	 ch;
};

static struct worker *workers;
static struct login logins[LOGIN_SLOTS];
static struct login *cur_login;		/* NULL while a respawn is pending */
static struct ev_timer respawn_timer;

/* close, in a new child, every descriptor of the master's other peers */
static void
child_close_peers(int keep)
{
	struct worker *w;
	size_t i;

	daemon_lock_forget();	/* a restart must not wait for us */
	for (w = workers; w; w = w->next)
		if (w->ch.fd != -1 && w->ch.fd != keep)
			close(w->ch.fd);
	for (i = 0; i < LOGIN_SLOTS; i++)
		if (logins[i].pid > 0 && logins[i].ch.fd != keep &&
		    !logins[i].ch.closed)
			close(logins[i].ch.fd);
	if (keep != -2)
		for (i = 0; i < nlisteners; i++)
			close(listeners[i].io.fd);
}

static void
worker_free(struct worker *w)
{
	struct worker **wp;

	for (wp = &workers; *wp; wp = &(*wp)->next) {
		if (*wp == w) {
			*wp = w->next;
			break;
		}
	}
	ipc_close(&w->ch);
	free(w->user);
	free(w);
}

static void
master_worker_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct worker *w = arg;
	struct ipc_out o;

	if (m->fd != -1)
		close(m->fd);
	if (m->hdr.type != IMAPD_MSG_IDLE) {
		log_warnx("master: unexpected message from a worker");
		return;
	}
	w->retiring = true;	/* new logins of this user get a new worker */
	ipc_out_init(&o);
	(void)ipc_send(&w->ch, IMAPD_MSG_EXIT, 0, -1, &o);
}

static void
master_worker_closed(struct ipc *ch, void *arg)
{
	struct worker *w = arg;

	w->pid = -1;	/* reaped by SIGCHLD; forget it now */
	worker_free(w);
}

static struct worker *
worker_spawn(const char *user, int pending_fd)
{
	char root[PATH_MAX], local[256];
	const char *at = strrchr(user, '@');
	struct worker *w;
	int sv[2];
	pid_t pid;

	if (at == NULL || (size_t)(at - user) >= sizeof(local) || at == user)
		return NULL;
	memcpy(local, user, (size_t)(at - user));
	local[at - user] = '\0';
	if (!conf_maildir_path(imapd.conf, local, at + 1, root, sizeof(root)))
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return NULL;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		/* the session being handed over must reach us only through
		 * the channel, or its peer would never see it close */
		close(pending_fd);
		close(sv[0]);
		child_close_peers(sv[1]);
		worker_main(sv[1], user, root);
	}
	close(sv[1]);
	w = xcalloc(1, sizeof(*w));
	w->user = xstrdup(user);
	w->pid = pid;
	ipc_init(&w->ch, sv[0], master_worker_msg, master_worker_closed, w);
	w->next = workers;
	workers = w;
	log_info("worker user=%s pid=%d started", user, (int)pid);
	return w;
}

/* a login process hands over a logged-in session: find its user's worker */
static void
master_login_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct login *l = arg;
	const char *user, *addr, *tag;
	size_t ulen, alen, tlen;
	uint32_t id;
	struct worker *w;
	struct ipc_out o;

	if ((m->hdr.type != IMAPD_MSG_SESSION &&
	    m->hdr.type != IMAPD_MSG_POP3) || m->fd == -1 ||
	    !ipc_get_str(m, &user, &ulen) || !ipc_get_str(m, &addr, &alen) ||
	    !ipc_get_str(m, &tag, &tlen) || !ipc_get_u32(m, &id) ||
	    !ipc_get_end(m) || ulen == 0 || ulen > 255 || alen > 63 ||
	    tlen > 63 || strchr(user, '/') != NULL) {
		/* login is less trusted than us: drop it, a new one starts */
		log_warnx("master: bad message from login, restarting it");
		if (m->fd != -1)
			close(m->fd);
		if (l->pid > 0)
			kill(l->pid, SIGTERM);
		return;
	}
	for (w = workers; w; w = w->next)
		if (strcmp(w->user, user) == 0 && !w->ch.closed && !w->retiring)
			break;
	if (w == NULL && (w = worker_spawn(user, m->fd)) == NULL) {
		close(m->fd);		/* the login side sees EOF: NO */
		return;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, user);
	ipc_put_str(&o, addr);
	ipc_put_str(&o, tag);
	ipc_put_u32(&o, id);
	if (ipc_send(&w->ch, m->hdr.type, id, m->fd, &o) == -1)
		log_warnx("master: cannot pass a session to user=%s", user);
}

static void
master_login_closed(struct ipc *ch, void *arg)
{
	/* an idle exit or a crash: SIGCHLD tells them apart */
}

/*
 * master_watch - while no login process runs, the master watches the
 * listeners (it never accepts): a client makes it fork one, which accepts
 * (on: watch; off: the login process has them)
 */
static void
master_watch(bool on)
{
	size_t i;

	for (i = 0; i < nlisteners; i++) {
		if (on)
			ev_io_want(&listeners[i].io, EV_READ);
		else
			ev_io_stop(&listeners[i].io);
	}
}

static void
respawn_cb(struct ev_timer *t, void *arg)
{
	if (cur_login == NULL)
		master_watch(true);
}

/* login_spawn - a new login process in a free slot; false if none is, or
 * the fork failed (logged) */
static bool
login_spawn(void)
{
	struct login *l = NULL;
	int sv[2];
	pid_t pid;
	size_t i;

	for (i = 0; i < LOGIN_SLOTS && l == NULL; i++)
		if (logins[i].pid == 0)
			l = &logins[i];
	if (l == NULL) {
		log_warnx("master: no free login slot");
		return false;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("master: socketpair for a login process");
		return false;
	}
	if ((pid = fork()) == -1) {
		log_warn("master: fork of a login process");
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (pid == 0) {
		close(sv[0]);
		child_close_peers(-2);		/* keeps the listeners */
		login_main(sv[1]);
	}
	close(sv[1]);
	l->pid = pid;
	ipc_init(&l->ch, sv[0], master_login_msg, master_login_closed, l);
	cur_login = l;
	return true;
}

/* master_listener_cb - a client on a listener and no login process: fork
 * one (a failed fork is retried after 1 s, never in a loop) */
static void
master_listener_cb(struct ev_io *io, unsigned events, void *arg)
{
	master_watch(false);
	if (cur_login == NULL && !ev_timer_pending(&respawn_timer) &&
	    !login_spawn())
		ev_timer_add(&respawn_timer, 1000);
}

static void
master_sigchld(int sig, void *arg)
{
	struct worker *w;
	struct login *l;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (l = logins; l < logins + LOGIN_SLOTS; l++)
			if (l->pid == pid)
				break;
		if (l < logins + LOGIN_SLOTS) {
			l->pid = 0;
			ipc_close(&l->ch);
			if (l != cur_login) {
				log_info("replaced login process pid=%d done",
				    (int)pid);
				continue;
			}
			cur_login = NULL;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
				/* idle: the next client forks the next one */
				log_debug("login process pid=%d exited",
				    (int)pid);
				master_watch(true);
				continue;
			}
			/* a crash: the clients waiting in the listen queue
			 * get a new one after 1 s, not a fork loop */
			log_warnx("login process pid=%d exited (status %d), "
			    "restarting", (int)pid, st);
			ev_timer_add(&respawn_timer, 1000);
			continue;
		}
		for (w = workers; w; w = w->next)
			if (w->pid == pid)
				break;
		if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st)))
			log_warnx("worker pid=%d exited (status %d)", (int)pid, st);
		if (w)
			worker_free(w);
	}
}

static void
master_signal(int sig, void *arg)
{
	struct worker *w;
	size_t i;

	log_info("signal %d, exiting", sig);
	for (i = 0; i < LOGIN_SLOTS; i++)
		if (logins[i].pid > 0)
			kill(logins[i].pid, SIGTERM);
	for (w = workers; w; w = w->next)
		if (w->pid > 0)
			kill(w->pid, SIGTERM);
	ev_break();
}

static bool
addrs_equal(const struct conf_addrs *a, const struct conf_addrs *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->v[i].port != b->v[i].port ||
		    strcmp(a->v[i].host, b->v[i].host) != 0)
			return false;
	return true;
}

/* master_reload - SIGHUP: see the top of this file */
static void
master_reload(int sig, void *arg)
{
	const char *file = imapd.conf->file;
	struct conf *nc, *old;
	size_t i, free_slots = 0;
	int cfd, kfd;

	for (i = 0; i < LOGIN_SLOTS; i++)
		if (logins[i].pid == 0)
			free_slots++;
	if (free_slots == 0) {
		log_warnx("reload: login processes replaced by earlier reloads "
		    "still have sessions, try again later");
		return;
	}
	if ((nc = daemon_reload_conf(imapd.conf)) == NULL)
		return;
	if (nc->imap.listen.n + nc->imap.listen_starttls.n +
	    nc->pop3.listen.n + nc->pop3.listen_starttls.n == 0 ||
	    nc->tls.cert == NULL || nc->tls.key == NULL) {
		log_warnx("reload: %s: [imap] or [pop3] needs listen and [tls] "
		    "cert and key, keeping the running configuration", file);
		conf_free(&nc);
		return;
	}
	if (open_tls(nc, &cfd, &kfd) == -1) {
		log_warnx("reload: cannot load TLS certificate %s, keeping the "
		    "running configuration", nc->tls.cert);
		conf_free(&nc);
		return;
	}
	if (!addrs_equal(&nc->imap.listen, &imapd.conf->imap.listen) ||
	    !addrs_equal(&nc->imap.listen_starttls,
	    &imapd.conf->imap.listen_starttls) ||
	    !addrs_equal(&nc->pop3.listen, &imapd.conf->pop3.listen) ||
	    !addrs_equal(&nc->pop3.listen_starttls,
	    &imapd.conf->pop3.listen_starttls) ||
	    strcmp(nc->run_dir, imapd.conf->run_dir) != 0 ||
	    strcmp(nc->user, imapd.conf->user) != 0)
		log_warnx("reload: listen addresses, run_dir and user take "
		    "effect at the next start");
	close_tls();
	imapd.cert_fd = cfd;
	imapd.key_fd = kfd;
	old = imapd.conf;
	imapd.conf = nc;
	store_junk_folder(nc->inbound.junk_folder);
	conf_free(&old);
	if (cur_login != NULL)
		kill(cur_login->pid, SIGHUP);	/* it finishes its sessions */
	cur_login = NULL;
	if (!ev_timer_pending(&respawn_timer))
		master_watch(true);	/* the next client forks a new one */
	log_info("reload: %s loaded, certificate %s and key %s for new "
	    "connections", imapd.conf->file, imapd.conf->tls.cert,
	    imapd.conf->tls.key);
}

int
main(int argc, char *argv[])
{
	const char *file = NULL;
	bool debug = false;
	size_t i;
	int ch;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'd':
			debug = true;
			break;
		default:
			usage();
		}
	}
	if (file == NULL || optind != argc)
		usage();
	imapd.conf = conf_load_or_die(file);
	daemon_raise_nofile();
	store_junk_folder(imapd.conf->inbound.junk_folder);
	daemon_log_init("imapd", imapd.conf, debug, debug);
	if (imapd.conf->imap.listen.n + imapd.conf->imap.listen_starttls.n +
	    imapd.conf->pop3.listen.n + imapd.conf->pop3.listen_starttls.n == 0)
		fatalx("%s: [imap] or [pop3] needs listen or listen_starttls",
		    file);
	if (imapd.conf->tls.cert == NULL || imapd.conf->tls.key == NULL)
		fatalx("%s: [tls] cert and key are needed for IMAP", file);
	signal(SIGPIPE, SIG_IGN);
	priv_accounts(imapd.conf, acc);
	if (geteuid() != 0)
		log_warnx("not running as root: keeping uid %u (no privilege "
		    "drop, no chroot)", (unsigned)geteuid());
	if (daemon_setup_dirs(imapd.conf,
	    geteuid() == 0 ? acc[PRIV_MAIL].uid : (uid_t)-1,
	    geteuid() == 0 ? acc[PRIV_MAIL].gid : (gid_t)-1) == -1)
		fatalx("%s: cannot create the directories it names", file);
	/*
	 * one imapd per run_dir, before any port is bound: a second one
	 * (another configuration beside the service) wrote its pid into
	 * imapd.pid, so stopping "the" imapd stopped the wrong one, and
	 * served the same Maildirs with a second worker per user
	 */
	daemon_lock_pidfile(imapd.conf, "imapd");
	if (open_tls(imapd.conf, &imapd.cert_fd, &imapd.key_fd) == -1)
		fatalx("cannot load TLS certificate %s", imapd.conf->tls.cert);
	add_listeners(&imapd.conf->imap.listen, true, false);
	add_listeners(&imapd.conf->imap.listen_starttls, false, false);
	add_listeners(&imapd.conf->pop3.listen, true, true);
	add_listeners(&imapd.conf->pop3.listen_starttls, false, true);
	if (!debug)
		daemon_detach();
	(void)daemon_pidfile(imapd.conf->run_dir, "imapd");
	ev_init();
	imapd.role = IMAPD_ROLE_MASTER;
	ev_timer_init(&respawn_timer, respawn_cb, NULL);
	for (i = 0; i < nlisteners; i++)
		ev_io_init(&listeners[i].io, listeners[i].io.fd,
		    master_listener_cb, &listeners[i]);
	master_watch(true);	/* the first client forks the login process */
	ev_signal(SIGCHLD, master_sigchld, NULL);
	ev_signal(SIGTERM, master_signal, NULL);
	ev_signal(SIGINT, master_signal, NULL);
	ev_signal(SIGHUP, master_reload, NULL);
	log_info("started");
	daemon_ready();
	if (ev_run() == -1)
		fatal("event loop");
	conf_free(&imapd.conf);
	return 0;
}
