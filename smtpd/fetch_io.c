/* SPDX-License-Identifier: ISC */
/*
 * fetch_io.c - the fetch role's connections: blocking, with a timeout on
 * every read and write (FETCH_TIMEOUT_S) and, to the remote server, a
 * deadline for the whole poll (FETCH_POLL_MAX_S), TLS to it with
 * the certificate verified against the account's ca_file and host name
 * (no fallback to clear text), a plain Unix socket to our own smtpd; and
 * the injection of one message into the queue over run_dir/smtpd.sock,
 * whose 250 after DATA means queued durably (SPEC 6).  Runs in the fetch
 * role as `user`; errors are returned (and explained in `why`), never
 * fatal.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "log.h"
#include "strnum.h"
#include "xmem.h"
#include "smtpd/fetch.h"
#include "smtpd/fetch_int.h"

static void
set_timeouts(int fd)
{
	struct timeval tv = { FETCH_TIMEOUT_S, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* poll_max - FETCH_POLL_MAX_S, or FACTEUR_FETCH_POLL_S for tests */
static time_t
poll_max(void)
{
	const char *env = getenv("FACTEUR_FETCH_POLL_S"), *err;
	long long v;

	if (env == NULL)
		return FETCH_POLL_MAX_S;
	v = strnum(env, 1, 86400, &err);
	if (err != NULL) {
		log_warnx("fetch: FACTEUR_FETCH_POLL_S %s", err);
		return FETCH_POLL_MAX_S;
	}
	return (time_t)v;
}

/*
 * time_left - false once c's deadline passed (logged once); else the
 * next read waits no longer than what is left of it
 */
static bool
time_left(struct fconn *c)
{
	struct timeval tv = { 0, 0 };
	time_t left;

	if (c->deadline == 0)
		return true;
	if ((left = c->deadline - mono_now()) <= 0) {
		if (!c->expired)
			log_warnx("fetch: the poll has run for its %lld s: hanging "
			    "up, the next poll goes on", (long long)poll_max());
		c->expired = true;
		errno = ETIMEDOUT;
		return false;
	}
	if (left < FETCH_TIMEOUT_S) {
		tv.tv_sec = left;
		(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	return true;
}

static void
fconn_init(struct fconn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	buf_init(&c->line, FETCH_LINE_MAX + 1);
	set_timeouts(fd);
}

void
fconn_close(struct fconn *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->line);
}

/* tcp_connect - the first address of host:port that answers */
static int
tcp_connect(const char *host, uint16_t port, char *why, size_t whysz)
{
	struct fetch_addr a[FETCH_ADDRS_MAX];
	size_t i, n;
	int fd = -1;

	if (fetch_resolve(host, port, a, FETCH_ADDRS_MAX, &n, why, whysz) == -1)
		return -1;
	snprintf(why, whysz, "cannot connect to %s:%u", host, (unsigned)port);
	for (i = 0; i < n; i++) {
		if ((fd = socket(a[i].ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1)
			continue;
		set_timeouts(fd);
		if (connect(fd, (struct sockaddr *)&a[i].ss, a[i].len) == 0)
			break;
		snprintf(why, whysz, "connect to %s:%u: %s", host,
		    (unsigned)port, strerror(errno));
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * ca_file_why - why path did not load: the role's account cannot open it
 * (a copy under the 0700 tls/ of a setup), or it holds no certificate
 */
static void
ca_file_why(const char *path, char *why, size_t whysz)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		snprintf(why, whysz, "cannot load CA file %s: %s (the fetch "
		    "role runs as uid %ld)", path, strerror(errno),
		    (long)geteuid());
	else {
		fclose(f);
		snprintf(why, whysz, "cannot load CA file %s: no PEM "
		    "certificate in it", path);
	}
}

int
fconn_tls(struct fconn *c, const struct conf_fetch *a, char *why,
    size_t whysz)
{
	SSL_CTX *ctx;
	long vr;
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, a->ca_file, NULL) != 1) {
		ca_file_why(a->ca_file, why, whysz);
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((fd = tcp_connect(a->host, a->port, why, whysz)) == -1) {
		SSL_CTX_free(ctx);
		return -1;
	}
	fconn_init(c, fd);
	c->deadline = mono_now() + poll_max();
	c->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);		/* the SSL keeps a reference */
	if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, a->host) != 1 ||
	    SSL_set1_host(c->ssl, a->host) != 1) {
		snprintf(why, whysz, "TLS setup failed");
		ERR_clear_error();
		return -1;
	}
	if (SSL_connect(c->ssl) != 1) {
		vr = SSL_get_verify_result(c->ssl);
		snprintf(why, whysz, "TLS with %s:%u failed: %s", a->host,
		    (unsigned)a->port, vr != X509_V_OK ?
		    X509_verify_cert_error_string(vr) : "handshake error");
		ERR_clear_error();
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	return 0;
}

int
fconn_unix(struct fconn *c, const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (!bstrcpy(sun.sun_path, path, sizeof(sun.sun_path)) ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	fconn_init(c, fd);
	return 0;
}

/* fill - more bytes into c->in; -1 on EOF, error or timeout */
static int
fill(struct fconn *c)
{
	ssize_t r;

	if (!time_left(c))
		return -1;
	if (c->off == c->len)
		c->off = c->len = 0;
	if (c->ssl != NULL) {
		int n = SSL_read(c->ssl, c->in + c->len,
		    (int)(sizeof(c->in) - c->len));

		if (n <= 0) {
			ERR_clear_error();
			return -1;
		}
		r = n;
	} else if ((r = read(c->fd, c->in + c->len,
	    sizeof(c->in) - c->len)) <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

int
fconn_line(struct fconn *c)
{
	char *nl;
	size_t n;

	buf_reset(&c->line);
	for (;;) {
		if (c->off < c->len &&
		    (nl = memchr(c->in + c->off, '\n', c->len - c->off)) != NULL) {
			n = (size_t)(nl - (c->in + c->off));
			if (buf_append(&c->line, c->in + c->off, n) == -1)
				return -1;
			c->off += n + 1;
			if (c->line.len > 0 &&
			    buf_head(&c->line)[c->line.len - 1] == '\r')
				buf_truncate(&c->line, c->line.len - 1);
			return 0;
		}
		if (buf_append(&c->line, c->in + c->off, c->len - c->off) == -1)
			return -1;
		c->off = c->len;
		if (fill(c) == -1)
			return -1;
	}
}

int
fconn_bytes(struct fconn *c, size_t n, fconn_sink *sink, void *arg)
{
	size_t k;

	while (n > 0) {
		if (c->off == c->len && fill(c) == -1)
			return -1;
		k = c->len - c->off < n ? c->len - c->off : n;
		if (sink(arg, c->in + c->off, k) == -1)
			return -1;
		c->off += k;
		n -= k;
	}
	return 0;
}

int
fconn_write(struct fconn *c, const void *p, size_t n)
{
	const char *s = p;
	ssize_t r;

	while (n > 0) {
		if (c->ssl != NULL) {
			int w = SSL_write(c->ssl, s, (int)(n > 65536 ? 65536 : n));

			if (w <= 0) {
				ERR_clear_error();
				return -1;
			}
			r = w;
		} else if ((r = write(c->fd, s, n)) <= 0)
			return -1;
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

int
fconn_printf(struct fconn *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	n = fconn_write(c, line, (size_t)n);
	wipe(line, sizeof(line));	/* may have held a password */
	return n;
}

/* ---- injection into our queue ---------------------------------------- */

/* line_text - the last line read, "" if none */
static const char *
line_text(const struct fconn *c)
{
	return c->line.len && buf_head(&c->line) ? buf_head(&c->line) : "";
}

/* smtp_reply - the final line of a reply; its code, 0 on error */
static int
smtp_reply(struct fconn *c)
{
	int code;

	do {
		if (fconn_line(c) == -1)
			return 0;
		code = fetch_smtp_code(buf_head(&c->line), c->line.len);
	} while (code == 0 && c->line.len > 3 &&
	    buf_head(&c->line)[3] == '-');
	return code;
}

static enum fetch_res
res_of(int code)
{
	return code >= 500 && code < 600 ? FR_PERM : FR_TEMP;
}

enum fetch_res
inject_begin(struct inject *in, const char *once, const char *run_dir,
    const char *local)
{
	char path[4096];
	int code;

	if (!in->open) {
		if (!bsnprintf(path, sizeof(path), "%s/%s", run_dir,
		    "smtpd.sock") || fconn_unix(&in->c, path) == -1)
			return FR_TEMP;
		in->open = true;
		if (smtp_reply(&in->c) != 220 ||
		    fconn_printf(&in->c, "EHLO facteur-fetch\r\n") == -1 ||
		    smtp_reply(&in->c) != 250)
			goto fail;
	}
	/* the null sender: a fetched message must not bounce anywhere;
	 * ONCE=: the queue takes it only once (smtpd/queue_once.c) */
	if (fconn_printf(&in->c, "MAIL FROM:<> ONCE=%s\r\n", once) == -1 ||
	    (code = smtp_reply(&in->c)) != 250)
		goto fail;
	if (fconn_printf(&in->c, "RCPT TO:<%s>\r\n", local) == -1 ||
	    (code = smtp_reply(&in->c)) != 250) {
		snprintf(in->why, sizeof(in->why), "RCPT TO:<%s>: %s", local,
		    line_text(&in->c));
		(void)fconn_printf(&in->c, "RSET\r\n");
		if (smtp_reply(&in->c) != 250)
			inject_close(in);
		return code ? res_of(code) : FR_TEMP;
	}
	if (fconn_printf(&in->c, "DATA\r\n") == -1 ||
	    smtp_reply(&in->c) != 354)
		goto fail;
	fetch_stuff_init(&in->st);
	buf_init(&in->out, 0);
	return FR_OK;
fail:
	snprintf(in->why, sizeof(in->why), "local smtpd: %s",
	    line_text(&in->c));
	inject_close(in);
	return FR_TEMP;
}

int
inject_data(void *arg, const char *p, size_t n)
{
	struct inject *in = arg;

	if (fetch_stuff(&in->st, p, n, &in->out) == -1 ||
	    fconn_write(&in->c, buf_head(&in->out), in->out.len) == -1)
		return -1;
	buf_reset(&in->out);
	return 0;
}

enum fetch_res
inject_end(struct inject *in)
{
	int code;

	fetch_hold();		/* released once the state says so */
	if (fetch_stuff_end(&in->st, &in->out) == -1 ||
	    fconn_write(&in->c, buf_head(&in->out), in->out.len) == -1) {
		buf_free(&in->out);
		inject_close(in);
		return FR_TEMP;
	}
	buf_free(&in->out);
	code = smtp_reply(&in->c);
	if (code == 250)
		return FR_OK;
	snprintf(in->why, sizeof(in->why), "queue: %s", line_text(&in->c));
	if (code == 0)
		inject_close(in);
	return code ? res_of(code) : FR_TEMP;
}

void
inject_close(struct inject *in)
{
	if (!in->open)
		return;
	fconn_close(&in->c);
	buf_free(&in->out);
	in->open = false;
}
