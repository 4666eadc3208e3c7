/* SPDX-License-Identifier: ISC */
/*
 * queue_file_test.c - unit tests for smtpd/queue_file.c, the on-disk
 * queue format: queue ids, trailer write -> parse round trips (null
 * sender, auth, IPv6, many recipients, empty and large messages, through
 * a real file with queue_file_read_env), values the writer refuses, and
 * every kind of broken file the reader must refuse: cut at every byte,
 * each footer byte changed, sizes that do not add up, and envelopes with
 * missing, repeated, unknown, empty or malformed records (STYLE 10, 12);
 * the footer's CRC (queue_file_verify): a recycled file written over, with
 * the earlier message's bytes as slack, reads back; a byte of the message
 * or envelope that is not what was written is caught, and slack only goes
 * with the CRC footer, never with the first format's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "crc32.h"
#include "smtpd/smtpd.h"
#include "t.h"
#include "queue_env_eq.h"

#define FOOTER_LEN	57

static const char MSG[] = "Received: from client (localhost [127.0.0.1])\n"
    "\tby localhost with ESMTP id 65a1b2c3d4e5f607; now\nSubject: hi\n\nbody\n";

static struct queue_rcpt rcpt2[] = {
	{ "a@example.org", "A+x@example.org", false },
	{ "c@example.net", "c@example.net", false },
};

static void
env_set(struct queue_env *e, const char *from, const char *auth)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->qid, "65a1b2c3d4e5f607", QUEUE_ID_LEN + 1);
	e->time = 1700000000;
	e->from = (char *)from;
	e->auth = (char *)auth;
	e->client = "127.0.0.1";
	e->helo = "client.test";
	e->rcpt = rcpt2;
	e->nrcpt = 2;
}


/* file_of - msg then the trailer of e (msglen set here) into f */
static int
file_of(struct buf *f, const char *msg, size_t msglen, struct queue_env *e)
{
	buf_init(f, 0);
	e->msglen = msglen;
	e->msgcrc = crc32_update(0, msg, msglen);
	if (buf_append(f, msg, msglen) == -1)
		return -1;
	return queue_file_trailer(f, e);
}

/* parse - the whole file f as the reader sees it */
static int
parse(const char *p, size_t len, struct queue_env *out, const char **err)
{
	*err = "unset";
	return queue_file_parse_env(p, len, len, out, err);
}

/* refused - the reader says no, with a reason, and leaves e empty */
static bool
refused(const char *p, size_t len, uint64_t fsize)
{
	struct queue_env e;
	const char *err = NULL;
	int r;

	memset(&e, 0x5a, sizeof(e));
	r = queue_file_parse_env(p, len, fsize, &e, &err);
	if (r == 0)
		queue_env_free(&e);
	return r == -1 && err != NULL && e.from == NULL && e.rcpt == NULL &&
	    e.nrcpt == 0;
}

static void
test_ids(void)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];

	queue_id_new(a);
	queue_id_new(b);
	CHECK(strlen(a) == QUEUE_ID_LEN && queue_id_valid(a));
	CHECK(queue_id_valid(b) && strcmp(a, b) != 0);
	CHECK(queue_id_valid("0123456789abcdef"));
	CHECK(!queue_id_valid(""));
	CHECK(!queue_id_valid("0123456789abcde"));
	CHECK(!queue_id_valid("0123456789abcdef0"));
	CHECK(!queue_id_valid("0123456789ABCDEF"));
	CHECK(!queue_id_valid("0123456789abcdeg"));
	CHECK(!queue_id_valid("../../etc/passwd"));
	CHECK(!queue_id_valid("0123456789abcde/"));
}

/* round_trip - write e after msg, parse it back, also through a real file */
static void
round_trip(const char *name, const char *msg, size_t msglen, struct queue_env *e)
{
	struct queue_env got;
	struct buf f;
	const char *err;
	int fd;

	if (file_of(&f, msg, msglen, e) == -1) {
		fprintf(stderr, "%s: trailer refused\n", name);
		CHECK(0);
		buf_free(&f);
		return;
	}
	/* the footer: magic, msglen, envelope length */
	CHECK(f.len > msglen + FOOTER_LEN);
	CHECK(memcmp(buf_head(&f) + f.len - FOOTER_LEN, "FACTEUR-QUEUE-2 ", 16) == 0);
	CHECK(buf_head(&f)[f.len - 1] == '\n');
	CHECK(parse(buf_head(&f), f.len, &got, &err) == 0 && err == NULL);
	if (err == NULL) {
		if (!queue_env_eq(e, &got))
			fprintf(stderr, "%s: parsed envelope differs\n", name);
		CHECK(queue_env_eq(e, &got));
		queue_env_free(&got);
		CHECK(got.from == NULL && got.nrcpt == 0);	/* free clears */
	}
	/* the reader needs only the tail: envelope and footer */
	CHECK(queue_file_parse_env(buf_head(&f) + msglen, f.len - msglen,
	    f.len, &got, &err) == 0);
	if (err == NULL) {
		CHECK(queue_env_eq(e, &got));
		queue_env_free(&got);
	}
	/* and from a file */
	fd = memfd_create("queue_file_test", 0);
	CHECK(fd != -1);
	CHECK(write(fd, buf_head(&f), f.len) == (ssize_t)f.len);
	CHECK(queue_file_read_env(fd, &got, &err) == 0 && err == NULL);
	if (err == NULL) {
		CHECK(queue_env_eq(e, &got));
		err = NULL;
		CHECK(got.sum && queue_file_verify(fd, f.len, &got, &err) &&
		    err == NULL);
		queue_env_free(&got);
	}
	/* the same file, one byte short or long, is refused */
	CHECK(ftruncate(fd, (off_t)f.len - 1) == 0);
	CHECK(queue_file_read_env(fd, &got, &err) == -1 && err != NULL);
	CHECK(ftruncate(fd, (off_t)f.len + 1) == 0);
	CHECK(queue_file_read_env(fd, &got, &err) == -1 && err != NULL);
	close(fd);
	buf_free(&f);
}

static void
test_round_trips(void)
{
	struct queue_env e;
	struct queue_rcpt many[100];
	char addrs[100][64];
	char *big;
	size_t i, n = 1 << 20;

	env_set(&e, "alice@example.org", NULL);
	round_trip("plain", MSG, sizeof(MSG) - 1, &e);
	env_set(&e, "", "alice@example.org");
	round_trip("null sender, auth", MSG, sizeof(MSG) - 1, &e);
	env_set(&e, "root@example.org", NULL);
	e.ret = "alice@example.org";
	round_trip("ret", MSG, sizeof(MSG) - 1, &e);
	env_set(&e, "\"q\"@b\xc3\xbc" "cher.example", NULL);
	e.client = "::1";
	e.helo = "[IPv6:::1]";
	e.time = 0;
	round_trip("ipv6, 8-bit, quoted, time 0", MSG, sizeof(MSG) - 1, &e);
	env_set(&e, "a@b", NULL);
	e.time = INT64_MAX;
	e.nrcpt = 1;
	round_trip("empty message", "", 0, &e);
	/* the message may hold anything, even text that looks like a trailer */
	env_set(&e, "a@b", NULL);
	round_trip("trailer-like message", "end\nFACTEUR-QUEUE-1 00000000000000000000 0000000134\n",
	    52, &e);
	round_trip("NUL message", "\0\0\0", 3, &e);

	/* prepended header lines, every base64 padding */
	env_set(&e, "a@b", "a@b");
	e.prepend = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org;\n"
	    "\ts=ed2026; h=from:to:subject; bh=abc=;\n\tb=xyz==\n";
	round_trip("prepend", MSG, sizeof(MSG) - 1, &e);
	e.prepend = "A";
	round_trip("prepend 1", MSG, sizeof(MSG) - 1, &e);
	e.prepend = "AB";
	round_trip("prepend 2", MSG, sizeof(MSG) - 1, &e);
	e.prepend = "ABC";
	round_trip("prepend 3", MSG, sizeof(MSG) - 1, &e);
	e.prepend = "X-8bit: caf\xc3\xa9 \xff\n";
	round_trip("prepend 8-bit", MSG, sizeof(MSG) - 1, &e);
	e.prepend = "";			/* the same as none */
	round_trip("prepend empty", MSG, sizeof(MSG) - 1, &e);
	e.junk = true;			/* into the Junk folder */
	e.prepend = "Authentication-Results: mx.example.org; dmarc=fail\n";
	round_trip("junk", MSG, sizeof(MSG) - 1, &e);
	e.junk = false;
	e.verified = true;		/* a bounce may go back to the sender */
	round_trip("verified", MSG, sizeof(MSG) - 1, &e);
	e.verified = false;
	big = malloc(QUEUE_PREPEND_MAX + 1);	/* the longest prepend */
	memset(big, 'h', QUEUE_PREPEND_MAX);
	big[QUEUE_PREPEND_MAX] = '\0';
	e.prepend = big;
	round_trip("prepend max", MSG, sizeof(MSG) - 1, &e);
	free(big);
	e.prepend = NULL;
	memcpy(e.once, "0123456789abcdef0123456789abcdef", ONCE_KEY_LEN + 1);
	round_trip("once", MSG, sizeof(MSG) - 1, &e);
	e.once[0] = '\0';

	for (i = 0; i < 100; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "user%zu@example.org", i);
		many[i].addr = addrs[i];
		many[i].orig = i % 2 ? addrs[i] : "postmaster";
		many[i].done = false;
	}
	env_set(&e, "sender@example.net", NULL);
	e.rcpt = many;
	e.nrcpt = 100;
	round_trip("100 recipients", MSG, sizeof(MSG) - 1, &e);

	big = malloc(n);
	memset(big, 'm', n);
	env_set(&e, "a@b", NULL);
	round_trip("1 MiB message", big, n, &e);
	free(big);

	/* the trailer appends to what the buffer holds, after a drain too */
	{
		struct buf b;
		struct queue_env got;
		const char *err;

		buf_init(&b, 0);
		CHECK(buf_puts(&b, "junkjunk") == 0);
		buf_drain(&b, 4);
		env_set(&e, "a@b", NULL);
		e.msglen = 4;
		CHECK(queue_file_trailer(&b, &e) == 0);
		CHECK(parse(buf_head(&b), b.len, &got, &err) == 0);
		if (err == NULL) {
			CHECK(queue_env_eq(&e, &got));
			queue_env_free(&got);
		}
		buf_free(&b);
	}
}

/* values the writer refuses: the reader could not split them back */
static void
test_writer_refuses(void)
{
	static struct queue_rcpt bad_addr[] = { { "a b@c", "a@c", false } };
	static struct queue_rcpt bad_orig[] = { { "a@c", "", false } };
	static struct queue_rcpt bad_ctl[] = { { "a@c", "a\r@c", false } };
	struct queue_env e;
	struct buf b;

	buf_init(&b, 0);
	env_set(&e, "a b@c", NULL);
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a\n@c", NULL);
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a\x7f@c", NULL);
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@c", "");
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@c", "al ice");
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@c", NULL);
	e.client = "";
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@c", NULL);
	e.helo = "two words";
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@c", NULL);
	e.helo = "tab\there";
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@c", NULL);
	e.nrcpt = 0;
	CHECK(queue_file_trailer(&b, &e) == -1);
	CHECK(b.len == 0);		/* refused before writing anything */
	env_set(&e, "a@c", NULL);
	e.rcpt = bad_addr;
	e.nrcpt = 1;
	CHECK(queue_file_trailer(&b, &e) == -1);
	e.rcpt = bad_orig;
	CHECK(queue_file_trailer(&b, &e) == -1);
	e.rcpt = bad_ctl;
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@c", NULL);
	e.ret = "";
	CHECK(queue_file_trailer(&b, &e) == -1);
	e.ret = "b\r@c";
	CHECK(queue_file_trailer(&b, &e) == -1);
	/* a prepend the deliver and relay roles could not be handed */
	env_set(&e, "a@c", NULL);
	e.prepend = malloc(QUEUE_PREPEND_MAX + 2);
	memset(e.prepend, 'h', QUEUE_PREPEND_MAX + 1);
	e.prepend[QUEUE_PREPEND_MAX + 1] = '\0';
	CHECK(queue_file_trailer(&b, &e) == -1);
	free(e.prepend);
	buf_free(&b);
}

/*
 * The writer must not return 0 for a trailer the reader would refuse or
 * read differently: a 250 would be given for a message that is then lost
 * (or loses a recipient) when the queue reads it.
 */
static void
test_writer_known_bugs(void)
{
	static struct queue_rcpt two[2];
	struct queue_rcpt *many;
	struct queue_env e, got;
	struct buf b;
	const char *err;
	char *longaddr, (*addrs)[300];
	size_t i, n = 1000, start;

	/* an invalid id or a negative time: unreadable */
	buf_init(&b, 0);
	env_set(&e, "a@b", NULL);
	memcpy(e.qid, "not-a-queue-id!!", QUEUE_ID_LEN + 1);
	CHECK(queue_file_trailer(&b, &e) == -1);
	env_set(&e, "a@b", NULL);
	e.time = -1;
	CHECK(queue_file_trailer(&b, &e) == -1);
	buf_free(&b);

	/* a failed append must fail the trailer, not drop a line */
	longaddr = malloc(301);
	memset(longaddr, 'x', 300);
	longaddr[0] = 'a';
	longaddr[1] = '@';
	longaddr[300] = '\0';
	two[0].addr = two[0].orig = "a@b";
	two[1].addr = two[1].orig = longaddr;
	env_set(&e, "a@b", NULL);
	e.rcpt = two;
	e.nrcpt = 2;
	buf_init(&b, 0);
	(void)queue_file_trailer(&b, &e);
	start = b.len;			/* the whole trailer's size */
	buf_free(&b);
	buf_init(&b, start - 200);	/* room for all but the long rcpt line */
	if (queue_file_trailer(&b, &e) == 0) {
		CHECK(parse(buf_head(&b), b.len, &got, &err) == 0);
		CHECK(err == NULL && got.nrcpt == 2);
		if (err == NULL)
			queue_env_free(&got);
	} else
		CHECK(b.len == 0);	/* and nothing half-written is left */
	buf_free(&b);
	free(longaddr);

	/* an envelope longer than the reader's 256 KiB limit */
	addrs = malloc(n * sizeof(*addrs));
	many = calloc(n, sizeof(*many));
	for (i = 0; i < n; i++) {
		memset(addrs[i], 'r', 250);
		snprintf(addrs[i] + 250, 50, "%zu@example.org", i);
		many[i].addr = many[i].orig = addrs[i];
	}
	env_set(&e, "a@b", NULL);
	e.rcpt = many;
	e.nrcpt = n;
	buf_init(&b, 0);
	if (queue_file_trailer(&b, &e) == 0) {
		CHECK(parse(buf_head(&b), b.len, &got, &err) == 0);
		if (err == NULL)
			queue_env_free(&got);
	}
	buf_free(&b);
	free(addrs);
	free(many);
}

/* cut the file at every length: nothing shorter than it is a queue file */
static void
test_truncated(void)
{
	struct queue_env e;
	struct buf f;
	size_t k;
	int bad = 0;

	env_set(&e, "alice@example.org", "alice@example.org");
	CHECK(file_of(&f, MSG, sizeof(MSG) - 1, &e) == 0);
	for (k = 0; k < f.len; k++) {
		if (!refused(buf_head(&f), k, k))
			bad++;
		/* the tail of a file whose size says more than is there */
		if (!refused(buf_head(&f), k, f.len))
			bad++;
	}
	CHECK(bad == 0);
	CHECK(!refused(buf_head(&f), f.len, f.len));
	/* the reader's file size must match; a byte more before the tail is
	 * slack (the CRC footer), left out of message and envelope */
	CHECK(!refused(buf_head(&f), f.len, f.len + 1));
	CHECK(refused(buf_head(&f), f.len, f.len - 1));
	CHECK(refused(buf_head(&f), f.len, 0));
	buf_free(&f);
}

/*
 * crc_refused - p parses, as a file, but queue_file_verify says its bytes
 * are not those the footer was written for
 */
static bool
crc_refused(const char *p, size_t len)
{
	struct queue_env e;
	const char *err = NULL;
	bool bad = false;
	int fd = memfd_create("queue_file_test", 0);

	if (fd == -1 || write(fd, p, len) != (ssize_t)len) {
		if (fd != -1)
			close(fd);
		return false;
	}
	if (queue_file_read_env(fd, &e, &err) == 0) {
		bad = !queue_file_verify(fd, len, &e, &err) && err != NULL;
		queue_env_free(&e);
	}
	close(fd);
	return bad;
}

/*
 * A recycled file written over (queue.c msg_recycle): the earlier
 * message's bytes between message and envelope are slack, not read; any
 * byte of the new message or envelope that is not what was written (the
 * disk kept an earlier block) fails the CRC.  Slack goes only with the
 * CRC footer: in the first format the sizes still add up to the file.
 */
static void
test_slack(void)
{
	static const char old[] = "Subject: the earlier message\n\nsecret "
	    "earlier words, a long line of them, longer than the new one\n";
	struct queue_env e, got;
	struct buf f, t;
	const char *err;
	size_t at, i;
	int fd;

	env_set(&e, "alice@example.org", NULL);
	e.msglen = sizeof(MSG) - 1;
	e.msgcrc = crc32_update(0, MSG, e.msglen);
	buf_init(&t, 0);
	CHECK(queue_file_trailer(&t, &e) == 0);
	/* the file: the new message over the old one, trailer at the end */
	buf_init(&f, 0);
	CHECK(buf_append(&f, MSG, e.msglen) == 0);
	for (i = 0; i < 3; i++)
		CHECK(buf_append(&f, old, sizeof(old) - 1) == 0);
	at = f.len;
	CHECK(buf_append(&f, buf_head(&t), t.len) == 0);
	CHECK(!refused(buf_head(&f), f.len, f.len));
	CHECK(parse(buf_head(&f), f.len, &got, &err) == 0);
	if (err == NULL) {
		CHECK(got.msglen == e.msglen && got.sum);
		queue_env_free(&got);
	}
	fd = memfd_create("queue_file_test", 0);
	CHECK(fd != -1 && write(fd, buf_head(&f), f.len) == (ssize_t)f.len);
	CHECK(queue_file_read_env(fd, &got, &err) == 0);
	if (err == NULL) {
		CHECK(queue_file_verify(fd, f.len, &got, &err));
		queue_env_free(&got);
	}
	close(fd);
	/* the slack may be anything */
	memset(buf_head(&f) + e.msglen, 'z', at - e.msglen);
	CHECK(!crc_refused(buf_head(&f), f.len));
	/* an earlier byte in the message, or in the envelope: caught */
	buf_head(&f)[10] ^= 0x20;
	CHECK(crc_refused(buf_head(&f), f.len));
	buf_head(&f)[10] ^= 0x20;
	buf_head(&f)[at + 5] = buf_head(&f)[at + 5] == '0' ? '1' : '0';
	CHECK(crc_refused(buf_head(&f), f.len) ||
	    refused(buf_head(&f), f.len, f.len));
	buf_free(&f);
	/* the first format: no slack */
	buf_init(&f, 0);
	(void)buf_puts(&f, "Subject: x\n\nbody\n");
	(void)buf_puts(&f, "slack");
	(void)buf_puts(&f, "id 65a1b2c3d4e5f607\ntime 1700000000\nfrom a@b\n"
	    "client 127.0.0.1\nhelo h\nrcpt c@d c@d\nend\n");
	(void)buf_printf(&f, "FACTEUR-QUEUE-1 %020d %010d\n", 17, 86);
	CHECK(refused(buf_head(&f), f.len, f.len));
	buf_free(&f);
	buf_free(&t);
}

/* change each footer byte to anything else: refused (the CRC: it fails) */
static void
test_footer_bytes(void)
{
	/* not '+': "+0..0114" is the same number (strnum takes a sign) */
	static const char repl[] = "x0123456789 \n\0-F";
	struct queue_env e;
	struct buf f;
	size_t i, j;
	int bad = 0;

	env_set(&e, "alice@example.org", NULL);
	CHECK(file_of(&f, MSG, sizeof(MSG) - 1, &e) == 0);
	for (i = f.len - FOOTER_LEN; i < f.len; i++) {
		char orig = buf_head(&f)[i];

		for (j = 0; j < sizeof(repl) - 1; j++) {
			if (repl[j] == orig)
				continue;
			buf_head(&f)[i] = repl[j];
			if (!refused(buf_head(&f), f.len, f.len) &&
			    !crc_refused(buf_head(&f), f.len)) {
				fprintf(stderr, "footer byte %zu '%c' -> 0x%02x accepted\n",
				    i - (f.len - FOOTER_LEN), orig,
				    (unsigned char)repl[j]);
				bad++;
			}
		}
		buf_head(&f)[i] = orig;
	}
	CHECK(bad == 0);
	CHECK(!refused(buf_head(&f), f.len, f.len));
	buf_free(&f);
}

#define MSGLEN	17	/* "Subject: x\n\nbody\n" */

/*
 * make - a file: a message of MSGLEN bytes, env (envlen bytes) and a
 * footer that adds up, give or take dmsg and denv
 */
static void
make(struct buf *f, const char *env, size_t envlen, long dmsg, long denv)
{
	buf_init(f, 0);
	(void)buf_puts(f, "Subject: x\n\nbody\n");
	(void)buf_append(f, env, envlen);
	(void)buf_printf(f, "FACTEUR-QUEUE-1 %020ld %010ld\n", MSGLEN + dmsg,
	    (long)envlen + denv);
}

/* make_footer - the same with a footer given as text */
static void
make_footer(struct buf *f, const char *env, const char *footer)
{
	buf_init(f, 0);
	(void)buf_puts(f, "Subject: x\n\nbody\n");
	(void)buf_puts(f, env);
	(void)buf_puts(f, footer);
}

#define HEAD	"id 65a1b2c3d4e5f607\ntime 1700000000\n"
#define FROM	"from a@b\n"
#define REST	"client 127.0.0.1\nhelo h\nrcpt c@d c@d\n"
#define GOOD	HEAD FROM REST "end\n"

#define E(name, env, ok)	{ name, env, sizeof(env) - 1, ok }

static const struct env_case {
	const char	*name;
	const char	*env;
	size_t		 len;
	bool		 ok;
} env_cases[] = {
	E("good", GOOD, true),
	E("only end", "end\n", false),
	E("reordered", "rcpt c@d c@d\nhelo h\nclient 127.0.0.1\n" FROM HEAD "end\n", true),
	E("null sender", HEAD "from \n" REST "end\n", true),
	E("auth", HEAD FROM "auth u@d\n" REST "end\n", true),
	E("ret", HEAD FROM "ret u@d\n" REST "end\n", true),
	E("two ret", HEAD FROM "ret u@d\nret v@d\n" REST "end\n", false),
	E("empty ret", HEAD FROM "ret \n" REST "end\n", false),
	E("two rcpts", HEAD FROM REST "rcpt e@f E@f\nend\n", true),
	E("no end", HEAD FROM REST, false),
	E("end twice", GOOD "end\n", false),
	E("line after end", GOOD "rcpt x@y x@y\n", false),
	E("end with value", HEAD FROM REST "end now\n", false),
	E("End", HEAD FROM REST "End\n", false),
	E("no final newline", HEAD FROM REST "end", false),
	E("CRLF", "id 65a1b2c3d4e5f607\r\ntime 1700000000\r\nfrom a@b\r\n"
	    "client 127.0.0.1\r\nhelo h\r\nrcpt c@d c@d\r\nend\r\n", false),
	E("empty line", HEAD FROM "\n" REST "end\n", false),
	E("unknown key", HEAD FROM "x-foo bar\n" REST "end\n", false),
	E("no id", "time 1700000000\n" FROM REST "end\n", false),
	E("short id", "id 65a1b2c3d4e5f60\ntime 1\n" FROM REST "end\n", false),
	E("long id", "id 65a1b2c3d4e5f6071\ntime 1\n" FROM REST "end\n", false),
	E("upper id", "id 65A1B2C3D4E5F607\ntime 1\n" FROM REST "end\n", false),
	E("path id", "id ../../../etc/pas\ntime 1\n" FROM REST "end\n", false),
	E("empty id", "id \ntime 1\n" FROM REST "end\n", false),
	E("bad time", "id 65a1b2c3d4e5f607\ntime soon\n" FROM REST "end\n", false),
	E("negative time", "id 65a1b2c3d4e5f607\ntime -5\n" FROM REST "end\n", false),
	E("empty time", "id 65a1b2c3d4e5f607\ntime \n" FROM REST "end\n", false),
	E("huge time", "id 65a1b2c3d4e5f607\ntime 99999999999999999999\n" FROM REST
	    "end\n", false),
	E("no from", HEAD REST "end\n", false),
	E("two from", HEAD FROM FROM REST "end\n", false),
	E("two auth", HEAD FROM "auth u\nauth v\n" REST "end\n", false),
	E("no client", HEAD FROM "helo h\nrcpt c@d c@d\nend\n", false),
	E("two client", HEAD FROM "client 1\n" REST "end\n", false),
	E("no helo", HEAD FROM "client 1\nrcpt c@d c@d\nend\n", false),
	E("two helo", HEAD FROM "helo g\n" REST "end\n", false),
	E("no rcpt", HEAD FROM "client 1\nhelo h\nend\n", false),
	E("rcpt one token", HEAD FROM REST "rcpt e@f\nend\n", false),
	E("rcpt empty addr", HEAD FROM REST "rcpt  e@f\nend\n", false),
	E("rcpt empty orig", HEAD FROM REST "rcpt e@f \nend\n", false),
	E("rcpt three", HEAD FROM REST "rcpt e@f e@f x\nend\n", false),
	E("rcpt no value", HEAD FROM REST "rcpt\nend\n", false),
	E("NUL in value", HEAD "from a\0b\n" REST "end\n", false),
	E("NUL in key", HEAD FROM "cli\0nt 1\nhelo h\nrcpt c@d c@d\nend\n", false),
	E("prepend", HEAD FROM "prepend WC1BOiBiCg==\n" REST "end\n", true),
	E("prepend 1", HEAD FROM "prepend QQ==\n" REST "end\n", true),
	E("prepend 2", HEAD FROM "prepend QUI=\n" REST "end\n", true),
	E("prepend 3", HEAD FROM "prepend QUJD\n" REST "end\n", true),
	E("prepend twice", HEAD FROM "prepend QQ==\nprepend QQ==\n" REST "end\n", false),
	E("prepend empty", HEAD FROM "prepend \n" REST "end\n", false),
	E("prepend no value", HEAD FROM "prepend\n" REST "end\n", false),
	E("prepend not base64", HEAD FROM "prepend !!!!\n" REST "end\n", false),
	E("prepend cut", HEAD FROM "prepend WC1BOiBiCg=\n" REST "end\n", false),
	E("prepend NUL", HEAD FROM "prepend YQBiCg==\n" REST "end\n", false),
	E("prepend space", HEAD FROM "prepend QUJD QUJD\n" REST "end\n", false),
	E("junk", HEAD FROM "junk\n" REST "end\n", true),
	E("junk twice", HEAD FROM "junk\njunk\n" REST "end\n", false),
	E("verified", HEAD FROM "verified\n" REST "end\n", true),
	E("verified twice", HEAD FROM "verified\nverified\n" REST "end\n", false),
	E("verified value", HEAD FROM "verified yes\n" REST "end\n", false),
	E("junk value", HEAD FROM "junk yes\n" REST "end\n", false),
	E("junk empty value", HEAD FROM "junk \n" REST "end\n", false),
	E("once", HEAD FROM "once 0123456789abcdef0123456789abcdef\n" REST "end\n", true),
	E("once twice", HEAD FROM "once 0123456789abcdef0123456789abcdef\n"
	    "once 0123456789abcdef0123456789abcdef\n" REST "end\n", false),
	E("once short", HEAD FROM "once 0123456789abcdef\n" REST "end\n", false),
	E("once upper", HEAD FROM "once 0123456789ABCDEF0123456789abcdef\n" REST "end\n", false),
	E("once no value", HEAD FROM "once\n" REST "end\n", false),
	/* values the writer would refuse (STYLE 9: CR/LF-free before they
	 * go into SMTP commands of the relay); and records that repeat */
	E("CR in from", HEAD "from a@b\r\n" REST "end\n", false),
	E("space in from", HEAD "from a b@c\n" REST "end\n", false),
	E("tab in helo", HEAD FROM "client 1\nhelo h\tx\nrcpt c@d c@d\nend\n", false),
	E("empty client", HEAD FROM "client \nhelo h\nrcpt c@d c@d\nend\n", false),
	E("empty auth", HEAD FROM "auth \n" REST "end\n", false),
	E("space in ret", HEAD FROM "ret u v@d\n" REST "end\n", false),
	E("DEL in rcpt", HEAD FROM REST "rcpt e\x7f@f e@f\nend\n", false),
	E("two id", HEAD "id 65a1b2c3d4e5f608\n" FROM REST "end\n", false),
	E("two time", HEAD "time 5\n" FROM REST "end\n", false),
	E("no time", "id 65a1b2c3d4e5f607\n" FROM REST "end\n", false),
};

static void
test_envelopes(void)
{
	struct queue_env e;
	struct buf f;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		const struct env_case *t = &env_cases[i];
		int r;

		make(&f, t->env, t->len, 0, 0);
		r = parse(buf_head(&f), f.len, &e, &err);
		if ((r == 0) != t->ok)
			fprintf(stderr, "env_cases[%zu] %s: %s\n", i, t->name,
			    r == 0 ? "accepted" : err);
		CHECK((r == 0) == t->ok);
		if (r == 0) {
			CHECK(err == NULL && e.msglen == 17 && e.nrcpt >= 1);
			if (strcmp(t->name, "prepend") == 0)
				CHECK(e.prepend && strcmp(e.prepend, "X-A: b\n") == 0);
			if (strcmp(t->name, "prepend 2") == 0)
				CHECK(e.prepend && strcmp(e.prepend, "AB") == 0);
			queue_env_free(&e);
		} else
			CHECK(err != NULL && e.from == NULL && e.nrcpt == 0);
		buf_free(&f);
	}
}

/* footers that do not describe the file */
static void
test_footers(void)
{
	static const long deltas[][2] = {
		{ 1, -1 }, { -1, 1 },		/* a line is cut */
		{ 0, 1 }, { 0, -1 }, { 1, 0 }, { -1, 0 },
		{ (long)sizeof(GOOD) - 1, 1 - (long)sizeof(GOOD) },	/* no envelope */
		{ -MSGLEN, MSGLEN },		/* the envelope starts in the message */
	};
	char foot[64];
	struct buf f;
	size_t i, g = sizeof(GOOD) - 1;

	make(&f, GOOD, g, 0, 0);
	CHECK(!refused(buf_head(&f), f.len, f.len));
	/* only the tail is needed, but all of the envelope */
	CHECK(!refused(buf_head(&f) + MSGLEN, f.len - MSGLEN, f.len));
	CHECK(refused(buf_head(&f) + MSGLEN + 1, f.len - MSGLEN - 1, f.len));
	buf_free(&f);
	for (i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		make(&f, GOOD, g, deltas[i][0], deltas[i][1]);
		if (!refused(buf_head(&f), f.len, f.len))
			fprintf(stderr, "footer deltas[%zu] accepted\n", i);
		CHECK(refused(buf_head(&f), f.len, f.len));
		buf_free(&f);
	}
	/* by hand: the good one, then one change each */
	snprintf(foot, sizeof(foot), "FACTEUR-QUEUE-1 %020d %010zu\n", MSGLEN, g);
	make_footer(&f, GOOD, foot);
	CHECK(!refused(buf_head(&f), f.len, f.len));
	buf_free(&f);
	snprintf(foot, sizeof(foot), "FACTEUR-QUEUE-1 18446744073709551615 %010zu\n", g);
	make_footer(&f, GOOD, foot);
	CHECK(refused(buf_head(&f), f.len, f.len));	/* msglen wraps */
	buf_free(&f);
	snprintf(foot, sizeof(foot), "FACTEUR-QUEUE-1 %020d 9999999999\n", MSGLEN);
	make_footer(&f, GOOD, foot);
	CHECK(refused(buf_head(&f), f.len, f.len));	/* past ENV_MAX */
	buf_free(&f);
	snprintf(foot, sizeof(foot), "FACTEUR-QUEUE-2 %020d %010zu\n", MSGLEN, g);
	make_footer(&f, GOOD, foot);
	CHECK(refused(buf_head(&f), f.len, f.len));	/* another version */
	buf_free(&f);
	snprintf(foot, sizeof(foot), "FACTEUR-QUEUE-1 %020d %010zu\r\n", MSGLEN, g);
	make_footer(&f, GOOD, foot);
	CHECK(refused(buf_head(&f), f.len, f.len));
	buf_free(&f);
	snprintf(foot, sizeof(foot), "FACTEUR-QUEUE-1 %019d %010zu\n", MSGLEN, g);
	make_footer(&f, GOOD, foot);
	CHECK(refused(buf_head(&f), f.len, f.len));	/* 47 bytes */
	buf_free(&f);
	/* files shorter than a footer */
	CHECK(refused("", 0, 0));
	CHECK(refused("FACTEUR-QUEUE-1 ", 16, 16));
}

/* queue_file_read_env on files that are not queue files */
static void
test_read_files(void)
{
	struct queue_env e;
	const char *err;
	struct buf f;
	int fd = memfd_create("queue_file_test", 0);

	CHECK(fd != -1);
	CHECK(queue_file_read_env(fd, &e, &err) == -1 && err != NULL);	/* empty */
	CHECK(write(fd, "FACTEUR-QUEUE-1 00000000000000000000 0000000001\n", 48) == 48);
	CHECK(queue_file_read_env(fd, &e, &err) == -1 && err != NULL);
	make(&f, GOOD, sizeof(GOOD) - 1, 0, 0);
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, buf_head(&f), f.len, 0) == (ssize_t)f.len);
	CHECK(queue_file_read_env(fd, &e, &err) == 0);
	if (err == NULL) {
		CHECK(strcmp(e.from, "a@b") == 0 && e.nrcpt == 1 && e.msglen == 17);
		queue_env_free(&e);
	}
	/* the footer of a file too short for its envelope */
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, buf_head(&f) + f.len - FOOTER_LEN, FOOTER_LEN, 0) == FOOTER_LEN);
	CHECK(queue_file_read_env(fd, &e, &err) == -1 && err != NULL);
	buf_free(&f);
	close(fd);
	errno = 0;
	CHECK(queue_file_read_env(-1, &e, &err) == -1 && err != NULL);
}

int
main(void)
{
	test_ids();
	test_round_trips();
	test_writer_refuses();
	test_writer_known_bugs();
	test_truncated();
	test_footer_bytes();
	test_envelopes();
	test_footers();
	test_slack();
	test_read_files();
	return T_DONE();
}
