/* SPDX-License-Identifier: ISC */
/*
 * queue_accept.c - the queue role's side of accepting mail: the channel
 * to the smtp role (Q_OPEN, Q_COMMIT, Q_ABORT) and the pool of queue files.
 *
 * Q_OPEN passes the descriptor of a file from the pool: empty files made
 * ahead, POOL_SIZE at a time, whose directory entries were fsync'd once
 * for the batch.  The session writes message and envelope; Q_COMMIT reads
 * the envelope back, fsyncs the file and only then answers Q_COMMIT_OK,
 * which becomes the 250.  Q_ABORT, or a file without its footer found at
 * start (queue.c), removes the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xmem.h"
#include "queue.h"

static struct ipc	 smtp_ch;

/* messages being written by sessions: not in the table yet */
struct qopen {
	char		 qid[QUEUE_ID_LEN + 1];
	int		 fd;
	struct qopen	*next;
};
static struct qopen	*opens;

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
 * The file pool: queue files are created ahead, POOL_SIZE at a time, with
 * one fsync of the directory for the batch, so that committing a message
 * needs only the fsync of its own file before the 250.  Unused pool files
 * are empty and are removed at start like any file without its footer.
 */
static void
pool_fill(void)
{
	char qid[QUEUE_ID_LEN + 1], path[4096];
	int fd, tries = 0;

	while (q.npool < POOL_SIZE && tries++ < 2 * POOL_SIZE) {
		queue_id_new(qid);
		if (!queue_path(path, sizeof(path), qid, ""))
			break;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1) {
			if (errno == EEXIST)
				continue;
			log_warn("queue: cannot create a file in %s", q.msgdir);
			break;
		}
		memcpy(q.pool[q.npool].qid, qid, sizeof(qid));
		q.pool[q.npool++].fd = fd;
	}
	if (fsync(q.dirfd) == -1) {
		log_warn("fsync %s", q.msgdir);
		while (q.npool > 0) {	/* not durable: do not use them */
			q.npool--;
			close(q.pool[q.npool].fd);
			if (queue_path(path, sizeof(path), q.pool[q.npool].qid, ""))
				(void)unlink(path);
		}
	}
}

static void
q_open(uint32_t id)
{
	struct qopen *op;
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
	smtp_reply(id, Q_OPEN_OK, op->qid, dupfd, NULL);
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
	char path[4096];

	close(op->fd);
	if (queue_path(path, sizeof(path), op->qid, ""))
		(void)unlink(path);
	free(op);
}

static void
q_commit(uint32_t id, const char *qid, uint64_t size)
{
	struct qopen *op = open_take(qid);
	struct queue_env env;
	struct stat st;
	const char *err = "unknown queue id";
	struct qmsg *m;

	if (op == NULL) {
		smtp_reply(id, Q_COMMIT_FAIL, NULL, -1, err);
		return;
	}
	if (fstat(op->fd, &st) == -1 || (uint64_t)st.st_size != size)
		err = "size mismatch";
	else if (queue_file_read_env(op->fd, &env, &err) == 0) {
		if (strcmp(env.qid, qid) != 0) {
			err = "queue id mismatch";
			queue_env_free(&env);
		} else if (fsync(op->fd) == -1) {
			err = "fsync failed";
			queue_env_free(&env);
		} else
			err = NULL;
	}
	if (err == NULL && env.once[0] && queue_once_seen(env.once)) {
		log_info("qid=%s once=%s: fetched before, not queued again",
		    qid, env.once);
		queue_env_free(&env);
		open_discard(op);
		smtp_reply(id, Q_COMMIT_OK, NULL, -1, NULL);
		return;
	}
	if (err == NULL && env.once[0] && queue_once_record(env.once, true) == -1) {
		err = "cannot record the fetched message's key";
		queue_env_free(&env);
	}
	if (err) {
		log_warnx("qid=%s not committed: %s", qid, err);
		open_discard(op);
		smtp_reply(id, Q_COMMIT_FAIL, NULL, -1, err);
		return;
	}
	close(op->fd);
	free(op);
	m = queue_add(&env, false);
	q.busy = true;
	smtp_reply(id, Q_COMMIT_OK, NULL, -1, NULL);
	queue_schedule(m);
}

static void
on_smtp_msg(struct ipc *ch, struct ipc_msg *im, void *arg)
{
	const char *qid;
	uint64_t size;
	struct qopen *op;
	size_t n;

	(void)ch;
	(void)arg;
	if (im->fd != -1) {
		close(im->fd);
		im->fd = -1;
	}
	switch (im->hdr.type) {
	case Q_OPEN:
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
}
