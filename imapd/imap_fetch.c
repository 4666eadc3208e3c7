/* SPDX-License-Identifier: ISC */
/*
 * imap_fetch.c - FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2), produced
 * while the client reads.
 *
 * Runs in a worker as `user`, on the selected folder.  A FETCH is a job:
 * responses are built one message at a time and the job pauses when the
 * output buffer passes IMAP_OUT_SOFT, resuming when it drains.  A message
 * is read only as far as the items need (nothing, its header block, or
 * the whole file, mapped).  A literal of FETCH_STREAM_MIN bytes or more
 * (BODY[] of a big message) is not built: the job keeps the mapping and
 * converts it to CRLF straight into the output buffer, 64 KiB at a time,
 * so memory stays flat whatever the message size.  A message that vanished
 * is skipped (the next update says EXPUNGE).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imapd.h"
#include "strnum.h"
#include "xmem.h"

#define FETCH_STREAM_MIN	(128 * 1024)
#define FETCH_CHUNK		(64 * 1024)
#define FETCH_MAXSEG		(IMAP_FETCH_MAXSEC + 3)

/* a response whose big literals are streamed from the mapped message */
struct fetch_stream {
	const char	*map;
	size_t		 maplen;
	struct buf	 text;		/* the response around the literals */
	size_t		 text_pos;	/* written up to here */
	struct {
		size_t	 at;		/* in text: the literal goes here */
		struct mime_span sp;
	}		 seg[FETCH_MAXSEG];
	unsigned	 nseg, cur;
	bool		 in_seg;
	struct mime_crlf rd;
	size_t		 left;
};

static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static void
put_internaldate(struct buf *b, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	buf_printf(b, "INTERNALDATE \"%02d-%s-%04d %02d:%02d:%02d +0000\"",
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

/* what FETCH must read: 0 nothing, 1 the header block, 2 the whole file */
static int
fetch_needs(const struct imap_fetch *fa)
{
	unsigned i;
	int need = 0;

	if (fa->items & (IMAP_F_BODY | IMAP_F_BODYSTRUCTURE | IMAP_F_RFC822 |
	    IMAP_F_RFC822_TEXT))
		return 2;
	if (fa->items & (IMAP_F_ENVELOPE | IMAP_F_RFC822_HEADER))
		need = 1;
	for (i = 0; i < fa->nsec; i++) {
		if (fa->sec[i].npart > 0 || fa->sec[i].kind == IMAP_SEC_ALL ||
		    fa->sec[i].kind == IMAP_SEC_TEXT ||
		    fa->sec[i].kind == IMAP_SEC_MIME)
			return 2;
		need = 1;
	}
	return need;
}

static bool
fetch_sets_seen(const struct imap_fetch *fa)
{
	unsigned i;

	if (fa->items & (IMAP_F_RFC822 | IMAP_F_RFC822_TEXT))
		return true;
	for (i = 0; i < fa->nsec; i++)
		if (!fa->sec[i].peek)
			return true;
	return false;
}

static void
stream_free(struct fetch_stream **stp)
{
	struct fetch_stream *st = *stp;

	if (st == NULL)
		return;
	store_unmap(st->map, st->maplen);
	buf_free(&st->text);
	free(st);
	*stp = NULL;
}

/*
 * put_section - a section's content as a literal into b; a big one is
 * left for the stream (only when the message is mapped: st != NULL).
 */
static void
put_section(struct buf *b, const struct mime_msg *m,
    const struct imap_section *sec, const char *label,
    struct fetch_stream *st)
{
	struct mime_span sp;

	if (st && st->nseg < FETCH_MAXSEG && mime_section_span(m, sec, &sp) &&
	    sp.n >= FETCH_STREAM_MIN) {
		buf_printf(b, "%s {%zu}\r\n", label, sp.n);
		st->seg[st->nseg].at = b->len;
		st->seg[st->nseg++].sp = sp;
		return;
	}
	(void)mime_section_literal(m, sec, label, b);
}

/* put_bodies - RFC822, RFC822.HEADER, RFC822.TEXT, BODY[...] and
 * BINARY[...] items; false when a BINARY part's encoding is unknown */
static bool
put_bodies(struct buf *b, const struct imap_fetch *fa,
    const struct mime_msg *m, struct fetch_stream *st)
{
	const struct imap_section *bs;
	bool ok = true;

	struct imap_section sec;
	unsigned i;

	memset(&sec, 0, sizeof(sec));
	if (fa->items & IMAP_F_RFC822) {
		buf_puts(b, " ");
		put_section(b, m, &sec, "RFC822", st);
	}
	if (fa->items & IMAP_F_RFC822_HEADER) {
		buf_puts(b, " ");
		sec.kind = IMAP_SEC_HEADER;
		put_section(b, m, &sec, "RFC822.HEADER", st);
	}
	if (fa->items & IMAP_F_RFC822_TEXT) {
		buf_puts(b, " ");
		sec.kind = IMAP_SEC_TEXT;
		put_section(b, m, &sec, "RFC822.TEXT", st);
	}
	for (i = 0; i < fa->nsec; i++) {
		bs = &fa->sec[i];
		buf_puts(b, " ");
		/* BINARY with nothing to decode is BODY: streamed if big */
		if (bs->binary == IMAP_BIN_NONE ||
		    (bs->binary == IMAP_BIN_CONTENT &&
		    mime_binary_identity(m, bs)))
			put_section(b, m, bs, bs->name, st);
		else if (!mime_binary_item(m, bs, b))
			ok = false;
	}
	return ok;
}

/* put_meta - the items from the index and the header/structure ones */
static void
put_meta(struct imap_session *s, struct buf *b, const struct imap_fetch *fa,
    size_t fi, const struct mime_msg *m, bool whole)
{
	struct store_folder *f = s->f;
	struct store_msg *msg = &f->v[fi];

	if (fa->items & IMAP_F_UID)
		buf_printf(b, " UID %u", msg->uid);
	if (fa->items & IMAP_F_FLAGS) {
		buf_puts(b, " ");
		session_put_flags(s, b, msg);
	}
	if (fa->items & IMAP_F_MODSEQ)
		buf_printf(b, " MODSEQ (%llu)", (unsigned long long)msg->modseq);
	if (fa->items & IMAP_F_INTERNALDATE) {
		buf_puts(b, " ");
		put_internaldate(b, store_msg_itime(f, fi));
	}
	if (fa->items & IMAP_F_SIZE)
		buf_printf(b, " RFC822.SIZE %u", store_msg_size(f, fi,
		    whole ? m->data : NULL, whole ? m->len : 0));
	if (fa->items & IMAP_F_ENVELOPE) {
		buf_puts(b, " ENVELOPE ");
		mime_envelope(m, m->root, b);
	}
	if (fa->items & IMAP_F_BODYSTRUCTURE) {
		buf_puts(b, " BODYSTRUCTURE ");
		mime_bodystructure(m, m->root, true, b);
	}
	if (fa->items & IMAP_F_BODY) {
		buf_puts(b, " BODY ");
		mime_bodystructure(m, m->root, false, b);
	}
}

static void
fetch_one(struct imap_session *s, size_t pos, size_t fi)
{
	struct fetch_job *j = s->job;
	struct imap_fetch *fa = &j->fa;
	struct store_msg *msg = &s->f->v[fi];
	struct buf *b = &s->resp;
	struct mime_msg *m = NULL;
	struct fetch_stream *st = NULL;
	const char *data = NULL;
	char *hdr = NULL;
	size_t len = 0, at;
	int need;

	/* a keyword another session defined: FLAGS first (RFC 3501 7.2.6) */
	if (s->f->kw_gen != s->seen_kw_gen)
		cmd_put_flag_lists(s);
	if (fetch_sets_seen(fa) && !s->readonly && !(msg->flags & MF_SEEN)) {
		if (store_set_flags(s->f, fi, msg->flags | MF_SEEN, msg->kw,
		    s->id) == 0) {
			/* the change is told here (RFC 3501 6.4.5), with
			 * its modseq under CONDSTORE (RFC 7162 3.1.4) */
			fa->items |= IMAP_F_FLAGS;
			if (s->condstore)
				fa->items |= IMAP_F_MODSEQ;
			store_flush(s->f);
		}
		msg = &s->f->v[fi];
	}
	if ((need = fetch_needs(fa)) == 1)
		data = store_header(s->f, fi, &len, &hdr);
	else if (need == 2) {
		data = store_map(s->f, fi, &len);
		st = xcalloc(1, sizeof(*st));
		st->map = data;
		st->maplen = len;
	}
	if (need > 0 && data == NULL) {
		/* vanished under us: say nothing about it now */
		s->f->dirty = true;
		free(st);
		return;
	}
	if (need > 0)
		m = mime_parse(data, len);
	buf_reset(b);
	/* each item comes as " NAME value": the first space becomes "(" */
	buf_printf(b, "* %zu FETCH ", pos + 1);
	at = b->len;
	put_meta(s, b, fa, fi, m, need == 2);
	if (!put_bodies(b, fa, m, st))
		j->unknown_cte = true;
	if (b->len > at)
		buf_head(b)[at] = '(';
	else
		buf_puts(b, "(");
	buf_puts(b, ")\r\n");
	mime_free(&m);
	free(hdr);
	if (st && st->nseg > 0) {
		/* big literals: written as the client reads (fetch_pump) */
		st->text = *b;
		buf_init(b, 0);
		j->st = st;
		return;
	}
	stream_free(&st);
	session_write_buf(s, b);
	buf_reset(b);
}

/* fetch_pump - write the pending stream; true when it is all out */
static bool
fetch_pump(struct imap_session *s)
{
	struct fetch_stream *st = s->job->st;
	size_t upto, n;

	while (!session_out_full(s)) {
		if (st->in_seg) {
			n = st->left < FETCH_CHUNK ? st->left : FETCH_CHUNK;
			if (session_write_crlf(s, &st->rd, n) != n) {
				stream_free(&s->job->st);	/* closing */
				return true;
			}
			if ((st->left -= n) == 0) {
				st->in_seg = false;
				st->cur++;
			}
			continue;
		}
		upto = st->cur < st->nseg ? st->seg[st->cur].at : st->text.len;
		if (upto > st->text_pos)
			session_write(s, buf_head(&st->text) + st->text_pos,
			    upto - st->text_pos);
		st->text_pos = upto;
		if (st->cur == st->nseg) {
			stream_free(&s->job->st);
			return true;
		}
		mime_crlf_init(&st->rd, st->map, st->seg[st->cur].sp.off,
		    st->seg[st->cur].sp.end);
		(void)mime_crlf_read(&st->rd, NULL, st->seg[st->cur].sp.skip);
		st->left = st->seg[st->cur].sp.n;
		st->in_seg = true;
	}
	return false;
}

/*
 * fetch_ghost - a message another session expunged, not announced here
 * yet: the items that need no file (UID FLAGS MODSEQ) as it was; nothing
 * when others are asked for (the next update says EXPUNGE).
 */
static void
fetch_ghost(struct imap_session *s, size_t pos)
{
	struct fetch_job *j = s->job;
	struct store_msg m;
	struct buf *b = &s->resp;

	if ((j->fa.items & ~(IMAP_F_UID | IMAP_F_FLAGS | IMAP_F_MODSEQ)) ||
	    j->fa.nsec)
		return;
	(void)session_msg(s, s->view[pos], -1, &m);
	if (m.modseq <= j->changedsince)
		return;
	buf_reset(b);
	buf_printf(b, "* %zu FETCH (", pos + 1);
	if (j->fa.items & IMAP_F_UID)
		buf_printf(b, "UID %u ", m.uid);
	if (j->fa.items & IMAP_F_FLAGS) {
		session_put_flags(s, b, &m);
		buf_puts(b, " ");
	}
	if (j->fa.items & IMAP_F_MODSEQ)
		buf_printf(b, "MODSEQ (%llu) ", (unsigned long long)m.modseq);
	buf_truncate(b, b->len - 1);
	buf_puts(b, ")\r\n");
	session_write_buf(s, b);
}

/* fetch_run - produce until the output is full (false) or all is done */
static bool
fetch_run(struct imap_session *s)
{
	struct fetch_job *j = s->job;
	ssize_t fi;

	for (;;) {
		if (j->st && !fetch_pump(s))
			return false;
		if (session_out_full(s))
			return false;
		if (!cmd_set_next(s, &j->set, j->uid, &j->pos, &fi))
			return true;
		if (fi < 0)
			fetch_ghost(s, j->pos);
		else if (s->f->v[fi].modseq > j->changedsince)
			fetch_one(s, j->pos, (size_t)fi);
		j->pos++;
	}
}

void
cmd_fetch_free(struct imap_session *s)
{
	struct fetch_job *j = s->job;

	if (j == NULL)
		return;
	stream_free(&j->st);
	imap_seqset_free(&j->set);
	free(j);
	s->job = NULL;
}

static void
fetch_done(struct imap_session *s)
{
	if (s->job->unknown_cte)
		session_tagged(s, "NO [UNKNOWN-CTE] a part's Content-Transfer-"
		    "Encoding is unknown (RFC 3516)");
	else
		session_tagged(s, "OK %sFETCH completed",
		    s->job->uid ? "UID " : "");
	cmd_fetch_free(s);
	buf_shrink(&s->resp, 0);
}

void
cmd_fetch_resume(struct imap_session *s)
{
	if (s->job == NULL)
		return;
	if (!fetch_run(s)) {
		/* wait for the client to read (DRAINED or the timer) */
		ev_timer_add(&s->timer, 10);
		return;
	}
	fetch_done(s);
	if (s->wait == SW_JOB) {
		s->wait = SW_NONE;
		conn_pause(&s->conn, false);
		session_continue(s);
	}
}

/*
 * fetch_modifiers - "(CHANGEDSINCE n [VANISHED])" after the attributes
 * (RFC 7162 3.1.4, 3.2.6); VANISHED only in UID FETCH with QRESYNC on.
 */
static bool
fetch_modifiers(struct imap_session *s, const struct imap_arg *a,
    struct fetch_job *j, bool *vanished_r)
{
	const char *err;

	*vanished_r = false;
	if (a == NULL)
		return true;
	if (a->type != IMAP_ARG_LIST || a->next)
		return false;
	for (a = a->child; a; a = a->next) {
		if (imap_arg_is(a, "CHANGEDSINCE") && a->next &&
		    a->next->type == IMAP_ARG_ATOM && !j->changedsince) {
			a = a->next;
			j->changedsince = (uint64_t)strnum(a->s, 1, INT64_MAX,
			    &err);
			if (err)
				return false;
		} else if (imap_arg_is(a, "VANISHED") && j->uid && s->qresync)
			*vanished_r = true;
		else
			return false;
	}
	return j->changedsince || !*vanished_r;
}

void
cmd_fetch(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	struct fetch_job *j;
	struct imap_arg items;
	const char *err;
	bool vanished;

	j = xcalloc(1, sizeof(*j));
	if (!cmd_parse_set(s, c->args, uid, &j->set)) {
		free(j);
		return;
	}
	j->uid = uid;
	err = "bad fetch attributes";
	if (c->args->next) {
		items = *c->args->next;
		items.next = NULL;	/* the modifiers come after */
	}
	if (!c->args->next || !imap_fetch_parse(&items, &j->fa, &err) ||
	    !fetch_modifiers(s, c->args->next->next, j, &vanished)) {
		session_tagged(s, "BAD %s", j->fa.items || j->fa.nsec ?
		    "bad FETCH modifiers" : err);
		imap_seqset_free(&j->set);
		free(j);
		return;
	}
	if (uid || s->qresync)	/* RFC 7162 3.2.4: UID always with QRESYNC */
		j->fa.items |= IMAP_F_UID;
	if (j->changedsince)
		j->fa.items |= IMAP_F_MODSEQ;	/* RFC 7162 3.1.4 */
	if (j->fa.items & IMAP_F_MODSEQ)
		condstore_on(s);
	if (vanished)
		condstore_vanished_earlier(s, &j->set, j->changedsince);
	s->job = j;
	if (fetch_run(s)) {
		fetch_done(s);
		return;
	}
	s->wait = SW_JOB;
	ev_timer_add(&s->timer, 10);
}
