/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_session.c - libFuzzer target for the SMTP session state
 * machine (smtpd/smtp_session*.c): the input is what a client sends,
 * fed through a socketpair to a real session, so every command (HELO,
 * EHLO, MAIL, RCPT, DATA and the message, RSET, NOOP, VRFY, STARTTLS,
 * AUTH, BDAT, pipelining, over-long lines, bare CR/LF) runs its own code.
 * The first input byte picks the port: 25, submission or facteur-sendmail
 * (a local session bound to root's addresses, so the From check and DKIM
 * signing run).  Port 25 mail goes through the inbound DKIM check (SPF and
 * DMARC off: each message would wait for the DNS), whose key lookups fail
 * (a resolver where nothing listens).  Around the session, fakes answer like the real peers:
 * the queue (a temporary file per message, commit OK) and authd
 * (recipients of example.org exist, a login with password "pw" works,
 * signatures and grants are granted), each answer from the event loop,
 * never inside the request, as the real IPC does.  The replies are read
 * and dropped; the loop runs until the session closes (EOF ends the
 * input).  No close within 10 s is a hang: abort.  FUZZ_SMTP_SHOW=1
 * prints the replies (to check a seed).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
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
static unsigned fz_seq;

/* -- a fake queue: answers from a timer, as over the IPC channel -- */

struct fake_answer {
	struct fake_answer *next;
	uint32_t	 type;		/* Q_* or AUTHD_REPLY */
	uint32_t	 id;		/* authd request id */
	struct session	*s;
	struct ipc_out	 o;
	int		 fd;
};

static struct fake_answer *answers;
static struct ev_timer answer_timer;

static void
answer_later(uint32_t type, uint32_t id, struct session *s,
    const struct ipc_out *o, int fd)
{
	struct fake_answer *a = calloc(1, sizeof(*a)), **pp;

	if (a == NULL)
		abort();
	a->type = type;
	a->id = id;
	a->s = s;
	a->o = *o;
	a->fd = fd;
	for (pp = &answers; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = a;		/* in order, like one channel */
	if (!ev_timer_pending(&answer_timer))
		ev_timer_add(&answer_timer, 0);
}

/* the authd callbacks waiting, by request id */
struct fake_req {
	struct fake_req	*next;
	uint32_t	 id;
	authc_cb	*cb;
	void		*arg;
};

static struct fake_req *reqs;
static uint32_t next_id = 1;

static void answer_authd(struct fake_answer *a);

static void
answer_fire(struct ev_timer *t, void *arg)
{
	struct fake_answer *a;
	struct ipc_msg m;

	(void)t;
	(void)arg;
	while ((a = answers) != NULL) {
		answers = a->next;
		if (a->type == AUTHD_REPLY)
			answer_authd(a);
		else if (!fz_done) {
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
		answer_later(Q_OPEN_OK, 0, s, &r, fd);
		break;
	case Q_COMMIT:
		answer_later(Q_COMMIT_OK, 0, s, &r, -1);
		break;
	default:		/* Q_ABORT: no answer */
		break;
	}
	return 0;
}

void
smtp_server_session_done(struct session *s)
{
	smtp_session_free(&s);
	fz_done = true;
	ev_break();
}

/* -- a fake authd: lib/authc.h, answered from the event loop -- */

static uint32_t
fake_send(authc_cb *cb, void *arg, const struct ipc_out *o)
{
	struct fake_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	r->id = next_id++;
	r->cb = cb;
	r->arg = arg;
	r->next = reqs;
	reqs = r;
	answer_later(AUTHD_REPLY, r->id, NULL, o, -1);
	return r->id;
}

static void
answer_authd(struct fake_answer *a)
{
	struct fake_req **pp, *r;
	struct ipc_msg m;
	uint32_t res;

	for (pp = &reqs; *pp != NULL && (*pp)->id != a->id; pp = &(*pp)->next)
		;
	if ((r = *pp) == NULL)
		return;		/* cancelled */
	*pp = r->next;
	memset(&m, 0, sizeof(m));
	m.hdr.type = AUTHD_REPLY;
	m.hdr.id = a->id;
	m.hdr.len = (uint32_t)a->o.len;
	m.p = a->o.p;
	m.fd = -1;
	if (!ipc_get_u32(&m, &res))
		abort();
	r->cb(r->arg, (enum authd_res)res, &m);
	free(r);
}

void
authc_init(const char *run_dir)
{
	(void)run_dir;
}

uint32_t
authc_rcpt(const char *address, authc_cb *cb, void *arg)
{
	const char *at = strrchr(address, '@');
	struct ipc_out o;

	ipc_out_init(&o);
	if (at != NULL && strcasecmp(at + 1, "example.org") == 0 &&
	    strncasecmp(address, "nobody@", 7) != 0) {
		ipc_put_u32(&o, AUTHD_OK);
		ipc_put_u32(&o, 1);
		ipc_put_str(&o, address);
	} else
		ipc_put_u32(&o, AUTHD_NOTFOUND);
	return fake_send(cb, arg, &o);
}

uint32_t
authc_login(const char *service, const char *user, const char *password,
    const char *client_ip, authc_cb *cb, void *arg)
{
	struct ipc_out o;
	uint8_t grant[AUTHD_GRANT_LEN] = { 1 };

	(void)service;
	(void)client_ip;
	ipc_out_init(&o);
	if (strcmp(password, "pw") == 0) {
		ipc_put_u32(&o, AUTHD_OK);
		ipc_put_str(&o, strchr(user, '@') ? user : "alice@example.org");
		ipc_put_data(&o, grant, sizeof(grant));
	} else {
		ipc_put_u32(&o, AUTHD_FAIL);
		ipc_put_u32(&o, 0);
	}
	return fake_send(cb, arg, &o);
}

uint32_t
authc_senders(const char *user, authc_cb *cb, void *arg)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_u32(&o, 2);
	ipc_put_str(&o, user);
	ipc_put_str(&o, "@example.net");
	return fake_send(cb, arg, &o);
}

uint32_t
authc_dkim_sign(const char *domain, const char *selector, enum authd_alg alg,
    const uint8_t digest[32], const uint8_t grant[AUTHD_GRANT_LEN],
    authc_cb *cb, void *arg)
{
	struct ipc_out o;
	uint8_t sig[64];

	(void)domain;
	(void)selector;
	(void)alg;
	(void)grant;
	memcpy(sig, digest, 32);
	memcpy(sig + 32, digest, 32);
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_data(&o, sig, sizeof(sig));
	return fake_send(cb, arg, &o);
}

uint32_t
authc_dkim_alg(const char *domain, const char *selector, authc_cb *cb,
    void *arg)
{
	struct ipc_out o;

	(void)domain;
	(void)selector;
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_u32(&o, AUTHD_ALG_ED25519_SHA256);
	return fake_send(cb, arg, &o);
}

uint32_t
authc_local(int fd, authc_cb *cb, void *arg)
{
	struct ipc_out o;
	uint8_t grant[AUTHD_GRANT_LEN] = { 2 };

	(void)fd;
	ipc_out_init(&o);
	ipc_put_u32(&o, AUTHD_OK);
	ipc_put_data(&o, grant, sizeof(grant));
	return fake_send(cb, arg, &o);
}

void
authc_release(const uint8_t grant[AUTHD_GRANT_LEN])
{
	(void)grant;
}

bool
authc_credentials_ok(const char *user, const char *pass)
{
	return *user != '\0' && strlen(user) <= 254 && *pass != '\0' &&
	    strlen(pass) <= 1024 && strpbrk(pass, "\r\n") == NULL;
}

void
authc_cancel(uint32_t id)
{
	struct fake_req **pp, *r;

	for (pp = &reqs; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			r = *pp;
			*pp = r->next;
			free(r);
			return;
		}
}

/* -- the client side -- */

struct feed {
	struct ev_io	 io;
	const uint8_t	*data;
	size_t		 size, off;
	bool		 shut;
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
	smtp_local_load(smtpd_conf);
	smtp_inbound_init();	/* DNS, the Public Suffix List, as smtpd does */
}

static void
feed_cb(struct ev_io *io, unsigned events, void *arg)
{
	struct feed *fd = arg;
	char buf[65536];
	ssize_t n;

	(void)events;
	for (;;) {
		n = read(io->fd, buf, sizeof(buf));
		if (n > 0) {
			if (fz_show)	/* FUZZ_SMTP_SHOW=1: the replies */
				fwrite(buf, 1, (size_t)n, stderr);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			ev_io_stop(io);	/* the session closed its end */
			return;
		}
		break;
	}
	while (fd->off < fd->size) {
		n = write(io->fd, fd->data + fd->off, fd->size - fd->off);
		if (n <= 0)
			break;
		fd->off += (size_t)n;
	}
	ev_io_want(io, EV_READ | (fd->off < fd->size ? EV_WRITE : 0));
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

	if (fd->off == fd->size && answers == NULL && reqs == NULL &&
	    ioctl(fd->peer, FIONREAD, &unread) == 0 && unread == 0 &&
	    ioctl(fd->io.fd, FIONREAD, &replies) == 0 && replies == 0) {
		/* twice in a row: the session has flushed its replies too */
		if (++fd->quiet == 2) {
			shutdown(fd->io.fd, SHUT_WR);	/* the client is done */
			fd->shut = true;
			return;
		}
	} else
		fd->quiet = 0;
	ev_timer_add(t, 1);
}

static void
hang_cb(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct listener ls[] = {
		{ .fd = -1, .kind = PORT_MX, .name = "127.0.0.1:25" },
		{ .fd = -1, .kind = PORT_SUBMISSION, .name = "127.0.0.1:587" },
		{ .fd = -1, .kind = PORT_LOCAL, .name = "smtpd.sock" },
	};
	const struct listener *l;
	struct session *s;
	struct feed fd;
	struct ev_timer hang, quiet;
	int sv[2];

	fz_init();
	if (size == 0)
		return 0;
	l = &ls[data[0] % 3];
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		abort();
	memset(&fd, 0, sizeof(fd));
	fd.data = data;
	fd.size = size;
	fd.peer = sv[0];
	fz_done = false;
	s = smtp_session_new(sv[0], l, l->kind == PORT_LOCAL ? "uid=0" :
	    "192.0.2.7", ++fz_seq, NULL);
	if (l->kind == PORT_LOCAL)
		smtp_local_bind(s, 0);
	ev_io_init(&fd.io, sv[1], feed_cb, &fd);
	ev_io_want(&fd.io, EV_READ | EV_WRITE);
	ev_timer_init(&hang, hang_cb, NULL);
	ev_timer_add(&hang, 10000);
	ev_timer_init(&quiet, quiet_cb, &fd);
	ev_timer_add(&quiet, 1);
	while (!fz_done)
		(void)ev_run();
	ev_timer_del(&hang);
	ev_timer_del(&quiet);
	if (fz_show)		/* the last replies, written before the close */
		feed_cb(&fd.io, EV_READ, &fd);
	ev_io_stop(&fd.io);
	close(sv[1]);
	/* answers for a session that is gone are dropped */
	answer_fire(NULL, NULL);
	return 0;
}
