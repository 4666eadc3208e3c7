/* SPDX-License-Identifier: ISC */
/*
 * spf_int.h - the parts of lib/spf without I/O, shared by spf.c, the unit
 * test and the fuzz target: the record parser (spf_parse.c) and macro
 * expansion (spf_macro.c), both over bytes in memory.
 */
#ifndef FACTEUR_SPF_INT_H
#define FACTEUR_SPF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "spf.h"

#define SPF_TERMS_MAX		128	/* terms in one record */
#define SPF_LOOKUPS_MAX		10	/* RFC 7208 4.6.4 */
#define SPF_VOID_MAX		2
#define SPF_NAMES_MAX		10	/* MX or PTR names looked at */
#define SPF_EXPAND_MAX		2048	/* a macro expansion, before 7.3's cut */

enum spf_mech {
	SPF_M_ALL,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
};

/* spf_term - one directive; strings point into the record text */
struct spf_term {
	uint8_t		 mech;		/* enum spf_mech */
	char		 qual;		/* '+', '-', '~', '?' */
	uint8_t		 cidr4, cidr6;	/* prefix lengths: 32 and 128 if absent */
	uint8_t		 addr[16];	/* ip4 (4 bytes) or ip6 network */
	const char	*spec;		/* domain-spec, NULL if absent */
	size_t		 speclen;
	const char	*text;		/* the term as written */
	size_t		 textlen;
};

struct spf_record {
	struct spf_term	*terms;
	size_t		 nterms;
	const char	*redirect, *exp;	/* domain-specs, NULL if absent */
	size_t		 redirectlen, explen;
};

/*
 * spf_is_record - does this TXT string start an SPF record ("v=spf1"
 * then a space or the end, case-insensitive; RFC 7208 4.5)?
 */
bool	 spf_is_record(const char *txt, size_t len);
/*
 * spf_record_parse - the whole record (RFC 7208 4.6, 12), syntax of every
 * term and macro included.  r points into txt, which must outlive it.
 * 0, or -1 with the reason in err.  spf_record_free() either way.
 */
int	 spf_record_parse(const char *txt, size_t len, struct spf_record *r,
	    char *err, size_t errsz);
void	 spf_record_free(struct spf_record *r);

/* what macros expand to (RFC 7208 7.2); strings owned by the caller */
struct spf_macro_ctx {
	const char	*sender;	/* s */
	const char	*local;		/* l */
	const char	*sender_domain;	/* o */
	const char	*domain;	/* d */
	int		 family;	/* i, c, v: AF_INET or AF_INET6 */
	uint8_t		 ip[16];
	const char	*validated;	/* p: "unknown" if none */
	const char	*helo;		/* h */
	const char	*receiver;	/* r */
	uint64_t	 now;		/* t */
};

/*
 * spf_macro_check - is s[0..len) a valid macro-string (a domain-spec if
 * `domain`, whose end must be "." toplabel or a macro)?  c, r, t allowed
 * only when `exp`; spaces only in an explain-string (`exp`).  *uses_p is
 * set if it expands %{p} (may be NULL).
 */
bool	 spf_macro_check(const char *s, size_t len, bool domain, bool exp,
	    bool *uses_p);
/*
 * spf_expand - expand a macro-string already checked by spf_macro_check()
 * into out (NUL-terminated).  With `domain`, cut to 253 bytes from the
 * left by whole labels (7.3) and drop a final dot.  -1 if the expansion
 * does not fit in outsz or is malformed.
 */
int	 spf_expand(const struct spf_macro_ctx *m, const char *s, size_t len,
	    bool domain, char *out, size_t outsz);

/* spf_parse_ip - text address into family + 16 bytes (v4 mapped: v4) */
bool	 spf_parse_ip(const char *s, int *family_r, uint8_t *ip);
/* spf_ip_match - first `bits` bits equal (family must match) */
bool	 spf_ip_match(int family, const uint8_t *a, const uint8_t *b,
	    unsigned bits);
/* spf_toplabel_end - s[0..n) ends with "." toplabel ["."] (RFC 7208 12) */
bool	 spf_toplabel_end(const char *s, size_t n);
/* spf_domain_ok - a name we may look up (RFC 7208 4.3): labels 1..63, a dot */
bool	 spf_domain_ok(const char *d);

#endif
