/* SPDX-License-Identifier: ISC */
/*
 * psl.h - the Public Suffix List (https://publicsuffix.org/list/) and the
 * organizational domain of RFC 7489 3.2 (DMARC alignment).
 *
 * The list is read once (Debian's `publicsuffix` package installs it as
 * PSL_DEFAULT_PATH; [inbound] psl names another) into one sorted table of
 * rules: about 9,800 rules and 200 KiB.  Both sections are used, ICANN and
 * PRIVATE, as OpenDMARC, rspamd and Mail::DMARC do: a private entry such
 * as github.io or blogspot.com makes each customer's name its own
 * organizational domain, so one customer can never be aligned with
 * another.  Rules in Unicode (the list writes IDN rules as U-labels) are
 * also kept in their A-label (xn--, RFC 3492 Punycode) form, so names from
 * mail, which are A-labels, match them; U-label names match too.
 *
 * Lookup (the list's algorithm): of the rules matching the name, an
 * exception rule (!) wins, else the one with the most labels (a wildcard
 * *.x counts its *), else the implicit rule "*" (the last label).  The
 * public suffix is what the prevailing rule matched (an exception: minus
 * its first label); the organizational domain is the public suffix plus
 * one label of the name.  A name that is itself a public suffix is its
 * own organizational domain (RFC 7489 leaves this open; alignment then
 * needs the same name).
 *
 * Names: ASCII case does not matter, one final dot is allowed; empty
 * labels, names over 253 bytes or labels over 63 bytes are refused.
 * Pure: no I/O except psl_load() reading the file; the table is read-only
 * after loading, so one table serves a whole process.
 */
#ifndef FACTEUR_PSL_H
#define FACTEUR_PSL_H

#include <stdbool.h>
#include <stddef.h>

#define PSL_DEFAULT_PATH	"/usr/share/publicsuffix/public_suffix_list.dat"
#define PSL_NAME_MAX		253

struct psl;

/*
 * psl_load - read the list at path; NULL with a message in err ("path:
 * reason") when it cannot be read or holds no rule.  psl_load_mem - the
 * same from memory (tests, fuzzing, a built-in copy).
 */
struct psl	*psl_load(const char *path, char *err, size_t errsz);
/* psl_load_fd - the same from an open file, read from its start (path:
 * for messages); fd stays open */
struct psl	*psl_load_fd(int fd, const char *path, char *err, size_t errsz);
struct psl	*psl_load_mem(const char *text, size_t n);
void		 psl_free(struct psl **pp);
/* psl_rules - rules held (A-label copies included) */
size_t		 psl_rules(const struct psl *p);

/*
 * psl_org_domain - the organizational domain of name, lower-cased and
 * without a final dot, into out.  False when name is not a usable domain
 * name or out is too small.
 */
bool		 psl_org_domain(const struct psl *p, const char *name, char *out,
		    size_t outsz);
/* psl_public_suffix - the public suffix of name, the same way */
bool		 psl_public_suffix(const struct psl *p, const char *name, char *out,
		    size_t outsz);

/*
 * psl_punycode - the A-label ("xn--...") of one UTF-8 label into out;
 * false on bad UTF-8 or if it does not fit.  An ASCII label is copied.
 */
bool		 psl_punycode(const char *label, size_t n, char *out, size_t outsz);

#endif
