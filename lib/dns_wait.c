/* SPDX-License-Identifier: ISC */
/*
 * dns_wait.c - the blocking wait on a private c-ares channel (dns_wait.h).
 *
 * Runs in whatever process calls it (the fetch role, facteur-keytool); no
 * state of its own, no allocation; never fatal: a caller whose query did
 * not end sees *done still false and reports a temporary failure.
 */
#include <sys/select.h>

#include <errno.h>
#include <stddef.h>

#include "dns_wait.h"

void
dns_wait(ares_channel ch, const bool *done)
{
	struct timeval tv, *tvp;
	fd_set rd, wr;
	int nfds;

	while (!*done) {
		FD_ZERO(&rd);
		FD_ZERO(&wr);
		if ((nfds = ares_fds(ch, &rd, &wr)) == 0)
			break;
		tvp = ares_timeout(ch, NULL, &tv);
		if (select(nfds, &rd, &wr, NULL, tvp) == -1 && errno != EINTR)
			break;
		ares_process(ch, &rd, &wr);
	}
}
