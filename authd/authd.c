/* SPDX-License-Identifier: ISC */
/*
 * authd.c - facteur-authd main: configuration, the socket, the DKIM keys,
 * privilege drop, the event loop (roles and protocol: authd.h, README.md).
 *
 * Started by init as root: reads the configuration and the DKIM keys,
 * binds run_dir/authd/authd.sock (run_dir/authd.sock is a symbolic link to
 * it, for tools; the directory is the chroot of the roles that talk to
 * authd), gives users.db and aliases.db to user-auth (mode 0600), then
 * chroots into state_dir and becomes user-auth (lib/priv.h) before it
 * reads a single request.  Which uid may ask what: authd.h.  Started as
 * an ordinary user (tests, development): one warning, no chroot, no drop.  Startup errors exit 1
 * with a message naming what failed; after startup nothing a peer sends
 * can make authd exit.  SIGHUP rereads the configuration file when it can
 * reach it (not from the chroot of a root start): a file with errors, or
 * DKIM keys that do not load, are logged and the running configuration
 * stays.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"
#include "compat.h"
#include "conf.h"
#include "daemon.h"
#include "localsend.h"
#include "log.h"
#include "priv.h"
#include "sha256.h"
#include "xmem.h"

#define THROTTLE_ENTRIES	4096
#define GOOD_ENTRIES		1024	/* (network, user) pairs that logged in */

struct authd authd;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: facteur-authd -c FILE [-d]\n");
	exit(2);
}

static void
on_stop(int sig, void *arg)
{
	(void)arg;
	log_info("signal %d, exiting", sig);
	ev_break();
}

/*
 * own_db_files - users.db, aliases.db and the writers' lock belong to
 * user-auth, mode 0600: no other role can read or replace them (keytool
 * runs as root).  Files made by an older version, owned by `user`, are
 * handed over here.
 */
static void
own_db_files(const struct conf *c, const struct priv_account *auth)
{
	static const char *const names[] = {
		"users.db", "aliases.db", "userdb.lock"
	};
	char path[4096];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!bsnprintf(path, sizeof(path), "%s/%s", c->state_dir,
		    names[i]))
			fatalx("%s: state_dir too long", c->file);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 && errno == ENOENT)
			continue;
		if (fd == -1 || fchown(fd, auth->uid, auth->gid) == -1 ||
		    fchmod(fd, 0600) == -1)
			fatal("%s: cannot give it to %s", path, auth->name);
		close(fd);
	}
}

/*
 * listen_socket - run_dir/authd/authd.sock, mode 0666 (who may talk is
 * checked per connection), and the run_dir/authd.sock link to it
 */
static int
listen_socket(const struct conf *c, char *sock, size_t socksz)
{
	char link[4096];
	int fd;

	if (!bsnprintf(sock, socksz, "%s/%s/%s", c->run_dir, PRIV_AUTHD_DIR,
	    AUTHD_SOCKET) ||
	    !bsnprintf(link, sizeof(link), "%s/%s", c->run_dir, AUTHD_SOCKET))
		fatalx("%s: run_dir too long for a socket path", c->file);
	if ((fd = ipc_listen_unix(sock, 0666)) == -1) {
		if (errno == EADDRINUSE)
			fatalx("another facteur-authd answers on %s: stop it "
			    "first", sock);
		fatal("listen %s", sock);
	}
	if ((unlink(link) == -1 && errno != ENOENT) ||
	    symlink(PRIV_AUTHD_DIR "/" AUTHD_SOCKET, link) == -1)
		fatal("symlink %s", link);
	return fd;
}

/*
 * warn_senders - a [sendmail] sender address of ours that reaches no
 * mailbox is still accepted as the sender of facteur-sendmail's mail (a
 * sender is an identity; refusing a cron job's report would lose it),
 * but bounces and replies to it are lost: say so once at start
 * (`facteur-keytool doctor` says it too, doctor_sender.c)
 */
static void
warn_senders(const struct conf *c, struct userdb *udb)
{
	struct userdb_list l;
	const char *a;
	size_t i, j;

	for (i = 0; i < c->sendmail.nsender; i++)
		for (j = 0; j < c->sendmail.sender[i].naddrs; j++) {
			a = c->sendmail.sender[i].addrs[j];
			memset(&l, 0, sizeof(l));
			if (userdb_is_local(udb, a) &&
			    userdb_resolve(udb, a, &l) == USERDB_NOTFOUND)
				log_warnx("[sendmail] sender %s (account %s) "
				    "reaches no mailbox: bounces and replies to "
				    "its mail are lost (facteur-keytool alias "
				    "add %s YOUR-ADDRESS)", a,
				    c->sendmail.sender[i].login, a);
			userdb_list_free(&l);
		}
}

static const char *dbdir;	/* users.db's directory as authd sees it */
static bool chrooted;

/*
 * on_hup - reread the configuration: domains and DKIM keys take effect at
 * once; state_dir, run_dir and user at the next start.  Nothing changes
 * unless the whole new file is good and its keys load.
 */
static void
on_hup(int sig, void *arg)
{
	const char *file = authd.conf->file;
	struct conf *nc, *old;
	struct userdb *udb;

	if (chrooted) {
		log_warnx("reload: %s is outside the chroot %s: restart authd "
		    "to apply it (users.db and aliases.db are reread when they "
		    "change)", file, authd.conf->state_dir);
		return;
	}
	if ((nc = daemon_reload_conf(authd.conf)) == NULL)
		return;
	if ((udb = userdb_open(dbdir, nc->domains)) == NULL) {
		log_warnx("reload: cannot reopen users.db, keeping the running "
		    "configuration");
		goto done;
	}
	if (authd_dkim_load(nc) == -1) {	/* keeps the old keys */
		userdb_close(&udb);
		log_warnx("reload: the [dkim] keys of %s do not load, keeping "
		    "the running configuration", file);
		goto done;
	}
	if (strcmp(nc->state_dir, authd.conf->state_dir) != 0 ||
	    strcmp(nc->run_dir, authd.conf->run_dir) != 0 ||
	    strcmp(nc->user, authd.conf->user) != 0)
		log_warnx("reload: state_dir, run_dir and user take effect at "
		    "the next start");
	userdb_close(&authd.udb);
	authd.udb = udb;
	old = (struct conf *)authd.conf;	/* ours: main() loaded it */
	authd.conf = nc;
	nc = NULL;
	conf_free(&old);		/* and `file` with it */
	log_info("reload: %s loaded", authd.conf->file);
	authd_peer_changed(false);	/* the domains may be others */
done:
	conf_free(&nc);
}

int
main(int argc, char **argv)
{
	struct priv_account acc[PRIV_NROLES];
	const char *file = NULL;
	bool foreground = false, root = geteuid() == 0;
	char sock[4096];
	uint8_t seed[16];
	struct conf *c;
	int ch, fd;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'd':
			foreground = true;
			break;
		default:
			usage();
		}
	}
	if (file == NULL || optind != argc)
		usage();

	/*
	 * scrypt takes 16 MiB per check: always from mmap, given back at
	 * once, so authd's resident size stays small between logins
	 */
	COMPAT_MMAP_THRESHOLD(1024 * 1024);

	/* (1) configuration, log, accounts, keys, socket */
	log_init("authd", true, false);
	c = conf_load_or_die(file);
	daemon_raise_nofile();
	daemon_log_init("authd", c, foreground, false);
	authd.conf = c;
	if (authd_throttle_conf_env(&authd.tc) == -1)
		fatalx("FACTEUR_AUTHD_THROTTLE: expected "
		    "delay_after,block_after,window_s,block_s");
	priv_accounts(c, acc);
	authd_peer_allow(0, AUTHD_ALL_TYPES);
	authd_peer_allow(acc[PRIV_AUTH].uid, AUTHD_ALL_TYPES);
	authd_peer_allow(acc[PRIV_SMTP].uid, AUTHD_TYPE_BIT(AUTHD_RCPT) |
	    AUTHD_TYPE_BIT(AUTHD_LOGIN) | AUTHD_TYPE_BIT(AUTHD_SENDERS) |
	    AUTHD_TYPE_BIT(AUTHD_DKIM_SIGN) | AUTHD_TYPE_BIT(AUTHD_DKIM_ALG) |
	    AUTHD_TYPE_BIT(AUTHD_LOCAL) | AUTHD_TYPE_BIT(AUTHD_RELEASE));
	authd_peer_allow(acc[PRIV_LOGIN].uid, AUTHD_TYPE_BIT(AUTHD_LOGIN));
	if (root && !c->single_account) {
		/* these are no local senders: no DKIM grant for them */
		authd.nogrant[authd.nnogrant++] = acc[PRIV_SMTP].uid;
		authd.nogrant[authd.nnogrant++] = acc[PRIV_RELAY].uid;
		authd.nogrant[authd.nnogrant++] = acc[PRIV_QUEUE].uid;
		authd.nogrant[authd.nnogrant++] = acc[PRIV_LOGIN].uid;
	}
	localsend_load(c);	/* the local senders' domains, before the chroot */
	if (authd_login_init(c->hostname) == -1)
		fatalx("cannot initialise libsasl2");
	if (authd_dkim_load(c) == -1)
		fatalx("%s: cannot load the [dkim] keys", file);
	/*
	 * no OpenSSL here (issue 17: its providers cost 400 KiB of heap
	 * and, statically linked, megabytes of mapped code): the hashers
	 * start it after they fork, and the [dkim] keys above are only
	 * bytes here, parsed in children (authd_dkim.c)
	 */
	if (rand_bytes(seed, sizeof(seed)) == -1)
		fatalx("no randomness");
	if (daemon_setup_dirs(c, root ? acc[PRIV_MAIL].uid : (uid_t)-1,
	    root ? acc[PRIV_MAIL].gid : (gid_t)-1) == -1)
		fatalx("%s: cannot create the directories it names", file);
	if (root)
		own_db_files(c, &acc[PRIV_AUTH]);
	fd = listen_socket(c, sock, sizeof(sock));
	if (!foreground)
		daemon_detach();
	(void)daemon_pidfile(c->run_dir, "authd");

	/* (2)-(5) chroot and drop to user-auth */
	dbdir = c->state_dir;
	(void)authd_watch_open(dbdir);	/* may fail: nothing is kept then */
	if (root) {
		priv_drop(acc[PRIV_AUTH].uid, acc[PRIV_AUTH].gid, c->state_dir);
		dbdir = "/";
		chrooted = true;
	} else
		log_warnx("not started as root: running as uid %ld, no chroot, "
		    "no privilege drop", (long)geteuid());

	/* (6) serve */
	signal(SIGPIPE, SIG_IGN);
	ev_init();
	/* the hashers: forked when checks come, without users.db, peers or
	 * keys */
	if (authd_hash_start(c->authd.hashers) == -1)
		fatalx("cannot start the hashing processes");
	ev_signal(SIGTERM, on_stop, NULL);
	ev_signal(SIGINT, on_stop, NULL);
	ev_signal(SIGHUP, on_hup, NULL);
	if ((authd.udb = userdb_open(dbdir, c->domains)) == NULL ||
	    (authd.ip_fail = authd_throttle_new(THROTTLE_ENTRIES, seed)) == NULL ||
	    (authd.user_fail = authd_throttle_new(THROTTLE_ENTRIES, seed)) == NULL ||
	    (authd.net_fail = authd_throttle_new(THROTTLE_ENTRIES, seed)) == NULL ||
	    (authd.good = authd_throttle_new(GOOD_ENTRIES, seed)) == NULL ||
	    (authd.cache = authd_cache_new(c->authd.cache_size,
	    1000ULL * c->authd.cache_ttl)) == NULL)
		fatalx("out of memory");
	wipe(seed, sizeof(seed));
	warn_senders(c, authd.udb);
	authd_peer_listen(fd);
	authd_watch_start();
	log_info("ready socket=%s users=%s/users.db", sock, c->state_dir);
	daemon_ready();
	if (ev_run() == -1)
		log_warn("event loop");

	authd_peer_close_all();
	authd_grant_free_all();
	authd_hash_stop();
	authd_cache_free(&authd.cache);
	authd_throttle_free(&authd.ip_fail);
	authd_throttle_free(&authd.user_fail);
	authd_throttle_free(&authd.net_fail);
	authd_throttle_free(&authd.good);
	userdb_close(&authd.udb);
	authd_dkim_free();
	authd_login_done();
	if (!root)
		(void)unlink(sock);
	c = (struct conf *)authd.conf;	/* a reload may have replaced it */
	conf_free(&c);
	return 0;
}
