/* SPDX-License-Identifier: ISC */
/*
 * relay_data.c - the message as the relay role sends it after DATA.
 *
 * The queue keeps messages in LF form without dot-stuffing.  On the wire
 * (RFC 5321 2.3.8, 4.5.2) every line ends in CR LF and a line starting
 * with '.' gets one more.  A CR LF already in the file counts as one line
 * end; any other CR is sent as a space: we never emit a stray CR or LF
 * (STYLE 9, SMTP smuggling).  The scanner gives the size for MAIL SIZE=
 * (RFC 1870) and whether BODY=8BITMIME or SMTPUTF8 apply.
 *
 * Pure functions, no I/O; unit-tested (relay_test.c).
 */
#include <string.h>

#include "smtpd/relay.h"

void
relay_enc_init(struct relay_enc *e)
{
	e->bol = true;
	e->cr = false;
}

size_t
relay_enc_feed(struct relay_enc *e, const char *in, size_t len, char *out)
{
	char *o = out;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (e->cr) {
			e->cr = false;
			if (c != '\n') {
				*o++ = ' ';
				e->bol = false;
			}
		}
		if (c == '\r') {
			e->cr = true;
			continue;
		}
		if (c == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			e->bol = true;
			continue;
		}
		if (e->bol && c == '.')
			*o++ = '.';
		*o++ = c;
		e->bol = false;
	}
	return (size_t)(o - out);
}

size_t
relay_enc_end(struct relay_enc *e, char *out)
{
	char *o = out;

	/* a last line without its LF (or ending in CR) is closed */
	if (e->cr || !e->bol) {
		*o++ = '\r';
		*o++ = '\n';
	}
	memcpy(o, ".\r\n", 3);
	o += 3;
	e->cr = false;
	e->bol = true;
	return (size_t)(o - out);
}

void
relay_scan_init(struct relay_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->in_header = true;
	s->bol = true;
}

void
relay_scan_feed(struct relay_scan *s, const char *p, size_t n)
{
	size_t i;

	s->size += n;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n') {
			s->size++;
			if (s->bol)
				s->in_header = false;	/* the empty line */
			s->bol = true;
			continue;
		}
		if (c >= 0x80) {
			s->eightbit = true;
			if (s->in_header)
				s->header8 = true;
		}
		if (c != '\r')
			s->bol = false;
	}
}
