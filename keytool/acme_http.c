/* SPDX-License-Identifier: ISC */
/*
 * acme_http.c - the ACME client's HTTPS requests: one connection per
 * request (Connection: close), TLS 1.2 or later, the server's certificate
 * verified against [acme] ca_file and its name (SNI and host check), the
 * whole response read with a deadline of [acme] timeout and at most
 * ACME_RESP_MAX bytes, then parsed by acme_httpp.c.  Runs in
 * facteur-keytool; errors explained on stderr ("acme: URL: why").
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "tls.h"
#include "xmem.h"
#include "keytool/acme.h"

int
acme_http_init(struct acme_http *h, const char *ca_file, unsigned timeout)
{
	h->timeout = timeout;
	if ((h->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		fprintf(stderr, "acme: %s\n", tls_error());
		return -1;
	}
	SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION);
	if (SSL_CTX_load_verify_locations(h->ctx, ca_file, NULL) != 1) {
		fprintf(stderr, "acme: cannot load the CA file %s (%s)%s\n",
		    ca_file, tls_error(), access(ca_file, F_OK) == 0 ? "" :
		    "; on Debian: apt-get install ca-certificates, or set "
		    "[acme] ca_file");
		SSL_CTX_free(h->ctx);
		h->ctx = NULL;
		return -1;
	}
	SSL_CTX_set_verify(h->ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

void
acme_http_free(struct acme_http *h)
{
	SSL_CTX_free(h->ctx);
	h->ctx = NULL;
}

struct url {
	char	host[256];
	char	port[8];
	char	path[ACME_URL_MAX];
};

/* url_split - https://host[:port]/path; false if it is not one */
static bool
url_split(const char *url, struct url *u)
{
	const char *h, *hend, *p, *port = NULL;
	size_t n;

	if (strncmp(url, "https://", 8) != 0)
		return false;
	h = url + 8;
	p = h + strcspn(h, "/?#");
	if (*h == '[') {
		if ((hend = memchr(h, ']', (size_t)(p - h))) == NULL)
			return false;
		if (hend + 1 < p && hend[1] == ':')
			port = hend + 2;
		else if (hend + 1 != p)
			return false;
		h++;
	} else {
		hend = memchr(h, ':', (size_t)(p - h));
		if (hend != NULL)
			port = hend + 1;
		else
			hend = p;
	}
	n = (size_t)(hend - h);
	if (n == 0 || n >= sizeof(u->host))
		return false;
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	if (port != NULL) {
		n = (size_t)(p - port);
		if (n == 0 || n >= sizeof(u->port) ||
		    strspn(port, "0123456789") < n)
			return false;
		memcpy(u->port, port, n);
		u->port[n] = '\0';
	} else
		bstrcpy(u->port, "443", sizeof(u->port));
	if (*p == '\0')
		p = "/";
	if (*p != '/' || strlen(p) >= sizeof(u->path) ||
	    strpbrk(p, " \r\n\t") != NULL)
		return false;
	bstrcpy(u->path, p, sizeof(u->path));
	return true;
}

/* tcp_connect - the first address of host:port that answers in time */
static int
tcp_connect(const struct url *u, unsigned timeout, char *err, size_t errsz)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { (time_t)timeout, 0 };
	struct pollfd pfd;
	socklen_t sl;
	int fd = -1, rv, e = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rv = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(err, errsz, "%s", gai_strerror(rv));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, (int)timeout * 1000) == 1) {
				sl = sizeof(e);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
				    &sl) == -1)
					e = errno;
			} else
				e = ETIMEDOUT;
		} else
			e = errno;
		if (e == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		snprintf(err, errsz, "cannot connect to %s port %s: %s",
		    u->host, u->port, strerror(e));
		return -1;
	}
	/* blocking from here on, each read and write bounded */
	if (fcntl(fd, F_SETFL, 0) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* tls_start - handshake with certificate and name checks */
static SSL *
tls_start(struct acme_http *h, int fd, const struct url *u, char *err,
    size_t errsz)
{
	unsigned char ip[16];
	bool literal = inet_pton(AF_INET, u->host, ip) == 1 ||
	    inet_pton(AF_INET6, u->host, ip) == 1;
	long vr;
	SSL *ssl;

	if ((ssl = SSL_new(h->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	if (literal) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    u->host) != 1)
			goto fail;
	} else if (SSL_set_tlsext_host_name(ssl, u->host) != 1 ||
	    SSL_set1_host(ssl, u->host) != 1)
		goto fail;
	if (SSL_connect(ssl) != 1) {
		vr = SSL_get_verify_result(ssl);
		if (vr != X509_V_OK)
			snprintf(err, errsz, "TLS: the server's certificate is "
			    "not trusted (%s); see [acme] ca_file",
			    X509_verify_cert_error_string(vr));
		else
			snprintf(err, errsz, "TLS handshake: %s", tls_error());
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
fail:
	snprintf(err, errsz, "TLS: %s", tls_error());
	SSL_free(ssl);
	return NULL;
}

static bool
ssl_write_all(SSL *ssl, const char *p, size_t n)
{
	int w;

	while (n > 0) {
		if ((w = SSL_write(ssl, p, n > 65536 ? 65536 : (int)n)) <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* exchange - send the request, read the response until the server closes */
static int
exchange(SSL *ssl, const char *req, size_t reqlen, struct buf *in,
    time_t deadline, char *err, size_t errsz)
{
	int r;

	if (!ssl_write_all(ssl, req, reqlen)) {
		snprintf(err, errsz, "sending the request: %s", tls_error());
		return -1;
	}
	for (;;) {
		if (time(NULL) > deadline) {
			snprintf(err, errsz, "no complete answer in time");
			return -1;
		}
		if (buf_reserve(in, 16384) == -1) {
			snprintf(err, errsz, "answer longer than %d bytes",
			    ACME_RESP_MAX);
			return -1;
		}
		r = SSL_read(ssl, buf_tail(in), 16384);
		if (r > 0) {
			buf_commit(in, (size_t)r);
			continue;
		}
		r = SSL_get_error(ssl, r);
		/* a server that closes without close_notify: the end too */
		if (r == SSL_ERROR_ZERO_RETURN || r == SSL_ERROR_SYSCALL) {
			ERR_clear_error();
			return 0;
		}
		snprintf(err, errsz, "reading the answer: %s", r ==
		    SSL_ERROR_WANT_READ ? "timed out" : tls_error());
		return -1;
	}
}

int
acme_http_req(struct acme_http *h, const char *method, const char *url,
    const char *body, struct http_resp *r)
{
	char err[512] = "";
	const char *perr;
	struct url u;
	struct buf req, in;
	SSL *ssl = NULL;
	int fd = -1, rc = -1;
	bool v6;

	buf_init(&req, 64 * 1024);
	buf_init(&in, ACME_RESP_MAX + 16384);
	memset(r, 0, sizeof(*r));
	if (!url_split(url, &u)) {
		snprintf(err, sizeof(err), "expected an https:// URL");
		goto done;
	}
	v6 = strchr(u.host, ':') != NULL;
	if (buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n"
	    "User-Agent: facteur-keytool\r\nAccept: */*\r\n"
	    "Connection: close\r\n", method, u.path, v6 ? "[" : "", u.host,
	    v6 ? "]" : "", strcmp(u.port, "443") ? ":" : "",
	    strcmp(u.port, "443") ? u.port : "") == -1 ||
	    (body != NULL && buf_printf(&req, "Content-Type: "
	    "application/jose+json\r\nContent-Length: %zu\r\n", strlen(body))
	    == -1) || buf_puts(&req, "\r\n") == -1 ||
	    (body != NULL && buf_puts(&req, body) == -1)) {
		snprintf(err, sizeof(err), "request too big");
		goto done;
	}
	if ((fd = tcp_connect(&u, h->timeout, err, sizeof(err))) == -1 ||
	    (ssl = tls_start(h, fd, &u, err, sizeof(err))) == NULL ||
	    exchange(ssl, buf_head(&req), req.len, &in, time(NULL) +
	    (time_t)h->timeout, err, sizeof(err)) == -1)
		goto done;
	if (http_parse(buf_head(&in), in.len, strcmp(method, "HEAD") == 0, r,
	    &perr) == -1) {
		snprintf(err, sizeof(err), "bad answer: %s", perr);
		goto done;
	}
	rc = 0;
done:
	if (rc == -1)
		fprintf(stderr, "acme: %s: %s\n", url, err);
	if (ssl != NULL) {
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd != -1)
		close(fd);
	buf_free(&req);
	buf_free(&in);
	return rc;
}
