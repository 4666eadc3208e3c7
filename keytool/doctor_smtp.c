/* SPDX-License-Identifier: ISC */
/*
 * doctor_smtp.c - the doctor's network checks, each a short blocking SMTP
 * conversation with [doctor] timeout per step:
 *
 *  - [relay]: the login tried for real, as smtpd's relay role would do it
 *    (EHLO, STARTTLS or implicit TLS with the same verification, AUTH
 *    PLAIN or LOGIN with the password file, QUIT), the server's answer
 *    shown;
 *  - no [relay]: can mail leave on port 25 ([doctor] probe, a well-known
 *    MX): a timeout means the provider blocks it, and a smarthost is
 *    needed;
 *  - postmaster@DOMAIN accepted by our own port 25 (RFC 5321 4.5.1).
 *
 * Replies are read by the relay role's parser (smtpd/relay_reply.c,
 * fuzzed): the far end is untrusted, what is printed is printable ASCII.
 * Reads the relay password (conf_secret_fd_ok), sends it only inside TLS
 * unless [relay] tls = none, wipes it after; prints nothing secret.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "tls.h"
#include "xmem.h"
#include "keytool/doctor.h"
#include "smtpd/relay.h"

struct smtp {
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;
	char		 in[4096];
	size_t		 inlen;
	int		 code;
	char		 text[1024];	/* "CODE text", lines joined by ' ' */
	struct relay_caps caps;		/* of the last 250 reply */
	char		 err[512];
	bool		 unresolved;	/* the host name did not resolve */
};

/* tcp_connect - host (name or address) and port, within timeout_ms */
static int
tcp_connect(struct doctor *d, struct smtp *s, const char *host, uint16_t port)
{
	char a[DOCTOR_ADDRS][DOCTOR_IPLEN];
	struct sockaddr_storage ss;
	struct pollfd pfd;
	struct timeval tv;
	enum dns_status st;
	socklen_t sl;
	size_t n, i;
	int fd, e = ETIMEDOUT, r;

	memset(a, 0, sizeof(a));
	snprintf(a[0], sizeof(a[0]), "%s", host);
	n = 1;
	if (inet_pton(AF_INET, host, &ss) != 1 &&
	    inet_pton(AF_INET6, host, &ss) != 1 &&
	    (n = doctor_addrs(d, host, a, DOCTOR_ADDRS, &st)) == 0) {
		snprintf(s->err, sizeof(s->err), "%s: %s", host,
		    doctor_status(st));
		s->unresolved = true;
		return -1;
	}
	for (i = 0; i < n; i++) {
		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, a[i], &((struct sockaddr_in *)&ss)->
		    sin_addr) == 1) {
			ss.ss_family = AF_INET;
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
			sl = sizeof(struct sockaddr_in);
		} else if (inet_pton(AF_INET6, a[i], &((struct sockaddr_in6 *)
		    &ss)->sin6_addr) == 1) {
			ss.ss_family = AF_INET6;
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
			sl = sizeof(struct sockaddr_in6);
		} else
			continue;
		if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0)) == -1) {
			e = errno;
			continue;
		}
		r = connect(fd, (struct sockaddr *)&ss, sl);
		if (r == -1 && errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, (int)d->timeout_ms) == 1) {
				sl = sizeof(e);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl);
				r = e ? -1 : 0;
			} else
				e = ETIMEDOUT;
		} else if (r == -1)
			e = errno;
		if (r == 0) {
			fcntl(fd, F_SETFL, 0);
			tv.tv_sec = d->timeout_ms / 1000;
			tv.tv_usec = (d->timeout_ms % 1000) * 1000;
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			s->fd = fd;
			return 0;
		}
		close(fd);
	}
	snprintf(s->err, sizeof(s->err), "%s", e == ETIMEDOUT ?
	    "timed out" : strerror(e));
	return -1;
}

static ssize_t
smtp_read(struct smtp *s, void *buf, size_t n)
{
	ssize_t r;

	if (s->ssl != NULL) {
		r = SSL_read(s->ssl, buf, (int)n);
		return r > 0 ? r : -1;
	}
	return read(s->fd, buf, n);
}

static int
smtp_write(struct smtp *s, const char *buf, size_t n)
{
	if (s->ssl != NULL)
		return SSL_write(s->ssl, buf, (int)n) == (int)n ? 0 : -1;
	return write(s->fd, buf, n) == (ssize_t)n ? 0 : -1;
}

/*
 * reply - one (multi-line) reply, parsed by the relay role's parser
 * (smtpd/relay_reply.c: bounded, printable text only); s->code, s->text
 * and, for a 250, s->caps as an EHLO answer.  -1 on EOF or garbage.
 */
static int
reply(struct smtp *s)
{
	struct relay_reply r;
	enum reply_state st = REPLY_MORE;
	const char *err;
	char *nl;
	size_t l;
	ssize_t n;

	relay_reply_init(&r);
	s->text[0] = '\0';
	while (st == REPLY_MORE) {
		while ((nl = memchr(s->in, '\n', s->inlen)) == NULL) {
			if (s->inlen == sizeof(s->in) ||
			    (n = smtp_read(s, s->in + s->inlen,
			    sizeof(s->in) - s->inlen)) <= 0) {
				snprintf(s->err, sizeof(s->err), "%s",
				    s->inlen ? "reply line too long" : "no reply"
				    " (connection closed or timed out)");
				return -1;
			}
			s->inlen += (size_t)n;
		}
		l = (size_t)(nl - s->in);
		st = relay_reply_line(&r, s->in, l && nl[-1] == '\r' ? l - 1 : l,
		    &err);
		memmove(s->in, nl + 1, s->inlen - l - 1);
		s->inlen -= l + 1;
		if (st == REPLY_ERROR) {
			snprintf(s->err, sizeof(s->err), "not SMTP: %s", err);
			return -1;
		}
	}
	s->code = r.code;
	relay_reply_format(&r, s->text, sizeof(s->text));
	if (r.code == 250)
		relay_caps_parse(&r, &s->caps);
	return 0;
}

static int
cmd(struct smtp *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cmd - send one command line, read the reply; the code, or -1 */
static int
cmd(struct smtp *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	memcpy(line + n, "\r\n", 3);
	if (smtp_write(s, line, (size_t)n + 2) == -1) {
		snprintf(s->err, sizeof(s->err), "cannot send: %s",
		    strerror(errno));
		explicit_bzero(line, sizeof(line));
		return -1;
	}
	explicit_bzero(line, sizeof(line));
	return reply(s) == -1 ? -1 : s->code;
}

static void
smtp_close(struct smtp *s)
{
	if (s->ssl != NULL) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
	}
	SSL_CTX_free(s->ctx);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->ssl = NULL;
	s->ctx = NULL;
	ERR_clear_error();
}

/* has_auth - does the last EHLO answer offer SASL mechanism mech */
static bool
has_auth(const struct smtp *s, const char *mech)
{
	const char *p = s->caps.auth;
	size_t ml = strlen(mech);

	while ((p = strstr(p, mech)) != NULL) {
		if ((p == s->caps.auth || p[-1] == ' ') &&
		    (p[ml] == ' ' || p[ml] == '\0'))
			return true;
		p += ml;
	}
	return false;
}

/* tls_start - TLS on s as [relay] verify and ca_file say */
static int
tls_start(struct smtp *s, const struct conf *c)
{
	const char *host = c->relay.host;
	uint8_t bin[16];
	bool ip = inet_pton(AF_INET, host, bin) == 1 ||
	    inet_pton(AF_INET6, host, bin) == 1;
	long v;

	if ((s->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (s->ssl = SSL_new(s->ctx)) == NULL) {
		snprintf(s->err, sizeof(s->err), "TLS: %s", tls_error());
		return -1;
	}
	if (c->relay.verify) {
		SSL_set_verify(s->ssl, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_load_verify_locations(s->ctx, c->relay.ca_file,
		    NULL) != 1) {
			snprintf(s->err, sizeof(s->err), "cannot read [relay] "
			    "ca_file %s", c->relay.ca_file);
			return -1;
		}
		if (ip)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl),
			    host);
		else
			SSL_set1_host(s->ssl, host);
	}
	if (!ip)
		SSL_set_tlsext_host_name(s->ssl, host);
	SSL_set_fd(s->ssl, s->fd);
	if (SSL_connect(s->ssl) != 1) {
		v = SSL_get_verify_result(s->ssl);
		if (v != X509_V_OK)
			snprintf(s->err, sizeof(s->err), "TLS: the server's "
			    "certificate does not verify: %s - set [relay] "
			    "ca_file to the CA that issued it (or verify = no "
			    "on a network you trust)",
			    X509_verify_cert_error_string(v));
		else
			snprintf(s->err, sizeof(s->err), "TLS handshake failed:"
			    " %s", tls_error());
		return -1;
	}
	return 0;
}

/* read_password - the first line of [relay] password_file */
static bool
read_password(const struct conf *c, char *pw, size_t pwsz, char *err,
    size_t errsz)
{
	ssize_t r;
	size_t n;
	int fd;

	if ((fd = open(c->relay.password_file, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", c->relay.password_file,
		    strerror(errno));
		return false;
	}
	if (!conf_secret_fd_ok(fd, c->relay.password_file, err, errsz)) {
		close(fd);
		return false;
	}
	for (n = 0; n < pwsz - 1; n += (size_t)r)
		if ((r = read(fd, pw + n, pwsz - 1 - n)) <= 0)
			break;
	close(fd);
	pw[n] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
	return true;
}

/* b64 - base64 of n bytes of in, into out */
static void
b64(const void *in, size_t n, char *out, size_t outsz)
{
	if (4 * ((n + 2) / 3) + 1 > outsz) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* auth - AUTH PLAIN (or LOGIN) as [relay] user; the final code or -1 */
static int
auth(struct smtp *s, const struct conf *c, const char *mech)
{
	char pw[1024], raw[2048], enc[2900], err[512];
	size_t ul = strlen(c->relay.user), pl;
	int code = -1;

	if (!read_password(c, pw, sizeof(pw), err, sizeof(err))) {
		(void)bsnprintf(s->err, sizeof(s->err), "the password: %s", err);
		return -1;
	}
	pl = strlen(pw);
	if (strcmp(mech, "PLAIN") == 0 && ul + pl + 2 <= sizeof(raw)) {
		raw[0] = '\0';
		memcpy(raw + 1, c->relay.user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, pw, pl);
		b64(raw, ul + pl + 2, enc, sizeof(enc));
		code = cmd(s, "AUTH PLAIN %s", enc);
	} else if (cmd(s, "AUTH LOGIN") == 334) {
		b64(c->relay.user, ul, enc, sizeof(enc));
		if (cmd(s, "%s", enc) == 334) {
			b64(pw, pl, enc, sizeof(enc));
			code = cmd(s, "%s", enc);
		} else
			code = s->code;
	} else
		code = s->code;
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	return code;
}

static void
relay_fail(struct doctor *d, struct smtp *s, const char *step,
    const char *fix)
{
	const struct conf *c = d->c;

	doctor_report(d, DOC_FAIL, "relay %s:%u: %s: %s%s%s", c->relay.host,
	    c->relay.port, step, s->err[0] ? s->err : s->text,
	    fix[0] ? " - " : "", fix);
}

void
doctor_check_relay(struct doctor *d)
{
	const struct conf *c = d->c;
	struct smtp s;
	char done[512], tlsd[128] = "", fix[300];
	const char *mech;
	int code;

	memset(&s, 0, sizeof(s));
	s.fd = -1;
	snprintf(done, sizeof(done), "connected");
	if (tcp_connect(d, &s, c->relay.host, c->relay.port) == -1) {
		relay_fail(d, &s, "cannot connect", "check [relay] host and port"
		    " (587 for STARTTLS, 465 for implicit TLS)");
		return;
	}
	if (c->relay.tls == CONF_TLS_IMPLICIT && tls_start(&s, c) == -1) {
		relay_fail(d, &s, "implicit TLS", "");
		goto done;
	}
	if (reply(&s) == -1 || s.code != 220) {
		relay_fail(d, &s, "greeting", "");
		goto done;
	}
	if (cmd(&s, "EHLO %s", c->hostname) != 250) {
		relay_fail(d, &s, "EHLO", "");
		goto done;
	}
	if (c->relay.tls == CONF_TLS_STARTTLS) {
		if (!s.caps.starttls) {
			relay_fail(d, &s, "no STARTTLS offered", "use port 465 "
			    "with [relay] tls = implicit, or the provider's "
			    "submission port");
			goto done;
		}
		if (cmd(&s, "STARTTLS") != 220) {
			relay_fail(d, &s, "STARTTLS", "");
			goto done;
		}
		if (tls_start(&s, c) == -1) {
			relay_fail(d, &s, "STARTTLS", "");
			goto done;
		}
		if (cmd(&s, "EHLO %s", c->hostname) != 250) {
			relay_fail(d, &s, "EHLO after STARTTLS", "");
			goto done;
		}
	}
	if (s.ssl != NULL) {
		tls_describe(s.ssl, tlsd, sizeof(tlsd));
		snprintf(done, sizeof(done), "EHLO, %s (%s)",
		    c->relay.tls == CONF_TLS_STARTTLS ? "STARTTLS" : "TLS", tlsd);
	} else
		snprintf(done, sizeof(done), "EHLO (no TLS: [relay] tls = none)");
	if (c->relay.user != NULL) {
		mech = has_auth(&s, "PLAIN") ? "PLAIN" :
		    has_auth(&s, "LOGIN") ? "LOGIN" : NULL;
		if (mech == NULL) {
			s.err[0] = '\0';
			snprintf(s.text, sizeof(s.text), "the server offers no "
			    "AUTH PLAIN or LOGIN after %s", done);
			relay_fail(d, &s, "AUTH", "check the port and tls mode "
			    "the provider documents");
			goto done;
		}
		if ((code = auth(&s, c, mech)) != 235) {
			snprintf(fix, sizeof(fix), "check [relay] user (%s) and "
			    "the password in %s (one line, as the provider gave "
			    "it)", c->relay.user, c->relay.password_file);
			if (code == -1 && s.err[0] == '\0')
				(void)bstrcpy(s.err, s.text, sizeof(s.err));
			relay_fail(d, &s, "AUTH refused", code >= 500 || code ==
			    -1 ? fix : "");
			goto done;
		}
		doctor_report(d, DOC_OK, "relay %s:%u: %s, AUTH %s as %s "
		    "accepted (%s), QUIT", c->relay.host, c->relay.port, done,
		    mech, c->relay.user, s.text);
	} else
		doctor_report(d, DOC_OK, "relay %s:%u: %s, no login ([relay] "
		    "user not set), QUIT", c->relay.host, c->relay.port, done);
	(void)cmd(&s, "QUIT");
done:
	smtp_close(&s);
}

/* split_hostport - "host:port" or "[v6]:port" */
static bool
split_hostport(const char *spec, char *host, size_t hostsz, uint16_t *port)
{
	const char *colon = strrchr(spec, ':');
	const char *h = spec;
	size_t hl;
	long p;
	char *end;

	if (colon == NULL)
		return false;
	hl = (size_t)(colon - spec);
	if (*h == '[' && hl >= 2 && colon[-1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostsz)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535 || errno != 0)
		return false;
	*port = (uint16_t)p;
	return true;
}

void
doctor_check_port25(struct doctor *d)
{
	const char *probe = d->c->doctor.probe;
	struct smtp s;
	char host[256];
	uint16_t port;

	if (probe == NULL || strcmp(probe, "no") == 0 ||
	    !split_hostport(probe, host, sizeof(host), &port))
		return;
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	if (tcp_connect(d, &s, host, port) == -1 && s.unresolved)
		doctor_report(d, DOC_WARN, "outbound port %u: cannot check it: "
		    "%s - check DNS, or set [doctor] probe to an MX you know",
		    port, s.err);
	else if (s.fd == -1 || reply(&s) == -1)
		doctor_report(d, DOC_FAIL, "outbound port %u: cannot reach %s "
		    "(%s within %u s) - your provider blocks outgoing port 25: "
		    "mail to other servers will not leave; send through its "
		    "smarthost: add a [relay] section (host, port 587, user, "
		    "password_file)", port, probe, s.err, d->timeout_ms / 1000);
	else {
		doctor_report(d, DOC_OK, "outbound port %u: %s answered %.80s",
		    port, probe, s.text);
		(void)cmd(&s, "QUIT");
	}
	smtp_close(&s);
}

/* our_smtp - where our port 25 is: [doctor] smtp, else the first listen */
static bool
our_smtp(const struct conf *c, char *host, size_t hostsz, uint16_t *port)
{
	const struct conf_addr *a;

	if (c->doctor.smtp_set)
		a = &c->doctor.smtp;
	else if (c->smtp.listen.n > 0)
		a = &c->smtp.listen.v[0];
	else
		return false;
	if (strcmp(a->host, "0.0.0.0") == 0 || strcmp(a->host, "*") == 0)
		snprintf(host, hostsz, "127.0.0.1");
	else if (strcmp(a->host, "::") == 0)
		snprintf(host, hostsz, "::1");
	else
		snprintf(host, hostsz, "%s", a->host);
	*port = a->port;
	return true;
}

void
doctor_check_postmaster(struct doctor *d)
{
	const struct conf *c = d->c;
	struct smtp s;
	char host[256];
	uint16_t port;
	size_t i;

	if (!our_smtp(c, host, sizeof(host), &port))
		return;
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	if (tcp_connect(d, &s, host, port) == -1 || reply(&s) == -1 ||
	    s.code != 220 || cmd(&s, "EHLO %s", c->hostname) != 250) {
		doctor_report(d, DOC_WARN, "postmaster@: cannot talk to our SMTP "
		    "at %s:%u (%s) - is facteur-smtpd running? ([doctor] smtp "
		    "says where it listens)", host, port, s.err[0] ? s.err :
		    s.text);
		smtp_close(&s);
		return;
	}
	for (i = 0; i < c->ndomains; i++) {
		const char *dom = c->domains[i];

		if (cmd(&s, "MAIL FROM:<>") != 250) {
			doctor_report(d, DOC_WARN, "postmaster@%s: MAIL FROM:<> "
			    "refused (%s)", dom, s.err[0] ? s.err : s.text);
			break;
		}
		if (cmd(&s, "RCPT TO:<postmaster@%s>", dom) / 100 == 2)
			doctor_report(d, DOC_OK, "postmaster@%s accepted", dom);
		else
			doctor_report(d, DOC_FAIL, "postmaster@%s refused (%s) - "
			    "RFC 5321 4.5.1 requires it, and DMARC reports go "
			    "there: facteur-keytool alias add postmaster@%s "
			    "YOU@%s (or set postmaster = in the configuration)",
			    dom, s.err[0] ? s.err : s.text, dom, dom);
		if (cmd(&s, "RSET") != 250)
			break;
	}
	(void)cmd(&s, "QUIT");
	smtp_close(&s);
}
