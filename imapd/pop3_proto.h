/* SPDX-License-Identifier: ISC */
/*
 * pop3_proto.h - the POP3 command parser and the dot-stuffed message
 * writer (RFC 1939, 2449, 5034), without I/O: fed bytes, they return
 * commands and output bytes, so they are unit-tested and fuzzed
 * (tests/fuzz/fuzz_pop3.c).
 */
#ifndef FACTEUR_POP3_PROTO_H
#define FACTEUR_POP3_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* RFC 2449 4: 255 octets per command; an AUTH response line (base64 of
 * a 1 KiB user and a 1 KiB password) needs more */
#define POP3_MAX_LINE	4096

enum pop3_kw {
	POP3_UNKNOWN,
	POP3_USER,
	POP3_PASS,
	POP3_AUTH,
	POP3_STLS,
	POP3_CAPA,
	POP3_QUIT,
	POP3_STAT,
	POP3_LIST,
	POP3_RETR,
	POP3_DELE,
	POP3_NOOP,
	POP3_RSET,
	POP3_TOP,
	POP3_UIDL,
	POP3_APOP,
};

struct pop3_cmd {
	enum pop3_kw	 kw;
	const char	*name;		/* the keyword as sent (for logs) */
	/* USER, PASS: the rest of the line (PASS may hold spaces);
	 * AUTH: the mechanism, then the initial response or NULL */
	char		*arg;
	size_t		 arglen;
	char		*arg2;
	size_t		 arg2len;
	unsigned	 nnum;		/* numbers given: message, TOP's lines */
	uint32_t	 num[2];
	const char	*err;		/* syntax error for -ERR, NULL if none */
};

/*
 * pop3_reader - finds lines in the input; a line longer than max is
 * reported once (POP3_LINE_LONG) and its bytes are skipped up to its end.
 */
struct pop3_reader {
	bool		 skip;		/* inside a runaway line */
};

enum pop3_line_res {
	POP3_LINE_MORE,		/* no complete line yet: *used_r bytes skipped */
	POP3_LINE_OK,		/* *len_r bytes (no CRLF), *used_r with it */
	POP3_LINE_LONG,		/* refused: answer -ERR; *used_r to drop */
};

/* pop3_line - the next line of data[0..len); nothing is kept of data */
enum pop3_line_res pop3_line(struct pop3_reader *r, const char *data,
		    size_t len, size_t max, size_t *len_r, size_t *used_r);

/*
 * pop3_parse - one command line (without CRLF, len bytes, writable: it
 * is cut with NULs) into c; c's pointers point into line.  A malformed
 * line gives kw as far as known and c->err set.
 */
void		 pop3_parse(char *line, size_t len, struct pop3_cmd *c);

/*
 * pop3_stuff - a stored message (LF or CRLF line ends) as RETR or TOP
 * sends it: bare LF made CRLF (the size LIST announced), lines starting
 * with '.' stuffed, a missing final line end added, ".\r\n" at the end.
 * TOP sends the header, the blank line and the first `lines` body lines.
 */
struct pop3_stuff {
	const char	*data;
	size_t		 len;
	size_t		 off;		/* next byte of data to look at */
	size_t		 line;		/* where the current line starts */
	bool		 top;
	uint32_t	 lines;		/* TOP: body lines still to send */
	bool		 body;		/* past the blank line */
	bool		 done;
};

void		 pop3_stuff_init(struct pop3_stuff *st, const char *data,
		    size_t len, bool top, uint32_t lines);
/* pop3_stuff_read - append about max bytes to out (one line end more at
 * most); true once everything, ".\r\n" included, was appended; -1 never:
 * a failed append (out full) leaves out as it was for this step */
bool		 pop3_stuff_read(struct pop3_stuff *st, struct buf *out,
		    size_t max);

/* pop3_uidl - the unique-id of a message: UID and UIDVALIDITY as
 * "%08X%08X" (Dovecot's default pop3_uidl_format); 17 bytes with NUL */
void		 pop3_uidl(uint32_t uidvalidity, uint32_t uid, char out[17]);

#endif
