/* SPDX-License-Identifier: ISC */
/*
 * fuzz_conf.c - libFuzzer target for the configuration parser (conf/conf.c).
 *
 * Feeds the input as a whole configuration file to conf_load_mem(), with
 * the error messages written to /dev/null so their formatting runs too.
 * A configuration that loads is then used the way the daemons use it:
 * every domain is looked up, a Maildir path is expanded, every listener is
 * formatted.  Seeds: tests/fuzz/corpus/fuzz_conf/, dictionary fuzz_conf.dict.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

static void
fuzz_conf_use(const struct conf *c, const char *data, size_t size)
{
	char out[512];
	size_t i;

	for (i = 0; i < c->ndomains; i++) {
		if (!conf_is_local_domain(c, c->domains[i], strlen(c->domains[i])))
			__builtin_trap();
		(void)conf_maildir_path(c, "user", c->domains[i], out, sizeof(out));
		(void)conf_maildir_path(c, "u", c->domains[i], out, 16);
	}
	(void)conf_is_local_domain(c, data, size < 300 ? size : 300);
	for (i = 0; i < c->smtp.listen.n; i++)
		if (!conf_addr_format(&c->smtp.listen.v[i], out, sizeof(out)))
			__builtin_trap();
	for (i = 0; i < c->imap.listen.n; i++)
		if (!conf_addr_format(&c->imap.listen.v[i], out, sizeof(out)))
			__builtin_trap();
	if (c->imap.max_literal == 0 || c->smtp.max_size == 0 ||
	    c->queue.retry > c->queue.max_retry || c->mail_dir == NULL ||
	    strstr(c->mail_dir, "%u") == NULL)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct conf *c;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		return 0;
	c = conf_load_mem("fuzz.conf", (const char *)data, size, devnull);
	if (c != NULL)
		fuzz_conf_use(c, (const char *)data, size);
	conf_free(&c);
	return 0;
}
