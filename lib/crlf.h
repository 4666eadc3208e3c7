/* SPDX-License-Identifier: ISC */
/*
 * crlf.h - bare-LF text counted and copied as CRLF (see crlf.c).
 */
#ifndef FACTEUR_CRLF_H
#define FACTEUR_CRLF_H

#include <stdarg.h>
#include <stddef.h>

struct buf;

/* crlf_size - bytes of data[off..end) once every bare LF is CRLF */
size_t	crlf_size(const char *data, size_t off, size_t end);
/* crlf_put - append data[off..end) to out with bare LF made CRLF; -1 when
 * out cannot grow */
int	crlf_put(struct buf *out, const char *data, size_t off, size_t end);

/* crlf_vline - fmt formatted into line[0..size) as one line ending in
 * CRLF, cut to fit (size > 3); its length, 0 on a format error */
size_t	crlf_vline(char *line, size_t size, const char *fmt, va_list ap);

#endif
