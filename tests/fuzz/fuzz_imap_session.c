/* SPDX-License-Identifier: ISC */
/*
 * fuzz_imap_session.c - libFuzzer target for the IMAP command layer: the
 * input is what a logged-in client sends, fed through a socketpair to a
 * real worker session (session_start_worker()) on a fresh Maildir with
 * a few messages, so every command (SELECT, APPEND, FETCH, SEARCH, SORT,
 * THREAD, STORE, COPY, MOVE, EXPUNGE, LIST, CREATE, RENAME, IDLE ...) runs its
 * own code on real files.  The replies are read and dropped; the event
 * loop runs until the session closes (the input ends with EOF).  A
 * session that does not close within 10 s is a hang: abort.
 * An input whose first byte is 0xff runs the rest through a session of
 * the login role instead (session_start(), a STARTTLS port without a
 * certificate): what any client sends before logging in (CAPABILITY,
 * ID, LOGIN and AUTHENTICATE refused in clear, the login literal limit,
 * commands of later states).
 * FUZZ_IMAP_SHOW=1 prints the replies (to check a seed).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_feed.h"
#include "imapd/imapd.h"
#include "lib/ev.h"
#include "lib/log.h"

/* what imapd.c provides to the session code */
struct imapd imapd;

SSL_CTX *
imapd_tls(void)
{
	return imapd.tls;
}

void
imapd_session_gone(const char *addr)
{
	(void)addr;
	imapd.nsessions--;
}

void
imapd_addr_release(const char *addr)
{
	(void)addr;
}

/*
 * The store fsyncs every delivery and list append; durability means
 * nothing to a fuzzer, and the executable's fsync() takes the place of
 * libc's for the code linked into it.
 */
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
	"From: Ann <ann@example.org>\nTo: g: bob@example.org;\n"
	"Subject: =?utf-8?q?caf=C3=A9?=\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
	"Message-ID: <1@x>\n\nhello world\n",
	"From: c@d (Cee)\nSubject: multi\nMIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	"Content-Type: text/plain; charset=iso-8859-1\n"
	"Content-Transfer-Encoding: quoted-printable\n\ncaf=E9\n--b\n"
	"Content-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--b--\n",
	/* threads under 1, binary and unknown encodings (SORT, THREAD,
	 * BINARY) */
	"From: Dee <d@e>\nSubject: Re: [list] Fwd: multi (fwd)\n"
	"Date: 2 Jan 2024 11:00 -0500\nMessage-ID: <3@x>\n"
	"References: <1@x> (c) <2@x>\nIn-Reply-To: <1@x>\nMIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=c\n\n--c\n"
	"Content-Type: application/octet-stream\n"
	"Content-Transfer-Encoding: base64\n\nAAEC/w==\n--c\n"
	"Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n"
	"begin\n--c--\n",
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
	log_init("fuzz_imap_session", false, false);
	fz_show = getenv("FUZZ_IMAP_SHOW") != NULL;
	signal(SIGPIPE, SIG_IGN);
	ev_init();
	store_init();
	fz_conf.imap.max_literal = 1 << 20;
	fz_conf.imap.timeout = 60;
	fz_conf.imap.login_timeout = 60;
	fz_conf.imap.tls_timeout = 10;
	imapd.conf = &fz_conf;
	imapd.worker_user = "fuzz@example.org";
	fuzz_feed_tmpdir(fz_base, sizeof(fz_base), "fuzz_imap_session");
	atexit(fz_cleanup);
}

/* a Maildir: INBOX with three messages (one new), Sent, Work.Sub */
static void
make_root(const char *root)
{
	static const char *dirs[] = { "", "/.Sent", "/.Work", "/.Work.Sub" };
	static const char *subs[] = { "", "/cur", "/new", "/tmp" };
	char p[PATH_MAX];
	size_t i, j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++) {
			snprintf(p, sizeof(p), "%s%s%s", root, dirs[i], subs[j]);
			if (mkdir(p, 0700) == -1)
				abort();
		}
	snprintf(p, sizeof(p), "%s/cur", root);
	fuzz_feed_file(p, "1700000000.A.fuzz:2,S", fz_msgs[0]);
	fuzz_feed_file(p, "1700000003.D.fuzz:2,", fz_msgs[2]);
	snprintf(p, sizeof(p), "%s/new", root);
	fuzz_feed_file(p, "1700000001.B.fuzz", fz_msgs[1]);
	snprintf(p, sizeof(p), "%s/.Work/cur", root);
	fuzz_feed_file(p, "1700000002.C.fuzz:2,F", fz_msgs[0]);
	fuzz_feed_file(root, "subscriptions", "Sent\nWork\nGone.Away\n");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char root[128];
	struct fuzz_feed fd;
	bool login;
	int sv[2];

	fz_init();
	login = size > 0 && data[0] == 0xff;
	snprintf(root, sizeof(root), "%s/%u", fz_base, fz_seq++);
	if (!login) {
		make_root(root);
		imapd.worker_root = root;
	} else {
		data++;
		size--;
	}
	imapd.role = login ? IMAPD_ROLE_LOGIN : IMAPD_ROLE_WORKER;
	fuzz_feed_pair(sv);
	imapd.nsessions++;
	if (login)
		session_start(sv[0], "192.0.2.1", false);
	else
		session_start_worker(sv[0], "127.0.0.1", "L", fz_seq);
	fuzz_feed_start(&fd, sv[1], data, size,
	    FUZZ_FEED_EOF | (fz_show ? FUZZ_FEED_SHOW : 0));
	(void)ev_run();
	fuzz_feed_stop(&fd);
	if (!login)
		fuzz_feed_rmtree(root);
	return 0;
}
