/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_data.c - libFuzzer target for smtpd/smtp_data.c, the DATA
 * stream decoder.
 *
 * The input is the byte stream a client sends after "354".  It is fed
 * whole, in pieces whose sizes come from the input itself, and one byte
 * at a time, each piece into an output buffer of exactly len + 1 bytes;
 * all three must agree (consumed bytes, end seen, errors, output).
 * Independent checks: the end is seen exactly after the first
 * "<CRLF>.<CRLF>" (the stream starts at the beginning of a line), and
 * nowhere else (SMTP smuggling); BARE_LF, BARE_CR and NUL are set exactly
 * when the consumed bytes hold a LF without CR before it, a CR followed by
 * something else than LF, or a NUL; a message without errors has no CR, no
 * NUL and no line over 998 octets in its output, and encoded again (LF to
 * CRLF, dots doubled, "." line appended) it decodes to the same output.
 * A second run with max_size set to half the input checks TOO_BIG.
 * Seeds: tests/fuzz/corpus/fuzz_smtp_data/.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtpd/smtpd.h"

struct res {
	char		*out;
	size_t		 outlen, used;
	bool		 done;
	unsigned	 errors;
};

/* run - feed in pieces of the sizes step() gives; stop at the end */
static void
run(const char *in, size_t len, uint64_t max, size_t (*step)(size_t, size_t),
    struct res *r)
{
	struct smtp_data d;
	size_t at = 0, k = 0;

	memset(r, 0, sizeof(*r));
	r->out = malloc(len + 2);
	smtp_data_init(&d, max);
	while (!r->done && (at < len || k == 0)) {	/* every piece > 0 bytes */
		size_t n = step(len - at, k++), olen = 0, used;
		char *piece = malloc(n ? n : 1), *out = malloc(n + 1);

		memcpy(piece, in + at, n);
		used = smtp_data_feed(&d, piece, n, out, &olen, &r->done);
		if (used > n || olen > n + 1 || (!r->done && used != n) ||
		    r->outlen + olen > len + 1)
			__builtin_trap();
		memcpy(r->out + r->outlen, out, olen);
		r->outlen += olen;
		at += used;
		free(piece);
		free(out);
	}
	r->used = at;
	r->errors = d.errors;
}

static const uint8_t *steps;	/* the input's bytes choose piece sizes */
static size_t nsteps;

static size_t
step_whole(size_t left, size_t k)
{
	return left;
}

static size_t
step_one(size_t left, size_t k)
{
	return left ? 1 : 0;
}

static size_t
step_input(size_t left, size_t k)
{
	size_t n = nsteps ? 1 + steps[k % nsteps] % 16 : 1;

	return n < left ? n : left;
}

static bool
same(const struct res *a, const struct res *b)
{
	return a->used == b->used && a->done == b->done &&
	    a->errors == b->errors && a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0;
}

/* first_end - where "<CRLF>.<CRLF>" ends first, the stream at a line start */
static size_t
first_end(const char *in, size_t len)
{
	size_t i;

	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= len; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* flags - the errors a correct decoder sets for the consumed bytes */
static unsigned
flags(const char *in, size_t used)
{
	unsigned f = 0;
	size_t i;

	for (i = 0; i < used; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			f |= DATA_ERR_BARE_LF;
		if (in[i] == '\r' && i + 1 < used && in[i + 1] != '\n')
			f |= DATA_ERR_BARE_CR;
		if (in[i] == '\0')
			f |= DATA_ERR_NUL;
	}
	return f;
}

/* reencode - check a clean output encodes and decodes back to itself */
static void
reencode(const struct res *r)
{
	char *wire = malloc(3 * r->outlen + 4);
	size_t i, n = 0, line = 0;
	struct res again;
	bool bol = true;

	for (i = 0; i < r->outlen; i++) {
		char c = r->out[i];

		if (c == '\r' || c == '\0')
			__builtin_trap();
		if (c == '\n') {
			wire[n++] = '\r';
			line = 0;
		} else if (++line > SMTP_TEXT_MAX - 2)
			__builtin_trap();
		if (bol && c == '.')
			wire[n++] = '.';
		wire[n++] = c;
		bol = c == '\n';
	}
	if (r->outlen > 0 && !bol)
		__builtin_trap();	/* a clean message ends with its line */
	memcpy(wire + n, ".\r\n", 3);
	n += 3;
	run(wire, n, UINT64_MAX, step_whole, &again);
	if (!again.done || again.used != n || again.errors != 0 ||
	    again.outlen != r->outlen || memcmp(again.out, r->out, r->outlen) != 0)
		__builtin_trap();
	free(again.out);
	free(wire);
}

static void
check(const char *in, size_t len, uint64_t max)
{
	struct res whole, one, pieces;
	size_t end = first_end(in, len);

	run(in, len, max, step_whole, &whole);
	run(in, len, max, step_one, &one);
	run(in, len, max, step_input, &pieces);
	if (!same(&whole, &one) || !same(&whole, &pieces))
		__builtin_trap();
	if (whole.done != (end != 0) || (end && whole.used != end) ||
	    (!end && whole.used != len))
		__builtin_trap();
	if (max == UINT64_MAX && (whole.errors & DATA_ERR_TOO_BIG))
		__builtin_trap();
	if ((whole.errors & (DATA_ERR_BARE_LF | DATA_ERR_BARE_CR | DATA_ERR_NUL)) !=
	    flags(in, whole.used))
		__builtin_trap();
	if (whole.done && whole.errors == 0)
		reencode(&whole);
	free(whole.out);
	free(one.out);
	free(pieces.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	steps = data;
	nsteps = size < 64 ? size : 64;
	check((const char *)data, size, UINT64_MAX);
	check((const char *)data, size, size / 2);
	return 0;
}
