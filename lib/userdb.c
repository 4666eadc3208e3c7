/* SPDX-License-Identifier: ISC */
/*
 * userdb.c - users.db and aliases.db: lookups for facteur-authd, atomic
 * rewrites for facteur-keytool (file formats in userdb.h).
 *
 * Readers run in facteur-authd as `user`; they never write.  Writers run in
 * facteur-keytool (usually root) and never modify a database in place.
 * Errors: lookups answer USERDB_ERROR (callers tempfail) and log once with
 * log_warnx; userdb_update() returns -1 with a message for the CLI.  Out of
 * memory is USERDB_ERROR, never fatal: authd keeps serving.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <db.h>

#include "log.h"
#include "userdb.h"
#include "xmem.h"

static const char *const userdb_names[] = {
	[USERDB_USERS] = "users.db",
	[USERDB_ALIASES] = "aliases.db",
};

/* one open read-only database and the identity of the file it is on */
struct userdb_handle {
	DB		*db;
	dev_t		 dev;
	ino_t		 ino;
	struct timespec	 mtime;
	off_t		 size;
	bool		 missing;	/* no file: reads as empty */
};

struct userdb {
	char		*dir;
	char *const	*domains;
	struct userdb_handle h[2];
};

/* the state of one recursive expansion */
struct userdb_walk {
	struct userdb		*udb;
	struct userdb_list	*out;
	struct userdb_list	 seen;	/* addresses and "@domain" keys expanded */
	bool			 error;
};

static void
userdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	log_warnx("userdb: %s", msg);
}

static bool
userdb_path(const char *dir, enum userdb_file which, const char *suffix,
    char *out, size_t outsz)
{
	return bsnprintf(out, outsz, "%s/%s%s", dir, userdb_names[which], suffix);
}

struct userdb *
userdb_open(const char *state_dir, char *const *domains)
{
	struct userdb *udb;

	if ((udb = calloc(1, sizeof(*udb))) == NULL)
		return NULL;
	if ((udb->dir = strdup(state_dir)) == NULL) {
		free(udb);
		return NULL;
	}
	udb->domains = domains;
	return udb;
}

static void
userdb_handle_close(struct userdb_handle *h)
{
	if (h->db != NULL)
		h->db->close(h->db, 0);
	memset(h, 0, sizeof(*h));
}

void
userdb_close(struct userdb **udbp)
{
	struct userdb *udb = *udbp;

	if (udb == NULL)
		return;
	userdb_handle_close(&udb->h[USERDB_USERS]);
	userdb_handle_close(&udb->h[USERDB_ALIASES]);
	free(udb->dir);
	free(udb);
	*udbp = NULL;
}

/* db_open_rdonly - a read-only B-tree handle on path, or NULL */
static DB *
db_open_rdonly(const char *path)
{
	DB *db;
	int rc;

	if ((rc = db_create(&db, NULL, 0)) != 0) {
		log_warnx("userdb: db_create: %s", db_strerror(rc));
		return NULL;
	}
	db->set_errcall(db, userdb_errcall);
	if ((rc = db->open(db, NULL, path, NULL, DB_BTREE, DB_RDONLY, 0)) != 0) {
		log_warnx("userdb: open %s: %s", path, db_strerror(rc));
		db->close(db, 0);
		return NULL;
	}
	return db;
}

/*
 * userdb_handle - the current handle of `which`: reopened when the file
 * was replaced (keytool renames a new one over it) or appeared.  Sets
 * *db_r to NULL when the file does not exist.  -1 on error.
 */
static int
userdb_handle(struct userdb *udb, enum userdb_file which, DB **db_r)
{
	struct userdb_handle *h = &udb->h[which];
	char path[4096];
	struct stat st;

	*db_r = NULL;
	if (!userdb_path(udb->dir, which, "", path, sizeof(path)))
		return -1;
	if (stat(path, &st) == -1) {
		if (errno != ENOENT) {
			log_warn("userdb: stat %s", path);
			return -1;
		}
		userdb_handle_close(h);
		h->missing = true;
		return 0;
	}
	if (h->db != NULL && h->dev == st.st_dev && h->ino == st.st_ino &&
	    h->size == st.st_size && h->mtime.tv_sec == st.st_mtim.tv_sec &&
	    h->mtime.tv_nsec == st.st_mtim.tv_nsec) {
		*db_r = h->db;
		return 0;
	}
	userdb_handle_close(h);
	if ((h->db = db_open_rdonly(path)) == NULL)
		return -1;
	h->dev = st.st_dev;
	h->ino = st.st_ino;
	h->size = st.st_size;
	h->mtime = st.st_mtim;
	*db_r = h->db;
	return 0;
}

static bool
local_char_ok(unsigned char c)
{
	/* RFC 5322 atext, minus '/' so a local part can name a path */
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-=?^_`{|}~", c));
}

static bool
domain_ok(const char *d, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return label > 0 && d[n - 1] != '-';
}

bool
userdb_normalize(const char *in, size_t len, bool catchall, char *out,
    size_t outsz)
{
	size_t i, at = len;

	if (len == 0 || len >= outsz || len >= USERDB_ADDR_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '@')
			at = i;
		out[i] = (char)tolower(c);
	}
	out[len] = '\0';
	if (at == len || memchr(in, '@', at) != NULL)
		return false;
	if (at == 0)
		return catchall && domain_ok(out + 1, len - 1);
	if (at > 64 || out[0] == '.' || out[at - 1] == '.')
		return false;
	for (i = 0; i < at; i++) {
		if (out[i] == '.' ? out[i + 1] == '.' :
		    !local_char_ok((unsigned char)out[i]))
			return false;
	}
	return domain_ok(out + at + 1, len - at - 1);
}

bool
userdb_is_local(const struct userdb *udb, const char *addr)
{
	const char *d = strrchr(addr, '@');
	char *const *p;

	if (d == NULL || udb->domains == NULL)
		return false;
	for (p = udb->domains; *p != NULL; p++)
		if (strcasecmp(*p, d + 1) == 0)
			return true;
	return false;
}

enum userdb_res
userdb_get(struct userdb *udb, enum userdb_file which, const char *key,
    char *val, size_t valsz)
{
	DBT k, d;
	DB *db;
	int rc;

	if (userdb_handle(udb, which, &db) == -1)
		return USERDB_ERROR;
	if (db == NULL)
		return USERDB_NOTFOUND;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	if ((rc = db->get(db, NULL, &k, &d, 0)) == DB_NOTFOUND)
		return USERDB_NOTFOUND;
	if (rc != 0) {
		log_warnx("userdb: get %s: %s", userdb_names[which],
		    db_strerror(rc));
		return USERDB_ERROR;
	}
	if (d.size >= valsz || memchr(d.data, '\0', d.size) != NULL) {
		log_warnx("userdb: %s: bad value for a key", userdb_names[which]);
		return USERDB_ERROR;
	}
	memcpy(val, d.data, d.size);
	val[d.size] = '\0';
	return USERDB_OK;
}

static bool
userdb_list_has(const struct userdb_list *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

int
userdb_list_add(struct userdb_list *l, const char *s)
{
	if (userdb_list_has(l, s))
		return 0;
	if (l->n >= USERDB_MAX_RESULTS)
		return -1;
	if ((l->v[l->n] = strdup(s)) == NULL)
		return -1;
	l->n++;
	return 0;
}

void
userdb_list_free(struct userdb_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i]);
		l->v[i] = NULL;
	}
	l->n = 0;
}

/* exists - key present in which; sets w->error on a read error */
static bool
exists(struct userdb_walk *w, enum userdb_file which, const char *key)
{
	char val[USERDB_VALUE_MAX];
	enum userdb_res r = userdb_get(w->udb, which, key, val, sizeof(val));

	if (r == USERDB_ERROR)
		w->error = true;
	return r == USERDB_OK;
}

static void walk_addr(struct userdb_walk *w, const char *addr, int depth);

/* walk_targets - expand the space-separated alias value `targets` */
static void
walk_targets(struct userdb_walk *w, const char *key, const char *targets,
    int depth)
{
	char t[USERDB_ADDR_MAX];
	const char *p = targets, *e;

	if (depth >= USERDB_MAX_DEPTH) {
		log_warnx("userdb: alias %s nested deeper than %d, ignored",
		    key, USERDB_MAX_DEPTH);
		return;
	}
	while (*p != '\0' && !w->error) {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		if (e == p)
			break;
		if (userdb_normalize(p, e - p, false, t, sizeof(t)))
			walk_addr(w, t, depth + 1);
		else
			log_warnx("userdb: alias %s has an invalid target", key);
		p = e;
	}
}

/* walk_alias - expand alias `key` if it exists; true if it did */
static bool
walk_alias(struct userdb_walk *w, const char *key, int depth)
{
	char val[USERDB_VALUE_MAX];
	enum userdb_res r;

	r = userdb_get(w->udb, USERDB_ALIASES, key, val, sizeof(val));
	if (r == USERDB_ERROR)
		w->error = true;
	if (r != USERDB_OK)
		return false;
	walk_targets(w, key, val, depth);
	return true;
}

static void
walk_add(struct userdb_walk *w, const char *addr)
{
	if (userdb_list_add(w->out, addr) == -1) {
		log_warnx("userdb: more than %d addresses in one expansion",
		    USERDB_MAX_RESULTS);
		w->error = true;
	}
}

static void
walk_mark(struct userdb_walk *w, const char *key)
{
	if (userdb_list_add(&w->seen, key) == -1)
		w->error = true;
}

/*
 * walk_addr - the lookup rules of userdb_resolve() for one normalized
 * address at alias depth `depth`; results go to w->out.
 */
static void
walk_addr(struct userdb_walk *w, const char *addr, int depth)
{
	char key[USERDB_ADDR_MAX];
	const char *at = strrchr(addr, '@'), *plus;

	if (!userdb_is_local(w->udb, addr)) {
		walk_add(w, addr);
		return;
	}
	bstrcpy(key, addr, sizeof(key));
	plus = memchr(addr, '+', at - addr);
	if (plus != NULL && plus != addr && !exists(w, USERDB_ALIASES, addr) &&
	    !exists(w, USERDB_USERS, addr))
		bsnprintf(key, sizeof(key), "%.*s%s", (int)(plus - addr), addr, at);
	if (w->error)
		return;
	if (userdb_list_has(&w->seen, key)) {
		/* "alice -> alice bob": the alias names its own user */
		if (exists(w, USERDB_USERS, key))
			walk_add(w, key);
		return;
	}
	walk_mark(w, key);
	if (walk_alias(w, key, depth) || w->error)
		return;
	if (exists(w, USERDB_USERS, key)) {
		walk_add(w, key);
		return;
	}
	if (w->error)
		return;
	bstrcpy(key, at, sizeof(key));
	if (userdb_list_has(&w->seen, key))
		return;
	walk_mark(w, key);
	(void)walk_alias(w, key, depth);
}

enum userdb_res
userdb_resolve(struct userdb *udb, const char *addr, struct userdb_list *out)
{
	struct userdb_walk w;
	char a[USERDB_ADDR_MAX];

	memset(&w, 0, sizeof(w));
	w.udb = udb;
	w.out = out;
	out->n = 0;
	if (!userdb_normalize(addr, strlen(addr), false, a, sizeof(a)) ||
	    !userdb_is_local(udb, a))
		return USERDB_NOTFOUND;
	walk_addr(&w, a, 0);
	userdb_list_free(&w.seen);
	if (w.error) {
		userdb_list_free(out);
		return USERDB_ERROR;
	}
	return out->n ? USERDB_OK : USERDB_NOTFOUND;
}

static int
collect_key(const char *key, const char *val, void *arg)
{
	struct userdb_list *keys = arg;

	(void)val;
	return userdb_list_add(keys, key) == -1 ? -1 : 0;
}

/* expands_to - the expansion of alias `key` includes `user` */
static bool
expands_to(struct userdb *udb, const char *key, const char *user, bool *err)
{
	struct userdb_list res;
	struct userdb_walk w;
	bool found;

	memset(&w, 0, sizeof(w));
	memset(&res, 0, sizeof(res));
	w.udb = udb;
	w.out = &res;
	walk_mark(&w, key);
	(void)walk_alias(&w, key, 0);
	found = userdb_list_has(&res, user);
	if (w.error)
		*err = true;
	userdb_list_free(&w.seen);
	userdb_list_free(&res);
	return found;
}

enum userdb_res
userdb_senders(struct userdb *udb, const char *user, struct userdb_list *out)
{
	struct userdb_list keys;
	char val[USERDB_VALUE_MAX];
	enum userdb_res r;
	bool err = false;
	size_t i;

	out->n = 0;
	memset(&keys, 0, sizeof(keys));
	r = userdb_get(udb, USERDB_USERS, user, val, sizeof(val));
	wipe(val, sizeof(val));
	if (r != USERDB_OK)
		return r;
	if (userdb_list_add(out, user) == -1)
		return USERDB_ERROR;
	/* collect first: expanding reads the same database */
	if (userdb_foreach(udb, USERDB_ALIASES, collect_key, &keys) == -1)
		err = true;
	for (i = 0; i < keys.n && !err; i++)
		if (expands_to(udb, keys.v[i], user, &err) &&
		    userdb_list_add(out, keys.v[i]) == -1)
			err = true;
	userdb_list_free(&keys);
	if (err) {
		userdb_list_free(out);
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

int
userdb_foreach(struct userdb *udb, enum userdb_file which,
    int (*cb)(const char *key, const char *val, void *arg), void *arg)
{
	char key[USERDB_ADDR_MAX], val[USERDB_VALUE_MAX];
	DBC *dbc = NULL;
	DBT k, d;
	DB *db;
	int rc, ret = -1;

	if (userdb_handle(udb, which, &db) == -1)
		return -1;
	if (db == NULL)
		return 0;
	if ((rc = db->cursor(db, NULL, &dbc, 0)) != 0) {
		log_warnx("userdb: cursor: %s", db_strerror(rc));
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((rc = dbc->get(dbc, &k, &d, DB_NEXT)) == 0) {
		if (k.size >= sizeof(key) || d.size >= sizeof(val) ||
		    memchr(k.data, '\0', k.size) || memchr(d.data, '\0', d.size)) {
			log_warnx("userdb: %s: bad record", userdb_names[which]);
			goto done;
		}
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		memcpy(val, d.data, d.size);
		val[d.size] = '\0';
		if (cb(key, val, arg) != 0)
			break;
	}
	if (rc != 0 && rc != DB_NOTFOUND) {
		log_warnx("userdb: read %s: %s", userdb_names[which],
		    db_strerror(rc));
		goto done;
	}
	ret = 0;
done:
	wipe(val, sizeof(val));
	dbc->close(dbc);
	return ret;
}

/* copy_records - every record of `from` except `skip` into `to` */
static int
copy_records(DB *from, DB *to, const char *skip, bool *skipped, char *err,
    size_t errsz)
{
	DBC *dbc;
	DBT k, d;
	int rc;

	if ((rc = from->cursor(from, NULL, &dbc, 0)) != 0) {
		bsnprintf(err, errsz, "cursor: %s", db_strerror(rc));
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((rc = dbc->get(dbc, &k, &d, DB_NEXT)) == 0) {
		if (k.size == strlen(skip) && memcmp(k.data, skip, k.size) == 0) {
			*skipped = true;
			continue;
		}
		if ((rc = to->put(to, NULL, &k, &d, 0)) != 0)
			break;
	}
	dbc->close(dbc);
	if (rc != DB_NOTFOUND) {
		bsnprintf(err, errsz, "copy: %s", db_strerror(rc));
		return -1;
	}
	return 0;
}

/* fsync_path - open path (a file or directory) and fsync it */
static int
fsync_path(const char *path)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	if (close(fd) == -1)
		rc = -1;
	return rc;
}

/* userdb_rewrite - build tmp from old (may be NULL) with key set/removed */
static int
userdb_rewrite(DB *old, const char *tmp, const char *key, const char *val,
    char *err, size_t errsz)
{
	bool skipped = false;
	DB *db = NULL;
	DBT k, d;
	int rc;

	if ((rc = db_create(&db, NULL, 0)) != 0 ||
	    (rc = db->open(db, NULL, tmp, NULL, DB_BTREE,
	    DB_CREATE | DB_EXCL, 0600)) != 0) {
		bsnprintf(err, errsz, "create %s: %s", tmp, db_strerror(rc));
		goto fail;
	}
	if (old != NULL && copy_records(old, db, key, &skipped, err, errsz) == -1)
		goto fail;
	if (val == NULL && !skipped) {
		bsnprintf(err, errsz, "%s: not found", key);
		goto fail;
	}
	if (val != NULL) {
		memset(&k, 0, sizeof(k));
		memset(&d, 0, sizeof(d));
		k.data = (void *)key;
		k.size = (u_int32_t)strlen(key);
		d.data = (void *)val;
		d.size = (u_int32_t)strlen(val);
		if ((rc = db->put(db, NULL, &k, &d, 0)) != 0) {
			bsnprintf(err, errsz, "put: %s", db_strerror(rc));
			goto fail;
		}
	}
	rc = db->close(db, 0);
	db = NULL;
	if (rc != 0) {
		bsnprintf(err, errsz, "write %s: %s", tmp, db_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	if (db != NULL)
		db->close(db, 0);
	return -1;
}

int
userdb_update(const char *state_dir, enum userdb_file which, const char *key,
    const char *val, uid_t uid, gid_t gid, char *err, size_t errsz)
{
	char path[4096], tmp[4096], lock[4096];
	DB *old = NULL;
	int lockfd = -1, ret = -1;
	bool made_tmp = false;

	if (!userdb_path(state_dir, which, "", path, sizeof(path)) ||
	    !userdb_path(state_dir, which, ".tmp", tmp, sizeof(tmp)) ||
	    !bsnprintf(lock, sizeof(lock), "%s/userdb.lock", state_dir)) {
		bsnprintf(err, errsz, "%s: path too long", state_dir);
		return -1;
	}
	if ((lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(lockfd, LOCK_EX) == -1) {
		bsnprintf(err, errsz, "%s: %s", lock, strerror(errno));
		goto done;
	}
	/* a leftover from a crashed writer: we hold the lock, it is ours */
	if (unlink(tmp) == -1 && errno != ENOENT) {
		bsnprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (access(path, F_OK) == 0 && (old = db_open_rdonly(path)) == NULL) {
		bsnprintf(err, errsz, "%s: cannot open", path);
		goto done;
	}
	made_tmp = true;
	if (userdb_rewrite(old, tmp, key, val, err, errsz) == -1)
		goto done;
	if (uid != (uid_t)-1 && chown(tmp, uid, gid) == -1) {
		bsnprintf(err, errsz, "chown %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (fsync_path(tmp) == -1 || rename(tmp, path) == -1) {
		bsnprintf(err, errsz, "%s: %s", path, strerror(errno));
		goto done;
	}
	made_tmp = false;
	if (fsync_path(state_dir) == -1) {
		bsnprintf(err, errsz, "fsync %s: %s", state_dir, strerror(errno));
		goto done;
	}
	ret = 0;
done:
	if (made_tmp)
		(void)unlink(tmp);
	if (old != NULL)
		old->close(old, 0);
	if (lockfd != -1)
		close(lockfd);
	return ret;
}
