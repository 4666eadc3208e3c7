/* SPDX-License-Identifier: ISC */
/*
 * keytool.h - facteur-keytool subcommands (SPEC 4).
 *
 * keytool.c parses "-c FILE", loads the configuration and calls one
 * keytool_cmd_X() with argv[0] = the subcommand name ("user", "dkim"...)
 * and argv[1..argc-1] its arguments, NULL-terminated.  Each returns the
 * process exit status: KEYTOOL_OK, KEYTOOL_FAIL after explaining on
 * stderr, KEYTOOL_USAGE on bad arguments (main then prints the
 * command's usage line).  keytool runs as the
 * administrator (usually root), never as a daemon; it may die on out of
 * memory (x* functions).
 */
#ifndef FACTEUR_KEYTOOL_H
#define FACTEUR_KEYTOOL_H

#include <stdbool.h>
#include <sys/types.h>

struct conf;
struct conf_addr;
struct conf_addrs;

#define KEYTOOL_OK	0
#define KEYTOOL_FAIL	1
#define KEYTOOL_USAGE	2

/* keytool_user.c: user add|passwd|del|list [ADDRESS] */
int	keytool_cmd_user(const struct conf *c, int argc, char **argv);
/* keytool_alias.c: alias add|del|list [ADDRESS [TARGET...]] */
int	keytool_cmd_alias(const struct conf *c, int argc, char **argv);
/* keytool_dkim.c: dkim generate DOMAIN SELECTOR [--rsa|--ed25519] */
int	keytool_cmd_dkim(const struct conf *c, int argc, char **argv);
/* keytool_dns.c: dns */
int	keytool_cmd_dns(const struct conf *c, int argc, char **argv);
/*
 * keytool_reachable - a listen address other machines can connect to: a
 * wildcard or any address but loopback (127.0.0.0/8, ::1, localhost)
 */
bool	keytool_reachable(const struct conf_addr *a);
/* keytool_offered - the service has a reachable listen address */
bool	keytool_offered(const struct conf_addrs *as);
/*
 * keytool_forwards - if an offered service listens on none of its
 * standard ports, print lead (ending in a newline) and one comment line
 * of the forwards to make, "25 -> 2525, 587 -> 2587"; false if none
 */
bool	keytool_forwards(const struct conf *c, const char *lead);
/* keytool_tls.c: tls selfsigned */
int	keytool_cmd_tls(const struct conf *c, int argc, char **argv);
/* doctor.c (and doctor_*.c, doctor.h): doctor */
int	keytool_cmd_doctor(const struct conf *c, int argc, char **argv);
/* keytool_spf.c: spf IP MAILFROM [HELO] (the SPF result and its trace) */
int	keytool_cmd_spf(const struct conf *c, int argc, char **argv);
/* keytool_dmarc.c: dmarc DOMAIN */
int	keytool_cmd_dmarc(const struct conf *c, int argc, char **argv);

/*
 * keytool_setup.c: setup DOMAIN [options] - a whole first configuration.
 * Called before any configuration is loaded: conf is the -c path and
 * conf_given whether -c was on the command line.
 */
int	keytool_cmd_setup(const char *conf, bool conf_given, int argc,
	    char **argv);
void	keytool_setup_usage(void);

/*
 * keytool_bad_arg - say which argument of subcommand cmd is wrong
 * ("unknown option --usr", "unexpected argument x", or, with arg NULL,
 * "missing arguments") and return KEYTOOL_USAGE, after which main prints
 * the usage line.
 */
int	keytool_bad_arg(const char *cmd, const char *arg);

/*
 * keytool_alias_orphans - after user addr was deleted, warn about every
 * alias naming it that now delivers to no mailbox
 */
void	keytool_alias_orphans(const struct conf *c, const char *addr);

/* keytool_user.c: helpers for setup */
/*
 * keytool_read_password - one line of stdin when it is not a terminal,
 * else asked twice on the terminal with echo off; -1 explained on stderr
 * (pw wiped).  pwsz should be KEYTOOL_PW_MAX.
 */
#define KEYTOOL_PW_MAX	1024
int	keytool_read_password(char *pw, size_t pwsz, size_t *len_r);
/*
 * keytool_password_ok - a local account's password is at least
 * KEYTOOL_PW_MIN characters (UTF-8 counted as characters, not bytes): a
 * short one on an Internet-facing submission port is a relay for whoever
 * guesses it.  False after explaining on stderr.  Not for the smarthost's
 * password (--relay-user), which is someone else's choice.
 */
#define KEYTOOL_PW_MIN	8
bool	keytool_password_ok(const char *pw, size_t len);
/* keytool_user_put - hash pw and store addr in users.db; -1 explained */
int	keytool_user_put(const struct conf *c, const char *addr,
	    const char *pw, size_t pwlen);

/* acme.c: acme issue|renew (Let's Encrypt; keytool/acme.h) */
int	keytool_cmd_acme(const struct conf *c, int argc, char **argv);

/* keytool_accounts.c: accounts (the useradd lines of missing role accounts) */
int	keytool_cmd_accounts(const struct conf *c, int argc, char **argv);

/* keytool.c: helpers shared by the subcommands */
/* keytool_state_dir - create state_dir (and parents) if missing; -1 explained */
int	keytool_state_dir(const struct conf *c);
/* keytool_mkdirs - mkdir -p dir, what it creates 0755; -1 explained */
int	keytool_mkdirs(const char *dir);
/*
 * keytool_owner - who should own the files authd reads: user-auth
 * (lib/priv.h) when keytool runs as root and the account exists, else
 * (uid_t)-1 (leave as is).
 */
void	keytool_owner(const struct conf *c, uid_t *uid_r, gid_t *gid_r);
/*
 * keytool_user_setup - true, with its owner, when keytool runs as root on
 * a set-up whose state_dir an ordinary account owns (`setup` run by that
 * user): its daemons are started by that account, not by root, and
 * cannot read files root keeps to itself.  Without role accounts
 * keytool_owner() gives users.db and aliases.db to that owner (a
 * root-started authd takes them back at its start).
 */
bool	keytool_user_setup(const struct conf *c, uid_t *uid_r, gid_t *gid_r);
/*
 * keytool_give - the same case for a key or certificate root wrote (DKIM,
 * [tls]): authd started as root wants its keys root's, so they stay
 * root's and a warning says how to hand them over.
 */
void	keytool_give(const struct conf *c, const char *path);
/*
 * keytool_address - normalize arg as an address (or "@domain" when
 * catchall) in a local domain into out; false after explaining on stderr.
 * A bare local part ("bob") is bob@DOMAIN when the configuration has
 * exactly one domain, as at login; with several it names them.
 */
bool	keytool_address(const struct conf *c, const char *arg, bool catchall,
	    bool must_be_local, char *out, size_t outsz);

#endif
