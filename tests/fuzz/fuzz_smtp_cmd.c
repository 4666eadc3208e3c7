/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_cmd.c - libFuzzer target for smtpd/smtp_cmd.c.
 *
 * The input is one command line as a client sends it: it is cut at the
 * first CR, LF or NUL (the session splits lines at CRLF and refuses NUL
 * before parsing), then given to smtp_cmd_verb(), to smtp_cmd_path() as
 * MAIL and as RCPT arguments (both the verb's arguments and the whole
 * line), to smtp_cmd_valid_domain() and smtp_cmd_valid_helo().
 * Checked on every accepted path: it fits SMTP_PATH_MAX, holds no space or
 * control byte (the queue file and header lines rely on it), has a valid
 * local@domain split (or is <> for MAIL, "postmaster" for RCPT), RCPT
 * carries no MAIL parameters, and "FROM:<addr>" / "TO:<addr>" parses back
 * to the same address.  Seeds: tests/fuzz/corpus/fuzz_smtp_cmd/.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "smtpd/smtpd.h"

/* printable - no byte a token splitter or a header line would trip on */
static bool
printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

static void
check_path(const char *args, bool mail)
{
	struct smtp_path p, q;
	char again[SMTP_PATH_MAX + 16];
	size_t n;

	if (smtp_cmd_path(args, mail, &p) != NULL)
		return;
	n = strlen(p.addr);
	if (n > SMTP_PATH_MAX || !printable(p.addr, n))
		__builtin_trap();
	if (!mail && (n == 0 || p.size != 0 || p.body8))
		__builtin_trap();
	if (n > 0 && p.at == 0) {
		/* only RCPT TO:<postmaster> has no domain (RFC 5321 4.5.1) */
		if (mail || strcasecmp(p.addr, "postmaster") != 0)
			__builtin_trap();
	} else if (n > 0) {
		if (p.at >= n || p.addr[p.at] != '@' || p.at > SMTP_LOCAL_MAX ||
		    !smtp_cmd_valid_domain(p.addr + p.at + 1, n - p.at - 1))
			__builtin_trap();
	}
	/* the parsed address is a path of its own */
	snprintf(again, sizeof(again), "%s<%s>", mail ? "FROM:" : "TO:", p.addr);
	if (smtp_cmd_path(again, mail, &q) != NULL ||
	    strcmp(q.addr, p.addr) != 0 || q.at != p.at)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *args;
	char *line;
	size_t len;
	enum smtp_verb v;

	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	len = strcspn(line, "\r\n");	/* also stops at a NUL */
	line[len] = '\0';

	v = smtp_cmd_verb(line, len, &args);
	if (args < line || args > line + len)
		__builtin_trap();
	if (v != CMD_UNKNOWN && args != line + len && args[-1] != ' ')
		__builtin_trap();
	check_path(args, true);
	check_path(args, false);
	check_path(line, true);
	check_path(line, false);
	if (smtp_cmd_valid_domain(line, len) && !printable(line, len))
		__builtin_trap();
	if (smtp_cmd_valid_helo(line) && (len > SMTP_DOMAIN_MAX ||
	    !printable(line, len)))
		__builtin_trap();
	free(line);
	return 0;
}
