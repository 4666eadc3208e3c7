/* SPDX-License-Identifier: ISC */
/*
 * ipc.c - framed messages between facteur processes (see ipc.h).
 *
 * Runs in every process that talks to another.  A frame from a peer is
 * untrusted: its length is checked against IPC_MAX_PAYLOAD before anything
 * is buffered, and a malformed frame closes that peer only.  Descriptors
 * received with SCM_RIGHTS are matched to the frame that carries IPC_F_FD;
 * a descriptor nobody claims is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "xmem.h"

#define IPC_IN_MAX	(4 * (sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD))
#define IPC_READS_MAX	64	/* recvmsg calls per wakeup */

static void ipc_io(struct ev_io *io, unsigned events, void *arg);
static void ipc_flush_timer(struct ev_timer *t, void *arg);

void
ipc_init(struct ipc *ch, int fd, ipc_msg_cb *on_msg, ipc_close_cb *on_close,
    void *arg)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	ch->on_msg = on_msg;
	ch->on_close = on_close;
	ch->arg = arg;
	buf_init(&ch->in, IPC_IN_MAX);
	buf_init(&ch->out, IPC_OUT_MAX);
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ev_io_init(&ch->io, fd, ipc_io, ch);
	ev_io_want(&ch->io, EV_READ);
	ev_timer_init(&ch->flush, ipc_flush_timer, ch);
}

void
ipc_secret(struct ipc *ch)
{
	ch->in.secret = ch->out.secret = true;
}

void
ipc_close(struct ipc *ch)
{
	size_t i;

	if (ch->closed)
		return;
	ch->closed = true;
	ev_io_stop(&ch->io);
	ev_timer_del(&ch->flush);
	close(ch->fd);
	ch->fd = -1;
	for (i = 0; i < ch->noutfds; i++)
		close(ch->outfds[i]);
	for (i = 0; i < ch->ninfds; i++)
		close(ch->infds[i]);
	free(ch->outfds);
	free(ch->outfd_at);
	ch->outfds = NULL;
	ch->outfd_at = NULL;
	ch->noutfds = ch->ninfds = 0;
	buf_free(&ch->in);
	buf_free(&ch->out);
}

size_t
ipc_pending(const struct ipc *ch)
{
	return ch->out.len;
}

/* ipc_fail - close the channel and tell the owner (once) */
static void
ipc_fail(struct ipc *ch, const char *why)
{
	if (ch->closed)
		return;
	if (why)
		log_warnx("ipc: closing peer: %s", why);
	ipc_close(ch);
	if (ch->on_close)
		ch->on_close(ch, ch->arg);
}

/* ipc_fd_queue - remember fd to go with the frame starting at `at` */
static int
ipc_fd_queue(struct ipc *ch, int fd, size_t at)
{
	int *fds;
	size_t *ats;

	if (ch->noutfds >= SIZE_MAX / sizeof(size_t) - 1)
		return -1;
	if ((fds = realloc(ch->outfds, (ch->noutfds + 1) * sizeof(int))) == NULL)
		return -1;
	ch->outfds = fds;
	if ((ats = realloc(ch->outfd_at, (ch->noutfds + 1) * sizeof(size_t))) == NULL)
		return -1;
	ch->outfd_at = ats;
	ch->outfds[ch->noutfds] = fd;
	ch->outfd_at[ch->noutfds] = at;
	ch->noutfds++;
	return 0;
}

int
ipc_send(struct ipc *ch, uint32_t type, uint32_t id, int fd,
    const struct ipc_out *o)
{
	struct ipc_hdr h;
	size_t len = o ? o->len : 0;

	if (ch->closed || (o && o->overflow)) {
		errno = ch->closed ? EPIPE : EMSGSIZE;
		goto fail;
	}
	h.type = type;
	h.len = (uint32_t)len;
	h.id = id;
	h.flags = fd != -1 ? IPC_F_FD : 0;
	/* room first (ENOBUFS past IPC_OUT_MAX, ENOMEM): then nothing can fail */
	if (buf_reserve(&ch->out, sizeof(h) + len) == -1)
		goto fail;
	if (fd != -1 && ipc_fd_queue(ch, fd, ch->out.len) == -1) {
		errno = ENOMEM;
		goto fail;
	}
	(void)buf_append(&ch->out, &h, sizeof(h));
	if (len)
		(void)buf_append(&ch->out, o->p, len);
	/* written at the end of the round, or when the socket has room */
	if (!(ch->io.want & EV_WRITE) && !ev_timer_pending(&ch->flush))
		ev_timer_add(&ch->flush, 0);
	return 0;
fail:
	if (fd != -1) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}

/* ipc_flush - write as much as possible; -1 on a broken peer */
static int ipc_flush(struct ipc *ch);

/* ipc_want - the events to watch besides a pending write */
static unsigned
ipc_want(const struct ipc *ch)
{
	return ch->paused ? 0 : EV_READ;
}

void
ipc_pause(struct ipc *ch, bool pause)
{
	if (ch->closed || ch->paused == pause)
		return;
	ch->paused = pause;
	ev_io_want(&ch->io, ipc_want(ch) | (ch->io.want & EV_WRITE));
}

/*
 * ipc_flush_timer - the end of the round in which frames were queued:
 * write them; what the socket does not take waits for EV_WRITE
 */
static void
ipc_flush_timer(struct ev_timer *t, void *arg)
{
	struct ipc *ch = arg;

	(void)t;
	if (ch->closed)
		return;
	if (ipc_flush(ch) == -1)
		ipc_fail(ch, NULL);
}

static int
ipc_flush(struct ipc *ch)
{
	while (ch->out.len > 0) {
		size_t n = ch->out.len, nfd = 0, i;
		ssize_t w;
		struct msghdr mh;
		struct iovec iov;
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int) * IPC_FDS_MAX)];
		} cm;

		memset(&mh, 0, sizeof(mh));
		/*
		 * Frames with descriptors go IPC_FDS_MAX at a time with the
		 * frames before them (as many as ipc_recv takes in one read),
		 * the descriptors attached to the call: one sendmsg, and one
		 * read on the other side, for a burst (the smtp role's spare
		 * queue files, the deliveries of a round), not one each.
		 */
		if (ch->noutfds > 0) {
			nfd = ch->noutfds < IPC_FDS_MAX ? ch->noutfds :
			    IPC_FDS_MAX;
			n = nfd < ch->noutfds ? ch->outfd_at[nfd] : ch->out.len;
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfd);
			CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int) * nfd);
			CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
			CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
			memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), ch->outfds,
			    sizeof(int) * nfd);
		}
		iov.iov_base = buf_head(&ch->out);
		iov.iov_len = n;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		w = sendmsg(ch->fd, &mh, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {	/* the rest when there is room */
				ev_io_want(&ch->io, ipc_want(ch) | EV_WRITE);
				return 0;
			}
			return -1;
		}
		/* the descriptors went with the first bytes, even of a short write */
		if (nfd > 0) {
			for (i = 0; i < nfd; i++)
				close(ch->outfds[i]);
			memmove(ch->outfds, ch->outfds + nfd,
			    (ch->noutfds - nfd) * sizeof(int));
			memmove(ch->outfd_at, ch->outfd_at + nfd,
			    (ch->noutfds - nfd) * sizeof(size_t));
			ch->noutfds -= nfd;
		}
		buf_drain(&ch->out, (size_t)w);
		for (i = 0; i < ch->noutfds; i++)
			ch->outfd_at[i] -= (size_t)w;
	}
	ev_io_want(&ch->io, ipc_want(ch));
	return 0;
}

/*
 * ipc_recv - read bytes and descriptors; 0 on EOF, -1 error, 1 data, 2
 * nothing now, 3 data and the socket was empty after it, 4 data that
 * came with descriptors.  A Unix stream socket's read ends early only
 * where the queue ran dry or after a buffer that carried descriptors, so
 * a short read without any is the last there is; the caller need not read
 * again to get EAGAIN (the watch is level-triggered: whatever comes later
 * wakes the loop again).
 */
static int
ipc_recv(struct ipc *ch)
{
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * IPC_FDS_MAX)];
	} cm;
	ssize_t r;
	bool gotfd = false;

	if (buf_reserve(&ch->in, sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD) == -1)
		return -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf_tail(&ch->in);
	iov.iov_len = sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	r = recvmsg(ch->fd, &mh, MSG_CMSG_CLOEXEC);
	if (r == -1)
		return (errno == EAGAIN || errno == EINTR) ? 2 : -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int *fds = (int *)CMSG_DATA(c);
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		gotfd = true;
		for (i = 0; i < n; i++) {
			if (ch->ninfds < sizeof(ch->infds) / sizeof(int))
				ch->infds[ch->ninfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
	if (r == 0)
		return 0;
	buf_commit(&ch->in, (size_t)r);
	if (gotfd)
		return 4;
	return (size_t)r < iov.iov_len && !(mh.msg_flags & MSG_CTRUNC) ? 3 : 1;
}

/*
 * ipc_dispatch - hand every complete frame to the owner; false when the
 * channel closed meanwhile (after ipc_fail, on_close may have freed ch)
 */
static bool
ipc_dispatch(struct ipc *ch)
{
	while (!ch->closed && ch->in.len >= sizeof(struct ipc_hdr)) {
		struct ipc_msg m;

		memcpy(&m.hdr, buf_head(&ch->in), sizeof(m.hdr));
		if (m.hdr.len > IPC_MAX_PAYLOAD) {
			ipc_fail(ch, "oversized frame");
			return false;
		}
		if (ch->in.len < sizeof(m.hdr) + m.hdr.len)
			return true;
		m.p = (const uint8_t *)buf_head(&ch->in) + sizeof(m.hdr);
		m.pos = 0;
		m.bad = false;
		m.fd = -1;
		if (m.hdr.flags & IPC_F_FD) {
			if (ch->ninfds == 0) {
				ipc_fail(ch, "frame announces a descriptor that did not come");
				return false;
			}
			m.fd = ch->infds[0];
			memmove(ch->infds, ch->infds + 1,
			    (--ch->ninfds) * sizeof(int));
		}
		/* the payload stays in `in` during the callback: drain after */
		ch->on_msg(ch, &m, ch->arg);
		if (ch->closed)
			return false;
		buf_drain(&ch->in, sizeof(m.hdr) + m.hdr.len);
	}
	return !ch->closed;
}

static void
ipc_io(struct ev_io *io, unsigned events, void *arg)
{
	struct ipc *ch = arg;
	int i, r;

	if ((events & EV_WRITE) && ipc_flush(ch) == -1) {
		ipc_fail(ch, NULL);
		return;
	}
	/* paused: a hang-up is read at once (the frames before it too) */
	if (!(events & EV_READ) && !(ch->paused && (events & EV_ERROR)))
		return;
	/*
	 * Every frame already received, not one read per wakeup: a frame
	 * with a descriptor ends a recvmsg, and the owner may batch what
	 * arrives together (the deliver role's fsyncs).  Bounded, so that a
	 * busy peer cannot hold the loop.  Until a read finds the socket
	 * empty (ipc_recv: a short read without descriptors), so one call
	 * mostly, not one more for EAGAIN.  After a read that brought
	 * descriptors (it ends there, whatever follows) the loop's next
	 * epoll_wait says whether more came, rather than a recvmsg that mostly
	 * finds nothing (one system call less per descriptor passed: the
	 * queue file of each delivery, issue 17); that wait returns at once
	 * if there is more, and the timers that may run before it (end of
	 * round) only end a batch early.
	 */
	for (i = 0; i < IPC_READS_MAX; i++) {
		r = ipc_recv(ch);
		if (r == 2)
			return;
		if (r <= 0) {
			ipc_fail(ch, NULL);
			return;
		}
		if (!ipc_dispatch(ch) || r == 3 || r == 4)
			return;
	}
}

bool
ipc_drain(struct ipc *ch)
{
	int i, r;

	for (i = 0; i < IPC_READS_MAX && !ch->closed; i++) {
		if ((r = ipc_recv(ch)) == 2)
			break;
		if (r <= 0) {
			ipc_fail(ch, NULL);
			return false;
		}
		if (!ipc_dispatch(ch))
			return false;
		if (r == 3)	/* a short read without descriptors: the last */
			break;
	}
	return !ch->closed;
}

void
ipc_out_init(struct ipc_out *o)
{
	o->len = 0;
	o->overflow = false;
}

static void
ipc_put(struct ipc_out *o, const void *p, size_t n)
{
	if (o->overflow || n > sizeof(o->p) - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

void
ipc_put_u32(struct ipc_out *o, uint32_t v)
{
	ipc_put(o, &v, sizeof(v));
}

void
ipc_put_u64(struct ipc_out *o, uint64_t v)
{
	ipc_put(o, &v, sizeof(v));
}

void
ipc_put_data(struct ipc_out *o, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		o->overflow = true;
		return;
	}
	ipc_put_u32(o, (uint32_t)n);
	ipc_put(o, p, n);
}

void
ipc_put_strn(struct ipc_out *o, const char *s, size_t n)
{
	if (n >= UINT32_MAX) {
		o->overflow = true;
		return;
	}
	ipc_put_u32(o, (uint32_t)n + 1);
	ipc_put(o, s, n);
	ipc_put(o, "", 1);
}

void
ipc_put_str(struct ipc_out *o, const char *s)
{
	ipc_put_strn(o, s, strlen(s));
}

static bool
ipc_get(struct ipc_msg *m, void *p, size_t n)
{
	if (m->bad || n > m->hdr.len - m->pos) {
		m->bad = true;
		return false;
	}
	memcpy(p, m->p + m->pos, n);
	m->pos += n;
	return true;
}

bool
ipc_get_u32(struct ipc_msg *m, uint32_t *v)
{
	return ipc_get(m, v, sizeof(*v));
}

bool
ipc_get_u64(struct ipc_msg *m, uint64_t *v)
{
	return ipc_get(m, v, sizeof(*v));
}

bool
ipc_get_data(struct ipc_msg *m, const void **p, size_t *n)
{
	uint32_t len;

	if (!ipc_get_u32(m, &len))
		return false;
	if (len > m->hdr.len - m->pos) {
		m->bad = true;
		return false;
	}
	*p = m->p + m->pos;
	*n = len;
	m->pos += len;
	return true;
}

bool
ipc_get_str(struct ipc_msg *m, const char **s, size_t *n)
{
	const void *p;
	size_t len;

	if (!ipc_get_data(m, &p, &len))
		return false;
	if (len == 0 || ((const char *)p)[len - 1] != '\0' ||
	    memchr(p, '\0', len - 1) != NULL) {
		m->bad = true;
		return false;
	}
	*s = p;
	if (n)
		*n = len - 1;
	return true;
}

bool
ipc_get_end(struct ipc_msg *m)
{
	return !m->bad && m->pos == m->hdr.len;
}

int
ipc_write_sync(int fd, uint32_t type, uint32_t id, int passfd,
    const struct ipc_out *o)
{
	struct ipc_hdr h;
	struct msghdr mh;
	struct iovec iov[2];
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	ssize_t w;

	if (o && o->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	h.type = type;
	h.len = o ? (uint32_t)o->len : 0;
	h.id = id;
	h.flags = passfd != -1 ? IPC_F_FD : 0;
	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = o ? (void *)o->p : NULL;
	iov[1].iov_len = h.len;
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (passfd != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
		CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &passfd, sizeof(int));
	}
	do
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (w == -1 && errno == EINTR);
	if (w == -1)
		return -1;
	if ((size_t)w != sizeof(h) + h.len) {	/* blocking socket: short means broken */
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* ipc_read_full - read exactly n bytes with a deadline */
static int
ipc_read_full(int fd, uint8_t *p, size_t n, int timeout_ms)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int pr = poll(&pfd, 1, timeout_ms);

		if (pr == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (pr == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		r = read(fd, p, n);
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (r == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
ipc_read_sync(int fd, struct ipc_msg *m, uint8_t *store, int timeout_ms)
{
	if (ipc_read_full(fd, (uint8_t *)&m->hdr, sizeof(m->hdr), timeout_ms) == -1)
		return -1;
	if (m->hdr.len > IPC_MAX_PAYLOAD || (m->hdr.flags & IPC_F_FD)) {
		errno = EPROTO;
		return -1;
	}
	if (ipc_read_full(fd, store, m->hdr.len, timeout_ms) == -1)
		return -1;
	m->p = store;
	m->pos = 0;
	m->fd = -1;
	m->bad = false;
	return 0;
}

int
ipc_connect_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (!bstrcpy(sun.sun_path, path, sizeof(sun.sun_path))) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
ipc_listen_unix(const char *path, unsigned mode)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (!bstrcpy(sun.sun_path, path, sizeof(sun.sun_path))) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	/*
	 * a socket somebody still listens on is not stale: a second daemon
	 * started by mistake must not take it from the running one (which
	 * would go on without it: every client's connect failing)
	 */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		errno = EADDRINUSE;
		return -1;
	}
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, mode) == -1 || listen(fd, 128) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
