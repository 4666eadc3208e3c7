/* SPDX-License-Identifier: ISC */
/*
 * buf.c - growable byte buffer with a hard maximum (see buf.h).
 * Pure memory management; allocation failure returns -1 (ENOMEM) so server
 * roles can answer a temporary failure instead of dying.
 */
#include <errno.h>
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
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
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
	if ((p = realloc(b->data, ncap + 1)) == NULL) {
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

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(buf_tail(b), p, n);
	buf_commit(b, n);
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf_tail(b), (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(b, (size_t)n);
	return 0;
}

void
buf_drain(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	b->off += n;
	b->len -= n;
}

void
buf_shrink(struct buf *b, size_t keep)
{
	if (b->len == 0 && b->cap > keep)
		buf_free(b);
}
