/* SPDX-License-Identifier: ISC */
/*
 * daemon.c - start-up chores shared by facteur-authd, facteur-imapd and
 * facteur-smtpd (see daemon.h): first-start directories, the locks that
 * keep a second instance off, detaching with a readiness pipe, the pid
 * file, reloading the configuration file.
 *
 * Runs in each daemon's main process before it drops privileges.  Creates
 * directories only when they are missing (mkdir, then chown/chmod of what
 * it just made, then the fsync of its parent, lib/dirsync.h), so a
 * directory an administrator set up is never touched.
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "dirsync.h"
#include "log.h"
#include "priv.h"
#include "xmem.h"

static int ready_fd = -1;	/* write end of the pipe to the waiting parent */
static int lock_fds[DAEMON_LOCKS] = { -1, -1 };	/* daemon_lock()'s */
static int pid_fd = -1;		/* one of them: run_dir/NAME.pid */

/* make_dir - mkdir dir if missing, then give it to uid/gid with mode */
static int
make_dir(const char *dir, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(dir, mode) == -1) {
		if (errno != EEXIST) {
			log_warn("mkdir %s", dir);
			return -1;
		}
		/* an earlier start may have died before the fsync below */
		if (fsync_parent_existing(dir) == -1) {
			log_warn("fsync of the directory above %s", dir);
			return -1;
		}
		return 0;
	}
	if ((uid != (uid_t)-1 && chown(dir, uid, gid) == -1) ||
	    chmod(dir, mode) == -1) {
		log_warn("chown/chmod %s", dir);
		return -1;
	}
	/* the new entry must survive a power cut: mail goes in there */
	if (fsync_parent(dir) == -1) {
		log_warn("fsync of the directory above %s", dir);
		return -1;
	}
	log_info("created %s (mode %03o)", dir, (unsigned)mode);
	return 0;
}

/* make_path - mkdir -p: missing parents 0755 for the caller, dir itself
 * with mode for uid/gid */
static int
make_path(const char *dir, mode_t mode, uid_t uid, gid_t gid)
{
	char p[PATH_MAX], *s;

	if (!bstrcpy(p, dir, sizeof(p)) || p[0] != '/') {
		log_warnx("%s: expected an absolute path", dir);
		return -1;
	}
	for (s = strchr(p + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (make_dir(p, 0755, (uid_t)-1, (gid_t)-1) == -1)
			return -1;
		*s = '/';
	}
	return make_dir(p, mode, uid, gid);
}

/* mail_domain_dir - the part of mail_dir for `domain` above the first
 * component that depends on the local part; false if there is none */
static bool
mail_domain_dir(const struct conf *c, const char *domain, char *out,
    size_t outsz)
{
	char other[PATH_MAX];
	size_t i, slash = 0;

	if (!conf_maildir_path(c, "a", domain, out, outsz) ||
	    !conf_maildir_path(c, "b", domain, other, sizeof(other)))
		return false;
	for (i = 0; out[i] != '\0' && out[i] == other[i]; i++)
		if (out[i] == '/')
			slash = i;
	if (slash == 0)
		return false;
	out[slash] = '\0';
	return true;
}

/*
 * chroot_dir - run_dir/NAME, a chroot: made if missing; as root it must be
 * root's and writable by no one else, and `empty` must hold nothing
 */
static int
chroot_dir(const struct conf *c, const char *name, bool empty)
{
	char dir[PATH_MAX];
	struct stat st;
	struct dirent *e;
	DIR *d;
	int n = 0;

	priv_dir(c, name, dir, sizeof(dir));
	if (make_dir(dir, 0755, (uid_t)-1, (gid_t)-1) == -1)
		return -1;
	if (geteuid() != 0)
		return 0;
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		log_warnx("%s: a chroot must be a directory of root's that no "
		    "one else may write", dir);
		return -1;
	}
	if (!empty)
		return 0;
	if ((d = opendir(dir)) == NULL) {
		log_warn("%s", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	if (n != 0) {
		log_warnx("%s: the empty chroot is not empty", dir);
		return -1;
	}
	return 0;
}

int
daemon_setup_dirs(const struct conf *c, uid_t uid, gid_t gid)
{
	char dir[PATH_MAX];
	size_t i;

	if (make_path(c->run_dir, 0755, (uid_t)-1, (gid_t)-1) == -1 ||
	    make_path(c->state_dir, 0755, (uid_t)-1, (gid_t)-1) == -1 ||
	    chroot_dir(c, PRIV_AUTHD_DIR, false) == -1 ||
	    chroot_dir(c, PRIV_EMPTY_DIR, true) == -1)
		return -1;
	for (i = 0; i < c->ndomains; i++) {
		if (!mail_domain_dir(c, c->domains[i], dir, sizeof(dir)))
			continue;
		if (make_path(dir, 0700, uid, gid) == -1)
			return -1;
	}
	return 0;
}

void
daemon_log_init(const char *ident, const struct conf *c, bool foreground,
    bool debug)
{
	log_init(ident, foreground || c->log_stderr, debug);
	if (!foreground && c->log_file != NULL &&
	    log_open_file(c->log_file) == -1)
		fatal("log %s", c->log_file);
}

void
daemon_detach(void)
{
	int fds[2], fd;
	ssize_t n;
	char c;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		/* the parent: exit 0 once the child is ready, 1 if it died */
		close(fds[1]);
		do
			n = read(fds[0], &c, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 ? 0 : 1);
	}
	close(fds[0]);
	ready_fd = fds[1];
	if (setsid() == -1)
		fatal("setsid");
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		fatal("/dev/null");
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	if (!log_is_file())	/* log = FILE: stderr is that file */
		(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

void
daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
}

void
daemon_ready(void)
{
	if (ready_fd == -1)
		return;
	if (write(ready_fd, "", 1) != 1)
		log_warn("telling the parent we are ready");
	close(ready_fd);
	ready_fd = -1;
}

int
daemon_pidfile(const char *run_dir, const char *name)
{
	char path[PATH_MAX], line[32];
	int n;
	FILE *f;

	if (!bsnprintf(path, sizeof(path), "%s/%s.pid", run_dir, name)) {
		log_warnx("%s: path too long", run_dir);
		return -1;
	}
	if (pid_fd != -1) {
		n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
		if (ftruncate(pid_fd, 0) == -1 ||
		    pwrite(pid_fd, line, (size_t)n, 0) != n) {
			log_warn("%s", path);
			return -1;
		}
		return 0;
	}
	if ((f = fopen(path, "we")) == NULL) {
		log_warn("%s", path);
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) == EOF) {
		log_warn("%s", path);
		return -1;
	}
	return 0;
}

int
daemon_lock(const char *path)
{
	size_t i;
	int fd;

	for (i = 0; i < DAEMON_LOCKS && lock_fds[i] != -1; i++)
		;
	if (i == DAEMON_LOCKS)
		fatalx("%s: more than %d locks", path, DAEMON_LOCKS);
	/* read-only will do for the flock (another user's running one) */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) == -1 && (errno != EACCES ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1))
		fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			fatal("flock %s", path);
		close(fd);
		return -1;
	}
	lock_fds[i] = fd;
	return fd;
}

void
daemon_lock_refuse(const struct conf *c, const char *name, const char *fmt,
    ...)
{
	char path[PATH_MAX], pid[32] = "", what[PATH_MAX + 64];
	va_list ap;
	ssize_t n;
	int fd;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (bsnprintf(path, sizeof(path), "%s/%s.pid", c->run_dir, name) &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1) {
		if ((n = read(fd, pid, sizeof(pid) - 1)) > 0)
			pid[strspn(pid, "0123456789")] = '\0';
		else
			pid[0] = '\0';
		close(fd);
	}
	fatalx("another facteur-%s%s%s%s is running with %s: stop it first",
	    name, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", what);
}

void
daemon_lock_pidfile(const struct conf *c, const char *name)
{
	char path[PATH_MAX];

	if (!bsnprintf(path, sizeof(path), "%s/%s.pid", c->run_dir, name))
		fatalx("%s: run_dir too long", c->file);
	if ((pid_fd = daemon_lock(path)) == -1)
		daemon_lock_refuse(c, name, "run_dir %s", c->run_dir);
}

void
daemon_lock_forget(void)
{
	size_t i;

	for (i = 0; i < DAEMON_LOCKS; i++)
		if (lock_fds[i] != -1) {
			close(lock_fds[i]);
			lock_fds[i] = -1;
		}
	pid_fd = -1;
}

struct conf *
daemon_reload_conf(const struct conf *cur)
{
	const char *file = cur->file;
	struct conf *nc = NULL;
	char *errs = NULL, *line, *next;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&errs, &len)) == NULL) {
		log_warn("reload: %s", file);
		return NULL;
	}
	nc = conf_load(file, f);
	fclose(f);
	if (nc == NULL) {
		for (line = errs; line != NULL && *line != '\0'; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			log_warnx("reload: %s", line);
		}
		log_warnx("reload: %s not loaded, keeping the running "
		    "configuration", file);
	} else if (nc->log_stderr != cur->log_stderr ||
	    (nc->log_file == NULL) != (cur->log_file == NULL) ||
	    (nc->log_file != NULL && strcmp(nc->log_file, cur->log_file) != 0))
		log_warnx("reload: log = %s takes effect at the next start; "
		    "logging goes on where it went", nc->log_file != NULL ?
		    nc->log_file : nc->log_stderr ? "stderr" : "syslog");
	free(errs);
	return nc;
}
