/* SPDX-License-Identifier: ISC */
/*
 * log.c - logging to syslog (mail facility), stderr or a file, one line per
 * event.
 *
 * Runs in every process.  Lines are "ident[pid]: text" on stderr, the same
 * after the local date and time ("2026-12-07T11:25:40+01:00 ") in a log
 * file (put on stderr: log_open_file), since nothing else dates them there
 * (syslog and the journal do), and go to syslog with LOG_PID otherwise.  A
 * log file is opened once at start, before any chroot (the time zone is
 * loaded then: a chroot has no /etc/localtime): it is not reopened on
 * SIGHUP, so it is rotated by copying and truncating.  Never logs a
 * password: callers pass only escaped, length-capped untrusted text
 * (log_escape).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "facteur";
static bool log_stderr = true;
static bool log_debugging;
static bool log_to_file;
static pid_t log_pid;		/* ours: kept by log_forked() across fork(2) */

/* log_forked - in a child after fork(2): the pid of the lines changes */
static void
log_forked(void)
{
	log_pid = getpid();
}

void
log_init(const char *ident, bool to_stderr, bool debug)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_debugging = debug;
	if (log_pid == 0) {	/* one getpid(2) per process, not per line */
		log_pid = getpid();
		(void)pthread_atfork(NULL, NULL, log_forked);
	}
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int
log_open_file(const char *path)
{
	int fd, e;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd == -1)
		return -1;
	tzset();	/* before a chroot hides /etc/localtime */
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) == -1) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		close(fd);
	}
	if (!log_stderr)
		closelog();
	log_stderr = true;
	log_to_file = true;
	return 0;
}

bool
log_is_file(void)
{
	return log_to_file;
}

/* log_set_ident - a forked role names itself ("smtpd/queue") */
void
log_set_ident(const char *ident)
{
	log_ident = ident;
	if (!log_stderr) {
		closelog();
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

/*
 * log_timestamp - "YYYY-MM-DDTHH:MM:SS+HH:MM " (RFC 3339, local time) into
 * out, or "" if the clock cannot be read
 */
static void
log_timestamp(char *out, size_t outsz)
{
	struct tm tm;
	time_t now = time(NULL);
	size_t n;

	out[0] = '\0';
	if (localtime_r(&now, &tm) == NULL)
		return;
	n = strftime(out, outsz, "%Y-%m-%dT%H:%M:%S%z ", &tm);
	if (n != 25) {		/* %z is +hhmm: anything else is left as is */
		if (n == 0)
			out[0] = '\0';
		return;
	}
	/* +hhmm -> +hh:mm */
	memmove(out + 23, out + 22, 4);
	out[22] = ':';
}

static void
log_vemit(int pri, const char *fmt, va_list ap, int errnum)
{
	char line[2048];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (errnum && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
	if (log_stderr) {
		/* one write per line so processes sharing stderr do not mix */
		char out[2200], when[40] = "";
		int m;

		if (log_to_file)
			log_timestamp(when, sizeof(when));
		m = snprintf(out, sizeof(out), "%s%s[%ld]: %s\n", when,
		    log_ident, (long)(log_pid ? log_pid : getpid()), line);
		if (m > 0)
			(void)!write(STDERR_FILENO, out,
			    (size_t)m < sizeof(out) ? (size_t)m : sizeof(out) - 1);
	} else
		syslog(pri, "%s", line);
}

#define LOG_BODY(pri, errnum) do {		\
	va_list ap;				\
	va_start(ap, fmt);			\
	log_vemit(pri, fmt, ap, errnum);	\
	va_end(ap);				\
} while (0)

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, 0);
}

void
log_warn(const char *fmt, ...)
{
	int e = errno;

	LOG_BODY(LOG_WARNING, e);
	errno = e;
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 0);
}

void
log_debug(const char *fmt, ...)
{
	if (log_debugging)
		LOG_BODY(LOG_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	int e = errno;

	LOG_BODY(LOG_ERR, e);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_ERR, 0);
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	abort();
}

char *
log_escape(char *out, size_t outsz, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outsz == 0)
		return out;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = (c < 0x20 || c >= 0x7f || c == '\\') ? 4 : 1;

		if (o + need + 4 > outsz) {	/* room for "..." and NUL */
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1)
			out[o++] = (char)c;
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
