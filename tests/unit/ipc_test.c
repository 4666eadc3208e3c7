/* SPDX-License-Identifier: ISC */
/*
 * ipc_test.c - unit tests for lib/ipc.c on the event loop, over a
 * socketpair: a peer that does not read makes ipc_send() fail with ENOBUFS
 * once IPC_OUT_MAX bytes are queued (it used to grow without bound and
 * fatal() on out of memory), a descriptor given to a failed send is closed,
 * the channel keeps working once the peer reads, frames and passed
 * descriptors arrive intact, and EMSGSIZE / EPIPE are reported.  A frame
 * queued by a timer callback that blocked a while (the queue role's
 * fsync) is written at once: the loop used to sleep as long again before
 * it ran the 0 ms flush timer, which delayed every 250 by an fsync's time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "ipc.h"
#include "log.h"
#include "t.h"
#include "t_ev.h"

struct peer {
	struct ipc	 ch;
	size_t		 frames;
	size_t		 want;		/* ev_break() after this many */
	bool		 bad;		/* a frame was not what was sent */
	int		 fds;		/* descriptors received */
	bool		 closed;
};

static void
peer_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct peer *p = arg;
	const void *d;
	size_t n, i;
	uint32_t seq;

	if (!ipc_get_u32(m, &seq) || !ipc_get_data(m, &d, &n) ||
	    !ipc_get_end(m) || m->hdr.type != 7 || seq != p->frames)
		p->bad = true;
	else
		for (i = 0; i < n; i++)
			if (((const unsigned char *)d)[i] != (unsigned char)(seq + i))
				p->bad = true;
	if (m->fd != -1) {
		p->fds++;
		close(m->fd);
	}
	if (++p->frames == p->want)
		ev_break();
}

static void
peer_close(struct ipc *ch, void *arg)
{
	struct peer *p = arg;

	p->closed = true;
}

/* frame - sequence number and as many patterned bytes as fit */
static void
frame(struct ipc_out *o, uint32_t seq)
{
	unsigned char d[IPC_MAX_PAYLOAD];
	size_t i, n = IPC_MAX_PAYLOAD - 8;

	for (i = 0; i < n; i++)
		d[i] = (unsigned char)(seq + i);
	ipc_out_init(o);
	ipc_put_u32(o, seq);
	ipc_put_data(o, d, n);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
test_bounded_out(void)
{
	static struct ipc_out o;
	struct peer a, b;
	size_t sent = 0, i, per = sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD;
	int sv[2], pp[2], r = 0, e = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ipc_init(&a.ch, sv[0], peer_msg, peer_close, &a);

	/* nobody reads sv[1]: the queue fills up to its bound, then -1 */
	for (i = 0; i < IPC_OUT_MAX / per + 64; i++) {
		frame(&o, (uint32_t)i);
		errno = 0;
		if ((r = ipc_send(&a.ch, 7, 1, -1, &o)) == -1) {
			e = errno;
			break;
		}
		sent++;
	}
	CHECK(r == -1 && e == ENOBUFS);
	CHECK(sent == IPC_OUT_MAX / per);
	CHECK(ipc_pending(&a.ch) == sent * per);
	CHECK(!a.ch.closed && !a.closed);

	/* a failed send closes the descriptor it was given */
	CHECK(pipe(pp) == 0);
	frame(&o, (uint32_t)sent);
	CHECK(ipc_send(&a.ch, 7, 1, pp[0], &o) == -1);
	CHECK(!fd_open(pp[0]));
	CHECK(ipc_pending(&a.ch) == sent * per);	/* nothing queued */

	/* the peer reads: every frame arrives intact, then sends work again */
	ipc_init(&b.ch, sv[1], peer_msg, peer_close, &b);
	b.want = sent;
	CHECK(t_run(5000));
	CHECK(b.frames == sent && !b.bad);
	CHECK(ipc_pending(&a.ch) == 0);
	frame(&o, (uint32_t)sent);
	CHECK(ipc_send(&a.ch, 7, 1, pp[1], &o) == 0);	/* with a descriptor */
	b.want = sent + 1;
	CHECK(t_run(5000));
	CHECK(b.frames == sent + 1 && !b.bad && b.fds == 1);
	CHECK(!fd_open(pp[1]));			/* closed once sent */

	/* an overflowed message, a closed channel */
	ipc_out_init(&o);
	for (i = 0; i < IPC_MAX_PAYLOAD / 4 + 1; i++)
		ipc_put_u32(&o, 0);
	CHECK(o.overflow);
	CHECK(pipe(pp) == 0);
	errno = 0;
	CHECK(ipc_send(&a.ch, 7, 1, pp[0], &o) == -1 && errno == EMSGSIZE);
	CHECK(!fd_open(pp[0]));
	ipc_close(&a.ch);
	frame(&o, 0);
	errno = 0;
	CHECK(ipc_send(&a.ch, 7, 1, pp[1], &o) == -1 && errno == EPIPE);
	CHECK(!fd_open(pp[1]));
	ipc_close(&b.ch);
}

#define BLOCK_MS	200

static struct ipc	*slow_ch;

/* slow_send - a timer callback that blocks BLOCK_MS, then sends */
static void
slow_send(struct ev_timer *t, void *arg)
{
	static struct ipc_out o;

	usleep(BLOCK_MS * 1000);
	frame(&o, 0);
	*(uint64_t *)arg = now_ms();
	CHECK(ipc_send(slow_ch, 7, 1, -1, &o) == 0);
}

static void
test_flush_after_slow_timer(void)
{
	struct peer a, b;
	struct ev_timer t;
	uint64_t sent = 0;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ipc_init(&a.ch, sv[0], peer_msg, peer_close, &a);
	ipc_init(&b.ch, sv[1], peer_msg, peer_close, &b);
	b.want = 1;
	slow_ch = &a.ch;
	ev_timer_init(&t, slow_send, &sent);
	ev_timer_add(&t, 0);
	CHECK(t_run(5000));
	CHECK(b.frames == 1 && !b.bad);
	/* not BLOCK_MS more (a loaded machine may add some delay) */
	CHECK(sent != 0 && now_ms() - sent < BLOCK_MS * 3 / 4);
	ipc_close(&a.ch);
	ipc_close(&b.ch);
}

/* burst: frames received, and whether each descriptor was its frame's */
static struct {
	struct ipc	 ch;
	size_t		 frames, fds;
	bool		 bad;
} burst;

static void
burst_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	uint32_t seq;
	char c;

	if (!ipc_get_u32(m, &seq) || !ipc_get_end(m) || seq != burst.frames ||
	    (m->fd != -1) != (seq % 3 != 1))
		burst.bad = true;
	if (m->fd != -1) {	/* a pipe whose one byte is its frame's number */
		if (read(m->fd, &c, 1) != 1 || c != (char)seq)
			burst.bad = true;
		burst.fds++;
		close(m->fd);
	}
	if (++burst.frames == 23)
		ev_break();
}

/*
 * test_fd_burst - frames with and without descriptors sent in one round go
 * IPC_FDS_MAX descriptors to a sendmsg (ipc_flush); each descriptor still
 * arrives with its own frame, and every one is closed once sent
 */
static void
test_fd_burst(void)
{
	struct ipc a;
	struct ipc_out o;
	int sv[2], pp[2], sent[23];
	uint32_t i;
	size_t nsent = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ipc_init(&a, sv[0], NULL, NULL, NULL);
	ipc_init(&burst.ch, sv[1], burst_msg, NULL, NULL);
	for (i = 0; i < 23; i++) {
		ipc_out_init(&o);
		ipc_put_u32(&o, i);
		if (i % 3 == 1) {
			CHECK(ipc_send(&a, 7, 1, -1, &o) == 0);
			continue;
		}
		CHECK(pipe(pp) == 0);
		CHECK(write(pp[1], &(char){ (char)i }, 1) == 1);
		close(pp[1]);
		sent[nsent++] = pp[0];
		CHECK(ipc_send(&a, 7, 1, pp[0], &o) == 0);
	}
	CHECK(t_run(5000));
	CHECK(burst.frames == 23 && burst.fds == nsent && !burst.bad);
	for (i = 0; i < nsent; i++)
		CHECK(!fd_open(sent[i]));
	ipc_close(&a);
	ipc_close(&burst.ch);
}

int
main(void)
{
	log_init("ipc_test", true, false);
	ev_init();
	test_bounded_out();
	test_flush_after_slow_timer();
	test_fd_burst();
	return T_DONE();
}
