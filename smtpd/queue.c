/* SPDX-License-Identifier: ISC */
/*
 * queue.c - the queue role: owns state_dir/queue, makes accepted mail
 * durable, and drives every delivery until each recipient is done.
 *
 * Files (state_dir/queue/msg/):
 *   QID        one message and its envelope (queue_file.c), mode 0600
 *   QID.done   recipients finished so far, one decimal index per line,
 *              appended after each delivery (multi-recipient messages)
 *
 * Accepting (the smtp role's Q_OPEN/Q_COMMIT/Q_ABORT, the pool of queue
 * files): queue_accept.c.  At start, files without their footer were never
 * committed: empty pool files are removed, the others (a transaction cut by
 * a crash) set aside in corrupt/ (move_aside); the rest are resumed.
 *
 * Delivering: local recipients go to the deliver role (D_DELIVER, at most
 * DELIVER_INFLIGHT at once, the rest wait in a FIFO); remote ones to the
 * relay role (R_SEND).  When every recipient is done the message file
 * is recycled into the pool (msg_recycle) or removed, QID.done removed.
 *
 * The relay role runs on demand: when a remote recipient is due and no
 * relay is connected, the queue asks the parent for one (P_RELAY_START,
 * once until it comes) and the recipients stay pending; the parent
 * answers with the new role's channel (P_RELAY_FD).  When that channel
 * closes (the relay exited idle, or died), every R_SEND without its
 * R_DONE is taken back: the first time for a message its unanswered
 * recipients are pending again at once, not counted as an attempt (the
 * send may have crossed the relay's idle exit); after that each loss
 * counts as a temporary failure, so a message that makes the relay role
 * crash is retried, expires and bounces like any other instead of
 * crashing it again every few seconds.  A temporary failure is retried
 * after [queue] retry, doubling
 * up to max_retry; past expire, or on a permanent failure, the sender gets
 * a bounce (queue_bounce.c) unless the message is itself a bounce.
 *
 * Exactly once: a crash between a finished delivery and the removal of
 * the queue file is resolved at start by .done, and for the last copy by
 * the deliver role finding the deterministic Maildir name ("recovered").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "dirsync.h"
#include "ev.h"
#include "fsyncv.h"
#include "log.h"
#include "strnum.h"
#include "xmem.h"
#include "queue.h"

#define DELIVER_INFLIGHT	64
#define TICK_MS			1000
#define TRIM_IDLE_MS		2000	/* queue_pool_trim after this long idle */
#define HASH_SIZE		1024

struct queue	 q;

static struct ipc	 deliver_ch, relay_ch, parent_ch;
static struct ev_timer	 tick_timer, relay_kick_timer;
/* the relay role: none, asked of the parent, or connected on relay_ch */
static enum { RELAY_DOWN, RELAY_ASKED, RELAY_UP } relay_state;

static unsigned
hash_qid(const char *qid)
{
	unsigned h = 5381;

	while (*qid)
		h = h * 33 + (unsigned char)*qid++;
	return h % HASH_SIZE;
}

struct qmsg *
queue_find(const char *qid)
{
	struct qmsg *m;

	for (m = q.table[hash_qid(qid)]; m; m = m->hnext)
		if (strcmp(m->env.qid, qid) == 0)
			return m;
	return NULL;
}

static void
msg_insert(struct qmsg *m)
{
	unsigned h = hash_qid(m->env.qid);

	m->hnext = q.table[h];
	q.table[h] = m;
	m->prev = q.tail;
	if (q.tail)
		q.tail->next = m;
	else
		q.head = m;
	q.tail = m;
	q.nmsg++;
}

bool
queue_path(char *out, size_t outsz, const char *qid, const char *suffix)
{
	return bsnprintf(out, outsz, "%s/%s%s", q.msgdir, qid, suffix);
}

/*
 * queue_keep_wfd - a committed message keeps the read-write descriptor its
 * pool file came with (fd), for msg_recycle: one openat(2) and one
 * close(2) fewer per message.  Bounded (WFD_KEEP), so that a long queue
 * does not run the role out of descriptors; past it, fd is closed and the
 * recycle opens the file again.
 */
void
queue_keep_wfd(struct qmsg *m, int fd)
{
	if (q.nwfd < WFD_KEEP) {
		m->wfd = fd;
		q.nwfd++;
	} else
		close(fd);
}

/* msg_drop_wfd - close m's kept pool descriptor, if any */
static void
msg_drop_wfd(struct qmsg *m)
{
	if (m->wfd != -1) {
		close(m->wfd);
		m->wfd = -1;
		q.nwfd--;
	}
}

static void
msg_free(struct qmsg *m)
{
	struct qmsg **pp;

	for (pp = &q.table[hash_qid(m->env.qid)]; *pp; pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	if (m->prev)
		m->prev->next = m->next;
	else
		q.head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		q.tail = m->prev;
	q.nmsg--;
	if (m->waiting) {
		struct qmsg **wp, *prev = NULL;

		for (wp = &q.whead; *wp; prev = *wp, wp = &(*wp)->wnext)
			if (*wp == m) {
				*wp = m->wnext;
				if (q.wtail == m)
					q.wtail = prev;
				break;
			}
	}
	if (m->fd != -1)
		close(m->fd);
	msg_drop_wfd(m);
	for (size_t i = 0; i < m->env.nrcpt; i++)
		free(m->state[i].last);
	free(m->state);
	queue_env_free(&m->env);
	free(m);
}

int
queue_msg_fd(struct qmsg *m)
{
	if (m->fd == -1)
		m->fd = openat(q.dirfd, m->env.qid, O_RDONLY | O_CLOEXEC);
	return m->fd;
}

/* msg_dup - a descriptor of the message file to pass to a role */
static int
msg_dup(struct qmsg *m)
{
	int fd;

	if (queue_msg_fd(m) == -1 || (fd = dup(m->fd)) == -1) {
		log_warn("qid=%s open", m->env.qid);
		return -1;
	}
	return fd;
}

static void
msg_release_fd(struct qmsg *m)
{
	if (m->fd != -1 && m->ninflight == 0 && !m->relaying) {
		close(m->fd);
		m->fd = -1;
	}
}

/* queue_rename - renameat2(RENAME_NOREPLACE) within msg/; -1 (errno) */
static int
queue_rename(const char *from, const char *to)
{
#ifdef SYS_renameat2
	return (int)syscall(SYS_renameat2, q.dirfd, from, q.dirfd, to,
	    1 /* RENAME_NOREPLACE */);
#else
	(void)from;
	(void)to;
	errno = ENOSYS;
	return -1;
#endif
}

uint64_t
queue_removed(void)
{
	return fsyncv_removed() + q.nrename;
}

/*
 * msg_recycle - the finished file becomes a pool file under a new QID
 * instead of being unlinked and another created: ext4 without a journal
 * scans past every inode freed in the last seconds to allocate one, which
 * at a few hundred messages a second cost the queue's and the deliver
 * role's creates ~100-200 us each.  A file of up to RECYCLE_OVER_MAX
 * bytes is only renamed, here, and the next message is written over it
 * (queue_file.c: slack and CRC): no blocks freed and allocated again, no
 * discard, no kernel worker (issue 17: ~50 us of CPU a message).  A
 * larger one is truncated and renamed in the background (recycle_bg,
 * lib/fsyncv.h), so as not to keep its blocks.  queue_accept.c takes it
 * into the pool, whose directory fsync makes the new name durable before
 * it is handed out.  At every instant the file is the old message under
 * its old name (a finished message found again after a crash, as when the
 * unlink was cut: exactly once, see the top), or under the new name
 * (whose id is not its name: removed at start), or empty.
 */
static bool
msg_recycle(struct qmsg *m)
{
	char to[QUEUE_ID_LEN + 1];
	bool small = m->fsize <= RECYCLE_OVER_MAX && q.nrenamed < RENAMED_MAX;
	int fd;

	if (!small && !recycle_possible())
		return false;
	if ((fd = m->wfd) != -1) {	/* it goes to the pool or the ring */
		m->wfd = -1;
		q.nwfd--;
	} else if ((fd = openat(q.dirfd, m->env.qid, O_RDWR | O_CLOEXEC)) == -1)
		return false;
	queue_id_new(to);
	if (small && queue_rename(m->env.qid, to) == 0) {
		struct qfile *f = &q.renamed[q.nrenamed++];

		memcpy(f->qid, to, sizeof(f->qid));
		f->fd = fd;
		f->size = m->fsize;
		q.nrename++;
		q.trim_due = true;
		return true;
	}
	if (recycle_possible() && recycle_bg(fd, q.dirfd, m->env.qid, to))
		return true;
	close(fd);
	return false;
}

/* msg_remove - every recipient is done: the message leaves the queue */
static void
msg_remove(struct qmsg *m)
{
	char done[QUEUE_ID_LEN + sizeof(".done")];

	/*
	 * Closed first, then recycled, or unlinked, in the background
	 * (lib/fsyncv.h): the blocks are freed in a kernel worker, not in
	 * this loop, which the next commit may be waiting for.  QID.done is written only for
	 * messages with several recipients.
	 */
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (m->env.nrcpt > 1 &&
	    bsnprintf(done, sizeof(done), "%s.done", m->env.qid))
		(void)unlinkat_bg(q.dirfd, done);
	if (!msg_recycle(m)) {
		msg_drop_wfd(m);	/* closed before the unlink, as m->fd */
		(void)unlinkat_bg(q.dirfd, m->env.qid);
	}
	log_info("qid=%s removed", m->env.qid);
	msg_free(m);
}

int
queue_remove_msg(struct qmsg *m)
{
	if (m->ninflight || m->relaying)
		return -1;
	log_info("qid=%s removed by facteur-ctl", m->env.qid);
	msg_remove(m);
	return 0;
}

/* rcpt_done - record a finished recipient (delivered, bounced, given up) */
void
queue_rcpt_done(struct qmsg *m, size_t i)
{
	char path[4096], line[24];
	int fd, n;

	m->state[i].status = RCPT_DONE;
	m->ndone++;
	if (m->ndone == m->env.nrcpt)
		return;
	/* more to come: remember this one across a crash */
	if (!queue_path(path, sizeof(path), m->env.qid, ".done"))
		return;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("%s", path);
		return;
	}
	n = snprintf(line, sizeof(line), "%zu\n", i);
	if (write(fd, line, (size_t)n) != n)
		log_warn("%s", path);
	close(fd);
}

static uint64_t	retry_delay(unsigned attempts);

/*
 * msg_check_done - write the bounce of m's failed recipients, if any, and
 * remove m once every recipient is done.  A bounce that cannot be written
 * (a full queue file system) is tried again after [queue] retry, doubling
 * like a delivery, not at every tick: one log line per try.
 */
static void
msg_check_done(struct qmsg *m)
{
	size_t i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->state[i].status == RCPT_FAILED) {
			if (ev_now() < m->bounce_next_try)
				break;
			if (queue_bounce_write(m) == 0) {
				for (i = 0; i < m->env.nrcpt; i++)
					if (m->state[i].status == RCPT_FAILED)
						queue_rcpt_done(m, i);
			} else
				m->bounce_next_try = ev_now() +
				    retry_delay(++m->bounce_tries);
			break;
		}
	if (m->ndone == m->env.nrcpt && m->ninflight == 0 && !m->relaying)
		msg_remove(m);
	else
		msg_release_fd(m);
}

bool
queue_is_local(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at && conf_is_local_domain(smtpd_conf, at + 1, strlen(at + 1));
}

/* ---- local delivery ---------------------------------------------------- */

static void
wait_push(struct qmsg *m)
{
	if (m->waiting)
		return;
	m->waiting = true;
	m->wnext = NULL;
	if (q.wtail)
		q.wtail->wnext = m;
	else
		q.whead = m;
	q.wtail = m;
}

static struct qmsg *
wait_pop(void)
{
	struct qmsg *m = q.whead;

	if (m) {
		q.whead = m->wnext;
		if (q.whead == NULL)
			q.wtail = NULL;
		m->waiting = false;
	}
	return m;
}

/* deliver_local - hand the pending local recipients of m to the deliver role */
static void
deliver_local(struct qmsg *m)
{
	struct ipc_out o;
	size_t i;
	int fd;

	for (i = 0; i < m->env.nrcpt; i++) {
		struct rcpt_state *st = &m->state[i];

		if (st->status != RCPT_PENDING || !st->local ||
		    st->next_try > ev_now())
			continue;
		if (q.deliver_inflight >= DELIVER_INFLIGHT) {
			wait_push(m);
			return;
		}
		/*
		 * A single recipient's message is sent once: a descriptor of
		 * its own, handed over and closed by ipc_send, costs two
		 * system calls fewer than a dup of one kept in m->fd.
		 */
		if (m->env.nrcpt == 1 && m->fd == -1) {
			if ((fd = openat(q.dirfd, m->env.qid, O_RDONLY |
			    O_CLOEXEC)) == -1) {
				log_warn("qid=%s open", m->env.qid);
				return;
			}
		} else if ((fd = msg_dup(m)) == -1)
			return;
		ipc_out_init(&o);
		ipc_put_str(&o, m->env.qid);
		ipc_put_u32(&o, (uint32_t)i);
		ipc_put_str(&o, m->env.rcpt[i].addr);
		ipc_put_str(&o, m->env.from);
		ipc_put_str(&o, m->env.prepend ? m->env.prepend : "");
		ipc_put_u64(&o, m->env.msglen);
		ipc_put_u64(&o, (uint64_t)m->env.time);
		ipc_put_u32(&o, m->recovered ? 1 : 0);
		ipc_put_u32(&o, m->env.junk ? 1 : 0);
		if (ipc_send(&deliver_ch, D_DELIVER, 0, fd, &o) == -1)
			log_panic("cannot queue a delivery");	/* fd closed */
		st->status = RCPT_INFLIGHT;
		m->ninflight++;
		q.deliver_inflight++;
	}
}

static void
deliver_waiting(void)
{
	struct qmsg *m;

	while (q.deliver_inflight < DELIVER_INFLIGHT && (m = wait_pop()) != NULL)
		deliver_local(m);
}

/* ---- results ----------------------------------------------------------- */

/* retry_delay - [queue] retry doubling per attempt, up to max_retry (ms) */
static uint64_t
retry_delay(unsigned attempts)
{
	uint64_t d = (uint64_t)(smtpd_conf->queue.retry ? smtpd_conf->queue.retry : 300) * 1000;
	uint64_t max = (uint64_t)(smtpd_conf->queue.max_retry ? smtpd_conf->queue.max_retry : 14400) * 1000;

	while (attempts-- > 1 && d < max)
		d *= 2;
	return d < max ? d : max;
}

/* queue_result - the outcome of one attempt for recipient i of m */
static void
queue_result(struct qmsg *m, size_t i, uint32_t res, const char *text)
{
	struct rcpt_state *st = &m->state[i];
	bool expired;

	free(st->last);
	st->last = xstrdup(text);
	st->attempts++;
	if (res == RES_OK) {
		queue_rcpt_done(m, i);
		return;
	}
	expired = (int64_t)time(NULL) - m->env.time > (int64_t)smtpd_conf->queue.expire;
	if (res == RES_PERMFAIL || expired) {
		st->expired = res != RES_PERMFAIL;
		log_info("qid=%s to=<%s> status=bounced (%s)%s", m->env.qid,
		    m->env.rcpt[i].orig, text, expired && res != RES_PERMFAIL ?
		    " expired" : "");
		st->status = RCPT_FAILED;
		return;
	}
	st->status = RCPT_PENDING;
	st->next_try = ev_now() + retry_delay(st->attempts);
}

static void
on_deliver_msg(struct ipc *ch, struct ipc_msg *im, void *arg)
{
	const char *qid, *text;
	uint32_t idx, res;
	struct qmsg *m;
	size_t n;

	(void)ch;
	(void)arg;
	if (im->fd != -1)
		close(im->fd);
	if (im->hdr.type != D_RESULT || !ipc_get_str(im, &qid, &n) ||
	    !ipc_get_u32(im, &idx) || !ipc_get_u32(im, &res) ||
	    !ipc_get_str(im, &text, &n) || !ipc_get_end(im))
		log_panic("malformed message from the deliver role");
	q.deliver_inflight--;
	if ((m = queue_find(qid)) == NULL || idx >= m->env.nrcpt ||
	    m->state[idx].status != RCPT_INFLIGHT)
		log_panic("deliver result for an unknown delivery %s/%u", qid, idx);
	m->ninflight--;
	queue_result(m, idx, res, text);
	msg_check_done(m);
	deliver_waiting();
}

/* ---- relay ------------------------------------------------------------- */

/* relay_want - remote mail is due: ask the parent for a relay role, once */
static void
relay_want(void)
{
	struct ipc_out o;

	if (relay_state != RELAY_DOWN)
		return;
	ipc_out_init(&o);
	if (ipc_send(&parent_ch, P_RELAY_START, 0, -1, &o) == -1) {
		log_warn("cannot ask the parent for a relay role");
		return;
	}
	relay_state = RELAY_ASKED;
	log_debug("asking the parent for a relay role");
}

static void
relay_send(struct qmsg *m)
{
	struct ipc_out o;
	size_t i, n = 0, slot;
	int fd;

	if (m->relaying || q.relay_inflight >= RELAY_INFLIGHT)
		return;
	for (i = 0; i < m->env.nrcpt; i++)
		if (m->state[i].status == RCPT_PENDING && !m->state[i].local &&
		    m->state[i].next_try <= ev_now())
			n++;
	if (n == 0)
		return;
	if (relay_state != RELAY_UP) {
		relay_want();	/* pending until the relay role is there */
		return;
	}
	if ((fd = msg_dup(m)) == -1)
		return;
	ipc_out_init(&o);
	ipc_put_str(&o, m->env.qid);
	ipc_put_str(&o, m->env.from);
	ipc_put_u64(&o, m->env.msglen);
	ipc_put_str(&o, m->env.prepend ? m->env.prepend : "");
	ipc_put_u32(&o, (uint32_t)n);
	for (i = 0; i < m->env.nrcpt; i++) {
		struct rcpt_state *st = &m->state[i];

		if (st->status == RCPT_PENDING && !st->local && st->next_try <= ev_now()) {
			ipc_put_u32(&o, (uint32_t)i);
			ipc_put_str(&o, m->env.rcpt[i].addr);
			st->status = RCPT_INFLIGHT;
		}
	}
	for (slot = 0; q.relaying[slot] != NULL; slot++)	/* one is free */
		;
	m->relay_id = (uint32_t)slot + 1;
	if (ipc_send(&relay_ch, R_SEND, m->relay_id, fd, &o) == -1) {	/* fd closed */
		log_warnx("qid=%s cannot hand the message to the relay role", m->env.qid);
		for (i = 0; i < m->env.nrcpt; i++)
			if (m->state[i].status == RCPT_INFLIGHT && !m->state[i].local) {
				m->state[i].status = RCPT_PENDING;
				m->state[i].next_try = ev_now() + TICK_MS * 60;
			}
		return;
	}
	m->relaying = true;
	q.relaying[slot] = m;
	q.relay_inflight++;
}

/* relay_find - the message of an R_SEND: its id is its slot + 1 */
static struct qmsg *
relay_find(uint32_t id)
{
	return id >= 1 && id <= RELAY_INFLIGHT ? q.relaying[id - 1] : NULL;
}

static void
on_relay_msg(struct ipc *ch, struct ipc_msg *im, void *arg)
{
	struct qmsg *m;
	uint32_t idx, res;
	const char *text;
	size_t n, i;

	(void)ch;
	(void)arg;
	if (im->fd != -1)
		close(im->fd);
	if ((m = relay_find(im->hdr.id)) == NULL) {
		log_warnx("relay answer for an unknown request %u", im->hdr.id);
		return;
	}
	if (im->hdr.type == R_RESULT) {
		if (!ipc_get_u32(im, &idx) || !ipc_get_u32(im, &res) ||
		    !ipc_get_str(im, &text, &n) || !ipc_get_end(im) ||
		    idx >= m->env.nrcpt || m->state[idx].status != RCPT_INFLIGHT ||
		    m->state[idx].local || res > RES_PERMFAIL) {
			log_warnx("qid=%s malformed relay result", m->env.qid);
			return;
		}
		queue_result(m, idx, res, text);
		return;
	}
	if (im->hdr.type != R_DONE)
		return;
	m->relaying = false;
	q.relaying[m->relay_id - 1] = NULL;
	q.relay_inflight--;
	for (i = 0; i < m->env.nrcpt; i++)	/* not answered: try again later */
		if (m->state[i].status == RCPT_INFLIGHT && !m->state[i].local)
			queue_result(m, i, RES_TEMPFAIL, "no result from the relay");
	msg_check_done(m);
	/* half the relay's slots are free: refill now, not at the next tick */
	if (q.relay_inflight == RELAY_INFLIGHT / 2 &&
	    !ev_timer_pending(&relay_kick_timer))
		ev_timer_add(&relay_kick_timer, 0);
}

/* on_relay_kick - hand waiting messages to the relay while it has room */
static void
on_relay_kick(struct ev_timer *t, void *arg)
{
	struct qmsg *m;

	(void)t;
	(void)arg;
	for (m = q.head; m && q.relay_inflight < RELAY_INFLIGHT; m = m->next)
		relay_send(m);
}

/*
 * on_relay_gone - the relay role closed its channel: it exited idle (then
 * any R_SEND out crossed its exit and was never started) or died.  Every
 * R_SEND without its R_DONE is taken back; its unanswered recipients are
 * due again now (the first time for that message) or after the retry
 * delay of a temporary failure (the next times), and go to the next
 * relay role.
 */
static void
on_relay_gone(struct ipc *ch, void *arg)
{
	struct qmsg *m;
	size_t slot, i, n = 0;
	bool again;

	(void)ch;
	(void)arg;
	relay_state = RELAY_DOWN;
	for (slot = 0; slot < RELAY_INFLIGHT; slot++) {
		if ((m = q.relaying[slot]) == NULL)
			continue;
		q.relaying[slot] = NULL;
		q.relay_inflight--;
		m->relaying = false;
		again = m->relay_lost++ == 0;
		for (i = 0; i < m->env.nrcpt; i++) {
			if (m->state[i].status != RCPT_INFLIGHT ||
			    m->state[i].local)
				continue;
			if (again) {
				m->state[i].status = RCPT_PENDING;
				m->state[i].next_try = 0;
			} else
				queue_result(m, i, RES_TEMPFAIL, "the relay role "
				    "ended during the delivery");
		}
		msg_check_done(m);
		n++;
	}
	if (n > 0)
		log_info("the relay role is gone with %zu messages not finished; "
		    "they go to the next one", n);
	else
		log_debug("the relay role is gone");
	ev_timer_add(&relay_kick_timer, 0);
}

/* on_parent_msg - P_RELAY_FD: the relay role asked for is there */
static void
on_parent_msg(struct ipc *ch, struct ipc_msg *im, void *arg)
{
	(void)ch;
	(void)arg;
	if (im->hdr.type != P_RELAY_FD || im->fd == -1 || !ipc_get_end(im) ||
	    relay_state != RELAY_ASKED) {
		log_warnx("unexpected message %u from the parent", im->hdr.type);
		if (im->fd != -1)
			close(im->fd);
		im->fd = -1;
		return;
	}
	ipc_init(&relay_ch, im->fd, on_relay_msg, on_relay_gone, NULL);
	im->fd = -1;
	relay_state = RELAY_UP;
	ev_timer_add(&relay_kick_timer, 0);
}

/* ---- scheduling -------------------------------------------------------- */

/* queue_schedule - start whatever m can do now */
void
queue_schedule(struct qmsg *m)
{
	deliver_local(m);
	relay_send(m);
	msg_check_done(m);
}

/*
 * sync_removals - removals of finished files (recycles' renames, unlinks)
 * made durable within a tick or two: without it they were durable only at
 * the pool's next fsync of msg/, maybe hours later on a quiet server, and
 * a power cut until then brought a finished message back, which was
 * delivered again if its Maildir file had meanwhile been moved or
 * expunged over IMAP (the deliver role looks for its name).  One fsync of
 * msg/ a second at most, only after removals.
 */
static void
sync_removals(void)
{
	uint64_t n = queue_removed();

	if (n == q.removed_synced)
		return;
	if (fsync(q.dirfd) == -1)
		log_warn("fsync %s", q.msgdir);
	else
		q.removed_synced = n;
}

static void
on_tick(struct ev_timer *t, void *arg)
{
	struct qmsg *m, *next;

	(void)arg;
	for (m = q.head; m; m = next) {
		next = m->next;
		if (!m->waiting)
			queue_schedule(m);
	}
	fsyncv_collect();	/* the last recycles of a burst finish */
	sync_removals();
	if (q.nmsg == 0 && q.busy) {	/* idle again: give the peak back */
		q.busy = false;
		malloc_trim(0);
	}
	/* nothing came for a while: no earlier message stays in the pool */
	if (q.nmsg == 0 && q.trim_due && ev_now() - q.last_commit >= TRIM_IDLE_MS)
		queue_pool_trim();
	ev_timer_add(t, TICK_MS);
}

/* queue_flush - facteur-ctl queue flush: every pending recipient, now */
void
queue_flush(void)
{
	struct qmsg *m;
	size_t i;

	for (m = q.head; m; m = m->next) {
		for (i = 0; i < m->env.nrcpt; i++)
			m->state[i].next_try = 0;
		m->bounce_next_try = 0;
	}
	on_tick(&tick_timer, NULL);
}

/*
 * queue_add - a committed or recovered message enters the table; fsize is
 * its file's size (msg_recycle: the next message is written over it)
 */
struct qmsg *
queue_add(struct queue_env *env, bool recovered, uint64_t fsize)
{
	struct qmsg *m = xcalloc(1, sizeof(*m));
	size_t i;

	m->fsize = fsize;
	m->env = *env;
	memset(env, 0, sizeof(*env));
	m->fd = -1;
	m->wfd = -1;
	m->recovered = recovered;
	m->state = xcalloc(m->env.nrcpt, sizeof(*m->state));
	for (i = 0; i < m->env.nrcpt; i++)
		m->state[i].local = queue_is_local(m->env.rcpt[i].addr);
	msg_insert(m);
	return m;
}

void
queue_peer_gone(struct ipc *ch, void *arg)
{
	log_warnx("the %s role went away; exiting", (const char *)arg);
	(void)ch;
	exit(1);
}

/* ---- start ------------------------------------------------------------- */

/* load_done - recipients finished before a crash (QID.done) */
static void
load_done(struct qmsg *m)
{
	char path[4096], line[32];
	FILE *f;

	if (!queue_path(path, sizeof(path), m->env.qid, ".done") ||
	    (f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *err;
		long long i;

		if (strchr(line, '\n') == NULL)
			break;		/* a torn last line */
		line[strcspn(line, "\n")] = '\0';
		i = strnum(line, 0, (long long)m->env.nrcpt - 1, &err);
		if (err == NULL && m->state[i].status != RCPT_DONE) {
			m->state[i].status = RCPT_DONE;
			m->ndone++;
		}
	}
	fclose(f);
}

/*
 * move_aside - a queue file that does not parse goes to state_dir/queue/
 * corrupt/ with its name, never deleted (issue 16 item 8): without an end
 * record it was never committed (its client got no 250), otherwise it was
 * damaged on disk; either way a person decides.  If it cannot move, it
 * stays where it is and is looked at again at the next start.  The move
 * is durable before it is logged: corrupt/ made with its parent fsync'd
 * (once per start), then corrupt/ fsync'd (the new name) and msg/ (the
 * old one gone); else a power cut could take the file out of msg/ and
 * not into corrupt/, or bring it back to msg/ to be set aside again.
 */
static void
move_aside(const char *qid, const char *path, const char *why)
{
	static bool dir_made;
	char *dir = xasprintf("%s/corrupt", q.dir);
	char *dst = xasprintf("%s/%s", dir, qid);

	if (!dir_made && mkdir_durable(dir, 0700) == 0)
		dir_made = true;
	if (!dir_made || rename(path, dst) == -1)
		log_warn("qid=%s does not parse (%s) and cannot be moved to %s",
		    qid, why, dir);
	else if (fsync_parent(dst) == -1 || fsync(q.dirfd) == -1)
		log_warn("qid=%s does not parse (%s): moved to %s, but not "
		    "durably (fsync)", qid, why, dst);
	else
		log_warnx("qid=%s does not parse (%s): moved to %s", qid, why,
		    dst);
	free(dst);
	free(dir);
}

static void
recover(void)
{
	struct dirent *de;
	struct queue_env env;
	struct stat st;
	char path[4096];
	const char *err;
	size_t n = 0, dropped = 0;
	DIR *d;
	int fd;

	if ((d = opendir(q.msgdir)) == NULL)
		fatal("%s", q.msgdir);
	while ((de = readdir(d)) != NULL) {
		struct qmsg *m;

		if (de->d_name[0] == '.' || !queue_id_valid(de->d_name))
			continue;
		if (!queue_path(path, sizeof(path), de->d_name, ""))
			continue;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		if (fstat(fd, &st) == -1) {
			close(fd);
			continue;
		}
		if (queue_file_read_env_size(fd, (uint64_t)st.st_size, &env,
		    &err) == 0 && strcmp(env.qid, de->d_name) != 0) {
			/*
			 * A committed message under another QID: only
			 * msg_recycle renames a file, and only a finished
			 * one, so this is a recycled file not written over
			 * (yet, or only in part: a message that got no 250),
			 * or one whose truncate a power cut lost.
			 */
			log_info("qid=%s held finished message qid=%s (a "
			    "recycled file): removed", de->d_name, env.qid);
			queue_env_free(&env);
			close(fd);
			(void)unlink(path);
			continue;
		}
		if (err == NULL && !queue_file_verify(fd, (uint64_t)st.st_size,
		    &env, &err))
			/*
			 * Not the bytes its footer was written for: blocks
			 * of a message written over a recycled file that a
			 * power cut kept only in part (it was not committed:
			 * the commit's fsync makes them all durable before
			 * the 250), or damage on the disk.  Never delivered.
			 */
			queue_env_free(&env);
		if (err != NULL) {
			/* never committed: the client got no 250 */
			if (st.st_size > 0) {
				close(fd);
				move_aside(de->d_name, path, err);
			} else {
				close(fd);	/* an unused pool file */
				(void)unlink(path);
				dropped--;
			}
			if (queue_path(path, sizeof(path), de->d_name, ".done"))
				(void)unlink(path);
			dropped++;
			continue;
		}
		close(fd);
		m = queue_add(&env, true, (uint64_t)st.st_size);
		if (m->env.once[0])	/* taken, maybe not recorded yet */
			(void)queue_once_record(m->env.once, false);
		load_done(m);
		n++;
	}
	closedir(d);
	if (queue_once_sync() == -1)
		log_warn("once: sync");
	/* stray .done files of removed messages */
	if ((d = opendir(q.msgdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char qid[QUEUE_ID_LEN + 1];

			if (strlen(de->d_name) != QUEUE_ID_LEN + 5 ||
			    strcmp(de->d_name + QUEUE_ID_LEN, ".done") != 0)
				continue;
			memcpy(qid, de->d_name, QUEUE_ID_LEN);
			qid[QUEUE_ID_LEN] = '\0';
			if (queue_find(qid) == NULL &&
			    queue_path(path, sizeof(path), qid, ".done"))
				(void)unlink(path);
		}
		closedir(d);
	}
	if (n || dropped)
		log_info("resuming %zu queued messages (%zu that do not parse set "
		    "aside)",
		    n, dropped);
}

void
queue_run(int smtp_fd, int deliver_fd, int parent_fd, int ctl_fd)
{
	struct qmsg *m, *next;

	/* started as root, the role is chrooted into state_dir/queue */
	q.dir = smtpd_privileged ? xstrdup("") :
	    xasprintf("%s/queue", smtpd_conf->state_dir);
	q.msgdir = xasprintf("%s/msg", q.dir);
	if ((q.dirfd = open(q.msgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", q.msgdir);
	recover();
	queue_ctl_init(ctl_fd);
	queue_accept_init(smtp_fd);
	ipc_init(&deliver_ch, deliver_fd, on_deliver_msg, queue_peer_gone, "deliver");
	ipc_init(&parent_ch, parent_fd, on_parent_msg, queue_peer_gone,
	    "parent");
	ev_timer_init(&tick_timer, on_tick, NULL);
	ev_timer_init(&relay_kick_timer, on_relay_kick, NULL);
	ev_timer_add(&tick_timer, TICK_MS);
	for (m = q.head; m; m = next) {
		next = m->next;
		queue_schedule(m);
	}
	ev_run();
	exit(0);
}
