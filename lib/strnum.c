/* SPDX-License-Identifier: ISC */
/*
 * strnum.c - decimal numbers, sizes (K/M/G) and durations (s/m/h/d).
 * Pure functions; used by the config parser and protocol parsers.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strnum.h"

long long
strnum(const char *s, long long min, long long max, const char **err_r)
{
	long long v;
	char *end;

	*err_r = "invalid";
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return 0;
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*err_r = "too small";
		return 0;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*err_r = "too large";
		return 0;
	}
	*err_r = NULL;
	return v;
}

/* strnum_unit - digits followed by at most one unit letter from `units` */
static uint64_t
strnum_unit(const char *s, uint64_t max, const char *units,
    const uint64_t *mult, const char **err_r)
{
	uint64_t v = 0, m = 1, d;
	size_t i, n = strlen(s);

	*err_r = "invalid";
	if (n == 0 || !isdigit((unsigned char)s[0]))
		return 0;
	if (!isdigit((unsigned char)s[n - 1])) {
		const char *u = strchr(units, tolower((unsigned char)s[n - 1]));

		if (u == NULL || *u == '\0')
			return 0;
		m = mult[u - units];
		n--;
	}
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {	/* v * 10 + d would wrap */
			*err_r = "too large";
			return 0;
		}
		v = v * 10 + d;
	}
	if (v > UINT64_MAX / m || v * m > max) {
		*err_r = "too large";
		return 0;
	}
	*err_r = NULL;
	return v * m;
}

uint64_t
strnum_size(const char *s, uint64_t max, const char **err_r)
{
	static const uint64_t mult[] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 };

	return strnum_unit(s, max, "kmg", mult, err_r);
}

uint64_t
strnum_duration(const char *s, uint64_t max, const char **err_r)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	return strnum_unit(s, max, "smhd", mult, err_r);
}

int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
