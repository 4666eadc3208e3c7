/* SPDX-License-Identifier: ISC */
/*
 * acme_chal.c - HTTP-01 challenges (RFC 8555 8.3): the CA fetches
 * http://NAME/.well-known/acme-challenge/TOKEN and expects the key
 * authorization.  Either a short-lived listener on [acme] http (port 80
 * by default) forked by facteur-keytool for the time of the validation,
 * or, when [acme] webroot is set (a web server already has port 80, as on
 * a NAS), files under WEBROOT/.well-known/acme-challenge/ removed after.
 *
 * The listener reads one request line per connection (1 KiB, 5 s in all,
 * however the client trickles it: the CA's own requests wait behind
 * it, one connection at a time), answers
 * 200 with the key authorization for a known token, 404 otherwise, and
 * closes; started as root it drops to `nobody` once bound.  It never
 * writes anything else and is killed when the order is done.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"
#include "xmem.h"
#include "keytool/acme.h"
#include "keytool/keytool_dkim.h"

#define CHAL_PREFIX	"/.well-known/acme-challenge/"
#define REQ_MAX		1024
#define REQ_DEADLINE_MS	5000	/* one request line, from accept */

/* token_ok - base64url only (RFC 8555 8.3), so it is safe in a path */
static bool
token_ok(const char *t)
{
	size_t n = strlen(t);

	return n > 0 && n <= 128 && strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static int
webroot_path(const struct acme_chal *ch, const char *token, char *out,
    size_t outsz)
{
	if (!bsnprintf(out, outsz, "%s%s%s", ch->webroot, CHAL_PREFIX, token)) {
		fprintf(stderr, "acme: %s: path too long\n", ch->webroot);
		return -1;
	}
	return 0;
}

/* webroot_dirs - .well-known/acme-challenge, 0755: the web server reads it */
static int
webroot_dirs(const struct acme_chal *ch)
{
	char path[PATH_MAX];

	if (!bsnprintf(path, sizeof(path), "%s/.well-known", ch->webroot) ||
	    (mkdir(path, 0755) == -1 && errno != EEXIST) ||
	    !bsnprintf(path, sizeof(path), "%s%s", ch->webroot, CHAL_PREFIX) ||
	    (mkdir(path, 0755) == -1 && errno != EEXIST)) {
		fprintf(stderr, "acme: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static bool
webroot_bad(char *why, size_t whysz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* webroot_bad - false, with the reason in why and errno kept for the caller */
static bool
webroot_bad(char *why, size_t whysz, const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	errno = e;
	return false;
}

bool
acme_chal_webroot_ok(const char *webroot, char *why, size_t whysz)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (stat(webroot, &st) == -1)
		return webroot_bad(why, whysz, "%s: %s", webroot, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return webroot_bad(why, whysz, "%s: not a directory", webroot);
	}
	if (!bsnprintf(path, sizeof(path), "%s/.well-known", webroot) ||
	    (mkdir(path, 0755) == -1 && errno != EEXIST) ||
	    !bsnprintf(path, sizeof(path), "%s%s", webroot, CHAL_PREFIX) ||
	    (mkdir(path, 0755) == -1 && errno != EEXIST))
		return webroot_bad(why, whysz, "%s: %s", path, strerror(errno));
	/* what acme_chal_add() will do: a new file in there */
	if (!bsnprintf(path, sizeof(path), "%s%s.facteur-check-%ld", webroot,
	    CHAL_PREFIX, (long)getpid()) ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1)
		return webroot_bad(why, whysz, "%s%s: cannot write in it: %s",
		    webroot, CHAL_PREFIX, strerror(errno));
	close(fd);
	(void)unlink(path);
	return true;
}

int
acme_chal_add(struct acme_chal *ch, const char *token, const char *keyauth)
{
	char path[PATH_MAX];

	if (!token_ok(token)) {
		fprintf(stderr, "acme: the CA sent a challenge token that is "
		    "not base64url\n");
		return -1;
	}
	if (ch->n == sizeof(ch->token) / sizeof(ch->token[0])) {
		fprintf(stderr, "acme: too many challenges\n");
		return -1;
	}
	if (ch->webroot != NULL) {
		if (webroot_dirs(ch) == -1 ||
		    webroot_path(ch, token, path, sizeof(path)) == -1)
			return -1;
		/* world-readable: the web server runs as someone else */
		if (keytool_write_file(path, keyauth, strlen(keyauth), 0644,
		    true) == -1)
			return -1;
		(void)chmod(path, 0644);
	}
	ch->token[ch->n] = xstrdup(token);
	ch->keyauth[ch->n] = xstrdup(keyauth);
	ch->n++;
	return 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_left - the next read waits what is left of the deadline; false
 * once it passed (a trickling client cannot hold the listener) */
static bool
wait_left(int fd, long long deadline)
{
	long long left = deadline - now_ms();
	struct timeval tv;

	if (left <= 0)
		return false;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0;
}

/* serve_one - one connection: read the request line, answer, close */
static void
serve_one(const struct acme_chal *ch, int fd)
{
	struct timeval tv = { REQ_DEADLINE_MS / 1000, 0 };
	long long deadline = now_ms() + REQ_DEADLINE_MS;
	char req[REQ_MAX + 1], out[512];
	const char *ka, *nl;
	size_t n = 0;
	ssize_t r;
	int len;

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (n < REQ_MAX && wait_left(fd, deadline) &&
	    (r = read(fd, req + n, REQ_MAX - n)) > 0) {
		n += (size_t)r;
		if (memchr(req, '\n', n) != NULL)
			break;
	}
	if ((nl = memchr(req, '\n', n)) == NULL)
		return;
	n = (size_t)(nl - req);
	if (n > 0 && req[n - 1] == '\r')
		n--;
	ka = acme_chal_answer(ch, req, n);
	if (ka != NULL)
		len = snprintf(out, sizeof(out), "HTTP/1.0 200 OK\r\n"
		    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n%s", strlen(ka), ka);
	else
		len = snprintf(out, sizeof(out), "HTTP/1.0 404 Not Found\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n");
	if (len > 0 && (size_t)len < sizeof(out))
		(void)write(fd, out, (size_t)len);
}

static int
bind_http(const char *host, unsigned port)
{
	struct addrinfo hints, *res;
	char p[8];
	int fd, one = 1, zero = 0, rv;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	snprintf(p, sizeof(p), "%u", port);
	if ((rv = getaddrinfo(host, p, &hints, &res)) != 0) {
		fprintf(stderr, "acme: [acme] http %s: %s\n", host,
		    gai_strerror(rv));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd != -1) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* [::] takes IPv4 too, where the system allows it */
		if (res->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof(zero));
		if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
		    listen(fd, 16) == -1) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd == -1)
		fprintf(stderr, "acme: cannot listen on port %u for the "
		    "HTTP-01 challenge: %s%s\n", port, strerror(errno),
		    errno == EADDRINUSE ? " (a web server has it? set [acme] "
		    "webroot to its document root)" : errno == EACCES ?
		    " (port 80 needs root)" : "");
	return fd;
}

int
acme_chal_listen(struct acme_chal *ch, const char *host, unsigned port)
{
	struct passwd *pw;
	int fd, c;

	if (ch->webroot != NULL || ch->pid != 0)
		return 0;
	if ((fd = bind_http(host, port)) == -1)
		return -1;
	fflush(stdout);
	fflush(stderr);
	if ((ch->pid = fork()) == -1) {
		fprintf(stderr, "acme: fork: %s\n", strerror(errno));
		ch->pid = 0;
		close(fd);
		return -1;
	}
	if (ch->pid != 0) {
		close(fd);
		return 0;
	}
	/* the listener: nobody, as soon as the port is bound */
	if (geteuid() == 0 && (pw = getpwnam("nobody")) != NULL)
		priv_drop(pw->pw_uid, pw->pw_gid, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		if ((c = accept(fd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		serve_one(ch, c);
		close(c);
	}
}

void
acme_chal_done(struct acme_chal *ch)
{
	char path[PATH_MAX];
	size_t i;

	if (ch->pid > 0) {
		(void)kill(ch->pid, SIGTERM);
		(void)waitpid(ch->pid, NULL, 0);
		ch->pid = 0;
	}
	for (i = 0; i < ch->n; i++) {
		if (ch->webroot != NULL &&
		    webroot_path(ch, ch->token[i], path, sizeof(path)) == 0)
			(void)unlink(path);
		free(ch->token[i]);
		wipe(ch->keyauth[i], strlen(ch->keyauth[i]));
		free(ch->keyauth[i]);
	}
	ch->n = 0;
}
