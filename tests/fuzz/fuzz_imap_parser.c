/* SPDX-License-Identifier: ISC */
/*
 * fuzz_imap_parser.c - libFuzzer target for the IMAP command parser: the
 * input is fed in chunks whose sizes come from its first byte, and every
 * DONE command goes through the FETCH, sequence-set and SEARCH compilers
 * (with a saved result for "$"), and its string arguments through the
 * mailbox name conversions (modified UTF-7 <-> UTF-8, checked to give
 * back what they were given).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "imapd/imap_parser.h"
#include "imapd/imapd.h"
#include "imapd/imap_mutf7.h"

static uint64_t spooled;

static int
spool_begin(void *arg, uint64_t n)
{
	return n % 7 == 3 ? -1 : 0;	/* sometimes refuse */
}

static int
spool_write(void *arg, const char *p, size_t n)
{
	spooled += n;
	return 0;
}

/* names: each way, and back again to the same bytes */
static void
names(const struct imap_arg *a)
{
	char u[512], m[1024], back[512];

	for (; a; a = a->next) {
		if (a->type == IMAP_ARG_LIST) {
			names(a->child);
			continue;
		}
		if (a->len >= 256 || memchr(a->s, '\0', a->len) != NULL)
			continue;
		if (mutf7_to_utf8(a->s, u, sizeof(u))) {
			if (!mutf7_from_utf8(u, m, sizeof(m)) || strcmp(m, a->s))
				abort();
		}
		if (mutf7_from_utf8(a->s, m, sizeof(m))) {
			if (!mutf7_to_utf8(m, back, sizeof(back)) ||
			    strcmp(back, a->s))
				abort();
		}
		(void)utf8_valid(a->s);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p;
	size_t off = 1, step, n, used;
	enum imap_parse_res r;
	const struct imap_cmd *c;
	struct imap_fetch f;
	struct imap_seqset set;
	const char *err;
	struct search_node *sn;
	struct imap_range sr[2] = { { 2, 3 }, { 7, 7 } };
	uint32_t lo, hi;
	struct imap_seqset saved = { sr, 2, true };

	if (size < 1)
		return 0;
	step = data[0] % 17;
	p = imap_parser_create(1024, 4096, 8, 100);
	if (data[0] & 0x80)
		imap_parser_set_spool(p, 16, spool_begin, spool_write, NULL);
	while (off < size) {
		n = step ? step : size - off;
		if (n > size - off)
			n = size - off;
		r = imap_parser_feed(p, (const char *)data + off, n, &used);
		off += used;
		(void)imap_parser_want_cont(p);
		if (r == IMAP_PARSE_DONE) {
			c = imap_parser_cmd(p);
			if (c->args && c->args->type == IMAP_ARG_ATOM &&
			    imap_seqset_parse(c->args->s, &set)) {
				(void)imap_seqset_has(&set, 5, 10);
				imap_seqset_free(&set);
			}
			if (c->args && c->args->type == IMAP_ARG_ATOM &&
			    imap_partial_parse(c->args->s, &lo, &hi) &&
			    (lo == 0 || lo > hi))
				abort();
			if (c->args)
				(void)imap_fetch_parse(c->args->next, &f, &err);
			if ((sn = search_compile(c->args, &saved, &err)) != NULL)
				search_free(&sn);
			names(c->args);
		} else if (r == IMAP_PARSE_ERROR && imap_parser_fatal(p))
			break;
		if (used == 0 && r == IMAP_PARSE_NEED_MORE)
			break;
	}
	imap_parser_free(&p);
	return 0;
}
