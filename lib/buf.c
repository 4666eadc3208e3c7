/* SPDX-License-Identifier: ISC */
/*
 * buf.c - growable byte buffer with a hard maximum (see buf.h).
 * Pure memory management; allocation failure returns -1 (ENOMEM) so server
 * roles can answer a temporary failure instead of dying.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	if (b->secret && b->data != NULL)
		explicit_bzero(b->data, b->cap + 1);
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	if (b->secret && b->data != NULL)
		explicit_bzero(b->data, b->off + b->len);
	b->off = b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap;
	char *p;

	if (n > SIZE_MAX - 1 - b->len || (b->max && b->len + n > b->max)) {
		errno = ENOBUFS;
		return -1;
	}
	need = b->len + n;
	if (b->off && b->off + need > b->cap) {	/* slide to the front */
		memmove(b->data, b->data + b->off, b->len);
		if (b->secret)		/* the old place of the tail */
			explicit_bzero(b->data + b->len, b->off);
		b->off = 0;
		b->data[b->len] = '\0';
	}
	if (need <= b->cap && b->data)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (b->max && ncap > b->max && need <= b->max)
		ncap = b->max;
	if (b->secret && b->data != NULL) {	/* no copy left in the old block */
		if ((p = malloc(ncap + 1)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		memcpy(p, b->data, b->off + b->len + 1);
		explicit_bzero(b->data, b->cap + 1);
		free(b->data);
	} else if ((p = realloc(b->data, ncap + 1)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = ncap;
	b->data[b->off + b->len] = '\0';
	return 0;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
	b->data[b->off + b->len] = '\0';
}

/* buf_overlaps - does [p, p + n) touch b's allocation (data + spare NUL)? */
static bool
buf_overlaps(const struct buf *b, const void *p, size_t n)
{
	uintptr_t s = (uintptr_t)p, lo = (uintptr_t)b->data;

	return b->data != NULL && n > 0 && s < lo + b->cap + 1 && s + n > lo;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	const char *src = p;
	size_t rel = 0;
	bool self = buf_overlaps(b, p, n);

	if (self) {
		/* reserve may slide or realloc: keep the source's offset */
		uintptr_t head = (uintptr_t)buf_head(b);

		if ((uintptr_t)src < head || (uintptr_t)src - head > b->len ||
		    n > b->len - ((uintptr_t)src - head)) {
			errno = EINVAL;
			return -1;
		}
		rel = (size_t)((uintptr_t)src - head);
	}
	if (buf_reserve(b, n) == -1)
		return -1;
	if (self)
		src = buf_head(b) + rel;
	if (n)
		memcpy(buf_tail(b), src, n);	/* the tail never overlaps the data */
	buf_commit(b, n);
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/*
 * buf_printf - format apart, then append: an argument may point into b
 * (formatting into the tail would overwrite the NUL that ends such a
 * string, and growth would free it).
 */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256], *p = small;
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(small)) {
		if (b->max && b->len + (size_t)n > b->max) {
			errno = ENOBUFS;	/* refuse before allocating */
			return -1;
		}
		if ((p = malloc((size_t)n + 1)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	r = buf_append(b, p, (size_t)n);
	if (p != small)
		free(p);
	return r;
}

void
buf_drain(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	if (b->secret)
		explicit_bzero(b->data + b->off, n);
	b->off += n;
	b->len -= n;
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len >= b->len)
		return;
	if (b->secret)
		explicit_bzero(b->data + b->off + len, b->len - len);
	b->len = len;
	b->data[b->off + len] = '\0';
}

void
buf_shrink(struct buf *b, size_t keep)
{
	if (b->len == 0 && b->cap > keep)
		buf_free(b);
}
