/* SPDX-License-Identifier: ISC */
/*
 * conf_fetch.h - one `[fetch] account = ...` line: a remote mailbox
 * (IMAPS or POP3S) whose messages facteur-smtpd's fetch role brings
 * home to a local user.  Parsed by conf.c through conf_fetch_parse().
 */
#ifndef FACTEUR_CONF_FETCH_H
#define FACTEUR_CONF_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#define CONF_FETCH_CA	"/etc/ssl/certs/ca-certificates.crt"

enum conf_fetch_proto {
	FETCH_IMAPS,	/* imaps://LOGIN@HOST[:993][/FOLDER] */
	FETCH_POP3S,	/* pop3s://LOGIN@HOST[:995] */
};

struct conf_fetch {
	enum conf_fetch_proto proto;
	char		*login;		/* %XX decoded */
	char		*host;
	uint16_t	 port;
	char		*folder;	/* IMAP; "INBOX" by default */
	char		*local;		/* the local user: local@domain */
	char		*password_file;	/* read by the parent (root) */
	char		*ca_file;
	unsigned	 interval;	/* seconds between polls, default 300 */
	bool		 keep;		/* leave fetched mail on the remote */
	char		*name;		/* LOGIN@HOST for logs */
	char		*state;		/* file name under state_dir/fetch */
	unsigned	 line;		/* its line in the file, for messages */
};

/*
 * conf_fetch_parse - "URL LOCAL password_file=PATH [interval=DURATION]
 * [keep=yes|no] [ca_file=PATH]" into f (strings malloc'd).  On error
 * returns false with *err_r saying what was expected; f is then empty.
 */
bool	conf_fetch_parse(const char *val, struct conf_fetch *f,
	    const char **err_r);
void	conf_fetch_clear(struct conf_fetch *f);
/* conf_fetch_format - the value back as text (conf_dump); false if cut */
bool	conf_fetch_format(const struct conf_fetch *f, char *out, size_t outsz);

#endif
