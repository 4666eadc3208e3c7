/* SPDX-License-Identifier: ISC */
/*
 * fuzz_pop3_session.c - libFuzzer target for the POP3 session (imapd/
 * pop3_session.c, pop3_login.c, pop3_maildrop.c): the state machine
 * around the command parser that fuzz_pop3 covers.  The first input byte
 * picks the role: even, a worker session (TRANSACTION and UPDATE: STAT,
 * LIST, UIDL, RETR, TOP, DELE, RSET, QUIT) on a fresh Maildir with a few
 * messages, so deletions and the update at QUIT run on real files; odd,
 * a login session on a STLS port without a certificate (AUTHORIZATION:
 * CAPA, USER, PASS, AUTH, STLS, what a client sends before any login).
 * The rest is what the client sends, through a socketpair, then EOF; the
 * replies are read and dropped.  A session that does not close within
 * 10 s is a hang: abort.  FUZZ_POP3_SHOW=1 prints the replies.
 * Seeds: tests/fuzz/corpus/fuzz_pop3_session/.
 */
#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_feed.h"
#include "imapd/imapd.h"
#include "imapd/pop3.h"
#include "lib/ev.h"
#include "lib/log.h"

/* what imapd.c provides to the session code */
struct imapd imapd;

SSL_CTX *
imapd_tls(void)
{
	return NULL;	/* no certificate: STLS fails and the session closes */
}

void
imapd_session_gone(const char *addr)
{
	(void)addr;
}

void
imapd_addr_release(const char *addr)
{
	(void)addr;
}

/* durability means nothing to a fuzzer (see fuzz_imap_session.c) */
int
fsync(int fd)
{
	(void)fd;
	return 0;
}

static struct conf fz_conf;
static char fz_base[64];
static unsigned fz_seq;
static bool fz_show;

static const char *fz_msgs[] = {
	"From: Ann <ann@example.org>\nSubject: one\n\nhello world\n"
	".dot line\n..two dots\n\nlast",
	"From: c@d\nSubject: two\n\n",
	"Subject: three\n\nline\r\nwith CRLF\n",
};

static void
fz_cleanup(void)
{
	(void)rmdir(fz_base);
}

static void
fz_init(void)
{
	if (fz_base[0] != '\0')
		return;
	log_init("fuzz_pop3_session", false, false);
	fz_show = getenv("FUZZ_POP3_SHOW") != NULL;
	signal(SIGPIPE, SIG_IGN);
	ev_init();
	store_init();
	fz_conf.pop3.timeout = 60;
	fz_conf.imap.timeout = 60;
	imapd.conf = &fz_conf;
	imapd.master = NULL;
	imapd.worker_user = "fuzz@example.org";
	fuzz_feed_tmpdir(fz_base, sizeof(fz_base), "fuzz_pop3_session");
	atexit(fz_cleanup);
}

/* a Maildir: INBOX with three messages (one new) */
static void
make_root(const char *root)
{
	static const char *subs[] = { "", "/cur", "/new", "/tmp" };
	char p[PATH_MAX];
	size_t j;

	for (j = 0; j < 4; j++) {
		snprintf(p, sizeof(p), "%s%s", root, subs[j]);
		if (mkdir(p, 0700) == -1)
			abort();
	}
	snprintf(p, sizeof(p), "%s/cur", root);
	fuzz_feed_file(p, "1700000000.A.fuzz:2,S", fz_msgs[0]);
	fuzz_feed_file(p, "1700000002.C.fuzz:2,", fz_msgs[2]);
	snprintf(p, sizeof(p), "%s/new", root);
	fuzz_feed_file(p, "1700000001.B.fuzz", fz_msgs[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char root[128];
	struct fuzz_feed fd;
	bool worker;
	int sv[2];

	if (size == 0)
		return 0;
	fz_init();
	worker = (data[0] & 1) == 0;
	snprintf(root, sizeof(root), "%s/%u", fz_base, fz_seq++);
	if (worker) {
		make_root(root);
		imapd.worker_root = root;
		imapd.role = IMAPD_ROLE_WORKER;
	} else
		imapd.role = IMAPD_ROLE_LOGIN;
	fuzz_feed_pair(sv);
	if (worker)
		pop3_start_worker(sv[0], "127.0.0.1", fz_seq);
	else
		pop3_start(sv[0], "192.0.2.1", false);
	fuzz_feed_start(&fd, sv[1], data + 1, size - 1,
	    FUZZ_FEED_EOF | (fz_show ? FUZZ_FEED_SHOW : 0));
	(void)ev_run();
	fuzz_feed_stop(&fd);
	if (worker)
		fuzz_feed_rmtree(root);
	return 0;
}
