/* SPDX-License-Identifier: ISC */
/*
 * buf_test.c - unit tests for lib/buf.c: growth, the hard maximum,
 * size_t overflow, drain and the slide to the front, embedded NULs, the
 * spare NUL after the data, reset/free/shrink, and sources that point
 * into the buffer itself (STYLE 8, 12).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "t.h"

const char	*__asan_default_options(void);

/* huge allocations must fail with NULL under ASan too, not abort */
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* is - the buffer holds exactly these n bytes, followed by a NUL */
static int
is(const struct buf *b, const void *p, size_t n)
{
	return b->len == n && buf_head(b) != NULL &&
	    memcmp(buf_head(b), p, n) == 0 && buf_head(b)[n] == '\0' &&
	    b->off + b->len <= b->cap;
}

static void
test_empty(void)
{
	struct buf b;

	buf_init(&b, 0);
	CHECK(b.data == NULL && b.len == 0 && b.off == 0 && b.cap == 0);
	CHECK(buf_head(&b) == NULL);
	buf_drain(&b, 10);		/* harmless on an empty buffer */
	buf_reset(&b);
	buf_shrink(&b, 0);
	CHECK(b.data == NULL);
	CHECK(buf_reserve(&b, 0) == 0);	/* allocates, so head is usable */
	CHECK(is(&b, "", 0));
	CHECK(buf_append(&b, NULL, 0) == 0);
	CHECK(is(&b, "", 0));
	CHECK(buf_puts(&b, "") == 0);
	CHECK(is(&b, "", 0));
	buf_free(&b);
	CHECK(b.data == NULL && b.cap == 0);
}

static void
test_append(void)
{
	struct buf b;
	char big[5000];
	size_t i;

	buf_init(&b, 0);
	CHECK(buf_append(&b, "abc", 3) == 0);
	CHECK(is(&b, "abc", 3));
	CHECK(buf_append(&b, "d\0e", 3) == 0);	/* embedded NUL */
	CHECK(is(&b, "abcd\0e", 6));
	CHECK(buf_puts(&b, "fg") == 0);
	CHECK(is(&b, "abcd\0efg", 8));
	CHECK(buf_printf(&b, "%d-%s", 42, "x") == 0);
	CHECK(is(&b, "abcd\0efg42-x", 12));
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	CHECK(buf_append(&b, big, sizeof(big)) == 0);
	CHECK(b.len == 12 + sizeof(big));
	CHECK(memcmp(buf_head(&b) + 12, big, sizeof(big)) == 0);
	CHECK(buf_head(&b)[b.len] == '\0');
	buf_reset(&b);
	CHECK(is(&b, "", 0));
	CHECK(b.cap >= 12 + sizeof(big));	/* reset keeps the memory */
	CHECK(buf_printf(&b, "%.*s", 4000, big) == 0);	/* grows in printf */
	CHECK(is(&b, big, 4000));
	buf_free(&b);

	/* one byte at a time, 100000 times */
	buf_init(&b, 0);
	for (i = 0; i < 100000; i++)
		if (buf_append(&b, &"0123456789"[i % 10], 1) == -1)
			break;
	CHECK(i == 100000 && b.len == 100000);
	for (i = 0; i < 100000; i++)
		if (buf_head(&b)[i] != (char)('0' + i % 10))
			break;
	CHECK(i == 100000);
	CHECK(buf_head(&b)[b.len] == '\0');
	buf_free(&b);
}

static void
test_reserve_commit(void)
{
	struct buf b;

	buf_init(&b, 0);
	CHECK(buf_reserve(&b, 5) == 0);
	CHECK(b.cap >= 5);
	memcpy(buf_tail(&b), "hello", 5);
	buf_commit(&b, 5);
	CHECK(is(&b, "hello", 5));
	CHECK(buf_reserve(&b, 1000) == 0);
	CHECK(b.cap - b.off - b.len >= 1000);
	memset(buf_tail(&b), 'x', 1000);
	buf_commit(&b, 3);		/* commit less than reserved */
	CHECK(is(&b, "helloxxx", 8));
	buf_free(&b);
}

static void
test_max(void)
{
	struct buf b;
	char *data;

	buf_init(&b, 10);
	CHECK(buf_append(&b, "0123456789", 10) == 0);
	CHECK(is(&b, "0123456789", 10));
	CHECK(b.cap == 10);			/* clamped to max, not 256 */
	errno = 0;
	CHECK(buf_append(&b, "x", 1) == -1);
	CHECK(errno == ENOBUFS);
	CHECK(is(&b, "0123456789", 10));	/* unchanged */
	errno = 0;
	CHECK(buf_printf(&b, "%s", "y") == -1);
	CHECK(errno == ENOBUFS);
	CHECK(is(&b, "0123456789", 10));
	CHECK(buf_reserve(&b, 0) == 0);
	buf_free(&b);
	CHECK(b.max == 10);			/* free keeps max */

	/* exactly at the limit in one append, from empty */
	buf_init(&b, 300);
	CHECK(buf_append(&b, NULL, 0) == 0);
	CHECK(buf_reserve(&b, 301) == -1);
	CHECK(buf_reserve(&b, 300) == 0);
	CHECK(b.cap == 300);
	buf_free(&b);

	/* after a drain the limit applies to what is present, not to off */
	buf_init(&b, 16);
	CHECK(buf_append(&b, "0123456789abcdef", 16) == 0);
	data = b.data;
	buf_drain(&b, 10);
	CHECK(is(&b, "abcdef", 6));
	CHECK(buf_append(&b, "ghijklmnop", 10) == 0);	/* slides to the front */
	CHECK(is(&b, "abcdefghijklmnop", 16));
	CHECK(b.off == 0 && b.cap == 16 && b.data == data);
	CHECK(buf_append(&b, "q", 1) == -1);
	CHECK(is(&b, "abcdefghijklmnop", 16));
	buf_free(&b);
}

static void
test_overflow(void)
{
	struct buf b;

	buf_init(&b, 0);
	CHECK(buf_append(&b, "abc", 3) == 0);
	errno = 0;
	CHECK(buf_reserve(&b, SIZE_MAX) == -1);
	CHECK(errno == ENOBUFS);
	errno = 0;
	CHECK(buf_reserve(&b, SIZE_MAX - 3) == -1);
	CHECK(errno == ENOBUFS);
	errno = 0;
	CHECK(buf_reserve(&b, SIZE_MAX - 4) == -1);	/* fits size_t, not memory */
	CHECK(errno == ENOMEM || errno == ENOBUFS);
	errno = 0;
	CHECK(buf_reserve(&b, SIZE_MAX / 2) == -1);
	CHECK(errno == ENOMEM || errno == ENOBUFS);
	CHECK(is(&b, "abc", 3));			/* unchanged by failures */
	CHECK(buf_append(&b, "d", 1) == 0);
	CHECK(is(&b, "abcd", 4));

	/* the same with some bytes drained at the front */
	buf_drain(&b, 2);
	CHECK(is(&b, "cd", 2));
	errno = 0;
	CHECK(buf_reserve(&b, SIZE_MAX - 2) == -1);
	CHECK(errno == ENOBUFS);
	errno = 0;
	CHECK(buf_reserve(&b, SIZE_MAX - 3) == -1);
	CHECK(errno == ENOMEM || errno == ENOBUFS);
	CHECK(is(&b, "cd", 2));
	buf_free(&b);

	/* a limited buffer refuses with ENOBUFS before any allocation */
	buf_init(&b, 1024);
	errno = 0;
	CHECK(buf_reserve(&b, SIZE_MAX - 1) == -1);
	CHECK(errno == ENOBUFS);
	CHECK(b.data == NULL);
	buf_free(&b);
}

static void
test_drain(void)
{
	struct buf b;
	char *data;
	size_t cap, i;

	buf_init(&b, 0);
	CHECK(buf_puts(&b, "hello world") == 0);
	buf_drain(&b, 0);
	CHECK(is(&b, "hello world", 11));
	buf_drain(&b, 6);
	CHECK(is(&b, "world", 5));
	CHECK(b.off == 6);
	buf_drain(&b, 5);			/* all of it */
	CHECK(is(&b, "", 0));
	CHECK(b.off == 0);
	CHECK(buf_puts(&b, "abc") == 0);
	buf_drain(&b, 1000);			/* more than present */
	CHECK(is(&b, "", 0));
	CHECK(b.off == 0);

	/* line-by-line consumption with embedded NULs, as a reader would */
	CHECK(buf_append(&b, "a\0b\r\nc\r\n", 8) == 0);
	CHECK(memchr(buf_head(&b), '\n', b.len) == buf_head(&b) + 4);
	buf_drain(&b, 5);
	CHECK(is(&b, "c\r\n", 3));
	buf_free(&b);

	/* fill to capacity, drain most, append: slide, no growth */
	buf_init(&b, 0);
	CHECK(buf_reserve(&b, 1) == 0);
	cap = b.cap;
	data = b.data;
	for (i = 0; i < cap; i++)
		CHECK(buf_append(&b, "z", 1) == 0);
	CHECK(b.len == cap && b.cap == cap);
	buf_drain(&b, cap - 2);
	CHECK(b.off == cap - 2);
	CHECK(buf_append(&b, "0123", 4) == 0);
	CHECK(is(&b, "zz0123", 6));
	CHECK(b.off == 0 && b.cap == cap && b.data == data);

	/* room at the end: no slide */
	buf_drain(&b, 2);
	CHECK(b.off == 2);
	CHECK(buf_append(&b, "4", 1) == 0);
	CHECK(b.off == 2);
	CHECK(is(&b, "01234", 5));

	/* a slide and a growth in the same reserve */
	CHECK(buf_reserve(&b, cap * 3) == 0);
	CHECK(b.off == 0);
	CHECK(b.cap >= 5 + cap * 3);
	CHECK(is(&b, "01234", 5));
	buf_free(&b);
}

static void
test_truncate(void)
{
	struct buf b;

	buf_init(&b, 0);
	buf_truncate(&b, 0);			/* harmless on an empty buffer */
	CHECK(buf_puts(&b, "keep this, drop that") == 0);
	buf_drain(&b, 5);
	buf_truncate(&b, 100);			/* longer: unchanged */
	CHECK(is(&b, "this, drop that", 15));
	buf_truncate(&b, 4);
	CHECK(is(&b, "this", 4));
	CHECK(buf_puts(&b, "!") == 0);
	CHECK(is(&b, "this!", 5));
	buf_truncate(&b, 0);
	CHECK(is(&b, "", 0));
	buf_free(&b);
}

static void
test_shrink(void)
{
	struct buf b;

	buf_init(&b, 0);
	CHECK(buf_reserve(&b, 10000) == 0);
	buf_shrink(&b, 100000);			/* smaller than keep: kept */
	CHECK(b.data != NULL);
	CHECK(buf_puts(&b, "x") == 0);
	buf_shrink(&b, 0);			/* not idle: kept */
	CHECK(is(&b, "x", 1));
	buf_drain(&b, 1);
	buf_shrink(&b, 4096);			/* idle and large: freed */
	CHECK(b.data == NULL && b.cap == 0 && b.len == 0);
	CHECK(buf_puts(&b, "again") == 0);	/* usable afterwards */
	CHECK(is(&b, "again", 5));
	buf_free(&b);
	buf_free(&b);				/* twice is harmless */
}

/*
 * Appending bytes of the buffer to itself: buf_reserve() may realloc or
 * slide before the copy reads the source (a use after free under ASan
 * before the fix).
 */
static void
test_self_append(void)
{
	struct buf b;
	char *data;
	size_t i;

	buf_init(&b, 0);
	CHECK(buf_reserve(&b, 1) == 0);
	while (b.len < b.cap)
		CHECK(buf_append(&b, "s", 1) == 0);
	CHECK(buf_append(&b, buf_head(&b), b.len) == 0);	/* realloc */
	CHECK(b.len == 2 * 256 && buf_head(&b)[b.len - 1] == 's');
	buf_free(&b);

	/* a part of the data, with a realloc */
	buf_init(&b, 0);
	CHECK(buf_puts(&b, "0123456789") == 0);
	while (b.len < b.cap)
		CHECK(buf_append(&b, "-", 1) == 0);
	CHECK(buf_append(&b, buf_head(&b) + 3, 4) == 0);
	CHECK(b.len == 260 && memcmp(buf_head(&b) + 256, "3456", 4) == 0);
	CHECK(buf_head(&b)[b.len] == '\0');
	buf_free(&b);

	/* drained front: the reserve slides the data, no realloc */
	buf_init(&b, 0);
	CHECK(buf_reserve(&b, 1) == 0);
	while (b.len < b.cap)
		CHECK(buf_append(&b, "x", 1) == 0);
	data = b.data;
	buf_drain(&b, b.cap - 6);
	memcpy(buf_head(&b), "abcdef", 6);
	CHECK(buf_append(&b, buf_head(&b) + 2, 3) == 0);
	CHECK(b.data == data && b.off == 0);
	CHECK(is(&b, "abcdefcde", 9));

	/* room at the end: neither moves */
	CHECK(buf_append(&b, buf_head(&b), 9) == 0);
	CHECK(is(&b, "abcdefcdeabcdefcde", 18));

	/* the source must be unread bytes of the buffer */
	buf_drain(&b, 3);
	errno = 0;
	CHECK(buf_append(&b, b.data, 2) == -1);		/* drained bytes */
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(buf_append(&b, buf_head(&b) + 10, 6) == -1);	/* past the end */
	CHECK(errno == EINVAL);
	CHECK(buf_append(&b, buf_head(&b) + 10, 5) == 0);	/* exactly to it */
	CHECK(is(&b, "defcdeabcdefcdeefcde", 20));
	buf_free(&b);

	/* limited: refused with ENOBUFS, unchanged */
	buf_init(&b, 8);
	CHECK(buf_puts(&b, "abcde") == 0);
	errno = 0;
	CHECK(buf_append(&b, buf_head(&b), 5) == -1);
	CHECK(errno == ENOBUFS);
	CHECK(is(&b, "abcde", 5));
	CHECK(buf_append(&b, buf_head(&b) + 2, 3) == 0);
	CHECK(is(&b, "abcdecde", 8));
	buf_free(&b);

	/* many doublings in a row */
	buf_init(&b, 0);
	CHECK(buf_puts(&b, "ab") == 0);
	for (i = 0; i < 16; i++)
		CHECK(buf_append(&b, buf_head(&b), b.len) == 0);
	CHECK(b.len == 2u << 16);
	for (i = 0; i < b.len; i++)
		if (buf_head(&b)[i] != "ab"[i % 2])
			break;
	CHECK(i == b.len);
	buf_free(&b);
}

/*
 * buf_printf with arguments that point into the buffer: formatting into
 * the tail would overwrite the NUL ending a "%s" argument, and growth would
 * free it.
 */
static void
test_self_printf(void)
{
	struct buf b;
	char big[1000];

	buf_init(&b, 0);
	CHECK(buf_puts(&b, "abc") == 0);
	CHECK(buf_printf(&b, "[%s]", buf_head(&b)) == 0);	/* no growth */
	CHECK(is(&b, "abc[abc]", 8));
	CHECK(buf_printf(&b, "%.*s|%s", 2, buf_head(&b) + 1, buf_head(&b)) == 0);
	CHECK(is(&b, "abc[abc]bc|abc[abc]", 19));
	buf_free(&b);

	/* growth during a printf of the buffer itself */
	buf_init(&b, 0);
	CHECK(buf_reserve(&b, 1) == 0);
	while (b.len < b.cap - 1)
		CHECK(buf_puts(&b, "y") == 0);
	CHECK(buf_printf(&b, "%s%s", buf_head(&b), buf_head(&b)) == 0);
	CHECK(b.len == 3 * 255 && buf_head(&b)[b.len] == '\0');
	CHECK(strspn(buf_head(&b), "y") == 3 * 255);
	buf_free(&b);

	/* long output, formatted apart, refused past max */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 1500);
	CHECK(buf_printf(&b, "%s", big) == 0);
	CHECK(b.len == 999);
	errno = 0;
	CHECK(buf_printf(&b, "%s", big) == -1);
	CHECK(errno == ENOBUFS);
	CHECK(b.len == 999);
	CHECK(buf_printf(&b, "%.501s", buf_head(&b)) == 0);
	CHECK(b.len == 1500 && buf_head(&b)[1500] == '\0');
	buf_free(&b);
}

/* a secret buffer zeroes what it drains, slides and truncates */
static void
test_secret(void)
{
	struct buf b;
	size_t i, nz;

	buf_init(&b, 0);
	b.secret = true;
	CHECK(buf_puts(&b, "AUTH PLAIN c2VjcmV0\r\nMAIL") == 0);
	buf_drain(&b, 21);
	CHECK(is(&b, "MAIL", 4));
	for (i = nz = 0; i < 21; i++)
		nz += b.data[i] != 0;
	CHECK(nz == 0);
	buf_truncate(&b, 1);
	CHECK(is(&b, "M", 1) && b.data[22] == 0 && b.data[24] == 0);
	/* a slide to the front leaves nothing at the old place */
	CHECK(buf_reserve(&b, b.cap - 1) == 0);
	CHECK(b.off == 0 && is(&b, "M", 1) && b.data[21] == 0);
	/* growth moves to a new block: the bytes are kept */
	CHECK(buf_reserve(&b, b.cap * 2) == 0);
	CHECK(is(&b, "M", 1));
	buf_drain(&b, 1);
	CHECK(b.len == 0 && b.data[0] == 0);
	buf_free(&b);
}

int
main(void)
{
	test_empty();
	test_append();
	test_reserve_commit();
	test_max();
	test_overflow();
	test_drain();
	test_shrink();
	test_truncate();
	test_self_append();
	test_self_printf();
	test_secret();
	return T_DONE();
}
