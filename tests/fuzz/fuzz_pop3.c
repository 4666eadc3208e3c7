/* SPDX-License-Identifier: ISC */
/*
 * fuzz_pop3.c - libFuzzer target for imapd/pop3_proto.c.  The first byte
 * picks a budget; the input is read as command lines (each parsed) and
 * written as a message by RETR and by TOP.  The RETR output, un-stuffed,
 * must be the message with CRLF line ends (crlf_size() bytes, plus a
 * line end when the last one lacks it): LIST's size is what RETR sends.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crlf.h"
#include "imapd/imap_mime.h"
#include "imapd/pop3_proto.h"
#include "tests/fuzz/fuzz.h"

static void
lines(const char *d, size_t n)
{
	struct pop3_reader r = { false };
	struct pop3_cmd c;
	size_t len, used;
	char *line;

	while (n > 0) {
		switch (pop3_line(&r, d, n, 64, &len, &used)) {
		case POP3_LINE_OK:
			line = malloc(len + 1);
			memcpy(line, d, len);
			pop3_parse(line, len, &c);
			if (c.arg && c.arglen > len)
				abort();
			free(line);
			break;
		case POP3_LINE_MORE:
			if (used == 0)
				return;
			break;
		case POP3_LINE_LONG:
			break;
		}
		d += used;
		n -= used;
	}
}

/* unstuff - RETR output back to the message; false if malformed */
static bool
unstuff(const char *o, size_t n, struct buf *m)
{
	size_t i = 0, e;

	for (;;) {
		for (e = i; e + 1 < n && !(o[e] == '\r' && o[e + 1] == '\n'); e++)
			;
		if (e + 1 >= n)
			return false;
		if (e - i == 1 && o[i] == '.')
			return e + 2 == n;	/* the end */
		if (o[i] == '.') {
			if (e == i || o[i + 1] != '.')
				return false;
			i++;
		}
		buf_append(m, o + i, e + 2 - i);
		i = e + 2;
	}
}

static void
retr(const char *d, size_t n, size_t budget, bool top, uint32_t nl)
{
	struct pop3_stuff st;
	struct buf out, m;
	size_t want;
	int rounds = 0;

	buf_init(&out, 0);
	buf_init(&m, 0);
	pop3_stuff_init(&st, d, n, top, nl);
	while (!pop3_stuff_read(&st, &out, budget))
		if (rounds++ > 10000000)
			abort();
	if (!top) {
		want = crlf_size(d, 0, n) +
		    (n > 0 && d[n - 1] != '\n' ? 2 : 0);
		if (!unstuff(buf_head(&out), out.len, &m) || m.len != want)
			abort();
	}
	buf_free(&out);
	buf_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data + 1;
	size_t budget;

	if (size < 1)
		return 0;
	budget = 1 + data[0] % 64;
	lines(d, size - 1);
	retr(d, size - 1, budget, false, 0);
	retr(d, size - 1, budget, true, data[0] % 5);
	return 0;
}
