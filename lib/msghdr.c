/* SPDX-License-Identifier: ISC */
/*
 * msghdr.c - Date and Message-ID fields for messages that lack them
 * (RFC 5322 3.3 and 3.6.4, RFC 6409 8).  Used by the smtp role for
 * authenticated submissions and by facteur-sendmail; the output has no
 * line end, the caller adds the one its storage uses.
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "msghdr.h"

void
msghdr_date(char *out, size_t outsz, time_t now)
{
	char date[64];
	struct tm tm;

	localtime_r(&now, &tm);
	/* %a and %b are English in the C locale, which the daemons keep */
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(out, outsz, "Date: %s", date);
}

void
msghdr_message_id(char *out, size_t outsz, time_t now, const char *host)
{
	uint32_t r = 0;

	(void)getrandom(&r, sizeof(r), 0);
	snprintf(out, outsz, "Message-ID: <%lld.%ld.%08x@%s>", (long long)now,
	    (long)getpid(), r, host);
}
