/* SPDX-License-Identifier: ISC */
/*
 * fuzz_feed.c - the client side shared by the session fuzz targets
 * (fuzz_imap_session, fuzz_pop3_session, fuzz_smtp_session), see
 * fuzz_feed.h: the socketpair, the feeder on the event loop, the hang
 * timer, and the scratch directory and files of a session.  Runs inside
 * the target's process, on its one event loop; aborts on its own
 * failures.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_feed.h"

#define FUZZ_FEED_HANG_MS	10000	/* no end by then: a hang */

/* fuzz_feed_pair - a socketpair: sv[0] for the session, sv[1] the client */
void
fuzz_feed_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		abort();
}

/*
 * feed_read - reads what the session wrote, shown with FUZZ_FEED_SHOW,
 * else dropped; false once the session has closed its end
 */
static bool
feed_read(struct fuzz_feed *f)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		n = read(f->io.fd, buf, sizeof(buf));
		if (n > 0) {
			if (f->flags & FUZZ_FEED_SHOW)
				fwrite(buf, 1, (size_t)n, stderr);
			continue;
		}
		return n != 0 && (errno == EAGAIN || errno == EINTR);
	}
}

static void
feed_cb(struct ev_io *io, unsigned events, void *arg)
{
	struct fuzz_feed *f = arg;
	ssize_t n;

	(void)events;
	if (!feed_read(f)) {		/* the session is gone */
		if (f->flags & FUZZ_FEED_EOF)
			ev_break();
		else
			ev_io_stop(io);
		return;
	}
	while (f->off < f->size) {
		n = write(io->fd, f->data + f->off, f->size - f->off);
		if (n <= 0)
			break;
		f->off += (size_t)n;
	}
	if ((f->flags & FUZZ_FEED_EOF) && f->off == f->size && !f->shut)
		fuzz_feed_eof(f);	/* the client is done */
	ev_io_want(io, EV_READ | (f->off < f->size ? EV_WRITE : 0));
}

static void
hang_cb(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	abort();
}

/*
 * fuzz_feed_start - send data[0..size) to the session through fd (the
 * client's end, owned by f from now on) as the loop runs, and start the
 * hang timer.  data must stay valid until fuzz_feed_stop().
 */
void
fuzz_feed_start(struct fuzz_feed *f, int fd, const uint8_t *data,
    size_t size, unsigned flags)
{
	memset(f, 0, sizeof(*f));
	f->data = data;
	f->size = size;
	f->flags = flags;
	ev_io_init(&f->io, fd, feed_cb, f);
	ev_io_want(&f->io, EV_READ | EV_WRITE);
	ev_timer_init(&f->hang, hang_cb, NULL);
	ev_timer_add(&f->hang, FUZZ_FEED_HANG_MS);
}

/* fuzz_feed_eof - the client is done: EOF to the session */
void
fuzz_feed_eof(struct fuzz_feed *f)
{
	shutdown(f->io.fd, SHUT_WR);
	f->shut = true;
}

/*
 * fuzz_feed_stop - after the loop: shows what the session wrote last
 * (FUZZ_FEED_SHOW), stops the timer and the feeder, closes the client's end
 */
void
fuzz_feed_stop(struct fuzz_feed *f)
{
	if (f->flags & FUZZ_FEED_SHOW)
		(void)feed_read(f);
	ev_timer_del(&f->hang);
	ev_io_stop(&f->io);
	close(f->io.fd);
}

/*
 * fuzz_feed_tmpdir - dir[0..size) = a directory for this process named
 * after the target, on /dev/shm where it can (a tmpfs: no disk I/O per
 * input), else /tmp; made if it is not there.  The caller removes it.
 */
void
fuzz_feed_tmpdir(char *dir, size_t size, const char *name)
{
	if ((size_t)snprintf(dir, size, "%s/%s.%d",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name,
	    (int)getpid()) >= size)
		abort();
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		abort();
}

/* fuzz_feed_file - dir/name holds text (a message of a Maildir) */
void
fuzz_feed_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	FILE *fp;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p) ||
	    (fp = fopen(p, "w")) == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* fuzz_feed_rmtree - removes root and all below it, errors ignored */
void
fuzz_feed_rmtree(const char *root)
{
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
