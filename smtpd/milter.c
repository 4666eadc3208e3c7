/* SPDX-License-Identifier: ISC */
/*
 * milter.c - the milters of [milter] socket, asked about each message
 * received on port 25 (not submissions, not facteur-sendmail), in the
 * smtp role, on its event loop: non-blocking sockets, one timer per
 * awaited reply ([milter] timeout), never a blocking call but the pread
 * of the message from its queue file.
 *
 * The conversation with each milter, in the order configured, runs at
 * the final dot (after the SPF/DKIM/DMARC decision, before the 250):
 *   OPTNEG, CONNECT, HELO, MAIL, RCPT..., HEADER..., EOH, BODY (chunks of
 *   at most 64 KiB, CRLF lines), BODYEOB, QUIT
 * with the macros j, {daemon_name}, {client_addr}, {client_name}, _,
 * {mail_addr}, {rcpt_addr}, i.  Steps the milter declines (SMFIP_NO*) are
 * skipped; steps it does not answer (SMFIP_NR_*) are not waited for.
 * Because all runs after DATA, a reject at MAIL or RCPT refuses the
 * whole message (Postfix would refuse that recipient only).
 *
 * Replies: CONTINUE goes on; ACCEPT ends this milter's say; REJECT
 * (550 5.7.1), TEMPFAIL (451 4.7.1), REPLYCODE (its own 4xx/5xx text)
 * refuse the message and ask no further milter; DISCARD answers 250 and
 * drops it.  At end of body: ADDHEADER, INSHEADER (and CHGHEADER with a
 * value) add a header to the envelope's prepend (queue_file.c), in front
 * of the message; CHGHEADER deleting a header, body replacement and
 * recipient changes are not offered or are ignored (logged).  A
 * QUARANTINE reply, or an added `X-Spam: Yes` / `X-Spam-Flag: YES`,
 * delivers into the Junk folder.  A milter that cannot be reached, breaks
 * the protocol or does not answer in time gets [milter] default_action:
 * tempfail (451 4.7.1) or accept (as if it were not configured).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "xmem.h"
#include "smtp_session.h"
#include "smtpd/milter_proto.h"

#define HDR_READ	(256 * 1024)	/* header section read at most */
#define BODY_READ	32000		/* LF bytes per chunk (CRLF <= 64000) */
#define MILTER_HDRS_MAX	(8 * 1024)	/* header lines added, all milters */
#define OUT_HIGH	(128 * 1024)

enum mstep {
	M_OPTNEG,
	M_CONNECT,
	M_HELO,
	M_MAIL,
	M_RCPT,
	M_HEADER,
	M_EOH,
	M_BODY,
	M_EOB,
	M_FINAL,	/* EOB sent: modifications, then the verdict */
};

struct milter_run {
	struct session	*s;
	size_t		 cur;		/* index in [milter] socket */
	int		 fd;
	bool		 connecting;
	bool		 awaiting;	/* a reply is due */
	struct ev_io	 io;
	struct ev_timer	 timer;
	struct buf	 out, in;
	enum mstep	 step;
	uint32_t	 proto, actions;
	size_t		 rcpt;		/* next recipient */
	/* the message, from the queue file */
	char		*hdr;
	size_t		 hdrlen, hpos;
	uint64_t	 body, bpos, end;
	/* the outcome */
	struct buf	 ins, add;	/* header lines (LF form) */
	bool		 junk;
	bool		 discard;
	char		*reply;		/* refusal, or NULL */
	bool		 done;
};

static void milter_next(struct milter_run *m);
static void advance(struct milter_run *m);

static const char *
mname(const struct milter_run *m)
{
	return smtpd_conf->milter.socket.v[m->cur];
}

static void
disconnect(struct milter_run *m)
{
	ev_timer_del(&m->timer);
	if (m->fd != -1) {
		ev_io_stop(&m->io);
		close(m->fd);
		m->fd = -1;
	}
	buf_reset(&m->out);
	buf_reset(&m->in);
	m->awaiting = m->connecting = false;
}

void
session_milter_free(struct session *s)
{
	struct milter_run *m = s->milter;

	if (m == NULL)
		return;
	disconnect(m);
	buf_free(&m->out);
	buf_free(&m->in);
	buf_free(&m->ins);
	buf_free(&m->add);
	free(m->hdr);
	free(m->reply);
	free(m);
	s->milter = NULL;
}

/* finish - every milter had its say: act on it, the session goes on */
static void
finish(struct milter_run *m)
{
	struct session *s = m->s;
	char *all;

	disconnect(m);
	m->done = true;
	if (m->reply || m->discard) {
		if (m->reply)
			session_reply(s, "%s", m->reply);
		else
			session_reply(s, "250 2.0.0 Ok: discarded");
		session_reset_transaction(s);	/* frees m */
		session_resume(s);
		return;
	}
	if (m->ins.len + m->add.len > 0) {
		(void)buf_append(&m->ins, "", 1);
		(void)buf_append(&m->add, "", 1);
		all = xasprintf("%s%s%s", s->prepend ? s->prepend : "",
		    buf_head(&m->ins), buf_head(&m->add));
		free(s->prepend);
		s->prepend = all;
	}
	if (m->junk)
		s->junk = true;
	session_dkim_sign(s);	/* then session_data_commit() */
}

/* verdict - one line per milter and message */
static void
verdict(struct milter_run *m, const char *what)
{
	struct session *s = m->s;

	log_info("session=%08x addr=%s qid=%s milter=%s result=%s%s%s", s->id,
	    s->addr, s->qid, mname(m), what, m->reply ? " reply=" : "",
	    m->reply ? m->reply : "");
}

/* fail - this milter is broken or silent: [milter] default_action */
static void
fail(struct milter_run *m, const char *why)
{
	struct session *s = m->s;

	log_warnx("session=%08x addr=%s qid=%s milter=%s failed: %s, %s",
	    s->id, s->addr, s->qid, mname(m), why,
	    smtpd_conf->milter.tempfail ? "tempfail" : "accept");
	disconnect(m);
	if (smtpd_conf->milter.tempfail) {
		m->reply = xstrdup("451 4.7.1 Service unavailable - try again later");
		finish(m);
		return;
	}
	m->cur++;
	milter_next(m);
}

/* done_one - this milter accepted: QUIT (best effort), the next one */
static void
done_one(struct milter_run *m, const char *what)
{
	verdict(m, what);
	buf_reset(&m->out);
	(void)milter_put(&m->out, SMFIC_QUIT, NULL, 0);
	(void)write(m->fd, buf_head(&m->out), m->out.len);
	disconnect(m);
	m->cur++;
	milter_next(m);
}

/* refuse - the message gets `reply` (NULL: discard); no other milter asked */
static void
refuse(struct milter_run *m, const char *reply, const char *what)
{
	if (reply)
		m->reply = xstrdup(reply);
	else
		m->discard = true;
	verdict(m, what);
	buf_reset(&m->out);
	(void)milter_put(&m->out, SMFIC_QUIT, NULL, 0);
	(void)write(m->fd, buf_head(&m->out), m->out.len);
	finish(m);
}

/* ---- output ------------------------------------------------------------ */

static void
flush(struct milter_run *m)
{
	ssize_t w;
	unsigned want = EV_READ;

	while (m->out.len > 0) {
		w = write(m->fd, buf_head(&m->out), m->out.len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			fail(m, "write");
			return;
		}
		buf_drain(&m->out, (size_t)w);
	}
	if (m->out.len > 0)
		want |= EV_WRITE;
	(void)ev_io_want(&m->io, want);
}

static void
await(struct milter_run *m)
{
	m->awaiting = true;
	ev_timer_add(&m->timer, (uint64_t)smtpd_conf->milter.timeout * 1000);
}

/* cmd - after a command: wait for its reply unless SMFIP_NR_* says none */
static void
cmd(struct milter_run *m, uint32_t nr, enum mstep next)
{
	m->step = next;
	if (!(m->proto & nr))
		await(m);
}

/* ---- the message from the queue file ------------------------------------ */

static int
read_headers(struct milter_run *m)
{
	struct session *s = m->s;
	ssize_t r;
	char *e;
	size_t i;

	m->end = s->written;
	if (m->hdr)
		goto have;
	m->hdr = xmalloc(HDR_READ);
	r = pread(s->qfd, m->hdr, HDR_READ, (off_t)s->msg_start);
	if (r < 0)
		return -1;
	m->hdrlen = (size_t)r;
	if (m->hdrlen > 0 && m->hdr[0] == '\n') {
		m->hdrlen = 0;
		m->body = s->msg_start + 1;
	} else if ((e = memmem(m->hdr, m->hdrlen, "\n\n", 2)) != NULL) {
		m->hdrlen = (size_t)(e - m->hdr) + 1;
		m->body = s->msg_start + m->hdrlen + 1;
	} else if (s->msg_start + m->hdrlen >= m->end) {
		m->body = m->end;	/* headers only */
	} else {
		/* huge header section: the complete fields, the rest as body */
		for (i = m->hdrlen; i > 1; i--)
			if (m->hdr[i - 1] == '\n' && m->hdr[i] != ' ' &&
			    m->hdr[i] != '\t')
				break;
		m->hdrlen = i > 1 ? i : 0;
		m->body = s->msg_start + m->hdrlen;
	}
have:
	m->hpos = 0;
	m->bpos = m->body;
	return 0;
}

/* next_header - the next field into name/value (NUL-terminated copies) */
static bool
next_header(struct milter_run *m, char **name, char **value)
{
	const char *p, *end = m->hdr + m->hdrlen, *f, *colon, *v;
	char *val, *q;

	while (m->hpos < m->hdrlen) {
		f = p = m->hdr + m->hpos;
		for (;;) {
			p = memchr(p, '\n', (size_t)(end - p));
			if (p == NULL) {
				p = end;
				break;
			}
			p++;
			if (p >= end || (*p != ' ' && *p != '\t'))
				break;
		}
		m->hpos = (size_t)(p - m->hdr);
		colon = memchr(f, ':', (size_t)(p - f));
		if (colon == NULL || colon == f)
			continue;
		*name = xstrndup(f, (size_t)(colon - f));
		v = colon + 1;
		if (!(m->proto & SMFIP_HDR_LEADSPC))
			while (v < p && (*v == ' ' || *v == '\t'))
				v++;
		val = xstrndup(v, (size_t)(p - v));
		if ((q = strrchr(val, '\n')) != NULL && q[1] == '\0')
			*q = '\0';
		*value = val;
		return true;
	}
	return false;
}

static int
body_chunk(struct milter_run *m)
{
	char in[BODY_READ], out[2 * BODY_READ];
	size_t want = BODY_READ, i, n = 0;
	ssize_t r;

	if (m->end - m->bpos < want)
		want = (size_t)(m->end - m->bpos);
	r = pread(m->s->qfd, in, want, (off_t)m->bpos);
	if (r <= 0) {
		m->bpos = m->end;
		return r;
	}
	m->bpos += (uint64_t)r;
	for (i = 0; i < (size_t)r; i++) {
		if (in[i] == '\n')
			out[n++] = '\r';
		out[n++] = in[i];
	}
	return milter_put(&m->out, SMFIC_BODY, out, n);
}

/* ---- the steps ------------------------------------------------------------ */

/* step - the next command(s) of the conversation into m->out */
static int
step(struct milter_run *m)
{
	struct session *s = m->s;
	char client[80], *name, *value;
	const char *kv[10];
	int r = 0;

	switch (m->step) {
	case M_OPTNEG:
		r = milter_put_optneg(&m->out, MILTER_VERSION,
		    MILTER_OFFER_ACTIONS, MILTER_OFFER_PROTO);
		cmd(m, 0, M_CONNECT);
		break;
	case M_CONNECT:
		snprintf(client, sizeof(client), "unknown [%s]", s->addr);
		kv[0] = "j";
		kv[1] = smtpd_conf->hostname;
		kv[2] = "{daemon_name}";
		kv[3] = "facteur";
		kv[4] = "{client_addr}";
		kv[5] = s->addr;
		kv[6] = "{client_name}";
		kv[7] = "unknown";
		kv[8] = "_";
		kv[9] = client;
		m->step = M_HELO;
		if (m->proto & SMFIP_NOCONNECT)
			break;
		snprintf(client, sizeof(client), "[%s]", s->addr);
		r = milter_put_macros(&m->out, SMFIC_CONNECT, kv, 10);
		if (r == 0)
			r = milter_put_connect(&m->out, client, s->addr, 0);
		cmd(m, SMFIP_NR_CONN, M_HELO);
		break;
	case M_HELO:
		m->step = M_MAIL;
		if (m->proto & SMFIP_NOHELO)
			break;
		kv[0] = s->helo;
		r = milter_put_strs(&m->out, SMFIC_HELO, kv, 1);
		cmd(m, SMFIP_NR_HELO, M_MAIL);
		break;
	case M_MAIL:
		m->step = M_RCPT;
		if (m->proto & SMFIP_NOMAIL)
			break;
		kv[0] = "{mail_addr}";
		kv[1] = s->from.addr;
		r = milter_put_macros(&m->out, SMFIC_MAIL, kv, 2);
		value = xasprintf("<%s>", s->from.addr);
		kv[0] = value;
		if (r == 0)
			r = milter_put_strs(&m->out, SMFIC_MAIL, kv, 1);
		free(value);
		cmd(m, SMFIP_NR_MAIL, M_RCPT);
		break;
	case M_RCPT:
		if (m->rcpt >= s->nrcpt || (m->proto & SMFIP_NORCPT)) {
			m->step = M_HEADER;
			if (read_headers(m) == -1)
				return -1;
			break;
		}
		kv[0] = "{rcpt_addr}";
		kv[1] = s->rcpts[m->rcpt].orig;
		r = milter_put_macros(&m->out, SMFIC_RCPT, kv, 2);
		value = xasprintf("<%s>", s->rcpts[m->rcpt].orig);
		kv[0] = value;
		if (r == 0)
			r = milter_put_strs(&m->out, SMFIC_RCPT, kv, 1);
		free(value);
		m->rcpt++;
		cmd(m, SMFIP_NR_RCPT, M_RCPT);
		break;
	case M_HEADER:
		if ((m->proto & SMFIP_NOHDRS) || !next_header(m, &name, &value)) {
			m->step = M_EOH;
			break;
		}
		kv[0] = name;
		kv[1] = value;
		r = milter_put_strs(&m->out, SMFIC_HEADER, kv, 2);
		free(name);
		free(value);
		cmd(m, SMFIP_NR_HDR, M_HEADER);
		break;
	case M_EOH:
		kv[0] = "i";
		kv[1] = s->qid;
		r = milter_put_macros(&m->out, SMFIC_EOH, kv, 2);
		m->step = M_BODY;
		if (m->proto & SMFIP_NOEOH)
			break;
		if (r == 0)
			r = milter_put(&m->out, SMFIC_EOH, NULL, 0);
		cmd(m, SMFIP_NR_EOH, M_BODY);
		break;
	case M_BODY:
		if ((m->proto & SMFIP_NOBODY) || m->bpos >= m->end) {
			m->step = M_EOB;
			break;
		}
		r = body_chunk(m);
		cmd(m, SMFIP_NR_BODY, M_BODY);
		break;
	case M_EOB:
		kv[0] = "i";
		kv[1] = s->qid;
		r = milter_put_macros(&m->out, SMFIC_BODYEOB, kv, 2);
		if (r == 0)
			r = milter_put(&m->out, SMFIC_BODYEOB, NULL, 0);
		cmd(m, 0, M_FINAL);
		break;
	case M_FINAL:
		break;
	}
	return r;
}

static void
advance(struct milter_run *m)
{
	while (!m->awaiting && m->out.len < OUT_HIGH && m->step != M_FINAL)
		if (step(m) == -1) {
			fail(m, "cannot send the message");
			return;
		}
	flush(m);
}

/* ---- replies ------------------------------------------------------------ */

static bool
is_spam_header(const char *name, const char *value)
{
	while (*value == ' ' || *value == '\t')
		value++;
	return (strcasecmp(name, "X-Spam") == 0 ||
	    strcasecmp(name, "X-Spam-Flag") == 0) &&
	    strncasecmp(value, "yes", 3) == 0;
}

/*
 * add_header - a header line for the prepend, CRLF made LF; whole or not
 * at all: the milter's lines together stay under MILTER_HDRS_MAX, so the
 * envelope's prepend fits QUEUE_PREPEND_MAX with ours beside them
 */
static void
add_header(struct milter_run *m, const struct milter_reply *r, struct buf *b)
{
	struct buf line;
	const char *v;

	if (!milter_header_ok(r->name, r->value)) {
		log_info("session=%08x qid=%s milter=%s header refused: %s",
		    m->s->id, m->s->qid, mname(m), r->name);
		return;
	}
	if (is_spam_header(r->name, r->value))
		m->junk = true;
	buf_init(&line, 0);
	(void)buf_printf(&line, "%s:%s", r->name,
	    r->value[0] == ' ' || r->value[0] == '\t' ? "" : " ");
	for (v = r->value; *v; v++)
		if (*v != '\r')
			(void)buf_append(&line, v, 1);
	(void)buf_append(&line, "\n", 1);
	if (m->ins.len + m->add.len + line.len > MILTER_HDRS_MAX ||
	    buf_append(b, buf_head(&line), line.len) == -1)
		log_info("session=%08x qid=%s milter=%s header refused: %s: "
		    "over %d bytes of headers", m->s->id, m->s->qid, mname(m),
		    r->name, MILTER_HDRS_MAX);
	buf_free(&line);
}

static void
modification(struct milter_run *m, const struct milter_reply *r)
{
	struct buf tmp;

	switch (r->cmd) {
	case SMFIR_ADDHEADER:
		add_header(m, r, &m->add);
		break;
	case SMFIR_INSHEADER:
		if (r->index > 0) {
			add_header(m, r, &m->add);
			break;
		}
		buf_init(&tmp, 0);	/* in front of those inserted before */
		add_header(m, r, &tmp);
		if (tmp.len && buf_append(&tmp, buf_head(&m->ins), m->ins.len) == 0) {
			buf_free(&m->ins);
			m->ins = tmp;
		} else
			buf_free(&tmp);
		break;
	case SMFIR_CHGHEADER:
		if (r->value[0] != '\0')
			add_header(m, r, &m->add);
		else
			log_debug("session=%08x milter=%s: deleting %s: not "
			    "supported", m->s->id, mname(m), r->name);
		break;
	case SMFIR_QUARANTINE:
		m->junk = true;
		log_info("session=%08x addr=%s qid=%s milter=%s quarantine: %s",
		    m->s->id, m->s->addr, m->s->qid, mname(m), r->text);
		break;
	default:
		log_info("session=%08x milter=%s: modification '%c' ignored",
		    m->s->id, mname(m), r->cmd);
		break;
	}
}

/* reply - one reply while awaiting; false when m may be gone */
static bool
reply(struct milter_run *m, const struct milter_reply *r)
{
	switch (r->cmd) {
	case SMFIR_OPTNEG:
		if (m->step != M_CONNECT || r->version < 2) {
			fail(m, "bad option negotiation");
			return false;
		}
		m->actions = r->actions & MILTER_OFFER_ACTIONS;
		m->proto = r->proto & MILTER_OFFER_PROTO;
		break;
	case SMFIR_CONTINUE:
		if (m->step == M_FINAL) {
			done_one(m, "continue");
			return false;
		}
		break;
	case SMFIR_ACCEPT:
		done_one(m, "accept");
		return false;
	case SMFIR_PROGRESS:
		ev_timer_add(&m->timer, (uint64_t)smtpd_conf->milter.timeout * 1000);
		return true;
	case SMFIR_SKIP:
		if (m->step != M_BODY && m->step != M_EOB) {
			fail(m, "skip out of the body");
			return false;
		}
		m->step = M_EOB;
		break;
	case SMFIR_REJECT:
		refuse(m, "550 5.7.1 Message rejected by a filter", "reject");
		return false;
	case SMFIR_TEMPFAIL:
		refuse(m, "451 4.7.1 Service unavailable - try again later",
		    "tempfail");
		return false;
	case SMFIR_REPLYCODE:
		if (!milter_reply_ok(r->text)) {
			fail(m, "bad reply code");
			return false;
		}
		refuse(m, r->text, r->text[0] == '4' ? "tempfail" : "reject");
		return false;
	case SMFIR_DISCARD:
		refuse(m, NULL, "discard");
		return false;
	default:
		if (m->step == M_FINAL) {
			modification(m, r);
			return true;	/* the verdict is still due */
		}
		fail(m, "unexpected reply");
		return false;
	}
	m->awaiting = false;
	ev_timer_del(&m->timer);
	return true;
}

static void
on_read(struct milter_run *m)
{
	struct milter_reply r;
	size_t used;
	ssize_t n;
	int p;

	if (buf_reserve(&m->in, 16384) == -1) {
		fail(m, "reply too long");
		return;
	}
	n = read(m->fd, buf_tail(&m->in), 16384);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fail(m, n == 0 ? "connection closed" : "read");
		return;
	}
	buf_commit(&m->in, (size_t)n);
	while ((p = milter_parse(buf_head(&m->in), m->in.len, &r, &used)) == 1) {
		if (!m->awaiting) {
			fail(m, "reply not asked for");
			return;
		}
		if (!reply(m, &r))
			return;
		buf_drain(&m->in, used);
	}
	if (p == -1) {
		fail(m, "malformed reply");
		return;
	}
	advance(m);
}

static void
on_io(struct ev_io *io, unsigned events, void *arg)
{
	struct milter_run *m = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)io;
	if (m->connecting) {
		if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
		    err != 0) {
			errno = err;
			fail(m, "cannot connect");
			return;
		}
		m->connecting = false;
		advance(m);
		return;
	}
	if (events & (EV_READ | EV_ERROR)) {
		on_read(m);
		return;
	}
	if (events & EV_WRITE)
		advance(m);
}

static void
on_timeout(struct ev_timer *t, void *arg)
{
	(void)t;
	fail(arg, "timeout");
}

/* ---- connecting ---------------------------------------------------------- */

static int
milter_socket(const char *spec)
{
	struct sockaddr_un sun;
	struct addrinfo hints, *ai;
	char host[256];
	const char *p, *port;
	int fd;

	if (strncmp(spec, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(spec + 5) >= sizeof(sun.sun_path))
			return -1;
		strcpy(sun.sun_path, spec + 5);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
		    errno != EINPROGRESS && errno != EAGAIN) {
			close(fd);
			return -1;
		}
		return fd;
	}
	p = spec + 5;			/* inet:IP:port, inet:[v6]:port */
	if (*p == '[') {
		port = strchr(p, ']');
		if (port == NULL || port[1] != ':')
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(port - p - 1), p + 1);
		port += 2;
	} else {
		port = strrchr(p, ':');
		if (port == NULL)
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(port - p), p);
		port++;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* milter_next - start the conversation with milter m->cur, or finish */
static void
milter_next(struct milter_run *m)
{
	if (m->cur >= smtpd_conf->milter.socket.n) {
		finish(m);
		return;
	}
	m->step = M_OPTNEG;
	m->proto = m->actions = 0;
	m->rcpt = 0;
	if ((m->fd = milter_socket(mname(m))) == -1) {
		fail(m, "cannot connect");
		return;
	}
	ev_io_init(&m->io, m->fd, on_io, m);
	ev_timer_init(&m->timer, on_timeout, m);
	m->connecting = true;
	(void)ev_io_want(&m->io, EV_WRITE);
	ev_timer_add(&m->timer, (uint64_t)smtpd_conf->milter.timeout * 1000);
}

/*
 * session_milter_end - at the final dot (the session paused): true when
 * milters take the message over; they end with session_dkim_sign() again
 * (which then gets false here) or with a reply and the transaction reset.
 */
bool
session_milter_end(struct session *s)
{
	struct milter_run *m;

	if (smtpd_conf->milter.socket.n == 0 || s->l->kind != PORT_MX ||
	    s->auth_user != NULL || s->data_error || s->qfd == -1)
		return false;
	if (s->milter && s->milter->done)
		return false;
	session_milter_free(s);
	m = s->milter = xcalloc(1, sizeof(*m));
	m->s = s;
	m->fd = -1;
	buf_init(&m->out, 0);
	buf_init(&m->in, MILTER_REPLY_MAX + 16384);
	buf_init(&m->ins, 64 * 1024);
	buf_init(&m->add, 64 * 1024);
	ev_timer_init(&m->timer, on_timeout, m);
	milter_next(m);
	return true;
}
