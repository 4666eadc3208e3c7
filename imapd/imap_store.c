/* SPDX-License-Identifier: ISC */
/*
 * imap_store.c - the Maildir++ store behind facteur-imapd.
 *
 * Runs in the imapd process as `user`, on paths the session code built
 * from the logged-in user's Maildir (store_folder_path() refuses names
 * that could leave it).  Maildir is the truth; everything here is a cache
 * of it that rebuilds itself:
 *
 *   FOLDER/facteur-uidlist   written whole, atomically (tmp + fsync + rename):
 *       "facteur-uidlist 1 UIDVALIDITY UIDNEXT\n"
 *       then one "UID SIZE ITIME BASE\n" per message, BASE being the
 *       Maildir name before ':', SIZE the CRLF size, ITIME the internal
 *       date.  A missing or unreadable file means a new UIDVALIDITY
 *       (greater than the old one when known): UIDs are never reused.
 *
 * Flags live in the file names ("BASE:2,FRS", letters sorted).  A sync
 * moves new/ into cur/, matches cur/ against the index by BASE, numbers
 * unknown files in name order and drops vanished ones.  inotify on new/
 * and cur/ marks a folder dirty; without it every sync rescans.
 * Errors: -1 with errno, logged by the caller.
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ev.h"
#include "imap_mime.h"
#include "imap_store.h"
#include "log.h"
#include "strnum.h"
#include "xmem.h"

static struct store_folder *folders;
static int inotify_fd = -1;
static struct ev_io inotify_io;
static struct ev_timer sync_timer;
static unsigned deliver_seq;

static const char *special[][2] = {
	{ "Sent", "\\Sent" }, { "Drafts", "\\Drafts" }, { "Trash", "\\Trash" },
	{ "Junk", "\\Junk" }, { "Archive", "\\Archive" },
};

/* ---- flags ---- */

static const struct {
	char	 c;
	uint8_t	 f;
} letters[] = {		/* Maildir info letters in ASCII order */
	{ 'D', MF_DRAFT }, { 'F', MF_FLAGGED }, { 'P', MF_PASSED },
	{ 'R', MF_ANSWERED }, { 'S', MF_SEEN }, { 'T', MF_DELETED },
};

static uint8_t
name_flags(const char *name)
{
	const char *i = strstr(name, ":2,");
	uint8_t f = 0;
	size_t k;

	if (i == NULL)
		return 0;
	for (i += 3; *i; i++)
		for (k = 0; k < sizeof(letters) / sizeof(letters[0]); k++)
			if (*i == letters[k].c)
				f |= letters[k].f;
	return f;
}

static size_t
base_len(const char *name)
{
	const char *c = strchr(name, ':');

	return c ? (size_t)(c - name) : strlen(name);
}

void
store_flags_str(uint8_t flags, char *out, size_t outsz)
{
	static const struct {
		uint8_t f;
		const char *s;
	} names[] = {
		{ MF_SEEN, "\\Seen" }, { MF_ANSWERED, "\\Answered" },
		{ MF_FLAGGED, "\\Flagged" }, { MF_DELETED, "\\Deleted" },
		{ MF_DRAFT, "\\Draft" }, { MF_RECENT, "\\Recent" },
	};
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].f))
			continue;
		if (!bsnprintf(out + n, outsz - n, "%s%s", n ? " " : "",
		    names[i].s))
			return;
		n += strlen(out + n);
	}
}

/* ---- paths ---- */

static bool
pathf(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
pathf(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < outsz;
}

bool
store_folder_path(const char *root, const char *name, char *out, size_t outsz)
{
	const char *c;

	if (strcasecmp(name, "INBOX") == 0)
		return pathf(out, outsz, "%s", root);
	if (*name == '\0' || *name == '.' || name[strlen(name) - 1] == '.' ||
	    strlen(name) > 200)
		return false;
	for (c = name; *c; c++) {
		if (*c == '/' || *c == '\\' || (unsigned char)*c < 0x20 ||
		    *c == 0x7f || (*c == '.' && c[1] == '.'))
			return false;
	}
	/* "INBOX.x" is the same folder as "x" would be: keep INBOX flat */
	if (strncasecmp(name, "INBOX.", 6) == 0)
		return false;
	return pathf(out, outsz, "%s/.%s", root, name);
}

const char *
store_special_use(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (strcmp(name, special[i][0]) == 0)
			return special[i][1];
	return NULL;
}

static int
maildir_make(const char *dir, bool sub)
{
	char p[PATH_MAX];
	static const char *subs[] = { "cur", "new", "tmp" };
	size_t i;
	int fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < 3; i++) {
		if (!pathf(p, sizeof(p), "%s/%s", dir, subs[i])) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	if (sub && pathf(p, sizeof(p), "%s/maildirfolder", dir) &&
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
			(void)mkdir(parent, 0700);
			*s = '/';
		}
	}
	if (maildir_make(root, false) == -1)
		return -1;
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (!pathf(p, sizeof(p), "%s/.%s", root, special[i][0]))
			return -1;
		if (access(p, F_OK) == 0)
			continue;
		if (maildir_make(p, true) == -1)
			return -1;
		(void)store_subscribe(root, special[i][0], true);
	}
	return 0;
}

/* ---- inotify ---- */

static void
sync_timer_cb(struct ev_timer *t, void *arg)
{
	struct store_folder *f;

	for (f = folders; f; f = f->next)
		if (f->dirty && f->watchers)
			(void)store_sync(f, false);
}

static void
inotify_cb(struct ev_io *io, unsigned events, void *arg)
{
	char b[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *e;
	struct store_folder *f;
	ssize_t n;
	char *p;

	while ((n = read(inotify_fd, b, sizeof(b))) > 0) {
		for (p = b; p < b + n; p += sizeof(*e) + e->len) {
			e = (const struct inotify_event *)p;
			for (f = folders; f; f = f->next)
				if (e->wd == f->wd_new || e->wd == f->wd_cur ||
				    (e->mask & IN_Q_OVERFLOW))
					f->dirty = true;
		}
	}
	if (!ev_timer_pending(&sync_timer))
		ev_timer_add(&sync_timer, 20);
}

void
store_init(void)
{
	ev_timer_init(&sync_timer, sync_timer_cb, NULL);
	inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (inotify_fd == -1) {
		log_warn("inotify unavailable, polling Maildirs");
		return;
	}
	ev_io_init(&inotify_io, inotify_fd, inotify_cb, NULL);
	ev_io_want(&inotify_io, EV_READ);
}

static void
folder_watch(struct store_folder *f)
{
	char p[PATH_MAX];
	uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
	    IN_ONLYDIR;

	f->wd_new = f->wd_cur = -1;
	if (inotify_fd == -1)
		return;
	if (pathf(p, sizeof(p), "%s/new", f->dir))
		f->wd_new = inotify_add_watch(inotify_fd, p, mask);
	if (pathf(p, sizeof(p), "%s/cur", f->dir))
		f->wd_cur = inotify_add_watch(inotify_fd, p, mask);
	if (f->wd_new == -1 || f->wd_cur == -1)
		log_warn("inotify_add_watch %s", f->dir);
}

/* ---- the UID list ---- */

static void
folder_clear(struct store_folder *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->v[i].name);
	f->n = 0;
}

static void
folder_push(struct store_folder *f, const struct store_msg *m)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
	}
	f->v[f->n++] = *m;
}

static bool
uidlist_parse_line(char *line, struct store_msg *m)
{
	char *sp[3], *c = line;
	const char *err;
	int i;
	long long v;

	for (i = 0; i < 3; i++) {
		if ((sp[i] = strchr(c, ' ')) == NULL)
			return false;
		*sp[i] = '\0';
		c = sp[i] + 1;
	}
	memset(m, 0, sizeof(*m));
	m->uid = (uint32_t)strnum(line, 1, UINT32_MAX, &err);
	if (err)
		return false;
	m->size = (uint32_t)strnum(sp[0] + 1, 0, UINT32_MAX, &err);
	if (err)
		return false;
	v = strnum(sp[1] + 1, 0, INT64_MAX, &err);
	if (err)
		return false;
	m->itime = v;
	if (*c == '\0' || strchr(c, ' ') || strchr(c, '/') || strchr(c, ':'))
		return false;
	m->name = xstrdup(c);
	return true;
}

/* uidlist_load - 0 loaded, -1 missing or corrupt (then a new UIDVALIDITY) */
static int
uidlist_load(struct store_folder *f)
{
	char p[PATH_MAX], *line = NULL, *nl;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;
	struct store_msg m;
	unsigned ver, uv, un;
	uint32_t last = 0;
	bool ok = true;

	if (!pathf(p, sizeof(p), "%s/%s", f->dir, STORE_UIDLIST) ||
	    (fp = fopen(p, "re")) == NULL)
		return -1;
	if ((n = getline(&line, &cap, fp)) <= 0 ||
	    sscanf(line, "facteur-uidlist %u %u %u", &ver, &uv, &un) != 3 ||
	    ver != 1 || uv == 0) {
		ok = false;
		uv = 0;
	}
	if (uv)
		f->uidvalidity = uv;	/* remembered even if the rest is bad */
	while (ok && (n = getline(&line, &cap, fp)) > 0) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;		/* a torn last line: the scan re-adds it */
		*nl = '\0';
		if (!uidlist_parse_line(line, &m) || m.uid <= last) {
			ok = false;
			break;
		}
		last = m.uid;
		folder_push(f, &m);
	}
	free(line);
	fclose(fp);
	if (!ok) {
		folder_clear(f);
		return -1;
	}
	f->uidnext = un > last ? un : last + 1;
	return 0;
}

static int
uidlist_write(struct store_folder *f)
{
	char p[PATH_MAX], t[PATH_MAX];
	FILE *fp;
	size_t i;
	int fd;

	if (!pathf(p, sizeof(p), "%s/%s", f->dir, STORE_UIDLIST) ||
	    !pathf(t, sizeof(t), "%s/tmp/%s.%d", f->dir, STORE_UIDLIST,
	    (int)getpid()))
		return -1;
	if ((fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
		return -1;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	fprintf(fp, "facteur-uidlist 1 %u %u\n", f->uidvalidity, f->uidnext);
	for (i = 0; i < f->n; i++)
		fprintf(fp, "%u %u %lld %.*s\n", f->v[i].uid, f->v[i].size,
		    (long long)f->v[i].itime, (int)base_len(f->v[i].name),
		    f->v[i].name);
	if (fflush(fp) == EOF || fsync(fileno(fp)) == -1) {
		fclose(fp);
		unlink(t);
		return -1;
	}
	if (fclose(fp) == EOF || rename(t, p) == -1) {
		unlink(t);
		return -1;
	}
	return 0;
}

static void
uidlist_fresh(struct store_folder *f)
{
	uint32_t now = (uint32_t)time(NULL);

	folder_clear(f);
	f->uidvalidity = now > f->uidvalidity ? now : f->uidvalidity + 1;
	f->uidnext = 1;
}

/* ---- sync ---- */

struct scan_ent {
	char	*name;
	size_t	 blen;
};

static int
scan_cmp(const void *a, const void *b)
{
	const struct scan_ent *x = a, *y = b;
	size_t n = x->blen < y->blen ? x->blen : y->blen;
	int r = memcmp(x->name, y->name, n);

	return r ? r : (x->blen > y->blen) - (x->blen < y->blen);
}

/* move every file of new/ to cur/ with an empty info part */
static void
sync_new(struct store_folder *f)
{
	char dp[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	DIR *d;
	struct dirent *e;

	if (!pathf(dp, sizeof(dp), "%s/new", f->dir) || (d = opendir(dp)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (!pathf(from, sizeof(from), "%s/%s", dp, e->d_name) ||
		    !pathf(to, sizeof(to), "%s/cur/%s%s", f->dir, e->d_name,
		    strchr(e->d_name, ':') ? "" : ":2,"))
			continue;
		if (rename(from, to) == -1 && errno != ENOENT)
			log_warn("rename %s", from);
	}
	closedir(d);
}

/* size in CRLF form: from ",W=" in the name, else by reading the file */
static uint32_t
file_size(const char *path, const char *name, off_t st_size)
{
	const char *w = strstr(name, ",W=");
	const char *err;
	char num[16];
	size_t i;
	char *data;
	int fd;
	size_t n;
	ssize_t r;

	if (w) {
		for (i = 0, w += 3; i < sizeof(num) - 1 && w[i] >= '0' &&
		    w[i] <= '9'; i++)
			num[i] = w[i];
		num[i] = '\0';
		n = (size_t)strnum(num, 0, UINT32_MAX, &err);
		if (err == NULL)
			return (uint32_t)n;
	}
	if (st_size <= 0 || st_size > UINT32_MAX / 2)
		return (uint32_t)(st_size > 0 ? st_size : 0);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (uint32_t)st_size;
	data = xmalloc((size_t)st_size);
	for (n = 0; n < (size_t)st_size; n += (size_t)r)
		if ((r = read(fd, data + n, (size_t)st_size - n)) <= 0)
			break;
	close(fd);
	i = mime_crlf_size(data, 0, n);
	free(data);
	return (uint32_t)i;
}

/* sync_added - number the files that are not in the index yet */
static void
sync_added(struct store_folder *f, struct scan_ent *add, size_t nadd,
    bool recent)
{
	char p[PATH_MAX];
	struct store_msg m;
	struct stat st;
	size_t i;

	qsort(add, nadd, sizeof(*add), scan_cmp);
	for (i = 0; i < nadd; i++) {
		if (!pathf(p, sizeof(p), "%s/cur/%s", f->dir, add[i].name) ||
		    stat(p, &st) == -1) {
			free(add[i].name);
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.uid = f->uidnext++;
		m.name = add[i].name;
		m.flags = name_flags(m.name) | (recent ? MF_RECENT : 0);
		m.itime = st.st_mtime;
		m.size = file_size(p, m.name, st.st_size);
		m.gen = f->gen + 1;
		folder_push(f, &m);
	}
}

/*
 * sync_scan - read cur/ and reconcile; returns true when the index changed.
 * Known files are found by base name through an index sorted by base.
 */
static bool
sync_scan(struct store_folder *f, bool *renumber_r)
{
	char dp[PATH_MAX];
	DIR *d;
	struct dirent *e;
	struct scan_ent *ents = NULL, *add = NULL, key, *hit;
	size_t nents = 0, cap = 0, nadd = 0, i, j;
	bool *seen, changed = false;
	uint8_t fl;

	*renumber_r = false;
	if (!pathf(dp, sizeof(dp), "%s/cur", f->dir) || (d = opendir(dp)) == NULL)
		return false;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (nents == cap) {
			cap = cap ? cap * 2 : 256;
			ents = xreallocarray(ents, cap, sizeof(*ents));
		}
		ents[nents].name = xstrdup(e->d_name);
		ents[nents].blen = base_len(e->d_name);
		nents++;
	}
	closedir(d);
	if (nents)
		qsort(ents, nents, sizeof(*ents), scan_cmp);
	seen = xcalloc(nents + 1, sizeof(*seen));
	/* walk the index: find each message's file */
	for (i = 0, j = 0; i < f->n; i++) {
		key.name = f->v[i].name;
		key.blen = base_len(key.name);
		hit = nents ? bsearch(&key, ents, nents, sizeof(*ents),
		    scan_cmp) : NULL;
		if (hit == NULL || seen[hit - ents]) {
			free(f->v[i].name);
			changed = true;
			continue;
		}
		seen[hit - ents] = true;
		if (strcmp(hit->name, f->v[i].name) != 0) {
			fl = name_flags(hit->name);
			if ((fl & MF_IMAP) != (f->v[i].flags & MF_IMAP)) {
				f->v[i].gen = f->gen + 1;
				f->v[i].changer = 0;
				changed = true;
			}
			f->v[i].flags = fl | (f->v[i].flags & MF_RECENT);
			free(f->v[i].name);
			f->v[i].name = xstrdup(hit->name);
		}
		f->v[j++] = f->v[i];
	}
	if (j != f->n)
		*renumber_r = true;	/* something vanished: rewrite the list */
	f->n = j;
	for (i = 0; i < nents; i++) {
		if (seen[i]) {
			free(ents[i].name);
			continue;
		}
		if (add == NULL)
			add = xreallocarray(NULL, nents, sizeof(*add));
		add[nadd++] = ents[i];
	}
	if (nadd) {
		sync_added(f, add, nadd, true);
		changed = true;
		*renumber_r = true;
	}
	free(add);
	free(seen);
	free(ents);
	return changed;
}

static void
store_notify(struct store_folder *f)
{
	struct store_watch *w, *wn;

	for (w = f->watchers; w; w = wn) {
		wn = w->next;
		w->cb(w->arg);
	}
}

int
store_sync(struct store_folder *f, bool force)
{
	bool changed, rewrite;

	if (!force && !f->dirty && f->wd_cur != -1 && f->wd_new != -1)
		return 0;
	f->dirty = false;
	sync_new(f);
	changed = sync_scan(f, &rewrite);
	if (rewrite && uidlist_write(f) == -1)
		log_warn("write %s/%s", f->dir, STORE_UIDLIST);
	if (changed) {
		f->gen++;
		store_notify(f);
	}
	return 0;
}

void
store_watch_add(struct store_folder *f, store_notify_cb *cb, void *arg)
{
	struct store_watch *w = xcalloc(1, sizeof(*w));

	w->cb = cb;
	w->arg = arg;
	w->next = f->watchers;
	f->watchers = w;
}

void
store_watch_del(struct store_folder *f, store_notify_cb *cb, void *arg)
{
	struct store_watch **wp, *w;

	for (wp = &f->watchers; (w = *wp) != NULL; wp = &w->next) {
		if (w->cb == cb && w->arg == arg) {
			*wp = w->next;
			free(w);
			return;
		}
	}
}

struct store_folder *
store_folder_open(const char *dir)
{
	struct store_folder *f;
	char p[PATH_MAX];
	struct stat st;

	for (f = folders; f; f = f->next) {
		if (strcmp(f->dir, dir) == 0) {
			f->refs++;
			(void)store_sync(f, false);
			return f;
		}
	}
	if (!pathf(p, sizeof(p), "%s/cur", dir) || stat(p, &st) == -1 ||
	    !S_ISDIR(st.st_mode))
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->dir = xstrdup(dir);
	f->refs = 1;
	if (uidlist_load(f) == -1) {
		uidlist_fresh(f);
		(void)uidlist_write(f);
	}
	folder_watch(f);
	f->next = folders;
	folders = f;
	(void)store_sync(f, true);
	return f;
}

void
store_folder_close(struct store_folder **fp)
{
	struct store_folder *f = *fp, **pp;

	if (f == NULL)
		return;
	*fp = NULL;
	if (--f->refs > 0)
		return;
	for (pp = &folders; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (inotify_fd != -1) {
		if (f->wd_new != -1)
			inotify_rm_watch(inotify_fd, f->wd_new);
		if (f->wd_cur != -1)
			inotify_rm_watch(inotify_fd, f->wd_cur);
	}
	while (f->watchers)
		store_watch_del(f, f->watchers->cb, f->watchers->arg);
	folder_clear(f);
	free(f->v);
	free(f->dir);
	free(f);
}

ssize_t
store_find(const struct store_folder *f, uint32_t uid)
{
	size_t lo = 0, hi = f->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (f->v[mid].uid == uid)
			return (ssize_t)mid;
		if (f->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

bool
store_msg_path(const struct store_folder *f, size_t i, char *out, size_t outsz)
{
	return pathf(out, outsz, "%s/cur/%s", f->dir, f->v[i].name);
}

int
store_set_flags(struct store_folder *f, size_t i, uint8_t flags,
    uint32_t changer)
{
	struct store_msg *m = &f->v[i];
	char from[PATH_MAX], to[PATH_MAX], info[16], *nn;
	const char *old;
	size_t k, n = 0, bl = base_len(m->name);

	flags &= MF_IMAP | MF_PASSED;
	if ((m->flags & (MF_IMAP | MF_PASSED)) == flags)
		return 0;
	for (k = 0; k < sizeof(letters) / sizeof(letters[0]); k++)
		if (flags & letters[k].f)
			info[n++] = letters[k].c;
	info[n] = '\0';
	/* keep lower-case keyword letters other programs put there */
	old = strstr(m->name, ":2,");
	nn = xasprintf("%.*s:2,%s%s", (int)bl, m->name, info, "");
	if (old) {
		for (old += 3; *old; old++) {
			if (*old >= 'a' && *old <= 'z') {
				char *t = xasprintf("%s%c", nn, *old);

				free(nn);
				nn = t;
			}
		}
	}
	if (!store_msg_path(f, i, from, sizeof(from)) ||
	    !pathf(to, sizeof(to), "%s/cur/%s", f->dir, nn) ||
	    rename(from, to) == -1) {
		free(nn);
		f->dirty = true;
		return -1;
	}
	free(m->name);
	m->name = nn;
	m->flags = flags | (m->flags & MF_RECENT);
	m->gen = ++f->gen;
	m->changer = changer;
	return 0;
}

int
store_expunge(struct store_folder *f, size_t i)
{
	char p[PATH_MAX];

	if (!store_msg_path(f, i, p, sizeof(p)))
		return -1;
	if (unlink(p) == -1 && errno != ENOENT) {
		f->dirty = true;
		return -1;
	}
	free(f->v[i].name);
	memmove(&f->v[i], &f->v[i + 1], (f->n - i - 1) * sizeof(*f->v));
	f->n--;
	f->gen++;
	return 0;
}

/* ---- delivery ---- */

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* write data with CRLF turned into LF (Maildir convention) */
static int
write_lf(int fd, const char *data, size_t len, size_t *written_r)
{
	size_t i, start = 0;

	*written_r = 0;
	for (i = 0; i + 1 < len; i++) {
		if (data[i] == '\r' && data[i + 1] == '\n') {
			if (write_all(fd, data + start, i - start) == -1)
				return -1;
			*written_r += i - start;
			start = i + 1;
		}
	}
	if (write_all(fd, data + start, len - start) == -1)
		return -1;
	*written_r += len - start;
	return 0;
}

static uint32_t
folder_uid_of(struct store_folder *f, const char *base)
{
	size_t i = f->n, bl = strlen(base);

	while (i-- > 0)
		if (strncmp(f->v[i].name, base, bl) == 0 &&
		    (f->v[i].name[bl] == ':' || f->v[i].name[bl] == '\0'))
			return f->v[i].uid;
	return 0;
}

/* deliver_register - a file just renamed into dir/cur: give it its UID */
static int
deliver_register(const char *dir, const char *base, const char *info,
    uint8_t flags, time_t itime, size_t wsize, uint32_t *uidvalidity_r,
    uint32_t *uid_r)
{
	struct store_folder *f;

	for (f = folders; f; f = f->next)
		if (strcmp(f->dir, dir) == 0)
			break;
	if (f != NULL) {
		/* open already: number it now instead of rescanning */
		struct store_msg m;

		memset(&m, 0, sizeof(m));
		m.uid = f->uidnext++;
		m.name = xasprintf("%s:2,%s", base, info);
		m.flags = flags & (MF_IMAP | MF_PASSED);
		m.itime = itime;
		m.size = (uint32_t)wsize;
		m.gen = ++f->gen;
		folder_push(f, &m);
		if (uidlist_write(f) == -1)
			log_warn("write %s/%s", f->dir, STORE_UIDLIST);
		*uidvalidity_r = f->uidvalidity;
		*uid_r = m.uid;
		store_notify(f);
		return 0;
	}
	if ((f = store_folder_open(dir)) == NULL)
		return -1;
	*uidvalidity_r = f->uidvalidity;
	*uid_r = folder_uid_of(f, base);
	store_folder_close(&f);
	return 0;
}

/* deliver_name - a new unique base name and the info letters */
static bool
deliver_name(char *base, size_t basesz, char *info, uint8_t flags,
    size_t wsize)
{
	char host[64], *c;
	struct timespec ts;
	size_t k, ni = 0;

	if (gethostname(host, sizeof(host)) == -1)
		memcpy(host, "localhost", 10);
	host[sizeof(host) - 1] = '\0';
	for (c = host; *c; c++)
		if (*c == '/' || *c == ':' || *c == ',')
			*c = '_';
	clock_gettime(CLOCK_REALTIME, &ts);
	for (k = 0; k < sizeof(letters) / sizeof(letters[0]); k++)
		if (flags & letters[k].f)
			info[ni++] = letters[k].c;
	info[ni] = '\0';
	return bsnprintf(base, basesz, "%lld.M%ldP%dQ%u.%s,W=%zu",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(),
	    ++deliver_seq, host, wsize);
}

int
store_deliver(const char *dir, const char *data, size_t len, uint8_t flags,
    time_t itime, uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	char base[256], tmp[PATH_MAX], dst[PATH_MAX], info[16];
	struct timespec ts[2];
	size_t n, wsize = mime_crlf_size(data, 0, len);
	int fd;

	if (!deliver_name(base, sizeof(base), info, flags, wsize) ||
	    !pathf(tmp, sizeof(tmp), "%s/tmp/%s", dir, base) ||
	    !pathf(dst, sizeof(dst), "%s/cur/%s:2,%s", dir, base, info))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		return -1;
	ts[0].tv_sec = ts[1].tv_sec = itime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (write_lf(fd, data, len, &n) == -1 || fsync(fd) == -1 ||
	    futimens(fd, ts) == -1) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, dst) == -1) {
		unlink(tmp);
		return -1;
	}
	if (pathf(tmp, sizeof(tmp), "%s/cur", dir))
		(void)fsync_dir(tmp);
	return deliver_register(dir, base, info, flags, itime, wsize,
	    uidvalidity_r, uid_r);
}

/* ---- spooled APPEND literals ---- */

int
store_spool_open(struct store_spool *sp, const char *root, uint32_t id)
{
	static unsigned seq;

	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->size = sp->crlf = 0;
	sp->cr = sp->failed = false;
	sp->prev = '\n';
	if (!pathf(sp->path, sizeof(sp->path), "%s/tmp/facteur-append.%d.%u.%u",
	    root, (int)getpid(), id, ++seq))
		return -1;
	sp->fd = open(sp->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return sp->fd == -1 ? -1 : 0;
}

/* write with CRLF made LF, across calls; count the CRLF size as we go */
int
store_spool_write(struct store_spool *sp, const char *p, size_t n)
{
	char out[16384];
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = p[i];

		sp->crlf += 1 + (c == '\n' && sp->prev != '\r');
		sp->prev = c;
		if (sp->cr) {
			sp->cr = false;
			if (c != '\n')
				out[o++] = '\r';
		}
		if (c == '\r')
			sp->cr = true;
		else
			out[o++] = c;
		if (o >= sizeof(out) - 2) {
			if (write_all(sp->fd, out, o) == -1)
				return -1;
			o = 0;
		}
	}
	sp->size += n;
	return o ? write_all(sp->fd, out, o) : 0;
}

void
store_spool_discard(struct store_spool *sp)
{
	if (sp->fd == -1)
		return;
	close(sp->fd);
	unlink(sp->path);
	sp->fd = -1;
}

int
store_spool_deliver(struct store_spool *sp, const char *dir, uint8_t flags,
    time_t itime, uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	char base[256], dst[PATH_MAX], info[16];
	struct timespec ts[2];

	if (sp->fd == -1)
		return -1;
	ts[0].tv_sec = ts[1].tv_sec = itime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (!deliver_name(base, sizeof(base), info, flags, sp->crlf) ||
	    !pathf(dst, sizeof(dst), "%s/cur/%s:2,%s", dir, base, info) ||
	    (sp->cr && write_all(sp->fd, "\r", 1) == -1) ||
	    fsync(sp->fd) == -1 || futimens(sp->fd, ts) == -1 ||
	    close(sp->fd) == -1) {
		store_spool_discard(sp);
		return -1;
	}
	sp->fd = -1;
	/* the spool is in the same file system (the user's Maildir) */
	if (rename(sp->path, dst) == -1) {
		unlink(sp->path);
		return -1;
	}
	if (pathf(dst, sizeof(dst), "%s/cur", dir))
		(void)fsync_dir(dst);
	return deliver_register(dir, base, info, flags, itime, sp->crlf,
	    uidvalidity_r, uid_r);
}

char *
store_read(const struct store_folder *f, size_t i, size_t *len_r)
{
	char p[PATH_MAX], *data;
	struct stat st;
	size_t n;
	ssize_t r;
	int fd;

	if (!store_msg_path(f, i, p, sizeof(p)) ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || st.st_size < 0 || st.st_size > INT32_MAX) {
		close(fd);
		return NULL;
	}
	data = xmalloc((size_t)st.st_size + 1);
	for (n = 0; n < (size_t)st.st_size; n += (size_t)r) {
		if ((r = read(fd, data + n, (size_t)st.st_size - n)) <= 0) {
			if (r == -1 && errno == EINTR) {
				r = 0;
				continue;
			}
			break;
		}
	}
	close(fd);
	data[n] = '\0';
	*len_r = n;
	return data;
}

/* header_done - does data[0..n) hold the blank line ending the header? */
static bool
header_done(const char *data, size_t n)
{
	return (n >= 1 && data[0] == '\n') || memmem(data, n, "\n\n", 2) ||
	    memmem(data, n, "\n\r\n", 3);
}

char *
store_read_header(const struct store_folder *f, size_t i, size_t *len_r)
{
	char p[PATH_MAX], *data = NULL;
	size_t n = 0, cap = 0;
	ssize_t r;
	int fd;

	if (!store_msg_path(f, i, p, sizeof(p)) ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	do {
		if (n + 8192 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			data = xrealloc(data, cap);
		}
		r = read(fd, data + n, cap - n - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	} while (!header_done(data, n) && n < (1 << 20));
	close(fd);
	if (data == NULL)
		data = xmalloc(1);
	data[n] = '\0';
	*len_r = n;
	return data;
}

int
store_copy(struct store_folder *f, size_t i, const char *dir,
    uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	size_t len;
	char *data;
	int r;

	if ((data = store_read(f, i, &len)) == NULL)
		return -1;
	r = store_deliver(dir, data, len, f->v[i].flags & (MF_IMAP | MF_PASSED),
	    (time_t)f->v[i].itime, uidvalidity_r, uid_r);
	free(data);
	return r;
}

/* ---- mailboxes ---- */

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
		if (!pathf(p, sizeof(p), "%s/%s/cur", root, e->d_name) ||
		    stat(p, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		cb(e->d_name + 1, arg);
	}
	closedir(d);
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
	return maildir_make(p, true);
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
		if (pathf(p, sizeof(p), "%s/%s", dir, e->d_name))
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
		if (!pathf(s, sizeof(s), "%s/%s", p, subs[i]))
			return -1;
		rm_files(s);
		(void)rmdir(s);
	}
	rm_files(p);
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

int
store_rename(const char *root, const char *from, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct rename_ctx r = { root, from, to, strlen(from), 0 };

	if (strcasecmp(from, "INBOX") == 0 || strcasecmp(to, "INBOX") == 0 ||
	    !store_folder_path(root, from, a, sizeof(a)) ||
	    !store_folder_path(root, to, b, sizeof(b))) {
		errno = EINVAL;
		return -1;
	}
	if (access(a, F_OK) == -1)
		return -1;
	if (access(b, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (rename(a, b) == -1)
		return -1;
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
	if (!pathf(p, sizeof(p), "%s/subscriptions", root) ||
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

int
store_subscribe(const char *root, const char *name, bool on)
{
	char p[PATH_MAX], t[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *in, *out;

	if (strchr(name, '\n'))
		return -1;
	if (!pathf(p, sizeof(p), "%s/subscriptions", root) ||
	    !pathf(t, sizeof(t), "%s/subscriptions.tmp", root))
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
