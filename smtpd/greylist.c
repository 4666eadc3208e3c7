/* SPDX-License-Identifier: ISC */
/*
 * greylist.c - the greylisting database and its rules (formats in
 * greylist.h, the rules in smtpd/README.md "Greylisting").
 *
 * Runs in the smtp role: the file is opened before the chroot and the
 * privilege drop, and written only through that handle; the role can
 * open nothing else.  No environment, no locks: the parent starts one
 * smtp role at a time (the old set is reaped before a new one starts).
 * Writes land in Berkeley DB's cache; greylist_sync() (once a second
 * when something changed) and greylist_close() (at exit) put them in the
 * file through that handle, never by the path (which the chroot hides),
 * so a crash loses at most the last second of greylisting state, never
 * mail.
 * Errors: a failed read or write is logged and answered GREY_ERROR; the
 * caller lets the mail through (greylisting is a filter, not a check the
 * mail depends on).  Out of memory is not possible here (fixed buffers).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <db.h>

#include "log.h"
#include "strnum.h"
#include "xmem.h"
#include "smtpd/greylist.h"

#define KEY_MAX		600	/* "t " NET " " FROM " " RCPT */
#define VAL_MAX		64

struct greylist {
	DB			*db;
	struct greylist_params	 p;
	bool			 dirty;
	char			 next[KEY_MAX];	/* where greylist_expire goes on */
	size_t			 nextlen;
};

/* one record's value */
struct grey_val {
	char		 state;		/* 'W', 'P', or 0 for c/d records */
	int64_t		 first, last;
};

static void
grey_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	log_warnx("greylist: %s", msg);
}

static DB *
grey_db_open(const char *path, int *rc_r)
{
	DB *db;
	int rc;

	if ((rc = db_create(&db, NULL, 0)) != 0) {
		*rc_r = rc;
		return NULL;
	}
	db->set_errcall(db, grey_errcall);
	if ((rc = db->open(db, NULL, path, NULL, DB_BTREE, DB_CREATE, 0600)) != 0) {
		db->close(db, 0);
		*rc_r = rc;
		return NULL;
	}
	return db;
}

struct greylist *
greylist_open(const char *path, const struct greylist_params *p, uid_t uid,
    gid_t gid, char *err, size_t errsz)
{
	struct greylist *g;
	char bad[4096];
	DB *db;
	int rc, fd;

	if ((db = grey_db_open(path, &rc)) == NULL && rc != ENOENT &&
	    rc != EACCES && bsnprintf(bad, sizeof(bad), "%s.bad", path)) {
		/* not a database we can read: keep it aside, start afresh */
		log_warnx("greylist: %s: %s; moved to %s, starting empty",
		    path, db_strerror(rc), bad);
		if (rename(path, bad) == 0)
			db = grey_db_open(path, &rc);
	}
	if (db == NULL) {
		snprintf(err, errsz, "%s: %s", path, db_strerror(rc));
		return NULL;
	}
	if (uid != (uid_t)-1 && (db->fd(db, &fd) != 0 ||
	    fchown(fd, uid, gid) == -1 || fchmod(fd, 0600) == -1)) {
		snprintf(err, errsz, "%s: cannot give it to uid %ld: %s", path,
		    (long)uid, strerror(errno));
		db->close(db, 0);
		return NULL;
	}
	g = xcalloc(1, sizeof(*g));
	g->db = db;
	g->p = *p;
	return g;
}

/*
 * greylist_close - write what changed, close.  Inside the chroot the
 * file's path means nothing, and a plain DB->close() reopens the file by
 * that path to fsync it (a no-handle flush in the close of DB's private
 * environment, which DB_NOSYNC does not skip): "BDB3028 ...: unable to
 * flush: No such file or directory" at every stop, records intact.  So
 * DB->sync() writes the dirty pages and fsyncs them through the open
 * handle, the cache is then told the file has no backing file
 * (DB_MPOOL_NOFILE: it is clean, nothing is left to write) and the
 * handle closes with DB_NOSYNC.  If the sync fails, the plain close
 * tries again and says why.
 */
void
greylist_close(struct greylist **gp)
{
	struct greylist *g = *gp;
	DB_MPOOLFILE *mpf;
	int rc;

	if (g == NULL)
		return;
	if (g->db->sync(g->db, 0) == 0 &&
	    (mpf = g->db->get_mpf(g->db)) != NULL &&
	    mpf->set_flags(mpf, DB_MPOOL_NOFILE, 1) == 0)
		rc = g->db->close(g->db, DB_NOSYNC);
	else
		rc = g->db->close(g->db, 0);
	if (rc != 0)
		log_warnx("greylist: close: %s", db_strerror(rc));
	free(g);
	*gp = NULL;
}

int
greylist_sync(struct greylist *g)
{
	int rc;

	if (g == NULL || !g->dirty)
		return 0;
	g->dirty = false;
	if ((rc = g->db->sync(g->db, 0)) != 0) {
		log_warnx("greylist: sync: %s", db_strerror(rc));
		return -1;
	}
	return 0;
}

bool
greylist_net(const char *addr, char *out, size_t outsz)
{
	unsigned char b[16];
	char txt[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, addr, b) == 1)
		return bsnprintf(out, outsz, "%u.%u.%u.0/24", b[0], b[1], b[2]);
	if (inet_pton(AF_INET6, addr, b) != 1)
		return false;
	if (memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)	/* mapped */
		return bsnprintf(out, outsz, "%u.%u.%u.0/24", b[12], b[13], b[14]);
	memset(b + 8, 0, 8);
	if (inet_ntop(AF_INET6, b, txt, sizeof(txt)) == NULL)
		return false;
	return bsnprintf(out, outsz, "%s/64", txt);
}

/* lower - a lower-cased copy of an address; false if too long */
static bool
lower(const char *in, char *out, size_t outsz)
{
	size_t i, n = strlen(in);

	if (n >= outsz)
		return false;
	for (i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return true;
}

/*
 * sender - the sender as a triplet keeps it: lower case, without a BATV
 * tag ("prvs=1234abcd=user@d" -> "user@d"), which changes per message
 */
static bool
sender(const char *from, char *out, size_t outsz)
{
	char *eq;

	if (!lower(from, out, outsz))
		return false;
	if (strncmp(out, "prvs=", 5) == 0 && (eq = strchr(out + 5, '=')) != NULL &&
	    eq < strchr(out, '@'))
		memmove(out, eq + 1, strlen(eq + 1) + 1);
	return true;
}

/* parse_val - a record's value (DB memory); false if bad */
static bool
parse_val(char kind, const DBT *d, struct grey_val *v)
{
	char buf[VAL_MAX], f[2][24];
	const char *e1, *e2;

	if (d->size >= sizeof(buf))
		return false;
	memcpy(buf, d->data, d->size);
	buf[d->size] = '\0';
	memset(v, 0, sizeof(*v));
	if (kind == 'c' || kind == 'd') {
		v->last = strnum(buf, 0, INT64_MAX, &e1);
		return e1 == NULL;
	}
	if (kind != 't' || sscanf(buf, "%c %23s %23s", &v->state, f[0],
	    f[1]) != 3 || (v->state != 'W' && v->state != 'P'))
		return false;
	v->first = strnum(f[0], 0, INT64_MAX, &e1);
	v->last = strnum(f[1], 0, INT64_MAX, &e2);
	return e1 == NULL && e2 == NULL;
}

/* grey_get - 1: found (in *v), 0: absent or unreadable, -1: error */
static int
grey_get(struct greylist *g, const char *key, struct grey_val *v)
{
	DBT k, d;
	int rc;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	if ((rc = g->db->get(g->db, NULL, &k, &d, 0)) == DB_NOTFOUND)
		return 0;
	if (rc != 0) {
		log_warnx("greylist: get: %s", db_strerror(rc));
		return -1;
	}
	return parse_val(key[0], &d, v) ? 1 : 0;
}

static int
grey_put(struct greylist *g, const char *key, const struct grey_val *v)
{
	DBT k, d;
	char buf[VAL_MAX];
	int rc;

	if (v->state)
		snprintf(buf, sizeof(buf), "%c %" PRId64 " %" PRId64, v->state,
		    v->first, v->last);
	else
		snprintf(buf, sizeof(buf), "%" PRId64, v->last);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	d.data = buf;
	d.size = (u_int32_t)strlen(buf);
	g->dirty = true;
	if ((rc = g->db->put(g->db, NULL, &k, &d, 0)) != 0) {
		log_warnx("greylist: put: %s", db_strerror(rc));
		return -1;
	}
	return 0;
}

/* expired - may the record go? */
static bool
expired(const struct greylist *g, char kind, const struct grey_val *v,
    int64_t now)
{
	if (kind == 't' && v->state == 'W')
		return now - v->first > (int64_t)g->p.retry_window;
	return now - v->last > (int64_t)g->p.allow_time;
}

/* touch - a c or d record is used again */
static int
touch(struct greylist *g, const char *key, int64_t now)
{
	struct grey_val v = { 0, 0, now };

	return grey_put(g, key, &v);
}

/* fresh - is the c or d record `key` there and not expired? -1 on error */
static int
fresh(struct greylist *g, const char *key, int64_t now)
{
	struct grey_val v;
	int rc;

	if ((rc = grey_get(g, key, &v)) != 1)
		return rc;
	return expired(g, key[0], &v, now) ? 0 : 1;
}

/* passed - the transaction goes through: remember its SPF domain */
static enum greylist_res
passed(struct greylist *g, const struct greylist_req *r, const char *net,
    enum greylist_res res, int64_t now)
{
	char key[KEY_MAX], dom[300];

	if (res == GREY_PASS_RETRY && g->p.allow_clients &&
	    bsnprintf(key, sizeof(key), "c %s", net))
		(void)touch(g, key, now);
	if (r->spf_domain && lower(r->spf_domain, dom, sizeof(dom)) &&
	    bsnprintf(key, sizeof(key), "d %s", dom))
		(void)touch(g, key, now);
	return res;
}

static enum greylist_res
triplet(struct greylist *g, const struct greylist_req *r, const char *net,
    int64_t now, unsigned *wait_r)
{
	char key[KEY_MAX], from[300], rcpt[300];
	struct grey_val v;
	int rc;

	if (!sender(r->from, from, sizeof(from)) ||
	    !lower(r->rcpt, rcpt, sizeof(rcpt)) ||
	    !bsnprintf(key, sizeof(key), "t %s %s %s", net, from, rcpt))
		return GREY_ERROR;
	if ((rc = grey_get(g, key, &v)) == -1)
		return GREY_ERROR;
	if (rc == 0 || expired(g, 't', &v, now)) {
		v = (struct grey_val){ 'W', now, now };
		*wait_r = g->p.delay;
		return grey_put(g, key, &v) == 0 ? GREY_DEFER_NEW : GREY_ERROR;
	}
	v.last = now;
	if (v.state == 'P') {
		if (grey_put(g, key, &v) == -1)
			return GREY_ERROR;
		return passed(g, r, net, GREY_PASS_KNOWN, now);
	}
	if (now - v.first < (int64_t)g->p.delay) {
		*wait_r = (unsigned)(g->p.delay - (now - v.first));
		return grey_put(g, key, &v) == 0 ? GREY_DEFER_EARLY : GREY_ERROR;
	}
	v.state = 'P';
	if (grey_put(g, key, &v) == -1)
		return GREY_ERROR;
	return passed(g, r, net, GREY_PASS_RETRY, now);
}

enum greylist_res
greylist_check(struct greylist *g, const struct greylist_req *r, int64_t now,
    unsigned *wait_r)
{
	char net[GREYLIST_NET_MAX], key[KEY_MAX], dom[300];
	int rc;

	*wait_r = 0;
	if (!greylist_net(r->addr, net, sizeof(net)))
		return GREY_ERROR;
	(void)greylist_expire(g, now, 4);	/* faster than entries are added */
	if (g->p.allow_clients && bsnprintf(key, sizeof(key), "c %s", net)) {
		if ((rc = fresh(g, key, now)) == -1)
			return GREY_ERROR;
		if (rc == 1) {
			(void)touch(g, key, now);
			return passed(g, r, net, GREY_PASS_CLIENT, now);
		}
	}
	if (r->spf_domain && lower(r->spf_domain, dom, sizeof(dom)) &&
	    bsnprintf(key, sizeof(key), "d %s", dom)) {
		if ((rc = fresh(g, key, now)) == -1)
			return GREY_ERROR;
		if (rc == 1)
			return passed(g, r, net, GREY_PASS_SPF, now);
	}
	return triplet(g, r, net, now, wait_r);
}

bool
greylist_passed(enum greylist_res res)
{
	return res != GREY_DEFER_NEW && res != GREY_DEFER_EARLY;
}

const char *
greylist_res_name(enum greylist_res res)
{
	static const char *const names[] = {
		[GREY_DEFER_NEW] = "defer-new", [GREY_DEFER_EARLY] = "defer-early",
		[GREY_PASS_RETRY] = "pass-retry", [GREY_PASS_KNOWN] = "pass-known",
		[GREY_PASS_CLIENT] = "pass-client", [GREY_PASS_SPF] = "pass-spf",
		[GREY_ERROR] = "error",
	};

	return (size_t)res < sizeof(names) / sizeof(names[0]) ? names[res] : "?";
}

int
greylist_expire(struct greylist *g, int64_t now, unsigned n)
{
	struct grey_val v;
	DBC *cur;
	DBT k, d;
	int rc, deleted = 0;
	u_int32_t flag;

	if (n == 0)
		return 0;
	if ((rc = g->db->cursor(g->db, NULL, &cur, 0)) != 0) {
		log_warnx("greylist: cursor: %s", db_strerror(rc));
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	flag = g->nextlen ? DB_SET_RANGE : DB_FIRST;
	if (g->nextlen) {
		k.data = g->next;
		k.size = (u_int32_t)g->nextlen;
	}
	while (n-- > 0 && (rc = cur->get(cur, &k, &d, flag)) == 0) {
		flag = DB_NEXT;
		if (k.size == 0 || !parse_val(*(char *)k.data, &d, &v) ||
		    expired(g, *(char *)k.data, &v, now)) {
			if (cur->del(cur, 0) == 0)
				deleted++;
			g->dirty = true;
		}
	}
	/* where to go on: the next key, or the start again */
	g->nextlen = 0;
	if (rc == 0 && (rc = cur->get(cur, &k, &d, DB_NEXT)) == 0 &&
	    k.size <= sizeof(g->next)) {
		memcpy(g->next, k.data, k.size);
		g->nextlen = k.size;
	}
	cur->close(cur);
	if (rc != 0 && rc != DB_NOTFOUND) {
		log_warnx("greylist: expire: %s", db_strerror(rc));
		return -1;
	}
	return deleted;
}
