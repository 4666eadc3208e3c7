/* SPDX-License-Identifier: ISC */
/*
 * dkim_verify_tool.c - test CLI for lib/dkim_verify.c: verifies a message
 * read from stdin with key records from a file instead of DNS (the pure
 * part, dkim_verify_set_key), and prints one line per signature:
 *
 *	RESULT d=D s=S a=A b=B8 i=I [l=N [beyond]] [testing] reason=REASON
 *
 *   dkim_verify_tool [-n MAXSIGS] [-t NOW] [-s STEP] [-H HEADERMAX] [-b N] KEYS < msg
 *	KEYS: lines "NAME TXT..." (one TXT record; repeat the line for
 *	more), "NAME -NONE-" (NXDOMAIN) or "NAME -TEMPFAIL-"; names not
 *	listed answer NXDOMAIN.  -s feeds the message STEP bytes at a time
 *	(default all at once), -t sets the time x= and t= are checked at,
 *	-b verifies the message N more times first (CPU time per message
 *	on stderr: the verifier's cost with keys at hand, DNS excluded).
 *
 * Exit 0 when it ran (whatever the results), 1 on failure, 2 on bad usage.
 * Not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dkim_verify.h"
#include "strnum.h"

#define MAXTXT	16

static void
usage(void)
{
	fprintf(stderr, "usage: dkim_verify_tool [-n MAXSIGS] [-t NOW] [-s STEP] "
	    "[-H HEADERMAX] [-b N] KEYS < msg\n");
	exit(2);
}

static long long
num(const char *s, long long max)
{
	const char *err;
	long long v = strnum(s, 0, max, &err);

	if (err)
		usage();
	return v;
}

/* answer - give signature i the records of KEYS named name */
static void
answer(struct dkim_verify *v, size_t i, const char *name, FILE *keys)
{
	char line[8192], *txt[MAXTXT], *sp;
	size_t len[MAXTXT], n = 0, k;
	enum dkim_key_answer a = DKIM_KEY_NONE;

	rewind(keys);
	while (fgets(line, sizeof(line), keys) != NULL && n < MAXTXT) {
		line[strcspn(line, "\n")] = '\0';
		if ((sp = strchr(line, ' ')) == NULL)
			continue;
		*sp++ = '\0';
		if (strcasecmp(line, name) != 0)
			continue;
		if (strcmp(sp, "-TEMPFAIL-") == 0) {
			a = DKIM_KEY_TEMPFAIL;
			break;
		}
		if (strcmp(sp, "-NONE-") == 0)
			break;
		a = DKIM_KEY_FOUND;
		txt[n] = strdup(sp);
		len[n] = strlen(sp);
		n++;
	}
	dkim_verify_set_key(v, i, a, (const char *const *)txt, len, n);
	for (k = 0; k < n; k++)
		free(txt[k]);
}

/* run - one verification of msg; the verifier, ended, keys given */
static struct dkim_verify *
run(const struct buf *msg, size_t hmax, size_t nsig, time_t now, size_t step,
    FILE *keys)
{
	struct dkim_verify *v;
	const struct dkim_vres *r;
	const char *name;
	size_t i, n;

	if ((v = dkim_verify_new(hmax, nsig, now)) == NULL)
		exit(1);
	if (step == 0)
		step = msg->len ? msg->len : 1;
	for (i = 0; i < msg->len; i += n) {
		n = msg->len - i < step ? msg->len - i : step;
		if (dkim_verify_feed(v, buf_head(msg) + i, n) == -1)
			break;
	}
	dkim_verify_end(v);
	n = dkim_verify_results(v, &r);
	for (i = 0; i < n; i++)
		if ((name = dkim_verify_key_name(v, i)) != NULL)
			answer(v, i, name, keys);
	return v;
}

int
main(int argc, char **argv)
{
	struct dkim_verify *v;
	const struct dkim_vres *r;
	struct buf msg;
	size_t step = 0, hmax = 0, nsig = 0, bench = 0, i, n, got;
	time_t now = time(NULL);
	struct timespec t0, t1;
	double el;
	FILE *keys;
	char from[256];
	int ch;

	while ((ch = getopt(argc, argv, "n:t:s:H:b:")) != -1) {
		switch (ch) {
		case 'n':
			nsig = (size_t)num(optarg, 1000);
			break;
		case 't':
			now = (time_t)num(optarg, 1LL << 40);
			break;
		case 's':
			step = (size_t)num(optarg, 1 << 30);
			break;
		case 'H':
			hmax = (size_t)num(optarg, 1 << 30);
			break;
		case 'b':
			bench = (size_t)num(optarg, 10000000);
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	if ((keys = fopen(argv[optind], "r")) == NULL) {
		perror(argv[optind]);
		return 1;
	}
	buf_init(&msg, 0);
	for (;;) {
		if (buf_reserve(&msg, 65536) == -1)
			return 1;
		if ((got = fread(buf_tail(&msg), 1, 65536, stdin)) == 0)
			break;
		buf_commit(&msg, got);
	}
	if (bench > 0) {
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		for (i = 0; i < bench; i++) {
			v = run(&msg, hmax, nsig, now, step, keys);
			dkim_verify_free(&v);
		}
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		el = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		fprintf(stderr, "%zu verifications of %zu bytes: %.1f us CPU each\n",
		    bench, msg.len, el * 1e6 / (double)bench);
	}
	v = run(&msg, hmax, nsig, now, step, keys);
	n = dkim_verify_results(v, &r);
	for (i = 0; i < n; i++) {
		printf("%s d=%s s=%s a=%s b=%s i=%s", dkim_res_name(r[i].result),
		    r[i].domain, r[i].selector, r[i].alg, r[i].b8, r[i].auid);
		if (r[i].has_l)
			printf(" l=%llu%s", (unsigned long long)r[i].l,
			    r[i].beyond_l ? " beyond" : "");
		printf("%s reason=%s\n", r[i].testing ? " testing" : "", r[i].reason);
	}
	if (dkim_verify_from_domain(v, from, sizeof(from)))
		printf("from=%s count=%zu\n", from, dkim_verify_from_count(v));
	dkim_verify_free(&v);
	buf_free(&msg);
	fclose(keys);
	return 0;
}
