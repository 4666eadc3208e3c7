/* SPDX-License-Identifier: ISC */
/*
 * fuzz_feed.h - the client side shared by the session fuzz targets
 * (fuzz_imap_session, fuzz_pop3_session, fuzz_smtp_session): the fuzzer's
 * input is written to a real session through a socketpair from the event
 * loop, its replies are read and dropped (or shown), and a session that
 * has not ended within 10 s is a hang: abort().  Also the scratch files
 * around such a session: a directory per process, files of a Maildir, and
 * their removal.
 *
 * Test code only, linked into those targets (their _DEPS); every failure
 * of the harness itself (socketpair, mkdir, fopen) aborts, so that it shows
 * as a crash of the target and is never taken for the session's doing.
 */
#ifndef FACTEUR_FUZZ_FEED_H
#define FACTEUR_FUZZ_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ev.h"

#define FUZZ_FEED_SHOW	0x1	/* the replies go to stderr (FUZZ_*_SHOW=1) */
/*
 * The client ends the session: EOF once all is sent, and the loop ends
 * (ev_break) when the session closes its end.  Without it the target
 * chooses when to send EOF (fuzz_feed_eof) and ends the loop itself.
 */
#define FUZZ_FEED_EOF	0x2

struct fuzz_feed {
	struct ev_io	 io;		/* the client's end of the socketpair */
	struct ev_timer	 hang;		/* abort() when it fires */
	const uint8_t	*data;		/* what the client sends, not copied */
	size_t		 size, off;	/* off: how much was sent */
	bool		 shut;		/* EOF sent */
	unsigned	 flags;		/* FUZZ_FEED_* */
};

/* fuzz_feed.c */
void	fuzz_feed_pair(int [2]);
void	fuzz_feed_start(struct fuzz_feed *, int, const uint8_t *, size_t,
	    unsigned);
void	fuzz_feed_eof(struct fuzz_feed *);
void	fuzz_feed_stop(struct fuzz_feed *);
void	fuzz_feed_tmpdir(char *, size_t, const char *);
void	fuzz_feed_file(const char *, const char *, const char *);
void	fuzz_feed_rmtree(const char *);

#endif
