/* SPDX-License-Identifier: ISC */
/*
 * queue_bounce.c - delivery status notifications (RFC 3464, RFC 6522) for
 * recipients that failed for good, written by the queue role as ordinary
 * queue files from the null sender <>.
 *
 * Never a bounce for a bounce: a message whose sender is <> fails
 * silently (logged).  Whom it goes to: the sender's local mailbox when
 * the session knew it (`ret`: the authenticated user, or for
 * facteur-sendmail the mailbox of a local MAIL FROM), else the envelope
 * sender if it is remote and was verified when the message came in
 * (`verified`: AUTH, facteur-sendmail, a client of [smtp] trusted, or
 * SPF pass on port 25): mail from
 * a forged sender that a forwarding alias or a backup domain's next hop
 * refuses fails silently (logged), so facteur never sends backscatter;
 * unauthenticated mail claiming a local sender came from outside, and a
 * bounce to it would be backscatter: logged, not sent.  The DSN carries
 * the original header block, not the body.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crc32.h"
#include "log.h"
#include "nospace.h"
#include "xmem.h"
#include "queue.h"

#define HEADERS_MAX	(64 * 1024)

/* original_headers - the header block of m (LF form), at most HEADERS_MAX */
static void
original_headers(struct qmsg *m, struct buf *b)
{
	char chunk[4096];
	uint64_t off = 0;
	ssize_t r;

	if (queue_msg_fd(m) == -1)
		return;
	while (off < m->env.msglen && off < HEADERS_MAX) {
		size_t want = sizeof(chunk);
		char *end;

		if (want > m->env.msglen - off)
			want = (size_t)(m->env.msglen - off);
		if ((r = pread(m->fd, chunk, want, (off_t)off)) <= 0)
			break;
		buf_append(b, chunk, (size_t)r);
		off += (uint64_t)r;
		if ((end = memmem(buf_head(b), b->len, "\n\n", 2)) != NULL) {
			b->len = (size_t)(end - buf_head(b)) + 1;
			return;
		}
	}
}

static void
rfc5322_date(char *out, size_t outsz, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/*
 * dsn_status - the RFC 3463 code of a reply ("550 5.1.1 ..." -> 5.1.1), or
 * 5.0.0 for a permanent and 4.4.7 (expired) for a temporary one without it
 */
static void
dsn_status(const char *reply, char *out, size_t outsz)
{
	const char *p = strlen(reply) > 4 ? reply + 4 : "";
	size_t n = strspn(p, "0123456789.");
	int a, b, c, used = 0;

	if (n >= 5 && n < outsz && (p[0] == '4' || p[0] == '5') &&
	    sscanf(p, "%1d.%3d.%3d%n", &a, &b, &c, &used) == 3 && (size_t)used == n) {
		snprintf(out, outsz, "%d.%d.%d", reply[0] == '5' ? 5 : 4, b, c);
		return;
	}
	snprintf(out, outsz, "%s", reply[0] == '5' ? "5.0.0" : "4.4.7");
}

/* dsn_text - the DSN message in LF form */
static void
dsn_text(struct qmsg *m, const char *to, const char *qid, struct buf *b)
{
	const char *host = smtpd_conf->hostname;
	char date[64], arrival[64];
	struct buf hdr;
	size_t i;

	rfc5322_date(date, sizeof(date), time(NULL));
	rfc5322_date(arrival, sizeof(arrival), (time_t)m->env.time);
	buf_printf(b,
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\n"
	    "To: <%s>\n"
	    "Subject: Undelivered Mail Returned to Sender\n"
	    "Date: %s\n"
	    "Message-ID: <%s.dsn@%s>\n"
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s/%s\"\n"
	    "\n"
	    "This is a MIME-encapsulated message.\n"
	    "\n"
	    "--%s/%s\n"
	    "Content-Type: text/plain; charset=us-ascii\n"
	    "\n"
	    "This is the mail system at host %s.\n"
	    "\n"
	    "Your message could not be delivered to one or more recipients.\n"
	    "The reasons are given below.\n"
	    "\n",
	    host, to, date, qid, host, qid, host, qid, host, host);
	for (i = 0; i < m->env.nrcpt; i++)
		if (m->state[i].status == RCPT_FAILED)
			buf_printf(b, "<%s>: %s\n", m->env.rcpt[i].orig,
			    m->state[i].last ? m->state[i].last : "failed");
	buf_printf(b,
	    "\n--%s/%s\n"
	    "Content-Type: message/delivery-status\n"
	    "\n"
	    "Reporting-MTA: dns; %s\n"
	    "X-Facteur-Queue-ID: %s\n"
	    "Arrival-Date: %s\n",
	    qid, host, host, m->env.qid, arrival);
	for (i = 0; i < m->env.nrcpt; i++) {
		const char *last = m->state[i].last ? m->state[i].last : "";
		bool smtp_reply = strlen(last) > 3 && last[0] >= '2' && last[0] <= '5' &&
		    last[3] == ' ';
		char status[16];

		if (m->state[i].status != RCPT_FAILED)
			continue;
		if (m->state[i].expired)	/* RFC 3463: delivery time expired */
			snprintf(status, sizeof(status), "4.4.7");
		else
			dsn_status(last, status, sizeof(status));
		buf_printf(b,
		    "\n"
		    "Final-Recipient: rfc822; %s\n"
		    "Original-Recipient: rfc822; %s\n"
		    "Action: failed\n"
		    "Status: %s\n"
		    "Diagnostic-Code: %s; %s\n",
		    m->env.rcpt[i].addr, m->env.rcpt[i].orig, status,
		    smtp_reply ? "smtp" : "x-facteur", last);
	}
	buf_printf(b, "\n--%s/%s\nContent-Type: text/rfc822-headers\n\n", qid, host);
	buf_init(&hdr, HEADERS_MAX + 8192);
	original_headers(m, &hdr);
	buf_append(b, buf_head(&hdr), hdr.len);
	buf_free(&hdr);
	buf_printf(b, "\n--%s/%s--\n", qid, host);
}

int
queue_bounce_write(struct qmsg *m)
{
	struct queue_env e;
	struct queue_rcpt r;
	struct buf b;
	char path[4096];
	const char *to;
	int fd = -1, rv = -1;

	if (m->env.from[0] == '\0') {
		log_info("qid=%s failed; no bounce for a bounce", m->env.qid);
		return 0;
	}
	if (m->env.ret)
		to = m->env.ret;
	else if (!queue_is_local(m->env.from) && m->env.verified)
		to = m->env.from;
	else if (!queue_is_local(m->env.from)) {
		/*
		 * received on port 25 without SPF pass: the sender may be
		 * forged, and a bounce to it would be backscatter (a
		 * forwarding alias or a backup domain whose next hop refused)
		 */
		log_info("qid=%s failed; sender <%s> was not verified (no SPF "
		    "pass at reception): no bounce", m->env.qid, m->env.from);
		return 0;
	} else {
		log_info("qid=%s failed; sender <%s> is local but was not "
		    "authenticated: no bounce", m->env.qid, m->env.from);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	queue_id_new(e.qid);
	e.time = (int64_t)time(NULL);
	e.from = "";
	e.client = "127.0.0.1";
	e.helo = smtpd_conf->hostname;
	r.addr = (char *)to;
	r.orig = m->env.from;
	r.done = false;
	e.rcpt = &r;
	e.nrcpt = 1;
	buf_init(&b, 0);
	dsn_text(m, m->env.from, e.qid, &b);
	e.msglen = b.len;
	e.msgcrc = crc32_update(0, buf_head(&b), b.len);
	if (queue_file_trailer(&b, &e) == -1 ||
	    !queue_path(path, sizeof(path), e.qid, ""))
		goto out;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		log_warn("qid=%s writing a bounce: %s/queue/msg/%s",
		    m->env.qid, smtpd_conf->state_dir, e.qid);
		goto out;
	}
	if (write(fd, buf_head(&b), b.len) != (ssize_t)b.len || fsync(fd) == -1 ||
	    fsync(q.dirfd) == -1) {
		if (errno == 0)
			errno = EIO;	/* a short write */
		log_warn("qid=%s writing a bounce: %s/queue/msg/%s%s",
		    m->env.qid, smtpd_conf->state_dir, e.qid,
		    errno_nospace(errno) ? " (the queue's file system is "
		    "full)" : "");
		(void)unlink(path);
		goto out;
	}
	rv = 0;
out:
	if (fd != -1)
		close(fd);
	if (rv == 0) {
		struct queue_env env;
		const char *err;

		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1 &&
		    queue_file_read_env(fd, &env, &err) == 0) {
			log_info("qid=%s bounce qid=%s to=<%s>", m->env.qid, e.qid, to);
			queue_schedule(queue_add(&env, false, b.len));
		}
		if (fd != -1)
			close(fd);
	} else
		log_warnx("qid=%s cannot write a bounce; will try again", m->env.qid);
	buf_free(&b);
	return rv;
}
