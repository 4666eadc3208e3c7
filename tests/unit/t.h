/* SPDX-License-Identifier: ISC */
/*
 * t.h - the tiny unit-test harness (STYLE 12): CHECK() prints file:line of
 * a failed assertion and counts; T_DONE() prints "N passed, M failed" and
 * returns non-zero on any failure.  Include once per test program.
 */
#ifndef FACTEUR_T_H
#define FACTEUR_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond) do {						\
	if (cond)							\
		t_pass++;						\
	else {								\
		t_fail++;						\
		fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

#define CHECK_STR(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (g_ && w_ && strcmp(g_, w_) == 0)				\
		t_pass++;						\
	else {								\
		t_fail++;						\
		fprintf(stderr, "%s:%d: FAIL: %s\n  got:  \"%s\"\n  want: \"%s\"\n", \
		    __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	}								\
} while (0)

#define T_DONE() (printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail), \
	t_fail ? 1 : 0)

#endif
