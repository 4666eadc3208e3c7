/* SPDX-License-Identifier: ISC */
/*
 * queue_accept.c - the queue role's side of accepting mail: the channel
 * to the smtp role (Q_OPEN, Q_COMMIT, Q_ABORT) and the pool of queue files.
 *
 * Q_OPEN passes the descriptor of a file from the pool, with its size:
 * files made ahead, POOL_SIZE at a time, whose directory entries were
 * fsync'd once for the batch (empty, or recycled ones still holding a
 * finished message, written over: queue_file.c, slack).  The session
 * writes message and envelope; Q_COMMIT reads
 * the envelope back, fsyncs the file and only then answers Q_COMMIT_OK,
 * which becomes the 250.  Q_ABORT, or a file without its footer found at
 * start (queue.c), removes the file.
 *
 * Group commit: a checked Q_COMMIT waits in `pending` until the end of the
 * event-loop round (a timer of 0 ms), so that the commits of concurrent
 * sessions that arrived together are made durable together: their fsyncs
 * are issued at once (lib/fsyncv.h: io_uring, so they share the disk's
 * cache flushes) and each is answered only after its own fsync returned.
 * Nothing is answered earlier than before; only the fsyncs run together.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ev.h"
#include "fsyncv.h"
#include "log.h"
#include "xmem.h"
#include "queue.h"

#define COMMIT_MAX	64	/* fsyncs issued together */

static struct ipc	 smtp_ch;

/* messages being written by sessions: not in the table yet */
struct qopen {
	char		 qid[QUEUE_ID_LEN + 1];
	int		 fd;
	struct qopen	*next;
};
static struct qopen	*opens;

/* checked commits waiting for the fsync of their batch, in arrival order */
struct qpending {
	uint32_t	 id;
	struct qopen	*op;
	uint64_t	 size;
	struct queue_env env;
	struct qpending	*next;
};
static struct qpending	*pending, **pending_tail = &pending;
static struct ev_timer	 commit_timer;

static void
smtp_reply(uint32_t id, uint32_t type, const char *qid, int fd, const char *why)
{
	struct ipc_out o;

	ipc_out_init(&o);
	if (qid)
		ipc_put_str(&o, qid);
	if (why)
		ipc_put_str(&o, why);
	(void)ipc_send(&smtp_ch, type, id, fd, &o);	/* closes fd on failure */
}

/*
 * The file pool: queue files are made ahead, POOL_SIZE at a time, with
 * one fsync of the directory for the batch, so that committing a message
 * needs only the fsync of its own file before the 250.  Most are finished
 * files recycled (renamed, or truncated and renamed: queue.c msg_recycle),
 * the rest are created.  At start, an unused pool file is removed: an
 * empty one like any file without its footer, a renamed one because the
 * finished message it holds is not under its own id (queue.c recover).
 */
static void
pool_fill(void)
{
	char qid[QUEUE_ID_LEN + 1];
	int fd, tries = 0;
	uint64_t removed;

	/* finished files under a new name, written over (queue.c) */
	while (q.npool < POOL_SIZE && q.nrenamed > 0)
		q.pool[q.npool++] = q.renamed[--q.nrenamed];
	/* finished files made empty under a new name (queue.c, msg_recycle) */
	while (q.npool < POOL_SIZE && recycle_reap(&fd, qid, sizeof(qid))) {
		memcpy(q.pool[q.npool].qid, qid, sizeof(qid));
		q.pool[q.npool].size = 0;
		q.pool[q.npool++].fd = fd;
	}
	while (q.npool < POOL_SIZE && tries++ < 2 * POOL_SIZE) {
		queue_id_new(qid);
		fd = openat(q.dirfd, qid, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (fd == -1) {
			if (errno == EEXIST)
				continue;
			log_warn("queue: cannot create a file in %s", q.msgdir);
			break;
		}
		memcpy(q.pool[q.npool].qid, qid, sizeof(qid));
		q.pool[q.npool].size = 0;
		q.pool[q.npool++].fd = fd;
	}
	removed = queue_removed();	/* made durable too (sync_removals) */
	if (fsync(q.dirfd) == 0)
		q.removed_synced = removed;
	else {
		log_warn("fsync %s", q.msgdir);
		while (q.npool > 0) {	/* not durable: do not use them */
			q.npool--;
			close(q.pool[q.npool].fd);
			(void)unlinkat(q.dirfd, q.pool[q.npool].qid, 0);
		}
	}
}

/*
 * queue_pool_trim - the queue was idle a while: pool files that hold an
 * earlier message (recycled by a rename) are truncated and renamed in the
 * background (recycle_bg; they come back empty through recycle_reap), or
 * truncated here, so that a delivered message does not stay on disk in
 * the queue, in backups of it for instance, until the file is used again
 */
static bool
pool_trim_one(struct qfile *f)
{
	char to[QUEUE_ID_LEN + 1];

	queue_id_new(to);
	if (recycle_possible() && recycle_bg(f->fd, q.dirfd, f->qid, to))
		return true;		/* gone to the ring */
	if (ftruncate(f->fd, 0) == -1) {
		log_warn("queue: truncate %s", f->qid);
		return false;
	}
	f->size = 0;
	return false;
}

static void
pool_trim(struct qfile *files, size_t *n)
{
	size_t i, k = 0;

	for (i = 0; i < *n; i++)
		if (files[i].size == 0 || !pool_trim_one(&files[i]))
			files[k++] = files[i];
	*n = k;
}

void
queue_pool_trim(void)
{
	pool_trim(q.pool, &q.npool);
	pool_trim(q.renamed, &q.nrenamed);
	q.trim_due = false;
}

static void
q_open(uint32_t id)
{
	struct qopen *op;
	struct ipc_out o;
	int dupfd;

	if (q.npool == 0)
		pool_fill();
	if (q.npool == 0 || (dupfd = dup(q.pool[q.npool - 1].fd)) == -1) {
		smtp_reply(id, Q_OPEN_FAIL, NULL, -1, "cannot create a queue file");
		return;
	}
	q.npool--;
	op = xcalloc(1, sizeof(*op));
	memcpy(op->qid, q.pool[q.npool].qid, sizeof(op->qid));
	op->fd = q.pool[q.npool].fd;
	op->next = opens;
	opens = op;
	ipc_out_init(&o);
	ipc_put_str(&o, op->qid);
	ipc_put_u64(&o, q.pool[q.npool].size);	/* written over from 0 */
	(void)ipc_send(&smtp_ch, Q_OPEN_OK, id, dupfd, &o);	/* closes dupfd */
}

static struct qopen *
open_take(const char *qid)
{
	struct qopen **pp, *op;

	for (pp = &opens; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->qid, qid) == 0) {
			op = *pp;
			*pp = op->next;
			return op;
		}
	return NULL;
}

static void
open_discard(struct qopen *op)
{
	close(op->fd);
	(void)unlinkat_bg(q.dirfd, op->qid);
	free(op);
}

/* commit_fail - the commit of op is refused: remove its file, answer */
static void
commit_fail(uint32_t id, struct qopen *op, const char *err)
{
	log_warnx("qid=%s not committed: %s", op->qid, err);
	open_discard(op);
	smtp_reply(id, Q_COMMIT_FAIL, NULL, -1, err);
}

/* commit_done - p's file is durable: record it, queue it, answer 250 */
static void
commit_done(struct qpending *p)
{
	struct qmsg *m;

	if (p->env.once[0] && queue_once_seen(p->env.once)) {
		log_info("qid=%s once=%s: fetched before, not queued again",
		    p->op->qid, p->env.once);
		queue_env_free(&p->env);
		open_discard(p->op);
		smtp_reply(p->id, Q_COMMIT_OK, NULL, -1, NULL);
		return;
	}
	if (p->env.once[0] && queue_once_record(p->env.once, true) == -1) {
		queue_env_free(&p->env);
		commit_fail(p->id, p->op,
		    "cannot record the fetched message's key");
		return;
	}
	m = queue_add(&p->env, false, p->size);
	queue_keep_wfd(m, p->op->fd);
	free(p->op);
	q.busy = true;
	q.last_commit = ev_now();
	smtp_reply(p->id, Q_COMMIT_OK, NULL, -1, NULL);
	queue_schedule(m);
}

/*
 * commit_flush - end of the round: make the batch durable (every file's
 * fsync issued at once, lib/fsyncv.h), then answer each
 */
static void
commit_flush(struct ev_timer *t, void *arg)
{
	struct qpending *p, *next, *batch = pending;
	int fds[COMMIT_MAX], errs[COMMIT_MAX];
	size_t n, i;

	(void)t;
	(void)arg;
	pending = NULL;
	pending_tail = &pending;
	while (batch != NULL) {
		for (p = batch, n = 0; p && n < COMMIT_MAX; p = p->next)
			fds[n++] = p->op->fd;
		(void)fsyncv(fds, errs, n);
		for (p = batch, i = 0; i < n; p = next, i++) {
			next = p->next;
			if (errs[i] != 0) {
				queue_env_free(&p->env);
				commit_fail(p->id, p->op, "fsync failed");
			} else
				commit_done(p);
			free(p);
		}
		batch = p;
	}
}

/* q_commit - check the file; its fsync and answer wait for the round's end */
static void
q_commit(uint32_t id, const char *qid, uint64_t size)
{
	struct qopen *op = open_take(qid);
	struct qpending *p;
	struct stat st;
	const char *err = "unknown queue id";

	if (op == NULL) {
		smtp_reply(id, Q_COMMIT_FAIL, NULL, -1, err);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	if (fstat(op->fd, &st) == -1 || (uint64_t)st.st_size != size)
		err = "size mismatch";
	else if (queue_file_read_env_size(op->fd, size, &p->env, &err) == 0) {
		if (strcmp(p->env.qid, qid) != 0) {
			err = "queue id mismatch";
			queue_env_free(&p->env);
		} else
			err = NULL;
	}
	if (err) {
		free(p);
		commit_fail(id, op, err);
		return;
	}
	p->id = id;
	p->op = op;
	p->size = size;
	*pending_tail = p;
	pending_tail = &p->next;
	if (!ev_timer_pending(&commit_timer))
		ev_timer_add(&commit_timer, 0);
}

static void
on_smtp_msg(struct ipc *ch, struct ipc_msg *im, void *arg)
{
	const char *qid;
	uint64_t size;
	struct qopen *op;
	uint32_t n32;
	size_t n;

	(void)ch;
	(void)arg;
	if (im->fd != -1) {
		close(im->fd);
		im->fd = -1;
	}
	switch (im->hdr.type) {
	case Q_OPEN:
		/* no payload: one file; u32 n: n files (the smtp role's
		 * spares, id 0), one answer each */
		if (im->hdr.len == 0)
			q_open(im->hdr.id);
		else if (ipc_get_u32(im, &n32) && ipc_get_end(im) &&
		    n32 >= 1 && n32 <= POOL_SIZE)
			while (n32-- > 0)
				q_open(im->hdr.id);
		break;
	case Q_COMMIT:
		if (ipc_get_str(im, &qid, &n) && ipc_get_u64(im, &size) &&
		    ipc_get_end(im))
			q_commit(im->hdr.id, qid, size);
		break;
	case Q_ABORT:
		if (ipc_get_str(im, &qid, &n) && ipc_get_end(im) &&
		    (op = open_take(qid)) != NULL)
			open_discard(op);
		break;
	default:
		log_warnx("unexpected message %u from the smtp role", im->hdr.type);
		break;
	}
}

void
queue_accept_init(int smtp_fd)
{
	ipc_init(&smtp_ch, smtp_fd, on_smtp_msg, queue_peer_gone, "smtp");
	ev_timer_init(&commit_timer, commit_flush, NULL);
}
