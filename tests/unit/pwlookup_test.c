/* SPDX-License-Identifier: ISC */
/*
 * pwlookup_test.c - lib/pwlookup.c: names come back in the order asked,
 * an unknown or over-long name as not found, the listing after them and
 * with root in it; a child that cannot be started is an error, not an
 * empty answer; and the calling process never maps an NSS module, even
 * after a name that every nsswitch source was asked about (issue 17).
 */
#include <sys/resource.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pwlookup.h"
#include "t.h"

struct seen {
	size_t	n, root_at;
	bool	root_ok;
	bool	names_ok;
};

static void
count(const struct pwlookup_ent *e, void *arg)
{
	struct seen *s = arg;

	if (s->n == 0)
		s->names_ok = !e->found && e->name[0] == '\0';
	else if (s->n == 1)
		s->names_ok = s->names_ok && e->found &&
		    strcmp(e->name, "root") == 0;
	else if (strcmp(e->name, "root") == 0 && s->root_at == 0) {
		s->root_at = s->n;
		s->root_ok = e->found && e->uid == 0 && e->gid == 0;
	}
	s->n++;
}

/* nss_mapped - does this process map a libnss_ module? */
static bool
nss_mapped(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "libnss_") != NULL)
			found = true;
	fclose(f);
	return found;
}

int
main(void)
{
	char longname[PWLOOKUP_NAME_MAX + 40];
	const char *names[4];
	struct pwlookup_ent e[4];
	struct seen s = { 0 };
	struct rlimit rl, zero = { 0, 0 };

	log_init("pwlookup_test", true, false);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	/* by name, in order; unknown and over-long names are not found */
	names[0] = "facteur-no-such-account-7Qx";
	names[1] = "root";
	names[2] = longname;
	names[3] = "";
	memset(e, 0x5a, sizeof(e));
	CHECK(pwlookup_names(names, 4, e) == 0);
	CHECK(!e[0].found && e[0].name[0] == '\0');
	CHECK(e[1].found && e[1].uid == 0 && e[1].gid == 0);
	CHECK_STR(e[1].name, "root");
	CHECK(!e[2].found && e[2].name[0] == '\0');
	CHECK(!e[3].found);
	CHECK(pwlookup_names(names, 0, e) == 0);

	/* the names first, then every account, root among them */
	CHECK(pwlookup_run(names, 2, true, count, &s) == 0);
	CHECK(s.names_ok);
	CHECK(s.n > 2);
	CHECK(s.root_at >= 2 && s.root_ok);

	/* asked about an unknown name, glibc went to every source of
	 * "passwd:" (libnss_systemd on Debian): in the child only */
	CHECK(!nss_mapped());

	/* no child (no descriptor for the pipe): an error */
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	zero.rlim_max = rl.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &zero) == 0);
	CHECK(pwlookup_names(names, 2, e) == -1);
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	return T_DONE();
}
