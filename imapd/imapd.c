/* SPDX-License-Identifier: ISC */
/*
 * imapd.c - facteur-imapd main(): configuration, listening sockets, TLS
 * context, privilege drop, then the one event loop (SPEC 4, 5).
 *
 * Started as root it binds `[imap] listen` (implicit TLS) and
 * `listen_starttls`, loads the certificate and key, then becomes `user`
 * (setgroups, setresgid, setresuid, verified) before it reads a byte from
 * the network.  Started as an ordinary user it warns once and keeps its
 * ids.  Startup errors exit 1 with a message; nothing a client sends
 * makes the process exit.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authc.h"
#include "imapd.h"
#include "log.h"
#include "tls.h"
#include "xmem.h"

#define IMAPD_MAX_SESSIONS	1000

struct imapd imapd;

struct listener {
	struct ev_io	 io;
	bool		 implicit_tls;
};

static struct listener *listeners;
static size_t nlisteners;

static void
usage(void)
{
	fprintf(stderr, "usage: facteur-imapd -c FILE [-d]\n");
	exit(2);
}

void
imapd_session_gone(void)
{
	size_t i;

	if (imapd.nsessions-- == IMAPD_MAX_SESSIONS)
		for (i = 0; i < nlisteners; i++)
			ev_io_want(&listeners[i].io, EV_READ);
}

static void
listener_cb(struct ev_io *io, unsigned events, void *arg)
{
	struct listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	char host[NI_MAXHOST];
	int fd;
	size_t i;

	for (;;) {
		if (imapd.nsessions >= IMAPD_MAX_SESSIONS) {
			log_warnx("too many sessions, not accepting");
			for (i = 0; i < nlisteners; i++)
				ev_io_want(&listeners[i].io, 0);
			return;
		}
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host),
		    NULL, 0, NI_NUMERICHOST) != 0)
			memcpy(host, "unknown", 8);
		imapd.nsessions++;
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
add_listeners(const struct conf_addrs *as, bool implicit_tls)
{
	size_t i;
	struct listener *l;

	for (i = 0; i < as->n; i++) {
		listeners = xreallocarray(listeners, nlisteners + 1,
		    sizeof(*listeners));
		l = &listeners[nlisteners++];
		memset(l, 0, sizeof(*l));
		l->implicit_tls = implicit_tls;
		l->io.fd = listen_on(&as->v[i]);
		log_info("listening on %s:%u%s", as->v[i].host, as->v[i].port,
		    implicit_tls ? " (tls)" : " (starttls)");
	}
}

/* drop_privileges - STYLE 6 steps 4-5; only when started as root */
static void
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		log_warnx("not running as root: keeping uid %u (no privilege "
		    "drop)", (unsigned)geteuid());
		return;
	}
	if ((pw = getpwnam(user)) == NULL)
		fatalx("user %s: no such user", user);
	if (pw->pw_uid == 0)
		fatalx("user %s: must not be root", user);
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("dropping privileges to %s", user);
	if (getuid() == 0 || geteuid() == 0 || getgid() == 0 ||
	    getegid() == 0 || setuid(0) != -1)
		fatalx("privileges could not be dropped");
}

static void
on_signal(int sig, void *arg)
{
	log_info("signal %d, exiting", sig);
	ev_break();
}

int
main(int argc, char *argv[])
{
	const char *file = NULL;
	bool debug = false;
	int ch;
	size_t i;

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
	log_init("imapd", debug || imapd.conf->log_stderr, debug);
	if (imapd.conf->imap.listen.n + imapd.conf->imap.listen_starttls.n == 0)
		fatalx("%s: [imap] needs listen or listen_starttls", file);
	if (imapd.conf->tls.cert == NULL || imapd.conf->tls.key == NULL)
		fatalx("%s: [tls] cert and key are needed for IMAP", file);
	signal(SIGPIPE, SIG_IGN);
	ev_init();
	if ((imapd.tls = tls_server_ctx(imapd.conf->tls.cert,
	    imapd.conf->tls.key)) == NULL)
		fatalx("cannot load TLS certificate %s", imapd.conf->tls.cert);
	add_listeners(&imapd.conf->imap.listen, true);
	add_listeners(&imapd.conf->imap.listen_starttls, false);
	drop_privileges(imapd.conf->user);
	authc_init(imapd.conf->run_dir);
	store_init();
	ev_signal(SIGTERM, on_signal, NULL);
	ev_signal(SIGINT, on_signal, NULL);
	ev_signal(SIGHUP, NULL, NULL);
	for (i = 0; i < nlisteners; i++) {
		ev_io_init(&listeners[i].io, listeners[i].io.fd, listener_cb,
		    &listeners[i]);
		ev_io_want(&listeners[i].io, EV_READ);
	}
	log_info("started");
	if (ev_run() == -1)
		fatal("event loop");
	conf_free(&imapd.conf);
	return 0;
}
