/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mime.c - libFuzzer target for the MIME parser: part tree,
 * BODYSTRUCTURE, ENVELOPE and BODY[section]<partial> lookups on any bytes,
 * the streamed form of each section (the CRLF reader, in chunks whose
 * size comes from the input) checked against the built one, BINARY and
 * BINARY.SIZE of those parts (they must agree) and the literal8 APPEND
 * encoder, the SEARCH decoders (RFC 2047 words, base64, quoted-printable)
 * and the SORT/THREAD keys (base subject, date, address, message-ids)
 * on the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "imapd/imap_decode.h"
#include "imapd/imap_mime.h"
#include "imapd/imap_sortkey.h"

/* stream - the section as FETCH streams it must equal the built one */
static void
stream(const struct mime_msg *m, const struct imap_section *s, size_t step)
{
	struct mime_span sp;
	struct mime_crlf rd;
	struct buf lit, got;
	size_t n;
	char *nl;

	if (!mime_section_span(m, s, &sp))
		return;
	buf_init(&lit, 0);
	buf_init(&got, 0);
	(void)mime_section_literal(m, s, "X", &lit);
	mime_crlf_init(&rd, m->data, sp.off, sp.end);
	if (mime_crlf_read(&rd, NULL, sp.skip) != sp.skip)
		abort();
	for (n = sp.n; n > 0; n -= step < n ? step : n)
		if (mime_crlf_read(&rd, &got, step < n ? step : n) == 0)
			abort();
	nl = memchr(buf_head(&lit), '\n', lit.len);
	if (nl == NULL || got.len != sp.n ||
	    (size_t)(buf_head(&lit) + lit.len - (nl + 1)) != sp.n ||
	    (sp.n && memcmp(nl + 1, buf_head(&got), sp.n) != 0))
		abort();
	buf_free(&lit);
	buf_free(&got);
}

/* binary - BINARY.SIZE is the length of BINARY's literal */
static void
binary(const struct mime_msg *m, struct imap_section *s)
{
	struct buf dec, item;
	char want[64];
	bool ok;

	buf_init(&dec, 0);
	buf_init(&item, 0);
	ok = mime_binary(m, s, &dec);
	s->binary = IMAP_BIN_SIZE;
	memcpy(s->name, "S", 2);
	if (mime_binary_item(m, s, &item) != ok)
		abort();
	snprintf(want, sizeof(want), "S %zu", dec.len);
	if (ok && (item.len != strlen(want) ||
	    memcmp(buf_head(&item), want, item.len) != 0))
		abort();
	s->binary = IMAP_BIN_CONTENT;
	s->partial = true;
	s->off = 1;
	s->cnt = 5;
	buf_reset(&item);
	(void)mime_binary_item(m, s, &item);
	s->partial = false;
	buf_free(&dec);
	buf_free(&item);
}

/* sortkeys - SORT and THREAD keys of the input as a header value */
static void
sortkeys(const char *d, size_t n)
{
	struct buf out;
	size_t pos = 0, last = 0;
	int64_t t;

	buf_init(&out, 0);
	(void)sortkey_subject(d, n, &out);
	if (out.len > SORTKEY_MAX)
		abort();
	(void)sortkey_date(d, n, &t);
	buf_reset(&out);
	sortkey_addr(d, n, false, &out);
	sortkey_addr(d, n, true, &out);
	while (sortkey_msgid_next(d, n, &pos, &out)) {
		if (pos <= last || pos > n || out.len == 0 ||
		    out.len > SORTKEY_MSGID_MAX)
			abort();
		last = pos;
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_msg *m;
	struct buf out;
	struct imap_section s;
	static const uint32_t paths[][3] = { { 1, 0, 0 }, { 2, 1, 0 },
	    { 1, 1, 1 }, { 3, 2, 0 } };
	unsigned i, k;

	m = mime_parse((const char *)data, size);
	buf_init(&out, 0);
	mime_bodystructure(m, m->root, true, &out);
	mime_envelope(m, m->root, &out);
	/* the whole input as an address list (imap_addr.c): group markers
	 * must balance whatever it holds */
	{
		struct imap_addrs a;
		size_t j;
		int open = 0;

		imap_addr_parse((const char *)data, size, &a);
		for (j = 0; j < a.n; j++) {
			if (a.v[j].group)
				open += a.v[j].mailbox ? 1 : -1;
			if (open < 0 || open > 1)
				abort();
		}
		if (open != 0)
			abort();
		imap_addr_envelope(&a, &out);
		imap_addr_text(&a, &out);
		imap_addr_free(&a);
	}
	for (i = 0; i < 4; i++) {
		for (k = IMAP_SEC_ALL; k <= IMAP_SEC_MIME; k++) {
			memset(&s, 0, sizeof(s));
			s.npart = paths[i][2] ? 3 : paths[i][1] ? 2 : 1;
			memcpy(s.part, paths[i], sizeof(paths[i]));
			s.kind = (enum imap_sec_kind)k;
			s.fields[0] = "subject";
			s.nfields = 1;
			buf_reset(&out);
			(void)mime_section(m, &s, &out);
			s.partial = true;
			s.off = size > 2 ? data[1] : 0;
			s.cnt = size > 2 ? (uint32_t)data[2] + 1 : 1;
			buf_reset(&out);
			(void)mime_section_literal(m, &s, "X", &out);
			stream(m, &s, size > 3 ? (size_t)data[3] % 7 + 1 : 1);
			s.partial = false;
			stream(m, &s, size > 4 ? (size_t)data[4] + 1 : 64);
		}
		/* BINARY[path] and BINARY.SIZE agree (imap_binary.c) */
		memset(&s, 0, sizeof(s));
		s.npart = paths[i][2] ? 3 : paths[i][1] ? 2 : 1;
		memcpy(s.part, paths[i], sizeof(paths[i]));
		binary(m, &s);
	}
	memset(&s, 0, sizeof(s));
	binary(m, &s);
	buf_reset(&out);
	if (mime_binary_encode((const char *)data, size, &out)) {
		struct mime_msg *e = mime_parse(buf_head(&out), out.len);

		mime_free(&e);
	}
	sortkeys((const char *)data, size);
	buf_reset(&out);
	decode_header((const char *)data, size, &out);
	decode_fold(buf_head(&out), out.len);
	buf_reset(&out);
	decode_body((const char *)data, size, size & 1 ? "base64" :
	    "quoted-printable", size & 2 ? "iso-8859-1" : "utf-8", &out);
	buf_free(&out);
	mime_free(&m);
	return 0;
}
