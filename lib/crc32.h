/* SPDX-License-Identifier: ISC */
/*
 * crc32.h - CRC-32 as zlib, gzip and PNG compute it (reflected polynomial
 * 0xEDB88320), to tell whether bytes read back are the bytes written: the
 * queue file's footer carries the CRC of what it ends (smtpd/queue_file.c).
 * Not a cryptographic hash.
 *
 *	uint32_t c = 0;
 *	c = crc32_update(c, p, n);	(any number of times; the same as
 *					 zlib's crc32(c, p, n))
 */
#ifndef FACTEUR_CRC32_H
#define FACTEUR_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t	crc32_update(uint32_t crc, const void *p, size_t n);

#endif
