/* SPDX-License-Identifier: ISC */
/*
 * pop3_maildrop.c - the POP3 TRANSACTION and UPDATE states (RFC 1939 5,
 * 6) on the user's INBOX, in a worker of facteur-imapd (as `user`,
 * chrooted into the Maildir when started as root).
 *
 * The maildrop is INBOX's shared folder index (store.c), numbered
 * when the session starts: message n keeps its number and its CRLF size
 * for the whole session; UIDL is made of the same UID and UIDVALIDITY
 * that IMAP shows.  One POP3 session per user at a time holds the
 * maildrop (RFC 1939 8: a second one gets -ERR [IN-USE]); IMAP sessions
 * go on beside it.  DELE only marks: QUIT expunges through the store
 * (IMAP sessions then see EXPUNGE) and sets \Seen on what was
 * retrieved; a session that ends any other way changes nothing.  A
 * message IMAP expunged meanwhile gets -ERR.  RETR and TOP stream from
 * the mapped file while the client reads (POP3_OUT_SOFT), so memory
 * does not grow with a message or a listing.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "log.h"
#include "pop3.h"
#include "xmem.h"

static struct pop3_session *lock_holder;	/* this worker's user */

static void
maildrop_totals(struct pop3_session *s, size_t *n_r, uint64_t *octets_r)
{
	size_t i;

	*n_r = 0;
	*octets_r = 0;
	for (i = 0; i < s->n; i++)
		if (!s->v[i].deleted) {
			(*n_r)++;
			*octets_r += s->v[i].size;
		}
}

bool
pop3_maildrop_open(struct pop3_session *s)
{
	struct store_folder *f;
	uint64_t octets;
	size_t i, n;

	if (lock_holder != NULL) {
		pop3_reply(s, "-ERR [IN-USE] another POP3 session holds the "
		    "maildrop");
		return false;
	}
	if ((f = store_folder_open(imapd.worker_root)) == NULL) {
		log_warnx("session=%08x user=%s pop3: no INBOX", s->id, s->user);
		pop3_reply(s, "-ERR [SYS/TEMP] maildrop not available");
		return false;
	}
	(void)store_sync(f, true);
	s->f = f;
	s->v = xcalloc(f->n ? f->n : 1, sizeof(*s->v));
	for (i = 0; i < f->n; i++) {
		s->v[s->n].uid = f->v[i].uid;
		s->v[s->n].size = store_msg_size(f, i, NULL, 0);
		s->n++;
	}
	lock_holder = s;
	maildrop_totals(s, &n, &octets);
	pop3_reply(s, "+OK maildrop has %zu messages (%" PRIu64 " octets)",
	    n, octets);
	return true;
}

/* msg_arg - message c->num[0], or NULL after -ERR */
static struct pop3_msg *
msg_arg(struct pop3_session *s, const struct pop3_cmd *c)
{
	struct pop3_msg *m;

	if (c->num[0] < 1 || c->num[0] > s->n) {
		pop3_reply(s, "-ERR no such message");
		return NULL;
	}
	m = &s->v[c->num[0] - 1];
	if (m->deleted) {
		pop3_reply(s, "-ERR message %u already deleted", c->num[0]);
		return NULL;
	}
	return m;
}

static void
put_line(struct pop3_session *s, size_t i)
{
	char uidl[17];

	if (s->job == PJ_LIST)
		(void)buf_printf(&s->conn.out, "%zu %u\r\n", i + 1, s->v[i].size);
	else {
		pop3_uidl(s->f->uidvalidity, s->v[i].uid, uidl);
		(void)buf_printf(&s->conn.out, "%zu %s\r\n", i + 1, uidl);
	}
}

static void
job_end(struct pop3_session *s)
{
	if (s->map != NULL)
		store_unmap(s->map, s->maplen);
	s->map = NULL;
	s->maplen = 0;
	s->job = PJ_NONE;
}

bool
pop3_maildrop_job(struct pop3_session *s)
{
	struct buf *out = &s->conn.out;
	bool done = false;

	if (s->job == PJ_NONE || s->conn.dead || s->state == P3_CLOSED)
		return true;
	while (!done && out->len < POP3_OUT_SOFT) {
		if (s->job == PJ_RETR)
			done = pop3_stuff_read(&s->st, out, POP3_CHUNK);
		else {
			for (; s->pos < s->n && out->len < POP3_OUT_SOFT; s->pos++)
				if (!s->v[s->pos].deleted)
					put_line(s, s->pos);
			if (s->pos == s->n) {
				(void)buf_puts(out, ".\r\n");
				done = true;
			}
		}
	}
	(void)conn_write(&s->conn, "", 0);	/* start writing */
	if (!done) {
		/* the client reads: DRAINED or this timer brings us back */
		s->wait = PW_JOB;
		ev_timer_add(&s->timer, 10);
		return false;
	}
	job_end(s);
	return true;
}

static void
maildrop_list(struct pop3_session *s, const struct pop3_cmd *c, bool uidl)
{
	struct pop3_msg *m;
	char id[17];

	if (c->nnum == 1) {
		if ((m = msg_arg(s, c)) == NULL)
			return;
		if (!uidl)
			pop3_reply(s, "+OK %u %u", c->num[0], m->size);
		else {
			pop3_uidl(s->f->uidvalidity, m->uid, id);
			pop3_reply(s, "+OK %u %s", c->num[0], id);
		}
		return;
	}
	pop3_reply(s, "+OK %s follows", uidl ? "unique-id listing" :
	    "scan listing");
	s->job = uidl ? PJ_UIDL : PJ_LIST;
	s->pos = 0;
	(void)pop3_maildrop_job(s);
}

/* maildrop_retr - RETR (top false) or TOP */
static void
maildrop_retr(struct pop3_session *s, const struct pop3_cmd *c, bool top)
{
	struct pop3_msg *m;
	ssize_t fi;
	int try;

	if ((m = msg_arg(s, c)) == NULL)
		return;
	/* renamed under us (flags) or gone: look again after a sync */
	for (try = 0; s->map == NULL && try < 2; try++) {
		if (try > 0)
			(void)store_sync(s->f, true);
		if ((fi = store_find(s->f, m->uid)) >= 0)
			s->map = store_map(s->f, (size_t)fi, &s->maplen);
	}
	if (s->map == NULL) {
		pop3_reply(s, "-ERR message %u was removed by another session",
		    c->num[0]);
		return;
	}
	if (!top) {
		m->retrieved = true;
		pop3_reply(s, "+OK %u octets", m->size);
	} else
		pop3_reply(s, "+OK top of message follows");
	pop3_stuff_init(&s->st, s->map, s->maplen, top, c->num[1]);
	s->job = PJ_RETR;
	(void)pop3_maildrop_job(s);
}

/* maildrop_update - QUIT in TRANSACTION (RFC 1939 6): DELE done now */
static void
maildrop_update(struct pop3_session *s)
{
	struct store_folder *f = s->f;
	size_t i, left = 0, gone = 0;
	ssize_t fi;
	bool fail = false;

	(void)store_sync(f, true);
	for (i = 0; i < s->n; i++) {
		fi = store_find(f, s->v[i].uid);
		if (!s->v[i].deleted) {
			left++;
			/* what was read is \Seen for IMAP, as Dovecot does */
			if (fi >= 0 && s->v[i].retrieved &&
			    !(f->v[fi].flags & MF_SEEN) &&
			    store_set_flags(f, (size_t)fi, (uint8_t)((f->v[fi].flags &
			    MF_FILE) | MF_SEEN), f->v[fi].kw, 0) == -1)
				log_warn("session=%08x pop3 flag", s->id);
			continue;
		}
		if (fi < 0)
			continue;	/* expunged by IMAP meanwhile */
		if (store_expunge(f, (size_t)fi) == -1) {
			log_warn("session=%08x user=%s pop3 expunge uid=%u",
			    s->id, s->user, s->v[i].uid);
			fail = true;
			left++;
		} else
			gone++;
	}
	log_info("session=%08x user=%s pop3 quit deleted=%zu left=%zu", s->id,
	    s->user, gone, left);
	if (fail)
		pop3_reply(s, "-ERR [SYS/TEMP] some deleted messages not removed");
	else
		pop3_reply(s, "+OK bye (%zu messages left)", left);
}

void
pop3_maildrop_cmd(struct pop3_session *s, struct pop3_cmd *c)
{
	struct pop3_msg *m;
	uint64_t octets;
	size_t i, n;

	if (c->err) {
		pop3_reply(s, "-ERR %s", c->err);
		return;
	}
	switch (c->kw) {
	case POP3_STAT:
		maildrop_totals(s, &n, &octets);
		pop3_reply(s, "+OK %zu %" PRIu64, n, octets);
		break;
	case POP3_LIST:
	case POP3_UIDL:
		maildrop_list(s, c, c->kw == POP3_UIDL);
		break;
	case POP3_RETR:
	case POP3_TOP:
		maildrop_retr(s, c, c->kw == POP3_TOP);
		break;
	case POP3_DELE:
		if ((m = msg_arg(s, c)) == NULL)
			break;
		m->deleted = true;
		pop3_reply(s, "+OK message %u deleted", c->num[0]);
		break;
	case POP3_NOOP:
		pop3_reply(s, "+OK");
		break;
	case POP3_RSET:
		for (i = 0; i < s->n; i++)
			s->v[i].deleted = false;
		maildrop_totals(s, &n, &octets);
		pop3_reply(s, "+OK maildrop has %zu messages (%" PRIu64
		    " octets)", n, octets);
		break;
	case POP3_QUIT:
		maildrop_update(s);
		pop3_close(s);
		break;
	default:
		pop3_reply(s, "-ERR not in the TRANSACTION state");
		break;
	}
}

void
pop3_maildrop_close(struct pop3_session *s)
{
	job_end(s);
	if (lock_holder == s)
		lock_holder = NULL;
	if (s->f != NULL)
		store_folder_close(&s->f);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
