/* SPDX-License-Identifier: ISC */
/*
 * store_box.c - mailboxes of the Maildir++ store: names
 * to directories, the folders made at first login, LIST, CREATE, DELETE,
 * RENAME (INBOX included, RFC 3501 6.3.5) and subscriptions.
 *
 * Runs in a worker as `user` (chrooted into the user's Maildir when
 * started as root).  Every directory comes from store_folder_path(),
 * which refuses names that could leave the Maildir.  Errors: -1 with
 * errno; nothing here logs.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dirsync.h"
#include "store.h"
#include "xmem.h"

/* the Junk entry is [inbound] junk_folder, where smtpd files quarantine */
static const char *special[][2] = {
	{ "Sent", "\\Sent" }, { "Drafts", "\\Drafts" }, { "Trash", "\\Trash" },
	{ "Junk", "\\Junk" }, { "Archive", "\\Archive" },
};
#define SPECIAL_JUNK	3

static const char *junk_folder = "Junk";

void
store_junk_folder(const char *name)
{
	junk_folder = name;
}

static const char *
special_name(size_t i)
{
	return i == SPECIAL_JUNK ? junk_folder : special[i][0];
}

bool
store_folder_path(const char *root, const char *name, char *out, size_t outsz)
{
	const char *c;

	if (strcasecmp(name, "INBOX") == 0)
		return bsnprintf(out, outsz, "%s", root);
	if (*name == '\0' || *name == '.' || name[strlen(name) - 1] == '.' ||
	    strlen(name) > STORE_NAME_MAX)
		return false;
	for (c = name; *c; c++) {
		if (*c == '/' || *c == '\\' || (unsigned char)*c < 0x20 ||
		    *c == 0x7f || (*c == '.' && c[1] == '.'))
			return false;
	}
	/* "INBOX.x" is the same folder as "x" would be: keep INBOX flat */
	if (strncasecmp(name, "INBOX.", 6) == 0)
		return false;
	return bsnprintf(out, outsz, "%s/.%s", root, name);
}

const char *
store_special_use(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (strcmp(name, special_name(i)) == 0)
			return special[i][1];
	return NULL;
}

int
store_maildir_make(const char *dir, bool sub)
{
	char p[PATH_MAX];
	static const char *subs[] = { "cur", "new", "tmp" };
	size_t i;
	int fd;

	/*
	 * entries fsync'd into their parents (lib/dirsync.h), made now or
	 * found (by a run that may have died before its fsync): what is
	 * APPENDed there next must not vanish with them in a power cut
	 */
	if (mkdir_durable(dir, 0700) == -1)
		return -1;
	for (i = 0; i < 3; i++) {
		if (!bsnprintf(p, sizeof(p), "%s/%s", dir, subs[i])) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	if (fsync_parent_existing(p) == -1)
		return -1;
	if (sub && bsnprintf(p, sizeof(p), "%s/maildirfolder", dir) &&
	    (fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
		close(fd);
	return 0;
}

int
store_user_init(const char *root)
{
	char p[PATH_MAX], parent[PATH_MAX], *s;
	size_t i;

	/* the parents of mail_dir (%d/%u) may be missing on a fresh box */
	if (bstrcpy(parent, root, sizeof(parent))) {
		for (s = parent + 1; (s = strchr(s, '/')) != NULL; s++) {
			*s = '\0';
			(void)mkdir_durable(parent, 0700);
			*s = '/';
		}
	}
	if (store_maildir_make(root, false) == -1)
		return -1;
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (!bsnprintf(p, sizeof(p), "%s/.%s", root, special_name(i)))
			return -1;
		if (access(p, F_OK) == 0)
			continue;
		if (store_maildir_make(p, true) == -1)
			return -1;
		(void)store_subscribe(root, special_name(i), true);
	}
	return 0;
}

void
store_list(const char *root, store_list_cb *cb, void *arg)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *e;
	struct stat st;

	cb("INBOX", arg);
	if ((d = opendir(root)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' || e->d_name[1] == '\0' ||
		    e->d_name[1] == '.')
			continue;
		if (!bsnprintf(p, sizeof(p), "%s/%s/cur", root, e->d_name) ||
		    stat(p, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		cb(e->d_name + 1, arg);
	}
	closedir(d);
}

/*
 * store_list_match - RFC 3501 6.3.8: '*' matches anything, '%' anything
 * but the separator '.'.  Linear: a run of wildcards is one ('*' if it
 * holds one, else '%'), and the pattern is run as a set of states over
 * the name (at most strlen(pat) + 1 states per name byte), with no
 * backtracking (issue 16: "%%%%*x" took 29 s).
 */
bool
store_list_match(const char *pat, const char *name)
{
	char cp[STORE_PAT_MAX + 1];
	bool on[STORE_PAT_MAX + 2], nx[STORE_PAT_MAX + 2], any;
	size_t m = 0, i;
	const char *p;

	/* collapse wildcard runs */
	for (p = pat; *p; p++) {
		if (m == STORE_PAT_MAX)
			return false;
		if ((*p == '*' || *p == '%') && m > 0 &&
		    (cp[m - 1] == '*' || cp[m - 1] == '%')) {
			if (*p == '*')
				cp[m - 1] = '*';
			continue;
		}
		cp[m++] = *p;
	}
	cp[m] = '\0';
	memset(on, 0, sizeof(on));
	on[0] = true;
	for (;;) {
		/* a wildcard also matches nothing: its state reaches the next */
		for (i = 0; i < m; i++)
			if (on[i] && (cp[i] == '*' || cp[i] == '%'))
				on[i + 1] = true;
		if (*name == '\0')
			return on[m];
		memset(nx, 0, m + 1);
		any = false;
		for (i = 0; i < m; i++) {
			if (!on[i])
				continue;
			if (cp[i] == '*' || (cp[i] == '%' && *name != '.'))
				nx[i] = any = true;
			else if (cp[i] == *name)
				nx[i + 1] = any = true;
		}
		if (!any)
			return false;
		memcpy(on, nx, m + 1);
		name++;
	}
}

/*
 * make_parents - the superior names of `name` that are missing ("a" and
 * "a.b" for "a.b.c"), as RFC 3501 6.3.3 and 6.3.5 ask of CREATE and
 * RENAME.
 */
static int
make_parents(const char *root, const char *name)
{
	char sub[STORE_NAME_MAX + 1], p[PATH_MAX];
	const char *dot;

	for (dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
		if ((size_t)(dot - name) > STORE_NAME_MAX)
			break;
		memcpy(sub, name, (size_t)(dot - name));
		sub[dot - name] = '\0';
		if (!store_folder_path(root, sub, p, sizeof(p)))
			return -1;
		if (access(p, F_OK) == 0)
			continue;
		if (store_maildir_make(p, true) == -1)
			return -1;
	}
	return 0;
}

int
store_create(const char *root, const char *name)
{
	char p[PATH_MAX];

	if (!store_folder_path(root, name, p, sizeof(p)) ||
	    strcasecmp(name, "INBOX") == 0) {
		errno = EINVAL;
		return -1;
	}
	if (access(p, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (make_parents(root, name) == -1)
		return -1;
	return store_maildir_make(p, true);
}

static int
rm_files(const char *dir)
{
	DIR *d;
	struct dirent *e;
	char p[PATH_MAX];

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (bsnprintf(p, sizeof(p), "%s/%s", dir, e->d_name))
			(void)unlink(p);
	}
	closedir(d);
	return 0;
}

int
store_delete(const char *root, const char *name)
{
	char p[PATH_MAX], s[PATH_MAX];
	static const char *subs[] = { "cur", "new", "tmp" };
	size_t i;

	if (!store_folder_path(root, name, p, sizeof(p)) ||
	    strcasecmp(name, "INBOX") == 0) {
		errno = EINVAL;
		return -1;
	}
	if (access(p, F_OK) == -1)
		return -1;
	for (i = 0; i < 3; i++) {
		if (!bsnprintf(s, sizeof(s), "%s/%s", p, subs[i]))
			return -1;
		rm_files(s);
		(void)rmdir(s);
	}
	rm_files(p);
	/* only this folder: its children (p.*) keep their indexes */
	store_forget(p, false);
	return rmdir(p);
}

struct rename_ctx {
	const char *root, *from, *to;
	size_t flen;
	int err;
};

static void
rename_child(const char *name, void *arg)
{
	struct rename_ctx *r = arg;
	char a[PATH_MAX], b[PATH_MAX], nn[512];

	if (strncmp(name, r->from, r->flen) != 0 || name[r->flen] != '.')
		return;
	if (!bsnprintf(nn, sizeof(nn), "%s%s", r->to, name + r->flen) ||
	    !store_folder_path(r->root, name, a, sizeof(a)) ||
	    !store_folder_path(r->root, nn, b, sizeof(b)) || rename(a, b) == -1)
		r->err = -1;
}

/* move_files - every message of from/SUB into to/SUB (same file system) */
static int
move_files(const char *from, const char *to, const char *sub)
{
	char dp[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (!bsnprintf(dp, sizeof(dp), "%s/%s", from, sub) ||
	    (d = opendir(dp)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (!bsnprintf(a, sizeof(a), "%s/%s", dp, e->d_name) ||
		    !bsnprintf(b, sizeof(b), "%s/%s/%s", to, sub, e->d_name) ||
		    (rename(a, b) == -1 && errno != ENOENT))
			r = -1;
	}
	closedir(d);
	return r;
}

/*
 * rename_inbox - RFC 3501 6.3.5: RENAME INBOX moves all of its messages
 * into a new folder and leaves INBOX empty (its UIDVALIDITY and UIDNEXT
 * stay; the new folder numbers the messages afresh).
 */
static int
rename_inbox(const char *root, const char *dir)
{
	struct store_folder *f;

	if (access(dir, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (store_maildir_make(dir, true) == -1)
		return -1;
	if (move_files(root, dir, "new") == -1 ||
	    move_files(root, dir, "cur") == -1)
		return -1;
	/* sessions with INBOX selected see the messages go */
	if ((f = store_folder_find(root)) != NULL) {
		f->dirty = true;
		(void)store_sync(f, true);
	}
	return 0;
}

int
store_rename(const char *root, const char *from, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct rename_ctx r = { root, from, to, strlen(from), 0 };

	if (strcasecmp(to, "INBOX") == 0 ||
	    !store_folder_path(root, from, a, sizeof(a)) ||
	    !store_folder_path(root, to, b, sizeof(b))) {
		errno = EINVAL;
		return -1;
	}
	/* into its own subtree: the children would be renamed twice */
	if (strncmp(to, from, r.flen) == 0 && to[r.flen] == '.') {
		errno = EINVAL;
		return -1;
	}
	if (access(b, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (make_parents(root, to) == -1)
		return -1;
	if (strcasecmp(from, "INBOX") == 0)
		return rename_inbox(root, b);
	if (access(a, F_OK) == -1)
		return -1;
	if (rename(a, b) == -1)
		return -1;
	store_forget(a, true);
	store_forget(b, true);
	store_list(root, rename_child, &r);
	return r.err;
}

/* subscriptions: ROOT/subscriptions, one name per line (Maildir++) */
bool
store_subscribed(const char *root, const char *name)
{
	char p[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;
	bool found = false;

	if (strcasecmp(name, "INBOX") == 0)
		return true;
	if (!bsnprintf(p, sizeof(p), "%s/subscriptions", root) ||
	    (fp = fopen(p, "re")) == NULL)
		return false;
	while (!found && (n = getline(&line, &cap, fp)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		found = strcmp(line, name) == 0;
	}
	free(line);
	fclose(fp);
	return found;
}

void
store_subscriptions(const char *root, store_list_cb *cb, void *arg)
{
	char p[PATH_MAX], *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	FILE *fp;

	if (!bsnprintf(p, sizeof(p), "%s/subscriptions", root) ||
	    (fp = fopen(p, "re")) == NULL)
		return;
	while (n < STORE_MAX_SUBS && (len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || (size_t)len > STORE_NAME_MAX ||
		    memchr(line, '\0', (size_t)len) != NULL)
			continue;
		cb(line, arg);
		n++;
	}
	free(line);
	fclose(fp);
}

int
store_subscribe(const char *root, const char *name, bool on)
{
	char p[PATH_MAX], t[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *in, *out;

	if (strchr(name, '\n'))
		return -1;
	if (!bsnprintf(p, sizeof(p), "%s/subscriptions", root) ||
	    !bsnprintf(t, sizeof(t), "%s/subscriptions.tmp", root))
		return -1;
	if ((out = fopen(t, "we")) == NULL)
		return -1;
	if ((in = fopen(p, "re")) != NULL) {
		while ((n = getline(&line, &cap, in)) > 0) {
			if (line[n - 1] == '\n')
				line[--n] = '\0';
			if (n > 0 && strcmp(line, name) != 0)
				fprintf(out, "%s\n", line);
		}
		fclose(in);
	}
	free(line);
	if (on)
		fprintf(out, "%s\n", name);
	if (fflush(out) == EOF || fsync(fileno(out)) == -1) {
		fclose(out);
		return -1;
	}
	if (fclose(out) == EOF)
		return -1;
	return rename(t, p);
}
