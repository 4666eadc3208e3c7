/* SPDX-License-Identifier: ISC */
/*
 * conn_test.c - unit tests for lib/conn.c on the real event loop, over
 * socketpairs: conn_flush_close finishes at once when the last bytes go
 * out right after the read callback (and from a timer, and after a large
 * output), CONN_EV_DRAINED comes after a reply written inside the read
 * callback, and conn_starttls sends the reply queued before it ("220 Ready
 * to start TLS") in clear before the handshake, even when it is larger than
 * the socket buffer, and drops the plaintext pipelined after STARTTLS.
 * Both TLS ends are struct conn (server and client modes), with a
 * self-signed certificate made in-process at start.
 *
 * Every wait is bounded by a guard timer: a conn that hangs fails a CHECK
 * instead of hanging the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conn.h"
#include "ev.h"
#include "log.h"
#include "tls.h"
#include "t.h"
#include "t_ev.h"

#define GUARD_MS	3000	/* no test step needs more than a few ms */

/* one end of a test connection and what its callback saw */
struct side {
	struct conn	 c;
	bool		 open;
	int		 reads, drained, tls, timeouts, closed;
	const char	*error;		/* c.error at CONN_EV_CLOSED */
	uint64_t	 closed_at;
	struct buf	 got;		/* every byte read, in order */
	/* what to do on CONN_EV_READ */
	const char	*reply;		/* written once per read, NULL for none */
	bool		 close_after;	/* conn_flush_close() after the reply */
	bool		 break_on_drained, break_on_closed;
};

static void
side_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct side *s = arg;

	switch (ev) {
	case CONN_EV_READ:
		s->reads++;
		CHECK(buf_append(&s->got, buf_head(&c->in), c->in.len) == 0);
		buf_drain(&c->in, c->in.len);
		if (s->reply)
			CHECK(conn_printf(c, "%s", s->reply) == 0);
		if (s->close_after)
			conn_flush_close(c);
		break;
	case CONN_EV_DRAINED:
		s->drained++;
		if (s->break_on_drained)
			ev_break();
		break;
	case CONN_EV_TLS:
		s->tls++;
		break;
	case CONN_EV_TIMEOUT:
		s->timeouts++;
		break;
	case CONN_EV_CLOSED:
		s->closed++;
		s->error = c->error;
		s->closed_at = ev_now();
		conn_close(c);
		s->open = false;
		if (s->break_on_closed)
			ev_break();
		break;
	}
}

static void
side_init(struct side *s, int fd, size_t out_max)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->got, 0);
	conn_init(&s->c, fd, 64 * 1024, out_max, side_cb, s);
	s->open = true;
}

static void
side_free(struct side *s)
{
	if (s->open)
		conn_close(&s->c);
	s->open = false;
	buf_free(&s->got);
}

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		perror("socketpair");
		exit(2);
	}
}

/* read_all - everything the peer sends on blocking fd until EOF */
static size_t
read_all(int fd, char *out, size_t max)
{
	size_t n = 0;
	ssize_t r;

	while (n < max && (r = read(fd, out + n, max - n)) > 0)
		n += (size_t)r;
	return n;
}

/*
 * The reply to QUIT and conn_flush_close() inside the read callback: the
 * reply goes out right after the callback, and the close must follow
 * at once ("closed"), not when the 30 s flush timer gives up ("timeout").
 */
static void
test_flush_close_after_read(void)
{
	struct side s;
	char out[64];
	uint64_t start;
	int sv[2];

	pair(sv);
	side_init(&s, sv[0], 4096);
	s.reply = "221 2.0.0 Bye\r\n";
	s.close_after = true;
	s.break_on_closed = true;
	CHECK(write(sv[1], "QUIT\r\n", 6) == 6);
	start = ev_now();
	CHECK(t_run(GUARD_MS));
	CHECK(s.closed == 1);
	CHECK(s.error != NULL && strcmp(s.error, "closed") == 0);
	CHECK(s.closed_at - start < 1000);
	CHECK(s.reads == 1 && s.timeouts == 0);
	side_free(&s);			/* closes it if the test failed */
	CHECK(read_all(sv[1], out, sizeof(out)) == 15);
	CHECK(memcmp(out, "221 2.0.0 Bye\r\n", 15) == 0);
	close(sv[1]);
}

/* conn_flush_close from outside any conn callback, nothing queued */
static void
close_timer_cb(struct ev_timer *t, void *arg)
{
	conn_flush_close(arg);
}

static void
test_flush_close_idle(void)
{
	struct side s;
	struct ev_timer t;
	char out[8];
	int sv[2];

	pair(sv);
	side_init(&s, sv[0], 4096);
	s.break_on_closed = true;
	conn_set_timeout(&s.c, 20000);
	ev_timer_init(&t, close_timer_cb, &s.c);
	ev_timer_add(&t, 1);
	CHECK(t_run(GUARD_MS));
	CHECK(s.closed == 1);
	CHECK(s.error != NULL && strcmp(s.error, "closed") == 0);
	side_free(&s);
	CHECK(read_all(sv[1], out, sizeof(out)) == 0);	/* EOF, no bytes */
	close(sv[1]);
}

/* a peer that reads what conn sends, counting it, until EOF */
struct sink {
	struct ev_io	 io;
	size_t		 n;
	bool		 eof;
	char		 last[16];
};

static void
sink_cb(struct ev_io *io, unsigned events, void *arg)
{
	struct sink *k = arg;
	char b[8192];
	ssize_t r;

	while ((r = read(io->fd, b, sizeof(b))) > 0) {
		k->n += (size_t)r;
		if ((size_t)r >= sizeof(k->last))
			memcpy(k->last, b + r - sizeof(k->last), sizeof(k->last));
	}
	if (r == 0) {
		k->eof = true;
		ev_io_stop(io);
	}
}

/*
 * A reply larger than the socket buffer, then conn_flush_close() inside
 * the read callback: the rest goes out from write events, all of it, then
 * the close.
 */
static void
test_flush_close_big(void)
{
	struct side s;
	struct sink k;
	char *big;
	size_t n = 1000 * 1000;
	int sv[2];

	pair(sv);
	big = malloc(n + 1);
	memset(big, 'b', n);
	memcpy(big + n - 16, "...the end here\n", 16);
	big[n] = '\0';
	side_init(&s, sv[0], 2 * n);
	s.close_after = true;
	s.reply = NULL;
	memset(&k, 0, sizeof(k));
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	ev_io_init(&k.io, sv[1], sink_cb, &k);
	ev_io_want(&k.io, EV_READ);
	CHECK(conn_write(&s.c, big, n) == 0);	/* queued before the QUIT */
	CHECK(write(sv[1], "QUIT\r\n", 6) == 6);
	s.break_on_closed = true;
	CHECK(t_run(GUARD_MS));
	CHECK(s.closed == 1);
	CHECK(s.error != NULL && strcmp(s.error, "closed") == 0);
	/* the conn closed its end: the sink reads the rest, then EOF */
	sink_cb(&k.io, EV_READ, &k);
	CHECK(k.n == n && k.eof);
	CHECK(memcmp(k.last, "...the end here\n", 16) == 0);
	ev_io_stop(&k.io);
	free(big);
	side_free(&s);
	close(sv[1]);
}

/*
 * A reply written inside the read callback and flushed right after it:
 * CONN_EV_DRAINED must still come (nothing else would wake the owner
 * that waits for it to send more).  A read without a reply: none.
 */
static void
test_drained_after_read(void)
{
	struct side s;
	char out[64];
	int sv[2];

	pair(sv);
	side_init(&s, sv[0], 4096);
	s.reply = "250 2.0.0 Ok\r\n";
	s.break_on_drained = true;
	CHECK(write(sv[1], "NOOP\r\n", 6) == 6);
	CHECK(t_run(GUARD_MS));
	CHECK(s.reads == 1 && s.drained == 1);
	CHECK(recv(sv[1], out, sizeof(out), MSG_DONTWAIT) == 14);
	CHECK(memcmp(out, "250 2.0.0 Ok\r\n", 14) == 0);

	s.reply = NULL;			/* no reply: no CONN_EV_DRAINED */
	CHECK(write(sv[1], "XXXX\r\n", 6) == 6);
	CHECK(!t_run(200));
	CHECK(s.reads == 2 && s.drained == 1);
	CHECK(s.got.len == 12 && memcmp(buf_head(&s.got), "NOOP\r\nXXXX\r\n", 12) == 0);

	/* two replies in a row, each drained once */
	s.reply = "250 2.0.0 Ok\r\n";
	CHECK(write(sv[1], "NOOP\r\n", 6) == 6);
	CHECK(t_run(GUARD_MS));
	CHECK(s.reads == 3 && s.drained == 2);
	CHECK(recv(sv[1], out, sizeof(out), MSG_DONTWAIT) == 14);
	side_free(&s);
	close(sv[1]);
}

/*
 * STARTTLS between two conns on one loop.  The client sends
 * "STARTTLS\r\nRSET\r\n" in one write: the server's read callback answers
 * the first line with `clear` bytes (the "220 2.0.0 Ready to start TLS"
 * reply, after `filler` bytes of "220-" lines) and calls conn_starttls()
 * at once, as the SMTP session does.  The reply must reach the client in
 * clear, the pipelined RSET must never reach the server owner, and after
 * the handshake the first line the server reads is the client's EHLO.
 */
struct tls_test {
	struct side	 srv, cli;
	SSL_CTX		*sctx, *cctx;
	struct buf	 clear;		/* what the server queues before TLS */
	size_t		 clear_seen;	/* bytes of it the client read in clear */
	bool		 clear_ok;	/* ... and they were equal */
	int		 srv_plain_reads, srv_tls_reads;
	struct buf	 srv_tls_got;	/* what the server read after TLS */
	bool		 cli_got_250;
	int		 starttls_rc_srv, starttls_rc_cli;
};

static void
tls_srv_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct tls_test *t = arg;

	switch (ev) {
	case CONN_EV_READ:
		if (c->ssl == NULL) {
			t->srv_plain_reads++;
			CHECK(c->in.len >= 10 &&
			    memcmp(buf_head(&c->in), "STARTTLS\r\n", 10) == 0);
			CHECK(conn_write(c, buf_head(&t->clear), t->clear.len) == 0);
			/* no drain: conn_starttls drops the rest of c->in */
			t->starttls_rc_srv = conn_starttls(c, t->sctx, NULL, false);
			CHECK(c->in.len == 0);
			return;
		}
		t->srv_tls_reads++;
		CHECK(buf_append(&t->srv_tls_got, buf_head(&c->in), c->in.len) == 0);
		buf_drain(&c->in, c->in.len);
		if (t->srv_tls_got.len >= 8) {
			CHECK(conn_printf(c, "250 hello\r\n") == 0);
			conn_flush_close(c);
		}
		return;
	default:
		side_cb(c, ev, &t->srv);
	}
}

static void
tls_cli_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct tls_test *t = arg;
	size_t n;

	switch (ev) {
	case CONN_EV_READ:
		if (c->ssl == NULL) {
			n = c->in.len;
			if (t->clear_seen + n > t->clear.len)
				n = t->clear.len - t->clear_seen;
			t->clear_ok = n == c->in.len && memcmp(buf_head(&c->in),
			    buf_head(&t->clear) + t->clear_seen, n) == 0 &&
			    (t->clear_seen == 0 || t->clear_ok);
			t->clear_seen += c->in.len;
			buf_drain(&c->in, c->in.len);
			if (t->clear_seen == t->clear.len)
				t->starttls_rc_cli = conn_starttls(c, t->cctx,
				    "localhost", true);
			return;
		}
		if (c->in.len >= 11 && memcmp(buf_head(&c->in), "250 hello\r\n", 11) == 0)
			t->cli_got_250 = true;
		buf_drain(&c->in, c->in.len);
		return;
	case CONN_EV_TLS:
		CHECK(conn_printf(c, "EHLO x\r\n") == 0);
		break;
	default:
		break;
	}
	side_cb(c, ev, &t->cli);
}

static void
test_starttls(SSL_CTX *sctx, SSL_CTX *cctx, size_t filler)
{
	struct tls_test t;
	int sv[2];

	memset(&t, 0, sizeof(t));
	t.sctx = sctx;
	t.cctx = cctx;
	t.starttls_rc_srv = t.starttls_rc_cli = 99;
	buf_init(&t.clear, 0);
	buf_init(&t.srv_tls_got, 0);
	while (t.clear.len < filler)
		(void)buf_puts(&t.clear, "220-filler filler filler filler\r\n");
	CHECK(buf_puts(&t.clear, "220 2.0.0 Ready to start TLS\r\n") == 0);
	CHECK(t.clear.len >= filler);
	pair(sv);
	side_init(&t.srv, sv[0], 4 * 1024 * 1024);
	side_init(&t.cli, sv[1], 4096);
	t.srv.c.cb = tls_srv_cb;
	t.srv.c.arg = &t;
	t.cli.c.cb = tls_cli_cb;
	t.cli.c.arg = &t;
	t.cli.break_on_closed = true;
	CHECK(conn_write(&t.cli.c, "STARTTLS\r\nRSET\r\n", 16) == 0);
	CHECK(t_run(GUARD_MS));
	if (t_guard_fired)
		fprintf(stderr, "starttls filler=%zu: hung: clear %zu/%zu, "
		    "srv tls=%d cli tls=%d\n", filler, t.clear_seen,
		    t.clear.len, t.srv.tls, t.cli.tls);
	CHECK(t.srv_plain_reads == 1);
	CHECK(t.starttls_rc_srv == 0 && t.starttls_rc_cli == 0);
	CHECK(t.clear_seen == t.clear.len && t.clear_ok);
	CHECK(t.srv.tls == 1 && t.cli.tls == 1);
	/* the pipelined RSET was dropped: the first TLS line is the EHLO */
	CHECK(t.srv_tls_got.len == 8 &&
	    memcmp(buf_head(&t.srv_tls_got), "EHLO x\r\n", 8) == 0);
	CHECK(t.cli_got_250);
	CHECK(t.srv.closed == 1 && t.srv.error &&
	    strcmp(t.srv.error, "closed") == 0);
	CHECK(t.cli.closed == 1);
	CHECK(t.srv.reads == 0 && t.srv.drained == 0);	/* all went above */
	side_free(&t.srv);
	side_free(&t.cli);
	buf_free(&t.clear);
	buf_free(&t.srv_tls_got);
}

/*
 * conn_starttls with nothing queued (implicit TLS, or the owner waited
 * for the drain), and a second conn_starttls that must fail.
 */
static void
test_tls_nothing_queued(SSL_CTX *sctx, SSL_CTX *cctx)
{
	struct side srv, cli;
	int sv[2];

	pair(sv);
	side_init(&srv, sv[0], 4096);
	side_init(&cli, sv[1], 4096);
	srv.reply = "pong\r\n";
	srv.close_after = true;
	cli.break_on_closed = true;
	CHECK(conn_starttls(&srv.c, sctx, NULL, false) == 0);
	CHECK(conn_starttls(&srv.c, sctx, NULL, false) == -1);
	CHECK(conn_starttls(&cli.c, cctx, "localhost", true) == 0);
	CHECK(conn_write(&cli.c, "ping\r\n", 6) == 0);	/* sent after TLS */
	CHECK(t_run(GUARD_MS));
	CHECK(srv.tls == 1 && cli.tls == 1);
	CHECK(cli.drained == 1);
	CHECK(srv.got.len == 6 && memcmp(buf_head(&srv.got), "ping\r\n", 6) == 0);
	CHECK(cli.got.len == 6 && memcmp(buf_head(&cli.got), "pong\r\n", 6) == 0);
	CHECK(srv.closed == 1 && srv.error && strcmp(srv.error, "closed") == 0);
	CHECK(cli.closed == 1);
	side_free(&srv);
	side_free(&cli);
}

/* make_cert - a self-signed P-256 certificate for "localhost" in PEM files */
static bool
make_cert(char *cert, char *key)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *fc = NULL, *fk = NULL;
	int fdc, fdk;
	bool ok = false;

	if (pk == NULL || x == NULL)
		goto done;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, pk, EVP_sha256()) == 0)
		goto done;
	if ((fdc = mkstemp(cert)) == -1 || (fc = fdopen(fdc, "w")) == NULL)
		goto done;
	if ((fdk = mkstemp(key)) == -1 || (fk = fdopen(fdk, "w")) == NULL)
		goto done;
	ok = PEM_write_X509(fc, x) == 1 &&
	    PEM_write_PrivateKey(fk, pk, NULL, NULL, 0, NULL, NULL) == 1;
done:
	if (fc && fclose(fc) != 0)
		ok = false;
	if (fk && fclose(fk) != 0)
		ok = false;
	X509_free(x);
	EVP_PKEY_free(pk);
	return ok;
}

int
main(void)
{
	char cert[] = "/tmp/conn_test.crt.XXXXXX", key[] = "/tmp/conn_test.key.XXXXXX";
	SSL_CTX *sctx, *cctx;
	bool have_cert;

	signal(SIGPIPE, SIG_IGN);
	log_init("conn_test", true, false);
	ev_init();

	test_flush_close_after_read();
	test_flush_close_idle();
	test_flush_close_big();
	test_drained_after_read();

	have_cert = make_cert(cert, key);
	CHECK(have_cert);
	sctx = have_cert ? tls_server_ctx(cert, key) : NULL;
	cctx = tls_client_ctx(false, NULL);
	(void)unlink(cert);
	(void)unlink(key);
	CHECK(sctx != NULL && cctx != NULL);
	if (sctx && cctx) {
		test_starttls(sctx, cctx, 0);
		test_starttls(sctx, cctx, 600 * 1024);	/* > the socket buffer */
		test_tls_nothing_queued(sctx, cctx);
	}
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return T_DONE();
}
