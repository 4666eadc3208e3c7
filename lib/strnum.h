/* SPDX-License-Identifier: ISC */
/*
 * strnum.h - the one way to turn text into numbers (STYLE 8: no atoi).
 */
#ifndef FACTEUR_STRNUM_H
#define FACTEUR_STRNUM_H

#include <stdint.h>

/*
 * strnum - parse the whole of `s` as a decimal integer in [min, max].
 * On error returns 0 and sets *err_r to a static message ("invalid",
 * "too small", "too large"); on success sets *err_r to NULL.
 */
long long	strnum(const char *s, long long min, long long max, const char **err_r);

/* strnum_size - "35M", "512K", "1G", "100" (bytes); same contract as strnum. */
uint64_t	strnum_size(const char *s, uint64_t max, const char **err_r);

/* strnum_duration - "5m", "4h", "5d", "30s", "10" (seconds); same contract. */
uint64_t	strnum_duration(const char *s, uint64_t max, const char **err_r);

/* hex_digit - the value of one hex digit (either case), or -1. */
int		hex_digit(int c);

#endif
