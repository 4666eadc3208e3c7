/* SPDX-License-Identifier: ISC */
/*
 * keytool.c - facteur-keytool main: "-c FILE", the configuration, and a
 * table of subcommands (keytool.h).
 *
 * Run by the administrator, usually as root, in the foreground; it writes
 * users.db, aliases.db, DKIM keys and certificates, never talks to the
 * network except in `spf` and `dmarc` (DNS), `doctor` (DNS, and SMTP
 * to the relay, a well-known MX and our own port 25) and `acme` (HTTPS to
 * the CA, an HTTP-01 listener).  Exit status: 0 ok, 1 failure explained
 * on stderr, 2 bad usage (SPEC 4).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "keytool.h"
#include "log.h"
#include "priv.h"
#include "userdb.h"
#include "xmem.h"

#define DEFAULT_CONF	"/etc/facteur/facteur.conf"

static const struct {
	const char	*name;
	int		(*fn)(const struct conf *, int, char **);
	const char	*usage;
} cmds[] = {
	{ "user", keytool_cmd_user, "user add|passwd|del|list [ADDRESS]" },
	{ "alias", keytool_cmd_alias, "alias add|del|list [ADDRESS [TARGET...]]" },
	{ "dkim", keytool_cmd_dkim, "dkim generate DOMAIN SELECTOR [--rsa|--ed25519] [--force]" },
	{ "tls", keytool_cmd_tls, "tls selfsigned [--force]" },
	{ "acme", keytool_cmd_acme, "acme issue|renew" },
	{ "dns", keytool_cmd_dns, "dns" },
	{ "doctor", keytool_cmd_doctor, "doctor" },
	{ "accounts", keytool_cmd_accounts, "accounts" },
	{ "spf", keytool_cmd_spf, "spf IP MAILFROM [HELO]" },
	{ "dmarc", keytool_cmd_dmarc, "dmarc DOMAIN" },
	/* before any configuration exists: main calls it without loading one */
	{ "setup", NULL, "setup DOMAIN [--user ADDRESS] [--dir DIR] "
	    "[--relay HOST:PORT [--relay-user U]] [--force] ..." },
};

static void __attribute__((noreturn))
usage(void)
{
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "%s facteur-keytool [-c FILE] %s\n",
		    i ? "      " : "usage:", cmds[i].usage);
	exit(KEYTOOL_USAGE);
}

int
keytool_bad_arg(const char *cmd, const char *arg)
{
	if (arg == NULL)
		fprintf(stderr, "facteur-keytool: %s: missing arguments\n", cmd);
	else if (arg[0] == '-' && arg[1] != '\0')
		fprintf(stderr, "facteur-keytool: %s: unknown option %s\n", cmd,
		    arg);
	else
		fprintf(stderr, "facteur-keytool: %s: unexpected argument "
		    "\"%s\"\n", cmd, arg);
	return KEYTOOL_USAGE;
}

int
keytool_state_dir(const struct conf *c)
{
	return keytool_mkdirs(c->state_dir);
}

int
keytool_mkdirs(const char *dir)
{
	char path[4096], *p;

	if (!bstrcpy(path, dir, sizeof(path))) {
		fprintf(stderr, "facteur-keytool: %s: path too long\n", dir);
		return -1;
	}
	/* mkdir -p: each parent, then the directory itself */
	for (p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;

		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			fprintf(stderr, "facteur-keytool: mkdir %s: %s\n", path,
			    strerror(errno));
			return -1;
		}
		*p = save;
		if (save == '\0')
			break;
	}
	return 0;
}

bool
keytool_user_setup(const struct conf *c, uid_t *uid_r, gid_t *gid_r)
{
	struct stat st;

	if (geteuid() != 0 || stat(c->state_dir, &st) == -1 || st.st_uid == 0)
		return false;
	*uid_r = st.st_uid;
	*gid_r = st.st_gid;
	return true;
}

void
keytool_give(const struct conf *c, const char *path)
{
	char name[PRIV_NAME_MAX];
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (!keytool_user_setup(c, &uid, &gid) ||
	    !priv_account_name(c, PRIV_AUTH, name, sizeof(name)) ||
	    getpwnam(name) != NULL)
		return;
	pw = getpwuid(uid);
	fprintf(stderr, "facteur-keytool: warning: %s is root's: daemons "
	    "started by %s (the owner of %s) cannot read it; \"chown %s %s\" "
	    "if they are, or start them as root\n", path,
	    pw ? pw->pw_name : "its owner", c->state_dir,
	    pw ? pw->pw_name : "USER", path);
}

void
keytool_owner(const struct conf *c, uid_t *uid_r, gid_t *gid_r)
{
	char name[PRIV_NAME_MAX];
	struct passwd *pw;

	*uid_r = (uid_t)-1;
	*gid_r = (gid_t)-1;
	if (geteuid() != 0)
		return;
	if (!priv_account_name(c, PRIV_AUTH, name, sizeof(name)) ||
	    (pw = getpwnam(name)) == NULL) {
		/* the daemons run as the state_dir's owner, not from root */
		if (keytool_user_setup(c, uid_r, gid_r))
			return;
		fprintf(stderr, "facteur-keytool: warning: no account %s: files "
		    "stay owned by root until authd starts (it takes them), "
		    "see \"facteur-keytool accounts\"\n", name);
		return;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
}

/* which_domain - a bare local part with several domains: name them */
static void
which_domain(const struct conf *c, const char *arg)
{
	size_t i;

	fprintf(stderr, "facteur-keytool: %s: which domain? %s has %zu, "
	    "name one:", arg, c->file, c->ndomains);
	for (i = 0; i < c->ndomains; i++)
		fprintf(stderr, " %s@%s", arg, c->domains[i]);
	fprintf(stderr, "\n");
}

bool
keytool_address(const struct conf *c, const char *arg, bool catchall,
    bool must_be_local, char *out, size_t outsz)
{
	char full[USERDB_ADDR_MAX];
	const char *at, *in = arg;

	/* a bare local part, as a login takes it (authd login_user()) */
	if (arg[0] != '\0' && strchr(arg, '@') == NULL) {
		if (c->ndomains > 1) {
			which_domain(c, arg);
			return false;
		}
		if (c->ndomains == 1 && bsnprintf(full, sizeof(full), "%s@%s",
		    arg, c->domains[0]))
			in = full;
	}
	if (!userdb_normalize(in, strlen(in), catchall, out, outsz)) {
		fprintf(stderr, "facteur-keytool: %s: expected %s\n", arg,
		    catchall ? "local@domain or @domain" : "local@domain");
		return false;
	}
	at = strrchr(out, '@');
	if (must_be_local && !conf_is_local_domain(c, at + 1, strlen(at + 1))) {
		fprintf(stderr, "facteur-keytool: %s: %s is not one of the "
		    "domains in %s\n", arg, at + 1, c->file);
		return false;
	}
	return true;
}

/* the DKIM, DNS, TLS and doctor commands live in their own files */
__attribute__((weak)) int
keytool_cmd_dkim(const struct conf *c, int argc, char **argv)
{
	fprintf(stderr, "facteur-keytool: %s: not built in\n", argv[0]);
	return KEYTOOL_FAIL;
}

__attribute__((weak)) int
keytool_cmd_dns(const struct conf *c, int argc, char **argv)
{
	return keytool_cmd_dkim(c, argc, argv);
}

__attribute__((weak)) int
keytool_cmd_tls(const struct conf *c, int argc, char **argv)
{
	return keytool_cmd_dkim(c, argc, argv);
}

__attribute__((weak)) int
keytool_cmd_doctor(const struct conf *c, int argc, char **argv)
{
	return keytool_cmd_dkim(c, argc, argv);
}

int
main(int argc, char **argv)
{
	const char *file = DEFAULT_CONF;
	bool file_given = false;
	struct conf *c;
	size_t i;
	int ch, rc;

	/* '+': stop at the subcommand, its options are its own */
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			file_given = true;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "facteur-keytool: unknown command \"%s\"\n",
		    argv[0]);
		usage();
	}
	log_init("keytool", true, false);
	if (cmds[i].fn == NULL) {
		rc = keytool_cmd_setup(file, file_given, argc, argv);
		if (rc == KEYTOOL_USAGE)
			keytool_setup_usage();
		return rc;
	}
	c = conf_load_or_die(file);
	rc = cmds[i].fn(c, argc, argv);
	if (rc == KEYTOOL_USAGE)
		fprintf(stderr, "usage: facteur-keytool [-c FILE] %s\n",
		    cmds[i].usage);
	conf_free(&c);
	return rc;
}
