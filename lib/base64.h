/* SPDX-License-Identifier: ISC */
/*
 * base64.h - base64 decoding (RFC 4648): strict for protocol fields (SASL
 * responses), lenient for MIME bodies and RFC 2047 words.
 */
#ifndef FACTEUR_BASE64_H
#define FACTEUR_BASE64_H

#include <stddef.h>

/* base64_value - 0-63 for a base64 letter, -1 for anything else */
int	base64_value(unsigned char c);
/*
 * base64_decode - strict: n a multiple of 4, only base64 letters, '='
 * only as final padding.  Writes at most outsz bytes; 0 with *outlen set,
 * or -1 when the input is not base64 or does not fit.
 */
int	base64_decode(const char *in, size_t n, void *out, size_t outsz,
	    size_t *outlen);
/*
 * base64_decode_lenient - MIME: every byte that is not a base64 letter
 * (line breaks, padding, garbage) is skipped.  out needs n * 3 / 4 + 3
 * bytes; returns the bytes written.
 */
size_t	base64_decode_lenient(const char *in, size_t n, void *out);

#endif
