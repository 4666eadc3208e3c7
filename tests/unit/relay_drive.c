/* SPDX-License-Identifier: ISC */
/*
 * relay_drive.c - a stand-in for the queue role, to test the relay role
 * (smtpd/relay*.c) alone: loads the configuration, forks relay_run() on
 * one end of a socketpair, and speaks R_SEND / R_RESULT / R_DONE on the
 * other, driven by commands on stdin (used by
 * tests/integration/test_relay.py; not a unit test of its own).
 *
 *   relay_drive -c CONF [-p MXPORT] [-t TIMEOUT_MS] [-i IDLE_MS] [-v]
 *
 * stdin, one command per line, fields separated by single spaces:
 *   send QID FILE PREPEND FROM RCPT...   FILE holds the message in LF
 *        form; it is copied to a queue-like temporary file with a trailer
 *        after the message (which must never be sent).  PREPEND is a file
 *        of header lines or "-"; FROM "<>" is the null sender.
 *   wait                                 read answers until every send has
 *                                        its R_DONE, then print "idle"
 *   sleep MS
 * stdout: "result QID INDEX ok|tempfail|permfail TEXT", "done QID", "idle";
 * at end of input the channel is closed, the relay exits, and so do we
 * with its exit status.  -p sets the MX port (25), -t every reply timeout,
 * -i how long an idle connection is kept.  Logs go to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ev.h"
#include "ipc.h"
#include "log.h"
#include "strnum.h"
#include "tls.h"
#include "xmem.h"
#include "smtpd/relay.h"

#define DRIVE_MAX_SENDS	100000
#define DRIVE_TRAILER	"\n# queue trailer: this line must never be sent\n"

struct conf	*smtpd_conf;
bool		 smtpd_privileged;

static char	*qids[DRIVE_MAX_SENDS];
static uint32_t	 nsent, ndone;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: relay_drive -c CONF [-p MXPORT] [-t TIMEOUT_MS] "
	    "[-i IDLE_MS] [-v]\n");
	exit(2);
}

static void
child_stop(int sig, void *arg)
{
	_exit(0);
}

/* read_file - all of path into a new buffer */
static char *
read_file(const char *path, size_t *len_r)
{
	struct buf b;
	char chunk[65536];
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		fatal("%s", path);
	buf_init(&b, 0);
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)r) == -1)
			fatalx("%s: too big", path);
	if (r == -1)
		fatal("%s", path);
	close(fd);
	*len_r = b.len;
	if (b.data == NULL)
		return xstrdup("");
	return b.data;
}

/* queue_like - a temporary file: message, then a trailer; returns its fd */
static int
queue_like(const char *msg, size_t len)
{
	char path[] = "/tmp/relay_drive.XXXXXX";
	int fd = mkstemp(path);

	if (fd == -1)
		fatal("mkstemp");
	unlink(path);
	if (write(fd, msg, len) != (ssize_t)len ||
	    write(fd, DRIVE_TRAILER, strlen(DRIVE_TRAILER)) !=
	    (ssize_t)strlen(DRIVE_TRAILER))
		fatal("write %s", path);
	return fd;
}

static void
do_send(int ch, char *args)
{
	char *qid, *file, *prep, *from, *rcpt, *msg, *pre = NULL;
	size_t len, plen = 0;
	struct ipc_out o;
	uint32_t n = 0;
	int fd;

	qid = strsep(&args, " ");
	file = strsep(&args, " ");
	prep = strsep(&args, " ");
	from = strsep(&args, " ");
	if (qid == NULL || file == NULL || prep == NULL || from == NULL ||
	    args == NULL || nsent == DRIVE_MAX_SENDS)
		fatalx("send QID FILE PREPEND FROM RCPT...");
	msg = read_file(file, &len);
	if (strcmp(prep, "-") != 0)
		pre = read_file(prep, &plen);
	fd = queue_like(msg, len);
	ipc_out_init(&o);
	ipc_put_str(&o, qid);
	ipc_put_str(&o, strcmp(from, "<>") == 0 ? "" : from);
	ipc_put_u64(&o, len);
	ipc_put_str(&o, pre ? pre : "");
	{
		/* count first: n comes before the list */
		char *copy = xstrdup(args), *p = copy;

		while (strsep(&p, " ") != NULL)
			n++;
		free(copy);
	}
	ipc_put_u32(&o, n);
	n = 0;
	while ((rcpt = strsep(&args, " ")) != NULL) {
		ipc_put_u32(&o, 100 + n++);	/* indexes as a queue might number */
		ipc_put_str(&o, rcpt);
	}
	if (o.overflow)
		fatalx("R_SEND too big");
	qids[nsent] = xstrdup(qid);
	if (ipc_write_sync(ch, R_SEND, nsent, fd, &o) == -1)
		fatal("ipc_write_sync");
	nsent++;
	close(fd);
	free(msg);
	free(pre);
}

static const char *
res_name(uint32_t r)
{
	return r == RES_OK ? "ok" : r == RES_TEMPFAIL ? "tempfail" :
	    r == RES_PERMFAIL ? "permfail" : "bad";
}

/* do_wait - print answers until every send has its R_DONE */
static void
do_wait(int ch)
{
	static uint8_t store[IPC_MAX_PAYLOAD];
	struct ipc_msg m;
	uint32_t idx, res;
	const char *text;
	size_t tlen;

	while (ndone < nsent) {
		if (ipc_read_sync(ch, &m, store, 600 * 1000) == -1)
			fatal("ipc_read_sync");
		if (m.fd != -1)
			close(m.fd);
		if (m.hdr.id >= nsent)
			fatalx("answer for unknown id %u", m.hdr.id);
		if (m.hdr.type == R_DONE && ipc_get_end(&m)) {
			printf("done %s\n", qids[m.hdr.id]);
			ndone++;
		} else if (m.hdr.type == R_RESULT && ipc_get_u32(&m, &idx) &&
		    ipc_get_u32(&m, &res) && ipc_get_str(&m, &text, &tlen) &&
		    ipc_get_end(&m))
			printf("result %s %u %s %s\n", qids[m.hdr.id], idx,
			    res_name(res), text);
		else
			fatalx("malformed answer type %u", m.hdr.type);
		fflush(stdout);
	}
	printf("idle\n");
	fflush(stdout);
}

static int
parent(int ch, pid_t pid)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int status;
	uint32_t i;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "send ", 5) == 0)
			do_send(ch, line + 5);
		else if (strcmp(line, "wait") == 0)
			do_wait(ch);
		else if (strncmp(line, "sleep ", 6) == 0) {
			const char *err;
			long long ms = strnum(line + 6, 0, 600000, &err);
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

			if (err)
				fatalx("sleep MS: %s", err);
			nanosleep(&ts, NULL);
		} else if (line[0] != '\0' && line[0] != '#')
			fatalx("unknown command: %s", line);
	}
	free(line);
	close(ch);
	for (i = 0; i < nsent; i++)
		free(qids[i]);
	if (waitpid(pid, &status, 0) == -1)
		fatal("waitpid");
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "relay_drive: relay killed by signal %d\n", WTERMSIG(status));
	return 1;
}

int
main(int argc, char *argv[])
{
	const char *path = NULL, *err;
	bool verbose = false;
	char *password = NULL;
	size_t plen;
	int sv[2], c, rc;
	pid_t pid;
	long long v;

	while ((c = getopt(argc, argv, "c:p:t:i:v")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'p':
			relay_mx_port = (uint16_t)strnum(optarg, 1, 65535, &err);
			if (err)
				usage();
			break;
		case 't':
			v = strnum(optarg, 1, 3600000, &err);
			if (err)
				usage();
			relay_timeouts.connect = relay_timeouts.tls =
			    relay_timeouts.greeting = relay_timeouts.reply =
			    relay_timeouts.data = relay_timeouts.block =
			    relay_timeouts.dot = (unsigned)v;
			break;
		case 'i':
			relay_timeouts.idle = (unsigned)strnum(optarg, 1, 3600000, &err);
			if (err)
				usage();
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage();
		}
	}
	if (path == NULL || optind != argc)
		usage();
	relay_timeouts.exit = 0;	/* the role stays until end of input */
	log_init("relay_drive", true, verbose);
	smtpd_conf = conf_load_or_die(path);
	if (smtpd_conf->relay.password_file != NULL) {
		/* the first line, as smtpd reads it (its checks are smtpd's) */
		password = read_file(smtpd_conf->relay.password_file, &plen);
		password[strcspn(password, "\r\n")] = '\0';
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(sv[0]);
		log_set_ident("smtpd-relay");
		ev_init();
		ev_signal(SIGPIPE, NULL, NULL);
		ev_signal(SIGTERM, child_stop, NULL);
		relay_run(sv[1], -1, password);
	}
	close(sv[1]);
	signal(SIGPIPE, SIG_IGN);
	rc = parent(sv[0], pid);
	if (password != NULL) {
		wipe(password, strlen(password));
		free(password);
	}
	conf_free(&smtpd_conf);
	return rc;
}
