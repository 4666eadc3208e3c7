/* SPDX-License-Identifier: ISC */
/*
 * queue_file.c - the on-disk queue format (STYLE 10: the writer describes it).
 *
 * One file per message, state_dir/queue/msg/QID, mode 0600:
 *
 *   <message: msglen bytes, LF line endings, dot-unstuffed, Received first>
 *   <slack: any bytes, ignored (only before a FACTEUR-QUEUE-2 footer)>
 *   <envelope: text lines "key value\n">
 *       id QID
 *       time UNIXTIME
 *       from ADDRESS            ("from " alone for the null sender <>)
 *       auth USER               (only for authenticated submissions)
 *       ret MAILBOX             (optional: the local mailbox of the sender,
 *                                where bounces go)
 *       client IP
 *       helo NAME
 *       prepend BASE64          (optional: header lines to add in front of
 *                                the message when it leaves, DKIM-Signature,
 *                                Authentication-Results, a milter's; at
 *                                most QUEUE_PREPEND_MAX bytes decoded)
 *       junk                    (optional: local copies go into the Junk
 *                                folder, [inbound] junk_folder)
 *       verified                (optional: the sender was authenticated,
 *                                by AUTH, facteur-sendmail's uid or SPF
 *                                pass; bounces go only to such senders)
 *       once KEY                (optional: a fetched message's key, 32 hex
 *                                digits, see queue_once.c)
 *       rcpt ADDRESS ORIGINAL   (one per recipient, at least one)
 *       end
 *   <footer, the last 57 bytes: "FACTEUR-QUEUE-2 %020llu %010u %08x\n"
 *    with msglen, the envelope length and the CRC-32 (lib/crc32.h) of
 *    the message and the envelope, slack left out>
 *
 * The footer is the end record: a file without a valid one was never
 * committed (the writer died) and is removed at start.  The slack lets a
 * recycled file (queue.c msg_recycle: renamed, not truncated) be written
 * over in place without shrinking it: the envelope and footer go at its
 * end, whatever of the earlier message lies between stays unread; and the
 * CRC, checked when the queue is read at start, tells a message whose
 * blocks did not all reach the disk before a power cut (some still the
 * earlier message's) from one that did.  The first format, "FACTEUR-QUEUE-1
 * %020llu %010u\n" (48 bytes, no slack, no CRC, msglen + envelope +
 * footer = the file), is still read: files queued before an upgrade.
 * Values never hold
 * whitespace or control characters (the SMTP parser refuses them), so the
 * envelope is parsed with plain token splitting.  Pure code: used by the
 * smtp role (writer) and the queue role (reader), unit-tested and fuzzed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "crc32.h"
#include "log.h"
#include "strnum.h"
#include "xmem.h"
#include "smtpd.h"

#define FOOTER1_LEN	48
#define FOOTER1_MAGIC	"FACTEUR-QUEUE-1 "
#define FOOTER_LEN	57
#define FOOTER_MAGIC	"FACTEUR-QUEUE-2 "
#define ENV_MAX		(256 * 1024)

/*
 * Random bits for ids, fetched 64 ids at a time (one getrandom(2), not one
 * per message); a child after fork(2) starts with none, so that no two
 * processes hand out the same ones.
 */
static uint32_t	 id_rand[64];
static size_t	 id_nrand;
static bool	 id_atfork;

static void
id_rand_forked(void)
{
	id_nrand = 0;
}

/* queue_id_new - 16 hex digits: seconds, then 32 random bits */
void
queue_id_new(char out[QUEUE_ID_LEN + 1])
{
	uint32_t r;

	if (!id_atfork) {
		id_atfork = true;
		(void)pthread_atfork(NULL, NULL, id_rand_forked);
	}
	if (id_nrand == 0 &&
	    getrandom(id_rand, sizeof(id_rand), 0) == (ssize_t)sizeof(id_rand))
		id_nrand = sizeof(id_rand) / sizeof(id_rand[0]);
	if (id_nrand > 0) {
		r = id_rand[--id_nrand];
		id_rand[id_nrand] = 0;
	} else
		r = (uint32_t)rand() ^ (uint32_t)getpid();
	snprintf(out, QUEUE_ID_LEN + 1, "%08" PRIx32 "%08" PRIx32,
	    (uint32_t)time(NULL), r);
}

bool
queue_id_valid(const char *s)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

/* queue_token_ok - n bytes we write and read back: printable, no space */
static bool
queue_token_ok(const char *s, size_t n, bool empty_ok)
{
	size_t i;

	if (n == 0)
		return empty_ok;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

/* queue_value_ok - a value we are willing to write */
static bool
queue_value_ok(const char *s, bool empty_ok)
{
	return queue_token_ok(s, strlen(s), empty_ok);
}

/*
 * queue_file_trailer - append the envelope and footer of e to b; the
 * footer's CRC continues e->msgcrc (the message's) over the envelope.  -1,
 * with b as it was, when the reader could not read it back the same: a
 * value with a space or control byte, a bad id or time, a prepend over
 * QUEUE_PREPEND_MAX, an envelope over ENV_MAX, or b could not grow.
 */
int
queue_file_trailer(struct buf *b, const struct queue_env *e)
{
	size_t start = b->len, i;
	int r = 0;

	if (!queue_id_valid(e->qid) || e->time < 0 || e->msglen > INT64_MAX ||
	    !queue_value_ok(e->from, true) || !queue_value_ok(e->client, false) ||
	    !queue_value_ok(e->helo, false) || (e->auth && !queue_value_ok(e->auth, false)) ||
	    (e->ret && !queue_value_ok(e->ret, false)) || e->nrcpt == 0)
		return -1;
	for (i = 0; i < e->nrcpt; i++)
		if (!queue_value_ok(e->rcpt[i].addr, false) ||
		    !queue_value_ok(e->rcpt[i].orig, false))
			return -1;
	r |= buf_printf(b, "id %s\ntime %" PRId64 "\nfrom %s\n", e->qid, e->time,
	    e->from);
	if (e->auth)
		r |= buf_printf(b, "auth %s\n", e->auth);
	if (e->ret)
		r |= buf_printf(b, "ret %s\n", e->ret);
	r |= buf_printf(b, "client %s\nhelo %s\n", e->client, e->helo);
	if (r == 0 && e->prepend && *e->prepend) {
		size_t n = strlen(e->prepend);

		if (n > QUEUE_PREPEND_MAX || buf_puts(b, "prepend ") == -1 ||
		    buf_reserve(b, (n + 2) / 3 * 4 + 2) == -1)
			r = -1;
		else {
			buf_commit(b, (size_t)EVP_EncodeBlock((unsigned char *)buf_tail(b),
			    (const unsigned char *)e->prepend, (int)n));
			r |= buf_puts(b, "\n");
		}
	}
	if (r == 0 && e->junk)
		r = buf_puts(b, "junk\n");
	if (r == 0 && e->verified)
		r = buf_puts(b, "verified\n");
	if (r == 0 && e->once[0])
		r = buf_printf(b, "once %s\n", e->once);
	for (i = 0; i < e->nrcpt && r == 0; i++)
		r |= buf_printf(b, "rcpt %s %s\n", e->rcpt[i].addr, e->rcpt[i].orig);
	if (r == 0)
		r = buf_puts(b, "end\n");
	if (r == 0 && b->len - start <= ENV_MAX)
		r = buf_printf(b, FOOTER_MAGIC "%020" PRIu64 " %010zu %08" PRIx32
		    "\n", e->msglen, b->len - start, crc32_update(e->msgcrc,
		    buf_head(b) + start, b->len - start));
	else
		r = -1;
	if (r == -1)
		buf_truncate(b, start);	/* nothing half-written is left */
	return r;
}

void
queue_env_free(struct queue_env *e)
{
	size_t i;

	free(e->from);
	free(e->auth);
	free(e->ret);
	free(e->client);
	free(e->helo);
	free(e->prepend);
	for (i = 0; i < e->nrcpt; i++) {
		free(e->rcpt[i].addr);
		free(e->rcpt[i].orig);
	}
	free(e->rcpt);
	memset(e, 0, sizeof(*e));
}

bool
once_key_ok(const char *s, size_t n)
{
	size_t i;

	if (n != ONCE_KEY_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* queue_hex32 - 8 lower-case hex digits */
static bool
queue_hex32(const char *p, uint32_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 8; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			*v = *v << 4 | (uint32_t)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			*v = *v << 4 | (uint32_t)(p[i] - 'a' + 10);
		else
			return false;
	}
	return true;
}

/*
 * queue_footer - the footer ending the len bytes at p (the end of the
 * file), either format: its length in *flen, the CRC in e->crc and e->sum
 * (FACTEUR-QUEUE-2)
 */
static bool
queue_footer(const char *p, size_t len, uint64_t *msglen, uint64_t *envlen,
    size_t *flen, struct queue_env *e)
{
	const char *f, *err;
	char num[21];

	if (len >= FOOTER_LEN &&
	    memcmp(p + len - FOOTER_LEN, FOOTER_MAGIC, 16) == 0) {
		f = p + len - FOOTER_LEN;
		if (f[36] != ' ' || f[47] != ' ' || f[56] != '\n' ||
		    !queue_hex32(f + 48, &e->crc))
			return false;
		e->sum = true;
		*flen = FOOTER_LEN;
	} else if (len >= FOOTER1_LEN &&
	    memcmp(p + len - FOOTER1_LEN, FOOTER1_MAGIC, 16) == 0) {
		f = p + len - FOOTER1_LEN;
		if (f[36] != ' ' || f[47] != '\n')
			return false;
		*flen = FOOTER1_LEN;
	} else
		return false;
	memcpy(num, f + 16, 20);
	num[20] = '\0';
	*msglen = (uint64_t)strnum(num, 0, INT64_MAX, &err);
	if (err)
		return false;
	memcpy(num, f + 37, 10);
	num[10] = '\0';
	*envlen = (uint64_t)strnum(num, 1, ENV_MAX, &err);
	return err == NULL;
}

/*
 * queue_file_parse_env - p/len are the last bytes of a file of fsize bytes,
 * ending with the footer and holding at least the whole envelope.
 */
int
queue_file_parse_env(const char *p, size_t len, uint64_t fsize,
    struct queue_env *e, const char **err_r)
{
	uint64_t msglen, envlen;
	const char *q, *end;
	bool sawend = false, sawtime = false;
	size_t flen;

	memset(e, 0, sizeof(*e));
	*err_r = "no end record";
	if (!queue_footer(p, len, &msglen, &envlen, &flen, e))
		return -1;
	*err_r = "sizes do not add up";
	/* slack between message and envelope only with a CRC */
	if (envlen > len - flen || msglen > fsize ||
	    msglen + envlen + flen > fsize ||
	    (!e->sum && msglen + envlen + flen != fsize))
		return -1;
	e->msglen = msglen;
	e->envlen = envlen;
	q = p + len - flen - envlen;
	end = p + len - flen;
	*err_r = "bad envelope";
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		const char *sp, *v;
		size_t klen, vlen;

		if (nl == NULL || sawend)
			goto fail;
		sp = memchr(q, ' ', (size_t)(nl - q));
		klen = sp ? (size_t)(sp - q) : (size_t)(nl - q);
		v = sp ? sp + 1 : nl;
		vlen = (size_t)(nl - v);
		if (memchr(v, '\0', vlen) || memchr(q, '\0', klen))
			goto fail;
		if (klen == 3 && memcmp(q, "end", 3) == 0 && !sp)
			sawend = true;
		else if (klen == 4 && memcmp(q, "junk", 4) == 0 && !sp && !e->junk)
			e->junk = true;
		else if (klen == 8 && memcmp(q, "verified", 8) == 0 && !sp &&
		    !e->verified)
			e->verified = true;
		else if (klen == 4 && memcmp(q, "once", 4) == 0) {
			if (e->once[0] || !once_key_ok(v, vlen))
				goto fail;
			memcpy(e->once, v, vlen);
			e->once[vlen] = '\0';
		}
		else if (klen == 2 && memcmp(q, "id", 2) == 0) {
			if (vlen != QUEUE_ID_LEN || e->qid[0] != '\0')
				goto fail;
			memcpy(e->qid, v, QUEUE_ID_LEN);
			if (!queue_id_valid(e->qid))
				goto fail;
		} else if (klen == 4 && memcmp(q, "time", 4) == 0) {
			char num[24];
			const char *err;

			if (vlen == 0 || vlen >= sizeof(num) || sawtime)
				goto fail;
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			e->time = strnum(num, 0, INT64_MAX, &err);
			if (err)
				goto fail;
			sawtime = true;
		} else if (klen == 4 && memcmp(q, "from", 4) == 0 && !e->from &&
		    queue_token_ok(v, vlen, true))
			e->from = xstrndup(v, vlen);
		else if (klen == 4 && memcmp(q, "auth", 4) == 0 && !e->auth &&
		    queue_token_ok(v, vlen, false))
			e->auth = xstrndup(v, vlen);
		else if (klen == 3 && memcmp(q, "ret", 3) == 0 && !e->ret &&
		    queue_token_ok(v, vlen, false))
			e->ret = xstrndup(v, vlen);
		else if (klen == 6 && memcmp(q, "client", 6) == 0 && !e->client &&
		    queue_token_ok(v, vlen, false))
			e->client = xstrndup(v, vlen);
		else if (klen == 4 && memcmp(q, "helo", 4) == 0 && !e->helo &&
		    queue_token_ok(v, vlen, false))
			e->helo = xstrndup(v, vlen);
		else if (klen == 7 && memcmp(q, "prepend", 7) == 0 && !e->prepend) {
			int dl;

			if (vlen == 0 || vlen % 4 != 0 || vlen > ENV_MAX)
				goto fail;
			e->prepend = xmalloc(vlen / 4 * 3 + 1);
			dl = EVP_DecodeBlock((unsigned char *)e->prepend,
			    (const unsigned char *)v, (int)vlen);
			if (dl < 0)
				goto fail;
			/* EVP_DecodeBlock counts the '=' padding as zero bytes */
			if (vlen >= 1 && v[vlen - 1] == '=')
				dl--;
			if (vlen >= 2 && v[vlen - 2] == '=')
				dl--;
			e->prepend[dl] = '\0';
			if (strlen(e->prepend) != (size_t)dl ||
			    dl > QUEUE_PREPEND_MAX)
				goto fail;
		}
		else if (klen == 4 && memcmp(q, "rcpt", 4) == 0) {
			const char *sp2 = memchr(v, ' ', vlen);

			if (sp2 == NULL || !queue_token_ok(v, (size_t)(sp2 - v), false) ||
			    !queue_token_ok(sp2 + 1, (size_t)(nl - sp2 - 1), false) ||
			    e->nrcpt >= 100000)
				goto fail;
			e->rcpt = xreallocarray(e->rcpt, e->nrcpt + 1, sizeof(*e->rcpt));
			e->rcpt[e->nrcpt].addr = xstrndup(v, (size_t)(sp2 - v));
			e->rcpt[e->nrcpt].orig = xstrndup(sp2 + 1, (size_t)(nl - sp2 - 1));
			e->rcpt[e->nrcpt].done = false;
			e->nrcpt++;
		} else
			goto fail;
		q = nl + 1;
	}
	if (!sawend || e->qid[0] == '\0' || !sawtime || !e->from || !e->client ||
	    !e->helo || e->nrcpt == 0)
		goto fail;
	*err_r = NULL;
	return 0;
fail:
	queue_env_free(e);
	return -1;
}

int
queue_file_read_env(int fd, struct queue_env *e, const char **err_r)
{
	struct stat st;

	memset(e, 0, sizeof(*e));
	*err_r = "cannot stat";
	if (fstat(fd, &st) == -1)
		return -1;
	return queue_file_read_env_size(fd, (uint64_t)st.st_size, e, err_r);
}

/*
 * queue_file_read_env_size - the same for a file of size bytes (the
 * caller's fstat): one pread of the last TAIL_LEN bytes holds footer and
 * envelope of most messages; a larger envelope takes a second one
 */
#define TAIL_LEN	4096

int
queue_file_read_env_size(int fd, uint64_t size, struct queue_env *e,
    const char **err_r)
{
	char tail[TAIL_LEN], *p;
	uint64_t msglen, envlen;
	size_t n = size < TAIL_LEN ? (size_t)size : TAIL_LEN, flen;
	ssize_t r;
	int rv;

	memset(e, 0, sizeof(*e));
	*err_r = "no end record";
	if (size < FOOTER1_LEN || size > INT64_MAX)
		return -1;
	r = pread(fd, tail, n, (off_t)(size - n));
	if (r != (ssize_t)n || !queue_footer(tail, n, &msglen, &envlen, &flen, e))
		return -1;
	memset(e, 0, sizeof(*e));
	*err_r = "sizes do not add up";
	if (envlen + flen > size)
		return -1;
	if (envlen + flen <= n)
		return queue_file_parse_env(tail, n, size, e, err_r);
	p = xmalloc(envlen + flen);
	r = pread(fd, p, envlen + flen, (off_t)(size - envlen - flen));
	if (r != (ssize_t)(envlen + flen)) {
		free(p);
		*err_r = "short read";
		return -1;
	}
	rv = queue_file_parse_env(p, envlen + flen, size, e, err_r);
	free(p);
	return rv;
}

/*
 * queue_file_verify - e, parsed from the file fd of size bytes, is what
 * was written: the CRC of its message and envelope read back is the
 * footer's (a file in the first format has none: true).  false with
 * *err_r set on a mismatch or a read error (untouched on true).  Reads
 * the whole message.
 */
bool
queue_file_verify(int fd, uint64_t size, const struct queue_env *e,
    const char **err_r)
{
	char chunk[65536];
	uint64_t off = 0, end = e->msglen, envat;
	uint32_t crc = 0;
	ssize_t r;

	if (!e->sum)
		return true;
	envat = size - FOOTER_LEN - e->envlen;
	for (;;) {
		if (off == end) {
			if (end == envat + e->envlen)
				break;
			off = envat;	/* the slack is not counted */
			end = envat + e->envlen;
			continue;
		}
		r = pread(fd, chunk, end - off < sizeof(chunk) ?
		    (size_t)(end - off) : sizeof(chunk), (off_t)off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			*err_r = "short read";
			return false;
		}
		crc = crc32_update(crc, chunk, (size_t)r);
		off += (uint64_t)r;
	}
	if (crc != e->crc) {
		*err_r = "checksum mismatch";
		return false;
	}
	return true;
}
