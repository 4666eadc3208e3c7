/* SPDX-License-Identifier: ISC */
/*
 * greylist_test.c - smtpd/greylist.c with a clock the test sets: first
 * try, early retry, retry after the delay, retry after the window, the
 * client allow-list, the SPF domain rule, expiry, networks, BATV, a
 * reopened file, a corrupt file, a file whose path went away while open
 * (the smtp role's chroot).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "log.h"
#include "smtpd/greylist.h"

static const struct greylist_params params = {
	.delay = 300, .retry_window = 3600, .allow_time = 86400,
	.allow_clients = true,
};

static enum greylist_res
chk(struct greylist *g, const char *addr, const char *from, const char *rcpt,
    const char *spf, int64_t now)
{
	struct greylist_req r = { addr, from, rcpt, spf };
	unsigned wait;

	return greylist_check(g, &r, now, &wait);
}

static void
test_net(void)
{
	char n[GREYLIST_NET_MAX];

	CHECK(greylist_net("192.0.2.77", n, sizeof(n)));
	CHECK_STR(n, "192.0.2.0/24");
	CHECK(greylist_net("2001:db8:1:2:3:4:5:6", n, sizeof(n)));
	CHECK_STR(n, "2001:db8:1:2::/64");
	CHECK(greylist_net("::ffff:198.51.100.9", n, sizeof(n)));
	CHECK_STR(n, "198.51.100.0/24");
	CHECK(!greylist_net("uid=1000", n, sizeof(n)));
	CHECK(!greylist_net("192.0.2.1", n, 8));
}

static void
test_rules(const char *path)
{
	struct greylist *g;
	struct greylist_req r = { "192.0.2.1", "a@x.example", "bob@example.org",
	    NULL };
	char err[256];
	unsigned wait;
	int64_t t = 1000000;

	unlink(path);
	g = greylist_open(path, &params, (uid_t)-1, 0, err, sizeof(err));
	CHECK(g != NULL);
	if (g == NULL)
		return;
	CHECK(greylist_check(g, &r, t, &wait) == GREY_DEFER_NEW && wait == 300);
	CHECK(greylist_check(g, &r, t + 100, &wait) == GREY_DEFER_EARLY &&
	    wait == 200);
	/* another /24, another sender or recipient: their own triplets */
	CHECK(chk(g, "192.0.3.1", "a@x.example", "bob@example.org", NULL, t) ==
	    GREY_DEFER_NEW);
	CHECK(chk(g, "192.0.2.1", "b@x.example", "bob@example.org", NULL, t) ==
	    GREY_DEFER_NEW);
	/* after the delay, from another address of the /24, other case */
	CHECK(chk(g, "192.0.2.200", "A@X.example", "Bob@example.org", NULL,
	    t + 300) == GREY_PASS_RETRY);
	/* the client net is allow-listed now */
	CHECK(chk(g, "192.0.2.9", "new@y.example", "bob@example.org", NULL,
	    t + 301) == GREY_PASS_CLIENT);
	/* after the window a waiting triplet starts again */
	CHECK(chk(g, "192.0.3.1", "a@x.example", "bob@example.org", NULL,
	    t + 3601) == GREY_DEFER_NEW);
	/* BATV tags differ per message: the triplet is the same */
	CHECK(chk(g, "203.0.113.5", "prvs=1234abcd=list@z.example",
	    "bob@example.org", NULL, t) == GREY_DEFER_NEW);
	CHECK(chk(g, "203.0.113.5", "prvs=99999999=list@z.example",
	    "bob@example.org", NULL, t + 400) == GREY_PASS_RETRY);
	/* the null sender is a sender like others */
	CHECK(chk(g, "198.51.100.1", "", "bob@example.org", NULL, t) ==
	    GREY_DEFER_NEW);
	greylist_close(&g);
	CHECK(g == NULL);
	/* reopened: everything is still there */
	g = greylist_open(path, &params, (uid_t)-1, 0, err, sizeof(err));
	CHECK(g != NULL);
	if (g == NULL)
		return;
	CHECK(chk(g, "198.51.100.1", "", "bob@example.org", NULL, t + 300) ==
	    GREY_PASS_RETRY);
	CHECK(chk(g, "192.0.2.1", "z@z.example", "bob@example.org", NULL,
	    t + 400) == GREY_PASS_CLIENT);
	/* unused for allow_time: the client must retry again */
	CHECK(chk(g, "192.0.2.1", "z@z.example", "bob@example.org", NULL,
	    t + 400 + 86401) == GREY_DEFER_NEW);
	greylist_close(&g);
}

static void
test_spf(const char *path)
{
	struct greylist *g;
	char err[256];
	int64_t t = 2000000;

	unlink(path);
	g = greylist_open(path, &params, (uid_t)-1, 0, err, sizeof(err));
	CHECK(g != NULL);
	if (g == NULL)
		return;
	/* an SPF pass for a domain never seen: greylisted as usual */
	CHECK(chk(g, "192.0.2.1", "a@big.example", "bob@example.org",
	    "big.example", t) == GREY_DEFER_NEW);
	/* the retry passes with SPF pass: big.example is now known */
	CHECK(chk(g, "192.0.2.1", "a@big.example", "bob@example.org",
	    "big.example", t + 300) == GREY_PASS_RETRY);
	/* another network of the same provider, SPF pass: at once */
	CHECK(chk(g, "198.51.100.7", "c@big.example", "bob@example.org",
	    "Big.Example", t + 310) == GREY_PASS_SPF);
	/* the same network without an SPF pass: greylisted */
	CHECK(chk(g, "198.51.100.7", "c@big.example", "carol@example.org",
	    NULL, t + 310) == GREY_DEFER_NEW);
	/* a pass through a retry without SPF teaches nothing */
	CHECK(chk(g, "203.0.113.1", "d@other.example", "bob@example.org",
	    NULL, t) == GREY_DEFER_NEW);
	CHECK(chk(g, "203.0.113.1", "d@other.example", "bob@example.org",
	    NULL, t + 300) == GREY_PASS_RETRY);
	CHECK(chk(g, "192.0.2.77", "x@other.example", "bob@example.org",
	    "other.example", t + 310) == GREY_PASS_CLIENT);
	CHECK(chk(g, "100.64.0.1", "x@other.example", "bob@example.org",
	    "other.example", t + 320) == GREY_PASS_SPF);
	greylist_close(&g);
}

static void
test_expire(const char *path)
{
	struct greylist *g;
	char err[256], rcpt[64];
	int64_t t = 3000000;
	int i, n, total = 0;

	unlink(path);
	g = greylist_open(path, &params, (uid_t)-1, 0, err, sizeof(err));
	CHECK(g != NULL);
	if (g == NULL)
		return;
	for (i = 0; i < 50; i++) {
		snprintf(rcpt, sizeof(rcpt), "u%d@example.org", i);
		(void)chk(g, "192.0.2.1", "a@x.example", rcpt, NULL, t);
	}
	/* not yet expired: nothing goes, whatever the steps */
	CHECK(greylist_expire(g, t + 3600, 100) == 0);
	/* past retry_window: bounded steps, round the file */
	for (i = 0; i < 20 && total < 50; i++) {
		n = greylist_expire(g, t + 3601, 7);
		CHECK(n >= 0 && n <= 7);
		total += n;
	}
	CHECK(total == 50);
	CHECK(greylist_expire(g, t + 3601, 10) == 0);
	greylist_close(&g);
}

static void
test_corrupt(const char *path)
{
	struct greylist *g;
	char err[256], bad[320];
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd != -1);
	CHECK(write(fd, "this is not a database, not at all\n", 35) == 35);
	close(fd);
	g = greylist_open(path, &params, (uid_t)-1, 0, err, sizeof(err));
	CHECK(g != NULL);
	snprintf(bad, sizeof(bad), "%s.bad", path);
	CHECK(access(bad, F_OK) == 0);
	if (g != NULL)
		CHECK(chk(g, "192.0.2.1", "a@x.example", "b@example.org", NULL,
		    1) == GREY_DEFER_NEW);
	greylist_close(&g);
	unlink(bad);
}

/*
 * test_path_gone - the smtp role opens the file, then chroots: its path
 * means nothing any more.  Closing writes through the handle, logs
 * nothing (it logged "BDB3028 ...: unable to flush" when Berkeley DB
 * reopened the file by its path to fsync it) and loses nothing.
 */
static void
test_path_gone(const char *dir)
{
	struct greylist *g;
	char sub[256], moved[256], path[300], logp[300], out[2048], err[256];
	int saved, fd;
	ssize_t n;
	int64_t t = 4000000;

	snprintf(sub, sizeof(sub), "%s/open", dir);
	snprintf(moved, sizeof(moved), "%s/moved", dir);
	snprintf(path, sizeof(path), "%s/greylist.db", sub);
	snprintf(logp, sizeof(logp), "%s/log", dir);
	CHECK(mkdir(sub, 0700) == 0);
	g = greylist_open(path, &params, (uid_t)-1, 0, err, sizeof(err));
	CHECK(g != NULL);
	if (g == NULL)
		return;
	CHECK(chk(g, "192.0.2.1", "a@x.example", "bob@example.org", NULL, t) ==
	    GREY_DEFER_NEW);
	CHECK(greylist_sync(g) == 0);
	/* after the last sync: only the close can put this one in the file */
	CHECK(chk(g, "198.51.100.1", "b@x.example", "bob@example.org", NULL,
	    t) == GREY_DEFER_NEW);
	CHECK(rename(sub, moved) == 0);
	saved = dup(STDERR_FILENO);
	fd = open(logp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(saved != -1 && fd != -1 && dup2(fd, STDERR_FILENO) != -1);
	greylist_close(&g);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR(out, "");
	snprintf(path, sizeof(path), "%s/greylist.db", moved);
	g = greylist_open(path, &params, (uid_t)-1, 0, err, sizeof(err));
	CHECK(g != NULL);
	if (g == NULL)
		return;
	CHECK(chk(g, "192.0.2.1", "a@x.example", "bob@example.org", NULL,
	    t + 300) == GREY_PASS_RETRY);
	CHECK(chk(g, "198.51.100.1", "b@x.example", "bob@example.org", NULL,
	    t + 300) == GREY_PASS_RETRY);
	greylist_close(&g);
	unlink(path);
	rmdir(moved);
	unlink(logp);
}

int
main(void)
{
	char dir[] = "/tmp/greylist_test.XXXXXX", path[300];

	log_init("greylist_test", true, false);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/greylist.db", dir);
	test_net();
	test_rules(path);
	test_spf(path);
	test_expire(path);
	test_corrupt(path);
	test_path_gone(dir);
	unlink(path);
	rmdir(dir);
	return T_DONE();
}
