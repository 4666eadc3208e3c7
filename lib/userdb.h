/* SPDX-License-Identifier: ISC */
/*
 * userdb.h - the users and aliases databases (Berkeley DB 5.3, B-tree) in
 * state_dir, read by facteur-authd and written by facteur-keytool.
 *
 *   users.db    key "local@domain" (lower case)   value: passwd.h hash string
 *   aliases.db  key "local@domain" or "@domain"   value: targets, one space
 *               between them ("alice@example.org bob@example.net")
 *
 * Keys and values are stored without a trailing NUL.  Writers never change
 * a file in place: userdb_update() builds a complete new file next to the
 * old one, fsyncs it and renames it over, under an exclusive lock on
 * state_dir/userdb.lock, so a reader sees the old or the new database and
 * nothing in between.  Readers keep one read-only handle per file and
 * reopen it when stat() says another file took its place.  Files are mode
 * 0600, owned by the configured `user` so authd can read them after it
 * dropped privileges.
 */
#ifndef FACTEUR_USERDB_H
#define FACTEUR_USERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define USERDB_ADDR_MAX		255	/* bytes of an address, NUL included */
#define USERDB_VALUE_MAX	4096	/* bytes of a stored value, NUL included */
#define USERDB_MAX_DEPTH	8	/* alias nesting */
#define USERDB_MAX_RESULTS	64	/* addresses one lookup may return */

enum userdb_file {
	USERDB_USERS,
	USERDB_ALIASES,
};

enum userdb_res {
	USERDB_OK,
	USERDB_NOTFOUND,
	USERDB_ERROR,		/* cannot open or read: a temporary failure */
};

/* a list of addresses owned by the list */
struct userdb_list {
	char	*v[USERDB_MAX_RESULTS];
	size_t	 n;
};

struct userdb;

/*
 * userdb_open - a reader on state_dir's databases; `domains` (NULL-ended,
 * lower case, borrowed for the handle's lifetime) are the local domains.
 * Missing files read as empty.  Returns NULL only when out of memory.
 */
struct userdb	*userdb_open(const char *state_dir, char *const *domains);
void		 userdb_close(struct userdb **udbp);

/*
 * userdb_normalize - lower-case `in` (len bytes, untrusted) into `out` and
 * check it is "local@domain" (or "@domain" when catchall is true) with an
 * atext/dot local part of at most 64 bytes and a domain of letters, digits,
 * '-' and '.'.  False on anything else.
 */
bool		 userdb_normalize(const char *in, size_t len, bool catchall,
		    char *out, size_t outsz);

/* userdb_is_local - the domain of normalized `addr` is one of ours */
bool		 userdb_is_local(const struct userdb *udb, const char *addr);

/*
 * userdb_get - the value stored under normalized `key` in `which`, copied
 * NUL-terminated into `val`.
 */
enum userdb_res	 userdb_get(struct userdb *udb, enum userdb_file which,
		    const char *key, char *val, size_t valsz);

/*
 * userdb_resolve - final mailboxes of recipient `addr` (SPEC 5 / authc.h
 * AUTHD_RCPT): lower-case; "local+tag@d" becomes "local@d" unless the full
 * address is itself a user or an alias; then the exact alias, the user,
 * the "@domain" catch-all.  Alias targets expand recursively (depth
 * USERDB_MAX_DEPTH, each address expanded once, so loops end); targets in
 * other domains are returned as they are.  NOTFOUND when nothing is left.
 * The caller frees `out` with userdb_list_free().
 */
enum userdb_res	 userdb_resolve(struct userdb *udb, const char *addr,
		    struct userdb_list *out);

/*
 * userdb_senders - the addresses user `user` (normalized) may send as: its
 * own, and every alias key whose expansion includes it ("@domain" keys are
 * returned as they are, as patterns).  NOTFOUND if `user` is no user.
 */
enum userdb_res	 userdb_senders(struct userdb *udb, const char *user,
		    struct userdb_list *out);

void		 userdb_list_free(struct userdb_list *l);
/* userdb_list_add - append a copy unless present; -1 when full or no memory */
int		 userdb_list_add(struct userdb_list *l, const char *s);

/*
 * userdb_foreach - call cb(key, value, arg) for every record of `which`
 * in key order until cb returns non-zero.  Returns 0, or -1 on a read
 * error.
 */
int		 userdb_foreach(struct userdb *udb, enum userdb_file which,
		    int (*cb)(const char *key, const char *val, void *arg),
		    void *arg);

/*
 * userdb_update - writers only: set `key` to `val` in `which` (val NULL
 * deletes it) by rewriting the file atomically (see above).  The new file
 * is chowned to uid/gid unless uid is (uid_t)-1.  Returns 0, or -1 with a
 * message in err.  Deleting a missing key is an error ("not found").
 */
int		 userdb_update(const char *state_dir, enum userdb_file which,
		    const char *key, const char *val, uid_t uid, gid_t gid,
		    char *err, size_t errsz);

#endif
