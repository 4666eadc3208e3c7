/* SPDX-License-Identifier: ISC */
/*
 * authd_watch.c - tells authd's clients when users.db or aliases.db
 * changed, so that they may keep RCPT answers until then (lib/rcpt_cache.c,
 * AUTHD_CHANGED in lib/authc.h).
 *
 * An inotify watch on the databases' directory, opened before the chroot
 * (the watch follows the directory, not its path).  facteur-keytool
 * renames a new file over the old one; a file written in place, created
 * or removed counts too.  Every event of the directory's two files read in
 * one loop round makes one AUTHD_CHANGED to every client.  Without inotify
 * (no kernel support, the instance limit reached) authd says so at HELLO
 * and clients keep nothing.
 */
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "authd.h"
#include "log.h"

#define WATCH_MASK	(IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | \
			 IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE_SELF | \
			 IN_MOVE_SELF)

static struct {
	int		 fd;
	struct ev_io	 io;
} watch = { .fd = -1 };

int
authd_watch_open(const char *dir)
{
	int fd;

	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("inotify_init1: RCPT answers are not kept in smtpd");
		return -1;
	}
	if (inotify_add_watch(fd, dir, WATCH_MASK) == -1) {
		log_warn("inotify %s: RCPT answers are not kept in smtpd", dir);
		close(fd);
		return -1;
	}
	watch.fd = fd;
	return 0;
}

bool
authd_watch_active(void)
{
	return watch.fd != -1;
}

static bool
db_name(const struct inotify_event *e)
{
	return e->len == 0 ||	/* the directory itself */
	    strcmp(e->name, "users.db") == 0 || strcmp(e->name, "aliases.db") == 0;
}

static void
watch_on_read(struct ev_io *io, unsigned events, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	(void)io;
	(void)events;
	(void)arg;
	while ((n = read(watch.fd, buf, sizeof(buf))) > 0) {
		const char *p = buf;

		while (p < buf + n) {
			const struct inotify_event *e = (const void *)p;

			if ((e->mask & IN_Q_OVERFLOW) || db_name(e))
				changed = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		/* cannot tell changes any more: clients must not keep answers */
		log_warn("inotify read: RCPT answers are no longer kept");
		ev_io_stop(&watch.io);
		close(watch.fd);
		watch.fd = -1;
		authd_peer_changed(true);
		return;
	}
	if (changed)
		authd_peer_changed(false);
}

void
authd_watch_start(void)
{
	if (watch.fd == -1)
		return;
	ev_io_init(&watch.io, watch.fd, watch_on_read, NULL);
	if (ev_io_want(&watch.io, EV_READ) == -1) {
		log_warn("inotify: RCPT answers are not kept in smtpd");
		close(watch.fd);
		watch.fd = -1;
	}
}
