/* SPDX-License-Identifier: ISC */
/*
 * daemon.h - what every facteur daemon does at start, before it serves:
 * create its directories on first start, refuse to run beside another one
 * on the same directories, detach from the terminal, write its pid file,
 * tell the starting shell that it is ready; on SIGHUP, load the
 * configuration again and say what is wrong with it.
 *
 * Used by the daemons' main() only, as root or as an ordinary user, before
 * the privilege drop (run_dir is root's).  Failures are logged; the caller
 * decides (a daemon that cannot make its directories does not start).
 */
#ifndef FACTEUR_DAEMON_H
#define FACTEUR_DAEMON_H

#include <sys/types.h>

#include "conf.h"

/*
 * daemon_setup_dirs - first start: create what the configuration names if
 * it is missing, and never change anything that exists:
 *   run_dir     root (or the caller), 0755    sockets, pid files
 *   run_dir/authd  root, 0755: authd.sock alone; the chroot of the smtp
 *               and imap login roles (lib/priv.h)
 *   run_dir/empty  root, 0755, empty: the relay role's chroot
 *               (as root, both must be root's and unwritable by others)
 *   state_dir   root (or the caller), 0755    users.db, queue/ below it
 *   mail_dir    for each local domain, the directory above the first part
 *               that depends on %u (e.g. /var/mail/example.org for
 *               /var/mail/%d/%u): uid's and gid's, 0700; missing parents
 *               root's, 0755
 * uid, gid are the `user` account's (the Maildirs' owner) when started as
 * root, (uid_t)-1 and (gid_t)-1 otherwise (then everything belongs to the
 * caller).  Returns 0, or -1 after logging.
 */
int	daemon_setup_dirs(const struct conf *c, uid_t uid, gid_t gid);

/*
 * daemon_detach - fork; the child goes on in a new session with stdio on
 * /dev/null, the parent waits until the child calls daemon_ready() (exit 0)
 * or exits first (exit 1), so an init script sees startup failures.
 */
void	daemon_detach(void);

/*
 * daemon_log_init - log_init() as c's `log` says (a file: log_open_file),
 * or to stderr in the foreground (-d); a log file that cannot be opened
 * is fatal.
 */
void	daemon_log_init(const char *ident, const struct conf *c,
	    bool foreground, bool debug);

/*
 * daemon_raise_nofile - raise the soft descriptor limit to the hard one
 * (issue 16 item 5: 1024 is few for a mail server; init/systemd units set
 * LimitNOFILE for the hard one).  Logs when it cannot; never fails.
 */
void	daemon_raise_nofile(void);

/* daemon_ready - release the parent of daemon_detach(); no-op without it */
void	daemon_ready(void);

/*
 * daemon_pidfile - write run_dir/NAME.pid (through the descriptor that
 * daemon_lock_pidfile() locked, if it did: the file is never replaced, so
 * the lock stays on it); logs and returns -1 on failure
 */
int	daemon_pidfile(const char *run_dir, const char *name);

/*
 * One daemon per resource: a second facteur-NAME started beside the
 * running one (another configuration sharing run_dir or state_dir, one
 * started by hand beside the service) must refuse before it binds a port,
 * replaces a socket or writes a pid file, or it takes over the first one's
 * sockets, pid file or queue.  The locks are flock(2)s, released by the
 * kernel when the process exits, however it dies; they are held by the
 * daemon's main process (from before daemon_detach(), whose child keeps
 * them) and dropped by every child that serves (daemon_lock_forget), so
 * that a restart never waits for a child that lingers.
 *
 * daemon_lock - open path (made if missing, 0644, never truncated) and
 * take an flock on it: its descriptor (kept here; daemon_lock_forget()
 * closes it), or -1 if another process holds it.  Any other failure is
 * fatal (startup).  At most DAEMON_LOCKS per process.
 */
#define DAEMON_LOCKS	2
int	daemon_lock(const char *path);

/*
 * daemon_lock_pidfile - daemon_lock() on run_dir/NAME.pid; held by
 * another: daemon_lock_refuse(c, name, "run_dir RUN_DIR").
 */
void	daemon_lock_pidfile(const struct conf *c, const char *name);

/*
 * daemon_lock_refuse - exit 1 with "another facteur-NAME (pid N) is
 * running with WHAT: stop it first", N from run_dir/NAME.pid (left out if
 * unreadable); fmt makes WHAT.
 */
void	daemon_lock_refuse(const struct conf *c, const char *name,
	    const char *fmt, ...)
	    __attribute__((format(printf, 3, 4), noreturn));

/* daemon_lock_forget - in a forked child: close every lock's descriptor */
void	daemon_lock_forget(void);

/*
 * daemon_reload_conf - SIGHUP: load cur's file again.  On any error, logs
 * each of conf_load()'s messages and "keeping the running configuration",
 * and returns NULL; the caller keeps what it has.  The result is the
 * caller's.  A new `log` is logged as waiting for the next start (the
 * destination is set up once, before the roles fork and chroot).
 */
struct conf *daemon_reload_conf(const struct conf *cur);

#endif
