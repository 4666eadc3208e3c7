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
/* keytool_tls.c: tls selfsigned */
int	keytool_cmd_tls(const struct conf *c, int argc, char **argv);
/* keytool_doctor.c: doctor */
int	keytool_cmd_doctor(const struct conf *c, int argc, char **argv);

/* keytool.c: helpers shared by the subcommands */
/* keytool_state_dir - create state_dir (and parents) if missing; -1 explained */
int	keytool_state_dir(const struct conf *c);
/*
 * keytool_owner - who should own the files authd reads: conf `user` when
 * keytool runs as root and the account exists, else (uid_t)-1 (leave as is).
 */
void	keytool_owner(const struct conf *c, uid_t *uid_r, gid_t *gid_r);
/*
 * keytool_address - normalize arg as an address (or "@domain" when
 * catchall) in a local domain into out; false after explaining on stderr.
 */
bool	keytool_address(const struct conf *c, const char *arg, bool catchall,
	    bool must_be_local, char *out, size_t outsz);

#endif
