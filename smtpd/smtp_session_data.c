/* SPDX-License-Identifier: ISC */
/*
 * smtp_session_data.c - DATA: from "354" to "250 queued as", through the
 * queue role.
 *
 * DATA asks the queue for a new file (Q_OPEN); the queue creates it under
 * state_dir/queue and passes the descriptor.  The session writes the
 * Received header, then the message as smtp_data_feed() unstuffs it into
 * LF form, then the envelope trailer (queue_file.c), closes its descriptor
 * and asks the queue to commit (Q_COMMIT): the queue checks the trailer,
 * fsyncs file and directory, and only then does the client get its 250.
 * A message with bare CR/LF, NUL, an over-long line or over max_size is
 * read to its end, refused with one reply, and its file removed (Q_ABORT).
 * A full queue file system is 452 4.3.1: at DATA when the room is known
 * short (no_room: SIZE, or not a block free), else after the final dot.
 * Messages of authenticated users whose From domain has a [dkim] sign line
 * are signed on the way (smtp_session_dkim.c); mail received on port 25
 * is checked (SPF, DKIM, DMARC: smtp_session_inbound.c), and on every port
 * forged Authentication-Results fields are dropped on the way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "crc32.h"
#include "log.h"
#include "nospace.h"
#include "xmem.h"
#include "smtp_session.h"

static char scratch[SESSION_IN_MAX + 1];

static void
queue_send_qid(struct session *s, uint32_t type, uint64_t size, bool with_size)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, s->qid);
	if (with_size)
		ipc_put_u64(&o, size);
	(void)smtp_server_queue_send(s, type, &o);
}

/* session_data_abort - drop a message being written, if any */
void
session_data_abort(struct session *s)
{
	if (s->qfd != -1) {
		close(s->qfd);
		s->qfd = -1;
		queue_send_qid(s, Q_ABORT, 0, false);
	}
	buf_free(&s->qhead);
	s->qid[0] = '\0';
	s->data_error = NULL;
	s->junk = false;
	s->spf_pass = false;
	session_inbound_free(s);
	session_milter_free(s);
	session_dkim_cancel(s);
	dkim_sign_free(&s->dkim);
	free(s->prepend);
	s->prepend = NULL;
}

void
session_data_start(struct session *s)
{
	struct ipc_out o;

	ipc_out_init(&o);
	if (smtp_server_queue_send(s, Q_OPEN, &o) == -1) {
		session_reply(s, "451 4.3.0 Queue unavailable, try again later");
		return;
	}
	session_wait(s);
}

/*
 * qwrite_failed - a write to the queue file failed with e: the message is
 * read to its final dot and refused then (session_data_abort drops the
 * file).  A full file system is RFC 3463's "mail system full", answered
 * 452 4.3.1 as Postfix does, so the client tries again later.
 */
static void
qwrite_failed(struct session *s, int e)
{
	errno = e;
	log_warn("session=%08x addr=%s qid=%s write to queue file "
	    "%s/queue/msg/%s%s", s->id, s->addr, s->qid, smtpd_conf->state_dir,
	    s->qid, errno_nospace(e) ? " (the queue's file system is full)" :
	    "");
	s->data_error = errno_nospace(e) ?
	    "452 4.3.1 Insufficient system storage, try again later" :
	    "451 4.3.0 Error writing to the queue, try again later";
}

/*
 * qwrite - n bytes to the queue file, after the Received header if it is
 * still held (s->qhead: one writev for both, not a write of its own)
 */
static void
qwrite(struct session *s, const char *p, size_t n)
{
	struct iovec iov[2];
	ssize_t w;
	size_t h;
	int k;

	while ((n > 0 || s->qhead.len > 0) && s->data_error == NULL) {
		k = 0;
		if ((h = s->qhead.len) > 0) {
			iov[k].iov_base = buf_head(&s->qhead);
			iov[k++].iov_len = h;
		}
		if (n > 0) {
			iov[k].iov_base = (void *)(uintptr_t)p;
			iov[k++].iov_len = n;
		}
		/* at its own offset: the descriptor's is shared with the queue's */
		w = pwritev(s->qfd, iov, k, (off_t)s->written);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			qwrite_failed(s, w == 0 ? EIO : errno);
			return;
		}
		s->written += (uint64_t)w;
		/* what went to the file, for the footer's CRC */
		s->qcrc = crc32_update(s->qcrc, iov[0].iov_base,
		    (size_t)w < iov[0].iov_len ? (size_t)w : iov[0].iov_len);
		if (k == 2 && (size_t)w > iov[0].iov_len)
			s->qcrc = crc32_update(s->qcrc, iov[1].iov_base,
			    (size_t)w - iov[0].iov_len);
		if ((size_t)w < h) {
			buf_drain(&s->qhead, (size_t)w);
			continue;
		}
		if (h > 0)
			buf_free(&s->qhead);
		if ((size_t)w > h) {	/* p may be NULL when n is 0 */
			p += (size_t)w - h;
			n -= (size_t)w - h;
		}
	}
}

/* received_header - RFC 5321 4.4 trace field, with RFC 3848 protocol names */
static void
received_header(struct session *s)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	struct buf b;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_init(&b, 4096);
	if (session_from_fetch(s))	/* README: Received says it was fetched */
		buf_printf(&b, "Received: (fetched from a remote mailbox by "
		    "facteur's [fetch])\n\tby %s (facteur) id %s",
		    smtpd_conf->hostname, s->qid);
	else if (s->l->kind == PORT_LOCAL)
		buf_printf(&b, "Received: (facteur-sendmail invoked by %s)\n"
		    "\tby %s (facteur) id %s", s->addr, smtpd_conf->hostname, s->qid);
	else
		buf_printf(&b, "Received: from %s ([%s%s])\n\tby %s (facteur) with "
		    "%s%s%s id %s", s->helo, strchr(s->addr, ':') ? "IPv6:" : "",
		    s->addr, smtpd_conf->hostname, s->esmtp ? "ESMTP" : "SMTP",
		    s->tls ? "S" : "", s->auth_user ? "A" : "", s->qid);
	if (s->tls)
		buf_printf(&b, "\n\t(%s)", s->tls_info);
	if (s->nrcpt == 1)
		buf_printf(&b, "\n\tfor <%s>", s->rcpts[0].orig);
	buf_printf(&b, ";\n\t%s\n", date);
	buf_free(&s->qhead);
	s->qhead = b;	/* written with the message's first bytes (qwrite) */
}

/*
 * no_room - before the 354: the queue's file system cannot hold this
 * message (RFC 1870: the SIZE the client declared, less what a recycled
 * file holds already), or, without SIZE, has not one free block and the
 * file none of its own.  Answering 452 4.3.1 now spares the client
 * sending the message only to be refused after its final dot; a message
 * that turns out bigger than the room is still refused then (qwrite).
 */
static bool
no_room(struct session *s)
{
	struct statvfs st;
	uint64_t avail, need;

	if (fstatvfs(s->qfd, &st) == -1)
		return false;		/* the writes will tell */
	avail = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	need = s->from.size > s->qsize ? s->from.size - s->qsize : 0;
	if (avail >= need && (avail > 0 || s->qsize > 0))
		return false;
	log_warnx("session=%08x addr=%s qid=%s refused: the queue's file "
	    "system (%s/queue) is full: %" PRIu64 " bytes free, SIZE=%" PRIu64,
	    s->id, s->addr, s->qid, smtpd_conf->state_dir, avail, s->from.size);
	return true;
}

static void
open_ok(struct session *s, struct ipc_msg *m)
{
	const char *qid;
	size_t n;

	if (!ipc_get_str(m, &qid, &n) || n != QUEUE_ID_LEN || m->fd == -1) {
		if (m->fd != -1)
			close(m->fd);
		session_reply(s, "451 4.3.0 Queue error, try again later");
		session_resume(s);
		return;
	}
	if (!ipc_get_u64(m, &s->qsize))
		s->qsize = 0;
	s->qfd = m->fd;
	m->fd = -1;
	memcpy(s->qid, qid, QUEUE_ID_LEN + 1);
	if (no_room(s)) {
		session_reply(s, "452 4.3.1 Insufficient system storage, try "
		    "again later");
		session_reset_transaction(s);	/* drops the file */
		session_resume(s);
		return;
	}
	s->written = 0;
	s->qcrc = 0;
	s->data_error = NULL;
	smtp_data_init(&s->d, smtpd_conf->smtp.max_size ? smtpd_conf->smtp.max_size :
	    UINT64_MAX);
	received_header(s);
	s->msg_start = s->qhead.len;
	session_dkim_start(s);
	session_inbound_data(s);
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->state = S_DATA;
	session_resume(s);
}

/* commit - write the envelope, hand the file to the queue */
void
session_data_commit(struct session *s)
{
	struct queue_env e;
	struct queue_rcpt *r;
	struct buf b;
	size_t i;

	memset(&e, 0, sizeof(e));
	memcpy(e.qid, s->qid, sizeof(e.qid));
	e.time = (int64_t)time(NULL);
	e.from = s->from.addr;
	e.auth = s->auth_user;
	e.ret = s->auth_user ? s->auth_user : s->ret;
	e.client = s->addr;
	e.helo = s->helo;
	e.prepend = s->prepend;
	e.junk = s->junk;
	/* whom a bounce may go back to (queue_bounce.c): not a forged sender;
	 * a trusted network's client is vouched for like a local uid */
	e.verified = s->auth_user != NULL || s->l->kind == PORT_LOCAL ||
	    s->trusted || s->spf_pass;
	memcpy(e.once, s->from.once, sizeof(e.once));
	e.msglen = s->written;
	e.msgcrc = s->qcrc;
	r = xcalloc(s->nrcpt, sizeof(*r));
	for (i = 0; i < s->nrcpt; i++) {
		r[i].addr = s->rcpts[i].addr;
		r[i].orig = s->rcpts[i].orig;
	}
	e.rcpt = r;
	e.nrcpt = s->nrcpt;
	buf_init(&b, 0);
	if (queue_file_trailer(&b, &e) == -1)
		s->data_error = "554 5.5.0 Envelope cannot be queued";
	else {
		/*
		 * A recycled file is written over, not shrunk (shrinking
		 * frees blocks, which may wait for the disk): the trailer
		 * goes at its end and what is left of the earlier message
		 * between is slack (queue_file.c)
		 */
		if (s->written + b.len < s->qsize)
			s->written = s->qsize - b.len;
		qwrite(s, buf_head(&b), b.len);
	}
	buf_free(&b);
	free(r);
	if (s->data_error) {
		session_reply(s, "%s", s->data_error);
		session_reset_transaction(s);
		session_resume(s);
		return;
	}
	close(s->qfd);
	s->qfd = -1;
	queue_send_qid(s, Q_COMMIT, s->written, true);
	session_wait(s);
}

/* data_end - the final dot was read */
static void
data_end(struct session *s)
{
	const char *err;

	qwrite(s, NULL, 0);	/* Received, if the message was empty */
	err = s->data_error;

	if (err == NULL && s->d.errors)
		err = smtp_data_error(s->d.errors);
	if (err == NULL)
		err = session_dkim_end(s);
	if (err) {
		log_info("session=%08x addr=%s qid=%s refused: %s", s->id, s->addr,
		    s->qid, err);
		session_reply(s, "%s", err);
		session_reset_transaction(s);
		s->state = S_CMD;
		return;
	}
	s->state = S_WAIT;
	conn_pause(&s->c, true);
	/* checks of port 25 mail, then signing, then session_data_commit() */
	session_inbound_end(s);
}

/*
 * While session_data_input() feeds a chunk of input, the message goes to
 * the queue file through one buffer: the Authentication-Results filter
 * hands it over in pieces (a line's first byte apart), and one write per
 * chunk costs less than one per piece.  The buffer is written before the
 * feed returns, so it never holds bytes between two events and whatever
 * reads or appends to the file afterwards finds them there.
 */
static char		 wbuf[16384];
static size_t		 wlen;
static struct session	*wowner;	/* non-NULL: buffering for it */

void
session_data_write(struct session *s, const char *p, size_t n)
{
	if (s->d.errors || s->data_error)
		return;
	session_dkim_feed(s, p, n);
	if (wowner != s) {
		qwrite(s, p, n);
		return;
	}
	if (n > sizeof(wbuf) - wlen) {
		qwrite(s, wbuf, wlen);
		wlen = 0;
	}
	if (n >= sizeof(wbuf) || s->data_error)
		qwrite(s, p, n);
	else {
		memcpy(wbuf + wlen, p, n);
		wlen += n;
	}
}

/* feed - n bytes of the message through the inbound checks, buffered */
static void
feed(struct session *s, const char *p, size_t n)
{
	wowner = s;
	wlen = 0;
	session_inbound_feed(s, p, n);
	if (wlen > 0)
		qwrite(s, wbuf, wlen);
	wlen = 0;
	wowner = NULL;
}

void
session_data_input(struct session *s)
{
	struct buf *in = &s->c.in;
	size_t used, outlen;
	bool done;

	if (in->len == 0)
		return;
	used = smtp_data_feed(&s->d, buf_head(in), in->len, scratch, &outlen, &done);
	if (outlen && s->d.errors == 0 && s->data_error == NULL)
		feed(s, scratch, outlen);
	buf_drain(in, used);
	if (done)
		data_end(s);
}

void
session_data_queue_reply(struct session *s, struct ipc_msg *m)
{
	const char *why;
	size_t n;

	if (s->closing || s->state != S_WAIT) {
		if (m->hdr.type == Q_OPEN_OK && m->fd != -1) {
			const char *qid;

			close(m->fd);
			m->fd = -1;
			if (ipc_get_str(m, &qid, &n) && n == QUEUE_ID_LEN) {
				memcpy(s->qid, qid, QUEUE_ID_LEN + 1);
				queue_send_qid(s, Q_ABORT, 0, false);
			}
		}
		return;
	}
	switch (m->hdr.type) {
	case Q_OPEN_OK:
		open_ok(s, m);
		return;
	case Q_COMMIT_OK:
		log_info("session=%08x addr=%s qid=%s from=<%s> nrcpt=%zu size=%" PRIu64
		    "%s%s%s queued", s->id, s->addr, s->qid, s->from.addr, s->nrcpt,
		    s->written, s->auth_user ? " user=" : "",
		    s->auth_user ? s->auth_user : "", s->tls ? " tls=yes" : "");
		session_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
		s->qid[0] = '\0';
		break;
	case Q_OPEN_FAIL:
	case Q_COMMIT_FAIL:
		if (!ipc_get_str(m, &why, &n))
			why = "queue error";
		log_warnx("session=%08x addr=%s queue refused the message: %s",
		    s->id, s->addr, why);
		session_reply(s, "451 4.3.0 Queue error, try again later");
		s->qid[0] = '\0';
		break;
	default:
		return;
	}
	session_reset_transaction(s);
	session_resume(s);
}
