/* SPDX-License-Identifier: ISC */
/*
 * multicall.c - main() of the busybox-style build (MULTICALL=1,
 * init/module.mk): one executable, build/bin/facteur, holding every
 * program, with facteur-authd, facteur-imapd, ... as symbolic links to it.
 * Each program's own main() was compiled as facteur_NAME_main (NAME with
 * '-' as '_'); the build lists them in MULTICALL_PROGS as X(NAME) entries.
 *
 * Shared code, and above all a statically linked libcrypto, is then
 * stored once instead of once per program (sizes: README "Installing on a
 * box").  Dispatch is on the base name of argv[0]; `facteur NAME ARGS` also
 * works.  Not part of libfacteur.a.  Exit status 2 for an unknown name.
 */
#include <stdio.h>
#include <string.h>

#ifndef MULTICALL_PROGS
#error "MULTICALL_PROGS must list X(name) for each program"
#endif

#define X(n)	int facteur_##n##_main(int, char **);
MULTICALL_PROGS
#undef X

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
} progs[] = {
#define X(n)	{ #n, facteur_##n##_main },
	MULTICALL_PROGS
#undef X
};

/* find - the program called name ("facteur-imapd" or "imapd"), or -1 */
static int
find(const char *name)
{
	char want[64];
	size_t i, j;

	if (strncmp(name, "facteur-", 8) == 0)
		name += 8;
	for (j = 0; name[j] != '\0' && j < sizeof(want) - 1; j++)
		want[j] = name[j] == '-' ? '_' : name[j];
	want[j] = '\0';
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (strcmp(progs[i].name, want) == 0)
			return (int)i;
	return -1;
}

int
main(int argc, char **argv)
{
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	size_t i;
	int p;

	base = base != NULL ? base + 1 : argc > 0 ? argv[0] : "facteur";
	if ((p = find(base)) >= 0)
		return progs[p].fn(argc, argv);
	if (argc > 1 && (p = find(argv[1])) >= 0)
		return progs[p].fn(argc - 1, argv + 1);
	fprintf(stderr, "usage: facteur PROGRAM [ARGS], or call it as one of:");
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		fprintf(stderr, " facteur-%s", progs[i].name);
	fprintf(stderr, "\n");
	return 2;
}
