/* SPDX-License-Identifier: ISC */
/*
 * fsyncv_test.c - unit tests for lib/fsyncv.c: fsyncv() of several files,
 * unlinkat_bg(), and recycle_bg()/recycle_reap() (issue 17): a file is
 * made empty and renamed, the same inode handed back open; a rename onto
 * an existing name is refused (RENAME_NOREPLACE) and the file is then
 * removed, the other name untouched; fsyncv_collect() alone carries a
 * recycle through (a ring that defers completions).  Where the ring or the
 * kernel's IORING_OP_FTRUNCATE is missing recycle_bg() declines, and the
 * test only checks that nothing was touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsyncv.h"
#include "t.h"

static int dirfd_;

static int
mkfile(const char *name, const char *data)
{
	int fd = openat(dirfd_, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);

	if (fd != -1 && write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
exists(const char *name, struct stat *st)
{
	struct stat tmp;

	return fstatat(dirfd_, name, st ? st : &tmp, 0) == 0;
}

/* reap - wait (at most 5 s) for one finished recycle */
static bool
reap(int *fd, char *to, size_t tosz)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	int i;

	for (i = 0; i < 2500; i++) {
		if (recycle_reap(fd, to, tosz))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* collect_until - fsyncv_collect (at most 5 s) until name exists */
static bool
collect_until(const char *name)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	int i;

	for (i = 0; i < 2500 && !exists(name, NULL); i++) {
		fsyncv_collect();
		nanosleep(&ts, NULL);
	}
	return exists(name, NULL);
}

/* wait_gone - a background unlink or a failed recycle's cleanup */
static bool
wait_gone(const char *name)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	int i, fd;
	char to[64];

	for (i = 0; i < 2500 && exists(name, NULL); i++) {
		(void)recycle_reap(&fd, to, sizeof(to));
		nanosleep(&ts, NULL);
	}
	return !exists(name, NULL);
}

int
main(void)
{
	char tmpl[] = "/tmp/fsyncv_test.XXXXXX", to[64];
	struct stat st, st2;
	int fds[3], errs[3], fd, got;

	if (mkdtemp(tmpl) == NULL ||
	    (dirfd_ = open(tmpl, O_RDONLY | O_DIRECTORY)) == -1)
		return 2;

	/* fsyncv: every file's result */
	fds[0] = mkfile("a", "one");
	fds[1] = mkfile("b", "two");
	fds[2] = mkfile("c", "three");
	CHECK(fsyncv(fds, errs, 3) == 0);
	CHECK(errs[0] == 0 && errs[1] == 0 && errs[2] == 0);
	close(fds[2]);
	fds[2] = 1000;		/* not open */
	CHECK(fsyncv(fds, errs, 3) == 1 && errs[2] == EBADF);
	close(fds[0]);
	close(fds[1]);

	/* unlinkat_bg */
	CHECK(unlinkat_bg(dirfd_, "c") == 0);
	CHECK(wait_gone("c"));

	/* recycle: empty, new name, same inode, open */
	fd = mkfile("old1", "a finished message\n");
	CHECK(fd != -1 && fstat(fd, &st) == 0);
	if (recycle_bg(fd, dirfd_, "old1", "new1")) {
		got = -1;
		CHECK(reap(&got, to, sizeof(to)));
		CHECK_STR(to, "new1");
		CHECK(got == fd);
		CHECK(!exists("old1", NULL));
		CHECK(exists("new1", &st2) && st2.st_ino == st.st_ino &&
		    st2.st_size == 0);
		CHECK(write(got, "x", 1) == 1);	/* still writable */
		close(got);

		/*
		 * without recycle_reap: fsyncv_collect alone lets the rename
		 * follow the truncate (a ring that defers completions starts
		 * the linked rename only once they are collected)
		 */
		fd = mkfile("old3", "yet another\n");
		CHECK(recycle_bg(fd, dirfd_, "old3", "new3"));
		CHECK(collect_until("new3"));
		CHECK(!exists("old3", NULL));
		CHECK(reap(&got, to, sizeof(to)));
		CHECK_STR(to, "new3");
		close(got);

		/* onto an existing name: refused, the file removed */
		fd = mkfile("old2", "another\n");
		CHECK(recycle_bg(fd, dirfd_, "old2", "a"));
		CHECK(!reap(&got, to, sizeof(to)));
		CHECK(wait_gone("old2"));
		CHECK(exists("a", &st2) && st2.st_size == 3);
	} else {
		CHECK(exists("old1", &st2) && st2.st_size == 19);
		close(fd);
		printf("recycle_bg declined here: checked only that\n");
	}
	(void)unlinkat(dirfd_, "a", 0);
	(void)unlinkat(dirfd_, "b", 0);
	(void)unlinkat(dirfd_, "new1", 0);
	(void)unlinkat(dirfd_, "new3", 0);
	(void)unlinkat(dirfd_, "old1", 0);
	close(dirfd_);
	(void)rmdir(tmpl);
	return T_DONE();
}
