/* SPDX-License-Identifier: ISC */
/*
 * greylist.h - the greylisting database of port 25 (issue 11): a Berkeley
 * DB 5.3 B-tree in state_dir/greylist.db, read and written by the smtp
 * role only (smtpd/README.md, "Greylisting").
 *
 * Records (keys and values are text without a trailing NUL):
 *   "t NET FROM RCPT"   a triplet     "W FIRST LAST" waiting for its retry,
 *                                     "P FIRST LAST" passed
 *   "c NET"             a client network allow-listed   "LAST"
 *   "d DOMAIN"          a domain whose SPF passed on a transaction that
 *                       greylisting let through          "LAST"
 * NET is the client's /24 (IPv4) or /64 (IPv6), "192.0.2.0/24"; FROM and
 * RCPT are lower-cased, FROM without a BATV "prvs=TAG=" prefix, "" for
 * <>; times are seconds since the epoch.  A record that does not parse is
 * dropped when met.
 *
 * Every function takes the time as an argument, so that the rules are
 * tested without a clock (tests/unit/greylist_test.c).
 */
#ifndef FACTEUR_GREYLIST_H
#define FACTEUR_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GREYLIST_NET_MAX	64	/* "ffff:...:ffff::/64" with its NUL */

struct greylist_params {
	unsigned	 delay;		/* seconds before a retry passes */
	unsigned	 retry_window;	/* a retry after that is a first try */
	unsigned	 allow_time;	/* passed triplets, clients, domains live
					   that long after their last use */
	bool		 allow_clients;	/* a retry allow-lists the client net */
};

enum greylist_res {
	GREY_DEFER_NEW,		/* first try (or after retry_window): 451 */
	GREY_DEFER_EARLY,	/* retried before the delay: 451 */
	GREY_PASS_RETRY,	/* retried after the delay: passed now */
	GREY_PASS_KNOWN,	/* a triplet that passed before */
	GREY_PASS_CLIENT,	/* the client net is allow-listed */
	GREY_PASS_SPF,		/* SPF passes for a domain seen before */
	GREY_ERROR,		/* the database failed: let it through */
};

struct greylist_req {
	const char	*addr;		/* client IP address, text */
	const char	*from;		/* envelope sender, "" for <> */
	const char	*rcpt;		/* the recipient as given */
	const char	*spf_domain;	/* SPF passed for it, else NULL */
};

struct greylist;

/*
 * greylist_open - open (or create, mode 0600, chowned to uid/gid unless
 * uid is (uid_t)-1) the database at path.  A file Berkeley DB cannot open
 * is renamed to PATH.bad and a new one made.  NULL with a message in err.
 * The handle keeps the file open: it works on after chroot(2).
 */
struct greylist	*greylist_open(const char *path, const struct greylist_params *p,
		    uid_t uid, gid_t gid, char *err, size_t errsz);
/*
 * greylist_close - write what changed through the handle (never by the
 * path: the chroot hides it) and close; NULLs *gp
 */
void		 greylist_close(struct greylist **gp);
/* greylist_sync - write what changed to the file (if anything did) */
int		 greylist_sync(struct greylist *g);

/*
 * greylist_check - the verdict for one recipient at `now`, recorded in
 * the database (see smtpd/README.md for the rules).  *wait_r: seconds
 * until a retry passes (the DEFER results), else 0.
 */
enum greylist_res greylist_check(struct greylist *g,
		    const struct greylist_req *r, int64_t now, unsigned *wait_r);
/* greylist_passed - a PASS result */
bool		 greylist_passed(enum greylist_res res);
const char	*greylist_res_name(enum greylist_res res);

/*
 * greylist_expire - look at the next n records (going round the file, one
 * step at a time) and delete the expired ones: triplets waiting longer
 * than retry_window, the others unused for allow_time.  Returns how many
 * it deleted, -1 on a read error.
 */
int		 greylist_expire(struct greylist *g, int64_t now, unsigned n);

/* greylist_net - "a.b.c.0/24" or "x:x:x:x::/64" of addr; false if not an IP */
bool		 greylist_net(const char *addr, char *out, size_t outsz);

#endif
