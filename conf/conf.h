/* SPDX-License-Identifier: ISC */
/*
 * conf.h - the configuration file of SPEC 3, shared by every program.
 *
 * conf_load() parses the whole file, collects every error as
 * "FILE:LINE: expected ..." and refuses the file if there was any: a program
 * never starts on a configuration it does not fully understand.  Keys keep
 * the SPEC spelling: `[smtp] max_size` is `conf->smtp.max_size`.
 * All strings are owned by the struct and freed by conf_free().
 */
#ifndef FACTEUR_CONF_H
#define FACTEUR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cidr.h"
#include "conf_fetch.h"

#define CONF_DEFAULT_PATH	"/etc/facteur/facteur.conf"
#define CONF_LINE_MAX		4096		/* bytes per line, without the newline */
#define CONF_FILE_MAX		(1024 * 1024)	/* a bigger file is refused */

/* host:port, "[::1]:993" or "0.0.0.0:25"; host kept without brackets */
struct conf_addr {
	char		host[256];
	uint16_t	port;
};

struct conf_addrs {
	struct conf_addr *v;
	size_t		 n;
};

enum conf_tls_mode {
	CONF_TLS_STARTTLS,
	CONF_TLS_IMPLICIT,
	CONF_TLS_NONE,
};

/* [inbound] spf_fail: what an SPF fail does when there is no DMARC record */
enum conf_spf_fail {
	CONF_SPF_FAIL_MARK,	/* delivered, marked in Authentication-Results */
	CONF_SPF_FAIL_JUNK,	/* into the Junk folder */
	CONF_SPF_FAIL_REJECT,	/* 550 5.7.1 after the final dot */
};

/* networks in the order given, duplicates dropped ([smtp] trusted) */
#define CONF_NETS_MAX	256
struct conf_nets {
	struct cidr	*v;
	size_t		 n;
	bool		 none;	/* "none" was given: empty on purpose */
};

/* a list of words, in the order given (repeatable keys) */
struct conf_list {
	char	       **v;
	size_t		 n;
};

struct conf_dkim_sign {
	char	*domain;
	char	*selector;
	char	*keyfile;
};

#define CONF_SENDER_MAX	17	/* a login and at most 16 addresses */

/* [sendmail] sender: what a local account may send as */
struct conf_sender {
	char	*login;		/* system account name */
	char   **addrs;		/* mailboxes, domain lower-cased */
	size_t	 naddrs;
};

struct conf {
	char		*file;		/* the path given with -c */
	char		*text;		/* its lines that count (conf_text.c) */
	size_t		 textlen;
	char		*hostname;
	char	       **domains;	/* lower-cased, NULL-terminated */
	size_t		 ndomains;
	char		*state_dir;
	char		*mail_dir;	/* with %d and %u */
	char		*run_dir;
	char		*user;		/* the base of the role accounts (lib/priv.h) */
	bool		 single_account; /* every role as `user` (weaker, DSM) */
	char		*postmaster;	/* who gets postmaster@ (RFC 5321 4.5.1) */
	bool		 log_stderr;	/* log = stderr, or a file */
	char		*log_file;	/* log = /path: appended to */

	struct {
		char	*cert;		/* NULL when [tls] is absent */
		char	*key;
	} tls;

	struct {
		struct conf_addrs listen;
		struct conf_addrs submission;
		struct conf_addrs submissions;
		uint64_t	 max_size;	/* bytes, default 35M */
		unsigned	 max_rcpt;	/* default 100 */
		unsigned	 max_clients;	/* default 64 */
		unsigned	 timeout;	/* seconds, default 300 (RFC 5321 4.5.3.2):
						   per command line, not restarted by bytes */
		unsigned	 max_per_addr;	/* sessions per client address, 10 */
		unsigned	 max_conn_rate;	/* port 25 connections per client
						 * address and minute; 0 (default):
						 * no limit */
		struct conf_nets trusted;	/* port 25 clients that skip the
						 * screen, greylisting, per-address
						 * limits and SPF/DKIM/DMARC, not
						 * the relay check; default
						 * 127.0.0.0/8 ::1 */
		unsigned	 max_submission; /* sessions on 587/465, 32 */
		unsigned	 max_local;	/* facteur-sendmail sessions, 16 */
		unsigned	 tls_timeout;	/* TLS handshake, 10 s */
		unsigned	 login_timeout;	/* until MAIL (25) or AUTH (587/465), 60 s */
		unsigned	 data_timeout;	/* DATA to the final dot, 10 min */
		char	       **backup_domains;	/* we are their backup MX;
						 * lower-cased, NULL-terminated */
		size_t		 nbackup_domains;
	} smtp;

	struct {
		bool		 enabled;	/* the [relay] section is present */
		char		*host;
		uint16_t	 port;		/* default 587 */
		enum conf_tls_mode tls;		/* default starttls */
		bool		 verify;	/* default yes */
		char		*ca_file;	/* default /etc/ssl/certs/ca-certificates.crt */
		char		*user;
		char		*password_file;
		unsigned	 password_file_line;	/* for messages */
	} relay;

	struct {
		struct conf_dkim_sign *sign;
		size_t		 nsign;
	} dkim;

	struct {
		struct conf_addrs listen;
		struct conf_addrs listen_starttls;
		uint64_t	 max_literal;	/* bytes, default = smtp.max_size */
		unsigned	 timeout;	/* seconds, default 1800 (RFC 3501 5.4) */
		unsigned	 max_per_addr;	/* not logged in, per client address, 50 */
		unsigned	 tls_timeout;	/* TLS handshake, 10 s */
		unsigned	 login_timeout;	/* until LOGIN/AUTHENTICATE, 60 s */
	} imap;

	struct {
		bool		 enabled;	/* the [pop3] section is present */
		struct conf_addrs listen;	/* implicit TLS (995) */
		struct conf_addrs listen_starttls;	/* STLS (110) */
		unsigned	 timeout;	/* seconds, default 600 (RFC 1939 3) */
	} pop3;

	struct {
		unsigned	 retry;		/* seconds, default 5m */
		unsigned	 max_retry;	/* default 4h */
		unsigned	 expire;	/* default 5d */
	} queue;

	struct {
		struct conf_fetch *v;	/* [fetch] account lines */
		size_t		 n;
	} fetch;

	struct {
		bool		 resolver_set;
		struct conf_addr resolver;
	} dns;

	struct {			/* checks of mail received on port 25 */
		bool		 spf;		/* default yes */
		bool		 dkim;		/* default yes */
		bool		 dmarc;		/* default yes */
		char		*authserv_id;	/* default: hostname */
		enum conf_spf_fail spf_fail;	/* default mark */
		char		*psl;		/* Public Suffix List file */
		char		*junk_folder;	/* default Junk */
		unsigned	 max_signatures; /* DKIM signatures checked, default 5 */
		unsigned	 timeout;	/* seconds the final dot waits for DNS */
	} inbound;
	struct {			/* milters for port 25 mail (smtpd/milter.c) */
		struct conf_list socket;	/* unix:/path or inet:IP:port */
		unsigned	 timeout;	/* seconds per milter reply, 30 */
		bool		 tempfail;	/* default_action: tempfail (yes)
						   or accept when unreachable */
	} milter;
	struct {			/* port 25's front door (smtpd/screen*.c) */
		struct conf_list dnsbl;		/* zone[=filter][*weight] */
		struct conf_list dnswl;		/* weights count negative */
		unsigned	 threshold;	/* score refused, default 1 */
		unsigned	 dns_timeout;	/* seconds for DNS (greeting, MAIL), 5 */
		unsigned	 pregreet;	/* seconds, 0: off */
		bool		 helo_own;	/* refuse HELO naming us, no */
		bool		 helo_fqdn;	/* HELO must be a FQDN or [IP], no */
		unsigned	 unknown_sender; /* 0 (no), 450 or 550 */
	} screen;
	struct {			/* facteur-keytool doctor */
		bool		 given;		/* the section is present */
		char		*myip;		/* NAME@HOST:PORT, or "no" */
		char		*myip6;		/* the same asked AAAA over IPv6 */
		struct conf_list dnsbl;		/* zones; none: a built-in list */
		char		*probe;		/* HOST:PORT reached on port 25, or "no" */
		bool		 smtp_set;
		struct conf_addr smtp;		/* our port 25 (postmaster@ check);
						   default: first [smtp] listen */
		unsigned	 timeout;	/* seconds per network step, 5 */
		char		*ca_file;	/* CAs a client trusts */
	} doctor;
	struct {			/* greylisting on port 25 (smtpd/greylist.c) */
		bool		 enable;	/* default no */
		unsigned	 delay;		/* seconds before a retry passes, 5m */
		unsigned	 retry_window;	/* the retry must come within, 2d */
		unsigned	 allow_time;	/* clients, triplets, domains, 35d */
		bool		 allow_clients;	/* a retry allow-lists the client */
		bool		 spf_skip;	/* SPF pass for a known domain */
	} greylist;
	struct {			/* facteur-keytool acme (keytool/acme*.c) */
		bool		 enabled;	/* the [acme] section is present */
		char		*directory;	/* URL, Let's Encrypt's by default */
		char		*ca_file;	/* trusted for the directory's HTTPS */
		char		*email;		/* account contact, NULL: none */
		char		*account_key;	/* NULL: state_dir/acme/account.key */
		char	       **names;		/* certificate names, NULL-terminated;
						 * none: hostname */
		size_t		 nnames;
		struct conf_addr http;		/* HTTP-01 listener, [::]:80 */
		char		*webroot;	/* else files under it, NULL: listen */
		unsigned	 webroot_line;	/* for messages */
		unsigned	 renew_before;	/* seconds, 30 days */
		unsigned	 timeout;	/* per request and for validation, 60 s */
	} acme;
	struct {
		unsigned	 hashers;	/* hashing processes, 2 */
		unsigned	 cache_size;	/* login cache entries, 256; 0: off */
		unsigned	 cache_ttl;	/* seconds a cached login lasts, 1 h */
	} authd;

	struct {
		struct conf_sender *sender;
		size_t		 nsender;
	} sendmail;
};

/*
 * The first line of a configuration that nothing has set up yet (what
 * `make install` and the OpenWrt package put in place): programs refuse
 * it, naming `facteur-keytool setup`, which replaces it without --force.
 */
#define CONF_PLACEHOLDER	"# facteur: not set up yet"

/*
 * conf_load - parse `path` into a new struct conf.  On any error, writes
 * every "path:line: expected ..." message to `errs` (one per line, may be
 * NULL) and returns NULL.
 */
struct conf	*conf_load(const char *path, FILE *errs);
/*
 * conf_load_mem - the same from memory (tests, fuzzing): `name` is used in
 * messages only; `data` need not be NUL-terminated and may hold NULs.
 */
struct conf	*conf_load_mem(const char *name, const char *data, size_t len,
		    FILE *errs);
/* conf_load_or_die - for mains: conf_load() to stderr, exit 1 on failure */
struct conf	*conf_load_or_die(const char *path);
void		 conf_free(struct conf **confp);

/* conf_is_local_domain - case-insensitive match against `domains` */
bool		 conf_is_local_domain(const struct conf *c, const char *domain, size_t len);
/* conf_is_backup_domain - the same against `[smtp] backup_domains` */
bool		 conf_is_backup_domain(const struct conf *c, const char *domain,
		    size_t len);

/*
 * conf_maildir_path - expand mail_dir for local@domain into out: %u is
 * `local` as given, %d is `domain` lower-cased, %% is a '%'.  Returns false
 * if it does not fit or a part is empty, contains '/', CR or LF, or starts
 * with '.'.
 */
bool		 conf_maildir_path(const struct conf *c, const char *local,
		    const char *domain, char *out, size_t outsz);

/*
 * conf_secret_file_ok - may `path` hold a secret (relay password, DKIM or
 * TLS key)?  It must be a regular file owned by root or the effective user
 * with no group or other permission bits (OpenSMTPD check_file_secrecy).
 * On refusal writes "PATH: expected ..." into err and returns false.
 * conf_secret_fd_ok() checks an already opened file (no race with rename).
 */
bool		 conf_secret_file_ok(const char *path, char *err, size_t errsz);
bool		 conf_secret_fd_ok(int fd, const char *path, char *err, size_t errsz);
/*
 * conf_secret_read - the first line of the secret file path (a password
 * file of [relay] or [fetch]), checked as above and read without stdio
 * (no buffer with it left behind): a string to wipe() and free, or NULL
 * with "PATH: ..." in err (missing, unreadable, not secret, empty).
 */
char		*conf_secret_read(const char *path, char *err, size_t errsz);

/*
 * conf_dump - write the effective configuration, defaults included, in the
 * file's own syntax (conf_load() of the output gives the same struct).
 */
void		 conf_dump(const struct conf *c, FILE *out);

/*
 * conf_sender_find - the [sendmail] sender line of system account `login`,
 * NULL if none.  conf_sender_default - the one address of an account
 * without such a line: noreply@<first domain> for root and the system
 * and service accounts (uid below 1000, or nobody), <login>@<first domain>
 * for the others; false if it does not fit.
 */
const struct conf_sender *conf_sender_find(const struct conf *c,
		    const char *login);
bool		 conf_sender_default(const struct conf *c, const char *login,
		    unsigned long uid, char *out, size_t outsz);

/*
 * conf_same_except - a and b were loaded from the same lines, comments,
 * blank lines and spaces at line ends aside, not counting the sections
 * named in skip (NULL-terminated: "imap", "pop3"); conf_text.c.
 * conf_text_add - the parser keeps one such line.
 */
bool		 conf_same_except(const struct conf *a, const struct conf *b,
		    const char *const *skip);
void		 conf_text_add(struct conf *c, const char *line);

/* conf_addr_format - "0.0.0.0:25", "[::1]:993"; false if it does not fit */
bool		 conf_addr_format(const struct conf_addr *a, char *out, size_t outsz);

#endif
