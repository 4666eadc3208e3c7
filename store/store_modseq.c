/* SPDX-License-Identifier: ISC */
/*
 * store_modseq.c - mod-sequences (RFC 7162 CONDSTORE, QRESYNC) of a
 * folder: each message's MODSEQ, the folder's HIGHESTMODSEQ and the last
 * expunges (tombstones), kept in FOLDER/facteur-modseq.
 *
 * Runs in a worker as `user`, inside the folder's directory.  Format:
 *
 *   "facteur-modseq 1 UIDVALIDITY FLOOR\n", then records appended as
 *   changes happen (the last one of a UID wins):
 *     "UID MODSEQ INFO\n"  the message got MODSEQ; INFO its flag letters
 *                          then ("BASE:2,INFO" of the file name; "-": none)
 *     "-UID MODSEQ\n"      the message was expunged at MODSEQ
 *   FLOOR: expunges up to it may be forgotten (the tombstones are bounded
 *   by STORE_TOMBS; older ones are dropped).
 *
 * Records are written (no fsync: a worker that dies loses nothing, a
 * machine that crashes may) before any modseq is shown to a client
 * (store_flush); the file is rewritten whole (tmp + fsync + rename) when
 * it holds many more records than messages.  Flags live in the file
 * names, the truth: when a folder is opened, a message whose flags differ
 * from its record (changed by another program, or a record lost) gets a
 * new modseq, and so does one without a record.  The UID list's header
 * keeps a base with every modseq given out below base + 2^32: a lost or
 * corrupt modseq file moves the base up by 2^32, so the new modseqs are
 * above every old one and clients resynchronise flags (not messages).
 * Errors: logged, never fatal.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "store.h"
#include "strnum.h"
#include "xmem.h"

#define MLOG_FLUSH	65536		/* buffered bytes written at once */
#define BASE_SPAN	(1ULL << 32)

struct mrec {
	uint32_t	 uid;
	uint32_t	 kw;
	uint64_t	 modseq;
	size_t		 line;
	uint8_t		 flags;
};

struct store_mload {
	enum { ML_FRESH, ML_OK, ML_LOST } state;
	struct mrec	*v;
	size_t		 n, cap;
	uint64_t	 high;		/* the highest modseq in the file */
	uint64_t	 start;		/* the folder's modseq before the sync */
};

static void
mlog_put(struct store_folder *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mlog_put(struct store_folder *f, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	if (f->mlog == NULL) {
		f->mlog = xcalloc(1, sizeof(*f->mlog));
		buf_init(f->mlog, 0);
	}
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)buf_append(f->mlog, line, (size_t)n);
	if (f->mlog->len >= MLOG_FLUSH)
		store_flush(f);
}

/* store_modseq_msg - message m got a new modseq: record it */
void
store_modseq_msg(struct store_folder *f, const struct store_msg *m)
{
	char info[40];

	store_info(m->flags, m->kw, info, sizeof(info));
	mlog_put(f, "%u %llu %s\n", m->uid, (unsigned long long)m->modseq,
	    info[0] ? info : "-");
}

static void
tomb_push(struct store_folder *f, const struct store_msg *m, uint64_t modseq)
{
	size_t drop;

	if (f->ntomb == f->captomb) {
		f->captomb = f->captomb ? f->captomb * 2 : 64;
		f->tomb = xreallocarray(f->tomb, f->captomb, sizeof(*f->tomb));
	}
	f->tomb[f->ntomb].uid = m->uid;
	f->tomb[f->ntomb].kw = m->kw;
	f->tomb[f->ntomb].flags = m->flags & MF_FILE;
	f->tomb[f->ntomb++].modseq = modseq;
	if (f->ntomb > STORE_TOMBS) {
		/* forget the oldest quarter: VANISHED (EARLIER) from before
		 * the floor names every UID not in the folder instead */
		drop = STORE_TOMBS / 4;
		if (f->tomb[drop - 1].modseq > f->tomb_floor)
			f->tomb_floor = f->tomb[drop - 1].modseq;
		memmove(f->tomb, f->tomb + drop,
		    (f->ntomb - drop) * sizeof(*f->tomb));
		f->ntomb -= drop;
	}
}

/* store_tomb_add - message m leaves the folder at modseq: a tombstone */
void
store_tomb_add(struct store_folder *f, const struct store_msg *m,
    uint64_t modseq)
{
	tomb_push(f, m, modseq);
	if (!f->gone)
		mlog_put(f, "-%u %llu\n", m->uid, (unsigned long long)modseq);
}

const struct store_tomb *
store_tomb_find(const struct store_folder *f, uint32_t uid)
{
	size_t i;

	for (i = f->ntomb; i-- > 0;)
		if (f->tomb[i].uid == uid)
			return &f->tomb[i];
	return NULL;
}

bool
store_vanished_known(const struct store_folder *f, uint64_t since)
{
	return since >= f->tomb_floor;
}

static bool
mlog_path(const struct store_folder *f, char *p, size_t n)
{
	return bsnprintf(p, n, "%s/%s", f->dir, STORE_MODSEQ);
}

/* mlog_rewrite - the whole state into a new file */
static int
mlog_rewrite(struct store_folder *f)
{
	char p[PATH_MAX], t[PATH_MAX], info[40];
	FILE *fp;
	size_t i;

	if (!mlog_path(f, p, sizeof(p)) ||
	    !bsnprintf(t, sizeof(t), "%s/tmp/%s.%d", f->dir, STORE_MODSEQ,
	    (int)getpid()) || (fp = fopen(t, "we")) == NULL)
		return -1;
	fprintf(fp, "facteur-modseq 1 %u %llu\n", f->uidvalidity,
	    (unsigned long long)f->tomb_floor);
	for (i = 0; i < f->ntomb; i++)
		fprintf(fp, "-%u %llu\n", f->tomb[i].uid,
		    (unsigned long long)f->tomb[i].modseq);
	for (i = 0; i < f->n; i++) {
		store_info(f->v[i].flags, f->v[i].kw, info, sizeof(info));
		fprintf(fp, "%u %llu %s\n", f->v[i].uid,
		    (unsigned long long)f->v[i].modseq, info[0] ? info : "-");
	}
	if (fflush(fp) == EOF || fsync(fileno(fp)) == -1) {
		fclose(fp);
		unlink(t);
		return -1;
	}
	if (fclose(fp) == EOF || rename(t, p) == -1) {
		unlink(t);
		return -1;
	}
	f->mlog_lines = f->n + f->ntomb;
	return 0;
}

static void
mlog_drop(struct store_folder *f)
{
	if (f->mlog) {
		buf_free(f->mlog);
		free(f->mlog);
		f->mlog = NULL;
	}
}

void
store_flush(struct store_folder *f)
{
	char p[PATH_MAX];
	const char *d;
	size_t n, lines = 0;
	ssize_t w;
	int fd;

	if (f == NULL || f->gone || f->mlog_hold || f->mlog == NULL ||
	    f->mlog->len == 0)
		return;
	/* the base must stay durable ahead of what is given out */
	if (f->modseq - f->modseq_base > BASE_SPAN / 2) {
		f->modseq_base = f->modseq;
		if (store_uidlist_write(f) == -1)
			log_warn("write %s/%s", f->dir, STORE_UIDLIST);
	}
	d = buf_head(f->mlog);
	for (n = 0; n < f->mlog->len; n++)
		lines += d[n] == '\n';
	if (f->mlog_lines + lines > 2 * (f->n + f->ntomb) + 1024)
		goto rewrite;
	if (!mlog_path(f, p, sizeof(p)) ||
	    (fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		goto rewrite;
	for (n = 0; n < f->mlog->len; n += (size_t)w) {
		w = write(fd, d + n, f->mlog->len - n);
		if (w == -1 && errno == EINTR)
			w = 0;
		else if (w <= 0)
			break;
	}
	close(fd);
	if (n == f->mlog->len) {
		f->mlog_lines += lines;
		buf_reset(f->mlog);
		return;
	}
rewrite:
	if (mlog_rewrite(f) == -1)
		log_warn("write %s/%s", f->dir, STORE_MODSEQ);
	mlog_drop(f);
}

/* ---- opening a folder ---- */

static bool
mlog_parse(struct store_mload *ld, struct store_folder *f, char *line,
    size_t lineno)
{
	char *sp, *sp2, info[48];
	const char *err;
	struct store_msg m;
	struct mrec *r;
	bool tomb = line[0] == '-';

	if ((sp = strchr(line, ' ')) == NULL)
		return false;
	*sp++ = '\0';
	memset(&m, 0, sizeof(m));
	m.uid = (uint32_t)strnum(line + tomb, 1, UINT32_MAX, &err);
	if (err)
		return false;
	if ((sp2 = strchr(sp, ' ')) != NULL)
		*sp2++ = '\0';
	if ((sp2 == NULL) != tomb)
		return false;
	m.modseq = (uint64_t)strnum(sp, 1, INT64_MAX, &err);
	if (err)
		return false;
	if (m.modseq > ld->high)
		ld->high = m.modseq;
	if (tomb) {
		tomb_push(f, &m, m.modseq);
		return true;
	}
	if (strcmp(sp2, "-") == 0)
		sp2 = "";
	if (!bsnprintf(info, sizeof(info), ":2,%s", sp2))
		return false;
	if (ld->n == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 256;
		ld->v = xreallocarray(ld->v, ld->cap, sizeof(*ld->v));
	}
	r = &ld->v[ld->n++];
	r->uid = m.uid;
	r->modseq = m.modseq;
	r->line = lineno;
	r->flags = store_name_flags(info, &r->kw);
	return true;
}

static int
mrec_cmp(const void *a, const void *b)
{
	const struct mrec *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

/*
 * store_modseq_load - read FOLDER/facteur-modseq before the folder's
 * first sync (so the sync's changes come after what it holds).
 * fresh: the folder is new to us (no UID list, or one from before
 * modseqs): nothing was given out yet.
 */
struct store_mload *
store_modseq_load(struct store_folder *f, bool fresh)
{
	struct store_mload *ld = xcalloc(1, sizeof(*ld));
	char p[PATH_MAX], *line = NULL, *nl;
	size_t cap = 0, lineno = 0;
	unsigned ver, uv;
	unsigned long long floor;
	FILE *fp = NULL;
	bool ok = false;

	f->mlog_lines = 0;
	if (mlog_path(f, p, sizeof(p)))
		fp = fopen(p, "re");
	if (fp && getline(&line, &cap, fp) > 0 &&
	    sscanf(line, "facteur-modseq %u %u %llu", &ver, &uv, &floor) == 3 &&
	    ver == 1 && uv == f->uidvalidity && floor < INT64_MAX) {
		ok = true;
		f->tomb_floor = ld->high = floor;
		while (getline(&line, &cap, fp) > 0) {
			if ((nl = strchr(line, '\n')) == NULL)
				break;	/* torn by a crash: cut */
			*nl = '\0';
			if (!mlog_parse(ld, f, line, ++lineno)) {
				ok = false;
				break;
			}
		}
	}
	free(line);
	if (fp)
		fclose(fp);
	ld->state = ok ? ML_OK : fresh ? ML_FRESH : ML_LOST;
	if (!ok) {
		lineno = 0;
		ld->n = 0;
		ld->high = 0;
		f->ntomb = 0;
		f->tomb_floor = 0;
	}
	if (ld->state == ML_LOST) {
		/* above every modseq given out, and every expunge forgotten */
		log_warnx("%s/%s lost or corrupt: flags resynchronise",
		    f->dir, STORE_MODSEQ);
		f->modseq_base += BASE_SPAN;
		f->tomb_floor = f->modseq_base;
		if (store_uidlist_write(f) == -1)
			log_warn("write %s/%s", f->dir, STORE_UIDLIST);
	}
	f->mlog_lines = lineno;
	f->modseq = ld->high > f->modseq_base ? ld->high : f->modseq_base;
	ld->start = f->modseq;
	if (ld->n > 1)
		qsort(ld->v, ld->n, sizeof(*ld->v), mrec_cmp);
	return ld;
}

/* the last record of uid in ld, or NULL */
static const struct mrec *
mrec_find(const struct store_mload *ld, uint32_t uid)
{
	size_t lo = 0, hi = ld->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ld->v[mid].uid <= uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && ld->v[lo - 1].uid == uid ? &ld->v[lo - 1] : NULL;
}

/*
 * store_modseq_open - after the first sync: a message whose flags are
 * those of its record keeps its modseq, the others get a new one; then
 * the file is made to hold it all.  Frees ld.
 */
void
store_modseq_open(struct store_folder *f, struct store_mload *ld)
{
	const struct mrec *r;
	struct store_msg *m;
	size_t i, nnew = 0;
	uint64_t hi = ld->start, next;

	mlog_drop(f);		/* the sync's records are redone here */
	/* the sync counted flags it read as changes; only its expunges are */
	for (i = 0; i < f->ntomb; i++)
		if (f->tomb[i].modseq > hi)
			hi = f->tomb[i].modseq;
	next = hi + 1;
	for (i = 0; i < f->n; i++) {
		m = &f->v[i];
		r = ld->state == ML_OK ? mrec_find(ld, m->uid) : NULL;
		if (r && r->flags == (m->flags & MF_FILE) && r->kw == m->kw) {
			m->modseq = r->modseq;
			continue;
		}
		m->modseq = next;
		nnew++;
	}
	f->modseq = nnew ? next : hi;
	if (ld->state != ML_OK || f->mlog_lines > 2 * (f->n + f->ntomb) + 1024) {
		if (mlog_rewrite(f) == -1)
			log_warn("write %s/%s", f->dir, STORE_MODSEQ);
	} else {
		for (i = 0; i < f->ntomb; i++)
			if (f->tomb[i].modseq > ld->high)
				mlog_put(f, "-%u %llu\n", f->tomb[i].uid,
				    (unsigned long long)f->tomb[i].modseq);
		for (i = 0; i < f->n && nnew; i++)
			if (f->v[i].modseq == next)
				store_modseq_msg(f, &f->v[i]);
		store_flush(f);
	}
	free(ld->v);
	free(ld);
}

/* store_modseq_free - the folder's modseq state goes (folder_free) */
void
store_modseq_free(struct store_folder *f)
{
	store_flush(f);
	mlog_drop(f);
	free(f->tomb);
	f->tomb = NULL;
	f->ntomb = f->captomb = 0;
}
