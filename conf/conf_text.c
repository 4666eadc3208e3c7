/* SPDX-License-Identifier: ISC */
/*
 * conf_text.c - the lines of a configuration file that count: each line
 * as the parser sees it (comment cut, spaces at both ends gone, blank
 * lines dropped), kept in struct conf while it loads (conf_text_add), so
 * that a daemon told to reload can say whether the part it uses changed
 * (conf_same_except): facteur-smtpd keeps its roles and their sessions
 * when only comments, spacing or the sections of the other daemons
 * ([imap], [pop3], [authd], [doctor], [acme]) changed.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "xmem.h"

void
conf_text_add(struct conf *c, const char *line)
{
	size_t n = strlen(line);

	c->text = xrealloc(c->text, c->textlen + n + 2);
	memcpy(c->text + c->textlen, line, n);
	c->textlen += n;
	c->text[c->textlen++] = '\n';
	c->text[c->textlen] = '\0';
}

/* skipped - is header line "[ name ]" (length n) one of skip? */
static bool
skipped(const char *line, size_t n, const char *const *skip)
{
	const char *b = line + 1, *e = memchr(line, ']', n);
	size_t i;

	if (e == NULL)
		return false;
	while (b < e && (*b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	for (i = 0; skip[i] != NULL; i++)
		if (strlen(skip[i]) == (size_t)(e - b) &&
		    memcmp(skip[i], b, (size_t)(e - b)) == 0)
			return true;
	return false;
}

/*
 * next_line - the next line of text at *pos outside the sections in skip
 * (its length in *n); NULL at the end.  *skipping carries the state.
 */
static const char *
next_line(const char *text, size_t len, size_t *pos, size_t *n,
    const char *const *skip, bool *skipping)
{
	const char *l, *nl;

	while (*pos < len) {
		l = text + *pos;
		nl = memchr(l, '\n', len - *pos);
		*n = nl != NULL ? (size_t)(nl - l) : len - *pos;
		*pos += *n + 1;
		if (*n > 0 && l[0] == '[')
			*skipping = skipped(l, *n, skip);
		if (!*skipping)
			return l;
	}
	return NULL;
}

bool
conf_same_except(const struct conf *a, const struct conf *b,
    const char *const *skip)
{
	size_t pa = 0, pb = 0, na = 0, nb = 0;
	bool sa = false, sb = false;
	const char *la, *lb;

	for (;;) {
		la = next_line(a->text, a->textlen, &pa, &na, skip, &sa);
		lb = next_line(b->text, b->textlen, &pb, &nb, skip, &sb);
		if (la == NULL || lb == NULL)
			return la == lb;
		if (na != nb || memcmp(la, lb, na) != 0)
			return false;
	}
}
