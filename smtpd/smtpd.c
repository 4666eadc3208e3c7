/* SPDX-License-Identifier: ISC */
/*
 * smtpd.c - facteur-smtpd main: the parent process.
 *
 * Reads the configuration, binds every listener, opens the certificate and
 * key (checked by a child that exits: OpenSSL never runs in this process,
 * so no role inherits its heap) and reads the relay password while it may
 * still read root-only files, then forks the roles (smtp, queue, deliver,
 * and fetch when [fetch] has accounts; see smtpd.h) connected by
 * socketpairs, each under its own account and chroot (lib/priv.h), each
 * keeping only the secrets it uses (forget_secrets), and supervises them:
 * when one dies the others are stopped and the whole set starts again
 * after a backoff (disk is the truth, so nothing accepted is lost).
 *
 * The relay role is forked on demand, the same way (role_enter, as root
 * until its chroot), when the queue asks for it on their channel
 * (P_RELAY_START: the only request the parent takes from the queue, and
 * it starts at most one relay role at a time); its end of a new
 * socketpair goes to the queue (P_RELAY_FD).  The relay exits with status
 * 0 after a minute idle: nothing else is restarted and nothing is logged
 * as an error.  When it dies otherwise, it alone is started again when
 * the queue asks, after a backoff (200 ms doubling to 10 s while it keeps
 * dying within 10 s of its start).  Without -d it detaches once the roles are
 * started (lib/daemon.c).  SIGTERM/SIGINT stop everything.  SIGHUP
 * rereads the configuration, the certificate and key and the relay
 * password: a bad file is reported and the old one kept; a file whose
 * lines that count are unchanged outside the sections no role uses
 * ([imap], [pop3], [authd], [doctor], [acme]; comments and spacing do
 * not count either: conf_same_except) keeps the roles and their
 * sessions, and the new certificate and key go to the smtp role (as open
 * files, P_TLS_*; it loads them when a session first needs TLS) and the
 * password to the relay role (P_RELAY_PASSWORD),
 * the only roles that hold them; any other change restarts all the roles
 * with everything new (they share socketpairs and their chroots hold no
 * configuration to read again).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "dirsync.h"
#include "ev.h"
#include "ipc.h"
#include "localsend.h"
#include "log.h"
#include "priv.h"
#include "tls.h"
#include "xmem.h"

#include "smtpd.h"
#include "screen.h"
#include "smtp_session.h"
#include "smtpd/fetch.h"

#define MAX_LISTENERS	32
#define BACKOFF_MIN_MS	200
#define BACKOFF_MAX_MS	10000
#define STOP_GRACE_MS	5000

enum role { ROLE_SMTP, ROLE_QUEUE, ROLE_DELIVER, ROLE_RELAY, ROLE_FETCH,
	NROLES };
static const char *role_name[NROLES] = { "smtp", "queue", "deliver", "relay",
	"fetch" };

struct conf	*smtpd_conf;
bool		 smtpd_privileged;
uid_t		 smtpd_fetch_uid;

static struct listener	 listeners[MAX_LISTENERS];
static size_t		 nlisteners;
static int		 tls_cert_fd = -1, tls_key_fd = -1;	/* checked */
static char		*relay_password;
static int		 to_smtp = -1, to_relay = -1;	/* reload channels */
static int		 ctl_fd = -1;	/* facteur-ctl, served by the queue */
static struct ipc	 queue_ch;	/* P_RELAY_START in, P_RELAY_FD out */
static bool		 queue_ch_up;
static struct priv_account acc[PRIV_NROLES];
/* each role's account (lib/priv.h) */
static const enum priv_role role_acc[NROLES] = {
	[ROLE_SMTP] = PRIV_SMTP,
	[ROLE_QUEUE] = PRIV_QUEUE,
	[ROLE_DELIVER] = PRIV_MAIL,
	[ROLE_RELAY] = PRIV_RELAY,
	[ROLE_FETCH] = PRIV_RELAY,	/* the network and state_dir/fetch only */
};

static pid_t		 pids[NROLES];
static bool		 stopping, restarting;
/* the local accounts when the smtp role last read them (sendmail senders) */
static uint64_t		 accounts_digest;
static uint64_t		 started_at;
static unsigned		 backoff_ms = BACKOFF_MIN_MS;
static struct ev_timer	 restart_timer, kill_timer;
/* the relay role on demand: asked for by the queue, started no sooner
 * than relay_not_before (a backoff after it died) */
static bool		 relay_asked;
static uint64_t		 relay_started_at, relay_not_before;
static unsigned		 relay_backoff_ms;
static struct ev_timer	 relay_timer;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: facteur-smtpd -c FILE [-d]\n");
	exit(2);
}

/* listen_on - bind one configured address; fatal on failure (startup) */
static void
listen_on(const struct conf_addr *a, enum smtp_port kind)
{
	struct addrinfo hints, *res;
	struct listener *l;
	char port[8];
	int fd, one = 1, rv;

	if (nlisteners == MAX_LISTENERS)
		fatalx("more than %d smtp listeners", MAX_LISTENERS);
	l = &listeners[nlisteners];
	if (!conf_addr_format(a, l->name, sizeof(l->name)))
		fatalx("listen address too long");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", a->port);
	if ((rv = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res)) != 0)
		fatalx("listen %s: %s", l->name, gai_strerror(rv));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket for %s", l->name);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("bind %s", l->name);
	if (listen(fd, 128) == -1)
		fatal("listen %s", l->name);
	freeaddrinfo(res);
	l->fd = fd;
	l->kind = kind;
	nlisteners++;
}

/*
 * listen_local - run_dir/smtpd.sock for facteur-sendmail: any local user
 * may submit (mode 0666); the session records the peer's uid.
 */
static void
listen_local(const struct conf *c)
{
	struct listener *l = &listeners[nlisteners];
	char path[4096];
	int fd;

	if (nlisteners == MAX_LISTENERS)
		fatalx("more than %d smtp listeners", MAX_LISTENERS);
	if (!bsnprintf(path, sizeof(path), "%s/%s", c->run_dir, LOCAL_SOCKET))
		fatalx("run_dir too long");
	if ((fd = ipc_listen_unix(path, 0666)) == -1)
		fatal("listen %s", path);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	l->fd = fd;
	l->kind = PORT_LOCAL;
	bstrcpy(l->name, LOCAL_SOCKET, sizeof(l->name));
	nlisteners++;
}

/*
 * listen_ctl - run_dir/smtpd-ctl.sock for facteur-ctl: root only (mode
 * 0600, root's), outside every role's chroot; served by the queue role
 */
static void
listen_ctl(const struct conf *c)
{
	char path[4096];

	if (!bsnprintf(path, sizeof(path), "%s/%s", c->run_dir, CTL_SOCKET))
		fatalx("run_dir too long");
	if ((ctl_fd = ipc_listen_unix(path, 0600)) == -1)
		fatal("listen %s", path);
	if (fcntl(ctl_fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("%s", path);
}

/*
 * read_relay_password - the first line of [relay] password_file
 * (conf_secret_read).  NULL without a password file, or after logging why
 * when it cannot be read (the caller decides: fatal at start, keep the old
 * one on SIGHUP); *bad_r says which.
 */
static char *
read_relay_password(const struct conf *c, bool *bad_r)
{
	char err[512], *p;

	*bad_r = false;
	if (!c->relay.enabled || c->relay.password_file == NULL)
		return NULL;
	if ((p = conf_secret_read(c->relay.password_file, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s:%u: [relay] password_file %s", c->file,
		    c->relay.password_file_line, err);
		*bad_r = true;
	}
	return p;
}

/* check_ca - tls_try: the [relay] CA file loads (verify = yes) */
static bool
check_ca(void *arg)
{
	const char *ca = arg;
	SSL_CTX *ctx;
	int fd = tls_ca_open(ca);

	ctx = tls_client_ctx_fd(true, fd, tls_ca_name(ca));
	SSL_CTX_free(ctx);
	return ctx != NULL;
}

/*
 * open_tls - open the [tls] pair, checked by a child; the parent keeps
 * the descriptors (the smtp role loads from them).  -1 after logging.
 */
static int
open_tls(int *cfd_r, int *kfd_r)
{
	return tls_open_checked(smtpd_conf->tls.cert, smtpd_conf->tls.key,
	    cfd_r, kfd_r);
}

static void
close_tls(void)
{
	if (tls_cert_fd != -1)
		close(tls_cert_fd);
	if (tls_key_fd != -1)
		close(tls_key_fd);
	tls_cert_fd = tls_key_fd = -1;
}

/*
 * queue_dir - mkdir if missing, its parent fsync'd then (acknowledged mail
 * is in it: a power cut must not take the directory away); as root, the
 * queue role's, 0700, with every entry in it (files of an older version
 * were `user`'s)
 */
static void
queue_dir(const char *path)
{
	const struct priv_account *q = &acc[PRIV_QUEUE];
	struct dirent *e;
	DIR *d;

	if (mkdir_durable(path, 0700) == -1)
		fatal("mkdir %s", path);
	if (!smtpd_privileged)
		return;
	if (chown(path, q->uid, q->gid) == -1 || chmod(path, 0700) == -1)
		fatal("chown %s", path);
	if ((d = opendir(path)) == NULL)
		fatal("%s", path);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && fchownat(dirfd(d), e->d_name, q->uid,
		    q->gid, AT_SYMLINK_NOFOLLOW) == -1)
			log_warn("chown %s/%s", path, e->d_name);
	closedir(d);
}

static void
setup_dirs(const struct conf *c)
{
	char path[4096];

	if (!bsnprintf(path, sizeof(path), "%s/queue", c->state_dir))
		fatalx("state_dir too long");
	queue_dir(path);
	if (!bsnprintf(path, sizeof(path), "%s/queue/msg", c->state_dir))
		fatalx("state_dir too long");
	queue_dir(path);
}

/*
 * lock_queue - one facteur-smtpd per queue.  A second one on the same
 * state_dir (another configuration, or one started by hand beside the
 * service) used to bind its own ports, take over run_dir's sockets and,
 * at its queue role's start, remove the first one's pre-created queue
 * files: mail the first one then answered 250 for was lost.  An flock on
 * state_dir/queue/smtpd.lock (empty), held by the parent until it exits;
 * the roles do not inherit it (role_enter).  Then one per run_dir (its
 * pid file, lib/daemon.h): another state_dir on the same run_dir would
 * still replace smtpd.sock, which facteur-sendmail uses, and smtpd.pid.
 */
static void
lock_queue(const struct conf *c)
{
	char path[4096];

	if (!bsnprintf(path, sizeof(path), "%s/queue/smtpd.lock", c->state_dir))
		fatalx("state_dir too long");
	if (daemon_lock(path) == -1)
		daemon_lock_refuse(c, "smtpd", "state_dir %s (two on one queue "
		    "lose mail)", c->state_dir);
	daemon_lock_pidfile(c, "smtpd");
}

/* ---- the roles ---------------------------------------------------------- */

static void
role_on_stop(int sig, void *arg)
{
	(void)arg;
	log_debug("signal %d, exiting", sig);
	_exit(0);
}

/*
 * forget_secrets - a child keeps the secrets of its role only: the TLS
 * server key (an open file; never loaded in the parent) in smtp, the
 * relay password in relay, the [fetch] passwords in fetch.
 */
static void
forget_secrets(enum role r)
{
	if (r != ROLE_SMTP)
		close_tls();
	if (r != ROLE_FETCH)
		fetch_forget();
	if (r != ROLE_RELAY && relay_password != NULL) {
		wipe(relay_password, strlen(relay_password));
		free(relay_password);
		relay_password = NULL;
	}
}

/* role_enter - common start of a child: loop, signals, secrets, identity */
static void
role_enter(enum role r, const char *chroot_name)
{
	static char ident[32];	/* log_set_ident keeps the pointer */
	const struct priv_account *a = &acc[role_acc[r]];
	char root[4096];

	snprintf(ident, sizeof(ident), "smtpd-%s", role_name[r]);
	log_set_ident(ident);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);
	daemon_lock_forget();
	ev_init();
	ev_signal(SIGPIPE, NULL, NULL);
	ev_signal(SIGTERM, role_on_stop, NULL);
	ev_signal(SIGINT, role_on_stop, NULL);
	ev_signal(SIGHUP, NULL, NULL);
	forget_secrets(r);
	if (r == ROLE_RELAY)
		relay_prepare(relay_password != NULL);	/* /etc, the CA file */
	if (r == ROLE_SMTP) {
		smtp_inbound_init();	/* resolv.conf, the PSL: before the chroot */
		smtp_grey_init(smtpd_privileged ? a->uid : (uid_t)-1, a->gid);
		screen_init();
	}
	if (!smtpd_privileged)
		return;
	if (r == ROLE_QUEUE) {
		/* its own directory is all the queue role needs */
		tzset();	/* the DSN dates: /etc/localtime, read now */
		if (!bsnprintf(root, sizeof(root), "%s/queue",
		    smtpd_conf->state_dir))
			fatalx("state_dir too long");
		chroot_name = root;
	} else if (chroot_name != NULL) {
		priv_dir(smtpd_conf, chroot_name, root, sizeof(root));
		chroot_name = root;
	}
	priv_drop(a->uid, a->gid, chroot_name);
}

static void
close_listeners(void)
{
	size_t i;

	for (i = 0; i < nlisteners; i++)
		close(listeners[i].fd);
}

static void
xsocketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		log_panic("socketpair: %s", strerror(errno));
}

static pid_t
xfork(void)
{
	pid_t pid = fork();

	if (pid == -1)
		log_panic("fork: %s", strerror(errno));
	return pid;
}

/*
 * role_wanted - the set started together: fetch only with [fetch]
 * accounts; the relay role is not in it (forked on demand, start_relay)
 */
static bool
role_wanted(enum role r)
{
	if (r == ROLE_RELAY)
		return false;
	return r != ROLE_FETCH || smtpd_conf->fetch.n > 0;
}

/* set_running - every role of the set is running */
static bool
set_running(void)
{
	enum role r;

	for (r = 0; r < NROLES; r++)
		if (role_wanted(r) && pids[r] <= 0)
			return false;
	return true;
}

static void on_queue_msg(struct ipc *, struct ipc_msg *, void *);
static void on_queue_gone(struct ipc *, void *);

static void
start_roles(void)
{
	int sq[2], qd[2], pq[2], ps[2];
	enum role r;

	/* what the smtp role is about to read (smtp_local_load), for on_hup */
	accounts_digest = localsend_accounts_digest();
	xsocketpair(sq);
	xsocketpair(qd);
	xsocketpair(pq);
	xsocketpair(ps);
	if (to_smtp != -1)
		close(to_smtp);
	if (to_relay != -1)	/* the relay role's, reaped */
		close(to_relay);
	to_relay = -1;
	if (queue_ch_up)
		ipc_close(&queue_ch);
	queue_ch_up = false;
	to_smtp = ps[0];
	relay_asked = false;	/* a request of the previous queue role */
	for (r = 0; r < NROLES; r++) {
		if (r == ROLE_RELAY)
			continue;	/* pids[ROLE_RELAY] is 0: reaped */
		pids[r] = 0;
		if (!role_wanted(r) || (pids[r] = xfork()) != 0)
			continue;
		close(ps[0]);
		close(pq[0]);
		if (r != ROLE_SMTP)
			close(ps[1]);
		if (r != ROLE_QUEUE)
			close(pq[1]);
		switch (r) {
		case ROLE_SMTP:
			close(ctl_fd);
			close(sq[1]); close(qd[0]); close(qd[1]);
			smtp_local_load(smtpd_conf);	/* /etc/passwd: before the chroot */
			role_enter(r, PRIV_AUTHD_DIR);
			smtp_server_run(listeners, nlisteners, sq[0], ps[1],
			    tls_cert_fd, tls_key_fd);
		case ROLE_QUEUE:
			close_listeners();
			close(sq[0]); close(qd[1]);
			role_enter(r, NULL);
			queue_run(sq[1], qd[0], pq[1], ctl_fd);
		case ROLE_DELIVER:
			close(ctl_fd);
			close_listeners();
			close(sq[0]); close(sq[1]); close(qd[0]);
			role_enter(r, NULL);
			deliver_run(qd[1]);
		case ROLE_FETCH:	/* talks to nobody but remote servers
					 * and run_dir/smtpd.sock (fetch.c) */
			close(ctl_fd);
			close_listeners();
			close(sq[0]); close(sq[1]); close(qd[0]); close(qd[1]);
			role_enter(r, NULL);
			fetch_run(smtpd_conf);
		case ROLE_RELAY:
		case NROLES:
			break;
		}
		_exit(1);
	}
	close(sq[0]); close(sq[1]); close(qd[0]); close(qd[1]);
	close(pq[1]); close(ps[1]);
	ipc_init(&queue_ch, pq[0], on_queue_msg, on_queue_gone, NULL);
	queue_ch_up = true;
	started_at = ev_now();
	restarting = false;
}

/*
 * start_relay - fork the relay role as start_roles forks the others (root
 * until role_enter has done relay_prepare and the chroot) and pass the
 * queue its channel; -1 if it could not be forked (logged; tried again)
 */
static int
start_relay(void)
{
	struct ipc_out o;
	char *pw;
	int qr[2], pr[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qr) == -1)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pr) == -1) {
		close(qr[0]);
		close(qr[1]);
		goto fail;
	}
	if ((pid = fork()) == -1) {
		close(qr[0]); close(qr[1]); close(pr[0]); close(pr[1]);
		goto fail;
	}
	if (pid == 0) {
		close(qr[0]);
		close(pr[0]);
		close(queue_ch.fd);
		close(to_smtp);
		if (to_relay != -1)
			close(to_relay);
		close(ctl_fd);
		close_listeners();
		role_enter(ROLE_RELAY, PRIV_EMPTY_DIR);
		pw = relay_password;	/* the role owns it now */
		relay_password = NULL;
		relay_run(qr[1], pr[1], pw);
	}
	close(qr[1]);
	close(pr[1]);
	if (to_relay != -1)
		close(to_relay);
	to_relay = pr[0];
	pids[ROLE_RELAY] = pid;
	relay_started_at = ev_now();
	ipc_out_init(&o);
	/* if this fails the relay sees its channel close and exits */
	if (ipc_send(&queue_ch, P_RELAY_FD, 0, qr[0], &o) == -1)
		log_warn("the relay role's channel to the queue role");
	log_debug("relay role started, pid %ld", (long)pid);
	return 0;
fail:
	log_warn("cannot start the relay role");
	return -1;
}

/*
 * relay_maybe_start - the queue asked for a relay role: start it unless
 * one is running (or not reaped yet: then when it is), the set is being
 * stopped or restarted, or it died lately (then after the backoff)
 */
static void
relay_maybe_start(void)
{
	uint64_t now = ev_now();

	if (!relay_asked || stopping || restarting || !queue_ch_up ||
	    pids[ROLE_RELAY] > 0 || ev_timer_pending(&relay_timer))
		return;
	if (now < relay_not_before) {
		ev_timer_add(&relay_timer, relay_not_before - now);
		return;
	}
	if (start_relay() == -1) {
		relay_not_before = now + BACKOFF_MAX_MS;
		ev_timer_add(&relay_timer, BACKOFF_MAX_MS);
		return;
	}
	relay_asked = false;
}

static void
on_relay_timer(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	relay_maybe_start();
}

/*
 * relay_reaped - the relay role ended outside a stop or restart: exit
 * status 0 is its idle exit (nothing to say); anything else is logged
 * and delays the next one.  Nothing else is restarted either way: the
 * queue takes back what it had in flight and asks again when it has mail.
 */
static void
relay_reaped(int status)
{
	uint64_t now = ev_now();

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_debug("relay role exited");
		relay_backoff_ms = 0;
		relay_not_before = 0;
	} else {
		if (now - relay_started_at > 10000 || relay_backoff_ms == 0)
			relay_backoff_ms = BACKOFF_MIN_MS;
		else if ((relay_backoff_ms *= 2) > BACKOFF_MAX_MS)
			relay_backoff_ms = BACKOFF_MAX_MS;
		relay_not_before = now + relay_backoff_ms;
		if (WIFSIGNALED(status))
			log_warnx("relay role died of signal %d; a new one "
			    "when the queue asks, in %u ms at the earliest",
			    WTERMSIG(status), relay_backoff_ms);
		else
			log_warnx("relay role exited with status %d; a new "
			    "one when the queue asks, in %u ms at the earliest",
			    WEXITSTATUS(status), relay_backoff_ms);
	}
	relay_maybe_start();
}

/* on_queue_msg - P_RELAY_START, the one request the queue role may make */
static void
on_queue_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)arg;
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (m->hdr.type != P_RELAY_START || !ipc_get_end(m)) {
		log_warnx("unexpected message %u from the queue role",
		    m->hdr.type);
		return;
	}
	relay_asked = true;
	relay_maybe_start();
}

/* on_queue_gone - the queue role ended: on_child restarts the set */
static void
on_queue_gone(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	queue_ch_up = false;
}

static size_t
roles_alive(void)
{
	size_t n = 0;
	enum role r;

	for (r = 0; r < NROLES; r++)
		if (pids[r] > 0)
			n++;
	return n;
}

static void
kill_roles(int sig)
{
	enum role r;

	for (r = 0; r < NROLES; r++)
		if (pids[r] > 0)
			(void)kill(pids[r], sig);
}

static void
on_kill_timer(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	log_warnx("roles did not stop in time, killing them");
	kill_roles(SIGKILL);
}

static void
on_restart_timer(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	if (!stopping)
		start_roles();
}

/* all_gone - every role was reaped: exit, or start the set again */
static void
all_gone(void)
{
	ev_timer_del(&kill_timer);
	if (stopping) {
		ev_break();
		return;
	}
	if (ev_now() - started_at > 10000)
		backoff_ms = BACKOFF_MIN_MS;
	log_info("starting the roles again in %u ms", backoff_ms);
	ev_timer_add(&restart_timer, backoff_ms);
	backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
}

static void
on_child(int sig, void *arg)
{
	enum role r;
	pid_t pid;
	int status;

	(void)sig;
	(void)arg;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (r = 0; r < NROLES; r++)
			if (pids[r] == pid)
				break;
		if (r == NROLES)
			continue;
		pids[r] = 0;
		if (r == ROLE_RELAY && !stopping && !restarting)
			relay_reaped(status);
		else if (!stopping && !restarting) {
			if (WIFSIGNALED(status))
				log_warnx("%s role died of signal %d; restarting every role",
				    role_name[r], WTERMSIG(status));
			else
				log_warnx("%s role exited with status %d; restarting every role",
				    role_name[r], WEXITSTATUS(status));
			restarting = true;
			kill_roles(SIGTERM);
			ev_timer_add(&kill_timer, STOP_GRACE_MS);
		}
	}
	if (roles_alive() == 0 && (stopping || restarting))
		all_gone();
}

static void
on_stop(int sig, void *arg)
{
	(void)arg;
	log_info("signal %d, exiting", sig);
	stopping = true;
	if (roles_alive() == 0) {
		ev_break();
		return;
	}
	kill_roles(SIGTERM);
	ev_timer_add(&kill_timer, STOP_GRACE_MS);
}

/*
 * send_tls - the certificate and key files, open, to the smtp role, which
 * loads them for new connections (smtp_server.c); false if not sent
 */
static bool
send_tls(int cfd, int kfd)
{
	struct ipc_out o;

	if (pids[ROLE_SMTP] <= 0 || to_smtp == -1)
		return false;
	ipc_out_init(&o);
	ipc_put_str(&o, smtpd_conf->tls.cert);
	if (ipc_write_sync(to_smtp, P_TLS_CERT, 0, cfd, &o) == -1)
		return false;
	ipc_out_init(&o);
	ipc_put_str(&o, smtpd_conf->tls.key);
	return ipc_write_sync(to_smtp, P_TLS_KEY, 0, kfd, &o) == 0;
}

/*
 * reload_tls - SIGHUP: load the [tls] files again; a good pair replaces
 * the parent's context (for roles started later) and, when live, goes to
 * the running smtp role.  A bad one is logged and changes nothing.
 */
static void
reload_tls(bool live)
{
	int cfd, kfd;

	if (smtpd_conf->tls.cert == NULL || smtpd_conf->tls.key == NULL)
		return;
	/* loaded by a child first: the role gets only a pair known to be good */
	if (open_tls(&cfd, &kfd) == -1) {
		log_warnx("reload: keeping the running certificate");
		return;
	}
	if (tls_cert_fd == -1 && live) {
		/* the roles started without TLS: only a restart adds it */
		log_warnx("reload: [tls] was not loaded at start; restart "
		    "facteur-smtpd to use it");
		close(cfd);
		close(kfd);
		return;
	}
	close_tls();
	tls_cert_fd = cfd;
	tls_key_fd = kfd;
	if (!live)
		log_info("reload: certificate %s and key %s loaded",
		    smtpd_conf->tls.cert, smtpd_conf->tls.key);
	else if (send_tls(cfd, kfd))
		log_info("reload: certificate %s and key %s loaded, sent to "
		    "the smtp role for new connections", smtpd_conf->tls.cert,
		    smtpd_conf->tls.key);
	else
		log_warnx("reload: the smtp role did not take the new "
		    "certificate: %s", strerror(errno));
}

/* reload_password - SIGHUP: [relay] password_file again, to the relay role */
static void
reload_password(bool live)
{
	struct ipc_out o;
	bool bad;
	char *pw;

	if ((pw = read_relay_password(smtpd_conf, &bad)) == NULL) {
		if (bad)
			log_warnx("reload: keeping the running relay password");
		return;
	}
	if (relay_password != NULL) {
		wipe(relay_password, strlen(relay_password));
		free(relay_password);
	}
	relay_password = pw;
	if (!live || pids[ROLE_RELAY] <= 0 || to_relay == -1) {
		/* no relay role running: the next one starts with it */
		log_info("reload: relay password reread from %s",
		    smtpd_conf->relay.password_file);
		return;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, pw);
	if (ipc_write_sync(to_relay, P_RELAY_PASSWORD, 0, -1, &o) == -1)
		log_info("reload: relay password reread from %s; the relay "
		    "role is gone (%s), the next one starts with it",
		    smtpd_conf->relay.password_file, strerror(errno));
	else
		log_info("reload: relay password reread from %s, sent to the "
		    "relay role", smtpd_conf->relay.password_file);
	wipe(o.p, o.len);
}

/*
 * the sections no role uses: a change there (or in comments and spacing)
 * keeps the roles and their sessions
 */
static const char *const not_ours[] = { "imap", "pop3", "authd", "doctor",
	"acme", NULL };

static void
on_hup(int sig, void *arg)
{
	struct conf *c;
	uint64_t accounts;
	bool same;

	(void)sig;
	(void)arg;
	if ((c = daemon_reload_conf(smtpd_conf)) == NULL)
		return;
	same = conf_same_except(smtpd_conf, c, not_ours);
	conf_free(&smtpd_conf);
	smtpd_conf = c;
	/* an account made or removed since: facteur-sendmail's senders */
	accounts = localsend_accounts_digest();
	if (same && accounts != 0 && accounts != accounts_digest) {
		log_info("SIGHUP: the local accounts changed; restarting the "
		    "roles so that facteur-sendmail knows them");
		same = false;
	}
	if (same && !restarting && set_running()) {
		log_info("SIGHUP: nothing smtpd uses changed in %s; reloading "
		    "the certificate and the relay password, sessions go on",
		    c->file);
		reload_tls(true);
		reload_password(true);
		return;
	}
	log_info("SIGHUP: configuration reread; restarting the roles "
	    "(listen addresses change only on a restart)");
	reload_tls(false);
	reload_password(false);
	/* [fetch]: the state directory and the passwords of the new accounts */
	(void)fetch_prepare(smtpd_conf, acc[role_acc[ROLE_FETCH]].uid,
	    acc[role_acc[ROLE_FETCH]].gid, true);
	if (roles_alive() == 0) {
		ev_timer_del(&restart_timer);
		start_roles();
		return;
	}
	restarting = true;
	backoff_ms = BACKOFF_MIN_MS;
	kill_roles(SIGTERM);
	ev_timer_add(&kill_timer, STOP_GRACE_MS);
}

int
main(int argc, char **argv)
{
	const char *path = CONF_DEFAULT_PATH;
	bool debug = false, bad;
	size_t i;
	int ch;

	/* a SIGHUP before the loop handles it must not kill us */
	signal(SIGHUP, SIG_IGN);
	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	smtpd_conf = conf_load_or_die(path);
	daemon_raise_nofile();
	daemon_log_init("smtpd", smtpd_conf, debug, false);
	if (smtpd_conf->inbound.dmarc && access(smtpd_conf->inbound.psl, R_OK) == -1)
		fatalx("%s: [inbound] psl %s: %s (install Debian's publicsuffix "
		    "package, set psl, or set dmarc = no)", path,
		    smtpd_conf->inbound.psl, strerror(errno));

	smtpd_privileged = geteuid() == 0;
	priv_accounts(smtpd_conf, acc);
	if (!smtpd_privileged)
		log_warnx("not started as root: running as uid %ld, no chroot, "
		    "no privilege drop", (long)geteuid());
	if (daemon_setup_dirs(smtpd_conf,
	    smtpd_privileged ? acc[PRIV_MAIL].uid : (uid_t)-1,
	    smtpd_privileged ? acc[PRIV_MAIL].gid : (gid_t)-1) == -1)
		exit(1);
	setup_dirs(smtpd_conf);
	lock_queue(smtpd_conf);
	/*
	 * a password file that cannot be read is a configuration error,
	 * said with its file and line before any port is bound
	 */
	relay_password = read_relay_password(smtpd_conf, &bad);
	smtpd_fetch_uid = smtpd_privileged ? acc[role_acc[ROLE_FETCH]].uid :
	    geteuid();
	if (fetch_prepare(smtpd_conf, acc[role_acc[ROLE_FETCH]].uid,
	    acc[role_acc[ROLE_FETCH]].gid, false) > 0 || bad)
		exit(1);

	for (i = 0; i < smtpd_conf->smtp.listen.n; i++)
		listen_on(&smtpd_conf->smtp.listen.v[i], PORT_MX);
	for (i = 0; i < smtpd_conf->smtp.submission.n; i++)
		listen_on(&smtpd_conf->smtp.submission.v[i], PORT_SUBMISSION);
	for (i = 0; i < smtpd_conf->smtp.submissions.n; i++)
		listen_on(&smtpd_conf->smtp.submissions.v[i], PORT_SUBMISSIONS);

	listen_local(smtpd_conf);
	listen_ctl(smtpd_conf);
	if (smtpd_conf->tls.cert && open_tls(&tls_cert_fd, &tls_key_fd) == -1)
		fatalx("[tls] cannot load %s / %s", smtpd_conf->tls.cert,
		    smtpd_conf->tls.key);
	if (smtpd_conf->smtp.submissions.n && tls_cert_fd == -1)
		fatalx("%s: [smtp] submissions needs a [tls] section", path);
	/* the relay role loads the CA file when it first needs TLS */
	if (smtpd_conf->relay.enabled && smtpd_conf->relay.verify &&
	    !tls_try(check_ca, (void *)smtpd_conf->relay.ca_file))
		fatalx("cannot set up the outbound TLS context");
	if (!debug)
		daemon_detach();
	(void)daemon_pidfile(smtpd_conf->run_dir, "smtpd");

	ev_init();
	ev_signal(SIGPIPE, NULL, NULL);
	ev_signal(SIGCHLD, on_child, NULL);
	ev_signal(SIGTERM, on_stop, NULL);
	ev_signal(SIGINT, on_stop, NULL);
	ev_signal(SIGHUP, on_hup, NULL);
	ev_timer_init(&restart_timer, on_restart_timer, NULL);
	ev_timer_init(&kill_timer, on_kill_timer, NULL);
	ev_timer_init(&relay_timer, on_relay_timer, NULL);
	/* the count of the ports the configuration names, and the socket */
	log_info("ready: %zu smtp port%s and %s, tls %s, %s", nlisteners - 1,
	    nlisteners == 2 ? "" : "s", LOCAL_SOCKET,
	    tls_cert_fd != -1 ? "on" : "off",
	    smtpd_conf->relay.enabled ? "outbound through the relay" :
	    "outbound direct to MX");
	start_roles();
	daemon_ready();
	ev_run();
	return 0;
}
