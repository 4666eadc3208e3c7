/* SPDX-License-Identifier: ISC */
/*
 * fetch.c - the fetch role of facteur-smtpd: brings home the mail of
 * `[fetch]` accounts (a fallback mailbox at a provider, IMAPS or POP3S).
 *
 * The parent (root) calls fetch_prepare() before the roles start: it
 * makes state_dir/fetch for the role's account (and gives it the files
 * in it, as the queue's, so that the role can read them) and reads every
 * account's password_file (root-only, checked like the relay password),
 * which only this role keeps.  The role runs as `user-relay` (no
 * Maildir, no queue directory), without chroot (it connects out and to
 * run_dir/smtpd.sock): every account is polled at start and then every
 * `interval`, one after the other, with blocking I/O and timeouts (a
 * poll holds nothing else up: this process does nothing else).  Each
 * message goes to the queue like local mail for the account's user (the
 * queue delivers it, this role cannot write Maildirs), and the state
 * file under state_dir/fetch says what was queued, so nothing is
 * fetched twice across restarts (fetch_remote.c).  SIGTERM ends it at
 * once, except between the final dot of a message and its state record
 * (fetch_hold): whatever it was doing is redone at the next start.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dirsync.h"
#include "log.h"
#include "xmem.h"
#include "smtpd/fetch_int.h"

static char **passwords;	/* by account index; NULL: unreadable */
static char **pw_states;	/* the account's state key, for a reload */
static size_t npasswords;
static int state_fd = -1;	/* state_dir/fetch, opened as root */

static void
free_passwords(char **pw, char **st, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (pw[i] != NULL) {
			wipe(pw[i], strlen(pw[i]));
			free(pw[i]);
		}
		free(st[i]);
	}
	free(pw);
	free(st);
}

void
fetch_forget(void)
{
	free_passwords(passwords, pw_states, npasswords);
	passwords = pw_states = NULL;
	npasswords = 0;
	if (state_fd != -1)
		close(state_fd);
	state_fd = -1;
}

/*
 * take_password - account i's password; at a reload, one that cannot be
 * read keeps the running one of the same account (old), if any
 */
static int
take_password(const struct conf *c, size_t i, bool reload, char **old,
    char **old_st, size_t nold)
{
	const struct conf_fetch *a = &c->fetch.v[i];
	char why[1200];
	size_t k;

	pw_states[i] = xstrdup(a->state);
	if ((passwords[i] = conf_secret_read(a->password_file, why,
	    sizeof(why))) != NULL)
		return 0;
	if (!reload) {
		log_warnx("%s:%u: [fetch] account %s: password_file %s",
		    c->file, a->line, a->name, why);
		return -1;
	}
	for (k = 0; k < nold && passwords[i] == NULL; k++)
		if (old[k] != NULL && strcmp(old_st[k], a->state) == 0) {
			passwords[i] = old[k];
			old[k] = NULL;
		}
	log_warnx("reload: %s:%u: [fetch] account %s: password_file %s; %s",
	    c->file, a->line, a->name, why, passwords[i] != NULL ?
	    "keeping the running password" : "not fetched until a reload or "
	    "restart can read it");
	return 0;
}

/*
 * give_states - as root, every entry of state_dir/fetch to the role's
 * account: a state file it cannot read would be no state, and a keep=yes
 * account fetched all over again (files restored from a backup before
 * the accounts existed, `user` changed, state from another install)
 */
static void
give_states(const char *path, uid_t uid, gid_t gid)
{
	struct dirent *e;
	DIR *d;

	if ((d = opendir(path)) == NULL)
		fatal("%s", path);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && fchownat(dirfd(d), e->d_name, uid,
		    gid, AT_SYMLINK_NOFOLLOW) == -1)
			log_warn("chown %s/%s", path, e->d_name);
	closedir(d);
}

int
fetch_prepare(const struct conf *c, uid_t uid, gid_t gid, bool reload)
{
	char path[4096], **old = passwords, **old_st = pw_states;
	size_t i, nold = npasswords;
	int bad = 0;

	passwords = pw_states = NULL;
	npasswords = 0;
	if (state_fd != -1)
		close(state_fd);
	state_fd = -1;
	if (c->fetch.n == 0)
		goto done;
	if (!bsnprintf(path, sizeof(path), "%s/%s", c->state_dir, FETCH_DIR))
		fatalx("state_dir too long");
	if (mkdir_durable(path, 0700) == -1)	/* lib/dirsync.h */
		fatal("mkdir %s", path);
	if (geteuid() == 0 && (chown(path, uid, gid) == -1 ||
	    chmod(path, 0700) == -1))
		fatal("chown %s", path);
	if (geteuid() == 0)
		give_states(path, uid, gid);
	/* opened now: the role's account may not traverse state_dir */
	if ((state_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", path);
	npasswords = c->fetch.n;
	passwords = xcalloc(npasswords, sizeof(*passwords));
	pw_states = xcalloc(npasswords, sizeof(*pw_states));
	for (i = 0; i < c->fetch.n; i++)
		if (take_password(c, i, reload, old, old_st, nold) == -1)
			bad++;
done:
	free_passwords(old, old_st, nold);
	return bad;
}

void
fetch_once_key(const struct fetch_job *j, const char *what,
    char out[ONCE_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *s = xasprintf("%s\n%s\n%s", j->a->state, j->a->local, what);
	size_t i;

	if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < ONCE_KEY_LEN / 2)
		fatalx("fetch: SHA-256 failed");
	free(s);
	for (i = 0; i < ONCE_KEY_LEN / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[ONCE_KEY_LEN] = '\0';
}

/* ---- state files ------------------------------------------------------- */

/* state_write - the whole file, durably: tmp, fsync, rename, fsync dir */
static int
state_write(struct fetch_job *j, const char *data, size_t len)
{
	char tmp[512];
	int fd;
	bool ok;

	if (!bsnprintf(tmp, sizeof(tmp), "%s.tmp", j->a->state))
		return -1;
	if ((fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("fetch: state %s", tmp);
		return -1;
	}
	ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || renameat(j->dirfd, tmp, j->dirfd, j->a->state) == -1 ||
	    fsync(j->dirfd) == -1) {
		log_warn("fetch: state %s", j->a->state);
		return -1;
	}
	return 0;
}

/* state_read - the file into a NUL-terminated string, or NULL */
static char *
state_read(struct fetch_job *j)
{
	struct buf b;
	char chunk[4096];
	ssize_t r;
	int fd;

	if ((fd = openat(j->dirfd, j->a->state, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	buf_init(&b, 64 << 20);
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)r) == -1)
			break;
	close(fd);
	if (buf_append(&b, "", 1) == -1) {
		buf_free(&b);
		return NULL;
	}
	return b.data;		/* off is 0: never drained */
}

bool
fetch_state_imap(struct fetch_job *j, uint32_t *uv, uint32_t *last)
{
	char *s = state_read(j);
	unsigned a, b;
	bool ok;

	ok = s != NULL && sscanf(s, "imap %u %u", &a, &b) == 2;
	free(s);
	if (ok) {
		*uv = a;
		*last = b;
	}
	return ok;
}

int
fetch_state_imap_save(struct fetch_job *j, uint32_t uv, uint32_t last)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "imap %u %u\n", uv, last);

	return state_write(j, line, (size_t)n);
}

char **
fetch_state_pop3(struct fetch_job *j, size_t *n_r)
{
	char *s = state_read(j), *p, *nl, **v = NULL;
	size_t n = 0;

	for (p = s; p != NULL && *p; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;		/* a torn last line: not recorded */
		*nl = '\0';
		if (*p) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n++] = xstrdup(p);
		}
	}
	free(s);
	*n_r = n;
	return v;
}

int
fetch_state_pop3_add(struct fetch_job *j, const char *id)
{
	int fd;
	bool ok;
	size_t n = strlen(id);
	char line[80];
	off_t off;

	if (n + 1 >= sizeof(line))
		return -1;
	memcpy(line, id, n);
	line[n++] = '\n';
	if ((fd = openat(j->dirfd, j->a->state, O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("fetch: state %s", j->a->state);
		return -1;
	}
	/* an empty file may be new: its entry is durable at the dir's fsync */
	ok = (off = lseek(fd, 0, SEEK_END)) != -1 &&
	    write(fd, line, n) == (ssize_t)n && fsync(fd) == 0 &&
	    (off > 0 || fsync(j->dirfd) == 0);
	if (close(fd) == -1 || !ok) {
		log_warn("fetch: state %s", j->a->state);
		return -1;
	}
	return 0;
}

int
fetch_state_pop3_save(struct fetch_job *j, char **ids, size_t n)
{
	struct buf b;
	size_t i;
	int r;

	buf_init(&b, 0);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s\n", ids[i]);
	r = state_write(j, b.len ? buf_head(&b) : "", b.len);
	buf_free(&b);
	return r;
}

/* ---- stops ------------------------------------------------------------- */

void
fetch_hold(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
}

void
fetch_release(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);	/* a pending one ends us */
}

/* ---- the role ---------------------------------------------------------- */

/*
 * state_usable - the account's state file is there and can be read and
 * written, or is not there yet (a new account).  Any other error would
 * read as no state: a keep=yes account would fetch its whole mailbox
 * again, so it is not polled until the file can be read.
 */
static bool
state_usable(const struct fetch_job *j)
{
	int fd = openat(j->dirfd, j->a->state, O_RDWR | O_CLOEXEC);

	if (fd == -1 && errno != ENOENT) {
		log_warn("fetch: account=%s state %s: not fetched until it can "
		    "be read", j->a->name, j->a->state);
		return false;
	}
	if (fd != -1)
		close(fd);
	return true;
}

static void
poll_account(const struct conf *c, size_t i, int dirfd)
{
	struct fetch_job j;
	time_t t0 = time(NULL);

	memset(&j, 0, sizeof(j));
	j.a = &c->fetch.v[i];
	j.password = passwords[i];
	j.run_dir = c->run_dir;
	j.dirfd = dirfd;
	if (j.password == NULL) {
		log_warnx("fetch: account=%s no password (%s), skipped",
		    j.a->name, j.a->password_file);
		return;
	}
	if (!state_usable(&j))
		return;
	if (j.a->proto == FETCH_IMAPS)
		fetch_imap(&j);
	else
		fetch_pop3(&j);
	inject_close(&j.in);
	fetch_release();
	log_info("fetch: account=%s to=<%s> fetched=%zu refused=%zu "
	    "deleted=%zu in %lds", j.a->name, j.a->local, j.fetched, j.failed,
	    j.deleted, (long)(time(NULL) - t0));
}

void
fetch_run(const struct conf *c)
{
	time_t *next, now, soon;
	size_t i;
	int dirfd = state_fd;
	sigset_t stop;

	/*
	 * nothing here needs a clean stop: the state is always durable.  The
	 * role inherits the supervisor's mask, which blocks SIGTERM and
	 * SIGINT for its signalfd: unblock them, or pause() never returns
	 * and every stop of smtpd waits for the supervisor's SIGKILL.
	 */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_UNBLOCK, &stop, NULL);
	if (c->fetch.n == 0)
		for (;;)
			pause();
	/* the servers' names: through [dns] resolver as every other lookup */
	fetch_resolve_set(c->dns.resolver_set ? &c->dns.resolver : NULL);
	if (dirfd == -1) {
		log_warnx("fetch: no state directory");
		for (;;)
			pause();
	}
	log_info("fetch: %zu accounts", c->fetch.n);
	next = xcalloc(c->fetch.n, sizeof(*next));
	for (;;) {
		now = time(NULL);
		soon = now + 86400;
		for (i = 0; i < c->fetch.n; i++) {
			if (next[i] <= now) {
				poll_account(c, i, dirfd);
				now = time(NULL);
				next[i] = now + c->fetch.v[i].interval;
			}
			if (next[i] < soon)
				soon = next[i];
		}
		if (soon > now)
			(void)poll(NULL, 0, (int)(soon - now) * 1000);
	}
}
