/* SPDX-License-Identifier: ISC */
/*
 * keytool_user.c - facteur-keytool user add|passwd|del|list [ADDRESS].
 *
 * Writes state_dir/users.db through userdb_update() (atomic rename, so a
 * running authd sees the old or the new file).  The password is read from
 * stdin when it is not a terminal (one line, newline stripped: scripts,
 * `make run`), otherwise prompted twice with echo off; it is never taken
 * from argv (visible in ps) and is wiped once hashed.  One shorter than
 * KEYTOOL_PW_MIN characters is refused (keytool_password_ok).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "conf.h"
#include "keytool.h"
#include "passwd.h"
#include "userdb.h"
#include "xmem.h"

#define PW_MAX	KEYTOOL_PW_MAX

/* read_line - one line from f into buf without its newline; -1 on EOF/too long */
static int
read_line(FILE *f, char *buf, size_t bufsz, size_t *len_r)
{
	size_t n = 0;
	int ch;

	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (n + 1 >= bufsz || ch == '\0')
			return -1;
		buf[n++] = (char)ch;
	}
	if (ch == EOF && n == 0)
		return -1;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len_r = n;
	return 0;
}

/* prompt - ask on the terminal with echo off */
static int
prompt(const char *question, char *buf, size_t bufsz, size_t *len_r)
{
	struct termios old, quiet;
	FILE *tty;
	int rc;

	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return -1;
	fputs(question, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == -1) {
		fclose(tty);
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	(void)tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	rc = read_line(tty, buf, bufsz, len_r);
	(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	return rc;
}

int
keytool_read_password(char *pw, size_t pwsz, size_t *len_r)
{
	char again[PW_MAX];
	size_t len2;
	int rc = -1;

	if (!isatty(STDIN_FILENO)) {
		if (read_line(stdin, pw, pwsz, len_r) == -1) {
			fprintf(stderr, "facteur-keytool: expected the password "
			    "as one line on stdin (at most %d bytes, no NUL)\n",
			    PW_MAX - 1);
			return -1;
		}
	} else {
		if (prompt("New password: ", pw, pwsz, len_r) == -1 ||
		    prompt("Again: ", again, sizeof(again), &len2) == -1) {
			fprintf(stderr, "facteur-keytool: cannot read the password\n");
			goto done;
		}
		if (len2 != *len_r || memcmp(pw, again, len2) != 0) {
			fprintf(stderr, "facteur-keytool: the passwords differ\n");
			goto done;
		}
	}
	if (*len_r == 0) {
		fprintf(stderr, "facteur-keytool: empty password refused\n");
		goto done;
	}
	rc = 0;
done:
	wipe(again, sizeof(again));
	if (rc == -1)
		wipe(pw, pwsz);
	return rc;
}

bool
keytool_password_ok(const char *pw, size_t len)
{
	size_t i, chars = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)pw[i] & 0xc0) != 0x80)
			chars++;	/* not a UTF-8 continuation byte */
	if (chars >= KEYTOOL_PW_MIN)
		return true;
	fprintf(stderr, "facteur-keytool: password refused: %zu characters, "
	    "at least %d are needed (anyone who guesses a short one can send "
	    "spam through the submission port)\n", chars, KEYTOOL_PW_MIN);
	return false;
}

static bool
user_exists(const struct conf *c, const char *addr)
{
	char val[USERDB_VALUE_MAX];
	struct userdb *udb = userdb_open(c->state_dir, c->domains);
	enum userdb_res r;

	if (udb == NULL)
		return false;
	r = userdb_get(udb, USERDB_USERS, addr, val, sizeof(val));
	wipe(val, sizeof(val));
	userdb_close(&udb);
	return r == USERDB_OK;
}

/* user_set - add (must not exist) or passwd (must exist) */
static int
user_set(const struct conf *c, const char *addr, bool add)
{
	char pw[PW_MAX];
	size_t pwlen = 0;
	int rc;

	if (add && user_exists(c, addr)) {
		fprintf(stderr, "facteur-keytool: %s exists; use `user passwd`\n",
		    addr);
		return KEYTOOL_FAIL;
	}
	if (!add && !user_exists(c, addr)) {
		fprintf(stderr, "facteur-keytool: %s: no such user\n", addr);
		return KEYTOOL_FAIL;
	}
	if (keytool_read_password(pw, sizeof(pw), &pwlen) == -1)
		return KEYTOOL_FAIL;
	if (!keytool_password_ok(pw, pwlen)) {
		wipe(pw, sizeof(pw));
		return KEYTOOL_FAIL;
	}
	rc = keytool_user_put(c, addr, pw, pwlen);
	wipe(pw, sizeof(pw));
	if (rc == -1)
		return KEYTOOL_FAIL;
	printf("%s %s\n", add ? "added" : "password changed for", addr);
	return KEYTOOL_OK;
}

int
keytool_user_put(const struct conf *c, const char *addr, const char *pw,
    size_t pwlen)
{
	char hash[PASSWD_HASH_MAX], err[512];
	uid_t uid;
	gid_t gid;

	if (passwd_hash(pw, pwlen, hash, sizeof(hash)) == -1) {
		fprintf(stderr, "facteur-keytool: cannot hash the password\n");
		return -1;
	}
	keytool_owner(c, &uid, &gid);
	if (userdb_update(c->state_dir, USERDB_USERS, addr, hash, uid, gid, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "facteur-keytool: %s\n", err);
		return -1;
	}
	return 0;
}

static int
print_key(const char *key, const char *val, void *arg)
{
	(void)val;
	(void)arg;
	printf("%s\n", key);
	return 0;
}

static int
user_list(const struct conf *c)
{
	struct userdb *udb = userdb_open(c->state_dir, c->domains);
	int rc;

	if (udb == NULL)
		return KEYTOOL_FAIL;
	rc = userdb_foreach(udb, USERDB_USERS, print_key, NULL);
	userdb_close(&udb);
	if (rc == -1) {
		fprintf(stderr, "facteur-keytool: cannot read %s/users.db\n",
		    c->state_dir);
		return KEYTOOL_FAIL;
	}
	return KEYTOOL_OK;
}

int
keytool_cmd_user(const struct conf *c, int argc, char **argv)
{
	char addr[USERDB_ADDR_MAX], err[512];
	uid_t uid;
	gid_t gid;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return user_list(c);
	if (argc >= 2 && strcmp(argv[1], "add") != 0 &&
	    strcmp(argv[1], "passwd") != 0 && strcmp(argv[1], "del") != 0 &&
	    strcmp(argv[1], "list") != 0)
		return keytool_bad_arg("user", argv[1]);
	if (argc != 3)
		return keytool_bad_arg("user", argc < 3 ? NULL : argv[3]);
	if (!keytool_address(c, argv[2], false, true, addr, sizeof(addr)))
		return KEYTOOL_FAIL;
	if (keytool_state_dir(c) == -1)
		return KEYTOOL_FAIL;
	if (strcmp(argv[1], "del") != 0)
		return user_set(c, addr, strcmp(argv[1], "add") == 0);
	keytool_owner(c, &uid, &gid);
	if (userdb_update(c->state_dir, USERDB_USERS, addr, NULL, uid, gid, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "facteur-keytool: %s\n", err);
		return KEYTOOL_FAIL;
	}
	printf("deleted %s\n", addr);
	keytool_alias_orphans(c, addr);
	return KEYTOOL_OK;
}
