/* SPDX-License-Identifier: ISC */
/*
 * imap_cmd.c - IMAP commands of the authenticated and selected states:
 * mailboxes (SELECT LIST STATUS CREATE ...), APPEND, FETCH, STORE, COPY,
 * MOVE, EXPUNGE (RFC 3501 6.3-6.4, RFC 4315 UIDPLUS, RFC 6851 MOVE,
 * RFC 6154 SPECIAL-USE).
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
#include "log.h"
#include "xmem.h"

#define PERM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

const char *
cmd_arg_str(const struct imap_arg *a)
{
	if (!imap_arg_astring(a) || memchr(a->s, '\0', a->len) != NULL)
		return NULL;
	return a->s;
}

bool
cmd_mailbox_dir(struct imap_session *s, const struct imap_arg *a, char *dir,
    size_t dirsz, const char **name_r)
{
	const char *name = cmd_arg_str(a);

	if (name == NULL) {
		session_reply(s, "%s BAD mailbox name expected", s->tag);
		return false;
	}
	if (!store_folder_path(s->root, name, dir, dirsz)) {
		session_reply(s, "%s NO [CANNOT] invalid mailbox name", s->tag);
		return false;
	}
	*name_r = name;
	return true;
}

/* ---- SELECT / EXAMINE ---- */

void
cmd_select(struct imap_session *s, const struct imap_cmd *c, bool ro)
{
	char dir[PATH_MAX];
	const char *name;
	struct store_folder *f;
	size_t i, unseen = 0;
	unsigned recent = 0;

	session_unselect(s);
	if (c->args == NULL || c->args->next != NULL) {
		session_reply(s, "%s BAD %s mailbox", c->tag, c->name);
		return;
	}
	if (!cmd_mailbox_dir(s, c->args, dir, sizeof(dir), &name))
		return;
	if ((f = store_folder_open(dir)) == NULL) {
		session_reply(s, "%s NO [NONEXISTENT] no such mailbox", c->tag);
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
		if (f->v[i].flags & MF_RECENT) {
			recent++;
			if (!ro)
				f->v[i].flags &= (uint8_t)~MF_RECENT;
		}
	}
	s->nview = f->n;
	s->seen_gen = f->gen;
	session_reply(s, "* FLAGS (" PERM_FLAGS ")");
	session_reply(s, "* OK [PERMANENTFLAGS (%s)] flags", ro ? "" : PERM_FLAGS);
	session_reply(s, "* %zu EXISTS", s->nview);
	session_reply(s, "* %u RECENT", recent);
	if (unseen)
		session_reply(s, "* OK [UNSEEN %zu] first unseen", unseen);
	session_reply(s, "* OK [UIDVALIDITY %u] UIDs valid", f->uidvalidity);
	session_reply(s, "* OK [UIDNEXT %u] predicted next UID", f->uidnext);
	session_reply(s, "%s OK [%s] %s completed", c->tag,
	    ro ? "READ-ONLY" : "READ-WRITE", c->name);
}

/* ---- LIST / LSUB ---- */

struct list_ctx {
	struct imap_session *s;
	char		 pat[512];
	bool		 lsub;
	bool		 special_only;
	bool		 subscribed_only;
	char		**names;
	size_t		 n;
};

/* RFC 3501 6.3.8: '*' matches anything, '%' anything but the separator */
static bool
list_match(const char *pat, const char *name)
{
	const char *n;

	for (; *pat; pat++, name++) {
		if (*pat == '*' || *pat == '%') {
			for (n = name;; n++) {
				if (list_match(pat + 1, n))
					return true;
				if (*n == '\0' || (*pat == '%' && *n == '.'))
					return false;
			}
		}
		if (*name == '\0' || *pat != *name)
			return false;
	}
	return *name == '\0';
}

static void
list_collect(const char *name, void *arg)
{
	struct list_ctx *l = arg;

	l->names = xreallocarray(l->names, l->n + 1, sizeof(*l->names));
	l->names[l->n++] = xstrdup(name);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
list_emit(struct list_ctx *l, const char *name)
{
	struct buf b;
	const char *su = store_special_use(name);
	bool children = false;
	size_t i, nl = strlen(name);

	if (!list_match(l->pat, name))
		return;
	if ((l->lsub || l->subscribed_only) && !store_subscribed(l->s->root, name))
		return;
	if (l->special_only && su == NULL)
		return;
	for (i = 0; i < l->n; i++)
		if (strncmp(l->names[i], name, nl) == 0 &&
		    l->names[i][nl] == '.')
			children = true;
	buf_init(&b, 0);
	buf_printf(&b, "* %s (%s%s%s) \".\" ", l->lsub ? "LSUB" : "LIST",
	    children ? "\\HasChildren" : "\\HasNoChildren", su ? " " : "",
	    su ? su : "");
	imap_put_string(&b, name, nl);
	buf_puts(&b, "\r\n");
	session_write(l->s, buf_head(&b), b.len);
	buf_free(&b);
}

void
cmd_list(struct imap_session *s, const struct imap_cmd *c, bool lsub)
{
	struct list_ctx l;
	const struct imap_arg *a = c->args, *o;
	const char *ref, *pat;
	size_t i;

	memset(&l, 0, sizeof(l));
	l.s = s;
	l.lsub = lsub;
	/* RFC 5258 selection options, as used with RFC 6154 */
	if (!lsub && a && a->type == IMAP_ARG_LIST) {
		for (o = a->child; o; o = o->next) {
			if (imap_arg_is(o, "SPECIAL-USE"))
				l.special_only = true;
			else if (imap_arg_is(o, "SUBSCRIBED"))
				l.subscribed_only = true;
		}
		a = a->next;
	}
	ref = cmd_arg_str(a);
	pat = a ? cmd_arg_str(a->next) : NULL;
	if (ref == NULL || pat == NULL) {
		session_reply(s, "%s BAD %s reference pattern", c->tag, c->name);
		return;
	}
	if (*pat == '\0' && !lsub) {
		session_reply(s, "* LIST (\\Noselect) \".\" \"\"");
		session_reply(s, "%s OK LIST completed", c->tag);
		return;
	}
	if (!bsnprintf(l.pat, sizeof(l.pat), "%s%s", ref, pat)) {
		session_reply(s, "%s BAD pattern too long", c->tag);
		return;
	}
	/* INBOX is case-insensitive (RFC 3501 5.1) */
	if (strncasecmp(l.pat, "INBOX", 5) == 0)
		memcpy(l.pat, "INBOX", 5);
	store_list(s->root, list_collect, &l);
	qsort(l.names + 1, l.n - 1, sizeof(*l.names), str_cmp);
	for (i = 0; i < l.n; i++)
		list_emit(&l, l.names[i]);
	for (i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	session_reply(s, "%s OK %s completed", c->tag, c->name);
}

/* ---- STATUS ---- */

void
cmd_status(struct imap_session *s, const struct imap_cmd *c)
{
	char dir[PATH_MAX];
	const char *name;
	const struct imap_arg *it;
	struct store_folder *f;
	struct buf b;
	size_t i, unseen = 0, recent = 0;

	if (c->args == NULL || c->args->next == NULL ||
	    c->args->next->type != IMAP_ARG_LIST || c->args->next->next) {
		session_reply(s, "%s BAD STATUS mailbox (items)", c->tag);
		return;
	}
	for (it = c->args->next->child; it; it = it->next) {
		if (!imap_arg_is(it, "MESSAGES") && !imap_arg_is(it, "RECENT") &&
		    !imap_arg_is(it, "UIDNEXT") && !imap_arg_is(it, "UIDVALIDITY") &&
		    !imap_arg_is(it, "UNSEEN")) {
			session_reply(s, "%s BAD unknown status item", c->tag);
			return;
		}
	}
	if (!cmd_mailbox_dir(s, c->args, dir, sizeof(dir), &name))
		return;
	if ((f = store_folder_open(dir)) == NULL) {
		session_reply(s, "%s NO [NONEXISTENT] no such mailbox", c->tag);
		return;
	}
	for (i = 0; i < f->n; i++) {
		if (!(f->v[i].flags & MF_SEEN))
			unseen++;
		if (f->v[i].flags & MF_RECENT)
			recent++;
	}
	buf_init(&b, 0);
	buf_puts(&b, "* STATUS ");
	imap_put_string(&b, name, strlen(name));
	buf_puts(&b, " (");
	for (it = c->args->next->child; it; it = it->next) {
		if (it != c->args->next->child)
			buf_puts(&b, " ");
		if (imap_arg_is(it, "MESSAGES"))
			buf_printf(&b, "MESSAGES %zu", f->n);
		else if (imap_arg_is(it, "RECENT"))
			buf_printf(&b, "RECENT %zu", recent);
		else if (imap_arg_is(it, "UIDNEXT"))
			buf_printf(&b, "UIDNEXT %u", f->uidnext);
		else if (imap_arg_is(it, "UIDVALIDITY"))
			buf_printf(&b, "UIDVALIDITY %u", f->uidvalidity);
		else
			buf_printf(&b, "UNSEEN %zu", unseen);
	}
	buf_puts(&b, ")\r\n");
	session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	store_folder_close(&f);
	session_reply(s, "%s OK STATUS completed", c->tag);
}

/* ---- CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE ---- */

void
cmd_mailbox(struct imap_session *s, const struct imap_cmd *c)
{
	char dir[PATH_MAX], dir2[PATH_MAX], nm[512];
	const char *name, *to;
	size_t n;
	int r;

	if (c->args == NULL) {
		session_reply(s, "%s BAD mailbox name expected", c->tag);
		return;
	}
	if (!cmd_mailbox_dir(s, c->args, dir, sizeof(dir), &name))
		return;
	/* a trailing separator on CREATE only says "will have children" */
	if (!bstrcpy(nm, name, sizeof(nm))) {
		session_reply(s, "%s NO name too long", c->tag);
		return;
	}
	n = strlen(nm);
	if (strcasecmp(c->name, "CREATE") == 0) {
		if (n > 1 && nm[n - 1] == '.')
			nm[n - 1] = '\0';
		r = store_create(s->root, nm);
		if (r == -1 && errno == EEXIST) {
			session_reply(s, "%s NO [ALREADYEXISTS] mailbox exists",
			    c->tag);
			return;
		}
		(void)store_subscribe(s->root, nm, true);
	} else if (strcasecmp(c->name, "DELETE") == 0) {
		if (s->f && s->fname && strcmp(s->fname, nm) == 0)
			session_unselect(s);
		r = store_delete(s->root, nm);
		if (r == 0)
			(void)store_subscribe(s->root, nm, false);
	} else if (strcasecmp(c->name, "RENAME") == 0) {
		if (!cmd_mailbox_dir(s, c->args->next, dir2, sizeof(dir2), &to))
			return;
		r = store_rename(s->root, nm, to);
		if (r == 0 && store_subscribed(s->root, nm)) {
			(void)store_subscribe(s->root, nm, false);
			(void)store_subscribe(s->root, to, true);
		}
	} else
		r = store_subscribe(s->root, nm,
		    strcasecmp(c->name, "SUBSCRIBE") == 0);
	if (r == -1)
		session_reply(s, "%s NO %s failed: %s", c->tag, c->name,
		    errno == ENOENT ? "no such mailbox" : strerror(errno));
	else
		session_reply(s, "%s OK %s completed", c->tag, c->name);
}

/* ---- flags and dates ---- */

/* flag list or single flag -> bits; false on a bad flag */
static bool
parse_flags(const struct imap_arg *a, uint8_t *flags_r)
{
	static const struct {
		const char *n;
		uint8_t f;
	} names[] = {
		{ "\\Seen", MF_SEEN }, { "\\Answered", MF_ANSWERED },
		{ "\\Flagged", MF_FLAGGED }, { "\\Deleted", MF_DELETED },
		{ "\\Draft", MF_DRAFT },
	};
	const struct imap_arg *f = a->type == IMAP_ARG_LIST ? a->child : a;
	size_t i;

	*flags_r = 0;
	for (; f; f = f->next) {
		if (f->type != IMAP_ARG_ATOM || f->section)
			return false;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcasecmp(f->s, names[i].n) == 0)
				*flags_r |= names[i].f;
		/* keywords and \Recent are accepted and not kept */
		if (a->type != IMAP_ARG_LIST)
			break;
	}
	return true;
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

static void
put_flags_out(struct buf *b, uint8_t flags)
{
	char fl[128];

	store_flags_str(flags & MF_IMAP, fl, sizeof(fl));
	buf_printf(b, "FLAGS (%s)", fl);
}

/* ---- APPEND ---- */

void
cmd_append(struct imap_session *s, const struct imap_cmd *c)
{
	char dir[PATH_MAX];
	const char *name;
	const struct imap_arg *a = c->args ? c->args->next : NULL;
	uint8_t flags = 0;
	time_t t = time(NULL);
	uint32_t uv, uid;

	if (c->args == NULL || a == NULL) {
		session_reply(s, "%s BAD APPEND mailbox [flags] [date] message",
		    c->tag);
		return;
	}
	if (a->type == IMAP_ARG_LIST) {
		if (!parse_flags(a, &flags)) {
			session_reply(s, "%s BAD bad flags", c->tag);
			return;
		}
		a = a->next;
	}
	if (a && a->type == IMAP_ARG_STRING && a->next) {
		if (!parse_datetime(a->s, &t)) {
			session_reply(s, "%s BAD bad date-time", c->tag);
			return;
		}
		a = a->next;
	}
	if (a == NULL || a->type != IMAP_ARG_LITERAL || a->next) {
		session_reply(s, "%s BAD message literal expected", c->tag);
		return;
	}
	if (!cmd_mailbox_dir(s, c->args, dir, sizeof(dir), &name))
		return;
	if (access(dir, F_OK) == -1) {
		session_reply(s, "%s NO [TRYCREATE] no such mailbox", c->tag);
		return;
	}
	if ((a->spooled ? s->spool == NULL ||
	    store_spool_deliver(s->spool, dir, flags, t, &uv, &uid) :
	    store_deliver(dir, a->s, a->len, flags, t, &uv, &uid)) == -1) {
		log_warn("session=%08x user=%s append to %s", s->id, s->user, dir);
		session_reply(s, "%s NO [SERVERBUG] cannot store message", c->tag);
		return;
	}
	session_reply(s, "%s OK [APPENDUID %u %u] APPEND completed", c->tag, uv,
	    uid);
}

/* ---- message sets ---- */

/*
 * set_next - the next view index >= *pos in the set (by sequence number or
 * UID); false at the end.  Sets *fi to the folder index (-1: expunged).
 */
static bool
set_next(struct imap_session *s, const struct imap_seqset *set, bool uid,
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

static bool
parse_set(struct imap_session *s, const struct imap_arg *a,
    struct imap_seqset *set)
{
	if (a == NULL || a->type != IMAP_ARG_ATOM || a->section ||
	    !imap_seqset_parse(a->s, set)) {
		session_reply(s, "%s BAD bad sequence set", s->tag);
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

	if (s->readonly) {
		if (!silent)
			session_reply(s, "%s NO [READ-ONLY] mailbox is read-only",
			    c->tag);
		return;
	}
	memset(&set, 0, sizeof(set));
	if (uidset && !parse_set(s, uidset, &set))
		return;
	session_updates(s, true);
	star = s->nview ? s->view[s->nview - 1] : 0;
	for (i = 0, j = 0; i < s->nview; i++) {
		fi = store_find(f, s->view[i]);
		if (fi >= 0 && (f->v[fi].flags & MF_DELETED) &&
		    (!uidset || imap_seqset_has(&set, s->view[i], star))) {
			if (store_expunge(f, (size_t)fi) == 0) {
				if (!silent)
					session_reply(s, "* %zu EXPUNGE", j + 1);
				continue;
			}
			fail = true;
		}
		s->view[j++] = s->view[i];
	}
	s->nview = j;
	s->seen_gen = f->gen;
	imap_seqset_free(&set);
	if (silent)
		return;
	if (fail)
		session_reply(s, "%s NO some messages could not be expunged",
		    c->tag);
	else
		session_reply(s, "%s OK EXPUNGE completed", c->tag);
}

/* ---- FETCH ---- */

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

/* a section's content, cut to <off.cnt>, as a literal */
static void
put_section(struct buf *b, const struct mime_msg *m,
    const struct imap_section *sec, const char *label)
{
	(void)mime_section_literal(m, sec, label, b);
}

static void
fetch_one(struct imap_session *s, size_t pos, size_t fi)
{
	struct fetch_job *j = s->job;
	struct imap_fetch *fa = &j->fa;
	struct store_msg *msg = &s->f->v[fi];
	struct buf *b = &s->resp;
	struct mime_msg *m = NULL;
	struct imap_section sec;
	char *data = NULL;
	size_t len = 0;
	unsigned i;
	bool sp = false;
	uint8_t nf;
	int need;

#define SP() do { if (sp) buf_puts(b, " "); sp = true; } while (0)
	if (fetch_sets_seen(fa) && !s->readonly && !(msg->flags & MF_SEEN)) {
		nf = (uint8_t)((msg->flags | MF_SEEN) & (MF_IMAP | MF_PASSED));
		if (store_set_flags(s->f, fi, nf, s->id) == 0)
			fa->items |= IMAP_F_FLAGS;
		msg = &s->f->v[fi];
	}
	if ((need = fetch_needs(fa)) > 0) {
		data = need == 1 ? store_read_header(s->f, fi, &len) :
		    store_read(s->f, fi, &len);
		if (data == NULL) {
			/* vanished under us: say nothing about it now */
			s->f->dirty = true;
			return;
		}
		m = mime_parse(data, len);
	}
	buf_reset(b);
	buf_printf(b, "* %zu FETCH (", pos + 1);
	if (fa->items & IMAP_F_UID) {
		SP();
		buf_printf(b, "UID %u", msg->uid);
	}
	if (fa->items & IMAP_F_FLAGS) {
		SP();
		put_flags_out(b, msg->flags);
	}
	if (fa->items & IMAP_F_INTERNALDATE) {
		SP();
		put_internaldate(b, msg->itime);
	}
	if (fa->items & IMAP_F_SIZE) {
		SP();
		buf_printf(b, "RFC822.SIZE %u", msg->size);
	}
	if (fa->items & IMAP_F_ENVELOPE) {
		SP();
		buf_puts(b, "ENVELOPE ");
		mime_envelope(m, m->root, b);
	}
	if (fa->items & IMAP_F_BODYSTRUCTURE) {
		SP();
		buf_puts(b, "BODYSTRUCTURE ");
		mime_bodystructure(m, m->root, true, b);
	}
	if (fa->items & IMAP_F_BODY) {
		SP();
		buf_puts(b, "BODY ");
		mime_bodystructure(m, m->root, false, b);
	}
	memset(&sec, 0, sizeof(sec));
	if (fa->items & IMAP_F_RFC822) {
		SP();
		put_section(b, m, &sec, "RFC822");
	}
	if (fa->items & IMAP_F_RFC822_HEADER) {
		SP();
		sec.kind = IMAP_SEC_HEADER;
		put_section(b, m, &sec, "RFC822.HEADER");
	}
	if (fa->items & IMAP_F_RFC822_TEXT) {
		SP();
		sec.kind = IMAP_SEC_TEXT;
		put_section(b, m, &sec, "RFC822.TEXT");
	}
	for (i = 0; i < fa->nsec; i++) {
		SP();
		put_section(b, m, &fa->sec[i], fa->sec[i].name);
	}
	buf_puts(b, ")\r\n");
#undef SP
	session_write_buf(s, b);
	buf_reset(b);
	mime_free(&m);
	free(data);
}

static void
fetch_done(struct imap_session *s, const char *status)
{
	struct fetch_job *j = s->job;

	session_reply(s, "%s %s", s->tag, status);
	imap_seqset_free(&j->set);
	free(j->cmd);
	free(j);
	s->job = NULL;
	buf_shrink(&s->resp, 0);
}

void
cmd_fetch_resume(struct imap_session *s)
{
	struct fetch_job *j = s->job;
	ssize_t fi;
	char st[64];
	bool uid;

	if (j == NULL)
		return;
	while (set_next(s, &j->set, j->uid, &j->pos, &fi)) {
		if (session_out_full(s)) {
			/* wait for the client to read (DRAINED or the timer) */
			ev_timer_add(&s->timer, 10);
			return;
		}
		if (fi >= 0)
			fetch_one(s, j->pos, (size_t)fi);
		j->pos++;
	}
	(void)bsnprintf(st, sizeof(st), "OK %s completed", j->cmd);
	uid = j->uid;
	fetch_done(s, st);
	if (s->wait == SW_JOB) {
		session_updates(s, uid);
		s->wait = SW_NONE;
		conn_pause(&s->conn, false);
		session_continue(s);
	}
}

void
cmd_fetch(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	struct fetch_job *j;
	const char *err;

	j = xcalloc(1, sizeof(*j));
	if (!parse_set(s, c->args, &j->set)) {
		free(j);
		return;
	}
	if (!imap_fetch_parse(c->args->next, &j->fa, &err)) {
		session_reply(s, "%s BAD %s", c->tag, err);
		imap_seqset_free(&j->set);
		free(j);
		return;
	}
	if (uid)
		j->fa.items |= IMAP_F_UID;
	j->uid = uid;
	j->cmd = xstrdup(uid ? "UID FETCH" : "FETCH");
	s->job = j;
	/* run until the output buffer fills; then continue from the loop */
	while (s->job && !session_out_full(s)) {
		ssize_t fi;

		if (!set_next(s, &j->set, uid, &j->pos, &fi)) {
			fetch_done(s, uid ? "OK UID FETCH completed" :
			    "OK FETCH completed");
			return;
		}
		if (fi >= 0)
			fetch_one(s, j->pos, (size_t)fi);
		j->pos++;
	}
	s->wait = SW_JOB;
	ev_timer_add(&s->timer, 10);
}

/* ---- STORE ---- */

void
cmd_store(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	struct imap_seqset set;
	const struct imap_arg *item = c->args ? c->args->next : NULL;
	const struct imap_arg *fl = item ? item->next : NULL;
	const char *it;
	uint8_t flags, nf;
	size_t pos = 0;
	ssize_t fi;
	bool silent, fail = false;
	int mode;
	struct buf b;

	if (item == NULL || fl == NULL || item->type != IMAP_ARG_ATOM ||
	    (fl->next && fl->type != IMAP_ARG_ATOM)) {
		session_reply(s, "%s BAD STORE set item flags", c->tag);
		return;
	}
	it = item->s;
	mode = *it == '+' ? 1 : *it == '-' ? -1 : 0;
	if (mode)
		it++;
	silent = strcasecmp(it, "FLAGS.SILENT") == 0;
	if (!silent && strcasecmp(it, "FLAGS") != 0) {
		session_reply(s, "%s BAD unknown STORE item", c->tag);
		return;
	}
	if (fl->type == IMAP_ARG_LIST ? !parse_flags(fl, &flags) :
	    !parse_flags(fl, &flags)) {
		session_reply(s, "%s BAD bad flags", c->tag);
		return;
	}
	/* "STORE 1 FLAGS \Seen \Deleted" without parentheses */
	for (fl = fl->next; fl; fl = fl->next) {
		uint8_t more;

		if (!parse_flags(fl, &more)) {
			session_reply(s, "%s BAD bad flags", c->tag);
			return;
		}
		flags |= more;
	}
	if (s->readonly) {
		session_reply(s, "%s NO [READ-ONLY] mailbox is read-only", c->tag);
		return;
	}
	if (!parse_set(s, c->args, &set))
		return;
	buf_init(&b, 0);
	while (set_next(s, &set, uid, &pos, &fi)) {
		if (fi >= 0) {
			struct store_msg *m = &s->f->v[fi];

			nf = mode > 0 ? (uint8_t)(m->flags | flags) : mode < 0 ?
			    (uint8_t)(m->flags & ~flags) :
			    (uint8_t)((m->flags & MF_PASSED) | flags);
			if (store_set_flags(s->f, (size_t)fi, nf, s->id) == -1)
				fail = true;
			else if (!silent) {
				buf_printf(&b, "* %zu FETCH (", pos + 1);
				if (uid)
					buf_printf(&b, "UID %u ", s->f->v[fi].uid);
				put_flags_out(&b, s->f->v[fi].flags);
				buf_puts(&b, ")\r\n");
				if (b.len > 65536) {
					session_write(s, buf_head(&b), b.len);
					buf_reset(&b);
				}
			}
		}
		pos++;
	}
	if (b.len)
		session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	imap_seqset_free(&set);
	if (fail)
		session_reply(s, "%s NO some flags could not be stored", c->tag);
	else
		session_reply(s, "%s OK STORE completed", c->tag);
}

/* ---- COPY / MOVE ---- */

/* append "uid" or extend a range "a:b" in a UID set text */
static void
uidset_add(struct buf *b, uint32_t *last, uint32_t *start, uint32_t uid)
{
	if (*last && uid == *last + 1) {
		*last = uid;
		return;
	}
	if (*last && *last != *start)
		buf_printf(b, ":%u", *last);
	buf_printf(b, "%s%u", b->len ? "," : "", uid);
	*start = *last = uid;
}

static void
uidset_end(struct buf *b, uint32_t last, uint32_t start)
{
	if (last && last != start)
		buf_printf(b, ":%u", last);
}

/* the COPYUID line can be long (many UIDs): no fixed-size line here */
static void
put_copyuid(struct imap_session *s, const char *tag, uint32_t uv,
    const struct buf *src, const struct buf *dst, const char *text)
{
	struct buf b;

	buf_init(&b, 0);
	buf_printf(&b, "%s OK [COPYUID %u %s %s] %s\r\n", tag, uv,
	    buf_head(src), buf_head(dst), text);
	session_write(s, buf_head(&b), b.len);
	buf_free(&b);
}

void
cmd_copy(struct imap_session *s, const struct imap_cmd *c, bool uid, bool move)
{
	char dir[PATH_MAX];
	const char *name;
	struct imap_seqset set;
	struct buf src, dst;
	uint32_t uv = 0, nuid, sl = 0, ss = 0, dl = 0, ds = 0;
	size_t pos = 0, n = 0, i, j;
	ssize_t fi;
	bool fail = false;
	uint32_t star;

	if (c->args == NULL || c->args->next == NULL || c->args->next->next) {
		session_reply(s, "%s BAD %s set mailbox", c->tag, c->name);
		return;
	}
	if (move && s->readonly) {
		session_reply(s, "%s NO [READ-ONLY] mailbox is read-only", c->tag);
		return;
	}
	if (!cmd_mailbox_dir(s, c->args->next, dir, sizeof(dir), &name))
		return;
	if (access(dir, F_OK) == -1) {
		session_reply(s, "%s NO [TRYCREATE] no such mailbox", c->tag);
		return;
	}
	if (!parse_set(s, c->args, &set))
		return;
	buf_init(&src, 0);
	buf_init(&dst, 0);
	while (set_next(s, &set, uid, &pos, &fi)) {
		if (fi >= 0) {
			if (store_copy(s->f, (size_t)fi, dir, &uv, &nuid) == -1) {
				log_warn("session=%08x copy to %s", s->id, dir);
				fail = true;
				break;
			}
			uidset_add(&src, &sl, &ss, s->f->v[fi].uid);
			uidset_add(&dst, &dl, &ds, nuid);
			n++;
		}
		pos++;
	}
	uidset_end(&src, sl, ss);
	uidset_end(&dst, dl, ds);
	if (fail) {
		session_reply(s, "%s NO [SERVERBUG] %s failed", c->tag, c->name);
		goto done;
	}
	if (!move) {
		if (n)
			put_copyuid(s, c->tag, uv, &src, &dst, "COPY completed");
		else
			session_reply(s, "%s OK COPY completed", c->tag);
		goto done;
	}
	if (n)
		put_copyuid(s, "*", uv, &src, &dst, "moved");
	/* RFC 6851: expunge the originals, with EXPUNGE responses */
	star = uid ? (s->nview ? s->view[s->nview - 1] : 0) : (uint32_t)s->nview;
	for (i = 0, j = 0; i < s->nview; i++) {
		uint32_t key = uid ? s->view[i] : (uint32_t)(i + 1);

		fi = store_find(s->f, s->view[i]);
		if (fi >= 0 && imap_seqset_has(&set, key, star) &&
		    store_expunge(s->f, (size_t)fi) == 0) {
			session_reply(s, "* %zu EXPUNGE", j + 1);
			continue;
		}
		s->view[j++] = s->view[i];
	}
	s->nview = j;
	session_reply(s, "%s OK %s completed", c->tag, c->name);
done:
	buf_free(&src);
	buf_free(&dst);
	imap_seqset_free(&set);
}

/* ---- SEARCH ---- */

void
cmd_search(struct imap_session *s, const struct imap_cmd *c, bool uid)
{
	const struct imap_arg *a = c->args;
	struct search_node *n;
	const char *err;
	struct buf b;
	size_t i;
	ssize_t fi;

	if (imap_arg_is(a, "CHARSET")) {
		const char *cs = a->next ? cmd_arg_str(a->next) : NULL;

		if (cs == NULL || (strcasecmp(cs, "UTF-8") != 0 &&
		    strcasecmp(cs, "US-ASCII") != 0)) {
			session_reply(s, "%s NO [BADCHARSET (UTF-8 US-ASCII)] "
			    "unsupported charset", c->tag);
			return;
		}
		a = a->next->next;
	}
	if ((n = search_compile(a, &err)) == NULL) {
		session_reply(s, "%s BAD %s", c->tag, err);
		return;
	}
	buf_init(&b, 0);
	buf_puts(&b, "* SEARCH");
	for (i = 0; i < s->nview; i++) {
		fi = store_find(s->f, s->view[i]);
		if (fi < 0)
			continue;
		if (search_match(n, s->f, (size_t)fi, (uint32_t)(i + 1),
		    (uint32_t)s->nview))
			buf_printf(&b, " %u", uid ? s->view[i] : (uint32_t)(i + 1));
	}
	buf_puts(&b, "\r\n");
	session_write(s, buf_head(&b), b.len);
	buf_free(&b);
	search_free(&n);
	session_reply(s, "%s OK %sSEARCH completed", c->tag, uid ? "UID " : "");
}
