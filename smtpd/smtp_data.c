/* SPDX-License-Identifier: ISC */
/*
 * smtp_data.c - the DATA stream: dot-unstuffing, CRLF to LF, end detection.
 *
 * Pure code, no I/O; fuzzed.  Policy (SPEC 6, STYLE 9, the 2023 SMTP
 * smuggling reports): only <CRLF>.<CRLF> ends the message; a line ends only
 * at CRLF.  A bare LF or bare CR anywhere, a NUL byte, a text line longer
 * than 1000 octets (RFC 5321 4.5.3.1.6) or a message larger than max_size
 * (counted as RFC 1870 does: CRLF line ends, stuffed dots not counted)
 * marks the message bad, and so does a header with more than
 * SMTP_HOPS_MAX Received fields (RFC 5321 6.3: a mail loop, for instance
 * between a backup MX and a primary that sends the mail back); we keep reading to the real end so the session
 * stays in sync, and the session then rejects the whole message.  Output is
 * the message with LF line endings, as Maildir stores it.
 */
#include <ctype.h>
#include <string.h>

#include "smtpd.h"

enum {
	D_BOL,		/* at the start of a line (after CRLF) */
	D_MID,		/* inside a line */
	D_CR,		/* saw CR inside a line */
	D_DOT,		/* saw "." at the start of a line */
	D_DOTCR,	/* saw ".\r" at the start of a line */
};

void
smtp_data_init(struct smtp_data *d, uint64_t max)
{
	memset(d, 0, sizeof(*d));
	d->state = D_BOL;
	d->max = max;
}

/* smtp_data_hop - c, the next output byte, on the count of Received
 * fields in the header (a field name starting a line, any case) */
static inline void
smtp_data_hop(struct smtp_data *d, char c)
{
	static const char rcvd[] = "received:";

	if (d->body)
		return;
	if (c == '\n') {
		if (d->linelen == 0)
			d->body = true;		/* the empty line */
		d->hmatch = 0;
		return;
	}
	if (d->linelen != d->hmatch || d->hmatch >= sizeof(rcvd) - 1 ||
	    tolower((unsigned char)c) != rcvd[d->hmatch])
		return;
	if (++d->hmatch == sizeof(rcvd) - 1 && ++d->hops > SMTP_HOPS_MAX)
		d->errors |= DATA_ERR_LOOP;
}

/* smtp_data_put - one output byte, unless the message is already bad */
static inline void
smtp_data_put(struct smtp_data *d, char c, char *out, size_t *o)
{
	smtp_data_hop(d, c);
	if (c != '\n' && ++d->linelen > SMTP_TEXT_MAX - 2)
		d->errors |= DATA_ERR_LONG_LINE;
	if (c == '\n')
		d->linelen = 0;
	d->size++;
	/* RFC 1870: the limit is in octets as sent, CRLF line ends */
	d->wire += c == '\n' ? 2 : 1;
	if (d->wire > d->max)
		d->errors |= DATA_ERR_TOO_BIG;
	if (d->errors == 0)
		out[(*o)++] = c;
}

/* smtp_data_mid - a byte inside a line */
static inline void
smtp_data_mid(struct smtp_data *d, char c, char *out, size_t *o)
{
	switch (c) {
	case '\r':
		d->state = D_CR;
		return;
	case '\n':
		d->errors |= DATA_ERR_BARE_LF;
		break;
	case '\0':
		d->errors |= DATA_ERR_NUL;
		break;
	}
	d->state = D_MID;
	smtp_data_put(d, c, out, o);
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
    char *out, size_t *outlen_r, bool *done_r)
{
	size_t i, o = 0;

	*done_r = false;
	for (i = 0; i < len; i++) {
		char c = in[i];

		switch (d->state) {
		case D_BOL:
			if (c == '.')
				d->state = D_DOT;
			else
				smtp_data_mid(d, c, out, &o);
			break;
		case D_DOT:
			if (c == '\r')
				d->state = D_DOTCR;
			else		/* the stuffed dot is dropped */
				smtp_data_mid(d, c, out, &o);
			break;
		case D_DOTCR:
			if (c == '\n') {
				*done_r = true;
				*outlen_r = o;
				return i + 1;
			}
			d->errors |= DATA_ERR_BARE_CR;
			smtp_data_put(d, '\r', out, &o);
			smtp_data_mid(d, c, out, &o);
			break;
		case D_CR:
			if (c == '\n') {
				smtp_data_put(d, '\n', out, &o);
				d->state = D_BOL;
			} else {
				d->errors |= DATA_ERR_BARE_CR;
				smtp_data_put(d, '\r', out, &o);
				smtp_data_mid(d, c, out, &o);
			}
			break;
		default:
			smtp_data_mid(d, c, out, &o);
			break;
		}
	}
	*outlen_r = o;
	return len;
}

/* smtp_data_error - the reply for a rejected message */
const char *
smtp_data_error(unsigned errors)
{
	if (errors & DATA_ERR_TOO_BIG)
		return "552 5.3.4 Message too big";
	if (errors & DATA_ERR_LOOP)
		return "554 5.4.6 Too many hops: more than 100 Received fields, "
		    "a mail loop?";
	if (errors & DATA_ERR_LONG_LINE)
		return "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6: 1000 octets)";
	if (errors & DATA_ERR_NUL)
		return "554 5.6.0 NUL byte in message";
	if (errors & (DATA_ERR_BARE_LF | DATA_ERR_BARE_CR))
		return "554 5.6.0 Bare CR or LF in message; lines must end with CRLF";
	return "250 2.0.0 Ok";
}
