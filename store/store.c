/* SPDX-License-Identifier: ISC */
/*
 * store.c - the folder index of the Maildir++ store:
 * UID lists, flags and keywords in file names, sync with the directory.
 *
 * Runs in a worker as `user` (chrooted into the user's Maildir when
 * started as root), on directories built by store_folder_path().  Maildir
 * is the truth; everything here is a cache of it that rebuilds itself:
 *
 *   FOLDER/facteur-uidlist   "facteur-uidlist 1 UIDVALIDITY UIDNEXT BASE\n"
 *       (BASE: the modseq base, store_modseq.c; absent in older files), then
 *       one "UID SIZE ITIME BASE\n" per message in UID order: SIZE is the
 *       CRLF size, ITIME the internal date (each "-" when not known yet:
 *       learnt when first asked for), BASE the Maildir name before ':'.  New messages are appended and
 *       fsync'd before their UID is shown to anyone; the file is rewritten
 *       whole (tmp + fsync + rename) when it has many stale lines, a torn
 *       tail, or sizes learnt since.  Missing or corrupt: the folder gets
 *       a new UIDVALIDITY (ROOT/facteur-uidvalidity remembers the last one
 *       given out, so a new one is always larger) and is renumbered: UIDs
 *       are never reused within one UIDVALIDITY.
 *   FOLDER/facteur-keywords  "N NAME\n" per keyword, N 0-25 standing for
 *       the file-name letter 'a'+N (the format of Dovecot's
 *       dovecot-keywords, which is read when ours is missing).
 *
 * Flags live in the file names ("BASE:2,FRSab": system letters, then
 * keyword letters, each in ASCII order).  A sync moves new/ into cur/
 * (those messages are \Recent), matches cur/ against the index by BASE,
 * numbers unknown files in name order and drops vanished ones.  inotify on
 * new/ and cur/ marks a folder dirty; without it every sync rescans.  A
 * few closed folders stay in memory (STORE_CACHED): reopening one that
 * inotify saw no change in costs nothing.
 * Errors: -1 with errno, logged by the caller; out of memory is fatal.
 */
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "ev.h"
#include "crlf.h"
#include "dirsync.h"
#include "store.h"
#include "log.h"
#include "strnum.h"
#include "xmem.h"

#define STORE_CACHED	4	/* closed folders kept in memory */

static struct store_folder *folders;
static int inotify_fd = -1;
static struct ev_io inotify_io;
static struct ev_timer sync_timer;
static uint64_t use_clock;

/* ---- flags and keywords in file names ---- */

static const struct {
	char	 c;
	uint8_t	 f;
} letters[] = {		/* Maildir info letters in ASCII order */
	{ 'D', MF_DRAFT }, { 'F', MF_FLAGGED }, { 'P', MF_PASSED },
	{ 'R', MF_ANSWERED }, { 'S', MF_SEEN }, { 'T', MF_DELETED },
};

size_t
store_base_len(const char *name)
{
	const char *c = strchr(name, ':');

	return c ? (size_t)(c - name) : strlen(name);
}

/* store_name_flags - system flags and keyword bits of a file name's
 * ":2,..." */
uint8_t
store_name_flags(const char *name, uint32_t *kw_r)
{
	const char *i = name + store_base_len(name);
	uint8_t f = 0;
	size_t k;

	*kw_r = 0;
	if (strncmp(i, ":2,", 3) != 0)
		return 0;
	for (i += 3; *i; i++) {
		if (*i >= 'a' && *i <= 'z') {
			*kw_r |= 1u << (*i - 'a');
			continue;
		}
		for (k = 0; k < sizeof(letters) / sizeof(letters[0]); k++)
			if (*i == letters[k].c)
				f |= letters[k].f;
	}
	return f;
}

void
store_info(uint8_t flags, uint32_t kw, char *out, size_t outsz)
{
	size_t k, n = 0;

	if (outsz < sizeof(letters) / sizeof(letters[0]) + STORE_MAX_KW + 1) {
		out[0] = '\0';
		return;
	}
	for (k = 0; k < sizeof(letters) / sizeof(letters[0]); k++)
		if (flags & letters[k].f)
			out[n++] = letters[k].c;
	for (k = 0; k < STORE_MAX_KW; k++)
		if (kw & (1u << k))
			out[n++] = (char)('a' + k);
	out[n] = '\0';
}

void
store_flags_put(const struct store_folder *f, uint8_t flags, uint32_t kw,
    struct buf *out)
{
	static const struct {
		uint8_t f;
		const char *s;
	} names[] = {
		{ MF_SEEN, "\\Seen" }, { MF_ANSWERED, "\\Answered" },
		{ MF_FLAGGED, "\\Flagged" }, { MF_DELETED, "\\Deleted" },
		{ MF_DRAFT, "\\Draft" }, { MF_RECENT, "\\Recent" },
	};
	size_t i;
	bool sp = false;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (flags & names[i].f) {
			buf_printf(out, "%s%s", sp ? " " : "", names[i].s);
			sp = true;
		}
	}
	for (i = 0; i < STORE_MAX_KW; i++) {
		if ((kw & (1u << i)) && f->kw[i]) {
			buf_printf(out, "%s%s", sp ? " " : "", f->kw[i]);
			sp = true;
		}
	}
}

/* ---- keywords ---- */

bool
store_kw_valid(const char *name)
{
	const char *c;

	if (*name == '\0' || *name == '\\' || strlen(name) > STORE_KW_LEN)
		return false;
	/* RFC 3501 atom: no controls, space, list or resp-specials */
	for (c = name; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f ||
		    strchr("(){%*\"\\]", *c) != NULL)
			return false;
	return true;
}

static void
kw_clear(struct store_folder *f)
{
	size_t i;

	for (i = 0; i < STORE_MAX_KW; i++) {
		free(f->kw[i]);
		f->kw[i] = NULL;
	}
}

/* kw_load - FOLDER/facteur-keywords, else Dovecot's file of the same form */
static void
kw_load(struct store_folder *f)
{
	static const char *files[] = { STORE_KEYWORDS, "dovecot-keywords" };
	char p[PATH_MAX], *line = NULL, *sp, *nl;
	const char *err;
	size_t cap = 0, k;
	long long i;
	FILE *fp = NULL;

	for (k = 0; k < 2 && fp == NULL; k++)
		if (bsnprintf(p, sizeof(p), "%s/%s", f->dir, files[k]))
			fp = fopen(p, "re");
	if (fp == NULL)
		return;
	while (getline(&line, &cap, fp) > 0) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if ((sp = strchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		i = strnum(line, 0, STORE_MAX_KW - 1, &err);
		if (err || !store_kw_valid(sp + 1) || f->kw[i])
			continue;
		f->kw[i] = xstrdup(sp + 1);
	}
	free(line);
	fclose(fp);
}

static int
kw_save(struct store_folder *f)
{
	char p[PATH_MAX], t[PATH_MAX];
	FILE *fp;
	size_t i;
	int e;

	if (!bsnprintf(p, sizeof(p), "%s/%s", f->dir, STORE_KEYWORDS) ||
	    !bsnprintf(t, sizeof(t), "%s/tmp/%s.%d", f->dir, STORE_KEYWORDS,
	    (int)getpid()) || (fp = fopen(t, "we")) == NULL)
		return -1;
	for (i = 0; i < STORE_MAX_KW; i++)
		if (f->kw[i])
			fprintf(fp, "%zu %s\n", i, f->kw[i]);
	if (fflush(fp) == EOF || fsync(fileno(fp)) == -1) {
		e = errno;
		fclose(fp);
		unlink(t);
		errno = e;
		return -1;
	}
	if (fclose(fp) == EOF || rename(t, p) == -1) {
		e = errno;
		unlink(t);
		errno = e;
		return -1;
	}
	return 0;
}

uint32_t
store_kw_bit(struct store_folder *f, const char *name, bool add)
{
	size_t i, free_i = STORE_MAX_KW;

	for (i = 0; i < STORE_MAX_KW; i++) {
		if (f->kw[i] == NULL) {
			if (free_i == STORE_MAX_KW)
				free_i = i;
		} else if (strcasecmp(f->kw[i], name) == 0)
			return 1u << i;
	}
	if (!add || free_i == STORE_MAX_KW || !store_kw_valid(name)) {
		errno = 0;
		return 0;
	}
	f->kw[free_i] = xstrdup(name);
	if (kw_save(f) == -1) {
		int e = errno;

		log_warn("write %s/%s", f->dir, STORE_KEYWORDS);
		free(f->kw[free_i]);
		f->kw[free_i] = NULL;
		errno = e;
		return 0;
	}
	f->kw_gen++;
	return 1u << free_i;
}

uint32_t
store_kw_map(const struct store_folder *src, uint32_t kw,
    struct store_folder *dst)
{
	uint32_t out = 0;
	size_t i;

	if (src == dst)
		return kw;
	for (i = 0; i < STORE_MAX_KW; i++)
		if ((kw & (1u << i)) && src->kw[i])
			out |= store_kw_bit(dst, src->kw[i], true);
	return out;
}

bool
store_kw_full(const struct store_folder *f)
{
	size_t i;

	for (i = 0; i < STORE_MAX_KW; i++)
		if (f->kw[i] == NULL)
			return false;
	return true;
}

void
store_kw_put(const struct store_folder *f, struct buf *out)
{
	size_t i;

	for (i = 0; i < STORE_MAX_KW; i++)
		if (f->kw[i])
			buf_printf(out, " %s", f->kw[i]);
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
	if (bsnprintf(p, sizeof(p), "%s/new", f->dir))
		f->wd_new = inotify_add_watch(inotify_fd, p, mask);
	if (bsnprintf(p, sizeof(p), "%s/cur", f->dir))
		f->wd_cur = inotify_add_watch(inotify_fd, p, mask);
	if (f->wd_new == -1 || f->wd_cur == -1)
		log_warn("inotify_add_watch %s", f->dir);
}

/* ---- UIDVALIDITY ---- */

/*
 * store_uidvalidity_next - a UIDVALIDITY for a new or renumbered folder:
 * larger than `old`, than any given out before in this Maildir (counter in
 * ROOT/facteur-uidvalidity) and at least the time, so a folder deleted and
 * created again, or whose UID list was lost, never repeats one.
 */
uint32_t
store_uidvalidity_next(const char *dir, uint32_t old)
{
	char root[PATH_MAX], p[PATH_MAX], t[PATH_MAX], line[32];
	const char *slash = strrchr(dir, '/'), *err;
	uint32_t v = (uint32_t)time(NULL), last = 0;
	FILE *fp;

	/* ROOT/.Folder -> ROOT; the Maildir itself is its own root */
	if (slash && slash[1] == '.' && slash[2] != '\0')
		(void)bsnprintf(root, sizeof(root), "%.*s", (int)(slash - dir),
		    dir);
	else
		(void)bstrcpy(root, dir, sizeof(root));
	if (root[0] == '\0')
		memcpy(root, "/", 2);
	if (bsnprintf(p, sizeof(p), "%s/%s", root, STORE_UIDVALIDITY) &&
	    (fp = fopen(p, "re")) != NULL) {
		if (fgets(line, sizeof(line), fp) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			last = (uint32_t)strnum(line, 0, UINT32_MAX - 1, &err);
			if (err)
				last = 0;
		}
		fclose(fp);
	}
	if (last >= v)
		v = last + 1;
	if (old >= v && old < UINT32_MAX)
		v = old + 1;
	if (!bsnprintf(t, sizeof(t), "%s/tmp/%s.%d", root, STORE_UIDVALIDITY,
	    (int)getpid()) || (fp = fopen(t, "we")) == NULL)
		return v;
	fprintf(fp, "%u\n", v);
	if (fflush(fp) == EOF || fsync(fileno(fp)) == -1 || fclose(fp) == EOF ||
	    rename(t, p) == -1) {
		log_warn("write %s", p);
		unlink(t);
	}
	return v;
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
	if (strcmp(sp[0] + 1, "-") == 0)
		m->flags = MF_NOSIZE;
	else {
		m->size = (uint32_t)strnum(sp[0] + 1, 0, UINT32_MAX, &err);
		if (err)
			return false;
	}
	if (strcmp(sp[1] + 1, "-") == 0)
		m->itime = STORE_NOTIME;
	else {
		m->itime = strnum(sp[1] + 1, INT64_MIN + 1, INT64_MAX, &err);
		if (err)
			return false;
	}
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
	unsigned long long base = 0;
	uint32_t last = 0;
	bool ok = true;
	int got;

	if (!bsnprintf(p, sizeof(p), "%s/%s", f->dir, STORE_UIDLIST) ||
	    (fp = fopen(p, "re")) == NULL)
		return -1;
	if ((n = getline(&line, &cap, fp)) <= 0 ||
	    (got = sscanf(line, "facteur-uidlist %u %u %u %llu", &ver, &uv, &un,
	    &base)) < 3 || ver != 1 || uv == 0 || base >= INT64_MAX / 2) {
		ok = false;
		uv = 0;
	} else	/* no base: written before modseqs, none given out */
		f->modseq_base = got == 4 ? base : UINT64_MAX;
	if (uv)
		f->uidvalidity = uv;	/* remembered even if the rest is bad */
	while (ok && (n = getline(&line, &cap, fp)) > 0) {
		if ((nl = strchr(line, '\n')) == NULL) {
			/* a torn last line (crash during an append): that
			 * UID was never shown; rewrite before appending */
			f->list_dirty = true;
			break;
		}
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

static void
uidlist_line(FILE *fp, const struct store_msg *m)
{
	char size[16], itime[24];

	if (m->flags & MF_NOSIZE)
		memcpy(size, "-", 2);
	else
		(void)bsnprintf(size, sizeof(size), "%u", m->size);
	if (m->itime == STORE_NOTIME)
		memcpy(itime, "-", 2);
	else
		(void)bsnprintf(itime, sizeof(itime), "%lld",
		    (long long)m->itime);
	fprintf(fp, "%u %s %s %.*s\n", m->uid, size, itime,
	    (int)store_base_len(m->name), m->name);
}

/* uidlist_close - flush, fsync and close; false (and fp closed) on error */
static bool
uidlist_close(FILE *fp)
{
	if (fflush(fp) == EOF || fsync(fileno(fp)) == -1) {
		fclose(fp);
		return false;
	}
	return fclose(fp) != EOF;
}

int
store_uidlist_write(struct store_folder *f)
{
	char p[PATH_MAX], t[PATH_MAX];
	FILE *fp;
	size_t i;

	if (!bsnprintf(p, sizeof(p), "%s/%s", f->dir, STORE_UIDLIST) ||
	    !bsnprintf(t, sizeof(t), "%s/tmp/%s.%d", f->dir, STORE_UIDLIST,
	    (int)getpid()) || (fp = fopen(t, "we")) == NULL)
		return -1;
	fprintf(fp, "facteur-uidlist 1 %u %u %llu\n", f->uidvalidity, f->uidnext,
	    (unsigned long long)f->modseq_base);
	for (i = 0; i < f->n; i++)
		uidlist_line(fp, &f->v[i]);
	if (!uidlist_close(fp) || rename(t, p) == -1) {
		unlink(t);
		return -1;
	}
	f->list_dirty = false;
	f->list_stale = 0;
	return 0;
}

/*
 * uidlist_save - make the file hold every UID given out: append the
 * messages from index `first` on, or rewrite it whole when due.
 */
static int
uidlist_save(struct store_folder *f, size_t first)
{
	char p[PATH_MAX];
	FILE *fp;
	size_t i;
	int fd;

	if (f->gone)
		return 0;
	if (f->list_dirty || f->list_stale > 64 + f->n / 4)
		return store_uidlist_write(f);
	if (first >= f->n)
		return 0;
	if (!bsnprintf(p, sizeof(p), "%s/%s", f->dir, STORE_UIDLIST))
		return -1;
	if ((fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		return store_uidlist_write(f);
	if ((fp = fdopen(fd, "a")) == NULL) {
		close(fd);
		return -1;
	}
	for (i = first; i < f->n; i++)
		uidlist_line(fp, &f->v[i]);
	if (!uidlist_close(fp)) {
		f->list_dirty = true;	/* maybe torn: rewrite next time */
		return -1;
	}
	return 0;
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

static void
scan_push(struct scan_ent **v, size_t *n, size_t *cap, const char *name)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[*n].name = xstrdup(name);
	(*v)[*n].blen = store_base_len(name);
	(*n)++;
}

static void
scan_free(struct scan_ent *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/*
 * sync_new - move every file of new/ to cur/ with an info part; the names
 * moved (the \Recent ones, RFC 3501 2.3.2) go to *moved_r, sorted.
 */
static size_t
sync_new(struct store_folder *f, struct scan_ent **moved_r)
{
	char dp[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	DIR *d;
	struct dirent *e;
	size_t n = 0, cap = 0;

	*moved_r = NULL;
	if (!bsnprintf(dp, sizeof(dp), "%s/new", f->dir) ||
	    (d = opendir(dp)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (!bsnprintf(from, sizeof(from), "%s/%s", dp, e->d_name) ||
		    !bsnprintf(to, sizeof(to), "%s/cur/%s%s", f->dir, e->d_name,
		    strchr(e->d_name, ':') ? "" : ":2,"))
			continue;
		if (rename(from, to) == -1) {
			if (errno != ENOENT)
				log_warn("rename %s", from);
			continue;
		}
		scan_push(moved_r, &n, &cap, e->d_name);
	}
	closedir(d);
	/*
	 * A rename is two entries, each durable at its own directory's fsync:
	 * cur/ first (once the deliver role fsyncs new/ for its next message,
	 * a name not in cur/ on disk would be nowhere after a power cut), then
	 * new/ (or the message would be in both after one, twice in INBOX).
	 */
	if (n > 0 && (fsync_parent(to) == -1 || fsync_parent(from) == -1))
		log_warn("fsync %s/cur and new", f->dir);
	if (n > 1)
		qsort(*moved_r, n, sizeof(**moved_r), scan_cmp);
	return n;
}

/* the CRLF size from ",W=" in the name; false when it is not there */
static bool
name_size(const char *name, uint32_t *size_r)
{
	const char *w = strstr(name, ",W="), *err;
	char num[16];
	size_t i;

	if (w == NULL || w > name + store_base_len(name))
		return false;
	for (i = 0, w += 3; i < sizeof(num) - 1 && w[i] >= '0' && w[i] <= '9';
	    i++)
		num[i] = w[i];
	num[i] = '\0';
	*size_r = (uint32_t)strnum(num, 0, UINT32_MAX, &err);
	return err == NULL;
}

/*
 * sync_added - number the files that are not in the index yet.  Nothing
 * is read or stat'd: size and date come when first asked for.
 */
static void
sync_added(struct store_folder *f, struct scan_ent *add, size_t nadd,
    const struct scan_ent *moved, size_t nmoved)
{
	struct store_msg m;
	size_t i;

	qsort(add, nadd, sizeof(*add), scan_cmp);
	for (i = 0; i < nadd; i++) {
		memset(&m, 0, sizeof(m));
		m.uid = f->uidnext++;
		m.name = add[i].name;
		m.flags = store_name_flags(m.name, &m.kw);
		if (nmoved && bsearch(&add[i], moved, nmoved, sizeof(*moved),
		    scan_cmp))
			m.flags |= MF_RECENT;
		m.itime = STORE_NOTIME;
		/* RFC822.SIZE: from the name, else when first asked for */
		if (!name_size(m.name, &m.size))
			m.flags |= MF_NOSIZE;
		m.modseq = f->modseq + 1;
		folder_push(f, &m);
		store_modseq_msg(f, &m);
	}
}

/*
 * sync_scan - read cur/ and reconcile; returns true when the index changed
 * and sets *first_r to the index of the first message added.  Known files
 * are found by base name through the listing sorted by base.
 */
static bool
sync_scan(struct store_folder *f, const struct scan_ent *moved, size_t nmoved,
    size_t *first_r)
{
	char dp[PATH_MAX];
	DIR *d;
	struct dirent *e;
	struct scan_ent *ents = NULL, *add = NULL, key, *hit;
	size_t nents = 0, cap = 0, nadd = 0, i, j;
	bool *seen, changed = false;
	uint32_t kw;
	uint8_t fl;

	*first_r = f->n;
	if (!bsnprintf(dp, sizeof(dp), "%s/cur", f->dir) ||
	    (d = opendir(dp)) == NULL) {
		/* the folder is gone (deleted, renamed): everything vanished */
		if (f->n) {
			folder_clear(f);
			*first_r = 0;
			return true;
		}
		return false;
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			scan_push(&ents, &nents, &cap, e->d_name);
	closedir(d);
	if (nents)
		qsort(ents, nents, sizeof(*ents), scan_cmp);
	seen = xcalloc(nents + 1, sizeof(*seen));
	/* walk the index: find each message's file */
	for (i = 0, j = 0; i < f->n; i++) {
		key.name = f->v[i].name;
		key.blen = store_base_len(key.name);
		hit = nents ? bsearch(&key, ents, nents, sizeof(*ents),
		    scan_cmp) : NULL;
		if (hit == NULL || seen[hit - ents]) {
			/* an expunge the UID list still names is not new */
			if (!f->mlog_hold || !store_tomb_find(f, f->v[i].uid)) {
				store_tomb_add(f, &f->v[i], f->modseq + 1);
				changed = true;
			}
			free(f->v[i].name);
			f->list_stale++;
			continue;
		}
		seen[hit - ents] = true;
		if (strcmp(hit->name, f->v[i].name) != 0) {
			fl = store_name_flags(hit->name, &kw);
			if ((fl & MF_FILE) != (f->v[i].flags & MF_FILE) ||
			    kw != f->v[i].kw) {
				f->v[i].modseq = f->modseq + 1;
				f->v[i].changer = 0;
				changed = true;
			}
			f->v[i].flags = (uint8_t)(fl |
			    (f->v[i].flags & (MF_RECENT | MF_NOSIZE)));
			f->v[i].kw = kw;
			if (f->v[i].modseq == f->modseq + 1)
				store_modseq_msg(f, &f->v[i]);
			free(f->v[i].name);
			f->v[i].name = xstrdup(hit->name);
		}
		f->v[j++] = f->v[i];
	}
	f->n = j;
	*first_r = j;
	for (i = 0; i < nents; i++) {
		if (seen[i])
			continue;
		if (add == NULL)
			add = xreallocarray(NULL, nents, sizeof(*add));
		add[nadd++] = ents[i];
		ents[i].name = NULL;
	}
	if (nadd) {
		sync_added(f, add, nadd, moved, nmoved);
		changed = true;
	}
	free(add);
	free(seen);
	scan_free(ents, nents);
	return changed;
}

/*
 * sync_unadd - the UID list could not take the messages this sync found
 * (a full disk): they leave the index before anyone is told their UIDs,
 * which a restart would give to other messages; their files stay in
 * cur/ and the next sync numbers them again (UIDs are not reused:
 * uidnext stays), once the list can be written.
 */
static void
sync_unadd(struct store_folder *f, size_t first)
{
	while (f->n > first)
		free(f->v[--f->n].name);
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
	struct scan_ent *moved;
	size_t nmoved, first;
	bool changed;

	if (f->gone) {
		/* whatever is at its path now is another folder */
		if (f->n) {
			folder_clear(f);
			f->modseq++;
			store_notify(f);
		}
		return 0;
	}
	if (!force && !f->dirty && f->wd_cur != -1 && f->wd_new != -1)
		return 0;
	f->dirty = false;
	nmoved = sync_new(f, &moved);
	changed = sync_scan(f, moved, nmoved, &first);
	scan_free(moved, nmoved);
	if (uidlist_save(f, first) == -1) {
		log_warn("write %s/%s", f->dir, STORE_UIDLIST);
		sync_unadd(f, first);
	}
	if (changed) {
		f->modseq++;
		store_flush(f);
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

/* ---- open, close, the folder cache ---- */

struct store_folder *
store_folder_find(const char *dir)
{
	struct store_folder *f;

	for (f = folders; f; f = f->next)
		if (strcmp(f->dir, dir) == 0)
			return f;
	return NULL;
}

static void
folder_unlink(struct store_folder *f)
{
	struct store_folder **pp;

	for (pp = &folders; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->next = NULL;
	if (inotify_fd != -1) {
		if (f->wd_new != -1)
			inotify_rm_watch(inotify_fd, f->wd_new);
		if (f->wd_cur != -1)
			inotify_rm_watch(inotify_fd, f->wd_cur);
	}
	f->wd_new = f->wd_cur = -1;
}

static void
folder_free(struct store_folder *f)
{
	store_cache_close(f, !f->gone);
	store_modseq_free(f);
	while (f->watchers)
		store_watch_del(f, f->watchers->cb, f->watchers->arg);
	folder_clear(f);
	kw_clear(f);
	free(f->v);
	free(f->dir);
	free(f);
}

/* cache_trim - keep at most STORE_CACHED closed folders, the recent ones */
static void
cache_trim(void)
{
	struct store_folder *f, *old;
	size_t n;

	for (;;) {
		n = 0;
		old = NULL;
		for (f = folders; f; f = f->next) {
			if (f->refs > 0)
				continue;
			n++;
			if (old == NULL || f->used < old->used)
				old = f;
		}
		if (n <= STORE_CACHED || old == NULL)
			return;
		folder_unlink(old);
		folder_free(old);
	}
}

/*
 * store_forget - a folder directory is gone or renamed (with its
 * children, DIR.*): drop cached indexes; open ones leave the list, so the
 * next open builds a new index, and their sessions see everything vanish.
 */
void
store_forget(const char *dir, bool children)
{
	struct store_folder *f, *next;
	size_t n = strlen(dir);

	for (f = folders; f; f = next) {
		next = f->next;
		if (strncmp(f->dir, dir, n) != 0 ||
		    (f->dir[n] != '\0' && (!children || f->dir[n] != '.')))
			continue;
		folder_unlink(f);
		f->gone = true;
		f->dirty = true;
		if (f->refs == 0)
			folder_free(f);
	}
}

struct store_folder *
store_folder_open(const char *dir)
{
	struct store_folder *f;
	struct store_mload *ld;
	char p[PATH_MAX];
	struct stat st;
	bool fresh;

	if ((f = store_folder_find(dir)) != NULL) {
		f->refs++;
		f->used = ++use_clock;
		(void)store_sync(f, false);
		return f;
	}
	if (!bsnprintf(p, sizeof(p), "%s/cur", dir) || stat(p, &st) == -1 ||
	    !S_ISDIR(st.st_mode))
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->dir = xstrdup(dir);
	f->refs = 1;
	f->cache_fd = -1;
	f->used = ++use_clock;
	if (uidlist_load(f) == -1) {
		f->uidvalidity = store_uidvalidity_next(dir, f->uidvalidity);
		f->uidnext = 1;
		f->list_dirty = true;
		f->modseq_base = UINT64_MAX;
	}
	if ((fresh = f->modseq_base == UINT64_MAX))
		f->modseq_base = 0;
	kw_load(f);
	folder_watch(f);
	f->next = folders;
	folders = f;
	ld = store_modseq_load(f, fresh);
	f->mlog_hold = true;	/* store_modseq_open redoes the records */
	(void)store_sync(f, true);
	f->mlog_hold = false;
	store_modseq_open(f, ld);
	return f;
}

void
store_folder_close(struct store_folder **fp)
{
	struct store_folder *f = *fp;

	if (f == NULL)
		return;
	*fp = NULL;
	if (--f->refs > 0)
		return;
	if (f->gone) {
		folder_free(f);
		return;
	}
	/* what stays cached is clean on disk: a later worker of this
	 * user may start before this one has exited */
	if (f->list_dirty && store_uidlist_write(f) == -1)
		log_warn("write %s/%s", f->dir, STORE_UIDLIST);
	store_flush(f);
	if (f->cache_state == CACHE_ON)
		store_cache_close(f, true);
	f->used = ++use_clock;
	cache_trim();
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
	return bsnprintf(out, outsz, "%s/cur/%s", f->dir, f->v[i].name);
}

/* crlf_count - the CRLF size of a file, read in chunks */
static bool
crlf_count(const char *path, uint32_t *size_r)
{
	char b[65536], prev = '\0';
	ssize_t r, k;
	uint64_t n = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	while ((r = read(fd, b, sizeof(b))) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return false;
		}
		n += (uint64_t)r;
		for (k = 0; k < r; k++) {
			if (b[k] == '\n' && (k ? b[k - 1] : prev) != '\r')
				n++;
		}
		prev = b[r - 1];
	}
	close(fd);
	*size_r = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return true;
}

uint32_t
store_msg_size(struct store_folder *f, size_t i, const char *data, size_t len)
{
	struct store_msg *m = &f->v[i];
	char p[PATH_MAX];
	size_t n;

	if (!(m->flags & MF_NOSIZE))
		return m->size;
	if (data) {
		n = crlf_size(data, 0, len);
		m->size = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	} else if (!store_msg_path(f, i, p, sizeof(p)) ||
	    !crlf_count(p, &m->size)) {
		f->dirty = true;	/* vanished: the next sync says so */
		return 0;
	}
	m->flags &= (uint8_t)~MF_NOSIZE;
	f->list_dirty = true;		/* written when the folder closes */
	return m->size;
}

int64_t
store_msg_itime(struct store_folder *f, size_t i)
{
	char p[PATH_MAX];
	struct stat st;

	if (f->v[i].itime != STORE_NOTIME)
		return f->v[i].itime;
	if (!store_msg_path(f, i, p, sizeof(p)) || stat(p, &st) == -1) {
		f->dirty = true;	/* vanished: the next sync says so */
		return 0;
	}
	f->v[i].itime = st.st_mtime;
	f->list_dirty = true;		/* written when the folder closes */
	return f->v[i].itime;
}

int
store_set_flags(struct store_folder *f, size_t i, uint8_t flags, uint32_t kw,
    uint32_t changer)
{
	struct store_msg *m = &f->v[i];
	char from[PATH_MAX], to[PATH_MAX], info[40], *nn;

	flags &= MF_FILE;
	if ((m->flags & MF_FILE) == flags && m->kw == kw)
		return 0;
	store_info(flags, kw, info, sizeof(info));
	nn = xasprintf("%.*s:2,%s", (int)store_base_len(m->name), m->name, info);
	if (!store_msg_path(f, i, from, sizeof(from)) ||
	    !bsnprintf(to, sizeof(to), "%s/cur/%s", f->dir, nn) ||
	    rename(from, to) == -1) {
		free(nn);
		f->dirty = true;
		return -1;
	}
	free(m->name);
	m->name = nn;
	m->flags = (uint8_t)(flags | (m->flags & (MF_RECENT | MF_NOSIZE)));
	m->kw = kw;
	m->modseq = ++f->modseq;
	m->changer = changer;
	store_modseq_msg(f, m);
	return 0;
}

/* store_drop - remove message i from the index (its file is gone) */
static void
store_drop(struct store_folder *f, size_t i)
{
	store_tomb_add(f, &f->v[i], ++f->modseq);
	free(f->v[i].name);
	memmove(&f->v[i], &f->v[i + 1], (f->n - i - 1) * sizeof(*f->v));
	f->n--;
	f->list_stale++;
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
	store_drop(f, i);
	return 0;
}

int
store_register(struct store_folder *t, const char *name, uint8_t flags,
    uint32_t kw, int64_t itime, uint32_t size, bool size_known,
    uint32_t *uid_r)
{
	struct store_msg m;

	memset(&m, 0, sizeof(m));
	m.uid = t->uidnext++;
	m.name = xstrdup(name);
	/* RFC 3501 6.3.11, 6.4.7: appended and copied messages are \Recent */
	m.flags = (uint8_t)((flags & MF_FILE) | MF_RECENT |
	    (size_known ? 0 : MF_NOSIZE));
	m.kw = kw;
	m.itime = itime;
	m.size = size;
	m.modseq = ++t->modseq;
	folder_push(t, &m);
	store_modseq_msg(t, &m);
	*uid_r = m.uid;
	if (uidlist_save(t, t->n - 1) == -1) {
		/*
		 * shown to nobody yet: out of the index again (its UID is not
		 * given out again: uidnext stays); the caller removes the file
		 */
		log_warn("write %s/%s", t->dir, STORE_UIDLIST);
		free(t->v[--t->n].name);
		return -1;
	}
	store_flush(t);
	store_notify(t);
	return 0;
}

void
store_take(struct store_folder *f, size_t i)
{
	store_drop(f, i);
}

/* ---- reading messages ---- */

const char *
store_map(const struct store_folder *f, size_t i, size_t *len_r)
{
	char p[PATH_MAX];
	struct stat st;
	void *m;
	int fd;

	if (!store_msg_path(f, i, p, sizeof(p)) ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || st.st_size < 0 ||
	    (uint64_t)st.st_size > SIZE_MAX / 2) {
		close(fd);
		return NULL;
	}
	*len_r = (size_t)st.st_size;
	if (st.st_size == 0) {
		close(fd);
		return "";
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	return m == MAP_FAILED ? NULL : m;
}

void
store_unmap(const char *p, size_t len)
{
	if (p && len)
		(void)munmap((void *)(uintptr_t)p, len);
}

/* header_len - the length of the header block (blank line included) in
 * data[0..n), or 0 when the blank line is not there */
static size_t
header_len(const char *data, size_t n)
{
	const char *p = data, *e = data + n, *nl;

	while (p < e) {
		if (*p == '\n')
			return (size_t)(p - data) + 1;
		if (*p == '\r' && p + 1 < e && p[1] == '\n')
			return (size_t)(p - data) + 2;
		if ((nl = memchr(p, '\n', (size_t)(e - p))) == NULL)
			return 0;
		p = nl + 1;
	}
	return 0;
}

const char *
store_header(struct store_folder *f, size_t i, size_t *len_r, char **owned_r)
{
	const char *h;
	char *data;
	size_t n, hl;

	*owned_r = NULL;
	if ((h = store_cache_get(f, i, len_r)) != NULL)
		return h;
	if ((data = store_read_header(f, i, &n)) == NULL) {
		f->dirty = true;	/* vanished: the next sync says so */
		return NULL;
	}
	/* a message that is all header (no blank line) is cached whole */
	if ((hl = header_len(data, n)) == 0 && n < (1 << 20))
		hl = n;
	if (hl)
		store_cache_put(f, i, data, hl);
	*owned_r = data;
	*len_r = n;
	return data;
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
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 4096 + 1;
			data = xrealloc(data, cap);
		}
		r = read(fd, data + n, cap - n - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	} while (header_len(data, n) == 0 && n < (1 << 20));
	close(fd);
	if (data == NULL)
		data = xmalloc(1);
	data[n] = '\0';
	*len_r = n;
	return data;
}
