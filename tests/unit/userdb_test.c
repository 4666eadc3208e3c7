/* SPDX-License-Identifier: ISC */
/*
 * userdb_test.c - lib/userdb.c: address normalization, the recipient
 * lookup rules (sub-addresses, catch-all, nested aliases, loops, foreign
 * targets), send-as lists, and atomic rewrites seen by an open reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userdb.h"
#include "t.h"

static const char hash[] = "$scrypt$ln=14,r=8,p=1$c2FsdHNhbHRzYWx0$"
    "qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE";

static const struct {
	const char	*in;
	bool		 catchall;
	const char	*want;		/* NULL: rejected */
} norm[] = {
	{ "Alice@Example.ORG", false, "alice@example.org" },
	{ "a.b+c@ex-ample.org", false, "a.b+c@ex-ample.org" },
	{ "@example.org", true, "@example.org" },
	{ "@example.org", false, NULL },
	{ "alice", false, NULL },
	{ "alice@", false, NULL },
	{ "a@b@example.org", false, NULL },
	{ ".a@example.org", false, NULL },
	{ "a.@example.org", false, NULL },
	{ "a..b@example.org", false, NULL },
	{ "a b@example.org", false, NULL },
	{ "a/b@example.org", false, NULL },
	{ "a@example..org", false, NULL },
	{ "a@-example.org", false, NULL },
	{ "a@example-.org", false, NULL },
	{ "a@example.org.", false, NULL },
	{ "a\r@example.org", false, NULL },
	{ "\"a\"@example.org", false, NULL },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.org", false, NULL },
};

static const struct {
	const char *key, *val;
} users[] = {
	{ "alice@example.org", hash },
	{ "bob@example.org", hash },
	{ "carol@example.net", hash },
	{ "dave+work@example.org", hash },
};

static const struct {
	const char *key, *val;
} aliases[] = {
	{ "postmaster@example.org", "alice@example.org" },
	{ "family@example.org", "alice@example.org bob@example.org" },
	{ "all@example.org", "family@example.org carol@example.net" },
	{ "self@example.org", "self@example.org alice@example.org" },
	{ "alice@example.org", "alice@example.org alice@elsewhere.com" },
	{ "loop1@example.org", "loop2@example.org" },
	{ "loop2@example.org", "loop1@example.org" },
	{ "fwd@example.org", "someone@gmail.com" },
	{ "@example.net", "carol@example.net" },
	{ "bob+spam@example.org", "fwd@example.org" },
	{ "d1@example.org", "d2@example.org" },
	{ "d2@example.org", "d3@example.org" },
	{ "d3@example.org", "d4@example.org" },
	{ "d4@example.org", "d5@example.org" },
	{ "d5@example.org", "d6@example.org" },
	{ "d6@example.org", "d7@example.org" },
	{ "d7@example.org", "d8@example.org" },
	{ "d8@example.org", "d9@example.org" },
	{ "d9@example.org", "bob@example.org" },
	{ "ghost@example.org", "nobody@example.org" },
};

static const struct {
	const char	*rcpt;
	enum userdb_res	 res;
	const char	*want;		/* space-separated, in order */
} rcpts[] = {
	{ "bob@example.org", USERDB_OK, "bob@example.org" },
	{ "BOB@Example.Org", USERDB_OK, "bob@example.org" },
	{ "bob+news@example.org", USERDB_OK, "bob@example.org" },
	{ "bob+spam@example.org", USERDB_OK, "someone@gmail.com" },
	{ "dave+work@example.org", USERDB_OK, "dave+work@example.org" },
	{ "dave@example.org", USERDB_NOTFOUND, "" },
	{ "+x@example.org", USERDB_NOTFOUND, "" },
	{ "nobody@example.org", USERDB_NOTFOUND, "" },
	{ "postmaster@example.org", USERDB_OK, "alice@example.org alice@elsewhere.com" },
	{ "alice@example.org", USERDB_OK, "alice@example.org alice@elsewhere.com" },
	{ "family@example.org", USERDB_OK,
	    "alice@example.org alice@elsewhere.com bob@example.org" },
	{ "all@example.org", USERDB_OK,
	    "alice@example.org alice@elsewhere.com bob@example.org carol@example.net" },
	{ "self@example.org", USERDB_OK, "alice@example.org alice@elsewhere.com" },
	{ "loop1@example.org", USERDB_NOTFOUND, "" },
	{ "fwd@example.org", USERDB_OK, "someone@gmail.com" },
	{ "anything@example.net", USERDB_OK, "carol@example.net" },
	{ "x+y@example.net", USERDB_OK, "carol@example.net" },
	{ "carol@example.net", USERDB_OK, "carol@example.net" },
	{ "someone@gmail.com", USERDB_NOTFOUND, "" },
	{ "d1@example.org", USERDB_NOTFOUND, "" },	/* 9 levels: too deep */
	{ "d2@example.org", USERDB_OK, "bob@example.org" },
	{ "ghost@example.org", USERDB_NOTFOUND, "" },
	{ "not an address", USERDB_NOTFOUND, "" },
};

static const struct {
	const char	*user;
	enum userdb_res	 res;
	const char	*want;
} senders[] = {
	{ "alice@example.org", USERDB_OK,
	    "alice@example.org all@example.org family@example.org "
	    "postmaster@example.org self@example.org" },
	{ "bob@example.org", USERDB_OK,
	    "bob@example.org all@example.org d2@example.org d3@example.org "
	    "d4@example.org d5@example.org d6@example.org d7@example.org "
	    "d8@example.org d9@example.org family@example.org" },
	{ "carol@example.net", USERDB_OK,
	    "carol@example.net @example.net all@example.org" },
	{ "nobody@example.org", USERDB_NOTFOUND, "" },
};

static void
join(const struct userdb_list *l, char *out, size_t outsz)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if (i)
			strncat(out, " ", outsz - strlen(out) - 1);
		strncat(out, l->v[i], outsz - strlen(out) - 1);
	}
}

static int
count_cb(const char *key, const char *val, void *arg)
{
	(void)key;
	(void)val;
	(*(int *)arg)++;
	return 0;
}

int
main(void)
{
	char dir[] = "/tmp/userdb_test.XXXXXX", out[USERDB_ADDR_MAX];
	char got[4096], val[USERDB_VALUE_MAX], err[256], path[512];
	char *domains[] = { "example.org", "example.net", NULL };
	struct userdb_list l = { .n = 0 };
	struct userdb *udb;
	struct stat st;
	size_t i;
	int n;

	for (i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
		bool ok = userdb_normalize(norm[i].in, strlen(norm[i].in),
		    norm[i].catchall, out, sizeof(out));
		if (norm[i].want == NULL) {
			if (ok)
				fprintf(stderr, "accepted %s\n", norm[i].in);
			CHECK(!ok);
		} else {
			CHECK(ok);
			CHECK_STR(ok ? out : NULL, norm[i].want);
		}
	}

	if (mkdtemp(dir) == NULL)
		return 1;
	udb = userdb_open(dir, domains);
	CHECK(udb != NULL);
	/* no files yet: everything is simply not found */
	CHECK(userdb_get(udb, USERDB_USERS, "alice@example.org", val,
	    sizeof(val)) == USERDB_NOTFOUND);
	CHECK(userdb_resolve(udb, "alice@example.org", &l) == USERDB_NOTFOUND);

	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		CHECK(userdb_update(dir, USERDB_USERS, users[i].key, users[i].val,
		    (uid_t)-1, (gid_t)-1, err, sizeof(err)) == 0);
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		CHECK(userdb_update(dir, USERDB_ALIASES, aliases[i].key,
		    aliases[i].val, (uid_t)-1, (gid_t)-1, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/users.db", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	/* the reader opened before the writes sees them (file replaced) */
	CHECK(userdb_get(udb, USERDB_USERS, "alice@example.org", val,
	    sizeof(val)) == USERDB_OK);
	CHECK_STR(val, hash);

	for (i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		enum userdb_res r = userdb_resolve(udb, rcpts[i].rcpt, &l);

		join(&l, got, sizeof(got));
		if (r != rcpts[i].res)
			fprintf(stderr, "rcpt %s: res %d\n", rcpts[i].rcpt, r);
		CHECK(r == rcpts[i].res);
		CHECK_STR(got, rcpts[i].want);
		userdb_list_free(&l);
	}
	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		enum userdb_res r = userdb_senders(udb, senders[i].user, &l);

		join(&l, got, sizeof(got));
		CHECK(r == senders[i].res);
		CHECK_STR(got, senders[i].want);
		userdb_list_free(&l);
	}

	/* replace, delete, delete a missing key */
	CHECK(userdb_update(dir, USERDB_USERS, "bob@example.org", "$x",
	    (uid_t)-1, (gid_t)-1, err, sizeof(err)) == 0);
	CHECK(userdb_get(udb, USERDB_USERS, "bob@example.org", val,
	    sizeof(val)) == USERDB_OK);
	CHECK_STR(val, "$x");
	CHECK(userdb_update(dir, USERDB_USERS, "bob@example.org", NULL,
	    (uid_t)-1, (gid_t)-1, err, sizeof(err)) == 0);
	CHECK(userdb_update(dir, USERDB_USERS, "bob@example.org", NULL,
	    (uid_t)-1, (gid_t)-1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "not found") != NULL);
	CHECK(userdb_resolve(udb, "bob@example.org", &l) == USERDB_NOTFOUND);
	n = 0;
	CHECK(userdb_foreach(udb, USERDB_USERS, count_cb, &n) == 0);
	CHECK(n == 3);
	n = 0;
	CHECK(userdb_foreach(udb, USERDB_ALIASES, count_cb, &n) == 0);
	CHECK(n == (int)(sizeof(aliases) / sizeof(aliases[0])));

	/* a writer rewriting while a reader reads: never a torn database */
	{
		int errors = 0, status, reads = 0;
		pid_t pid = fork();

		if (pid == 0) {
			char k[64];

			for (n = 0; n < 40; n++) {
				snprintf(k, sizeof(k), "w%d@example.org", n);
				if (userdb_update(dir, USERDB_USERS, k, hash,
				    (uid_t)-1, (gid_t)-1, err, sizeof(err)) == -1)
					_exit(1);
			}
			_exit(0);
		}
		do {
			if (userdb_get(udb, USERDB_USERS, "alice@example.org", val,
			    sizeof(val)) != USERDB_OK)
				errors++;
			reads++;
		} while (waitpid(pid, &status, WNOHANG) == 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK(errors == 0);
		CHECK(userdb_get(udb, USERDB_USERS, "w39@example.org", val,
		    sizeof(val)) == USERDB_OK);
		printf("userdb: %d reads during 40 rewrites, %d errors\n", reads,
		    errors);
	}

	/* a corrupt file is an error, not "not found" */
	userdb_close(&udb);
	udb = userdb_open(dir, domains);
	{
		FILE *f = fopen(path, "w");
		fputs("garbage, not a Berkeley DB file at all\n", f);
		fclose(f);
	}
	CHECK(userdb_get(udb, USERDB_USERS, "alice@example.org", val,
	    sizeof(val)) == USERDB_ERROR);
	CHECK(userdb_resolve(udb, "alice@example.org", &l) == USERDB_ERROR);
	userdb_close(&udb);
	CHECK(udb == NULL);

	snprintf(got, sizeof(got), "rm -rf '%s'", dir);
	if (system(got) != 0)
		fprintf(stderr, "cleanup failed\n");
	return T_DONE();
}
