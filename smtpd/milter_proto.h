/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.h - the Sendmail milter protocol, version 6 as Postfix
 * speaks it: packets to a milter (encoder) and the milter's replies
 * (decoder).  No I/O here; smtpd/milter.c drives a conversation.
 *
 * A packet is a 32-bit big-endian length (of what follows), one command
 * byte and its data.  Strings are NUL-terminated.
 */
#ifndef FACTEUR_MILTER_PROTO_H
#define FACTEUR_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MILTER_VERSION		6
#define MILTER_CHUNK		65535		/* body bytes per SMFIC_BODY */
#define MILTER_REPLY_MAX	(256 * 1024)	/* longest reply accepted */

/* commands (MTA to milter) */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'

/* replies (milter to MTA) */
#define SMFIR_ADDRCPT	'+'
#define SMFIR_DELRCPT	'-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_ACCEPT	'a'
#define SMFIR_REPLBODY	'b'
#define SMFIR_CONTINUE	'c'
#define SMFIR_DISCARD	'd'
#define SMFIR_CHGFROM	'e'
#define SMFIR_ADDHEADER	'h'
#define SMFIR_INSHEADER	'i'
#define SMFIR_CHGHEADER	'm'
#define SMFIR_PROGRESS	'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT	'r'
#define SMFIR_SKIP	's'
#define SMFIR_TEMPFAIL	't'
#define SMFIR_REPLYCODE	'y'
#define SMFIR_OPTNEG	'O'

/* actions a milter may take (negotiated) */
#define SMFIF_ADDHDRS	0x01
#define SMFIF_CHGBODY	0x02
#define SMFIF_ADDRCPT	0x04
#define SMFIF_DELRCPT	0x08
#define SMFIF_CHGHDRS	0x10
#define SMFIF_QUARANTINE 0x20

/* protocol steps a milter may skip (SMFIP_NO*) or not answer (SMFIP_NR_*) */
#define SMFIP_NOCONNECT	0x000001
#define SMFIP_NOHELO	0x000002
#define SMFIP_NOMAIL	0x000004
#define SMFIP_NORCPT	0x000008
#define SMFIP_NOBODY	0x000010
#define SMFIP_NOHDRS	0x000020
#define SMFIP_NOEOH	0x000040
#define SMFIP_NR_HDR	0x000080
#define SMFIP_NOUNKNOWN	0x000100
#define SMFIP_NODATA	0x000200
#define SMFIP_SKIP	0x000400
#define SMFIP_RCPT_REJ	0x000800
#define SMFIP_NR_CONN	0x001000
#define SMFIP_NR_HELO	0x002000
#define SMFIP_NR_MAIL	0x004000
#define SMFIP_NR_RCPT	0x008000
#define SMFIP_NR_DATA	0x010000
#define SMFIP_NR_UNKN	0x020000
#define SMFIP_NR_EOH	0x040000
#define SMFIP_NR_BODY	0x080000
#define SMFIP_HDR_LEADSPC 0x100000

/* what facteur offers: header changes and quarantine; every step skippable */
#define MILTER_OFFER_ACTIONS	(SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE)
#define MILTER_OFFER_PROTO	0x1ff7ffU	/* all but SMFIP_RCPT_REJ */

struct milter_reply {
	char		 cmd;
	const char	*data;		/* the data after the command byte */
	size_t		 len;
	/* SMFIR_OPTNEG */
	uint32_t	 version, actions, proto;
	/* SMFIR_ADDHEADER, SMFIR_INSHEADER, SMFIR_CHGHEADER */
	uint32_t	 index;
	const char	*name, *value;
	/* SMFIR_REPLYCODE, SMFIR_QUARANTINE: NUL-terminated in data */
	const char	*text;
};

/*
 * milter_parse - one reply from p[0..n): 1 with *r and *used set, 0 when
 * more bytes are needed, -1 when malformed (the milter is then broken).
 * Pointers in *r point into p.
 */
int	milter_parse(const char *p, size_t n, struct milter_reply *r,
	    size_t *used);
/*
 * milter_reply_ok - a SMFIR_REPLYCODE text facteur will send: "4xy" or
 * "5xy", a space or its end, printable ASCII, one line.
 */
bool	milter_reply_ok(const char *text);
/* milter_header_ok - a header name and value (after unfolding) to add */
bool	milter_header_ok(const char *name, const char *value);

/* encoder: append one packet to b; -1 if b is full */
int	milter_put(struct buf *b, char cmd, const void *data, size_t len);
int	milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions,
	    uint32_t proto);
/* milter_put_strs - a packet of n NUL-terminated strings */
int	milter_put_strs(struct buf *b, char cmd, const char *const *s, size_t n);
/* milter_put_macros - SMFIC_MACRO for `forcmd`, kv = name, value, ... */
int	milter_put_macros(struct buf *b, char forcmd, const char *const *kv,
	    size_t nkv);
/* milter_put_connect - SMFIC_CONNECT for a client at an IP address */
int	milter_put_connect(struct buf *b, const char *hostname, const char *addr,
	    uint16_t port);

#endif
