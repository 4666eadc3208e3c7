/* SPDX-License-Identifier: ISC */
/*
 * fetch.h - the fetch role of facteur-smtpd: polls the `[fetch]`
 * accounts (IMAPS, POP3S), hands each new message to the queue over
 * run_dir/smtpd.sock like facteur-sendmail, and deletes it on the remote
 * only after the queue's 250 and the state file agree.
 */
#ifndef FACTEUR_FETCH_H
#define FACTEUR_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"

struct buf;

#define FETCH_DIR		"fetch"		/* under state_dir */
#define FETCH_LINE_MAX		(1024 * 1024)	/* one response line */
#define FETCH_TIMEOUT_S		120		/* one read or write */
/*
 * A poll of one account ends after FETCH_POLL_MAX_S whatever the remote
 * does (a server that trickles or never ends its answer would hold the
 * role, and every other account, forever); the next poll goes on where
 * it stopped.  FACTEUR_FETCH_POLL_S shortens it for tests.
 */
#define FETCH_POLL_MAX_S	1800
/* messages of one listing (UIDL, UID SEARCH) taken; the rest waits */
#define FETCH_LIST_MAX		100000

/* fetch.c: in the parent (root) and the role */
/*
 * fetch_prepare - parent: state_dir/fetch for uid, read the passwords.
 * A password file that cannot be read is logged with the file and line
 * of its account: at start (reload false) that is a configuration error,
 * counted in the result (the caller exits 1); at a reload the account
 * keeps the password it had (a new account has none and is skipped at
 * each poll), and the next reload or restart tries again.
 */
int	fetch_prepare(const struct conf *c, uid_t uid, gid_t gid, bool reload);
/* fetch_forget - wipe the passwords (every role but fetch) */
void	fetch_forget(void);
/* fetch_run - the role's main: never returns */
void	fetch_run(const struct conf *c) __attribute__((noreturn));

/* fetch_proto.c: responses of remote servers, no I/O (fuzzed) */
/* fetch_imap_tagged - line is the tagged answer to tag: *ok_r = OK */
bool	fetch_imap_tagged(const char *line, const char *tag, bool *ok_r);
/* fetch_imap_uidvalidity - "* OK [UIDVALIDITY n] ..." */
bool	fetch_imap_uidvalidity(const char *line, uint32_t *uv_r);
/* fetch_imap_search - "* SEARCH 1 5 9": UIDs appended to *v (grown) */
bool	fetch_imap_search(const char *line, uint32_t **v, size_t *n,
	    size_t *cap);
/* fetch_imap_literal - a line ending in "{n}": the literal's size */
bool	fetch_imap_literal(const char *line, size_t len, uint64_t *n_r);
/* fetch_imap_quote - s as an IMAP quoted string; false if it cannot be */
bool	fetch_imap_quote(const char *s, char *out, size_t outsz);
/* fetch_pop3_ok - "+OK..." */
bool	fetch_pop3_ok(const char *line);
/* fetch_pop3_uidl - "N UNIQUE-ID" of a UIDL listing */
bool	fetch_pop3_uidl(const char *line, uint32_t *n_r, char *id,
	    size_t idsz);
/* fetch_pop3_unstuff - a RETR line: false for the final ".", else the
 * line without its stuffing dot in *p_r, *len_r */
bool	fetch_pop3_unstuff(const char *line, size_t len, const char **p_r,
	    size_t *len_r);
/*
 * fetch_stuff - message bytes as SMTP DATA: line ends made CRLF, a '.'
 * starting a line doubled, a Return-Path field of the header renamed
 * X-Original-Return-Path (ours, <>, is the only one: RFC 5321 4.4).
 * Feed any chunks, then fetch_stuff_end().
 */
struct fetch_stuff {
	bool		 bol;		/* at the start of a line */
	bool		 cr;		/* a CR is held back */
	bool		 body;		/* past the header's empty line */
	size_t		 held;		/* bytes of "Return-Path:" matched */
	char		 hold[12];	/* ... as they came */
};
void	fetch_stuff_init(struct fetch_stuff *st);
int	fetch_stuff(struct fetch_stuff *st, const char *p, size_t n,
	    struct buf *out);
/* fetch_stuff_end - the last line's end and the final ".\r\n" */
int	fetch_stuff_end(struct fetch_stuff *st, struct buf *out);
/* fetch_smtp_code - the code of a final SMTP reply line, 0 if it is a
 * continuation ("250-") or malformed */
int	fetch_smtp_code(const char *line, size_t len);

#endif
