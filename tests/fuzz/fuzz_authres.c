/* SPDX-License-Identifier: ISC */
/*
 * fuzz_authres.c - libFuzzer target for smtpd/authres.c, the filter that
 * removes Authentication-Results fields with our authserv-id from a
 * message streaming in (untrusted input in the smtp role).
 *
 * The input is a message in LF form.  It is filtered whole and cut in
 * three at positions taken from its first bytes; both outputs must be the
 * same, no longer than the input, and must hold the body unchanged (what
 * follows the first empty line of the input, when the header section
 * holds no over-long field).  authres_id_is() runs on the input as a
 * field value.  Seeds: tests/fuzz/corpus/fuzz_authres/.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "smtpd/authres.h"

static void
sink(void *arg, const char *p, size_t n)
{
	if (buf_append(arg, p, n) == -1)
		__builtin_trap();
}

static void
run(const char *p, size_t n, size_t a, size_t b, struct buf *out,
    unsigned *removed)
{
	struct authres_filter f;

	buf_init(out, 0);
	authres_filter_init(&f, "mx.example.org", sink, out);
	authres_filter_feed(&f, p, a);
	authres_filter_feed(&f, p + a, b - a);
	authres_filter_feed(&f, p + b, n - b);
	authres_filter_end(&f);
	*removed = f.removed;
	authres_filter_free(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *blank;
	struct buf x, y;
	unsigned rx, ry;
	size_t a, b;

	(void)authres_id_is(p, size, "mx.example.org");
	a = size ? data[0] % (size + 1) : 0;
	b = size > 1 ? a + data[1] % (size - a + 1) : a;
	run(p, size, size, size, &x, &rx);
	run(p, size, a, b, &y, &ry);
	if (x.len != y.len || rx != ry || x.len > size ||
	    (x.len && memcmp(buf_head(&x), buf_head(&y), x.len) != 0))
		__builtin_trap();
	if (rx == 0 && (x.len != size ||
	    (size && memcmp(buf_head(&x), p, size) != 0)))
		__builtin_trap();	/* nothing removed: nothing changed */
	blank = size ? memmem(p, size, "\n\n", 2) : NULL;
	if (blank && p[0] != '\n') {
		size_t body = size - (size_t)(blank + 2 - p);

		if (x.len < body || memcmp(buf_head(&x) + x.len - body,
		    blank + 2, body) != 0)
			__builtin_trap();
	}
	buf_free(&x);
	buf_free(&y);
	return 0;
}
