/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mime.c - libFuzzer target for the MIME parser: part tree,
 * BODYSTRUCTURE, ENVELOPE and BODY[section]<partial> lookups on any bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "imapd/imap_mime.h"

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
		}
	}
	buf_free(&out);
	mime_free(&m);
	return 0;
}
