/* SPDX-License-Identifier: ISC */
/*
 * crlf.c - message text with bare LF line ends (as Maildir keeps it) seen
 * as the CRLF octets that IMAP sizes, POP3 and SMTP count and send.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "crlf.h"

size_t
crlf_size(const char *d, size_t off, size_t end)
{
	size_t n = end - off;
	const char *p = d + off, *e = d + end, *nl;

	while (p < e && (nl = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		if (nl == d + off || nl[-1] != '\r')
			n++;
		p = nl + 1;
	}
	return n;
}

int
crlf_put(struct buf *out, const char *d, size_t off, size_t end)
{
	const char *p = d + off, *e = d + end, *nl;

	if (buf_reserve(out, crlf_size(d, off, end)) == -1)
		return -1;
	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL) {
			buf_append(out, p, (size_t)(e - p));
			break;
		}
		if (nl > d + off && nl[-1] == '\r')
			buf_append(out, p, (size_t)(nl - p) + 1);
		else {
			buf_append(out, p, (size_t)(nl - p));
			buf_append(out, "\r\n", 2);
		}
		p = nl + 1;
	}
	return 0;
}

size_t
crlf_vline(char *line, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(line, size - 2, fmt, ap);

	if (n < 0)
		return 0;
	if ((size_t)n > size - 3)
		n = (int)(size - 3);
	line[n++] = '\r';
	line[n++] = '\n';
	return (size_t)n;
}
