/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_reply.c - libFuzzer target for what the relay role reads
 * from remote SMTP servers (smtpd/relay_reply.c): the input is split at
 * LF (a CR before it dropped, as relay_smtp.c does) and fed line by line
 * to the reply parser; each complete reply is formatted and parsed as an
 * EHLO answer.  Invariants: stored text is printable ASCII (plus '\n'
 * between lines) within its bound, codes are 200..599, AUTH mechanisms
 * are upper-case tokens.
 *
 * The same bytes then go through the DATA encoder (relay_data.c) in
 * pieces, and the output is decoded back: it must be CR LF lines only,
 * end in ".\r\n", and unstuff to the input with line ends normalised.
 * Seeds: tests/fuzz/corpus/fuzz_smtp_reply/.
 */
#include <stdlib.h>
#include <string.h>

#include "smtpd/relay.h"
#include "tests/fuzz/fuzz.h"

static void
check_reply(const struct relay_reply *r)
{
	struct relay_caps caps;
	char out[RELAY_TEXT_MAX];
	size_t i;

	if (r->code < 200 || r->code > 599 || r->len > REPLY_TEXT_MAX ||
	    r->text[r->len] != '\0' || strlen(r->text) != r->len)
		__builtin_trap();
	for (i = 0; i < r->len; i++)
		if ((r->text[i] < 0x20 || r->text[i] > 0x7e) && r->text[i] != '\n')
			__builtin_trap();
	relay_reply_format(r, out, sizeof(out));
	if (strlen(out) >= sizeof(out) || strchr(out, '\n') != NULL)
		__builtin_trap();
	relay_caps_parse(r, &caps);
	for (i = 0; caps.auth[i]; i++) {
		char c = caps.auth[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == ' '))
			__builtin_trap();
	}
}

static void
fuzz_replies(const char *p, size_t size)
{
	struct relay_reply r;
	const char *end = p + size, *nl, *err;
	size_t len;

	relay_reply_init(&r);
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		switch (relay_reply_line(&r, p, len, &err)) {
		case REPLY_DONE:
			check_reply(&r);
			relay_reply_init(&r);
			break;
		case REPLY_ERROR:
			if (err == NULL)
				__builtin_trap();
			relay_reply_init(&r);
			break;
		case REPLY_MORE:
			break;
		}
		p = nl + 1;
	}
}

/* normalise - what the receiver must get back: CR LF or bare CR rules */
static size_t
normalise(const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\r')
			out[o++] = i + 1 < n && in[i + 1] == '\n' ? '\n' : ' ';
		else
			out[o++] = in[i];
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			i++;
	}
	/* a trailing bare CR closes the line like an LF */
	if (o > 0 && n > 0 && in[n - 1] == '\r')
		out[o - 1] = '\n';
	if (o > 0 && out[o - 1] != '\n')
		out[o++] = '\n';
	return o;
}

/* unstuff - the encoder's output back to LF lines; -1 if malformed */
static long
unstuff(const char *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	for (;;) {
		const char *crlf = NULL;
		size_t k, len;

		for (k = i; k + 1 < n; k++)
			if (in[k] == '\r' && in[k + 1] == '\n') {
				crlf = in + k;
				break;
			}
		if (crlf == NULL)
			return -1;
		len = (size_t)(crlf - (in + i));
		if (memchr(in + i, '\r', len) || memchr(in + i, '\n', len))
			return -1;	/* a stray CR or LF */
		if (len == 1 && in[i] == '.')
			return i + 3 == n ? (long)o : -1;
		if (len > 0 && in[i] == '.') {
			if (len < 2 || in[i + 1] != '.')
				return -1;	/* an unstuffed dot */
			i++;
			len--;
		}
		memcpy(out + o, in + i, len);
		o += len;
		out[o++] = '\n';
		i += len + 2;
	}
}

static void
fuzz_encoder(const char *p, size_t size)
{
	struct relay_enc e;
	char *enc, *dec, *want;
	size_t step, i, n, o = 0, wn;
	long dn;

	if (size == 0)
		return;
	step = (unsigned char)p[0] % 7 + 1;
	p++;
	size--;
	enc = malloc(2 * size + 8);
	dec = malloc(2 * size + 8);
	want = malloc(size + 2);
	relay_enc_init(&e);
	for (i = 0; i < size; i += n) {
		n = size - i < step ? size - i : step;
		o += relay_enc_feed(&e, p + i, n, enc + o);
	}
	o += relay_enc_end(&e, enc + o);
	if (o > 2 * size + 6)
		__builtin_trap();
	dn = unstuff(enc, o, dec);
	wn = normalise(p, size, want);
	if (dn < 0 || (size_t)dn != wn || memcmp(dec, want, wn) != 0)
		__builtin_trap();
	free(want);
	free(dec);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_replies((const char *)data, size);
	fuzz_encoder((const char *)data, size);
	return 0;
}
