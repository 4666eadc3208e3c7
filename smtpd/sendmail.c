/* SPDX-License-Identifier: ISC */
/*
 * sendmail.c - facteur-sendmail: the sendmail command that cron jobs, NAS
 * firmware and scripts pipe mail into.
 *
 *   facteur-sendmail [-C|-c FILE] [-f FROM] [-F NAME] [-t] [-i|-oi] [RCPT...]
 *
 * Arguments holding CR or LF are refused (exit 2) before anything else.
 * Without -f the sender is the account's first [sendmail] sender address,
 * else noreply@ (root, service accounts) or login@ the first domain;
 * smtpd checks -f and a From header against the same list (smtp_local.c).
 *
 * Reads the message from stdin (a line with a single "." ends it unless
 * -i/-oi; lines longer than 998 octets broken, a lone CR a line end),
 * adds From, Date and Message-ID when missing, takes recipients
 * from the arguments and, with -t, from To/Cc/Bcc (Bcc is removed), and
 * submits it over SMTP on run_dir/smtpd.sock, where smtpd knows the
 * caller's uid from the socket.  Exit 0 only after smtpd's 250, i.e. once
 * the message is queued durably (SPEC 6).  While smtpd restarts (socket
 * missing or refused, connection closed, a 4xx reply) the whole
 * transaction is tried again for up to SENDMAIL_RETRY_MS, then exit 75
 * (EX_TEMPFAIL) saying nothing was sent; 1 with a message on stderr on a
 * refusal (5xx); 2 on bad usage.  Options sendmail programs commonly pass and
 * that mean nothing here (-odi, -oem, -v, -bm, -N ...) are accepted and
 * ignored.  The configuration is -C FILE, else $FACTEUR_CONF, else the
 * default path.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "msghdr.h"
#include "xmem.h"
#include "smtpd.h"

#define SENDMAIL_TIMEOUT_S	300
/*
 * how long facteur-sendmail retries while smtpd restarts (submit()): a
 * reload that restarts the roles takes under 2 s, an init restart a few
 * seconds (smtpd stopped, authd restarted, smtpd started)
 */
#define SENDMAIL_RETRY_MS	15000
#define SENDMAIL_RETRY_FIRST_MS	100
#define SENDMAIL_RETRY_MAX_MS	1000
#define MAX_RCPTS		1000
#define SENDMAIL_MAX		((uint64_t)1 << 30)	/* with max_size 0 */
#define LINE_MAX_OCTETS		998	/* RFC 5321 4.5.3.1.6, without CRLF */

struct msg {
	struct buf	 hdr;		/* header block, LF form, ends with "\n" */
	struct buf	 body;
	char		**rcpt;
	size_t		 nrcpt;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: facteur-sendmail [-C FILE] [-f FROM] [-F NAME] "
	    "[-t] [-i] [RCPT...]\n");
	exit(2);
}

static void __attribute__((noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "facteur-sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* read_line - the next line of stdin into l, never more than its max */
static ssize_t
read_line(struct buf *l, uint64_t max)
{
	int c = EOF;

	buf_reset(l);
	while ((c = getc(stdin)) != EOF) {
		char ch = (char)c;

		if (buf_append(l, &ch, 1) == -1)
			die("message larger than the limit of %llu bytes",
			    (unsigned long long)max);
		if (c == '\n')
			break;
	}
	return l->len == 0 && c == EOF ? -1 : (ssize_t)l->len;
}

/*
 * body_append - one body line, as lines SMTP takes: a lone CR (a progress
 * bar in a cron job's output) ends a line, and a line longer than
 * LINE_MAX_OCTETS is broken there (RFC 5321 4.5.3.1.6 allows 998
 * octets; smtpd refuses longer ones, and a cron job's output would be
 * lost).  Postfix breaks long lines likewise (smtp_line_length_limit).
 */
static void
body_append(struct buf *b, const char *line, size_t n)
{
	do {
		const char *cr = memchr(line, '\r', n);
		size_t k = cr ? (size_t)(cr - line) : n;

		if (k > LINE_MAX_OCTETS)
			k = LINE_MAX_OCTETS;
		buf_append(b, line, k);
		buf_puts(b, "\n");
		if (k < n && line[k] == '\r')
			k++;
		line += k;
		n -= k;
	} while (n > 0);
}

/*
 * header_append - one header line: a CR becomes a space, and a line
 * longer than LINE_MAX_OCTETS is folded ("\n " continues the field)
 */
static void
header_append(struct buf *b, const char *line, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (col == LINE_MAX_OCTETS) {
			buf_puts(b, "\n ");
			col = 1;
		}
		buf_append(b, line[i] == '\r' ? " " : line + i, 1);
		col++;
	}
	buf_puts(b, "\n");
}

/* read_message - stdin into hdr/body, LF line ends, at most max bytes */
static void
read_message(struct msg *m, bool dot_ends, uint64_t max)
{
	struct buf lb;
	char *line;
	ssize_t n;
	bool in_hdr = true, first = true;
	uint64_t total = 0;

	if (max == 0 || max > SENDMAIL_MAX)
		max = SENDMAIL_MAX;
	buf_init(&m->hdr, 0);
	buf_init(&m->body, 0);
	buf_init(&lb, (size_t)max + 2);
	while ((n = read_line(&lb, max)) > 0) {
		line = buf_head(&lb);
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (dot_ends && n == 1 && line[0] == '.')
			break;
		total += (uint64_t)n + 1;
		if (total > max)
			die("message larger than the limit of %llu bytes",
			    (unsigned long long)max);
		if (in_hdr) {
			bool cont = n > 0 && (line[0] == ' ' || line[0] == '\t');
			char *colon = memchr(line, ':', (size_t)n);

			if (n == 0) {
				in_hdr = false;
				first = false;
				continue;
			}
			if ((cont && !first) || (colon && colon > line &&
			    memchr(line, ' ', (size_t)(colon - line)) == NULL)) {
				header_append(&m->hdr, line, (size_t)n);
				first = false;
				continue;
			}
			in_hdr = false;		/* no header block: all body */
		}
		first = false;
		body_append(&m->body, line, (size_t)n);
	}
	buf_free(&lb);
	if (ferror(stdin))
		die("reading the message: %s", strerror(errno));
}

/* header_find - the start of field `name` in the header block, or NULL */
static const char *
header_find(const struct buf *h, const char *name)
{
	const char *p = buf_head(h), *end = p + h->len;
	size_t n = strlen(name);

	while (p && p < end) {
		if ((size_t)(end - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':')
			return p;
		p = memchr(p, '\n', (size_t)(end - p));
		if (p)
			p++;
	}
	return NULL;
}

/* field_end - just after the field at p, folded lines included */
static const char *
field_end(const struct buf *h, const char *p)
{
	const char *end = buf_head(h) + h->len;

	for (;;) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (p == NULL)
			return end;
		p++;
		if (p >= end || (*p != ' ' && *p != '\t'))
			return p;
	}
}

static void
add_rcpt(struct msg *m, const char *a, size_t n, const char *domain)
{
	char *r;

	while (n > 0 && (*a == ' ' || *a == '\t' || *a == '<'))
		a++, n--;
	while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t' || a[n - 1] == '>' ||
	    a[n - 1] == '\n'))
		n--;
	if (n == 0)
		return;
	if (m->nrcpt == MAX_RCPTS)
		die("more than %d recipients", MAX_RCPTS);
	r = memchr(a, '@', n) ? xstrndup(a, n) : xasprintf("%.*s@%s", (int)n, a, domain);
	if (strpbrk(r, " \t<>\"(),;:\\"))
		die("recipient \"%s\" is not an address", r);
	m->rcpt = xreallocarray(m->rcpt, m->nrcpt + 1, sizeof(*m->rcpt));
	m->rcpt[m->nrcpt++] = r;
}

/* rcpts_from_field - -t: the addresses of one To/Cc/Bcc field */
static void
rcpts_from_field(struct msg *m, const char *p, const char *end, const char *domain)
{
	const char *v = memchr(p, ':', (size_t)(end - p)) + 1;

	while (v < end) {
		const char *comma = v, *lt, *gt;
		bool quoted = false;

		while (comma < end && (quoted || *comma != ',')) {
			if (*comma == '"')
				quoted = !quoted;
			comma++;
		}
		lt = memchr(v, '<', (size_t)(comma - v));
		gt = lt ? memchr(lt, '>', (size_t)(comma - lt)) : NULL;
		if (lt && gt)
			add_rcpt(m, lt + 1, (size_t)(gt - lt - 1), domain);
		else {
			const char *s = v, *e;

			while (s < comma && strchr(" \t\n", *s))
				s++;
			for (e = s; e < comma && !strchr(" \t\n(", *e); e++)
				;
			add_rcpt(m, s, (size_t)(e - s), domain);
		}
		v = comma + 1;
	}
}

static void
rcpts_from_headers(struct msg *m, const char *domain)
{
	static const char *names[] = { "To", "Cc", "Bcc" };
	const char *p, *end;
	size_t i;

	for (i = 0; i < 3; i++) {
		while ((p = header_find(&m->hdr, names[i])) != NULL) {
			end = field_end(&m->hdr, p);
			rcpts_from_field(m, p, end, domain);
			if (i == 2) {		/* remove Bcc */
				size_t off = (size_t)(p - buf_head(&m->hdr));
				size_t len = (size_t)(end - p);

				memmove(buf_head(&m->hdr) + off, end,
				    m->hdr.len - off - len);
				m->hdr.len -= len;
				buf_head(&m->hdr)[m->hdr.len] = '\0';
				continue;
			}
			break;		/* one To and one Cc field (RFC 5322) */
		}
	}
}

static void
add_missing_headers(struct msg *m, const char *from, const char *fullname,
    const struct conf *c)
{
	struct buf extra;
	char field[MSGHDR_MAX];
	time_t now = time(NULL);

	buf_init(&extra, 0);
	if (header_find(&m->hdr, "From") == NULL) {
		if (fullname && *fullname && !strpbrk(fullname, "\"\\\r\n"))
			buf_printf(&extra, "From: \"%s\" <%s>\n", fullname, from);
		else
			buf_printf(&extra, "From: <%s>\n", from);
	}
	if (header_find(&m->hdr, "Date") == NULL) {
		msghdr_date(field, sizeof(field), now);
		buf_printf(&extra, "%s\n", field);
	}
	if (header_find(&m->hdr, "Message-ID") == NULL) {
		msghdr_message_id(field, sizeof(field), now, c->hostname);
		buf_printf(&extra, "%s\n", field);
	}
	buf_append(&extra, buf_head(&m->hdr), m->hdr.len);
	buf_free(&m->hdr);
	m->hdr = extra;
}

/* ---- SMTP over the local socket ---------------------------------------- */

/*
 * One attempt at the whole transaction.  ATT_RETRY is a failure a restart
 * of facteur-smtpd causes: the socket missing (ENOENT, between the unlink
 * and the bind of a starting smtpd) or refused (ECONNREFUSED: nobody
 * listens; EAGAIN: the backlog is full), the connection closed or reset
 * (a stopping smtpd's parent closes the listener with connections still
 * in its backlog; a role that dies closes its sessions), and any 4xx
 * reply (421 4.3.2 from a stopping smtp role, 451 when the queue role or
 * authd is restarting).  ATT_TEMPFAIL is smtpd taking the connection but
 * not answering within SENDMAIL_TIMEOUT_S, or a 452 to DATA or after the
 * dot (452 4.3.1: the queue's file system is full): exit 75 at once, as a
 * retry would wait as long again, or meet the same full disk.  ATT_FAIL is final (a 5xx, a malformed
 * reply): exit 1.
 */
enum attempt {
	ATT_OK,
	ATT_RETRY,
	ATT_TEMPFAIL,
	ATT_FAIL,
};

static FILE	*srv_in;
static int	 sfd = -1;
static char	 att_error[1400];	/* why the last attempt failed */
static bool	 att_after_dot;		/* ... after the final dot was sent */

static enum attempt
att_fail(enum attempt r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* att_fail - r, with the reason in att_error */
static enum attempt
att_fail(enum attempt r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(att_error, sizeof(att_error), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * swrite - all of p: ATT_OK, ATT_RETRY when the connection is gone,
 * ATT_TEMPFAIL when smtpd read nothing for SENDMAIL_TIMEOUT_S
 */
static enum attempt
swrite(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		/* MSG_NOSIGNAL: a closed connection is an error, not SIGPIPE */
		if ((w = send(sfd, p, n, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return att_fail(errno == EAGAIN || errno == EWOULDBLOCK ?
			    ATT_TEMPFAIL : ATT_RETRY, "writing to facteur-smtpd: "
			    "%s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
	return ATT_OK;
}

/*
 * reply - read one (multi-line) reply: its code, the last line in text;
 * -1 with *res set (ATT_RETRY: closed or reset, ATT_TEMPFAIL: timeout,
 * ATT_FAIL: malformed) when there is none
 */
static int
reply(char *text, size_t textsz, enum attempt *res)
{
	char line[1024];
	const char *end;
	long code;

	do {
		errno = 0;
		if (fgets(line, sizeof(line), srv_in) == NULL) {
			if (ferror(srv_in) && (errno == EAGAIN ||
			    errno == EWOULDBLOCK))
				*res = att_fail(ATT_TEMPFAIL, "facteur-smtpd did "
				    "not answer within %d s", SENDMAIL_TIMEOUT_S);
			else
				*res = att_fail(ATT_RETRY, "facteur-smtpd closed "
				    "the connection");
			return -1;
		}
		if (strlen(line) < 4) {
			*res = att_fail(ATT_FAIL, "facteur-smtpd sent a "
			    "malformed reply");
			return -1;
		}
	} while (line[3] == '-');
	line[strcspn(line, "\r\n")] = '\0';
	bstrcpy(text, line, textsz);
	code = strtol(line, (char **)&end, 10);
	if (end != line + 3 || code < 200 || code > 599) {
		*res = att_fail(ATT_FAIL, "facteur-smtpd sent a malformed reply");
		return -1;
	}
	return (int)code;
}

static int
command(char *text, size_t textsz, enum attempt *res, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* command - one command line, then its reply (as reply()) */
static int
command(char *text, size_t textsz, enum attempt *res, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		die("command too long");
	memcpy(line + n, "\r\n", 2);
	if ((*res = swrite(line, (size_t)n + 2)) != ATT_OK)
		return -1;
	return reply(text, textsz, res);
}

/* send_lines - LF text as CRLF, dot-stuffed (as swrite) */
static enum attempt
send_lines(const struct buf *b)
{
	const char *p = buf_head(b), *end = p + b->len;
	enum attempt rc = ATT_OK;
	struct buf out;

	buf_init(&out, 0);
	while (p < end && rc == ATT_OK) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0 && p[0] == '.')
			buf_puts(&out, ".");
		buf_append(&out, p, n);
		buf_puts(&out, "\r\n");
		if (out.len > 65536) {
			rc = swrite(buf_head(&out), out.len);
			buf_reset(&out);
		}
		p += n + 1;
	}
	if (rc == ATT_OK)
		rc = swrite(buf_head(&out), out.len);
	buf_free(&out);
	return rc;
}

/*
 * coded - what a reply other than the expected one means: a 4xx may be
 * a restart (ATT_RETRY), anything else is final
 */
static enum attempt
coded(int code, enum attempt res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum attempt
coded(int code, enum attempt res, const char *fmt, ...)
{
	va_list ap;

	if (code == -1)
		return res;		/* att_error already says why */
	va_start(ap, fmt);
	(void)vsnprintf(att_error, sizeof(att_error), fmt, ap);
	va_end(ap);
	return code >= 400 && code < 500 ? ATT_RETRY : ATT_FAIL;
}

/* smtp_open - connect to run_dir/smtpd.sock */
static enum attempt
smtp_open(const char *path)
{
	struct timeval tv = { SENDMAIL_TIMEOUT_S, 0 };
	int fd;

	if ((sfd = ipc_connect_unix(path)) == -1) {
		int e = errno;

		return att_fail(e == ENOENT || e == ECONNREFUSED || e == EAGAIN ?
		    ATT_RETRY : ATT_FAIL, "cannot reach facteur-smtpd at %s: "
		    "%s (is it running?)", path, strerror(e));
	}
	(void)setsockopt(sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(sfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((fd = dup(sfd)) == -1 || (srv_in = fdopen(fd, "r")) == NULL)
		die("fdopen: %s", strerror(errno));
	return ATT_OK;
}

/* smtp_close - the connection of the last attempt, if any */
static void
smtp_close(void)
{
	if (srv_in != NULL)
		fclose(srv_in);
	srv_in = NULL;
	if (sfd != -1)
		close(sfd);
	sfd = -1;
}

/* transaction - the whole SMTP transaction, once, on an open connection */
static enum attempt
transaction(const struct msg *m, const char *from)
{
	enum attempt res = ATT_OK;
	char text[1024];
	size_t i;
	int code;

	if ((code = reply(text, sizeof(text), &res)) != 220)
		return coded(code, res, "facteur-smtpd: %s", text);
	if ((code = command(text, sizeof(text), &res, "EHLO localhost")) != 250)
		return coded(code, res, "EHLO: %s", text);
	if ((code = command(text, sizeof(text), &res, "MAIL FROM:<%s>",
	    from)) != 250)
		return coded(code, res, "sender <%s> refused: %s", from, text);
	for (i = 0; i < m->nrcpt; i++) {
		code = command(text, sizeof(text), &res, "RCPT TO:<%s>",
		    m->rcpt[i]);
		if (code == 452)	/* [smtp] max_rcpt: no restart mends it */
			return att_fail(ATT_FAIL, "recipient <%s> refused: %s "
			    "(nothing was sent)", m->rcpt[i], text);
		if (code != 250)
			return coded(code, res, "recipient <%s> refused: %s "
			    "(nothing was sent)", m->rcpt[i], text);
	}
	if ((code = command(text, sizeof(text), &res, "DATA")) == 452)
		return att_fail(ATT_TEMPFAIL, "DATA: %s", text);	/* full */
	if (code != 354)
		return coded(code, res, "DATA: %s", text);
	if ((res = send_lines(&m->hdr)) != ATT_OK ||
	    (res = swrite("\r\n", 2)) != ATT_OK ||
	    (res = send_lines(&m->body)) != ATT_OK ||
	    (res = swrite(".\r\n", 3)) != ATT_OK)
		return res;
	if ((code = reply(text, sizeof(text), &res)) == 452)
		return att_fail(ATT_TEMPFAIL, "message refused: %s", text);
	if (code != 250) {
		/* smtpd may have queued it just before it went away */
		att_after_dot = att_after_dot || code == -1 || code == 421;
		return coded(code, res, "message refused: %s", text);
	}
	(void)command(text, sizeof(text), &res, "QUIT");
	return ATT_OK;
}

/* msleep - sleep ms milliseconds */
static void
msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * submit - the message to smtpd, riding over a restart: a failure a
 * restart causes (ATT_RETRY) is retried, connection and whole
 * transaction, after 100 ms doubling to 1 s, until SENDMAIL_RETRY_MS
 * have passed since the first attempt; then, or when smtpd does not
 * answer in time (ATT_TEMPFAIL), exit EX_TEMPFAIL (75), which cron and
 * other callers of sendmail take as "not sent, try later".  The
 * message is in memory (read_message, bounded by max_size), so each
 * attempt sends it whole again.  A final failure exits 1.
 */
static void
submit(const struct conf *c, const struct msg *m, const char *from)
{
	uint64_t deadline = now_ms() + SENDMAIL_RETRY_MS;
	unsigned delay = SENDMAIL_RETRY_FIRST_MS;
	char path[4096];
	enum attempt r;

	if (!bsnprintf(path, sizeof(path), "%s/%s", c->run_dir, LOCAL_SOCKET))
		die("run_dir too long");
	for (;;) {
		if ((r = smtp_open(path)) == ATT_OK)
			r = transaction(m, from);
		smtp_close();
		if (r == ATT_OK)
			return;
		if (r == ATT_FAIL)
			die("%s", att_error);
		if (r == ATT_TEMPFAIL || now_ms() + delay >= deadline)
			break;
		msleep(delay);
		delay = delay * 2 > SENDMAIL_RETRY_MAX_MS ? SENDMAIL_RETRY_MAX_MS :
		    delay * 2;
	}
	if (r == ATT_RETRY)
		fprintf(stderr, "facteur-sendmail: %s; facteur-smtpd did not "
		    "take the message within %d s: ", att_error,
		    SENDMAIL_RETRY_MS / 1000);
	else
		fprintf(stderr, "facteur-sendmail: %s: ", att_error);
	fprintf(stderr, "%s\n", att_after_dot ? "a connection was lost after "
	    "the whole message was sent, so it may have been queued (if not, "
	    "nothing was sent)" : "nothing was sent, try again later");
	exit(EX_TEMPFAIL);
}

/* option_value - "-fVALUE" or "-f VALUE" */
static const char *
option_value(char **argv, int *i)
{
	if (argv[*i][2] != '\0')
		return argv[*i] + 2;
	if (argv[*i + 1] == NULL) {
		fprintf(stderr, "facteur-sendmail: %s needs a value\n", argv[*i]);
		usage();
	}
	return argv[++*i];
}

/*
 * args_clean - no CR or LF in any argument (issue 16 item 7: -f and
 * recipients went into the SMTP stream as they were, so "-f 'a@b>\r\n
 * RCPT TO:<...'" injected commands).  argv strings hold no NUL.
 */
static void
args_clean(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strpbrk(argv[i], "\r\n") != NULL) {
			fprintf(stderr, "facteur-sendmail: argument %d holds a CR "
			    "or LF character; nothing was sent\n", i);
			exit(2);
		}
}

/* default_sender - what this account sends as without -f ([sendmail] sender) */
static char *
default_sender(const struct conf *c, const struct passwd *pw)
{
	const struct conf_sender *cs = conf_sender_find(c, pw->pw_name);
	char a[320];

	if (cs != NULL && cs->naddrs > 0)
		return xstrdup(cs->addrs[0]);
	if (!conf_sender_default(c, pw->pw_name, pw->pw_uid, a, sizeof(a)))
		die("no default sender address for %s", pw->pw_name);
	return xstrdup(a);
}

int
main(int argc, char **argv)
{
	const char *conf_path = getenv("FACTEUR_CONF"), *from = NULL;
	const char *fullname = NULL;
	bool from_headers = false, dot_ends = true;
	struct passwd *pw;
	struct conf *c;
	struct msg m;
	char *sender;
	int i;

	memset(&m, 0, sizeof(m));
	args_clean(argc, argv);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		switch (a[1]) {
		case 'f':
		case 'r':
			from = option_value(argv, &i);
			break;
		case 'F':
			fullname = option_value(argv, &i);
			break;
		case 'C':
		case 'c':	/* like the other facteur tools */
			conf_path = option_value(argv, &i);
			break;
		case 't':
			from_headers = true;
			break;
		case 'i':
			dot_ends = false;
			break;
		case 'o':
			if (strcmp(a, "-oi") == 0)
				dot_ends = false;
			break;			/* -odb, -oem, ... */
		case 'b':
			if (strcmp(a, "-bm") != 0) {
				fprintf(stderr, "facteur-sendmail: %s is not supported "
				    "(see facteur-ctl for the queue)\n", a);
				return 2;
			}
			break;
		case 'N': case 'R': case 'V': case 'X': case 'B': case 'L': case 'O':
			(void)option_value(argv, &i);	/* DSN and logging: ignored */
			break;
		case 'v': case 'n': case 'U': case 'm': case 'e':
			break;
		default:
			fprintf(stderr, "facteur-sendmail: unknown option %s\n", a);
			usage();
		}
	}
	log_init("facteur-sendmail", true, false);
	c = conf_load_or_die(conf_path ? conf_path : CONF_DEFAULT_PATH);
	if ((pw = getpwuid(getuid())) == NULL)
		die("uid %ld has no account name", (long)getuid());
	if (fullname == NULL && pw->pw_gecos)
		fullname = strtok(pw->pw_gecos, ",");
	sender = from ? xstrdup(from) : default_sender(c, pw);
	read_message(&m, dot_ends, c->smtp.max_size);
	for (; i < argc; i++)
		add_rcpt(&m, argv[i], strlen(argv[i]), c->domains[0]);
	if (from_headers)
		rcpts_from_headers(&m, c->domains[0]);
	if (m.nrcpt == 0)
		die("no recipients (give them as arguments, or use -t)");
	add_missing_headers(&m, sender, fullname, c);
	submit(c, &m, sender);
	free(sender);
	buf_free(&m.hdr);
	buf_free(&m.body);
	for (i = 0; (size_t)i < m.nrcpt; i++)
		free(m.rcpt[i]);
	free(m.rcpt);
	conf_free(&c);
	return 0;
}
