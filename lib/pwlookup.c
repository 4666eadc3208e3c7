/* SPDX-License-Identifier: ISC */
/*
 * pwlookup.c - getpwnam() and getpwent() in a short-lived child (see
 * pwlookup.h).  Runs in the daemons before they drop root or chroot; the
 * child has the caller's privileges for the few milliseconds it lives,
 * calls nothing but the password database and write(), and _exits.
 *
 * The pipe carries fixed-size records, the caller's own struct (both ends
 * are the same program): one per name asked for, then one per account
 * listed, then an end record.  Without the end record (the child died, a
 * write failed) the caller gets -1, whatever the exit status says: a
 * daemon started with SIGCHLD ignored has no exit status to read.
 * In the static builds getpwnam() and getpwent() read /etc/passwd
 * (lib/static_glue.c) and load nothing; the child is kept there too, one
 * code path for both, for one fork at start.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pwlookup.h"
#include "xmem.h"

enum wire_kind {
	WIRE_ENT = 1,
	WIRE_END
};

struct wire {
	int			kind;
	struct pwlookup_ent	e;
};

/* wire_put - one record to fd; false if it could not be written whole */
static bool
wire_put(int fd, int kind, const struct passwd *pw)
{
	struct wire w;
	const char *p = (const char *)&w;
	size_t off = 0;
	ssize_t n;

	memset(&w, 0, sizeof(w));	/* no stray bytes, padding included */
	w.kind = kind;
	if (pw != NULL && bstrcpy(w.e.name, pw->pw_name, sizeof(w.e.name))) {
		w.e.found = true;
		w.e.uid = pw->pw_uid;
		w.e.gid = pw->pw_gid;
	} else
		w.e.name[0] = '\0';
	while (off < sizeof(w)) {
		if ((n = write(fd, p + off, sizeof(w) - off)) == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

/* child - the lookups, written to fd; never returns */
static void __attribute__((noreturn))
child(int fd, const char *const *names, size_t n, bool all)
{
	struct passwd *pw;
	size_t i;

	for (i = 0; i < n; i++)
		if (!wire_put(fd, WIRE_ENT, getpwnam(names[i])))
			_exit(1);
	if (all) {
		setpwent();
		while ((pw = getpwent()) != NULL)
			if (strlen(pw->pw_name) < PWLOOKUP_NAME_MAX &&
			    !wire_put(fd, WIRE_ENT, pw))
				_exit(1);
		endpwent();
	}
	_exit(wire_put(fd, WIRE_END, NULL) ? 0 : 1);
}

/* wire_get - the next record from fd: 1, 0 at EOF, -1 on error */
static int
wire_get(int fd, struct wire *w)
{
	char *p = (char *)w;
	size_t off = 0;
	ssize_t n;

	while (off < sizeof(*w)) {
		if ((n = read(fd, p + off, sizeof(*w) - off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return off == 0 ? 0 : -1;
		off += (size_t)n;
	}
	w->e.name[sizeof(w->e.name) - 1] = '\0';
	return 1;
}

int
pwlookup_run(const char *const *names, size_t n, bool all, pwlookup_fn *fn,
    void *arg)
{
	struct wire w;
	bool end = false;
	size_t got = 0;
	pid_t pid;
	int fds[2], r;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("account lookup: pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("account lookup: fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], names, n, all);
	}
	close(fds[1]);
	while (!end && (r = wire_get(fds[0], &w)) == 1) {
		if (w.kind == WIRE_END)
			end = true;
		else if (w.kind != WIRE_ENT || (got >= n && !all))
			break;
		else {
			fn(&w.e, arg);
			got++;
		}
	}
	close(fds[0]);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	if (!end || got < n) {
		log_warnx("account lookup: the child did not finish");
		return -1;
	}
	return 0;
}

struct names_fill {
	struct pwlookup_ent	*ents;
	size_t			 n, i;
};

static void
names_fill(const struct pwlookup_ent *e, void *arg)
{
	struct names_fill *f = arg;

	if (f->i < f->n)
		f->ents[f->i++] = *e;
}

int
pwlookup_names(const char *const *names, size_t n, struct pwlookup_ent *ents)
{
	struct names_fill f = { ents, n, 0 };

	return pwlookup_run(names, n, false, names_fill, &f);
}
