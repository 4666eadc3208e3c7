/* SPDX-License-Identifier: ISC */
/*
 * fetch_remote.c - one poll of one `[fetch]` account: IMAP (RFC 3501:
 * LOGIN, SELECT, UID SEARCH, UID FETCH BODY.PEEK[], then UID STORE
 * \Deleted and EXPUNGE) or POP3 (RFC 1939: USER/PASS, UIDL, RETR, DELE,
 * QUIT), in the fetch role as `user`.
 *
 * Exactly once: messages go to the queue in UID order (POP3: listing
 * order); after each 250 the state file records it (fsync) before the
 * next one, and the remote copy is deleted only for what the state
 * records (delete mode), possibly at a later poll.  A crash before the
 * final dot fetches the message again; SIGTERM waits from the dot to the
 * state's fsync (fetch_hold).  smtpd killed while the queue commits the
 * message (it may have it without our hearing the 250) offers it again
 * at the next poll, under the same MAIL ONCE= key (fetch_once_key), and
 * the queue does not take it twice (smtpd/queue_once.c).  A
 * new UIDVALIDITY (keep mode) fetches the folder again, as any IMAP
 * client must.  The remote server is untrusted: its lines are parsed by
 * fetch_proto.c and bounded, a listing is taken up to FETCH_LIST_MAX
 * messages, and the poll up to its deadline (fetch_io.c).  A POP3 UIDL
 * that the listing gives twice is left on the server under both numbers
 * (taking one for the other would delete a message nobody fetched);
 * the POP3 once key holds the size (LIST) beside the UIDL, as RFC 1939
 * lets a server give the UIDL of a deleted message to a new one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmem.h"
#include "smtpd/fetch_int.h"

static unsigned tagno;

/* imap_cmd - send "TAG cmd"; the tag in tag[] */
static int
imap_cmd(struct fconn *c, char tag[16], const char *cmd)
{
	snprintf(tag, 16, "f%u", ++tagno);
	return fconn_printf(c, "%s %s\r\n", tag, cmd);
}

/* imap_done - read to the tagged answer; untagged lines to cb */
static bool
imap_done(struct fconn *c, const char *tag, void (*cb)(void *, const char *),
    void *arg)
{
	bool ok;

	for (;;) {
		if (fconn_line(c) == -1)
			return false;
		if (fetch_imap_tagged(buf_head(&c->line), tag, &ok))
			return ok;
		if (cb != NULL)
			cb(arg, buf_head(&c->line));
	}
}

struct imap_sel {
	uint32_t	 uv;
	uint32_t	*uids;
	size_t		 n, cap;
	bool		 bad;
	bool		 more;		/* over FETCH_LIST_MAX: not all taken */
};

static void
on_select(void *arg, const char *line)
{
	struct imap_sel *sel = arg;

	(void)fetch_imap_uidvalidity(line, &sel->uv);
}

static void
on_search(void *arg, const char *line)
{
	struct imap_sel *sel = arg;

	if (strncasecmp(line, "* SEARCH", 8) != 0)
		return;
	if (sel->n >= FETCH_LIST_MAX)
		sel->more = true;	/* memory stays bounded */
	else if (!fetch_imap_search(line, &sel->uids, &sel->n, &sel->cap))
		sel->bad = true;
}

/* imap_one - UID FETCH uid into the queue */
static enum fetch_res
imap_one(struct fetch_job *j, struct fconn *c, uint32_t uv, uint32_t uid)
{
	char tag[16], cmd[64], once[ONCE_KEY_LEN + 1];
	uint64_t size;
	enum fetch_res r;
	bool ok, got = false;

	snprintf(cmd, sizeof(cmd), "UID FETCH %u (BODY.PEEK[])", uid);
	if (imap_cmd(c, tag, cmd) == -1)
		return FR_TEMP;
	for (;;) {
		if (fconn_line(c) == -1)
			return FR_TEMP;
		if (fetch_imap_tagged(buf_head(&c->line), tag, &ok))
			break;
		if (got || !fetch_imap_literal(buf_head(&c->line), c->line.len,
		    &size))
			continue;
		snprintf(cmd, sizeof(cmd), "imap %u %u", uv, uid);
		fetch_once_key(j, cmd, once);
		if ((r = inject_begin(&j->in, once, j->run_dir, j->a->local)) !=
		    FR_OK)
			return r;	/* the connection is out of step: stop */
		if (fconn_bytes(c, (size_t)size, inject_data, &j->in) == -1) {
			inject_close(&j->in);	/* no dot: nothing queued */
			return FR_TEMP;
		}
		if ((r = inject_end(&j->in)) != FR_OK)
			return r == FR_PERM ? FR_PERM : FR_TEMP;
		got = true;
	}
	return got && ok ? FR_OK : FR_TEMP;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* imap_store - UID STORE of uids[0..n) in chunks; false on failure */
static bool
imap_store(struct fconn *c, const uint32_t *uids, size_t n, const char *what)
{
	struct buf set;
	char tag[16];
	size_t i, k;
	bool ok = true;

	buf_init(&set, 0);
	for (i = 0; i < n && ok; i += k) {
		buf_reset(&set);
		for (k = 0; k < 500 && i + k < n; k++)
			buf_printf(&set, "%s%u", k ? "," : "", uids[i + k]);
		snprintf(tag, sizeof(tag), "f%u", ++tagno);
		ok = fconn_printf(c, "%s UID STORE %s +FLAGS.SILENT (%s)\r\n",
		    tag, buf_head(&set), what) == 0 && imap_done(c, tag, NULL,
		    NULL);
	}
	buf_free(&set);
	return ok;
}

/*
 * imap_expunge - delete mode: every message up to `last` (what the state
 * holds as queued) leaves the remote, except those the queue refused
 * (marked $FacteurRefused, left for the user).
 */
static void
imap_expunge(struct fetch_job *j, struct fconn *c, uint32_t last)
{
	struct imap_sel del;
	char tag[16], cmd[96];

	memset(&del, 0, sizeof(del));
	snprintf(cmd, sizeof(cmd), "UID SEARCH UID 1:%u NOT KEYWORD "
	    "$FacteurRefused", last);
	if (imap_cmd(c, tag, cmd) == -1 || !imap_done(c, tag, on_search, &del) ||
	    del.bad || !imap_store(c, del.uids, del.n, "\\Deleted") ||
	    (del.n > 0 && (imap_cmd(c, tag, "EXPUNGE") == -1 ||
	    !imap_done(c, tag, NULL, NULL))))
		log_warnx("fetch: account=%s delete failed, next poll retries",
		    j->a->name);
	else
		j->deleted += del.n;
	free(del.uids);
}

void
fetch_imap(struct fetch_job *j)
{
	struct fconn c;
	struct imap_sel sel;
	char tag[16], why[512], q[2100], cmd[2200];
	uint32_t uv = 0, last = 0;
	bool known;
	size_t i;
	enum fetch_res r;

	memset(&sel, 0, sizeof(sel));
	known = fetch_state_imap(j, &uv, &last);
	if (fconn_tls(&c, j->a, why, sizeof(why)) == -1) {
		log_warnx("fetch: account=%s %s; nothing fetched", j->a->name, why);
		fconn_close(&c);
		return;
	}
	if (fconn_line(&c) == -1 || strncasecmp(buf_head(&c.line), "* OK", 4)) {
		log_warnx("fetch: account=%s no IMAP greeting", j->a->name);
		goto done;
	}
	snprintf(tag, sizeof(tag), "f%u", ++tagno);
	if (!fetch_imap_quote(j->a->login, q, sizeof(q)) ||
	    fconn_printf(&c, "%s LOGIN %s ", tag, q) == -1 ||
	    !fetch_imap_quote(j->password, q, sizeof(q)) ||
	    fconn_printf(&c, "%s\r\n", q) == -1 ||
	    !imap_done(&c, tag, NULL, NULL)) {
		wipe(q, sizeof(q));
		log_warnx("fetch: account=%s login refused: %s", j->a->name,
		    c.line.len ? buf_head(&c.line) : "no answer");
		goto done;
	}
	wipe(q, sizeof(q));
	if (!fetch_imap_quote(j->a->folder, q, sizeof(q)) ||
	    !bsnprintf(cmd, sizeof(cmd), "SELECT %s", q) ||
	    imap_cmd(&c, tag, cmd) == -1 ||
	    !imap_done(&c, tag, on_select, &sel) || sel.uv == 0) {
		log_warnx("fetch: account=%s cannot select %s", j->a->name,
		    j->a->folder);
		goto done;
	}
	if (known && sel.uv != uv) {
		log_warnx("fetch: account=%s UIDVALIDITY changed (%u -> %u): "
		    "fetching the folder again", j->a->name, uv, sel.uv);
		last = 0;
	}
	if (!known || sel.uv != uv) {
		if (fetch_state_imap_save(j, sel.uv, last) == -1)
			goto done;
	}
	uv = sel.uv;
	if (imap_cmd(&c, tag, "UID SEARCH ALL") == -1 ||
	    !imap_done(&c, tag, on_search, &sel) || sel.bad) {
		log_warnx("fetch: account=%s UID SEARCH failed", j->a->name);
		goto done;
	}
	if (sel.more)
		log_warnx("fetch: account=%s more than %d messages listed: "
		    "%zu taken now, the rest at later polls", j->a->name,
		    FETCH_LIST_MAX, sel.n);
	if (sel.n > 1)
		qsort(sel.uids, sel.n, sizeof(*sel.uids), cmp_u32);
	for (i = 0; i < sel.n; i++) {
		if (sel.uids[i] <= last)
			continue;
		r = imap_one(j, &c, uv, sel.uids[i]);
		if (r == FR_TEMP) {
			fetch_release();
			log_warnx("fetch: account=%s uid=%u not fetched: %s",
			    j->a->name, sel.uids[i], j->in.why[0] ? j->in.why :
			    "connection lost");
			break;
		}
		if (r == FR_PERM) {
			/* refused for good (too big...): left for the user */
			log_warnx("fetch: account=%s uid=%u refused: %s; left "
			    "on the server", j->a->name, sel.uids[i], j->in.why);
			if (!imap_store(&c, &sel.uids[i], 1, "$FacteurRefused"))
				break;
			j->failed++;
		} else
			j->fetched++;
		last = sel.uids[i];
		if (fetch_state_imap_save(j, uv, last) == -1) {
			fetch_release();
			break;
		}
		fetch_release();
	}
	if (!j->a->keep && last > 0)
		imap_expunge(j, &c, last);
	(void)imap_cmd(&c, tag, "LOGOUT");
done:
	free(sel.uids);
	fconn_close(&c);
}

/* ---- POP3 -------------------------------------------------------------- */

static bool
pop3_ok(struct fconn *c)
{
	return fconn_line(c) == 0 && fetch_pop3_ok(buf_head(&c->line));
}

struct pop3_ent {
	uint32_t	 n;
	char		 id[71];
	char		 size[71];	/* from LIST; "?" if not listed */
	bool		 dup;		/* its UIDL is listed more than once */
};

/* pop3_retr_sink - RETR lines, un-stuffed, into the injector */
static enum fetch_res
pop3_retr(struct fetch_job *j, struct fconn *c, const struct pop3_ent *e)
{
	char what[160], once[ONCE_KEY_LEN + 1];
	uint32_t n = e->n;
	const char *p;
	size_t len;
	enum fetch_res r;

	if (fconn_printf(c, "RETR %u\r\n", n) == -1 || !pop3_ok(c))
		return FR_TEMP;
	snprintf(what, sizeof(what), "pop3 %s %s", e->id, e->size);
	fetch_once_key(j, what, once);
	if ((r = inject_begin(&j->in, once, j->run_dir, j->a->local)) != FR_OK)
		return r;
	for (;;) {
		if (fconn_line(c) == -1) {
			inject_close(&j->in);
			return FR_TEMP;
		}
		if (!fetch_pop3_unstuff(buf_head(&c->line), c->line.len, &p,
		    &len))
			break;
		if (inject_data(&j->in, p, len) == -1 ||
		    inject_data(&j->in, "\n", 1) == -1) {
			inject_close(&j->in);
			return FR_TEMP;
		}
	}
	return inject_end(&j->in);
}

static int
cmp_ent(const void *a, const void *b)
{
	const struct pop3_ent *x = *(struct pop3_ent *const *)a;
	const struct pop3_ent *y = *(struct pop3_ent *const *)b;

	return strcmp(x->id, y->id);
}

/* pop3_dups - mark every entry whose UIDL another entry has too */
static void
pop3_dups(struct pop3_ent *v, size_t n)
{
	struct pop3_ent **p;
	size_t i;

	if (n < 2)
		return;
	p = xcalloc(n, sizeof(*p));
	for (i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof(*p), cmp_ent);
	for (i = 1; i < n; i++)
		if (strcmp(p[i - 1]->id, p[i]->id) == 0)
			p[i - 1]->dup = p[i]->dup = true;
	free(p);
}

/* pop3_sizes - LIST into v[].size; false if the server cannot */
static bool
pop3_sizes(struct fconn *c, struct pop3_ent *v, size_t n)
{
	char size[71];
	uint32_t k;
	size_t i = 0;

	if (fconn_printf(c, "LIST\r\n") == -1 || !pop3_ok(c))
		return false;
	for (;;) {
		if (fconn_line(c) == -1)
			return false;
		if (strcmp(buf_head(&c->line), ".") == 0)
			return true;
		/* "n size": the UIDL parser takes it (size as the id) */
		if (!fetch_pop3_uidl(buf_head(&c->line), &k, size, sizeof(size)))
			continue;
		/* both listings are in message order: a forward search */
		for (; i < n && v[i].n < k; i++)
			;
		if (i < n && v[i].n == k)
			memcpy(v[i].size, size, sizeof(size));
	}
}

/* id_state - 0: new, 1: queued already, 2: refused by the queue ("!ID") */
static int
id_state(char **ids, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(ids[i], id) == 0)
			return 1;
		if (ids[i][0] == '!' && strcmp(ids[i] + 1, id) == 0)
			return 2;
	}
	return 0;
}

/* keep_add - remember what the state must keep (refused: "!ID") */
static void
keep_add(char **keep, size_t *n, const char *id, bool refused)
{
	size_t len = strlen(id) + 2;

	keep[*n] = xmalloc(len);
	(void)bsnprintf(keep[*n], len, "%s%s", refused ? "!" : "", id);
	(*n)++;
}

void
fetch_pop3(struct fetch_job *j)
{
	struct fconn c;
	struct pop3_ent *v = NULL;
	char why[512], **ids, **keep = NULL;
	size_t nids, n = 0, cap = 0, i, nkeep = 0;
	enum fetch_res r;
	bool ok = true, more = false;
	int st;

	ids = fetch_state_pop3(j, &nids);
	if (fconn_tls(&c, j->a, why, sizeof(why)) == -1) {
		log_warnx("fetch: account=%s %s; nothing fetched", j->a->name, why);
		fconn_close(&c);
		goto out;
	}
	if (!pop3_ok(&c) ||
	    fconn_printf(&c, "USER %s\r\n", j->a->login) == -1 || !pop3_ok(&c) ||
	    fconn_printf(&c, "PASS %s\r\n", j->password) == -1 || !pop3_ok(&c)) {
		log_warnx("fetch: account=%s login refused: %s", j->a->name,
		    c.line.len ? buf_head(&c.line) : "no answer");
		goto done;
	}
	if (fconn_printf(&c, "UIDL\r\n") == -1 || !pop3_ok(&c))
		goto done;
	for (;;) {
		if (fconn_line(&c) == -1)
			goto done;
		if (strcmp(buf_head(&c.line), ".") == 0)
			break;
		if (n == FETCH_LIST_MAX) {
			more = true;	/* memory stays bounded */
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].size[0] = '?';
		if (fetch_pop3_uidl(buf_head(&c.line), &v[n].n, v[n].id,
		    sizeof(v[n].id)))
			n++;
	}
	if (more)
		log_warnx("fetch: account=%s more than %d messages listed: "
		    "%zu taken now, the rest at later polls", j->a->name,
		    FETCH_LIST_MAX, n);
	if (!pop3_sizes(&c, v, n))
		goto done;
	pop3_dups(v, n);
	keep = xcalloc(n + 1, sizeof(*keep));
	for (i = 0; i < n && ok; i++) {
		st = id_state(ids, nids, v[i].id);
		if (v[i].dup) {
			/* which of them would the state's record be? neither
			 * is fetched nor deleted; the record stays as it is */
			log_warnx("fetch: account=%s message %u: UIDL %s listed "
			    "twice: left on the server", j->a->name, v[i].n,
			    v[i].id);
			if (st != 0)
				keep_add(keep, &nkeep, v[i].id, st == 2);
			continue;
		}
		if (st == 2) {
			keep_add(keep, &nkeep, v[i].id, true);	/* never deleted */
			continue;
		}
		if (st == 0) {
			r = pop3_retr(j, &c, &v[i]);
			if (r == FR_TEMP) {
				fetch_release();
				log_warnx("fetch: account=%s message %s not "
				    "fetched: %s", j->a->name, v[i].id,
				    j->in.why[0] ? j->in.why : "connection lost");
				break;
			}
			if (r == FR_PERM) {
				/* refused for good: left for the user */
				log_warnx("fetch: account=%s message %s refused: "
				    "%s; left on the server", j->a->name,
				    v[i].id, j->in.why);
				keep_add(keep, &nkeep, v[i].id, true);
			}
			if (fetch_state_pop3_add(j, r == FR_PERM ?
			    keep[nkeep - 1] : v[i].id) == -1) {
				fetch_release();
				break;
			}
			fetch_release();
			if (r == FR_PERM) {
				j->failed++;
				continue;
			}
			j->fetched++;
		}
		if (j->a->keep) {
			keep_add(keep, &nkeep, v[i].id, false);
			continue;
		}
		/* recorded as queued: it may go (applied at QUIT) */
		if (fconn_printf(&c, "DELE %u\r\n", v[i].n) == -1 || !pop3_ok(&c))
			ok = false;
		else
			j->deleted++;
	}
	if (fconn_printf(&c, "QUIT\r\n") == -1 || !pop3_ok(&c))
		j->deleted = 0;
	else if (i == n)
		/* what the server still has is all the state must remember */
		(void)fetch_state_pop3_save(j, keep, nkeep);
done:
	fconn_close(&c);
out:
	for (i = 0; i < nkeep; i++)
		free(keep[i]);
	free(keep);
	free(v);
	for (i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
}
