/* SPDX-License-Identifier: ISC */
/*
 * deliver_maildir.c - the deliver role: writes local mail into Maildirs.
 *
 * Gets one D_DELIVER per local recipient from the queue role, with the
 * queue file's descriptor, and answers D_RESULT.  The file it writes is
 * Return-Path, Delivered-To, the envelope's prepend (DKIM-Signature of
 * local submissions), then the queued message as is (LF line ends).
 * The Maildir (mail_dir with %d/%u) is created at the first delivery;
 * one found there is made durable (its entries fsync'd into their
 * parents) at the first delivery into it of this process, not at each.
 * A message the smtp role classed as junk (DMARC quarantine, the
 * envelope's `junk`) goes into the folder [inbound] junk_folder instead
 * of INBOX, made on first use (lib/maildir.c maildir_folder()).
 * The name is "TIME.QQID_N.HOST", fixed per queue entry and recipient, so
 * a delivery retried after a crash ("recovered") that finds the name in
 * new/ or cur/ knows it was done and does not deliver twice.
 * Runs as `user`; blocking disk I/O is fine here: this process does
 * nothing else, and the queue keeps accepting meanwhile.  Deliveries that
 * arrive together (lib/ipc.c hands them over four to a read, each read
 * in a round of the loop) are a batch, and so are those that come within
 * BATCH_WAIT_MS of the first: the first is written at once, and the
 * channel is paused until the window ends (ipc_pause: one wake-up per
 * batch, not one per message, issue 17), when what came meanwhile is
 * read (ipc_drain) and written.  All are written first (those into the
 * same Maildir through the same directory descriptors), then their files
 * fsync'd at once (lib/fsyncv.h), renamed, each Maildir's new/ fsync'd
 * once, and only then is each answered.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ev.h"
#include "log.h"
#include "maildir.h"
#include "nospace.h"
#include "xmem.h"
#include "smtpd.h"

#define BATCH_MAX	64
/*
 * How long the first delivery of a batch waits for others: one message at
 * a time (a single client) would otherwise cost two disk cache flushes
 * each (its file, then new/), while the queue's own fsync of the next
 * message waits behind them; 10 ms of delay lets a few share them.
 */
#define BATCH_WAIT_MS	10

/* deliveries written into tmp/, waiting for the batch to be made durable */
struct done {
	char		 qid[QUEUE_ID_LEN + 1];
	uint32_t	 idx;
	char		*dir;
	char		*mailbox;
	uint64_t	 start;
	struct maildir_tmp t;
};

static struct ipc	 qch;
static char		 host[256];
static struct done	 batch[BATCH_MAX];
static size_t		 nbatch;
static struct ev_timer	 batch_timer;
static bool		 draining;	/* batch_end reads the window's deliveries */

static void
result(const char *qid, uint32_t idx, enum deliver_res res, const char *text)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, qid);
	ipc_put_u32(&o, idx);
	ipc_put_u32(&o, res);
	ipc_put_str(&o, text);
	if (ipc_send(&qch, D_RESULT, 0, -1, &o) == -1)
		log_panic("cannot answer the queue");
}

/*
 * tempfail_code - the reply code of a delivery that failed with e, which
 * the queue logs and, if the message expires, puts in the bounce: a full
 * file system is RFC 3463's 4.3.1 "mail system full", a quota used up
 * 4.2.2 "mailbox full"; anything else 4.3.0.  All are retried.
 */
static const char *
tempfail_code(int e)
{
	if (e == EDQUOT)
		return "452 4.2.2";
	return errno_nospace(e) ? "452 4.3.1" : "451 4.3.0";
}

/*
 * flush - make the batch durable: every file is fsync'd at once (their
 * writeback started when they were written), renamed into new/, and each
 * Maildir's new/ fsync'd once (maildir_commitv); then answer each
 */
static void
flush(struct ev_timer *t, void *arg)
{
	struct maildir_tmp *tmps[BATCH_MAX];
	const char *steps[BATCH_MAX];
	int errs[BATCH_MAX];
	char text[4400];
	size_t i;

	(void)t;
	(void)arg;
	for (i = 0; i < nbatch; i++)
		tmps[i] = &batch[i].t;
	maildir_commitv(tmps, errs, steps, nbatch);
	for (i = 0; i < nbatch; i++) {
		if (errs[i]) {
			snprintf(text, sizeof(text), "%s Maildir %s: %s: %s",
			    tempfail_code(errs[i]), batch[i].dir, steps[i],
			    strerror(errs[i]));
			log_warnx("qid=%s to=<%s> status=deferred (%s)", batch[i].qid,
			    batch[i].mailbox, text);
			result(batch[i].qid, batch[i].idx, RES_TEMPFAIL, text);
		} else {
			log_info("qid=%s to=<%s> maildir=%s delay=%.3fs status=sent",
			    batch[i].qid, batch[i].mailbox, batch[i].dir,
			    (double)(ev_now() - batch[i].start) / 1000.0);
			result(batch[i].qid, batch[i].idx, RES_OK,
			    "250 2.0.0 Delivered to Maildir");
		}
	}
	for (i = 0; i < nbatch; i++) {
		free(batch[i].dir);
		free(batch[i].mailbox);
	}
	nbatch = 0;
}

/*
 * The listings of the Maildirs that recovered messages go to (issue 16
 * item 8: each recovered message used to list its whole Maildir).  A
 * recovered message was queued before the restart, so if it was delivered
 * its file was there when the listing was read; the listings go 30 s after
 * the last recovered message.
 */
#define RECOVERY_DIRS		16
#define RECOVERY_KEEP_MS	30000

static struct maildir_index	 recovery[RECOVERY_DIRS];
static size_t			 nrecovery;
static struct ev_timer		 recovery_timer;

static void
recovery_forget(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	while (nrecovery > 0)
		maildir_index_free(&recovery[--nrecovery]);
}

/* recovered_delivered - maildir_exists(), one listing per Maildir */
static bool
recovered_delivered(const char *dir, const char *base)
{
	size_t i;

	ev_timer_add(&recovery_timer, RECOVERY_KEEP_MS);
	for (i = 0; i < nrecovery; i++)
		if (strcmp(recovery[i].dir, dir) == 0)
			return maildir_index_has(&recovery[i], base);
	if (nrecovery == RECOVERY_DIRS)		/* the oldest goes */
		maildir_index_free(&recovery[--nrecovery]);
	memmove(&recovery[1], &recovery[0], nrecovery * sizeof(recovery[0]));
	if (maildir_index_load(&recovery[0], dir) == -1) {
		memmove(&recovery[0], &recovery[1], nrecovery * sizeof(recovery[0]));
		return maildir_exists(dir, base);
	}
	nrecovery++;
	return maildir_index_has(&recovery[0], base);
}

/* batch_same - a delivery of this batch into dir: its directories serve */
static const struct maildir_tmp *
batch_same(const char *dir)
{
	size_t i;

	for (i = 0; i < nbatch; i++)
		if (strcmp(batch[i].dir, dir) == 0)
			return &batch[i].t;
	return NULL;
}

static void
deliver(int fd, const char *qid, uint32_t idx, const char *mailbox,
    const char *sender, const char *prepend, uint64_t msglen, uint64_t qtime,
    bool recovered, bool junk)
{
	char dir[4096], root[4096], base[512], local[256], text[4400];
	const char *at = strrchr(mailbox, '@');
	uint64_t start = ev_now();
	struct buf hdr;
	int r;

	if (at == NULL || (size_t)(at - mailbox) >= sizeof(local)) {
		result(qid, idx, RES_PERMFAIL, "550 5.1.1 Bad mailbox name");
		return;
	}
	memcpy(local, mailbox, (size_t)(at - mailbox));
	local[at - mailbox] = '\0';
	if (!conf_maildir_path(smtpd_conf, local, at + 1, root, sizeof(root))) {
		log_warnx("qid=%s to=<%s> status=bounced: no Maildir path for it",
		    qid, mailbox);
		result(qid, idx, RES_PERMFAIL, "550 5.1.1 Mailbox name not usable");
		return;
	}
	if (junk ? maildir_folder(root, smtpd_conf->inbound.junk_folder, dir,
	    sizeof(dir)) == -1 : !bstrcpy(dir, root, sizeof(dir))) {
		int e = errno;

		snprintf(text, sizeof(text), "%s Maildir %s folder %s: %s",
		    tempfail_code(e), root, smtpd_conf->inbound.junk_folder,
		    strerror(e));
		log_warnx("qid=%s to=<%s> status=deferred (%s)", qid, mailbox, text);
		result(qid, idx, RES_TEMPFAIL, text);
		return;
	}
	snprintf(base, sizeof(base), "%" PRIu64 ".Q%s_%u.%s", qtime, qid, idx, host);
	if (recovered && recovered_delivered(dir, base)) {
		log_info("qid=%s to=<%s> maildir=%s status=sent (already delivered "
		    "before a restart)", qid, mailbox, dir);
		result(qid, idx, RES_OK, "250 2.0.0 Already delivered");
		return;
	}
	buf_init(&hdr, 0);
	buf_printf(&hdr, "Return-Path: <%s>\nDelivered-To: %s\n%s", sender, mailbox,
	    prepend);
	/*
	 * the Maildir is made at its first delivery, and made durable at the
	 * first of this process if it was there (a run that died before its
	 * fsyncs may have made it); removed while we run, made again
	 */
	r = maildir_create_once(dir) == -1 ? -1 : maildir_write(dir, base,
	    buf_head(&hdr), hdr.len, fd, msglen, &batch[nbatch].t,
	    batch_same(dir));
	if (r == -1 && errno == ENOENT)
		r = maildir_create(dir) == -1 ? -1 : maildir_write(dir, base,
		    buf_head(&hdr), hdr.len, fd, msglen, &batch[nbatch].t, NULL);
	if (r == -1) {
		int e = errno;

		snprintf(text, sizeof(text), "%s Maildir %s: %s",
		    tempfail_code(e), dir, strerror(e));
		log_warnx("qid=%s to=<%s> status=deferred (%s)", qid, mailbox, text);
		result(qid, idx, RES_TEMPFAIL, text);
	} else {
		struct done *d = &batch[nbatch++];

		memcpy(d->qid, qid, sizeof(d->qid));
		d->idx = idx;
		d->dir = xstrdup(dir);
		d->mailbox = xstrdup(mailbox);
		d->start = start;
		if (nbatch == BATCH_MAX)
			flush(&batch_timer, NULL);
		else if (!ev_timer_pending(&batch_timer) && !draining) {
			/* the window opens: what comes in it waits (batch_end) */
			ev_timer_add(&batch_timer, BATCH_WAIT_MS);
			ipc_pause(&qch, true);
		}
	}
	buf_free(&hdr);
}

static void
on_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	const char *qid, *mailbox, *sender, *prepend;
	uint32_t idx, recovered, junk;
	uint64_t msglen, qtime;
	size_t n;

	(void)ch;
	(void)arg;
	if (m->hdr.type != D_DELIVER || m->fd == -1 ||
	    !ipc_get_str(m, &qid, &n) || !ipc_get_u32(m, &idx) ||
	    !ipc_get_str(m, &mailbox, &n) || !ipc_get_str(m, &sender, &n) ||
	    !ipc_get_str(m, &prepend, &n) || !ipc_get_u64(m, &msglen) ||
	    !ipc_get_u64(m, &qtime) || !ipc_get_u32(m, &recovered) ||
	    !ipc_get_u32(m, &junk) ||
	    !ipc_get_end(m) || !queue_id_valid(qid))
		log_panic("malformed message from the queue role");
	deliver(m->fd, qid, idx, mailbox, sender, prepend, msglen, qtime,
	    recovered != 0, junk != 0);
	close(m->fd);
	m->fd = -1;
}

/*
 * batch_end - the batch window is over: the deliveries that came
 * meanwhile join the batch, which is then made durable and answered, and
 * the channel is read again
 */
static void
batch_end(struct ev_timer *t, void *arg)
{
	draining = true;
	if (!ipc_drain(&qch))
		return;		/* on_close exits */
	draining = false;
	flush(t, arg);
	ipc_pause(&qch, false);
}

static void
on_close(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_warnx("the queue role went away; exiting");
	exit(1);
}

void
deliver_run(int queue_fd)
{
	maildir_host(host, sizeof(host), smtpd_conf->hostname);
	ev_timer_init(&batch_timer, batch_end, NULL);
	ev_timer_init(&recovery_timer, recovery_forget, NULL);
	ipc_init(&qch, queue_fd, on_msg, on_close, NULL);
	ev_run();
	exit(0);
}
