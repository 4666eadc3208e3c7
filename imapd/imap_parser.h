/* SPDX-License-Identifier: ISC */
/*
 * imap_parser.h - the IMAP command parser and the argument helpers built on
 * it (sequence sets, FETCH attributes, section specs).  No I/O: fed bytes,
 * unit-tested and fuzzed (STYLE 1, 9).
 *
 * The parser collects one command: its lines (CR stripped) and its
 * literals.  A literal's size is parsed digit by digit, checked against
 * max_literal before the caller sends the "+" continuation and before any
 * memory is reserved for it.  When the command is complete it is cut into
 * a tree of struct imap_arg that lives until the next feed.
 */
#ifndef FACTEUR_IMAP_PARSER_H
#define FACTEUR_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum imap_parse_res {
	IMAP_PARSE_NEED_MORE,
	IMAP_PARSE_DONE,
	IMAP_PARSE_ERROR,
};

enum imap_arg_type {
	IMAP_ARG_ATOM,		/* also NIL, flags, sequence sets, numbers */
	IMAP_ARG_STRING,	/* quoted */
	IMAP_ARG_LITERAL,
	IMAP_ARG_LIST,
};

/*
 * One argument.  s is NUL-terminated for atoms and strings; a literal is
 * NUL-terminated too but may hold NULs itself (use len).  An atom followed
 * by "[...]" (BODY[1.HEADER]) has section = true and the bracket contents in
 * child; "<a.b>" after it is kept as text in partial.
 */
struct imap_arg {
	enum imap_arg_type type;
	char		*s;
	size_t		 len;
	struct imap_arg	*child;		/* LIST elements or section contents */
	struct imap_arg	*next;
	bool		 section;
	char		*partial;	/* "0.100", NULL without <..> */
	bool		 spooled;	/* LITERAL written to the spool: s is "" */
	bool		 literal8;	/* "~{n}" (RFC 3516): binary content */
};

struct imap_cmd {
	const char	*tag;
	const char	*name;
	struct imap_arg	*args;		/* first argument after the name, or NULL */
};

struct imap_parser;

/* imap_parser_secret - the parser may see passwords (the login role): it
 * zeroes its lines and strings when done with them */
void	imap_parser_secret(struct imap_parser *p);
/* imap_parser_create - limits: line bytes (literals apart), literal bytes
 * (per command, all literals together), list nesting, argument count */
struct imap_parser *imap_parser_create(size_t max_line, uint64_t max_literal,
		    unsigned max_depth, unsigned max_args);
void		 imap_parser_free(struct imap_parser **pp);
/*
 * imap_parser_feed - consume bytes of data; *used_r says how many.  Returns
 * NEED_MORE (all used, or stopped so the caller can answer a continuation:
 * see imap_parser_want_cont), DONE (imap_parser_cmd() is valid until the
 * next feed) or ERROR (imap_parser_error(); the bad command was consumed up
 * to its end and the parser is ready for the next one, unless
 * imap_parser_fatal(), after which the connection must be closed).
 */
enum imap_parse_res imap_parser_feed(struct imap_parser *p, const char *data,
		    size_t len, size_t *used_r);
/* imap_parser_want_cont - true once per synchronizing literal: send "+ " */
bool		 imap_parser_want_cont(struct imap_parser *p);
const struct imap_cmd *imap_parser_cmd(const struct imap_parser *p);
const char	*imap_parser_error(const struct imap_parser *p);
/* imap_parser_tag - the tag of the failed command, or "*" */
const char	*imap_parser_tag(const struct imap_parser *p);
bool		 imap_parser_fatal(const struct imap_parser *p);
/* imap_parser_release - drop the memory of a big finished command */
void		 imap_parser_release(struct imap_parser *p);

/*
 * Literal spooling: literals of at least `threshold` bytes are not kept in
 * memory but handed to the owner: begin(arg, size) once (returns -1 to
 * refuse), then write(arg, bytes, n) for the contents.  Only one spooled
 * literal per command; its imap_arg has spooled = true and s = "".
 */
typedef int imap_spool_begin_cb(void *arg, uint64_t size);
typedef int imap_spool_write_cb(void *arg, const char *p, size_t n);
void		 imap_parser_set_spool(struct imap_parser *p, uint64_t threshold,
		    imap_spool_begin_cb *begin, imap_spool_write_cb *write,
		    void *arg);

/* helpers on arguments */
bool		 imap_arg_is(const struct imap_arg *a, const char *atom);
bool		 imap_arg_astring(const struct imap_arg *a);	/* atom, string, literal */
size_t		 imap_arg_count(const struct imap_arg *a);

/* sequence sets: ranges with 0 standing for "*" until resolved */
struct imap_range {
	uint32_t	lo, hi;
};
struct imap_seqset {
	struct imap_range *v;
	size_t		 n;
	bool		 sorted;	/* ascending, disjoint, no "*" (SEARCHRES) */
};
bool		 imap_seqset_parse(const char *s, struct imap_seqset *set);
/* imap_seqset_has - is n in the set, "*" meaning `star` (the largest) */
bool		 imap_seqset_has(const struct imap_seqset *set, uint32_t n, uint32_t star);
void		 imap_seqset_free(struct imap_seqset *set);
/* imap_partial_parse - RFC 5267 "lo:hi" (no "*"), ordered lo <= hi */
bool		 imap_partial_parse(const char *s, uint32_t *lo_r,
		    uint32_t *hi_r);

/* FETCH attributes (RFC 3501 6.4.5) */
enum imap_sec_kind {
	IMAP_SEC_ALL,		/* BODY[] or BODY[1.2] */
	IMAP_SEC_HEADER,
	IMAP_SEC_HEADER_FIELDS,
	IMAP_SEC_HEADER_FIELDS_NOT,
	IMAP_SEC_TEXT,
	IMAP_SEC_MIME,
};

#define IMAP_SEC_MAXPART 16
#define IMAP_SEC_MAXFIELDS 32

/* BINARY[...] and BINARY.SIZE[...] (RFC 3516): decoded content or size */
enum imap_sec_bin {
	IMAP_BIN_NONE,
	IMAP_BIN_CONTENT,
	IMAP_BIN_SIZE,
};

struct imap_section {
	uint32_t	 part[IMAP_SEC_MAXPART];
	unsigned	 npart;
	enum imap_sec_kind kind;
	const char	*fields[IMAP_SEC_MAXFIELDS];
	unsigned	 nfields;
	bool		 peek;
	enum imap_sec_bin binary;	/* only part numbers, kind ALL */
	bool		 partial;
	uint32_t	 off, cnt;
	char		 name[256];	/* as echoed in the reply: "BODY[1.HEADER]<0>" */
};

#define IMAP_F_UID		0x0001
#define IMAP_F_FLAGS		0x0002
#define IMAP_F_INTERNALDATE	0x0004
#define IMAP_F_SIZE		0x0008
#define IMAP_F_ENVELOPE		0x0010
#define IMAP_F_BODY		0x0020	/* BODY (no section) */
#define IMAP_F_BODYSTRUCTURE	0x0040
#define IMAP_F_RFC822		0x0080
#define IMAP_F_RFC822_HEADER	0x0100
#define IMAP_F_RFC822_TEXT	0x0200
#define IMAP_F_MODSEQ		0x0400	/* RFC 7162 */

#define IMAP_FETCH_MAXSEC	16

struct imap_fetch {
	unsigned	 items;
	struct imap_section sec[IMAP_FETCH_MAXSEC];
	unsigned	 nsec;
};

/*
 * imap_fetch_parse - the attribute(s) after the sequence set: one atom,
 * a macro (ALL FAST FULL) or a list.  Field names point into the args.
 * Returns false with *err_r set to a fixed message.
 */
bool		 imap_fetch_parse(const struct imap_arg *a, struct imap_fetch *f,
		    const char **err_r);
/* imap_section_parse - "1.2.HEADER.FIELDS" + field list arg into sec */
bool		 imap_section_parse(const struct imap_arg *sec_args,
		    struct imap_section *s);

#endif
