/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_session.c - libFuzzer target for the SMTP session state
 * machine (smtpd/smtp_session*.c): the input is what a client sends,
 * fed through a socketpair to a real session, so every command (HELO,
 * EHLO, MAIL, RCPT, DATA and the message, RSET, NOOP, VRFY, STARTTLS,
 * AUTH, BDAT, pipelining, over-long lines, bare CR/LF) runs its own code.
 * The first input byte picks the port: 25, submission, facteur-sendmail
 * (a local session bound to root's addresses, so the From check and DKIM
 * signing run) or 25 from 127.0.0.1, a client of [smtp] trusted (its
 * default), which skips the screen and the inbound checks.  Port 25 mail goes through the inbound DKIM check (SPF and
 * DMARC off: each message would wait for the DNS), whose key lookups fail
 * (a resolver where nothing listens).  Around the session, fakes answer like the real peers:
 * the queue (a temporary file per message, commit OK, answered from the
 * event loop as over the real IPC) and authd (a server on a Unix socket
 * that lib/authc.c talks to: recipients of example.org exist, a login
 * with password "pw" works, signatures and grants are granted).  The replies are read
 * and dropped; the loop runs until the session closes (EOF ends the
 * input).  No close within 10 s is a hang: abort.  FUZZ_SMTP_SHOW=1
 * prints the replies (to check a seed).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_feed.h"
#include "smtpd/smtpd.h"
#include "smtpd/smtp_session.h"
#include "lib/authc.h"
#include "lib/ev.h"
#include "lib/log.h"

/* what smtpd.c provides */
struct conf	*smtpd_conf;
bool		 smtpd_privileged;
uid_t		 smtpd_fetch_uid = 12345;

static const char fz_conf_text[] =
    "hostname = mx.example.org\n"
    "domains = example.org example.net\n"
    "state_dir = /nonexistent/state\n"
    "run_dir = /nonexistent/run\n"
    "mail_dir = /nonexistent/mail/%d/%u\n"
    "[smtp]\n"
    "listen = 127.0.0.1:25\n"
    "max_size = 64K\n"
    "max_rcpt = 5\n"
    "[dns]\n"			/* nothing listens: every lookup fails at once */
    "resolver = 127.0.0.1:9\n"
    "[inbound]\n"		/* SPF and DMARC would wait on DNS each time */
    "spf = no\n"
    "dmarc = no\n"
    "timeout = 1s\n"
    "[sendmail]\n"
    "sender = root root@example.org noreply@example.org\n"
    "[dkim]\n"
    "sign = example.org s1 /nonexistent/key\n";

static bool fz_show, fz_done;
static struct session *fz_session;	/* the one running */
static unsigned fz_seq;

/* -- a fake queue: answers from a timer, as over the IPC channel -- */

struct fake_answer {
	struct fake_answer *next;
	uint32_t	 type;		/* Q_* */
	struct session	*s;
	struct ipc_out	 o;
	int		 fd;
};

static struct fake_answer *answers;
static struct ev_timer answer_timer;

static void
answer_later(uint32_t type, struct session *s,
    const struct ipc_out *o, int fd)
{
	struct fake_answer *a = calloc(1, sizeof(*a)), **pp;

	if (a == NULL)
		abort();
	a->type = type;
	a->s = s;
	a->o = *o;
	a->fd = fd;
	for (pp = &answers; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = a;		/* in order, like one channel */
	if (!ev_timer_pending(&answer_timer))
		ev_timer_add(&answer_timer, 0);
}

static void
answer_fire(struct ev_timer *t, void *arg)
{
	struct fake_answer *a;
	struct ipc_msg m;

	(void)t;
	(void)arg;
	while ((a = answers) != NULL) {
		answers = a->next;
		if (!fz_done) {
			memset(&m, 0, sizeof(m));
			m.hdr.type = a->type;
			m.hdr.len = (uint32_t)a->o.len;
			m.p = a->o.p;
			m.fd = a->fd;
			smtp_session_queue_reply(a->s, &m);
			if (m.fd != -1)
				close(m.fd);
		} else if (a->fd != -1)
			close(a->fd);
		free(a);
	}
}

int
smtp_server_queue_send(struct session *s, uint32_t type,
    const struct ipc_out *o)
{
	struct ipc_out r;
	char qid[QUEUE_ID_LEN + 1];
	char path[] = "/tmp/fuzz_smtp_session.XXXXXX";
	int fd;

	(void)o;
	ipc_out_init(&r);
	switch (type) {
	case Q_OPEN:
		if ((fd = mkstemp(path)) == -1)
			abort();
		unlink(path);
		snprintf(qid, sizeof(qid), "%0*x", QUEUE_ID_LEN, ++fz_seq);
		ipc_put_str(&r, qid);
		answer_later(Q_OPEN_OK, s, &r, fd);
		break;
	case Q_COMMIT:
		answer_later(Q_COMMIT_OK, s, &r, -1);
		break;
	default:		/* Q_ABORT: no answer */
		break;
	}
	return 0;
}

SSL_CTX *
smtp_server_tls(void)
{
	return NULL;
}

void
smtp_server_session_done(struct session *s)
{
	smtp_session_free(&s);
	fz_done = true;
	ev_break();
}

/*
 * -- a fake authd: the real lib/authc.c talks to it over a Unix socket in
 * a temporary directory, answers come back through the event loop --
 */

static struct ev_io authd_listen;
static struct ipc authd_ch;
static bool authd_up;
static char fz_dir[64];

static void
authd_answer(uint32_t id, const struct ipc_out *o)
{
	if (ipc_send(&authd_ch, AUTHD_REPLY, id, -1, o) == -1)
		abort();
}

/* authd_on_msg - what authd would say, without a database */
static void
authd_on_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	static const uint8_t grant[AUTHD_GRANT_LEN] = { 1 };
	const char *a, *b, *at;
	struct ipc_out o;
	size_t n;
	uint8_t sig[64];

	(void)ch;
	(void)arg;
	if (m->fd != -1) {		/* AUTHD_LOCAL: the session's socket */
		close(m->fd);
		m->fd = -1;
	}
	ipc_out_init(&o);
	switch (m->hdr.type) {
	case AUTHD_HELLO:
		ipc_put_u32(&o, AUTHD_OK);
		ipc_put_u32(&o, AUTHD_PROTO_VERSION);
		ipc_put_u32(&o, 0);	/* no change notices: nothing kept */
		break;
	case AUTHD_RCPT:	/* example.org has everybody but nobody@ */
		if (ipc_get_str(m, &a, &n) && (at = strrchr(a, '@')) != NULL &&
		    strcasecmp(at + 1, "example.org") == 0 &&
		    strncasecmp(a, "nobody@", 7) != 0) {
			ipc_put_u32(&o, AUTHD_OK);
			ipc_put_u32(&o, 1);
			ipc_put_str(&o, a);
		} else
			ipc_put_u32(&o, AUTHD_NOTFOUND);
		break;
	case AUTHD_LOGIN:	/* password "pw" opens any user */
		if (ipc_get_str(m, &a, &n) && ipc_get_str(m, &a, &n) &&
		    ipc_get_str(m, &b, &n) && strcmp(b, "pw") == 0) {
			ipc_put_u32(&o, AUTHD_OK);
			ipc_put_str(&o, strchr(a, '@') ? a : "alice@example.org");
			ipc_put_data(&o, grant, sizeof(grant));
		} else {
			ipc_put_u32(&o, AUTHD_FAIL);
			ipc_put_u32(&o, 0);
		}
		break;
	case AUTHD_SENDERS:
		ipc_put_u32(&o, AUTHD_OK);
		ipc_put_u32(&o, 2);
		ipc_put_str(&o, ipc_get_str(m, &a, &n) ? a : "x@example.org");
		ipc_put_str(&o, "@example.net");
		break;
	case AUTHD_DKIM_ALG:
		ipc_put_u32(&o, AUTHD_OK);
		ipc_put_u32(&o, AUTHD_ALG_ED25519_SHA256);
		break;
	case AUTHD_DKIM_SIGN:
		memset(sig, 0x5a, sizeof(sig));
		ipc_put_u32(&o, AUTHD_OK);
		ipc_put_data(&o, sig, sizeof(sig));
		break;
	case AUTHD_LOCAL:
		ipc_put_u32(&o, AUTHD_OK);
		ipc_put_data(&o, grant, sizeof(grant));
		break;
	default:		/* RELEASE */
		ipc_put_u32(&o, AUTHD_OK);
		break;
	}
	authd_answer(m->hdr.id, &o);
}

static void
authd_on_close(struct ipc *ch, void *arg)
{
	(void)arg;
	ipc_close(ch);
	authd_up = false;
}

static void
authd_accept(struct ev_io *io, unsigned events, void *arg)
{
	int fd;

	(void)events;
	(void)arg;
	if ((fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	if (authd_up)
		ipc_close(&authd_ch);	/* authc reconnected */
	ipc_init(&authd_ch, fd, authd_on_msg, authd_on_close, NULL);
	authd_up = true;
}

static void
fz_cleanup(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", fz_dir, AUTHD_SOCKET);
	(void)unlink(p);
	(void)rmdir(fz_dir);
}

/* authd_start - listen where authc_init() will look */
static void
authd_start(void)
{
	char p[128];
	int fd;

	fuzz_feed_tmpdir(fz_dir, sizeof(fz_dir), "fuzz_smtp_session");
	atexit(fz_cleanup);
	snprintf(p, sizeof(p), "%s/%s", fz_dir, AUTHD_SOCKET);
	if ((fd = ipc_listen_unix(p, 0600)) == -1)
		abort();
	ev_io_init(&authd_listen, fd, authd_accept, NULL);
	if (ev_io_want(&authd_listen, EV_READ) == -1)
		abort();
	authc_init(fz_dir);
}

/* -- the client side -- */

struct feed {
	struct fuzz_feed f;
	int		 peer;		/* the session's end */
	int		 quiet;		/* ticks with nothing going on */
};

static void
fz_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	fz_show = getenv("FUZZ_SMTP_SHOW") != NULL;
	log_init("fuzz_smtp_session", fz_show, fz_show);
	fz_show = getenv("FUZZ_SMTP_SHOW") != NULL;
	signal(SIGPIPE, SIG_IGN);
	ev_init();
	ev_timer_init(&answer_timer, answer_fire, NULL);
	smtpd_conf = conf_load_mem("fuzz.conf", fz_conf_text,
	    sizeof(fz_conf_text) - 1, stderr);
	if (smtpd_conf == NULL)
		abort();
	authd_start();
	smtp_local_load(smtpd_conf);
	smtp_inbound_init();	/* DNS, the Public Suffix List, as smtpd does */
}

/*
 * quiet_cb - the client ends (EOF) only once the session has read all it
 * was sent and waits for no answer: a server closes on EOF at once, and
 * commands still unread would never run
 */
static void
quiet_cb(struct ev_timer *t, void *arg)
{
	struct feed *fd = arg;
	int unread = 1, replies = 1;

	if (fd->f.off == fd->f.size && answers == NULL && !fz_done &&
	    fz_session->state != S_WAIT &&
	    ioctl(fd->peer, FIONREAD, &unread) == 0 && unread == 0 &&
	    ioctl(fd->f.io.fd, FIONREAD, &replies) == 0 && replies == 0) {
		/* twice in a row: the session has flushed its replies too */
		if (++fd->quiet == 2) {
			fuzz_feed_eof(&fd->f);	/* the client is done */
			return;
		}
	} else
		fd->quiet = 0;
	ev_timer_add(t, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct listener ls[] = {
		{ .fd = -1, .kind = PORT_MX, .name = "127.0.0.1:25" },
		{ .fd = -1, .kind = PORT_SUBMISSION, .name = "127.0.0.1:587" },
		{ .fd = -1, .kind = PORT_LOCAL, .name = "smtpd.sock" },
		{ .fd = -1, .kind = PORT_MX, .name = "127.0.0.1:25" },
	};
	static const char *const addr[] = { "192.0.2.7", "192.0.2.7", "uid=0",
	    "127.0.0.1" };
	const struct listener *l;
	struct session *s;
	struct feed fd;
	struct ev_timer quiet;
	int sv[2];
	unsigned k;

	fz_init();
	if (size == 0)
		return 0;
	k = data[0] % 4;
	l = &ls[k];
	data++;
	size--;
	fuzz_feed_pair(sv);
	memset(&fd, 0, sizeof(fd));
	fd.peer = sv[0];
	fz_done = false;
	s = smtp_session_new(sv[0], l, addr[k], ++fz_seq, false);
	fz_session = s;
	if (l->kind == PORT_LOCAL)
		smtp_local_bind(s, 0);
	fuzz_feed_start(&fd.f, sv[1], data, size, fz_show ? FUZZ_FEED_SHOW : 0);
	ev_timer_init(&quiet, quiet_cb, &fd);
	ev_timer_add(&quiet, 1);
	while (!fz_done)
		(void)ev_run();
	ev_timer_del(&quiet);
	/* with FUZZ_FEED_SHOW, the last replies, written before the close */
	fuzz_feed_stop(&fd.f);
	/* answers for a session that is gone are dropped */
	answer_fire(NULL, NULL);
	return 0;
}
