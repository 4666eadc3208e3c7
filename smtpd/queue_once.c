/* SPDX-License-Identifier: ISC */
/*
 * queue_once.c - the queue takes a fetched message only once (issue 12).
 *
 * The fetch role (fetch.c) names each message it hands over with MAIL
 * FROM:<> ONCE=KEY, KEY a hash of the account, UIDVALIDITY and UID (or the
 * POP3 UIDL), and records the message as fetched only after the queue's
 * 250.  If smtpd dies between the queue's fsync and that record, the next
 * poll offers the same message again: the queue then answers 250 without
 * queueing it a second time.
 *
 * state_dir/queue/once holds the keys, one per line, appended and
 * fdatasync'd before the 250 of the message each names (the directory is
 * fsync'd when the file is made); recover() adds
 * the keys of the messages found in the queue at start, which covers a
 * death between the queue file's fsync and the append.  Only the last
 * ONCE_KEEP keys are remembered (the file is rewritten, tmp + fsync +
 * rename, when it holds twice as many): the fetch role offers again only
 * the message it was handing over when it died, so a short memory is
 * enough, and it costs nothing until the first fetched message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmem.h"
#include "queue.h"

#define ONCE_KEEP	512
#define ONCE_FILE	"once"

static struct {
	char	(*key)[ONCE_KEY_LEN + 1];	/* a ring of ONCE_KEEP keys */
	size_t	 n;		/* keys in the ring */
	size_t	 next;		/* where the next key goes */
	size_t	 lines;		/* lines in the file */
	int	 fd;		/* the file, open for appending */
	int	 dirfd;		/* state_dir/queue */
} once = { .fd = -1, .dirfd = -1 };

static void
ring_add(const char *key)
{
	memcpy(once.key[once.next], key, ONCE_KEY_LEN + 1);
	once.next = (once.next + 1) % ONCE_KEEP;
	if (once.n < ONCE_KEEP)
		once.n++;
}

static bool
ring_has(const char *key)
{
	size_t i;

	for (i = 0; i < once.n; i++)
		if (memcmp(once.key[i], key, ONCE_KEY_LEN) == 0)
			return true;
	return false;
}

/* once_load - the ring from the file, which is then opened to append */
static int
once_load(void)
{
	char line[ONCE_KEY_LEN + 8];
	char *dir;
	FILE *f;
	int fd;
	bool made;

	if (once.key != NULL)
		return once.fd == -1 ? -1 : 0;
	once.key = xcalloc(ONCE_KEEP, sizeof(*once.key));
	dir = xstrdup(*q.dir ? q.dir : "/");
	once.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (once.dirfd == -1)
		log_warn("once: %s", dir);
	free(dir);
	if (once.dirfd == -1)
		return -1;
	if ((fd = openat(once.dirfd, ONCE_FILE, O_RDONLY | O_CLOEXEC)) != -1 &&
	    (f = fdopen(fd, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			size_t n = strcspn(line, "\n");

			once.lines++;
			line[n] = '\0';
			if (once_key_ok(line, n))	/* a torn last line is not */
				ring_add(line);
		}
		fclose(f);
	} else if (fd != -1)
		close(fd);
	made = fd == -1 && errno == ENOENT;
	once.fd = openat(once.dirfd, ONCE_FILE, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0600);
	if (once.fd == -1) {
		log_warn("once: %s/%s", q.dir, ONCE_FILE);
		return -1;
	}
	/* a key counts once on disk: the new file's entry too */
	if (made && fsync(once.dirfd) == -1) {
		log_warn("once: fsync %s", *q.dir ? q.dir : "/");
		close(once.fd);
		once.fd = -1;
		return -1;
	}
	return 0;
}

/* once_rewrite - the file cut down to the ring; -1 leaves the old one */
static int
once_rewrite(void)
{
	char tmp[] = ONCE_FILE ".tmp";
	size_t i, k;
	FILE *f;
	int fd;
	bool ok;

	if ((fd = openat(once.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	for (i = 0; i < once.n; i++) {
		k = (once.next + ONCE_KEEP - once.n + i) % ONCE_KEEP;
		fprintf(f, "%s\n", once.key[k]);
	}
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || renameat(once.dirfd, tmp, once.dirfd, ONCE_FILE) == -1 ||
	    fsync(once.dirfd) == -1)
		return -1;
	close(once.fd);
	once.fd = openat(once.dirfd, ONCE_FILE, O_WRONLY | O_APPEND |
	    O_CLOEXEC);
	once.lines = once.n;
	return once.fd == -1 ? -1 : 0;
}

bool
queue_once_seen(const char *key)
{
	return once_load() == 0 && ring_has(key);
}

int
queue_once_record(const char *key, bool sync)
{
	char line[ONCE_KEY_LEN + 1];

	if (once_load() == -1)
		return -1;
	if (ring_has(key))
		return 0;
	memcpy(line, key, ONCE_KEY_LEN);
	line[ONCE_KEY_LEN] = '\n';
	if (write(once.fd, line, sizeof(line)) != (ssize_t)sizeof(line) ||
	    (sync && fdatasync(once.fd) == -1)) {
		log_warn("once: %s/queue/%s", smtpd_conf->state_dir, ONCE_FILE);
		return -1;
	}
	ring_add(key);
	if (++once.lines >= 2 * ONCE_KEEP && once_rewrite() == -1)
		log_warn("once: cannot rewrite %s/queue/%s",
		    smtpd_conf->state_dir, ONCE_FILE);
	return 0;
}

int
queue_once_sync(void)
{
	return once.fd == -1 || fdatasync(once.fd) == 0 ? 0 : -1;
}
