/* SPDX-License-Identifier: ISC */
/*
 * buf.h - the one growable byte buffer (STYLE 8).
 *
 * data[len] is always a spare NUL so text can be printed, but contents may
 * hold NULs: never strlen() a buffer that holds network data.  Growth is
 * checked for overflow and refused past `max` (0 = no limit besides SIZE_MAX).
 * Bytes are consumed from the front with buf_drain(); when the room after
 * the data is short, buf_reserve() first slides the unread bytes back to
 * the front, then grows.  So any reserve, append or printf may move the
 * data: pointers from buf_head()/buf_tail() are valid only until the next
 * one of those calls.
 *
 * A buffer marked `secret` (it may carry passwords: authd's requests, a
 * login before it is checked) leaves no copy behind: drained bytes, the
 * old place of slid or moved data and freed memory are zeroed first.
 */
#ifndef FACTEUR_BUF_H
#define FACTEUR_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;		/* data + off is the first unread byte */
	size_t	 off;		/* bytes already consumed at the front */
	size_t	 len;		/* bytes present after off */
	size_t	 cap;		/* allocated, not counting the spare NUL */
	size_t	 max;		/* hard limit on len, 0 = unlimited */
	bool	 secret;	/* zero what is consumed or freed (buf_init: no) */
};

void	 buf_init(struct buf *b, size_t max);
void	 buf_free(struct buf *b);		/* frees data, keeps max */
void	 buf_reset(struct buf *b);		/* empties, keeps memory */
static inline char *
buf_head(const struct buf *b)
{
	return b->data ? b->data + b->off : NULL;
}
/* buf_reserve - room for n more bytes; -1 (errno=ENOBUFS) past max or overflow */
int	 buf_reserve(struct buf *b, size_t n);
/*
 * buf_append - add n bytes.  p may point into b's own unread bytes (it is
 * re-based if the data moves); a source that overlaps b's memory outside
 * them is refused with -1 (errno=EINVAL).  buf_puts and buf_printf take
 * arguments that point into b as well.
 */
int	 buf_append(struct buf *b, const void *p, size_t n);
int	 buf_puts(struct buf *b, const char *s);
int	 buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* buf_tail - where to write after buf_reserve(); then buf_commit(n) */
static inline char *
buf_tail(const struct buf *b)
{
	return b->data + b->off + b->len;
}
void	 buf_commit(struct buf *b, size_t n);
void	 buf_drain(struct buf *b, size_t n);
/* buf_truncate - keep the first len unread bytes (undo appends after a failure) */
void	 buf_truncate(struct buf *b, size_t len);
/* buf_shrink - give back memory of an idle buffer larger than keep bytes */
void	 buf_shrink(struct buf *b, size_t keep);

#endif
