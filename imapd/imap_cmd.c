/* SPDX-License-Identifier: ISC */
/*
 * imap_cmd.c - IMAP commands of the authenticated and selected states:
 * mailboxes (SELECT LIST STATUS CREATE ...), APPEND, STORE, COPY, MOVE,
 * EXPUNGE, SEARCH (RFC 3501 6.3-6.4, RFC 4315 UIDPLUS, RFC 6851 MOVE,
 * RFC 6154 SPECIAL-USE); FETCH is in imap_fetch.c.
 *
 * Runs in a worker process, as `user`, chrooted into the one user's
 * Maildir when imapd was started as root; every path is built from
 * s->root by cmd_mailbox_dir()/store_folder_path(), which refuse names
 * that could leave it.  Peer errors answer BAD or NO;
 * disk errors answer NO and are logged.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "imapd.h"
#include "imap_mutf7.h"
#include "log.h"
#include "nospace.h"
#include "strnum.h"
#include "xmem.h"

#define SYS_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
#define MAX_KW_ARGS 64

const char *
cmd_arg_str(const struct imap_arg *a)
{
	if (!imap_arg_astring(a) || memchr(a->s, '\0', a->len) != NULL)
		return NULL;
	return a->s;
}

bool
cmd_mailbox_dir(struct imap_session *s, const struct imap_arg *a, char *dir,
    size_t dirsz, char *name)
{
	const char *arg = cmd_arg_str(a);

	if (arg == NULL) {
		session_tagged(s, "BAD mailbox name expected");
		return false;
	}
	if (!name_in(s, arg, name, MBOX_NAME_SZ) ||
	    !store_folder_path(s->root, name, dir, dirsz)) {
		session_tagged(s, "NO [CANNOT] invalid mailbox name");
		return false;
	}
	return true;
}

/* ---- SELECT / EXAMINE ---- */

/* cmd_put_flag_lists - "* FLAGS (...)" and PERMANENTFLAGS with keywords */
void
cmd_put_flag_lists(struct imap_session *s)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "* FLAGS (" SYS_FLAGS);
	store_kw_put(s->f, &b);
	buf_puts(&b, ")\r\n* OK [PERMANENTFLAGS (");
	if (!s->readonly) {
		buf_puts(&b, SYS_FLAGS);
		store_kw_put(s->f, &b);
		if (!store_kw_full(s->f))
			buf_puts(&b, " \\*");
	}
	buf_puts(&b, ")] flags\r\n");
	session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	s->seen_kw_gen = s->f->kw_gen;
}

void
cmd_select(struct imap_session *s, const struct imap_cmd *c, bool ro)
{
	char dir[PATH_MAX], name[MBOX_NAME_SZ];
	struct store_folder *f;
	struct qresync_args *q;
	size_t i, unseen = 0;

	if (s->f) {
		session_unselect(s);
		/* RFC 7162 3.2.11: the old mailbox's responses end here */
		session_reply(s, "* OK [CLOSED] previous mailbox closed");
	}
	if (c->args == NULL) {
		session_tagged(s, "BAD %s mailbox", c->name);
		return;
	}
	if (!condstore_select_args(s, c->args->next, &q))
		return;
	if (!cmd_mailbox_dir(s, c->args, dir, sizeof(dir), name)) {
		qresync_args_free(&q);
		return;
	}
	if ((f = store_folder_open(dir)) == NULL) {
		qresync_args_free(&q);
		session_tagged(s, "NO [NONEXISTENT] no such mailbox");
		return;
	}
	s->f = f;
	s->fname = xstrdup(name);
	s->readonly = ro;
	s->state = SS_SELECTED;
	s->capview = f->n ? f->n : 16;
	s->view = xreallocarray(NULL, s->capview, sizeof(*s->view));
	for (i = 0; i < f->n; i++) {
		s->view[i] = f->v[i].uid;
		if (!unseen && !(f->v[i].flags & MF_SEEN))
			unseen = i + 1;
		session_claim_recent(s, &f->v[i]);
	}
	s->nview = f->n;
	s->seen_modseq = f->modseq;
	cmd_put_flag_lists(s);
	session_reply(s, "* %zu EXISTS", s->nview);
	s->told_recent = s->nrecent;
	if (s->rev2)	/* RFC 9051 6.3.2: LIST; no RECENT, no UNSEEN */
		list_selected(s, cmd_arg_str(c->args), name);
	else {
		session_reply(s, "* %zu RECENT", s->nrecent);
		if (unseen)
			session_reply(s, "* OK [UNSEEN %zu] first unseen",
			    unseen);
	}
	session_reply(s, "* OK [UIDVALIDITY %u] UIDs valid", f->uidvalidity);
	session_reply(s, "* OK [UIDNEXT %u] predicted next UID", f->uidnext);
	condstore_select_end(s, q);
	session_tagged(s, "OK [%s] %s completed",
	    ro ? "READ-ONLY" : "READ-WRITE", c->name);
}

/* ---- STATUS ---- */

bool
cmd_status_items_ok(const struct imap_arg *items)
{
	const struct imap_arg *it;

	if (items == NULL || items->type != IMAP_ARG_LIST)
		return false;
	for (it = items->child; it; it = it->next)
		if (!imap_arg_is(it, "MESSAGES") && !imap_arg_is(it, "RECENT") &&
		    !imap_arg_is(it, "UIDNEXT") && !imap_arg_is(it, "UIDVALIDITY") &&
		    !imap_arg_is(it, "UNSEEN") && !imap_arg_is(it, "SIZE") &&
		    !imap_arg_is(it, "DELETED") &&
		    !imap_arg_is(it, "APPENDLIMIT") &&
		    !imap_arg_is(it, "HIGHESTMODSEQ"))
			return false;
	return true;
}

bool
cmd_status_put(struct imap_session *s, const char *name, const char *dir,
    const struct imap_arg *items)
{
	const struct imap_arg *it;
	struct store_folder *f;
	struct buf b;
	size_t i, unseen = 0, recent = 0, deleted = 0;
	uint64_t size = 0;
	bool want_size = false;

	if ((f = store_folder_open(dir)) == NULL)
		return false;
	for (it = items->child; it; it = it->next)
		if (imap_arg_is(it, "SIZE"))
			want_size = true;
	for (i = 0; i < f->n; i++) {
		if (!(f->v[i].flags & MF_SEEN))
			unseen++;
		if (f->v[i].flags & MF_RECENT)
			recent++;
		if (f->v[i].flags & MF_DELETED)
			deleted++;
		/* RFC 8438, RFC 9051 6.3.11: the sum of RFC822.SIZE */
		if (want_size)
			size += store_msg_size(f, i, NULL, 0);
	}
	buf_init(&b, 0);
	buf_puts(&b, "* STATUS ");
	imap_put_mailbox(&b, name, s->rev2);
	buf_puts(&b, " (");
	for (it = items->child; it; it = it->next) {
		if (it != items->child)
			buf_puts(&b, " ");
		if (imap_arg_is(it, "MESSAGES"))
			buf_printf(&b, "MESSAGES %zu", f->n);
		else if (imap_arg_is(it, "RECENT"))
			buf_printf(&b, "RECENT %zu", recent);
		else if (imap_arg_is(it, "UIDNEXT"))
			buf_printf(&b, "UIDNEXT %u", f->uidnext);
		else if (imap_arg_is(it, "UIDVALIDITY"))
			buf_printf(&b, "UIDVALIDITY %u", f->uidvalidity);
		else if (imap_arg_is(it, "DELETED"))
			buf_printf(&b, "DELETED %zu", deleted);
		else if (imap_arg_is(it, "SIZE"))
			buf_printf(&b, "SIZE %llu", (unsigned long long)size);
		else if (imap_arg_is(it, "APPENDLIMIT"))	/* RFC 7889 */
			buf_printf(&b, "APPENDLIMIT %llu", (unsigned long long)
			    imapd.conf->imap.max_literal);
		else if (imap_arg_is(it, "HIGHESTMODSEQ")) {
			/* RFC 7162 3.1.8, a CONDSTORE enabling item */
			buf_printf(&b, "HIGHESTMODSEQ %llu",
			    (unsigned long long)f->modseq);
			condstore_on(s);
		} else
			buf_printf(&b, "UNSEEN %zu", unseen);
	}
	buf_puts(&b, ")\r\n");
	session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	store_folder_close(&f);
	return true;
}

void
cmd_status(struct imap_session *s, const struct imap_cmd *c)
{
	char dir[PATH_MAX], name[MBOX_NAME_SZ];

	if (c->args == NULL || c->args->next == NULL ||
	    c->args->next->type != IMAP_ARG_LIST || c->args->next->next) {
		session_tagged(s, "BAD STATUS mailbox (items)");
		return;
	}
	if (!cmd_status_items_ok(c->args->next)) {
		session_tagged(s, "BAD unknown status item");
		return;
	}
	if (!cmd_mailbox_dir(s, c->args, dir, sizeof(dir), name))
		return;
	/* the name as the client wrote it */
	if (!cmd_status_put(s, cmd_arg_str(c->args), dir, c->args->next)) {
		session_tagged(s, "NO [NONEXISTENT] no such mailbox");
		return;
	}
	session_tagged(s, "OK STATUS completed");
}

/* ---- CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE ---- */

/* new_name_ok - a name CREATE or RENAME may give: an IMAP4rev1 client's
 * must be modified UTF-7 (RFC 3501 5.1.3), as Dovecot wants it too */
static bool
new_name_ok(struct imap_session *s, const char *nm)
{
	char u[MBOX_OUT_SZ];

	if (s->rev2 || mutf7_to_utf8(nm, u, sizeof(u)))
		return true;
	session_tagged(s, "NO [CANNOT] mailbox name is not valid modified "
	    "UTF-7");
	return false;
}

void
cmd_mailbox(struct imap_session *s, const struct imap_cmd *c)
{
	char dir[PATH_MAX], dir2[PATH_MAX], strip[STORE_NAME_MAX + 2];
	char nm[MBOX_NAME_SZ], to[MBOX_NAME_SZ];
	struct imap_arg one;
	size_t n;
	int r;

	if (c->args == NULL) {
		session_tagged(s, "BAD mailbox name expected");
		return;
	}
	one = *c->args;
	if (strcasecmp(c->name, "CREATE") == 0 && imap_arg_astring(&one) &&
	    one.len > 1 && one.len < sizeof(strip) &&
	    one.s[one.len - 1] == '.') {
		/* a trailing separator only says "will have children"
		 * (RFC 3501 6.3.3): the name is the one without it */
		memcpy(strip, one.s, one.len - 1);
		strip[one.len - 1] = '\0';
		one.s = strip;
		one.len--;
	}
	if (!cmd_mailbox_dir(s, &one, dir, sizeof(dir), nm))
		return;
	n = strlen(nm);
	if (strcasecmp(c->name, "CREATE") == 0) {
		if (!new_name_ok(s, nm))
			return;
		r = store_create(s->root, nm);
		if (r == -1 && errno == EEXIST) {
			session_tagged(s, "NO [ALREADYEXISTS] mailbox exists");
			return;
		}
		/* not subscribed: clients that want it SUBSCRIBE (as on
		 * Dovecot; imaptest's subscribe script relies on it) */
	} else if (strcasecmp(c->name, "DELETE") == 0) {
		if (s->f && s->fname && strcmp(s->fname, nm) == 0)
			session_unselect(s);
		/* the subscription stays (RFC 3501 6.3.6, 6.3.9; as
		 * Dovecot): LSUB and LIST (SUBSCRIBED) show it \NonExistent */
		r = store_delete(s->root, nm);
	} else if (strcasecmp(c->name, "RENAME") == 0) {
		if (!cmd_mailbox_dir(s, c->args->next, dir2, sizeof(dir2), to) ||
		    !new_name_ok(s, to))
			return;
		if (strncmp(to, nm, n) == 0 && to[n] == '.') {
			session_tagged(s, "NO [CANNOT] cannot move a mailbox "
			    "into itself");
			return;
		}
		r = store_rename(s->root, nm, to);
		if (r == -1 && errno == EEXIST) {
			session_tagged(s, "NO [ALREADYEXISTS] %s exists", to);
			return;
		}
		if (r == 0 && store_subscribed(s->root, nm)) {
			(void)store_subscribe(s->root, nm, false);
			(void)store_subscribe(s->root, to, true);
		}
	} else
		r = store_subscribe(s->root, nm,
		    strcasecmp(c->name, "SUBSCRIBE") == 0);
	if (r == -1 && errno == ENOENT)
		session_tagged(s, "NO [NONEXISTENT] %s failed: no such mailbox",
		    c->name);
	else if (r == -1)
		session_tagged(s, "NO %s failed: %s", c->name, strerror(errno));
	else
		session_tagged(s, "OK %s completed", c->name);
}

/* ---- flags and dates ---- */

/* the flags of a STORE or APPEND: system bits and keyword names */
struct flag_args {
	uint8_t		 sys;
	const char	*kw[MAX_KW_ARGS];
	size_t		 nkw;
};

/*
 * parse_flags - a flag list or a single flag into fl (added to what is
 * there).  False on a bad flag: an unknown system flag, a keyword that is
 * not an atom, too many.  \Recent is accepted and ignored (RFC 3501
 * 2.3.2: clients cannot set it).
 */
static bool
parse_flags(const struct imap_arg *a, struct flag_args *fl)
{
	static const struct {
		const char *n;
		uint8_t f;
	} names[] = {
		{ "\\Seen", MF_SEEN }, { "\\Answered", MF_ANSWERED },
		{ "\\Flagged", MF_FLAGGED }, { "\\Deleted", MF_DELETED },
		{ "\\Draft", MF_DRAFT }, { "\\Recent", 0 },
	};
	const struct imap_arg *f = a->type == IMAP_ARG_LIST ? a->child : a;
	size_t i;

	for (; f; f = f->next) {
		if (f->type != IMAP_ARG_ATOM || f->section)
			return false;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcasecmp(f->s, names[i].n) == 0)
				break;
		if (i < sizeof(names) / sizeof(names[0]))
			fl->sys |= names[i].f;
		else if (!store_kw_valid(f->s) || fl->nkw == MAX_KW_ARGS)
			return false;
		else
			fl->kw[fl->nkw++] = f->s;
		if (a->type != IMAP_ARG_LIST)
			break;
	}
	return true;
}

/* kw_bits - the keyword names as bits of f, new ones defined where there
 * is room.  False when one finds none (26 per folder; *err_r 0) or
 * cannot be recorded (*err_r: the errno, ENOSPC on a full disk); *kw_r
 * holds the others. */
static bool
kw_bits(struct store_folder *f, const struct flag_args *fl, uint32_t *kw_r,
    int *err_r)
{
	size_t i;
	uint32_t bit;
	bool room = true;

	*kw_r = 0;
	*err_r = 0;
	for (i = 0; i < fl->nkw; i++) {
		if ((bit = store_kw_bit(f, fl->kw[i], true)) == 0) {
			room = false;
			if (errno != 0)
				*err_r = errno;
		}
		*kw_r |= bit;
	}
	return room;
}

/* kw_refused - the tagged NO when kw_bits() found no room for a keyword */
static void
kw_refused(struct imap_session *s, int err, const char *name)
{
	if (errno_nospace(err))
		session_tagged(s, "NO [OVERQUOTA] Not enough disk space");
	else if (err != 0)
		session_tagged(s, "NO [SERVERBUG] cannot record a keyword");
	else if (name != NULL)
		session_tagged(s, "NO [LIMIT] too many keywords in %s", name);
	else
		session_tagged(s, "NO [LIMIT] no room for another keyword");
}

static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 3501 date-time) */
static bool
parse_datetime(const char *s, time_t *t_r)
{
	int d, y, h, mi, se, z;
	char mon[4], sign;
	struct tm tm;
	int i, n = 0;

	if (*s == ' ')
		s++;
	if (sscanf(s, "%2d-%3c-%4d %2d:%2d:%2d %c%4d%n", &d, mon, &y, &h, &mi,
	    &se, &sign, &z, &n) != 8 || s[n] != '\0' ||
	    (sign != '+' && sign != '-'))
		return false;
	mon[3] = '\0';
	memset(&tm, 0, sizeof(tm));
	for (i = 0; i < 12; i++)
		if (strcasecmp(mon, months[i]) == 0)
			break;
	if (i == 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
	    y < 1900)
		return false;
	tm.tm_mday = d;
	tm.tm_mon = i;
	tm.tm_year = y - 1900;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*t_r = timegm(&tm) - (sign == '+' ? 1 : -1) *
	    ((z / 100) * 3600 + (z % 100) * 60);
	return true;
}

/* ---- APPEND ---- */

/* one message of an APPEND (RFC 3502 MULTIAPPEND: one or more) */
struct append_msg {
	struct flag_args fl;
	time_t		 when;
	const struct imap_arg *lit;	/* NULL: CATENATE, built in cat */
	struct buf	 cat;
	uint32_t	 kw;
};

#define APPEND_MAX_MSGS	1000


/* append_parse - "[flags] [date] literal" groups into *v; BAD on error */
static bool
append_parse(struct imap_session *s, const struct imap_arg *a,
    struct append_msg **v, size_t *n)
{
	struct append_msg *m;

	*v = NULL;
	*n = 0;
	while (a != NULL) {
		if (*n == APPEND_MAX_MSGS) {
			session_tagged(s, "BAD too many messages");
			return false;
		}
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		m = &(*v)[(*n)++];
		memset(m, 0, sizeof(*m));
		m->when = time(NULL);
		if (a->type == IMAP_ARG_LIST) {
			if (!parse_flags(a, &m->fl)) {
				session_tagged(s, "BAD bad flags");
				return false;
			}
			a = a->next;
		}
		if (a && a->type == IMAP_ARG_STRING && a->next) {
			if (!parse_datetime(a->s, &m->when)) {
				session_tagged(s, "BAD bad date-time");
				return false;
			}
			a = a->next;
		}
		buf_init(&m->cat, imapd.conf->imap.max_literal);
		if (imap_arg_is(a, "CATENATE") && a->next &&
		    a->next->type == IMAP_ARG_LIST) {
			/* RFC 4469: text and parts of stored messages */
			if (!cat_build(s, a->next->child, &m->cat))
				return false;
			a = a->next->next;
			continue;
		}
		if (a == NULL || a->type != IMAP_ARG_LITERAL) {
			session_tagged(s, "BAD message literal expected");
			return false;
		}
		m->lit = a;
		a = a->next;
	}
	if (*n == 0) {
		session_tagged(s, "BAD APPEND mailbox [flags] [date] message");
		return false;
	}
	return true;
}

/*
 * cmd_store_failed - the tagged NO of an APPEND, COPY or MOVE that failed
 * with e (after the store took back whatever it had put in place).  A
 * full disk (ENOSPC, EDQUOT) is RFC 5530's [OVERQUOTA] with Dovecot's
 * words: not a bug of ours but room the user or the admin must make,
 * which clients show as such ("mailbox full") instead of retrying.
 */
static void
cmd_store_failed(struct imap_session *s, int e, const char *what)
{
	if (errno_nospace(e))
		session_tagged(s, "NO [OVERQUOTA] Not enough disk space");
	else
		session_tagged(s, "NO [SERVERBUG] %s", what);
}

/*
 * append_binary - a message sent as literal8 (RFC 3516 4.4): its binary
 * parts become base64 first, since the store keeps text with LF line
 * ends (BINARY[] gives the bytes back)
 */
static int
append_binary(struct store_folder *t, const struct append_msg *m,
    uint32_t *uid_r)
{
	struct buf enc;
	int r;

	buf_init(&enc, 0);
	if (!mime_binary_encode(m->lit->s, m->lit->len, &enc))
		r = store_deliver(t, m->lit->s, m->lit->len, m->fl.sys, m->kw,
		    m->when, uid_r);
	else
		r = store_deliver(t, buf_head(&enc), enc.len, m->fl.sys,
		    m->kw, m->when, uid_r);
	buf_free(&enc);
	return r;
}

/*
 * cmd_append - APPEND with one message or several (MULTIAPPEND): all of
 * them or none (RFC 3502 6.3.11): the ones stored before a failure are
 * expunged again.
 */
void
cmd_append(struct imap_session *s, const struct imap_cmd *c)
{
	char dir[PATH_MAX], name[MBOX_NAME_SZ];
	struct append_msg *v = NULL;
	struct store_folder *t = NULL;
	struct uidset uids;
	uint32_t uid, *got = NULL;
	size_t n = 0, i, k;
	ssize_t fi;
	int r = 0, kerr;

	uidset_init(&uids);
	if (c->args == NULL || c->args->next == NULL) {
		session_tagged(s, "BAD APPEND mailbox [flags] [date] message");
		goto done;
	}
	/* the target first: TRYCREATE before a CATENATE URL is read */
	if (!cmd_mailbox_dir(s, c->args, dir, sizeof(dir), name))
		goto done;
	if ((t = store_folder_open(dir)) == NULL) {
		session_tagged(s, "NO [TRYCREATE] no such mailbox");
		goto done;
	}
	if (!append_parse(s, c->args->next, &v, &n))
		goto done;
	for (i = 0; i < n; i++)
		if (!kw_bits(t, &v[i].fl, &v[i].kw, &kerr)) {
			kw_refused(s, kerr, name);
			goto done;
		}
	got = xreallocarray(NULL, n, sizeof(*got));
	for (i = 0; i < n && r == 0; i++) {
		if (v[i].lit == NULL)
			r = store_deliver(t, buf_head(&v[i].cat) ? buf_head(
			    &v[i].cat) : "", v[i].cat.len, v[i].fl.sys, v[i].kw,
			    v[i].when, &uid);
		else if (v[i].lit->spooled)
			r = s->spool == NULL ? -1 : store_spool_deliver(s->spool,
			    t, v[i].fl.sys, v[i].kw, v[i].when, &uid);
		else if (v[i].lit->literal8)
			r = append_binary(t, &v[i], &uid);
		else
			r = store_deliver(t, v[i].lit->s, v[i].lit->len,
			    v[i].fl.sys, v[i].kw, v[i].when, &uid);
		if (r == 0) {
			got[i] = uid;
			uidset_add(&uids, uid);
		}
	}
	if (r == -1) {
		int e = errno;

		log_warn("session=%08x user=%s append to %s", s->id, s->user, dir);
		/* all or nothing: take back what was stored */
		for (k = 0; k + 1 < i; k++)
			if ((fi = store_find(t, got[k])) >= 0)
				(void)store_expunge(t, (size_t)fi);
		cmd_store_failed(s, e, "cannot store message");
		goto done;
	}
	session_tagged(s, "OK [APPENDUID %u %s] APPEND completed",
	    t->uidvalidity, uidset_text(&uids));
done:
	if (t)
		store_folder_close(&t);
	uidset_free(&uids);
	free(got);
	for (i = 0; v && i < n; i++)
		buf_free(&v[i].cat);
	free(v);
}

/* ---- message sets ---- */

bool
cmd_set_next(struct imap_session *s, const struct imap_seqset *set, bool uid,
    size_t *pos, ssize_t *fi)
{
	uint32_t star = uid ? (s->nview ? s->view[s->nview - 1] : 0) :
	    (uint32_t)s->nview;

	for (; *pos < s->nview; (*pos)++) {
		uint32_t key = uid ? s->view[*pos] : (uint32_t)(*pos + 1);

		if (!imap_seqset_has(set, key, star))
			continue;
		*fi = store_find(s->f, s->view[*pos]);
		return true;
	}
	return false;
}

bool
cmd_parse_set(struct imap_session *s, const struct imap_arg *a, bool uid,
    struct imap_seqset *set)
{
	if (a != NULL && a->type == IMAP_ARG_ATOM && !a->section &&
	    strcmp(a->s, "$") == 0) {
		saved_set(s, uid, set);	/* SEARCHRES */
		return true;
	}
	if (a == NULL || a->type != IMAP_ARG_ATOM || a->section ||
	    !imap_seqset_parse(a->s, set)) {
		session_tagged(s, "BAD bad sequence set");
		return false;
	}
	return true;
}

/* ---- EXPUNGE / CLOSE ---- */

void
cmd_expunge(struct imap_session *s, const struct imap_cmd *c,
    const struct imap_arg *uidset, bool silent)
{
	struct imap_seqset set;
	struct store_folder *f = s->f;
	size_t i, j;
	ssize_t fi;
	uint32_t star;
	bool fail = false;
	struct uidset gone;

	if (s->readonly) {
		if (!silent)
			session_tagged(s, "NO [READ-ONLY] mailbox is read-only");
		return;
	}
	if (silent) {
		/* CLOSE: no untagged EXPUNGE, nor anyone else's updates */
		(void)store_sync(f, false);
		for (i = f->n; i-- > 0;)
			if (f->v[i].flags & MF_DELETED)
				(void)store_expunge(f, i);
		return;
	}
	memset(&set, 0, sizeof(set));
	if (uidset && !cmd_parse_set(s, uidset, true, &set))
		return;
	session_updates(s, true);
	uidset_init(&gone);
	star = s->nview ? s->view[s->nview - 1] : 0;
	for (i = 0; i < s->nview; i++) {
		fi = store_find(f, s->view[i]);
		if (fi >= 0 && (f->v[fi].flags & MF_DELETED) &&
		    (!uidset || imap_seqset_has(&set, s->view[i], star)) &&
		    store_expunge(f, (size_t)fi) == -1)
			fail = true;
	}
	/* what left the folder: others' went out with the updates above */
	if (s->ctxs)
		ctx_expunged(s);
	for (i = 0, j = 0; i < s->nview; i++) {
		if (store_find(f, s->view[i]) < 0) {
			if (s->qresync)
				uidset_add(&gone, s->view[i]);
			else
				session_reply(s, "* %zu EXPUNGE", j + 1);
			continue;
		}
		s->view[j++] = s->view[i];
	}
	s->nview = j;
	s->seen_modseq = f->modseq;
	session_vanished(s, &gone, false);
	uidset_free(&gone);
	session_recent_prune(s);
	imap_seqset_free(&set);
	if (fail)
		session_tagged(s, "NO some messages could not be expunged");
	else
		session_tagged(s, "OK EXPUNGE completed");
}

/* ---- STORE ---- */

/* store_parse - "[(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags..." into
 * mode, silent, fl and *unch_r (UINT64_MAX: no condition) */
static bool
store_parse(struct imap_session *s, const struct imap_cmd *c, int *mode_r,
    bool *silent_r, struct flag_args *fl, uint64_t *unch_r)
{
	const struct imap_arg *item = c->args ? c->args->next : NULL;
	const struct imap_arg *a, *m;
	const char *it, *err = NULL;

	*unch_r = UINT64_MAX;
	if (item && item->type == IMAP_ARG_LIST) {
		/* RFC 7162 3.1.3: the only STORE modifier we know */
		m = item->child;
		if (!imap_arg_is(m, "UNCHANGEDSINCE") || m->next == NULL ||
		    m->next->type != IMAP_ARG_ATOM || m->next->next ||
		    ((*unch_r = (uint64_t)strnum(m->next->s, 0, INT64_MAX,
		    &err)), err != NULL)) {
			session_tagged(s, "BAD bad STORE modifier");
			return false;
		}
		item = item->next;
	}
	a = item ? item->next : NULL;
	if (item == NULL || a == NULL || item->type != IMAP_ARG_ATOM ||
	    (a->next && a->type != IMAP_ARG_ATOM)) {
		session_tagged(s, "BAD STORE set item flags");
		return false;
	}
	it = item->s;
	*mode_r = *it == '+' ? 1 : *it == '-' ? -1 : 0;
	if (*mode_r)
		it++;
	*silent_r = strcasecmp(it, "FLAGS.SILENT") == 0;
	if (!*silent_r && strcasecmp(it, "FLAGS") != 0) {
		session_tagged(s, "BAD unknown STORE item");
		return false;
	}
	memset(fl, 0, sizeof(*fl));
	/* "STORE 1 FLAGS \Seen \Deleted" without parentheses too */
	for (; a; a = a->next) {
		if (!parse_flags(a, fl)) {
			session_tagged(s, "BAD bad flags");
			return false;
		}
	}
	return true;
}

/* store_one - message at view index pos (folder index fi, or a ghost)
 * gets the new flags; false when the disk refused */
static bool
store_one(struct imap_session *s, size_t pos, ssize_t fi, int mode,
    const struct flag_args *fl, uint32_t kw, struct store_msg *m)
{
	uint8_t nf;
	uint32_t nkw;

	nf = mode > 0 ? (uint8_t)(m->flags | fl->sys) : mode < 0 ?
	    (uint8_t)(m->flags & ~fl->sys) :
	    (uint8_t)((m->flags & MF_PASSED) | fl->sys);
	nkw = mode > 0 ? m->kw | kw : mode < 0 ? m->kw & ~kw : kw;
	if (fi < 0) {
		/* expunged by another session, not announced here yet: the
		 * client still sees it, with the flags it stores */
		m->flags = nf & MF_FILE;
		m->kw = nkw;
		session_ghost_set(s, m);
		return true;
	}
	if (store_set_flags(s->f, (size_t)fi, nf, nkw, s->id) == -1)
		return false;
	*m = s->f->v[fi];
	return true;
}

void
cmd_store(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	struct imap_seqset set;
	struct flag_args fl;
	struct store_msg m;
	struct uidset modified;
	uint64_t unch;
	uint32_t kw;
	size_t pos = 0;
	ssize_t fi;
	bool silent, fail = false;
	int mode, kerr;
	struct buf b;

	if (!store_parse(s, c, &mode, &silent, &fl, &unch))
		return;
	if (s->readonly) {
		session_tagged(s, "NO [READ-ONLY] mailbox is read-only");
		return;
	}
	/*
	 * Every keyword STORE names is defined, -FLAGS too, as Dovecot does
	 * (clients and imaptest expect it in FLAGS); a removal finding no
	 * room for it has nothing to remove.
	 */
	if (!kw_bits(s->f, &fl, &kw, &kerr) && mode >= 0) {
		kw_refused(s, kerr, NULL);
		return;
	}
	if (!cmd_parse_set(s, c->args, uid, &set))
		return;
	if (unch != UINT64_MAX)
		condstore_on(s);
	if (s->f->kw_gen != s->seen_kw_gen)
		cmd_put_flag_lists(s);	/* a keyword was defined */
	buf_init(&b, 0);
	uidset_init(&modified);
	for (; cmd_set_next(s, &set, uid, &pos, &fi); pos++) {
		(void)session_msg(s, s->view[pos], fi, &m);
		if (m.modseq > unch) {
			/* RFC 7162 3.1.3: changed since, left alone */
			uidset_add(&modified, uid ? m.uid : (uint32_t)pos + 1);
			continue;
		}
		if (!store_one(s, pos, fi, mode, &fl, kw, &m)) {
			fail = true;
			continue;
		}
		if (silent && !s->condstore)
			continue;
		/* with CONDSTORE even .SILENT tells the new MODSEQ */
		buf_printf(&b, "* %zu FETCH (", pos + 1);
		if (uid || s->qresync)
			buf_printf(&b, "UID %u%s", m.uid, silent ? "" : " ");
		if (!silent)
			session_put_flags(s, &b, &m);
		if (s->condstore)
			buf_printf(&b, "%sMODSEQ (%llu)", uid || s->qresync ||
			    !silent ? " " : "", (unsigned long long)m.modseq);
		buf_puts(&b, ")\r\n");
		if (b.len > 65536) {
			store_flush(s->f);
			session_write_buf(s, &b);
		}
	}
	store_flush(s->f);
	session_write_buf(s, &b);
	buf_free(&b);
	imap_seqset_free(&set);
	if (fail)
		session_tagged(s, "NO some flags could not be stored");
	else if (modified.b.len) {
		/* the set can be long: no fixed-size line */
		session_tagged_updates(s);
		buf_init(&b, 0);
		buf_printf(&b, "%s OK [MODIFIED %s] conditional STORE failed\r\n",
		    s->tag, uidset_text(&modified));
		session_write_buf(s, &b);
		buf_free(&b);
	} else
		session_tagged(s, "OK STORE completed");
	uidset_free(&modified);
}

/* ---- COPY / MOVE ---- */

/* the COPYUID line can be long (many UIDs): no fixed-size line here */
static void
put_copyuid(struct imap_session *s, bool tagged, uint32_t uv,
    struct uidset *src, struct uidset *dst, const char *text)
{
	struct buf b;

	if (tagged)
		session_tagged_updates(s);
	buf_init(&b, 0);
	buf_printf(&b, "%s OK [COPYUID %u %s ", tagged ? s->tag : "*", uv,
	    uidset_text(src));
	buf_printf(&b, "%s] %s\r\n", uidset_text(dst), text);
	session_write(s, buf_head(&b), b.len);
	buf_free(&b);
}

/* moved_expunge - EXPUNGE responses for the messages MOVE took away */
static void
moved_expunge(struct imap_session *s)
{
	struct uidset gone;
	size_t i, j;

	if (s->ctxs)
		ctx_expunged(s);
	uidset_init(&gone);
	for (i = 0, j = 0; i < s->nview; i++) {
		if (store_find(s->f, s->view[i]) < 0) {
			if (s->qresync)
				uidset_add(&gone, s->view[i]);
			else
				session_reply(s, "* %zu EXPUNGE", j + 1);
			continue;
		}
		s->view[j++] = s->view[i];
	}
	s->nview = j;
	session_vanished(s, &gone, false);
	uidset_free(&gone);
	session_recent_prune(s);
}

void
cmd_copy(struct imap_session *s, const struct imap_cmd *c, bool uid, bool move)
{
	char dir[PATH_MAX], name[MBOX_NAME_SZ];
	struct imap_seqset set;
	struct store_folder *t;
	struct uidset src, dst;
	uint32_t nuid, suid;
	size_t pos = 0, n = 0;
	ssize_t fi;
	int r, fail = 0;		/* the errno of a failure */

	if (c->args == NULL || c->args->next == NULL || c->args->next->next) {
		session_tagged(s, "BAD %s set mailbox", c->name);
		return;
	}
	if (move && s->readonly) {
		session_tagged(s, "NO [READ-ONLY] mailbox is read-only");
		return;
	}
	if (!cmd_mailbox_dir(s, c->args->next, dir, sizeof(dir), name))
		return;
	if (!cmd_parse_set(s, c->args, uid, &set))
		return;
	if ((t = store_folder_open(dir)) == NULL) {
		session_tagged(s, "NO [TRYCREATE] no such mailbox");
		imap_seqset_free(&set);
		return;
	}
	uidset_init(&src);
	uidset_init(&dst);
	while (cmd_set_next(s, &set, uid, &pos, &fi)) {
		if (fi >= 0) {
			suid = s->f->v[fi].uid;
			r = (move ? store_move : store_copy)(s->f, (size_t)fi, t,
			    store_kw_map(s->f, s->f->v[fi].kw, t), &nuid);
			if (r == -1) {
				fail = errno == 0 ? EIO : errno;
				log_warn("session=%08x %s to %s", s->id, c->name,
				    dir);
				break;
			}
			uidset_add(&src, suid);
			uidset_add(&dst, nuid);
			n++;
		}
		pos++;
	}
	if (move) {
		/* RFC 6851: COPYUID untagged, then the EXPUNGEs */
		if (n)
			put_copyuid(s, false, t->uidvalidity, &src, &dst, "moved");
		moved_expunge(s);
	}
	if (fail)
		cmd_store_failed(s, fail, move ? "MOVE failed" : "COPY failed");
	else if (n && !move)
		put_copyuid(s, true, t->uidvalidity, &src, &dst,
		    "COPY completed");
	else
		session_tagged(s, "OK %s completed", c->name);
	store_folder_close(&t);
	uidset_free(&src);
	uidset_free(&dst);
	imap_seqset_free(&set);
}

/* ---- SEARCH ---- */

#define ESR_MIN		0x1
#define ESR_MAX		0x2
#define ESR_ALL		0x4
#define ESR_COUNT	0x8
#define ESR_SAVE	0x10	/* RFC 5182 SEARCHRES */
#define ESR_UPDATE	0x20	/* RFC 5267 CONTEXT=SEARCH */
#define ESR_PARTIAL	0x40

struct search_opts {
	unsigned	 ret;		/* ESR_*, 0: a plain SEARCH reply */
	uint32_t	 plo, phi;	/* PARTIAL lo:hi */
};

/* search_return - "RETURN (MIN MAX ALL COUNT SAVE UPDATE CONTEXT
 * PARTIAL lo:hi)" (RFC 4731 3.1, RFC 5182 2.1, RFC 5267 4); "()" and
 * UPDATE alone are ALL.  o->ret stays 0 without RETURN. */
static bool
search_return(const struct imap_arg **ap, struct search_opts *o)
{
	const struct imap_arg *a = *ap, *r;

	memset(o, 0, sizeof(*o));
	if (!imap_arg_is(a, "RETURN"))
		return true;
	if (a->next == NULL || a->next->type != IMAP_ARG_LIST)
		return false;
	for (r = a->next->child; r; r = r->next) {
		if (imap_arg_is(r, "MIN"))
			o->ret |= ESR_MIN;
		else if (imap_arg_is(r, "MAX"))
			o->ret |= ESR_MAX;
		else if (imap_arg_is(r, "ALL"))
			o->ret |= ESR_ALL;
		else if (imap_arg_is(r, "COUNT"))
			o->ret |= ESR_COUNT;
		else if (imap_arg_is(r, "SAVE"))
			o->ret |= ESR_SAVE;
		else if (imap_arg_is(r, "UPDATE"))
			o->ret |= ESR_UPDATE;
		else if (imap_arg_is(r, "CONTEXT"))
			;	/* a hint (RFC 5267 4.2) */
		else if (imap_arg_is(r, "PARTIAL") && r->next &&
		    r->next->type == IMAP_ARG_ATOM && !(o->ret & ESR_PARTIAL) &&
		    imap_partial_parse(r->next->s, &o->plo, &o->phi)) {
			o->ret |= ESR_PARTIAL;
			r = r->next;
		} else
			return false;
	}
	if ((o->ret & ~ESR_UPDATE) == 0)
		o->ret |= ESR_ALL;
	*ap = a->next->next;
	return true;
}

/* search_save - the UIDs SAVE keeps: all matches, or with MIN or MAX
 * alone (no ALL, no COUNT) only those (RFC 5182 2.4); takes v */
static void
search_save(struct imap_session *s, unsigned ret, uint32_t *v, size_t n)
{
	ret &= ~(unsigned)(ESR_UPDATE | ESR_PARTIAL);
	if (n && (ret & (ESR_MIN | ESR_MAX)) && !(ret & (ESR_ALL | ESR_COUNT))) {
		if ((ret & ESR_MIN) && (ret & ESR_MAX) && n > 1) {
			v[1] = v[n - 1];
			n = 2;
		} else if (ret & ESR_MAX) {
			v[0] = v[n - 1];
			n = 1;
		} else
			n = 1;
	}
	saved_put(s, v, n);
}

/* what a SEARCH found: ESEARCH's items and RFC 7162's MODSEQ */
struct search_res {
	uint32_t	 min, max;
	uint64_t	 min_ms, max_ms, high_ms;	/* modseqs */
	size_t		 count;
	struct uidset	 all;
};

/* search_res_modseq - the MODSEQ to report: the highest of the messages
 * returned (RFC 7162 3.1.5; with only MIN or MAX, of those) */
static uint64_t
search_res_modseq(const struct search_res *r, unsigned ret)
{
	if ((ret & (ESR_MIN | ESR_MAX)) == 0 || (ret & (ESR_ALL | ESR_COUNT)))
		return r->high_ms;
	if ((ret & ESR_MIN) && (ret & ESR_MAX))
		return r->min_ms > r->max_ms ? r->min_ms : r->max_ms;
	return (ret & ESR_MIN) ? r->min_ms : r->max_ms;
}

/* put_esearch - "* ESEARCH (TAG "t") [UID] MIN MAX ALL COUNT PARTIAL
 * [MODSEQ]"; hits: the view indexes found (for PARTIAL) */
static void
put_esearch(struct imap_session *s, const struct search_opts *o, bool uid,
    struct search_res *r, const uint32_t *hits, bool modseq)
{
	struct buf b;
	struct uidset part;
	unsigned ret = o->ret;
	size_t i;

	buf_init(&b, 0);
	buf_puts(&b, "* ESEARCH (TAG ");
	imap_put_string(&b, s->tag, strlen(s->tag));
	buf_puts(&b, ")");
	if (uid)
		buf_puts(&b, " UID");
	if ((ret & ESR_MIN) && r->count)
		buf_printf(&b, " MIN %u", r->min);
	if ((ret & ESR_MAX) && r->count)
		buf_printf(&b, " MAX %u", r->max);
	if ((ret & ESR_ALL) && r->count)
		buf_printf(&b, " ALL %s", uidset_text(&r->all));
	if (ret & ESR_COUNT)
		buf_printf(&b, " COUNT %zu", r->count);
	if (ret & ESR_PARTIAL) {
		/* RFC 5267 4.4: positions lo..hi of the result */
		uidset_init(&part);
		for (i = o->plo - 1; i < r->count && i < o->phi; i++)
			uidset_add(&part, uid ? s->view[hits[i]] : hits[i] + 1);
		buf_printf(&b, " PARTIAL (%u:%u %s)", o->plo, o->phi,
		    part.b.len ? uidset_text(&part) : "NIL");
		uidset_free(&part);
	}
	if (modseq && r->count)
		buf_printf(&b, " MODSEQ %llu",
		    (unsigned long long)search_res_modseq(r, ret));
	buf_puts(&b, "\r\n");
	session_write(s, buf_head(&b), b.len);
	buf_free(&b);
}

/* search_update - keep the search up to date (CONTEXT=SEARCH), or say
 * why not (RFC 5267 4.5 NOUPDATE); takes *np and hits */
static void
search_update(struct imap_session *s, const struct search_opts *o, bool uid,
    struct search_node **np, uint32_t *hits, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		hits[i] = s->view[hits[i]];
	if ((o->ret & (ESR_MIN | ESR_MAX | ESR_COUNT | ESR_PARTIAL)) == 0 &&
	    ctx_add(s, s->tag, uid, np, hits, n))
		return;
	free(hits);
	session_reply(s, "* NO [NOUPDATE \"%s\"] %s", s->tag,
	    o->ret & (ESR_MIN | ESR_MAX | ESR_COUNT | ESR_PARTIAL) ?
	    "only ALL is kept up to date" : "too many updating searches");
}

void
cmd_search(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	const struct imap_arg *a = c->args;
	struct search_node *n;
	struct search_res r;
	struct search_opts o;
	struct imap_seqset saved;
	const char *err;
	struct buf b;
	uint32_t num, *hits = NULL, *sv;
	uint64_t ms;
	size_t i;
	ssize_t fi;
	bool modseq, keep;

	if (!search_return(&a, &o)) {
		session_tagged(s, "BAD bad RETURN options");
		return;
	}
	if (imap_arg_is(a, "CHARSET")) {
		const char *cs = a->next ? cmd_arg_str(a->next) : NULL;

		if (cs == NULL || (strcasecmp(cs, "UTF-8") != 0 &&
		    strcasecmp(cs, "US-ASCII") != 0)) {
			if (o.ret & ESR_SAVE)	/* RFC 5182 2.1: "$" empty */
				saved_clear(s);
			session_tagged(s, "NO [BADCHARSET (UTF-8 US-ASCII)] "
			    "unsupported charset");
			return;
		}
		a = a->next->next;
	}
	saved_set(s, true, &saved);
	n = search_compile(a, &saved, &err);
	imap_seqset_free(&saved);
	if (n == NULL) {
		if (o.ret & ESR_SAVE)
			saved_clear(s);
		session_tagged(s, "BAD %s", err);
		return;
	}
	if ((modseq = search_has_modseq(n)))
		condstore_on(s);
	/* IMAP4rev2 answers ESEARCH, as RETURN (ALL) (RFC 9051 6.4.4) */
	if (o.ret == 0 && s->rev2)
		o.ret = ESR_ALL;
	keep = (o.ret & (ESR_SAVE | ESR_UPDATE | ESR_PARTIAL)) != 0;
	buf_init(&b, 0);
	memset(&r, 0, sizeof(r));
	uidset_init(&r.all);
	buf_puts(&b, "* SEARCH");
	for (i = 0; i < s->nview; i++) {
		fi = store_find(s->f, s->view[i]);
		if (fi < 0)
			continue;
		if (!search_match(n, s->f, (size_t)fi, (uint32_t)(i + 1),
		    (uint32_t)s->nview, session_is_recent(s, s->view[i])))
			continue;
		num = uid ? s->view[i] : (uint32_t)(i + 1);
		ms = s->f->v[fi].modseq;
		if (keep) {	/* the view indexes found */
			if ((r.count & (r.count - 1)) == 0)	/* 0, 1, 2, 4 */
				hits = xreallocarray(hits, r.count ?
				    r.count * 2 : 1, sizeof(*hits));
			hits[r.count] = (uint32_t)i;
		}
		if (r.count++ == 0) {
			r.min = num;
			r.min_ms = ms;
		}
		r.max = num;
		r.max_ms = ms;
		if (ms > r.high_ms)
			r.high_ms = ms;
		if (o.ret == 0)
			buf_printf(&b, " %u", num);
		else if (o.ret & ESR_ALL)
			uidset_add(&r.all, num);
	}
	if (o.ret == 0) {
		if (modseq && r.count)
			buf_printf(&b, " (MODSEQ %llu)",
			    (unsigned long long)r.high_ms);
		buf_puts(&b, "\r\n");
		session_write(s, buf_head(&b), b.len);
	} else if (o.ret != ESR_SAVE)	/* SAVE alone: no ESEARCH (5182 2.1) */
		put_esearch(s, &o, uid, &r, hits, modseq);
	if (o.ret & ESR_SAVE) {
		sv = xreallocarray(NULL, r.count ? r.count : 1, sizeof(*sv));
		for (i = 0; i < r.count; i++)
			sv[i] = s->view[hits[i]];
		search_save(s, o.ret, sv, r.count);
	}
	if (o.ret & ESR_UPDATE)
		search_update(s, &o, uid, &n, hits, r.count);
	else
		free(hits);
	buf_free(&b);
	uidset_free(&r.all);
	search_free(&n);
	session_tagged(s, "OK %sSEARCH completed", uid ? "UID " : "");
}
