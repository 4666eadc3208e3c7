/* SPDX-License-Identifier: ISC */
/*
 * imap_rev2.c - what IMAP4rev2 (RFC 9051) changes for a session that
 * enabled it: mailbox names in UTF-8 (the store keeps modified UTF-7,
 * which IMAP4rev1 clients read and write), and the saved search result
 * of SEARCHRES (RFC 5182, part of IMAP4rev2), "$".
 *
 * Runs in a worker as `user`; no I/O.  The saved result is a sorted
 * array of UIDs, so it follows the messages, not their numbers: "$" in
 * a command by sequence number maps each UID to its number in this
 * session's view when it is used, and an expunged message drops out.
 */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "imap_mutf7.h"
#include "xmem.h"

bool
name_in(struct imap_session *s, const char *name, char *out, size_t outsz)
{
	if (!s->rev2)
		return bstrcpy(out, name, outsz);
	return mutf7_from_utf8(name, out, outsz);
}

const char *
name_out(struct imap_session *s, const char *name, char *out)
{
	/* a name that is not mUTF-7 (made by another program) as it is */
	if (!s->rev2 || !mutf7_to_utf8(name, out, MBOX_OUT_SZ))
		return name;
	return out;
}

/* ---- SEARCHRES ---- */

void
saved_clear(struct imap_session *s)
{
	free(s->saved);
	s->saved = NULL;
	s->nsaved = 0;
}

void
saved_put(struct imap_session *s, uint32_t *uids, size_t n)
{
	saved_clear(s);
	s->saved = uids;
	s->nsaved = n;
}

ssize_t
uid_index(const uint32_t *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid] == uid)
			return (ssize_t)mid;
		if (v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

ssize_t
session_view_pos(const struct imap_session *s, uint32_t uid)
{
	return uid_index(s->view, s->nview, uid);
}

/* set_add - n (ascending) into set, joined to the last range if next */
static void
set_add(struct imap_seqset *set, size_t *cap, uint32_t n)
{
	if (set->n && set->v[set->n - 1].hi + 1 == n) {
		set->v[set->n - 1].hi = n;
		return;
	}
	if (set->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		set->v = xreallocarray(set->v, *cap, sizeof(*set->v));
	}
	set->v[set->n].lo = set->v[set->n].hi = n;
	set->n++;
}

void
saved_set(struct imap_session *s, bool uid, struct imap_seqset *set)
{
	size_t i, cap = 0;
	ssize_t pos;

	memset(set, 0, sizeof(*set));
	for (i = 0; i < s->nsaved; i++) {
		if (uid)
			set_add(set, &cap, s->saved[i]);
		else if ((pos = session_view_pos(s, s->saved[i])) >= 0)
			set_add(set, &cap, (uint32_t)pos + 1);
	}
	set->sorted = true;
}
