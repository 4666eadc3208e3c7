/* SPDX-License-Identifier: ISC */
/*
 * store_msg.c - messages into the Maildir++ folders:
 * APPEND (from memory or from a spool file), COPY (a hard link) and MOVE
 * (a rename), each durable before its UID is given out.
 *
 * Runs in a worker as `user` (chrooted into the user's Maildir when
 * started as root), on folders opened with store_folder_open().  A new
 * file is written in tmp/ with O_EXCL, fsync'd, given its internal date
 * as mtime, renamed into cur/ with its flags, and cur/ is fsync'd (STYLE
 * 10); the first time a process does so in a folder, the folder's own
 * entries are fsync'd too (folder_durable).  Files are kept with LF line
 * ends; the name carries ",W=<CRLF size>" so RFC822.SIZE never needs the
 * file read.  Errors: -1 with errno; nothing here logs but the UID list
 * writer.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crlf.h"
#include "dirsync.h"
#include "store.h"
#include "xmem.h"

static unsigned deliver_seq;

static int
fsync_dir(const char *dir, const char *sub)
{
	char p[PATH_MAX];
	int fd, r;

	if (!bsnprintf(p, sizeof(p), "%s/%s", dir, sub) ||
	    (fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
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
write_lf(int fd, const char *data, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i + 1 < len; i++) {
		if (data[i] == '\r' && data[i + 1] == '\n') {
			if (write_all(fd, data + start, i - start) == -1)
				return -1;
			start = i + 1;
		}
	}
	return write_all(fd, data + start, len - start);
}

/* deliver_name - a new unique base name "TIME.MusecPpidQn.HOST,W=size" */
static bool
deliver_name(char *base, size_t basesz, size_t wsize)
{
	char host[64], *c;
	struct timespec ts;

	if (gethostname(host, sizeof(host)) == -1)
		memcpy(host, "localhost", 10);
	host[sizeof(host) - 1] = '\0';
	for (c = host; *c; c++)
		if (*c == '/' || *c == ':' || *c == ',')
			*c = '_';
	clock_gettime(CLOCK_REALTIME, &ts);
	return bsnprintf(base, basesz, "%lld.M%ldP%dQ%u.%s,W=%zu",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(),
	    ++deliver_seq, host, wsize);
}

/* final_name - "BASE:2,INFO" for flags and keywords, and its cur/ path */
static bool
final_name(const struct store_folder *t, size_t wsize, uint8_t flags,
    uint32_t kw, char *name, size_t namesz, char *path, size_t pathsz)
{
	char base[256], info[40];

	store_info(flags & MF_FILE, kw, info, sizeof(info));
	return deliver_name(base, sizeof(base), wsize) &&
	    bsnprintf(name, namesz, "%s:2,%s", base, info) &&
	    bsnprintf(path, pathsz, "%s/cur/%s", t->dir, name);
}

/*
 * folder_durable - before this process first puts a message into t: the
 * folder's entry and its cur/'s fsync'd into their parents, as at their
 * mkdir (store_maildir_make), for a folder found there: the worker that
 * made it may have died before those fsyncs (lib/dirsync.h), and a power
 * cut would then take the folder and what was put in it.  Two directory
 * fsyncs per folder and process, not per message.
 */
static void
folder_durable(struct store_folder *t)
{
	char p[PATH_MAX];

	if (t->durable || !bsnprintf(p, sizeof(p), "%s/cur", t->dir))
		return;
	if (fsync_parent_existing(t->dir) == 0 &&
	    fsync_parent_existing(p) == 0)
		t->durable = true;
}

/* commit - fd holds the message: fsync, date it, close, rename, register */
static int
commit(struct store_folder *t, int fd, const char *tmp, const char *name,
    const char *dst, uint8_t flags, uint32_t kw, time_t itime, size_t wsize,
    uint32_t *uid_r)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = itime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (fsync(fd) == -1 || futimens(fd, ts) == -1) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, dst) == -1) {
		unlink(tmp);
		return -1;
	}
	folder_durable(t);
	(void)fsync_dir(t->dir, "cur");
	if (store_register(t, name, flags, kw, itime,
	    wsize > UINT32_MAX ? UINT32_MAX : (uint32_t)wsize, true,
	    uid_r) == -1) {
		int e = errno;

		(void)unlink(dst);	/* refused: not stored either */
		errno = e;
		return -1;
	}
	return 0;
}

int
store_deliver(struct store_folder *t, const char *data, size_t len,
    uint8_t flags, uint32_t kw, time_t itime, uint32_t *uid_r)
{
	char name[300], tmp[PATH_MAX], dst[PATH_MAX];
	size_t wsize = crlf_size(data, 0, len);
	int fd;

	if (!final_name(t, wsize, flags, kw, name, sizeof(name), dst,
	    sizeof(dst)) ||
	    !bsnprintf(tmp, sizeof(tmp), "%s/tmp/%.*s", t->dir,
	    (int)store_base_len(name), name))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (write_lf(fd, data, len) == -1) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	return commit(t, fd, tmp, name, dst, flags, kw, itime, wsize, uid_r);
}

/* ---- spooled APPEND literals ---- */

int
store_spool_open(struct store_spool *sp, const char *root, uint32_t id)
{
	static unsigned seq;

	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->prev = '\n';
	if (!bsnprintf(sp->path, sizeof(sp->path),
	    "%s/tmp/facteur-append.%d.%u.%u", root, (int)getpid(), id, ++seq))
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
store_spool_deliver(struct store_spool *sp, struct store_folder *t,
    uint8_t flags, uint32_t kw, time_t itime, uint32_t *uid_r)
{
	char name[300], dst[PATH_MAX];
	int fd = sp->fd;

	if (fd == -1)
		return -1;
	if (!final_name(t, sp->crlf, flags, kw, name, sizeof(name), dst,
	    sizeof(dst)) || (sp->cr && write_all(fd, "\r", 1) == -1)) {
		store_spool_discard(sp);
		return -1;
	}
	sp->fd = -1;
	/* the spool is in the same file system (the user's Maildir) */
	return commit(t, fd, sp->path, name, dst, flags, kw, itime, sp->crlf,
	    uid_r);
}

/* ---- copy and move ---- */

/* copy_bytes - the fallback when a link is not possible */
static int
copy_bytes(struct store_folder *f, size_t i, struct store_folder *t,
    uint32_t kw, uint32_t *uid_r)
{
	const char *data;
	size_t len;
	int r;

	if ((data = store_map(f, i, &len)) == NULL)
		return -1;
	r = store_deliver(t, data, len, f->v[i].flags, kw,
	    (time_t)store_msg_itime(f, i), uid_r);
	store_unmap(data, len);
	return r;
}

/* relink - the file of message i under a new name in t: link or rename */
static int
relink(struct store_folder *f, size_t i, struct store_folder *t, uint32_t kw,
    bool move, uint32_t *uid_r)
{
	char src[PATH_MAX], name[300], dst[PATH_MAX];
	uint32_t size = store_msg_size(f, i, NULL, 0);
	/* copies: t may be f, whose index moves when t grows */
	uint8_t flags = f->v[i].flags;
	int64_t itime = store_msg_itime(f, i);	/* the inode keeps it */

	if (!store_msg_path(f, i, src, sizeof(src)) ||
	    !final_name(t, size, flags, kw, name, sizeof(name), dst,
	    sizeof(dst)))
		return -1;
	if ((move ? rename(src, dst) : link(src, dst)) == -1)
		return errno == ENOENT ? -1 : 1;
	folder_durable(t);
	(void)fsync_dir(t->dir, "cur");
	if (move && f != t)
		(void)fsync_dir(f->dir, "cur");
	if (store_register(t, name, flags, kw, itime, size, true,
	    uid_r) == -1) {
		int e = errno;

		/* refused: the message goes back to where it was */
		if (move ? rename(dst, src) == 0 : unlink(dst) == 0)
			(void)fsync_dir(t->dir, "cur");
		if (move && f != t)
			(void)fsync_dir(f->dir, "cur");
		errno = e;
		return -1;
	}
	return 0;
}

int
store_copy(struct store_folder *f, size_t i, struct store_folder *t,
    uint32_t kw, uint32_t *uid_r)
{
	int r = relink(f, i, t, kw, false, uid_r);

	/* EXDEV, EPERM, EMLINK...: a real copy */
	return r == 1 ? copy_bytes(f, i, t, kw, uid_r) : r;
}

int
store_move(struct store_folder *f, size_t i, struct store_folder *t,
    uint32_t kw, uint32_t *uid_r)
{
	int r = relink(f, i, t, kw, true, uid_r);

	if (r == 1) {
		if (copy_bytes(f, i, t, kw, uid_r) == -1 ||
		    store_expunge(f, i) == -1)
			return -1;
		return 0;
	}
	if (r == 0)
		store_take(f, i);
	return r;
}
