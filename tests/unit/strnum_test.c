/* SPDX-License-Identifier: ISC */
/*
 * strnum_test.c - unit tests for lib/strnum.c: decimal integers with
 * limits, sizes (K/M/G) and durations (s/m/h/d), at and beyond their edges
 * (STYLE 12, table-driven).
 */
#include <limits.h>
#include <stdint.h>

#include "strnum.h"
#include "t.h"

static const struct num_case {
	const char	*s;
	long long	 min, max;
	long long	 want;
	const char	*err;	/* NULL: success */
} num_cases[] = {
	{ "0", 0, 10, 0, NULL },
	{ "10", 0, 10, 10, NULL },
	{ "007", 0, 10, 7, NULL },		/* decimal, not octal */
	{ "11", 0, 10, 0, "too large" },
	{ "-1", 0, 10, 0, "too small" },
	{ "-5", -10, 10, -5, NULL },
	{ "-10", -10, 10, -10, NULL },
	{ "-11", -10, 10, 0, "too small" },
	{ "+5", 0, 10, 5, NULL },		/* strtoll's sign is accepted */
	{ "", 0, 10, 0, "invalid" },
	{ " 5", 0, 10, 0, "invalid" },
	{ "\t5", 0, 10, 0, "invalid" },
	{ "\n5", 0, 10, 0, "invalid" },
	{ "5 ", 0, 10, 0, "invalid" },
	{ "5\n", 0, 10, 0, "invalid" },
	{ "5x", 0, 10, 0, "invalid" },
	{ "x5", 0, 10, 0, "invalid" },
	{ "-", 0, 10, 0, "invalid" },
	{ "+", 0, 10, 0, "invalid" },
	{ "- 5", -10, 10, 0, "invalid" },
	{ "0x10", 0, 100, 0, "invalid" },
	{ "1e3", 0, 10000, 0, "invalid" },
	{ "1.0", 0, 10, 0, "invalid" },
	{ "9223372036854775807", LLONG_MIN, LLONG_MAX, LLONG_MAX, NULL },
	{ "9223372036854775808", LLONG_MIN, LLONG_MAX, 0, "too large" },
	{ "99999999999999999999999", 0, 10, 0, "too large" },
	{ "-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN, NULL },
	{ "-9223372036854775809", LLONG_MIN, LLONG_MAX, 0, "too small" },
	{ "-99999999999999999999999", 0, 10, 0, "too small" },
	{ "65535", 1, 65535, 65535, NULL },
	{ "65536", 1, 65535, 0, "too large" },
	{ "0", 1, 65535, 0, "too small" },
};

static void
test_strnum(void)
{
	const char *err;
	long long v;
	size_t i;

	for (i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		const struct num_case *t = &num_cases[i];

		err = "unset";
		v = strnum(t->s, t->min, t->max, &err);
		if (v != t->want || (t->err == NULL) != (err == NULL))
			fprintf(stderr, "num_cases[%zu] \"%s\": %lld %s\n", i,
			    t->s, v, err ? err : "(ok)");
		CHECK(v == t->want);
		if (t->err == NULL)
			CHECK(err == NULL);
		else
			CHECK_STR(err, t->err);
	}
	err = "unset";
	CHECK(strnum(NULL, 0, 10, &err) == 0);
	CHECK_STR(err, "invalid");
}

#define K	1024ULL
#define M	(1024ULL * K)
#define G	(1024ULL * M)

static const struct unit_case {
	const char	*s;
	uint64_t	 max;
	uint64_t	 want;
	const char	*err;
} size_cases[] = {
	{ "0", UINT64_MAX, 0, NULL },
	{ "100", UINT64_MAX, 100, NULL },
	{ "512K", UINT64_MAX, 512 * K, NULL },
	{ "512k", UINT64_MAX, 512 * K, NULL },
	{ "35M", UINT64_MAX, 35 * M, NULL },
	{ "35m", UINT64_MAX, 35 * M, NULL },
	{ "1G", UINT64_MAX, G, NULL },
	{ "1g", UINT64_MAX, G, NULL },
	{ "0K", UINT64_MAX, 0, NULL },
	{ "00000000000000000000000001K", UINT64_MAX, K, NULL },
	{ "2G", 2 * G, 2 * G, NULL },		/* max is inclusive */
	{ "2049M", 2 * G, 0, "too large" },
	{ "2147483649", 2 * G, 0, "too large" },
	{ "3", 2, 0, "too large" },
	{ "", UINT64_MAX, 0, "invalid" },
	{ "M", UINT64_MAX, 0, "invalid" },
	{ "K1", UINT64_MAX, 0, "invalid" },
	{ "1.5M", UINT64_MAX, 0, "invalid" },
	{ "35MB", UINT64_MAX, 0, "invalid" },
	{ "1MM", UINT64_MAX, 0, "invalid" },
	{ "1T", UINT64_MAX, 0, "invalid" },
	{ "1s", UINT64_MAX, 0, "invalid" },	/* a duration unit */
	{ " 1M", UINT64_MAX, 0, "invalid" },
	{ "1 M", UINT64_MAX, 0, "invalid" },
	{ "1M ", UINT64_MAX, 0, "invalid" },
	{ "-1", UINT64_MAX, 0, "invalid" },
	{ "+1", UINT64_MAX, 0, "invalid" },
	{ "0x10", UINT64_MAX, 0, "invalid" },
	{ "18446744073709551609", UINT64_MAX, 18446744073709551609ULL, NULL },
	{ "18446744073709551616", UINT64_MAX, 0, "too large" },
	{ "99999999999999999999999", UINT64_MAX, 0, "too large" },
	{ "17179869183G", UINT64_MAX, 17179869183ULL * G, NULL },
	{ "17179869184G", UINT64_MAX, 0, "too large" },	/* 2^64 */
	{ "18014398509481983K", UINT64_MAX, 18014398509481983ULL * K, NULL },
	{ "18014398509481984K", UINT64_MAX, 0, "too large" },
	/* the digit loop's overflow test used to be one step too early */
	{ "18446744073709551615", UINT64_MAX, UINT64_MAX, NULL },
	{ "18446744073709551610", UINT64_MAX, 18446744073709551610ULL, NULL },
	{ "18446744073709551615K", UINT64_MAX, 0, "too large" },
	{ "184467440737095516150", UINT64_MAX, 0, "too large" },
	{ "1844674407370955161", UINT64_MAX, 1844674407370955161ULL, NULL },
};

static const struct unit_case duration_cases[] = {
	{ "0", UINT64_MAX, 0, NULL },
	{ "10", UINT64_MAX, 10, NULL },
	{ "30s", UINT64_MAX, 30, NULL },
	{ "30S", UINT64_MAX, 30, NULL },
	{ "5m", UINT64_MAX, 300, NULL },
	{ "5M", UINT64_MAX, 300, NULL },
	{ "4h", UINT64_MAX, 4 * 3600, NULL },
	{ "5d", UINT64_MAX, 5 * 86400, NULL },
	{ "1d", 86400, 86400, NULL },
	{ "24h", 86400, 86400, NULL },
	{ "1441m", 86400, 0, "too large" },
	{ "86401", 86400, 0, "too large" },
	{ "1w", UINT64_MAX, 0, "invalid" },
	{ "1K", UINT64_MAX, 0, "invalid" },	/* a size unit */
	{ "1h30m", UINT64_MAX, 0, "invalid" },
	{ "m", UINT64_MAX, 0, "invalid" },
	{ "", UINT64_MAX, 0, "invalid" },
	{ "-5m", UINT64_MAX, 0, "invalid" },
	{ "5 m", UINT64_MAX, 0, "invalid" },
	{ "213503982334601d", UINT64_MAX, 213503982334601ULL * 86400, NULL },
	{ "213503982334602d", UINT64_MAX, 0, "too large" },
	{ "307445734561825860m", UINT64_MAX, 307445734561825860ULL * 60, NULL },
	{ "307445734561825861m", UINT64_MAX, 0, "too large" },
};

static void
run_units(const char *what, const struct unit_case *cases, size_t n,
    uint64_t (*fn)(const char *, uint64_t, const char **))
{
	const char *err;
	uint64_t v;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct unit_case *t = &cases[i];

		err = "unset";
		v = fn(t->s, t->max, &err);
		if (v != t->want || (t->err == NULL) != (err == NULL))
			fprintf(stderr, "%s[%zu] \"%s\": %llu %s\n", what, i,
			    t->s, (unsigned long long)v, err ? err : "(ok)");
		CHECK(v == t->want);
		if (t->err == NULL)
			CHECK(err == NULL);
		else
			CHECK_STR(err, t->err);
	}
}

int
main(void)
{
	test_strnum();
	run_units("size_cases", size_cases,
	    sizeof(size_cases) / sizeof(size_cases[0]), strnum_size);
	run_units("duration_cases", duration_cases,
	    sizeof(duration_cases) / sizeof(duration_cases[0]), strnum_duration);
	return T_DONE();
}
