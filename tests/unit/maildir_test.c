/* SPDX-License-Identifier: ISC */
/*
 * maildir_test.c - lib/maildir.c: the listing used by crash recovery
 * (maildir_index_*) answers as maildir_exists() does, and answers many
 * questions about a big Maildir in one listing (issue 16 item 8: recovery
 * listed the Maildir once per recovered message); a batch written with
 * maildir_write() and made durable with maildir_commitv() (more than one
 * fsyncv() chunk, two Maildirs) ends up whole in new/ with tmp/ empty;
 * fsyncv() reports a bad descriptor as that entry's error only;
 * unlinkat_bg() removes files (more than its in-flight limit at once, so
 * some wait for a slot or go the plain way), a missing one only logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsyncv.h"
#include "maildir.h"
#include "t.h"

#define NFILES	20000
#define NASK	5000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
touch(const char *dir, const char *sub, const char *name)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/%s/%s", dir, sub, name);
	if ((fd = open(p, O_WRONLY | O_CREAT, 0600)) != -1)
		close(fd);
}

static int
count(const char *dir, const char *sub)
{
	char cmd[4200], out[32] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls -A %s/%s | wc -l", dir, sub);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(out, sizeof(out), f) == NULL)
		out[0] = '\0';
	pclose(f);
	return atoi(out);
}

#define NBATCH	70

static void
test_commitv(const char *top)
{
	struct maildir_tmp t[NBATCH], *tp[NBATCH];
	const char *steps[NBATCH];
	char dirs[2][4096], base[4200], src[] = "/tmp/maildir_src.XXXXXX";
	int errs[NBATCH], fds[3], ferr[3], srcfd, i, ok = 0;

	snprintf(dirs[0], sizeof(dirs[0]), "%s/a", top);
	snprintf(dirs[1], sizeof(dirs[1]), "%s/b", top);
	CHECK(maildir_create(dirs[0]) == 0 && maildir_create(dirs[1]) == 0);
	CHECK((srcfd = mkstemp(src)) != -1);
	CHECK(write(srcfd, "Subject: x\n\nbody\n", 17) == 17);
	for (i = 0; i < NBATCH; i++) {
		snprintf(base, sizeof(base), "1700000000.Q%016x_0.host", i);
		/* from the third on, the directories of two before */
		CHECK(maildir_write(dirs[i % 2], base, "H: 1\n", 5, srcfd, 17,
		    &t[i], i >= 2 ? &t[i - 2] : NULL) == 0);
		CHECK(t[i].shared == (i >= 2));
		tp[i] = &t[i];
	}
	maildir_commitv(tp, errs, steps, NBATCH);
	for (i = 0; i < NBATCH; i++)
		ok += errs[i] == 0;
	CHECK(ok == NBATCH);
	CHECK(count(dirs[0], "new") == NBATCH / 2);
	CHECK(count(dirs[1], "new") == NBATCH / 2);
	CHECK(count(dirs[0], "tmp") == 0 && count(dirs[1], "tmp") == 0);
	CHECK(maildir_exists(dirs[1], "1700000000.Q0000000000000001_0.host"));
	/* 5 + 17 bytes and 4 LFs: W= is the size with CRLF */
	snprintf(base, sizeof(base), "%s/new/1700000000.Q%016x_0.host,W=26",
	    dirs[0], 0);
	CHECK(access(base, F_OK) == 0);
	/* fsyncv: one bad descriptor fails alone */
	fds[0] = srcfd;
	fds[1] = 1000000;
	fds[2] = srcfd;
	CHECK(fsyncv(fds, ferr, 3) == 1);
	CHECK(ferr[0] == 0 && ferr[1] == EBADF && ferr[2] == 0);
	close(srcfd);
	unlink(src);
}

#define NUNLINK	100

static void
test_unlink_bg(const char *top)
{
	char dir[4096], name[32];
	double t0;
	int dfd, i, fd, left;

	snprintf(dir, sizeof(dir), "%s/unl", top);
	CHECK(mkdir(dir, 0700) == 0);
	CHECK((dfd = open(dir, O_RDONLY | O_DIRECTORY)) != -1);
	for (i = 0; i < NUNLINK; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if ((fd = openat(dfd, name, O_WRONLY | O_CREAT, 0600)) != -1) {
			(void)!write(fd, "x", 1);
			(void)fsync(fd);
			close(fd);
		}
	}
	for (i = 0; i < NUNLINK; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(unlinkat_bg(dfd, name) == 0);
	}
	/* a name that is not there: its failure is logged, nothing else */
	(void)unlinkat_bg(dfd, "missing");
	/* in a kernel worker: gone within a few seconds at most */
	for (t0 = now(); (left = count(top, "unl")) > 0 && now() - t0 < 10;)
		usleep(10000);
	CHECK(left == 0);
	close(dfd);
	CHECK(rmdir(dir) == 0);
}

int
main(void)
{
	char dir[] = "/tmp/maildir_test.XXXXXX", base[64], name[96];
	struct maildir_index ix;
	double t0, t_ix;
	int i, hits = 0;

	if (mkdtemp(dir) == NULL || maildir_create(dir) == -1) {
		perror("maildir");
		return 1;
	}
	for (i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "1700000000.Q%016x_0.host,W=%d%s",
		    i * 2, 100 + i, i % 3 ? "" : ":2,S");
		touch(dir, i % 2 ? "cur" : "new", name);
	}
	touch(dir, "new", "1700000000.Q00000000000000aa_0.hostX");
	CHECK(maildir_index_load(&ix, dir) == 0);
	CHECK(ix.n == NFILES + 1);
	/* the same answers as maildir_exists */
	static const char *const ask[] = {
		"1700000000.Q0000000000000000_0.host",	/* present, new/ */
		"1700000000.Q0000000000000002_0.host",	/* present, cur/, :2,S */
		"1700000000.Q0000000000000001_0.host",	/* odd: absent */
		"1700000000.Q00000000000000aa_0.host",	/* only a longer name */
		"1700000000.Q0000000000000000_0.hos",	/* a prefix, not a name */
		"0",
	};
	for (i = 0; i < (int)(sizeof(ask) / sizeof(ask[0])); i++)
		CHECK(maildir_index_has(&ix, ask[i]) == maildir_exists(dir, ask[i]));
	CHECK(maildir_index_has(&ix, ask[0]) && !maildir_index_has(&ix, ask[2]));
	/* bounded: NASK questions in one listing, not NASK listings */
	t0 = now();
	for (i = 0; i < NASK; i++) {
		snprintf(base, sizeof(base), "1700000000.Q%016x_0.host", i);
		hits += maildir_index_has(&ix, base);
	}
	t_ix = now() - t0;
	CHECK(hits == NASK / 2);
	CHECK(t_ix < 0.5);
	t0 = now();
	for (i = 0; i < 50; i++) {
		snprintf(base, sizeof(base), "1700000000.Q%016x_0.host", i);
		(void)maildir_exists(dir, base);
	}
	printf("maildir: %d lookups in a %d-file Maildir: %.1f ms with one "
	    "listing; one listing per lookup would take %.0f ms\n", NASK, NFILES,
	    t_ix * 1000, (now() - t0) / 50 * NASK * 1000);
	maildir_index_free(&ix);
	test_commitv(dir);
	test_unlink_bg(dir);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)system(cmd);
	}
	return T_DONE();
}
