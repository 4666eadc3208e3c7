/* SPDX-License-Identifier: ISC */
/*
 * queue_ctl.c - the control socket of the queue role, for facteur-ctl
 * (SPEC 4): run_dir/smtpd-ctl.sock, mode 0600 and owned by `user`, so
 * only root and the facteur account can use it; the parent binds it.
 *
 * Protocol (lib/ipc.h frames): the client sends one request, the queue
 * answers with CTL_LINE frames (str, one line of text each) and one
 * CTL_END (u32 exit status: 0 ok, 1 failed), then closes.
 *   CTL_LIST                   what waits, per recipient, and why
 *   CTL_FLUSH                  retry every pending recipient now
 *   CTL_REMOVE str qid         drop a message (not while it is in flight)
 *   CTL_STATUS                 counts
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "xmem.h"
#include "queue.h"

#define CTL_CLIENTS	4

struct ctl_client {
	struct ipc	 ch;
	bool		 used;
	bool		 done;
};

static struct ev_io		 ctl_io;
static struct ctl_client	 clients[CTL_CLIENTS];

static void
ctl_line(struct ctl_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
ctl_line(struct ctl_client *c, const char *fmt, ...)
{
	struct ipc_out o;
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ipc_out_init(&o);
	ipc_put_str(&o, line);
	(void)ipc_send(&c->ch, CTL_LINE, 0, -1, &o);
}

static void
ctl_end(struct ctl_client *c, uint32_t status)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_u32(&o, status);
	(void)ipc_send(&c->ch, CTL_END, 0, -1, &o);
	c->done = true;
}

static const char *
status_name(const struct rcpt_state *st)
{
	switch (st->status) {
	case RCPT_PENDING:
		return st->attempts ? "deferred" : "pending";
	case RCPT_INFLIGHT:
		return "sending";
	case RCPT_FAILED:
		return "bouncing";
	case RCPT_DONE:
		return "done";
	}
	return "?";
}

static void
ctl_list(struct ctl_client *c)
{
	const struct qmsg *m;
	char when[32];
	size_t i;

	for (m = q.head; m; m = m->next) {
		time_t t = (time_t)m->env.time;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		ctl_line(c, "%s %" PRIu64 " %s <%s>", m->env.qid, m->env.msglen,
		    when, m->env.from);
		for (i = 0; i < m->env.nrcpt; i++) {
			const struct rcpt_state *st = &m->state[i];
			char next[32] = "";

			if (st->status == RCPT_DONE)
				continue;
			if (st->status == RCPT_PENDING && st->next_try > ev_now())
				snprintf(next, sizeof(next), " next=%" PRIu64 "s",
				    (st->next_try - ev_now() + 999) / 1000);
			ctl_line(c, "    <%s> %s attempts=%u%s%s%s%s",
			    m->env.rcpt[i].orig, status_name(st), st->attempts, next,
			    st->last ? " (" : "", st->last ? st->last : "",
			    st->last ? ")" : "");
		}
	}
	ctl_line(c, "%zu message%s in the queue", q.nmsg, q.nmsg == 1 ? "" : "s");
	ctl_end(c, 0);
}

static void
ctl_status(struct ctl_client *c)
{
	const struct qmsg *m;
	size_t pending = 0, i;

	for (m = q.head; m; m = m->next)
		for (i = 0; i < m->env.nrcpt; i++)
			if (m->state[i].status != RCPT_DONE)
				pending++;
	ctl_line(c, "smtpd: running, queue pid %ld", (long)getpid());
	ctl_line(c, "queue: %zu messages, %zu recipients to do", q.nmsg, pending);
	ctl_line(c, "in flight: %u local deliveries, %u relay transactions",
	    q.deliver_inflight, q.relay_inflight);
	ctl_line(c, "outbound: %s", smtpd_conf->relay.enabled ?
	    smtpd_conf->relay.host : "direct to MX");
	ctl_end(c, 0);
}

static void
ctl_remove(struct ctl_client *c, const char *qid)
{
	struct qmsg *m = queue_find(qid);

	if (m == NULL) {
		ctl_line(c, "%s: no such message in the queue", qid);
		ctl_end(c, 1);
	} else if (queue_remove_msg(m) == -1) {
		ctl_line(c, "%s: being delivered right now; try again in a moment", qid);
		ctl_end(c, 1);
	} else {
		ctl_line(c, "%s: removed", qid);
		ctl_end(c, 0);
	}
}

static void
on_ctl_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct ctl_client *c = arg;
	const char *qid;
	size_t n;

	(void)ch;
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (c->done)
		return;
	switch (m->hdr.type) {
	case CTL_LIST:
		ctl_list(c);
		break;
	case CTL_FLUSH:
		queue_flush();
		ctl_line(c, "every pending recipient is being retried");
		ctl_end(c, 0);
		break;
	case CTL_REMOVE:
		if (ipc_get_str(m, &qid, &n) && ipc_get_end(m))
			ctl_remove(c, qid);
		else
			ctl_end(c, 1);
		break;
	case CTL_STATUS:
		ctl_status(c);
		break;
	default:
		ctl_line(c, "unknown request");
		ctl_end(c, 1);
		break;
	}
}

static void
on_ctl_close(struct ipc *ch, void *arg)
{
	struct ctl_client *c = arg;

	ipc_close(ch);
	c->used = false;
}

static void
on_ctl_accept(struct ev_io *io, unsigned events, void *arg)
{
	size_t i;
	int fd;

	(void)events;
	(void)arg;
	while ((fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		for (i = 0; i < CTL_CLIENTS && clients[i].used; i++)
			;
		if (i == CTL_CLIENTS) {
			close(fd);
			continue;
		}
		clients[i].used = true;
		clients[i].done = false;
		ipc_init(&clients[i].ch, fd, on_ctl_msg, on_ctl_close, &clients[i]);
	}
}

/* queue_ctl_init - serve the socket the parent bound (smtpd.c) */
void
queue_ctl_init(int listen_fd)
{
	ev_io_init(&ctl_io, listen_fd, on_ctl_accept, NULL);
	ev_io_want(&ctl_io, EV_READ);
}
