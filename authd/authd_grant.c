/* SPDX-License-Identifier: ISC */
/*
 * authd_grant.c - grants: authd's record that a session of one smtpd
 * process was authenticated by authd itself, so that DKIM_SIGN signs only
 * for sessions it vouched for (issue 16: the smtp role could ask for a
 * signature on any digest for any domain).
 *
 * A grant is made when a LOGIN for service "smtp" succeeds (the user whose
 * password authd checked) or on AUTHD_LOCAL (the local account that the
 * kernel names as the peer of a facteur-sendmail connection).  It is
 * AUTHD_GRANT_LEN random bytes, valid only for the process (pid and uid)
 * it was given to, until that process releases it at the end of the
 * session, or after AUTHD_GRANT_IDLE_MS without use, or when
 * AUTHD_GRANTS_MAX newer ones push it out.  Which domains a grant may
 * sign for is decided at each signature (authd_req.c): those of the
 * user's addresses (users.db, aliases.db, as SENDERS answers), or of the
 * local account's (lib/localsend.c).  Runs in authd; no I/O; out of
 * memory makes no grant (the caller answers TEMPFAIL).
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "sha256.h"
#include "xmem.h"

static struct authd_grant **grants;
static size_t ngrants;

/* grant_drop - forget grants[i] (order does not matter) */
static void
grant_drop(size_t i)
{
	explicit_bzero(grants[i], sizeof(*grants[i]));
	free(grants[i]);
	grants[i] = grants[--ngrants];
	grants[ngrants] = NULL;
}

/* grant_slot - a free slot: expired ones go, then the least recently used */
static bool
grant_slot(uint64_t now)
{
	size_t i, old = 0;

	if (grants == NULL && (grants = calloc(AUTHD_GRANTS_MAX,
	    sizeof(*grants))) == NULL)
		return false;
	for (i = 0; i < ngrants; )
		if (now - grants[i]->used > AUTHD_GRANT_IDLE_MS)
			grant_drop(i);
		else
			i++;
	if (ngrants < AUTHD_GRANTS_MAX)
		return true;
	for (i = 1; i < ngrants; i++)
		if (grants[i]->used < grants[old]->used)
			old = i;
	grant_drop(old);
	return true;
}

int
authd_grant_new(pid_t pid, uid_t uid, const char *user, uid_t local_uid,
    uint64_t now, uint8_t token_r[AUTHD_GRANT_LEN])
{
	struct authd_grant *g;

	if (!grant_slot(now) || (g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	if (rand_bytes(g->token, sizeof(g->token)) == -1 ||
	    (user != NULL && !bstrcpy(g->user, user, sizeof(g->user)))) {
		free(g);
		return -1;
	}
	g->pid = pid;
	g->uid = uid;
	g->local = user == NULL;
	g->local_uid = local_uid;
	g->used = now;
	grants[ngrants++] = g;
	memcpy(token_r, g->token, AUTHD_GRANT_LEN);
	return 0;
}

/* grant_index - the grant of this process with this token, or -1 */
static long
grant_index(pid_t pid, uid_t uid, const uint8_t *token, uint64_t now)
{
	size_t i;

	for (i = 0; i < ngrants; i++)
		if (ct_equal(grants[i]->token, token, AUTHD_GRANT_LEN))
			break;
	if (i == ngrants || grants[i]->pid != pid || grants[i]->uid != uid)
		return -1;
	if (now - grants[i]->used > AUTHD_GRANT_IDLE_MS) {
		grant_drop(i);
		return -1;
	}
	return (long)i;
}

const struct authd_grant *
authd_grant_use(pid_t pid, uid_t uid, const uint8_t *token, uint64_t now)
{
	long i = grant_index(pid, uid, token, now);

	if (i < 0)
		return NULL;
	grants[i]->used = now;
	return grants[i];
}

void
authd_grant_release(pid_t pid, uid_t uid, const uint8_t *token, uint64_t now)
{
	long i = grant_index(pid, uid, token, now);

	if (i >= 0)
		grant_drop((size_t)i);
}

void
authd_grant_free_all(void)
{
	while (ngrants > 0)
		grant_drop(0);
	free(grants);
	grants = NULL;
}
