/* SPDX-License-Identifier: ISC */
/*
 * keytool_alias.c - facteur-keytool alias add|del|list [ADDRESS [TARGET...]].
 *
 *   alias add ADDRESS TARGET...   create, or add targets to, an alias;
 *                                 ADDRESS "@domain" is the domain's catch-all
 *   alias del ADDRESS [TARGET...] remove those targets (the alias goes with
 *                                 its last one), or the whole alias
 *   alias list [ADDRESS]          "ADDRESS TARGET..." lines
 *
 * ADDRESS must be in a local domain; targets are full addresses, local or
 * not.  Writes state_dir/aliases.db through userdb_update() (atomic).
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "keytool.h"
#include "userdb.h"
#include "xmem.h"

/* has_target - `t` is one of the space-separated words of `list` */
static bool
has_target(const char *list, const char *t)
{
	size_t n = strlen(t);
	const char *p = list;

	while ((p = strstr(p, t)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static bool
append(char *val, size_t valsz, const char *t)
{
	size_t len = strlen(val);

	return bsnprintf(val + len, valsz - len, "%s%s", len ? " " : "", t);
}

static enum userdb_res
alias_get(const struct conf *c, const char *key, char *val, size_t valsz)
{
	struct userdb *udb = userdb_open(c->state_dir, c->domains);
	enum userdb_res r;

	if (udb == NULL)
		return USERDB_ERROR;
	r = userdb_get(udb, USERDB_ALIASES, key, val, valsz);
	userdb_close(&udb);
	if (r == USERDB_ERROR)
		fprintf(stderr, "facteur-keytool: cannot read %s/aliases.db\n",
		    c->state_dir);
	return r;
}

static int
alias_write(const struct conf *c, const char *key, const char *val)
{
	char err[512];
	uid_t uid;
	gid_t gid;

	keytool_owner(c, &uid, &gid);
	if (userdb_update(c->state_dir, USERDB_ALIASES, key, val, uid, gid, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "facteur-keytool: %s\n", err);
		return KEYTOOL_FAIL;
	}
	return KEYTOOL_OK;
}

/*
 * alias_warn - what the new alias key does that its author may not mean:
 * deliver nowhere (every target local and neither a user nor an alias:
 * mail to it is refused with 550), or take a user's mail away from her
 */
static void
alias_warn(const struct conf *c, const char *key, const char *val)
{
	struct userdb *udb = userdb_open(c->state_dir, c->domains);
	struct userdb_list l = { .n = 0 };
	char u[USERDB_VALUE_MAX];

	if (key[0] == '@' || udb == NULL) {	/* a catch-all: nothing to say */
		userdb_close(&udb);
		return;
	}
	if (userdb_resolve(udb, key, &l) == USERDB_NOTFOUND)
		fprintf(stderr, "facteur-keytool: warning: %s delivers to no "
		    "mailbox (%s: no such user): mail to it is refused until "
		    "one of its targets is a user\n", key, val);
	else if (userdb_get(udb, USERDB_USERS, key, u,
	    sizeof(u)) == USERDB_OK && !has_target(val, key))
		fprintf(stderr, "facteur-keytool: warning: %s is a user: its "
		    "mail now goes to %s instead (add %s as a target too to "
		    "keep it)\n", key, val, key);
	userdb_list_free(&l);
	userdb_close(&udb);
}

static int
alias_add(const struct conf *c, const char *key, int n, char **targets)
{
	char val[USERDB_VALUE_MAX], t[USERDB_ADDR_MAX];
	enum userdb_res r;
	int i, rc;

	if ((r = alias_get(c, key, val, sizeof(val))) == USERDB_ERROR)
		return KEYTOOL_FAIL;
	if (r == USERDB_NOTFOUND)
		val[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!keytool_address(c, targets[i], false, false, t, sizeof(t)))
			return KEYTOOL_FAIL;
		if (has_target(val, t))
			continue;
		if (!append(val, sizeof(val), t)) {
			fprintf(stderr, "facteur-keytool: %s: too many targets\n",
			    key);
			return KEYTOOL_FAIL;
		}
	}
	if ((rc = alias_write(c, key, val)) == KEYTOOL_OK) {
		printf("%s %s\n", key, val);
		alias_warn(c, key, val);
	}
	return rc;
}

static int
alias_del(const struct conf *c, const char *key, int n, char **targets)
{
	char val[USERDB_VALUE_MAX], out[USERDB_VALUE_MAX], t[USERDB_ADDR_MAX];
	char *w;
	enum userdb_res r;
	int i;

	if (n == 0) {
		if (alias_write(c, key, NULL) != KEYTOOL_OK)
			return KEYTOOL_FAIL;
		printf("deleted %s\n", key);
		return KEYTOOL_OK;
	}
	if ((r = alias_get(c, key, val, sizeof(val))) != USERDB_OK) {
		if (r == USERDB_NOTFOUND)
			fprintf(stderr, "facteur-keytool: %s: no such alias\n", key);
		return KEYTOOL_FAIL;
	}
	for (i = 0; i < n; i++) {
		if (!keytool_address(c, targets[i], false, false, t, sizeof(t)))
			return KEYTOOL_FAIL;
		if (!has_target(val, t)) {
			fprintf(stderr, "facteur-keytool: %s is not a target of %s\n",
			    t, key);
			return KEYTOOL_FAIL;
		}
	}
	out[0] = '\0';
	for (w = val; *w != '\0'; ) {
		char *end = strchr(w, ' ');
		bool drop = false;

		if (end != NULL)
			*end = '\0';
		for (i = 0; i < n && !drop; i++) {
			(void)keytool_address(c, targets[i], false, false, t, sizeof(t));
			drop = strcmp(w, t) == 0;
		}
		if (!drop && *w != '\0')
			(void)append(out, sizeof(out), w);
		if (end == NULL)
			break;
		w = end + 1;
	}
	if (alias_write(c, key, out[0] ? out : NULL) != KEYTOOL_OK)
		return KEYTOOL_FAIL;
	if (out[0])
		printf("%s %s\n", key, out);
	else
		printf("deleted %s\n", key);
	return KEYTOOL_OK;
}

static int
print_alias(const char *key, const char *val, void *arg)
{
	const char *only = arg;

	if (only == NULL || strcmp(only, key) == 0)
		printf("%s %s\n", key, val);
	return 0;
}

static int
alias_list(const struct conf *c, const char *only)
{
	struct userdb *udb = userdb_open(c->state_dir, c->domains);
	int rc;

	if (udb == NULL)
		return KEYTOOL_FAIL;
	rc = userdb_foreach(udb, USERDB_ALIASES, print_alias, (void *)only);
	userdb_close(&udb);
	if (rc == -1) {
		fprintf(stderr, "facteur-keytool: cannot read %s/aliases.db\n",
		    c->state_dir);
		return KEYTOOL_FAIL;
	}
	return KEYTOOL_OK;
}

int
keytool_cmd_alias(const struct conf *c, int argc, char **argv)
{
	char key[USERDB_ADDR_MAX];

	if (argc < 2)
		return keytool_bad_arg("alias", NULL);
	if (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "del") != 0 &&
	    strcmp(argv[1], "list") != 0)
		return keytool_bad_arg("alias", argv[1]);
	if (strcmp(argv[1], "list") == 0) {
		if (argc > 3)
			return keytool_bad_arg("alias", argv[3]);
		if (argc == 3 && !keytool_address(c, argv[2], true, true, key,
		    sizeof(key)))
			return KEYTOOL_FAIL;
		return alias_list(c, argc == 3 ? key : NULL);
	}
	if (argc < 3 || (strcmp(argv[1], "add") == 0 && argc < 4))
		return keytool_bad_arg("alias", NULL);
	if (!keytool_address(c, argv[2], true, true, key, sizeof(key)))
		return KEYTOOL_FAIL;
	if (keytool_state_dir(c) == -1)
		return KEYTOOL_FAIL;
	if (strcmp(argv[1], "add") == 0)
		return alias_add(c, key, argc - 3, argv + 3);
	if (strcmp(argv[1], "del") == 0)
		return alias_del(c, key, argc - 3, argv + 3);
	return KEYTOOL_USAGE;
}

/* orphan - an alias that names the deleted user and now delivers nowhere */
static int
orphan(const char *key, const char *val, void *arg)
{
	void **a = arg;
	struct userdb_list l = { .n = 0 };

	if (has_target(val, a[1]) &&
	    userdb_resolve(a[0], key, &l) == USERDB_NOTFOUND)
		fprintf(stderr, "facteur-keytool: warning: alias %s (%s) now "
		    "delivers to no mailbox: its mail is refused; change it with "
		    "alias add/del\n", key, val);
	userdb_list_free(&l);
	return 0;
}

void
keytool_alias_orphans(const struct conf *c, const char *addr)
{
	struct userdb *udb = userdb_open(c->state_dir, c->domains);
	void *a[2] = { udb, (void *)addr };

	if (udb == NULL)
		return;
	(void)userdb_foreach(udb, USERDB_ALIASES, orphan, a);
	userdb_close(&udb);
}
