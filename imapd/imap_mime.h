/* SPDX-License-Identifier: ISC */
/*
 * imap_mime.h - MIME structure of a stored message for IMAP: the part
 * tree with offsets, ENVELOPE and BODYSTRUCTURE (RFC 3501 7.4.2), section
 * ranges for BODY[...] and the CRLF form that IMAP sizes are counted on.
 * No I/O: the caller gives the message bytes (LF or CRLF line ends).
 */
#ifndef FACTEUR_IMAP_MIME_H
#define FACTEUR_IMAP_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "imap_parser.h"

#define MIME_MAX_DEPTH	20
#define MIME_MAX_PARTS	1000

struct mime_part {
	size_t		 hdr_off;	/* header block, blank line included */
	size_t		 body_off;
	size_t		 body_end;
	char		 type[64];	/* lower case */
	char		 subtype[64];
	bool		 multipart;
	bool		 message;	/* message/rfc822: child is the inner root */
	struct mime_part *child;
	struct mime_part *next;
};

struct mime_block;

struct mime_msg {
	const char	*data;
	size_t		 len;
	struct mime_part *root;
	struct mime_block *blocks;	/* where the parts live */
	size_t		 npool;
};

/* mime_parse - the part tree of data[0..len); data must outlive the result */
struct mime_msg	*mime_parse(const char *data, size_t len);
void		 mime_free(struct mime_msg **mp);

/* mime_header_get - unfolded value of the first `name` header in the block
 * [off, end) into out (reset first); false when absent */
bool		 mime_header_get(const char *data, size_t off, size_t end,
		    const char *name, struct buf *out);
/* mime_header_next - the same from *pos on, for every occurrence: *pos
 * moves past the header found (to end when none is left) */
bool		 mime_header_next(const char *data, size_t *pos, size_t end,
		    const char *name, struct buf *out);
/* mime_part_coding - the charset parameter and Content-Transfer-Encoding
 * of part p ("" when absent, truncated to the sizes) */
void		 mime_part_coding(const struct mime_msg *m,
		    const struct mime_part *p, char *charset, size_t cs_sz,
		    char *cte, size_t cte_sz);
size_t		 mime_lines(const char *data, size_t off, size_t end);

/* IMAP output helpers: string as quoted or literal; NIL when s is NULL */
void		 imap_put_string(struct buf *out, const char *s, size_t len);
void		 imap_put_nstring(struct buf *out, const char *s);

/* imap_addr.c: address lists (RFC 5322 3.4) as ENVELOPE and SEARCH see
 * them.  A group is a marker with `group` set and the group's name in
 * mailbox, then its members, then a marker with mailbox NULL. */
struct imap_addr {
	char		*name;		/* display name (or trailing comment) */
	char		*adl;		/* obsolete source route "@a,@b" */
	char		*mailbox;	/* local part; a group's name */
	char		*host;
	bool		 group;
};
struct imap_addrs {
	struct imap_addr *v;
	size_t		 n, cap;
};
/* imap_addr_parse - the addresses of header value s[0..len) (unfolded) */
void		 imap_addr_parse(const char *s, size_t len, struct imap_addrs *out);
void		 imap_addr_free(struct imap_addrs *a);
/* imap_addr_envelope - "((name adl mailbox host) ...)" or NIL */
void		 imap_addr_envelope(const struct imap_addrs *a, struct buf *out);
/* imap_addr_text - "Name <a@b>, a@b, group: ... ;" for SEARCH (space
 * separated, appended to out) */
void		 imap_addr_text(const struct imap_addrs *a, struct buf *out);

/* mime_envelope - ENVELOPE of the header block starting at hdr_off */
void		 mime_envelope(const struct mime_msg *m, const struct mime_part *p,
		    struct buf *out);
/* mime_bodystructure - BODYSTRUCTURE (ext true) or BODY of part p */
void		 mime_bodystructure(const struct mime_msg *m,
		    const struct mime_part *p, bool ext, struct buf *out);
/* mime_section_part - the part s's part numbers name (the root for
 * none), or NULL when there is no such part */
const struct mime_part *mime_section_part(const struct mime_msg *m,
		    const struct imap_section *s);
/*
 * mime_section - the content of BODY[section] (without partial) in CRLF
 * form appended to out.  Returns false when the part does not exist (the
 * reply is then an empty string, RFC 3501 6.4.5).
 */
bool		 mime_section(const struct mime_msg *m,
		    const struct imap_section *s, struct buf *out);

/*
 * imap_binary.c: BINARY[section] (RFC 3516).  mime_binary - the decoded
 * content appended to out (a missing part: nothing); false for an
 * unknown Content-Transfer-Encoding.  mime_binary_identity - BINARY is
 * BODY for that section (nothing to decode: it can be streamed).
 * mime_binary_item - "BINARY[s]<o> {n}\r\n..." (literal8 "~{n}" when it
 * holds a NUL) or "BINARY.SIZE[s] n" onto out; false (and "NIL"
 * put) for an unknown encoding.
 */
bool		 mime_binary(const struct mime_msg *m,
		    const struct imap_section *s, struct buf *out);
bool		 mime_binary_identity(const struct mime_msg *m,
		    const struct imap_section *s);
bool		 mime_binary_item(const struct mime_msg *m,
		    const struct imap_section *s, struct buf *out);
/* mime_binary_encode - a message APPENDed as literal8 with every leaf
 * part in "binary" or holding a NUL made base64 (header line replaced),
 * into out; false (out untouched) when nothing needed it */
bool		 mime_binary_encode(const char *data, size_t len,
		    struct buf *out);

/*
 * A reader of data[off..end) in CRLF form that can stop and resume:
 * mime_crlf_read() appends up to max bytes to out (or skips them when out
 * is NULL) and returns how many; fewer only at the end or out of memory.
 */
struct mime_crlf {
	const char	*d;
	size_t		 off;		/* start: an LF there is bare */
	size_t		 pos;		/* next byte of d */
	size_t		 end;
	bool		 half;		/* CR of an inserted CRLF given, LF next */
};
void		 mime_crlf_init(struct mime_crlf *c, const char *d, size_t off,
		    size_t end);
size_t		 mime_crlf_read(struct mime_crlf *c, struct buf *out, size_t max);

/* what BODY[section]<partial> sends: bytes [skip, skip + n) of the CRLF
 * form of data[off..end) (a missing part: all zero) */
struct mime_span {
	size_t		 off, end, skip, n;
};
/* mime_section_span - false for HEADER.FIELDS[.NOT], which are built */
bool		 mime_section_span(const struct mime_msg *m,
		    const struct imap_section *s, struct mime_span *sp);

/*
 * mime_section_literal - "LABEL {n}\r\n" and the section's bytes (CRLF
 * form, cut to <off.cnt> when s->partial) appended to out, converted in
 * one pass straight from the message.  A missing part gives {0}.
 */
bool		 mime_section_literal(const struct mime_msg *m,
		    const struct imap_section *s, const char *label,
		    struct buf *out);

#endif
