/* SPDX-License-Identifier: ISC */
/*
 * smtp_cmd.c - SMTP command-line parsing and argument checks (RFC 5321).
 *
 * Pure code, no I/O: fed one command line without its CRLF, it returns the
 * verb and parses paths into fixed, protocol-bounded buffers.  Unit-tested
 * and fuzzed; runs in the smtp role as `user`.  Every address that passes
 * here is printable ASCII without spaces, so it is safe in queue files,
 * logs and header lines.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "strnum.h"
#include "smtpd.h"

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} smtp_verbs[] = {
	{ "HELO", CMD_HELO }, { "EHLO", CMD_EHLO }, { "MAIL", CMD_MAIL },
	{ "RCPT", CMD_RCPT }, { "DATA", CMD_DATA }, { "RSET", CMD_RSET },
	{ "NOOP", CMD_NOOP }, { "QUIT", CMD_QUIT }, { "VRFY", CMD_VRFY },
	{ "EXPN", CMD_EXPN }, { "HELP", CMD_HELP }, { "STARTTLS", CMD_STARTTLS },
	{ "AUTH", CMD_AUTH }, { "BDAT", CMD_BDAT },
};

/*
 * smtp_cmd_verb - the verb of `line` (len bytes, no CRLF, no NUL inside);
 * *args_r points after the verb and its separating spaces (a NUL-terminated
 * string, since the caller terminates the line).
 */
enum smtp_verb
smtp_cmd_verb(const char *line, size_t len, const char **args_r)
{
	size_t i, n;

	*args_r = line + len;
	for (n = 0; n < len && line[n] != ' '; n++)
		;
	for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++) {
		if (strlen(smtp_verbs[i].name) == n &&
		    strncasecmp(line, smtp_verbs[i].name, n) == 0) {
			while (n < len && line[n] == ' ')
				n++;
			*args_r = line + n;
			return smtp_verbs[i].verb;
		}
	}
	return CMD_UNKNOWN;
}

/* smtp_cmd_valid_domain - RFC 5321 Domain or address-literal */
bool
smtp_cmd_valid_domain(const char *d, size_t len)
{
	size_t i, lab = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	if (d[0] == '[') {		/* [1.2.3.4] or [IPv6:...] */
		if (len < 3 || d[len - 1] != ']')
			return false;
		for (i = 1; i < len - 1; i++)
			if (!isalnum((unsigned char)d[i]) && d[i] != '.' &&
			    d[i] != ':')
				return false;
		return true;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (lab == 0 || d[i - 1] == '-')
				return false;
			lab = 0;
		} else if (isalnum(c) || c == '-' || c == '_' || c >= 0x80) {
			if (c == '-' && lab == 0)
				return false;
			if (++lab > 63)
				return false;
		} else
			return false;
	}
	/* a label ends with a letter or digit (RFC 5321 4.1.2 sub-domain) */
	return (lab > 0 && d[len - 1] != '-') || (len > 1 && d[len - 1] == '.');
}

/* smtp_cmd_valid_helo - a domain, an address literal, or a bare word */
bool
smtp_cmd_valid_helo(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* smtp_local_ok - dot-string or a quoted string without spaces/controls */
static bool
smtp_local_ok(const char *s, size_t n)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	size_t i;

	if (n == 0 || n > SMTP_LOCAL_MAX)
		return false;
	if (s[0] == '"') {
		if (n < 3 || s[n - 1] != '"')
			return false;
		for (i = 1; i < n - 1; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c <= ' ' || c == 0x7f || c == '"' || c == '\\')
				return false;
		}
		return true;
	}
	if (s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!isalnum(c) && c < 0x80 && strchr(atext, c) == NULL)
			return false;
		else if (c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

/* smtp_cmd_params - MAIL/RCPT ESMTP parameters after the path */
static const char *
smtp_cmd_params(const char *s, bool mail, struct smtp_path *p)
{
	while (*s) {
		const char *end, *eq;
		size_t klen;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		end = strchr(s, ' ');
		if (end == NULL)
			end = s + strlen(s);
		eq = memchr(s, '=', (size_t)(end - s));
		klen = eq ? (size_t)(eq - s) : (size_t)(end - s);
		if (mail && klen == 4 && strncasecmp(s, "SIZE", 4) == 0 && eq) {
			char num[21];
			const char *err;
			size_t vlen = (size_t)(end - eq - 1);

			if (vlen == 0 || vlen >= sizeof(num))
				return "501 5.5.4 Bad SIZE parameter";
			memcpy(num, eq + 1, vlen);
			num[vlen] = '\0';
			p->size = (uint64_t)strnum(num, 0, INT64_MAX, &err);
			if (err)
				return "501 5.5.4 Bad SIZE parameter";
		} else if (mail && klen == 4 && strncasecmp(s, "BODY", 4) == 0 && eq) {
			size_t vlen = (size_t)(end - eq - 1);

			if (vlen == 8 && strncasecmp(eq + 1, "8BITMIME", 8) == 0)
				p->body8 = true;
			else if (!(vlen == 4 && strncasecmp(eq + 1, "7BIT", 4) == 0))
				return "501 5.5.4 Bad BODY parameter";
		} else if (mail && klen == 4 && strncasecmp(s, "ONCE", 4) == 0 && eq) {
			size_t vlen = (size_t)(end - eq - 1);

			if (p->once[0] || !once_key_ok(eq + 1, vlen))
				return "501 5.5.4 Bad ONCE parameter";
			memcpy(p->once, eq + 1, vlen);
			p->once[vlen] = '\0';
		} else if (mail && klen == 4 && strncasecmp(s, "AUTH", 4) == 0 && eq) {
			/* RFC 4954 5: accepted and ignored */
		} else
			return "555 5.5.4 Unsupported parameter";
		s = end;
	}
	return NULL;
}

const char *
smtp_cmd_path(const char *args, bool mail, struct smtp_path *p)
{
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw), n, at;
	const char *s, *close, *rest;

	memset(p, 0, sizeof(*p));
	if (strncasecmp(args, kw, kwlen) != 0)
		return mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" :
		    "501 5.5.4 Syntax: RCPT TO:<address>";
	s = args + kwlen;
	while (*s == ' ')
		s++;
	if (*s != '<') {
		/*
		 * "MAIL FROM:user@host" without the brackets, as scanners,
		 * cameras and UPS daemons send it: accepted like Postfix
		 * does by default (strict_rfc821_envelopes = no); the
		 * address is the word up to a space, checked as below
		 */
		n = strcspn(s, " ");
		if (n == 0 || memchr(s, '<', n) != NULL ||
		    memchr(s, '>', n) != NULL || s[0] == '@')
			return mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" :
			    "501 5.5.4 Syntax: RCPT TO:<address>";
		close = s + n;
	} else if ((close = strchr(s, '>')) == NULL)
		return mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" :
		    "501 5.5.4 Syntax: RCPT TO:<address>";
	else
		s++;
	if (*s == '@') {		/* RFC 5321 4.1.2: ignore a source route */
		const char *colon = memchr(s, ':', (size_t)(close - s));

		/* Path = "<" [ A-d-l ":" ] Mailbox ">": "<@a:>" is not <> */
		if (colon == NULL || colon + 1 == close)
			return "553 5.1.3 Bad source route";
		s = colon + 1;
	}
	rest = *close == '>' ? close + 1 : close;
	n = (size_t)(close - s);
	if (n > SMTP_PATH_MAX)
		return "553 5.1.3 Address too long";
	memcpy(p->addr, s, n);
	p->addr[n] = '\0';
	if (n == 0) {
		if (!mail)
			return "553 5.1.3 Null recipient not allowed";
	} else {
		const char *a = memrchr(p->addr, '@', n);

		if (a == NULL) {
			/* RFC 5321 4.5.1: <postmaster> without a domain */
			if (!mail && strcasecmp(p->addr, "postmaster") == 0) {
				p->at = 0;
				return smtp_cmd_params(rest, mail, p);
			}
			return "553 5.1.3 Address must be local@domain";
		}
		at = (size_t)(a - p->addr);
		if (!smtp_local_ok(p->addr, at) ||
		    !smtp_cmd_valid_domain(a + 1, n - at - 1))
			return "553 5.1.3 Bad address syntax";
		p->at = at;
	}
	return smtp_cmd_params(rest, mail, p);
}
