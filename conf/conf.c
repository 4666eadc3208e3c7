/* SPDX-License-Identifier: ISC */
/*
 * conf.c - the configuration file parser of SPEC 3.
 *
 * Runs in every program at startup, as root or as the invoking user, before
 * any privilege is dropped and before anything is read from the network.
 * It only reads the configuration file: it never opens the files the
 * configuration names (secret files are checked by their users through
 * conf_secret_file_ok(), when they open them).
 *
 * Table-driven (STYLE 11): conf_keys[] lists every key with its section,
 * value type, whether it may repeat, its default (as text, parsed by the
 * same code as the file) and where it lands in struct conf.
 *
 * Error contract: every problem is reported as "FILE:LINE: expected ..."
 * (or "FILE: expected ..." when it is about the whole file), all of them
 * are collected, and conf_load() returns NULL if there was any.  Values in
 * messages are escaped and cut (log_escape), so a binary file cannot write
 * control characters to the terminal.  Out of memory is fatal (startup).
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "dnsbl.h"
#include "log.h"
#include "strnum.h"
#include "xmem.h"

#define CONF_MAX_ERRORS	50	/* printed; more are counted */
#define CONF_MAX_CHECKS	32	/* room for the cross-checks' messages */
#define CONF_GOT_MAX	80	/* bytes of an escaped value in a message */

enum conf_section {
	SEC_TOP,
	SEC_TLS,
	SEC_SMTP,
	SEC_RELAY,
	SEC_DKIM,
	SEC_IMAP,
	SEC_POP3,
	SEC_QUEUE,
	SEC_DNS,
	SEC_INBOUND,
	SEC_AUTHD,
	SEC_SENDMAIL,
	SEC_FETCH,
	SEC_MILTER,
	SEC_SCREEN,
	SEC_DOCTOR,
	SEC_GREYLIST,
	SEC_ACME,
	SEC_N,
	SEC_SKIP = SEC_N,	/* inside an unknown section: keys ignored */
};

static const char *const conf_section_names[SEC_N] = {
	"top", "tls", "smtp", "relay", "dkim", "imap", "pop3", "queue", "dns",
	"inbound",
	"authd", "sendmail", "fetch", "milter", "screen", "doctor", "greylist", "acme",
};

enum conf_type {
	T_STRING,	/* one printable token */
	T_HOST,		/* host name, lower-cased */
	T_RELAYHOST,	/* host name or IP address literal */
	T_DOMAINS,	/* one or more domain names, lower-cased */
	T_PATH,		/* absolute path */
	T_MAILDIR,	/* absolute path with %d, %u (required), %% */
	T_SIZE,		/* uint64_t bytes, K/M/G */
	T_DURATION,	/* unsigned seconds, s/m/h/d */
	T_UINT,		/* unsigned */
	T_PORT,		/* uint16_t, 1-65535 */
	T_BOOL,		/* yes | no */
	T_LOG,		/* syslog | stderr | /path: bool log_stderr, log_file */
	T_TLSMODE,	/* starttls | implicit | none */
	T_ADDR,		/* host:port into one struct conf_addr */
	T_ADDRS,	/* host:port appended to a struct conf_addrs */
	T_DKIM,		/* DOMAIN SELECTOR KEYFILE */
	T_FETCH,	/* URL LOCAL options (conf_fetch.c) */
	T_SPFFAIL,	/* mark | junk | reject */
	T_FOLDER,	/* a top-level Maildir++ folder name: Junk */
	T_SENDER,	/* LOGIN ADDRESS [ADDRESS...] */
	T_MILTER,	/* unix:/path or inet:IP:port, appended to a conf_list */
	T_MACTION,	/* accept | tempfail, into a bool "tempfail" */
	T_SITE,		/* a DNSBL site zone[=filter][*weight], to a conf_list */
	T_REJECT,	/* no | 450 | 550, into an unsigned (0: no) */
	T_NETS,		/* networks (lib/cidr.h) or none, into conf_nets */
};

struct conf_key {
	enum conf_section sec;
	const char	*name;
	enum conf_type	 type;
	bool		 repeat;
	const char	*def;	/* default as text, NULL: none or computed */
	size_t		 off;	/* offsetof(struct conf, ...) */
	uint64_t	 min, max;	/* numbers, sizes, durations */
};

#define OFF(field)	offsetof(struct conf, field)
#define KiB		1024ULL
#define MiB		(1024ULL * KiB)
#define GiB		(1024ULL * MiB)
#define DAY		86400ULL
#define CONF_TRUSTED_DEFAULT	"127.0.0.0/8 ::1"

static const struct conf_key conf_keys[] = {
	{ SEC_TOP, "hostname", T_HOST, false, NULL, OFF(hostname), 0, 0 },
	{ SEC_TOP, "domains", T_DOMAINS, false, NULL, 0, 0, 0 },
	{ SEC_TOP, "state_dir", T_PATH, false, "/var/lib/facteur",
	    OFF(state_dir), 0, 0 },
	{ SEC_TOP, "mail_dir", T_MAILDIR, false, "/var/mail/%d/%u",
	    OFF(mail_dir), 0, 0 },
	{ SEC_TOP, "run_dir", T_PATH, false, "/run/facteur", OFF(run_dir), 0, 0 },
	{ SEC_TOP, "user", T_STRING, false, "_facteur", OFF(user), 0, 0 },
	{ SEC_TOP, "postmaster", T_STRING, false, NULL, OFF(postmaster), 0, 0 },
	{ SEC_TOP, "single_account", T_BOOL, false, "no",
	    OFF(single_account), 0, 0 },
	{ SEC_TOP, "log", T_LOG, false, "syslog", OFF(log_stderr), 0, 0 },

	{ SEC_TLS, "cert", T_PATH, false, NULL, OFF(tls.cert), 0, 0 },
	{ SEC_TLS, "key", T_PATH, false, NULL, OFF(tls.key), 0, 0 },

	{ SEC_SMTP, "listen", T_ADDRS, true, NULL, OFF(smtp.listen), 0, 0 },
	{ SEC_SMTP, "submission", T_ADDRS, true, NULL, OFF(smtp.submission),
	    0, 0 },
	{ SEC_SMTP, "submissions", T_ADDRS, true, NULL, OFF(smtp.submissions),
	    0, 0 },
	{ SEC_SMTP, "max_size", T_SIZE, false, "35M", OFF(smtp.max_size),
	    1 * KiB, 2 * GiB },
	{ SEC_SMTP, "max_rcpt", T_UINT, false, "100", OFF(smtp.max_rcpt),
	    1, 100000 },
	{ SEC_SMTP, "max_clients", T_UINT, false, "64", OFF(smtp.max_clients),
	    1, 100000 },
	{ SEC_SMTP, "timeout", T_DURATION, false, "300s", OFF(smtp.timeout),
	    1, DAY },
	{ SEC_SMTP, "max_per_addr", T_UINT, false, "10",
	    OFF(smtp.max_per_addr), 1, 100000 },
	{ SEC_SMTP, "max_conn_rate", T_UINT, false, "0",
	    OFF(smtp.max_conn_rate), 0, 100000 },
	/* default set by conf_defaults(), only when no line gives it */
	{ SEC_SMTP, "trusted", T_NETS, true, NULL, OFF(smtp.trusted), 0, 0 },
	{ SEC_SMTP, "max_submission", T_UINT, false, "32",
	    OFF(smtp.max_submission), 1, 100000 },
	{ SEC_SMTP, "max_local", T_UINT, false, "16", OFF(smtp.max_local),
	    1, 100000 },
	{ SEC_SMTP, "tls_timeout", T_DURATION, false, "10s",
	    OFF(smtp.tls_timeout), 1, 3600 },
	{ SEC_SMTP, "login_timeout", T_DURATION, false, "60s",
	    OFF(smtp.login_timeout), 1, DAY },
	{ SEC_SMTP, "data_timeout", T_DURATION, false, "10m",
	    OFF(smtp.data_timeout), 1, DAY },
	{ SEC_SMTP, "backup_domains", T_DOMAINS, false, NULL, 0, 0, 0 },

	{ SEC_RELAY, "host", T_RELAYHOST, false, NULL, OFF(relay.host), 0, 0 },
	{ SEC_RELAY, "port", T_PORT, false, NULL, OFF(relay.port), 0, 0 },
	{ SEC_RELAY, "tls", T_TLSMODE, false, "starttls", OFF(relay.tls), 0, 0 },
	{ SEC_RELAY, "verify", T_BOOL, false, "yes", OFF(relay.verify), 0, 0 },
	{ SEC_RELAY, "ca_file", T_PATH, false,
	    "/etc/ssl/certs/ca-certificates.crt", OFF(relay.ca_file), 0, 0 },
	{ SEC_RELAY, "user", T_STRING, false, NULL, OFF(relay.user), 0, 0 },
	{ SEC_RELAY, "password_file", T_PATH, false, NULL,
	    OFF(relay.password_file), 0, 0 },

	{ SEC_DKIM, "sign", T_DKIM, true, NULL, 0, 0, 0 },

	{ SEC_IMAP, "listen", T_ADDRS, true, NULL, OFF(imap.listen), 0, 0 },
	{ SEC_IMAP, "listen_starttls", T_ADDRS, true, NULL,
	    OFF(imap.listen_starttls), 0, 0 },
	{ SEC_IMAP, "max_literal", T_SIZE, false, NULL, OFF(imap.max_literal),
	    1 * KiB, 2 * GiB },
	{ SEC_IMAP, "timeout", T_DURATION, false, "30m", OFF(imap.timeout),
	    1, DAY },
	{ SEC_IMAP, "max_per_addr", T_UINT, false, "50",
	    OFF(imap.max_per_addr), 1, 100000 },
	{ SEC_IMAP, "tls_timeout", T_DURATION, false, "10s",
	    OFF(imap.tls_timeout), 1, 3600 },
	{ SEC_IMAP, "login_timeout", T_DURATION, false, "60s",
	    OFF(imap.login_timeout), 1, DAY },

	{ SEC_POP3, "listen", T_ADDRS, true, NULL, OFF(pop3.listen), 0, 0 },
	{ SEC_POP3, "listen_starttls", T_ADDRS, true, NULL,
	    OFF(pop3.listen_starttls), 0, 0 },
	{ SEC_POP3, "timeout", T_DURATION, false, "10m", OFF(pop3.timeout),
	    1, DAY },

	{ SEC_QUEUE, "retry", T_DURATION, false, "5m", OFF(queue.retry),
	    1, DAY },
	{ SEC_QUEUE, "max_retry", T_DURATION, false, "4h", OFF(queue.max_retry),
	    1, 30 * DAY },
	{ SEC_QUEUE, "expire", T_DURATION, false, "5d", OFF(queue.expire),
	    60, 60 * DAY },

	{ SEC_DNS, "resolver", T_ADDR, false, NULL, OFF(dns.resolver), 0, 0 },

	{ SEC_FETCH, "account", T_FETCH, true, NULL, 0, 0, 0 },

	{ SEC_INBOUND, "spf", T_BOOL, false, "yes", OFF(inbound.spf), 0, 0 },
	{ SEC_INBOUND, "dkim", T_BOOL, false, "yes", OFF(inbound.dkim), 0, 0 },
	{ SEC_INBOUND, "dmarc", T_BOOL, false, "yes", OFF(inbound.dmarc), 0, 0 },
	{ SEC_INBOUND, "authserv_id", T_HOST, false, NULL,
	    OFF(inbound.authserv_id), 0, 0 },
	{ SEC_INBOUND, "spf_fail", T_SPFFAIL, false, "mark",
	    OFF(inbound.spf_fail), 0, 0 },
	{ SEC_INBOUND, "psl", T_PATH, false,
	    "/usr/share/publicsuffix/public_suffix_list.dat", OFF(inbound.psl),
	    0, 0 },
	{ SEC_INBOUND, "junk_folder", T_FOLDER, false, "Junk",
	    OFF(inbound.junk_folder), 0, 0 },
	{ SEC_INBOUND, "max_signatures", T_UINT, false, "5",
	    OFF(inbound.max_signatures), 1, 20 },
	{ SEC_INBOUND, "timeout", T_DURATION, false, "30s",
	    OFF(inbound.timeout), 1, 600 },
	{ SEC_AUTHD, "hashers", T_UINT, false, "2", OFF(authd.hashers), 1, 16 },
	{ SEC_AUTHD, "cache_size", T_UINT, false, "256", OFF(authd.cache_size),
	    0, 65536 },
	{ SEC_AUTHD, "cache_ttl", T_DURATION, false, "1h", OFF(authd.cache_ttl),
	    1, DAY },

	{ SEC_SENDMAIL, "sender", T_SENDER, true, NULL, 0, 0, 0 },

	{ SEC_MILTER, "socket", T_MILTER, true, NULL, OFF(milter.socket), 0, 0 },
	{ SEC_MILTER, "timeout", T_DURATION, false, "30s", OFF(milter.timeout),
	    1, 3600 },
	{ SEC_MILTER, "default_action", T_MACTION, false, "tempfail",
	    OFF(milter.tempfail), 0, 0 },

	{ SEC_SCREEN, "dnsbl", T_SITE, true, NULL, OFF(screen.dnsbl), 0, 0 },
	{ SEC_SCREEN, "dnswl", T_SITE, true, NULL, OFF(screen.dnswl), 0, 0 },
	{ SEC_SCREEN, "threshold", T_UINT, false, "1", OFF(screen.threshold),
	    1, 1000 },
	{ SEC_SCREEN, "pregreet", T_DURATION, false, NULL, OFF(screen.pregreet),
	    1, 60 },
	{ SEC_SCREEN, "dns_timeout", T_DURATION, false, "5s",
	    OFF(screen.dns_timeout), 1, 60 },
	{ SEC_SCREEN, "helo_own", T_BOOL, false, "no", OFF(screen.helo_own),
	    0, 0 },
	{ SEC_SCREEN, "helo_fqdn", T_BOOL, false, "no", OFF(screen.helo_fqdn),
	    0, 0 },
	{ SEC_SCREEN, "unknown_sender", T_REJECT, false, "no",
	    OFF(screen.unknown_sender), 0, 0 },

	{ SEC_DOCTOR, "myip", T_STRING, false,
	    "myip.opendns.com@208.67.222.222:53", OFF(doctor.myip), 0, 0 },
	{ SEC_DOCTOR, "myip6", T_STRING, false,
	    "myip.opendns.com@[2620:119:35::35]:53", OFF(doctor.myip6), 0, 0 },
	{ SEC_DOCTOR, "dnsbl", T_SITE, true, NULL, OFF(doctor.dnsbl), 0, 0 },
	{ SEC_DOCTOR, "probe", T_STRING, false,
	    "gmail-smtp-in.l.google.com:25", OFF(doctor.probe), 0, 0 },
	{ SEC_DOCTOR, "smtp", T_ADDR, false, NULL, OFF(doctor.smtp), 0, 0 },
	{ SEC_DOCTOR, "timeout", T_DURATION, false, "5s", OFF(doctor.timeout),
	    1, 120 },
	{ SEC_DOCTOR, "ca_file", T_PATH, false,
	    "/etc/ssl/certs/ca-certificates.crt", OFF(doctor.ca_file), 0, 0 },
	{ SEC_GREYLIST, "enable", T_BOOL, false, "no", OFF(greylist.enable),
	    0, 0 },
	{ SEC_GREYLIST, "delay", T_DURATION, false, "5m", OFF(greylist.delay),
	    1, DAY },
	{ SEC_GREYLIST, "retry_window", T_DURATION, false, "2d",
	    OFF(greylist.retry_window), 1, 30 * DAY },
	{ SEC_GREYLIST, "allow_time", T_DURATION, false, "35d",
	    OFF(greylist.allow_time), 1, 365 * DAY },
	{ SEC_GREYLIST, "allow_clients", T_BOOL, false, "yes",
	    OFF(greylist.allow_clients), 0, 0 },
	{ SEC_GREYLIST, "spf_skip", T_BOOL, false, "yes",
	    OFF(greylist.spf_skip), 0, 0 },
	{ SEC_ACME, "directory", T_STRING, false,
	    "https://acme-v02.api.letsencrypt.org/directory",
	    OFF(acme.directory), 0, 0 },
	{ SEC_ACME, "ca_file", T_PATH, false,
	    "/etc/ssl/certs/ca-certificates.crt", OFF(acme.ca_file), 0, 0 },
	{ SEC_ACME, "email", T_STRING, false, NULL, OFF(acme.email), 0, 0 },
	{ SEC_ACME, "account_key", T_PATH, false, NULL, OFF(acme.account_key),
	    0, 0 },
	{ SEC_ACME, "names", T_DOMAINS, false, NULL, 0, 0, 0 },
	{ SEC_ACME, "http", T_ADDR, false, "[::]:80", OFF(acme.http), 0, 0 },
	{ SEC_ACME, "webroot", T_PATH, false, NULL, OFF(acme.webroot), 0, 0 },
	{ SEC_ACME, "renew_before", T_DURATION, false, "30d",
	    OFF(acme.renew_before), 1, 3650 * DAY },
	{ SEC_ACME, "timeout", T_DURATION, false, "60s", OFF(acme.timeout),
	    1, 3600 },
};

#define NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

struct conf_parse {
	struct conf	*c;
	const char	*name;		/* file name for messages */
	FILE		*errs;
	unsigned	 nerr;		/* all errors, shown or not */
	struct conf_msg {
		unsigned	 line;	/* 0: about the file, sorts last */
		unsigned	 seq;
		char		*text;
	}		 msg[CONF_MAX_ERRORS + CONF_MAX_CHECKS];
	size_t		 nmsg;
	bool		 checking;	/* in conf_check(): past the last line */
	unsigned	 line;		/* current line, 1-based */
	enum conf_section sec;
	unsigned	 sec_line[SEC_N];	/* first header line, 0 = absent */
	unsigned	 key_line[NKEYS];	/* first line given, 0 = not */
	bool		 key_ok[NKEYS];		/* given with a valid value */
};

static void	conf_err(struct conf_parse *, unsigned, const char *, ...)
		    PRINTF_LIKE(3, 4);

/*
 * conf_err - keep one message for line `line` (0: about the whole file).
 * Messages are printed by conf_err_flush(), sorted by line: those of the
 * cross-checks come last but may name early lines.  Line errors arrive in
 * line order, so keeping the first CONF_MAX_ERRORS of them keeps the
 * lowest ones.
 */
static void
conf_err(struct conf_parse *p, unsigned line, const char *fmt, ...)
{
	size_t room = p->checking ? CONF_MAX_ERRORS + CONF_MAX_CHECKS :
	    CONF_MAX_ERRORS;
	va_list ap;
	char *text;

	p->nerr++;
	if (p->errs == NULL || p->nmsg >= room)
		return;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	p->msg[p->nmsg].line = line;
	p->msg[p->nmsg].seq = (unsigned)p->nmsg;
	p->msg[p->nmsg++].text = text;
}

static int
conf_msg_cmp(const void *a, const void *b)
{
	const struct conf_msg *x = a, *y = b;
	unsigned lx = x->line ? x->line : UINT_MAX;
	unsigned ly = y->line ? y->line : UINT_MAX;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* conf_err_flush - print "FILE:LINE: message" lines, at most CONF_MAX_ERRORS */
static void
conf_err_flush(struct conf_parse *p)
{
	size_t i;

	qsort(p->msg, p->nmsg, sizeof(p->msg[0]), conf_msg_cmp);
	for (i = 0; i < p->nmsg; i++) {
		if (i < CONF_MAX_ERRORS) {
			if (p->msg[i].line)
				fprintf(p->errs, "%s:%u: %s\n", p->name,
				    p->msg[i].line, p->msg[i].text);
			else
				fprintf(p->errs, "%s: %s\n", p->name,
				    p->msg[i].text);
		}
		free(p->msg[i].text);
	}
	if (p->nerr > CONF_MAX_ERRORS && p->errs != NULL)
		fprintf(p->errs, "%s: %u more errors not shown\n", p->name,
		    p->nerr - CONF_MAX_ERRORS);
}

/* conf_got - the escaped, cut form of a value for a message */
static const char *
conf_got(char *out, size_t outsz, const char *s)
{
	return log_escape(out, outsz, s, strlen(s));
}

/* conf_bad - "expected WHAT for KEY, got "VALUE"" on the current line */
static bool
conf_bad(struct conf_parse *p, const struct conf_key *k, const char *what,
    const char *val)
{
	char got[CONF_GOT_MAX];

	conf_err(p, p->line, "expected %s for %s, got \"%s\"", what, k->name,
	    conf_got(got, sizeof(got), val));
	return false;
}

static bool
conf_is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void
conf_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* conf_printable - no control bytes (tabs are separators, handled before) */
static bool
conf_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool
conf_has_space(const char *s)
{
	for (; *s; s++)
		if (conf_is_space(*s))
			return true;
	return false;
}

/*
 * conf_valid_hostname - RFC 1123 host name: labels of letters, digits and
 * inner hyphens, 1-63 bytes each, 253 in all, no trailing dot.
 */
static bool
conf_valid_hostname(const char *s)
{
	size_t n = strlen(s), lab = 0, i;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return false;
			lab = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-')
			return false;
		if (ch == '-' && lab == 0)
			return false;
		if (++lab > 63)
			return false;
	}
	return lab > 0 && s[n - 1] != '-';
}

/* conf_valid_ipv4 - dotted quad accepted by inet_pton */
static bool
conf_valid_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

static bool
conf_valid_ipv6(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

/* conf_all_numeric - digits and dots only: must then be an IPv4 address */
static bool
conf_all_numeric(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '.')
			return false;
	return true;
}

/* conf_all_digits - strnum() alone would take "+25" */
static bool
conf_all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* conf_valid_host - host name, IPv4 or IPv6 address (no brackets) */
static bool
conf_valid_host(const char *s, bool v6)
{
	if (v6 && strchr(s, ':') != NULL)
		return conf_valid_ipv6(s);
	if (conf_all_numeric(s))
		return conf_valid_ipv4(s);
	return conf_valid_hostname(s);
}

/*
 * conf_parse_addr - "1.2.3.4:25", "[::1]:993" or "host.name:587" into a.
 * IPv6 needs its brackets, or the port would be ambiguous.
 */
static bool
conf_parse_addr(const char *s, struct conf_addr *a)
{
	const char *colon, *hs, *he, *err;
	size_t hl;
	long long port;

	if (s[0] == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			return false;
		colon = he + 1;
	} else {
		hs = s;
		if ((colon = strchr(s, ':')) == NULL ||
		    strchr(colon + 1, ':') != NULL)
			return false;
		he = colon;
	}
	hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof(a->host))
		return false;
	memcpy(a->host, hs, hl);
	a->host[hl] = '\0';
	if (s[0] == '[' ? !conf_valid_ipv6(a->host) :
	    !conf_valid_host(a->host, false))
		return false;
	conf_lower(a->host);
	if (!conf_all_digits(colon + 1))
		return false;
	port = strnum(colon + 1, 1, 65535, &err);
	if (err != NULL)
		return false;
	a->port = (uint16_t)port;
	return true;
}

/* conf_valid_maildir - absolute, only %d %u %% escapes, %u present */
static bool
conf_valid_maildir(const char *s)
{
	bool has_u = false;

	if (s[0] != '/')
		return false;
	for (; *s; s++) {
		if (*s != '%')
			continue;
		s++;
		if (*s == 'u')
			has_u = true;
		else if (*s != 'd' && *s != '%')
			return false;
	}
	return has_u;
}

/*
 * conf_valid_folder - a top-level Maildir++ folder (the directory ".NAME"):
 * 1-64 letters, digits, '-' or '_', not INBOX (imapd's store_folder_path
 * takes every such name)
 */
static bool
conf_valid_folder(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64 || strcasecmp(s, "INBOX") == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/* conf_fmt_size - 2147483648 as "2G", 1024 as "1K" */
static const char *
conf_fmt_size(char *out, size_t outsz, uint64_t v)
{
	static const char units[] = "GMK";
	static const uint64_t mult[] = { GiB, MiB, KiB };
	size_t i;

	for (i = 0; i < 3; i++)
		if (v >= mult[i] && v % mult[i] == 0) {
			snprintf(out, outsz, "%llu%c",
			    (unsigned long long)(v / mult[i]), units[i]);
			return out;
		}
	snprintf(out, outsz, "%llu", (unsigned long long)v);
	return out;
}

/* conf_fmt_duration - 86400 as "1d", 90 as "90s" */
static const char *
conf_fmt_duration(char *out, size_t outsz, uint64_t v)
{
	static const char units[] = "dhm";
	static const uint64_t mult[] = { DAY, 3600, 60 };
	size_t i;

	for (i = 0; i < 3; i++)
		if (v >= mult[i] && v % mult[i] == 0) {
			snprintf(out, outsz, "%llu%c",
			    (unsigned long long)(v / mult[i]), units[i]);
			return out;
		}
	snprintf(out, outsz, "%llus", (unsigned long long)v);
	return out;
}

/* conf_set_domains - "example.org example.net", lower-cased, deduplicated,
 * into domains or [smtp] backup_domains */
static bool
conf_set_domains(struct conf_parse *p, const struct conf_key *k, char *val)
{
	struct conf *c = p->c;
	char *tok, *next, ***list = &c->domains;
	size_t i, *n = &c->ndomains;
	bool ok = true;

	if (k->sec == SEC_SMTP) {
		list = &c->smtp.backup_domains;
		n = &c->smtp.nbackup_domains;
	} else if (k->sec == SEC_ACME) {
		list = &c->acme.names;
		n = &c->acme.nnames;
	}
	for (tok = val; *tok; tok = next) {
		for (next = tok; *next && !conf_is_space(*next); next++)
			;
		if (*next)
			*next++ = '\0';
		while (conf_is_space(*next))
			next++;
		if (!conf_valid_hostname(tok)) {
			ok = conf_bad(p, k, "domain names like example.org", tok);
			continue;
		}
		conf_lower(tok);
		for (i = 0; i < *n; i++)
			if (strcmp((*list)[i], tok) == 0)
				break;
		if (i < *n)
			continue;
		*list = xreallocarray(*list, *n + 2, sizeof(**list));
		(*list)[(*n)++] = xstrdup(tok);
		(*list)[*n] = NULL;
	}
	return ok;
}

/*
 * conf_set_nets - "NETWORK [NETWORK...]" appended to a conf_nets (lines
 * add up), or "none" alone on the only line: the list stays empty.
 * Duplicates are dropped.
 */
static bool
conf_set_nets(struct conf_parse *p, const struct conf_key *k, char *val)
{
	struct conf_nets *l = (struct conf_nets *)((char *)p->c + k->off);
	struct cidr net;
	const char *err;
	char *tok, *next;
	size_t i;
	bool ok = true;

	for (tok = val; *tok; tok = next) {
		for (next = tok; *next && !conf_is_space(*next); next++)
			;
		if (*next)
			*next++ = '\0';
		while (conf_is_space(*next))
			next++;
		if (strcmp(tok, "none") == 0 || l->none) {
			if (tok != val || *next || l->n > 0 || l->none) {
				conf_err(p, p->line, "expected %s = none alone, "
				    "without networks on this or another %s line",
				    k->name, k->name);
				return false;
			}
			l->none = true;
			continue;
		}
		if ((err = cidr_parse(tok, &net)) == cidr_hostbits) {
			/* "192.168.1.0/24 or 192.168.1.5 (no address bits
			 * past /24)": what was meant, either way */
			char a[CIDR_TEXT_MAX], what[3 * CIDR_TEXT_MAX];

			if (!cidr_format(&net, a, sizeof(a)))
				a[0] = '\0';
			snprintf(what, sizeof(what), "%s or %.*s (no address bits "
			    "past /%u)", a, (int)strcspn(tok, "/"), tok,
			    net.prefix);
			ok = conf_bad(p, k, what, tok);
			continue;
		}
		if (err != NULL) {
			ok = conf_bad(p, k, err == cidr_what ? "networks like "
			    "192.168.1.0/24 or 2001:db8::/32, addresses, or none" :
			    err, tok);
			continue;
		}
		for (i = 0; i < l->n; i++)
			if (cidr_equal(&l->v[i], &net))
				break;
		if (i < l->n)
			continue;
		if (l->n == CONF_NETS_MAX) {
			conf_err(p, p->line, "expected at most %d networks for %s",
			    CONF_NETS_MAX, k->name);
			return false;
		}
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = net;
	}
	return ok;
}

/* conf_set_dkim - "DOMAIN SELECTOR KEYFILE" appended to dkim.sign */
static bool
conf_set_dkim(struct conf_parse *p, const struct conf_key *k, char *val)
{
	struct conf *c = p->c;
	struct conf_dkim_sign *s;
	char *f[3], *q = val, got[CONF_GOT_MAX], all[CONF_GOT_MAX];
	size_t n, i;

	conf_got(all, sizeof(all), val);	/* before it is cut in three */
	for (n = 0; *q && n < 3; n++) {
		f[n] = q;
		while (*q && !conf_is_space(*q))
			q++;
		if (*q)
			*q++ = '\0';
		while (conf_is_space(*q))
			q++;
	}
	if (n != 3 || *q) {
		conf_err(p, p->line, "expected \"DOMAIN SELECTOR KEYFILE\" "
		    "for sign, got \"%s\"", all);
		return false;
	}
	if (!conf_valid_hostname(f[0]))
		return conf_bad(p, k, "a domain name like example.org", f[0]);
	if (!conf_valid_hostname(f[1]) || strlen(f[1]) > 63)
		return conf_bad(p, k, "a DKIM selector like rsa2026", f[1]);
	if (f[2][0] != '/')
		return conf_bad(p, k, "an absolute key file path", f[2]);
	conf_lower(f[0]);
	conf_lower(f[1]);
	for (i = 0; i < c->dkim.nsign; i++)
		if (strcmp(c->dkim.sign[i].domain, f[0]) == 0 &&
		    strcmp(c->dkim.sign[i].selector, f[1]) == 0) {
			conf_err(p, p->line, "sign for %s selector %s given twice",
			    f[0], conf_got(got, sizeof(got), f[1]));
			return false;
		}
	c->dkim.sign = xreallocarray(c->dkim.sign, c->dkim.nsign + 1,
	    sizeof(*c->dkim.sign));
	s = &c->dkim.sign[c->dkim.nsign++];
	s->domain = xstrdup(f[0]);
	s->selector = xstrdup(f[1]);
	s->keyfile = xstrdup(f[2]);
	return true;
}

/* conf_valid_mailbox - local@domain: printable, one '@', both parts set */
static bool
conf_valid_mailbox(const char *s)
{
	const char *at = strchr(s, '@');

	if (at == NULL || at == s || at - s > 64 || strlen(s) > 254 ||
	    strchr(at + 1, '@') != NULL)
		return false;
	return conf_valid_hostname(at + 1);
}

/* conf_set_sender - "LOGIN ADDRESS [ADDRESS...]" appended to sendmail.sender */
static bool
conf_set_sender(struct conf_parse *p, const struct conf_key *k, char *val)
{
	struct conf *c = p->c;
	struct conf_sender *cs;
	char *f[CONF_SENDER_MAX + 1], *q = val, all[CONF_GOT_MAX];
	size_t n, i;

	conf_got(all, sizeof(all), val);
	for (n = 0; *q && n <= CONF_SENDER_MAX; n++) {
		f[n] = q;
		while (*q && !conf_is_space(*q))
			q++;
		if (*q)
			*q++ = '\0';
		while (conf_is_space(*q))
			q++;
	}
	if (n < 2 || n > CONF_SENDER_MAX || *q) {
		conf_err(p, p->line, "expected \"LOGIN ADDRESS [ADDRESS...]\" "
		    "(at most %d addresses) for sender, got \"%s\"",
		    CONF_SENDER_MAX - 1, all);
		return false;
	}
	if (strlen(f[0]) > 32 || strchr(f[0], '@') != NULL)
		return conf_bad(p, k, "a system account name like backup",
		    f[0]);
	for (i = 1; i < n; i++) {
		if (!conf_valid_mailbox(f[i]))
			return conf_bad(p, k, "an address like nas@example.org",
			    f[i]);
		conf_lower(strchr(f[i], '@'));
	}
	for (i = 0; i < c->sendmail.nsender; i++)
		if (strcmp(c->sendmail.sender[i].login, f[0]) == 0) {
			conf_err(p, p->line, "sender for %s given twice",
			    conf_got(all, sizeof(all), f[0]));
			return false;
		}
	c->sendmail.sender = xreallocarray(c->sendmail.sender,
	    c->sendmail.nsender + 1, sizeof(*c->sendmail.sender));
	cs = &c->sendmail.sender[c->sendmail.nsender++];
	cs->login = xstrdup(f[0]);
	cs->addrs = xcalloc(n, sizeof(*cs->addrs));
	for (i = 1; i < n; i++)
		cs->addrs[i - 1] = xstrdup(f[i]);
	cs->naddrs = n - 1;
	return true;
}

/* conf_set_fetch - one [fetch] account, appended */
static bool
conf_set_fetch(struct conf_parse *p, const struct conf_key *k, char *val)
{
	struct conf *c = p->c;
	struct conf_fetch f;
	const char *err;
	size_t i;

	if (!conf_fetch_parse(val, &f, &err))
		return conf_bad(p, k, err, val);
	for (i = 0; i < c->fetch.n; i++)
		if (strcmp(c->fetch.v[i].state, f.state) == 0) {
			conf_err(p, p->line, "account %s given twice", f.name);
			conf_fetch_clear(&f);
			return false;
		}
	f.line = p->line;
	c->fetch.v = xreallocarray(c->fetch.v, c->fetch.n + 1,
	    sizeof(*c->fetch.v));
	c->fetch.v[c->fetch.n++] = f;
	return true;
}

/* conf_set_number - T_SIZE, T_DURATION, T_UINT, T_PORT */
static bool
conf_set_number(struct conf_parse *p, const struct conf_key *k,
    const char *val, void *dst)
{
	char what[96], lo[32], hi[32];
	const char *err;
	uint64_t v;

	switch (k->type) {
	case T_SIZE:
		v = strnum_size(val, k->max, &err);
		if (err != NULL && strcmp(err, "invalid") == 0)
			return conf_bad(p, k, "a size like 35M", val);
		if (err != NULL || v < k->min) {
			snprintf(what, sizeof(what), "a size from %s to %s",
			    conf_fmt_size(lo, sizeof(lo), k->min),
			    conf_fmt_size(hi, sizeof(hi), k->max));
			return conf_bad(p, k, what, val);
		}
		*(uint64_t *)dst = v;
		return true;
	case T_DURATION:
		v = strnum_duration(val, k->max, &err);
		if (err != NULL && strcmp(err, "invalid") == 0)
			return conf_bad(p, k, "a duration like 5m", val);
		if (err != NULL || v < k->min) {
			snprintf(what, sizeof(what), "a duration from %s to %s",
			    conf_fmt_duration(lo, sizeof(lo), k->min),
			    conf_fmt_duration(hi, sizeof(hi), k->max));
			return conf_bad(p, k, what, val);
		}
		*(unsigned *)dst = (unsigned)v;
		return true;
	case T_UINT:
		v = (uint64_t)strnum(val, (long long)k->min, (long long)k->max,
		    &err);
		if (err != NULL || !conf_all_digits(val)) {
			snprintf(what, sizeof(what), "a number from %llu to %llu",
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return conf_bad(p, k, what, val);
		}
		*(unsigned *)dst = (unsigned)v;
		return true;
	default:	/* T_PORT */
		v = (uint64_t)strnum(val, 1, 65535, &err);
		if (err != NULL || !conf_all_digits(val))
			return conf_bad(p, k, "a port number from 1 to 65535",
			    val);
		*(uint16_t *)dst = (uint16_t)v;
		return true;
	}
}

static void
conf_list_add(struct conf_list *l, const char *val)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(val);
}

static void
conf_list_free(struct conf_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* conf_valid_milter - "unix:/path" or "inet:IP:port" ([v6]:port) */
static bool
conf_valid_milter(const char *val)
{
	struct conf_addr a;
	unsigned char ip[16];

	if (strncmp(val, "unix:/", 6) == 0)
		return strlen(val) - 5 < 100;	/* sun_path */
	if (strncmp(val, "inet:", 5) != 0 || !conf_parse_addr(val + 5, &a))
		return false;
	return inet_pton(AF_INET, a.host, ip) == 1 ||
	    inet_pton(AF_INET6, a.host, ip) == 1;
}

/*
 * conf_milter_at - Sendmail's "inet:PORT@IP" (how spamass-milter and
 * clamav-milter write their own socket, so users paste it) as
 * "inet:IP:PORT" in out; false when val is not of that form
 */
static bool
conf_milter_at(const char *val, char *out, size_t outsz)
{
	const char *at = strchr(val, '@');
	unsigned char ip[16];
	char port[8];
	size_t n;

	if (strncmp(val, "inet:", 5) != 0 || at == NULL ||
	    (n = (size_t)(at - val - 5)) == 0 || n >= sizeof(port))
		return false;
	memcpy(port, val + 5, n);
	port[n] = '\0';
	if (!conf_all_digits(port))
		return false;
	if (inet_pton(AF_INET, at + 1, ip) == 1)
		return bsnprintf(out, outsz, "inet:%s:%s", at + 1, port);
	if (inet_pton(AF_INET6, at + 1, ip) == 1)
		return bsnprintf(out, outsz, "inet:[%s]:%s", at + 1, port);
	return false;
}

/* conf_set_word - the single-token types */
static bool
conf_set_word(struct conf_parse *p, const struct conf_key *k, const char *val,
    void *dst)
{
	struct dnsbl_site site;
	struct conf_addrs *as;
	const char *err;

	switch (k->type) {
	case T_STRING:
		break;
	case T_HOST:
		if (!conf_valid_hostname(val))
			return conf_bad(p, k, "a host name like mail.example.org",
			    val);
		break;
	case T_RELAYHOST:
		if (!conf_valid_host(val, true))
			return conf_bad(p, k,
			    "a host name like smtp.example.net or an IP address",
			    val);
		break;
	case T_PATH:
		if (val[0] != '/')
			return conf_bad(p, k, "an absolute path", val);
		break;
	case T_MAILDIR:
		if (!conf_valid_maildir(val))
			return conf_bad(p, k, "an absolute path with %u "
			    "(and %d, %%) like /var/mail/%d/%u", val);
		break;
	case T_BOOL:
		if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
			return conf_bad(p, k, "yes or no", val);
		*(bool *)dst = strcmp(val, "yes") == 0;
		return true;
	case T_LOG:
		/* a file: lines as on stderr, appended (lib/log.c) */
		free(p->c->log_file);
		p->c->log_file = NULL;
		if (val[0] == '/')
			p->c->log_file = xstrdup(val);
		else if (strcmp(val, "syslog") != 0 && strcmp(val, "stderr") != 0)
			return conf_bad(p, k, "syslog, stderr or an absolute "
			    "path", val);
		*(bool *)dst = strcmp(val, "syslog") != 0;
		return true;
	case T_SPFFAIL:
		if (strcmp(val, "mark") == 0)
			*(enum conf_spf_fail *)dst = CONF_SPF_FAIL_MARK;
		else if (strcmp(val, "junk") == 0)
			*(enum conf_spf_fail *)dst = CONF_SPF_FAIL_JUNK;
		else if (strcmp(val, "reject") == 0)
			*(enum conf_spf_fail *)dst = CONF_SPF_FAIL_REJECT;
		else
			return conf_bad(p, k, "mark, junk or reject", val);
		return true;
	case T_FOLDER:
		if (!conf_valid_folder(val))
			return conf_bad(p, k, "a folder name like Junk", val);
		break;
	case T_TLSMODE:
		if (strcmp(val, "starttls") == 0)
			*(enum conf_tls_mode *)dst = CONF_TLS_STARTTLS;
		else if (strcmp(val, "implicit") == 0)
			*(enum conf_tls_mode *)dst = CONF_TLS_IMPLICIT;
		else if (strcmp(val, "none") == 0)
			*(enum conf_tls_mode *)dst = CONF_TLS_NONE;
		else
			return conf_bad(p, k, "starttls, implicit or none", val);
		return true;
	case T_ADDR:
		if (!conf_parse_addr(val, dst))
			return conf_bad(p, k,
			    "an address like 127.0.0.1:53 or [::1]:53", val);
		return true;
	case T_MILTER: {
		char conv[128];
		const char *v = conf_milter_at(val, conv, sizeof(conv)) ?
		    conv : val;

		if (!conf_valid_milter(v))
			return conf_bad(p, k, "unix:/path or inet:IP:port like "
			    "inet:127.0.0.1:11332", val);
		conf_list_add(dst, v);
		return true;
	}
	case T_SITE:
		if ((err = dnsbl_site_parse(val, strlen(val), &site)) != NULL)
			return conf_bad(p, k, err, val);
		conf_list_add(dst, val);
		return true;
	case T_REJECT:
		if (strcmp(val, "no") == 0)
			*(unsigned *)dst = 0;
		else if (strcmp(val, "450") == 0 || strcmp(val, "550") == 0)
			*(unsigned *)dst = strcmp(val, "450") == 0 ? 450 : 550;
		else
			return conf_bad(p, k, "no, 450 or 550", val);
		return true;
	case T_MACTION:
		if (strcmp(val, "accept") != 0 && strcmp(val, "tempfail") != 0)
			return conf_bad(p, k, "accept or tempfail", val);
		*(bool *)dst = strcmp(val, "tempfail") == 0;
		return true;
	case T_ADDRS:
		as = dst;
		as->v = xreallocarray(as->v, as->n + 1, sizeof(*as->v));
		if (!conf_parse_addr(val, &as->v[as->n]))
			return conf_bad(p, k,
			    "an address like 0.0.0.0:25 or [::]:25", val);
		as->n++;
		return true;
	default:
		return conf_set_number(p, k, val, dst);
	}
	*(char **)dst = xstrdup(val);
	if (k->type == T_HOST || k->type == T_RELAYHOST)
		conf_lower(*(char **)dst);
	return true;
}

/* conf_set - check `val` (trimmed, non-empty, modifiable) for k and store it */
static bool
conf_set(struct conf_parse *p, const struct conf_key *k, char *val)
{
	char got[CONF_GOT_MAX];

	if (!conf_printable(val)) {
		conf_err(p, p->line, "expected printable text for %s, got \"%s\"",
		    k->name, conf_got(got, sizeof(got), val));
		return false;
	}
	if (k->type == T_DOMAINS)
		return conf_set_domains(p, k, val);
	if (k->type == T_DKIM)
		return conf_set_dkim(p, k, val);
	if (k->type == T_SENDER)
		return conf_set_sender(p, k, val);
	if (k->type == T_FETCH)
		return conf_set_fetch(p, k, val);
	if (k->type == T_NETS)
		return conf_set_nets(p, k, val);
	if (conf_has_space(val))
		return conf_bad(p, k, "one value", val);
	return conf_set_word(p, k, val, (char *)p->c + k->off);
}

static const struct conf_key *
conf_key_find(enum conf_section sec, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].sec == sec && strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

/* conf_section_desc - "the top section" or "[smtp]" for messages */
static const char *
conf_section_desc(char *out, size_t outsz, enum conf_section sec)
{
	if (sec == SEC_TOP)
		snprintf(out, outsz, "the top section");
	else
		snprintf(out, outsz, "[%s]", conf_section_names[sec]);
	return out;
}

/* conf_unknown_key - say where the key belongs if it exists elsewhere */
static void
conf_unknown_key(struct conf_parse *p, const char *key)
{
	enum conf_section other;
	char here[32], there[32];

	for (other = SEC_TOP; other < SEC_N; other++)
		if (conf_key_find(other, key) != NULL)
			break;
	conf_section_desc(here, sizeof(here), p->sec);
	if (other == SEC_N)
		conf_err(p, p->line, "unknown key \"%s\" in %s", key, here);
	else if (other == SEC_TOP)
		conf_err(p, p->line, "unknown key \"%s\" in %s, expected it "
		    "before the first [section]", key, here);
	else
		conf_err(p, p->line, "unknown key \"%s\" in %s, expected it "
		    "in %s", key, here,
		    conf_section_desc(there, sizeof(there), other));
}

/* conf_key_value - "key = value" in the current section */
static void
conf_key_value(struct conf_parse *p, char *s)
{
	const struct conf_key *k;
	char *eq, *key, *val, *e, got[CONF_GOT_MAX];
	size_t i, idx;

	if ((eq = strchr(s, '=')) == NULL) {
		conf_err(p, p->line, "expected \"key = value\", got \"%s\"",
		    conf_got(got, sizeof(got), s));
		return;
	}
	*eq = '\0';
	key = s;
	for (e = eq; e > key && conf_is_space(e[-1]); e--)
		;
	*e = '\0';
	for (val = eq + 1; conf_is_space(*val); val++)
		;
	if (*key == '\0') {
		conf_err(p, p->line, "expected a key before \"=\"");
		return;
	}
	for (i = 0; key[i]; i++)
		if (!islower((unsigned char)key[i]) && key[i] != '_' &&
		    !isdigit((unsigned char)key[i])) {
			conf_err(p, p->line, "expected one lower-case key "
			    "like max_size before \"=\", got \"%s\"",
			    conf_got(got, sizeof(got), key));
			return;
		}
	if (p->sec == SEC_SKIP)
		return;
	if ((k = conf_key_find(p->sec, key)) == NULL) {
		conf_unknown_key(p, key);
		return;
	}
	idx = (size_t)(k - conf_keys);
	if (p->key_line[idx] && !k->repeat) {
		conf_err(p, p->line, "%s given twice (first on line %u)",
		    k->name, p->key_line[idx]);
		return;
	}
	if (p->key_line[idx] == 0)
		p->key_line[idx] = p->line;
	if (*val == '\0') {
		conf_err(p, p->line, "expected a value for %s", k->name);
		return;
	}
	p->key_ok[idx] = conf_set(p, k, val);
}

/* conf_header - "[section]" */
static void
conf_header(struct conf_parse *p, char *s)
{
	char *close, *name, *e, got[CONF_GOT_MAX];
	enum conf_section sec;

	p->sec = SEC_SKIP;
	if ((close = strchr(s, ']')) == NULL) {
		conf_err(p, p->line, "expected \"]\" to close the section "
		    "header, got \"%s\"", conf_got(got, sizeof(got), s));
		return;
	}
	*close = '\0';
	for (name = s + 1; conf_is_space(*name); name++)
		;
	for (e = close; e > name && conf_is_space(e[-1]); e--)
		;
	*e = '\0';
	for (sec = SEC_TLS; sec < SEC_N; sec++)
		if (strcmp(name, conf_section_names[sec]) == 0)
			break;
	if (sec == SEC_N) {
		conf_err(p, p->line, "unknown section [%s], expected one of "
		    "[tls] [smtp] [relay] [dkim] [imap] [pop3] [queue] [dns] "
		    "[inbound] [authd] [sendmail] [fetch] [milter] [screen] [doctor] "
		    "[greylist] [acme]",
		    conf_got(got, sizeof(got), name));
		return;
	}
	for (close++; conf_is_space(*close); close++)
		;
	if (*close != '\0') {
		conf_err(p, p->line, "expected nothing after [%s], got \"%s\"",
		    name, conf_got(got, sizeof(got), close));
		return;
	}
	p->sec = sec;
	if (p->sec_line[sec] == 0)
		p->sec_line[sec] = p->line;
}

/* conf_line - one line of n bytes (no newline); may hold anything */
static void
conf_line(struct conf_parse *p, const char *data, size_t n)
{
	char s[CONF_LINE_MAX + 1], *b, *e;
	size_t i;

	if (n > 0 && data[n - 1] == '\r')	/* written on Windows */
		n--;
	if (n > CONF_LINE_MAX) {
		conf_err(p, p->line, "expected a line of at most %d bytes, "
		    "got %zu", CONF_LINE_MAX, n);
		return;
	}
	if (memchr(data, '\0', n) != NULL) {
		conf_err(p, p->line, "expected text, got a NUL byte");
		return;
	}
	memcpy(s, data, n);
	s[n] = '\0';
	for (i = 0; i < n; i++)		/* '#' at the start or after a blank */
		if (s[i] == '#' && (i == 0 || conf_is_space(s[i - 1]))) {
			s[i] = '\0';
			break;
		}
	for (b = s; conf_is_space(*b); b++)
		;
	for (e = b + strlen(b); e > b && conf_is_space(e[-1]); e--)
		;
	*e = '\0';
	if (*b == '\0')
		return;
	conf_text_add(p->c, b);
	if (*b == '[')
		conf_header(p, b);
	else
		conf_key_value(p, b);
}

/*
 * conf_defaults - every key not given gets its default; so does a key given
 * with a bad value, so that the cross-checks do not pile up errors about it.
 */
static void
conf_defaults(struct conf_parse *p)
{
	struct conf *c = p->c;
	const struct conf_key *k;
	char tmp[256];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (p->key_ok[i] || conf_keys[i].def == NULL)
			continue;
		if (!bstrcpy(tmp, conf_keys[i].def, sizeof(tmp)) ||
		    !conf_set(p, &conf_keys[i], tmp))
			log_panic("conf: bad default for %s", conf_keys[i].name);
	}
	k = conf_key_find(SEC_SMTP, "trusted");
	if (p->key_line[k - conf_keys] == 0) {	/* not given at all */
		if (!bstrcpy(tmp, CONF_TRUSTED_DEFAULT, sizeof(tmp)) ||
		    !conf_set_nets(p, k, tmp))
			log_panic("conf: bad default for trusted");
	}
	if (c->hostname == NULL) {
		if (gethostname(tmp, sizeof(tmp)) == -1 || tmp[0] == '\0')
			bstrcpy(tmp, "localhost", sizeof(tmp));
		tmp[sizeof(tmp) - 1] = '\0';
		c->hostname = xstrdup(tmp);
		conf_lower(c->hostname);
	}
	if (c->relay.port == 0)
		c->relay.port = c->relay.tls == CONF_TLS_IMPLICIT ? 465 : 587;
	if (c->imap.max_literal == 0)
		c->imap.max_literal = c->smtp.max_size;
	if (c->inbound.authserv_id == NULL)
		c->inbound.authserv_id = xstrdup(c->hostname);
}

static unsigned
conf_key_line(const struct conf_parse *p, enum conf_section sec,
    const char *name)
{
	const struct conf_key *k = conf_key_find(sec, name);

	return k ? p->key_line[k - conf_keys] : 0;
}

/* conf_check_tls - listeners that need a certificate, and [tls] itself */
static void
conf_check_tls(struct conf_parse *p)
{
	static const struct {
		enum conf_section sec;
		const char	*name;
	} need[] = {
		{ SEC_SMTP, "submission" },
		{ SEC_SMTP, "submissions" },
		{ SEC_IMAP, "listen" },
		{ SEC_IMAP, "listen_starttls" },
		{ SEC_POP3, "listen" },
		{ SEC_POP3, "listen_starttls" },
	};
	unsigned line;
	size_t i;

	bool cert = conf_key_line(p, SEC_TLS, "cert") != 0;
	bool key = conf_key_line(p, SEC_TLS, "key") != 0;

	if (p->sec_line[SEC_TLS] && cert != key)
		conf_err(p, p->sec_line[SEC_TLS],
		    "expected both cert and key in [tls]");
	if (cert && key)
		return;
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if ((line = conf_key_line(p, need[i].sec, need[i].name)) != 0)
			conf_err(p, line, "expected a [tls] section with cert "
			    "and key for [%s] %s", conf_section_names[need[i].sec],
			    need[i].name);
}

/* conf_check_postmaster - postmaster names a mailbox of a local domain */
static void
conf_check_postmaster(struct conf_parse *p)
{
	const char *pm = p->c->postmaster, *at;

	if (pm == NULL)
		return;
	at = strrchr(pm, '@');
	if (at == NULL || at == pm ||
	    !conf_is_local_domain(p->c, at + 1, strlen(at + 1)))
		conf_err(p, conf_key_line(p, SEC_TOP, "postmaster"),
		    "expected postmaster = an address of one of the domains, "
		    "got \"%s\"", pm);
}

/*
 * conf_check_doctor - [doctor] myip is NAME@HOST:PORT and probe HOST:PORT,
 * each or "no" (the check is skipped)
 */
static void
conf_check_doctor(struct conf_parse *p)
{
	struct conf *c = p->c;
	struct conf_addr a;
	const char *at;
	char got[CONF_GOT_MAX];

	c->doctor.smtp_set = conf_key_line(p, SEC_DOCTOR, "smtp") != 0;
	c->doctor.given = p->sec_line[SEC_DOCTOR] != 0;
	if (c->doctor.myip != NULL && strcmp(c->doctor.myip, "no") != 0 &&
	    ((at = strchr(c->doctor.myip, '@')) == NULL || at == c->doctor.myip ||
	    !conf_parse_addr(at + 1, &a)))
		conf_err(p, conf_key_line(p, SEC_DOCTOR, "myip"), "expected "
		    "myip = NAME@ADDRESS:PORT like myip.opendns.com@"
		    "208.67.222.222:53, or no, got \"%s\"",
		    conf_got(got, sizeof(got), c->doctor.myip));
	if (c->doctor.myip6 != NULL && strcmp(c->doctor.myip6, "no") != 0 &&
	    ((at = strchr(c->doctor.myip6, '@')) == NULL ||
	    at == c->doctor.myip6 || !conf_parse_addr(at + 1, &a)))
		conf_err(p, conf_key_line(p, SEC_DOCTOR, "myip6"), "expected "
		    "myip6 = NAME@ADDRESS:PORT like myip.opendns.com@"
		    "[2620:119:35::35]:53, or no, got \"%s\"",
		    conf_got(got, sizeof(got), c->doctor.myip6));
	if (c->doctor.probe != NULL && strcmp(c->doctor.probe, "no") != 0 &&
	    !conf_parse_addr(c->doctor.probe, &a))
		conf_err(p, conf_key_line(p, SEC_DOCTOR, "probe"), "expected "
		    "probe = HOST:PORT like gmail-smtp-in.l.google.com:25, or "
		    "no, got \"%s\"", conf_got(got, sizeof(got),
		    c->doctor.probe));
}

/* conf_check_relay - a smarthost needs a host; a login needs a secret */
static void
conf_check_relay(struct conf_parse *p)
{
	struct conf *c = p->c;
	unsigned uline = conf_key_line(p, SEC_RELAY, "user");
	unsigned pline = conf_key_line(p, SEC_RELAY, "password_file");

	c->relay.enabled = p->sec_line[SEC_RELAY] != 0;
	c->relay.password_file_line = pline;
	if (c->relay.enabled && conf_key_line(p, SEC_RELAY, "host") == 0)
		conf_err(p, p->sec_line[SEC_RELAY],
		    "expected a \"host\" line in [relay]");
	if (uline && !pline)
		conf_err(p, uline, "expected a \"password_file\" line in "
		    "[relay] with user");
	if (pline && !uline)
		conf_err(p, pline, "expected a \"user\" line in [relay] with "
		    "password_file");
	/* SPEC 6: no password in clear on the network */
	if (uline && c->relay.tls == CONF_TLS_NONE)
		conf_err(p, conf_key_line(p, SEC_RELAY, "tls"), "expected tls "
		    "= starttls or implicit in [relay] when a user logs in");
}

/* conf_check_backup - a domain is ours or backed up, not both */
static void
conf_check_backup(struct conf_parse *p)
{
	struct conf *c = p->c;
	size_t i;

	for (i = 0; i < c->smtp.nbackup_domains; i++)
		if (conf_is_local_domain(c, c->smtp.backup_domains[i],
		    strlen(c->smtp.backup_domains[i])))
			conf_err(p, conf_key_line(p, SEC_SMTP, "backup_domains"),
			    "expected backup_domains other than the local "
			    "domains, got \"%s\"", c->smtp.backup_domains[i]);
}

/* conf_check - the rules that tie keys together */
static void
conf_check(struct conf_parse *p)
{
	struct conf *c = p->c;
	char a[32], b[32];

	if (c->ndomains == 0 && conf_key_line(p, SEC_TOP, "domains") == 0)
		conf_err(p, 0, "expected a \"domains\" line");
	conf_check_tls(p);
	conf_check_relay(p);
	conf_check_backup(p);
	c->pop3.enabled = p->sec_line[SEC_POP3] != 0;
	c->acme.enabled = p->sec_line[SEC_ACME] != 0;
	c->acme.webroot_line = conf_key_line(p, SEC_ACME, "webroot");
	conf_check_postmaster(p);
	conf_check_doctor(p);
	c->dns.resolver_set = conf_key_line(p, SEC_DNS, "resolver") != 0;
	if (c->greylist.delay >= c->greylist.retry_window)
		conf_err(p, conf_key_line(p, SEC_GREYLIST, "delay") ?
		    conf_key_line(p, SEC_GREYLIST, "delay") :
		    conf_key_line(p, SEC_GREYLIST, "retry_window"),
		    "expected delay (%s) to be shorter than retry_window (%s)",
		    conf_fmt_duration(a, sizeof(a), c->greylist.delay),
		    conf_fmt_duration(b, sizeof(b), c->greylist.retry_window));
	if (c->queue.retry > c->queue.max_retry)
		conf_err(p, conf_key_line(p, SEC_QUEUE, "retry") ?
		    conf_key_line(p, SEC_QUEUE, "retry") :
		    conf_key_line(p, SEC_QUEUE, "max_retry"),
		    "expected retry (%s) to be at most max_retry (%s)",
		    conf_fmt_duration(a, sizeof(a), c->queue.retry),
		    conf_fmt_duration(b, sizeof(b), c->queue.max_retry));
	if (c->queue.max_retry > c->queue.expire)
		conf_err(p, conf_key_line(p, SEC_QUEUE, "max_retry") ?
		    conf_key_line(p, SEC_QUEUE, "max_retry") :
		    conf_key_line(p, SEC_QUEUE, "expire"),
		    "expected max_retry (%s) to be at most expire (%s)",
		    conf_fmt_duration(a, sizeof(a), c->queue.max_retry),
		    conf_fmt_duration(b, sizeof(b), c->queue.expire));
}

struct conf *
conf_load_mem(const char *name, const char *data, size_t len, FILE *errs)
{
	struct conf_parse p;
	const char *q = data, *end = data + len, *nl;

	if (len >= strlen(CONF_PLACEHOLDER) &&
	    memcmp(data, CONF_PLACEHOLDER, strlen(CONF_PLACEHOLDER)) == 0) {
		if (errs)
			fprintf(errs, "%s:1: expected a configuration: facteur is "
			    "not set up yet; run \"facteur-keytool -c %s setup "
			    "DOMAIN\" (README, \"First run\")\n", name, name);
		return NULL;
	}
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.errs = errs;
	p.sec = SEC_TOP;
	p.c = xcalloc(1, sizeof(*p.c));
	p.c->file = xstrdup(name);
	while (q < end) {
		p.line++;
		nl = memchr(q, '\n', (size_t)(end - q));
		conf_line(&p, q, (size_t)((nl ? nl : end) - q));
		q = nl ? nl + 1 : end;
	}
	conf_defaults(&p);
	p.checking = true;
	conf_check(&p);
	conf_err_flush(&p);
	if (p.nerr) {
		conf_free(&p.c);
		return NULL;
	}
	return p.c;
}

struct conf *
conf_load(const char *path, FILE *errs)
{
	struct conf *c = NULL;
	struct buf b;
	ssize_t n;
	int fd;

	buf_init(&b, CONF_FILE_MAX);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errs)
			fprintf(errs, "%s: expected a readable file: %s\n",
			    path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (buf_reserve(&b, 4096) == -1) {
			if (errs)
				fprintf(errs, "%s: expected a file of at most "
				    "%d bytes\n", path, CONF_FILE_MAX);
			goto done;
		}
		n = read(fd, buf_tail(&b), 4096);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			if (errs)
				fprintf(errs, "%s: expected a readable file: "
				    "%s\n", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		buf_commit(&b, (size_t)n);
	}
	c = conf_load_mem(path, buf_head(&b) ? buf_head(&b) : "", b.len, errs);
done:
	close(fd);
	buf_free(&b);
	return c;
}

struct conf *
conf_load_or_die(const char *path)
{
	struct conf *c;

	if ((c = conf_load(path, stderr)) == NULL)
		exit(1);
	return c;
}

void
conf_free(struct conf **confp)
{
	struct conf *c = *confp;
	size_t i, j;

	if (c == NULL)
		return;
	*confp = NULL;
	for (i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	for (i = 0; i < c->smtp.nbackup_domains; i++)
		free(c->smtp.backup_domains[i]);
	free(c->smtp.backup_domains);
	for (i = 0; i < c->acme.nnames; i++)
		free(c->acme.names[i]);
	free(c->acme.names);
	free(c->acme.directory);
	free(c->acme.ca_file);
	free(c->acme.email);
	free(c->acme.account_key);
	free(c->acme.webroot);
	for (i = 0; i < c->fetch.n; i++)
		conf_fetch_clear(&c->fetch.v[i]);
	free(c->fetch.v);
	for (i = 0; i < c->dkim.nsign; i++) {
		free(c->dkim.sign[i].domain);
		free(c->dkim.sign[i].selector);
		free(c->dkim.sign[i].keyfile);
	}
	free(c->dkim.sign);
	for (i = 0; i < c->sendmail.nsender; i++) {
		for (j = 0; j < c->sendmail.sender[i].naddrs; j++)
			free(c->sendmail.sender[i].addrs[j]);
		free(c->sendmail.sender[i].addrs);
		free(c->sendmail.sender[i].login);
	}
	free(c->sendmail.sender);
	free(c->smtp.listen.v);
	free(c->smtp.trusted.v);
	free(c->smtp.submission.v);
	free(c->smtp.submissions.v);
	free(c->imap.listen.v);
	free(c->imap.listen_starttls.v);
	free(c->pop3.listen.v);
	free(c->pop3.listen_starttls.v);
	free(c->file);
	free(c->hostname);
	free(c->state_dir);
	free(c->mail_dir);
	free(c->run_dir);
	free(c->log_file);
	free(c->user);
	free(c->postmaster);
	free(c->tls.cert);
	free(c->tls.key);
	free(c->relay.host);
	free(c->relay.ca_file);
	free(c->relay.user);
	free(c->relay.password_file);
	free(c->inbound.authserv_id);
	free(c->inbound.psl);
	free(c->inbound.junk_folder);
	conf_list_free(&c->milter.socket);
	conf_list_free(&c->screen.dnsbl);
	conf_list_free(&c->screen.dnswl);
	free(c->text);
	free(c->doctor.myip);
	free(c->doctor.myip6);
	free(c->doctor.probe);
	free(c->doctor.ca_file);
	conf_list_free(&c->doctor.dnsbl);
	free(c);
}

const struct conf_sender *
conf_sender_find(const struct conf *c, const char *login)
{
	size_t i;

	for (i = 0; i < c->sendmail.nsender; i++)
		if (strcmp(c->sendmail.sender[i].login, login) == 0)
			return &c->sendmail.sender[i];
	return NULL;
}

bool
conf_sender_default(const struct conf *c, const char *login, unsigned long uid,
    char *out, size_t outsz)
{
	/* service accounts send as nobody in particular (issue 16 item 7) */
	if (uid < 1000 || uid == 65534 || login == NULL || *login == '\0')
		login = "noreply";
	return c->ndomains > 0 && bsnprintf(out, outsz, "%s@%s", login,
	    c->domains[0]);
}

/* domain_in - domain[0..len) case-insensitively in list[0..n) */
static bool
domain_in(char *const *list, size_t n, const char *domain, size_t len)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		const char *d = list[i];

		for (j = 0; j < len && d[j] != '\0'; j++)
			if (tolower((unsigned char)domain[j]) != d[j])
				break;
		if (j == len && d[j] == '\0')
			return true;
	}
	return false;
}

bool
conf_is_local_domain(const struct conf *c, const char *domain, size_t len)
{
	return domain_in(c->domains, c->ndomains, domain, len);
}

bool
conf_is_backup_domain(const struct conf *c, const char *domain, size_t len)
{
	return domain_in(c->smtp.backup_domains, c->smtp.nbackup_domains,
	    domain, len);
}

/* conf_path_part_ok - one path component taken from an address */
static bool
conf_path_part_ok(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && strpbrk(s, "/\r\n") == NULL;
}

bool
conf_maildir_path(const struct conf *c, const char *local, const char *domain,
    char *out, size_t outsz)
{
	const char *t = c->mail_dir, *ins;
	size_t o = 0, n, i;
	bool lower;

	if (outsz == 0 || !conf_path_part_ok(local) ||
	    !conf_path_part_ok(domain))
		return false;
	for (; *t; t++) {
		ins = t;
		n = 1;
		lower = false;
		if (t[0] == '%' && t[1] == 'u') {
			ins = local;
			n = strlen(local);
			t++;
		} else if (t[0] == '%' && t[1] == 'd') {
			ins = domain;
			n = strlen(domain);
			lower = true;
			t++;
		} else if (t[0] == '%' && t[1] == '%')
			t++;
		if (n >= outsz - o)
			return false;
		for (i = 0; i < n; i++)
			out[o++] = lower ? (char)tolower((unsigned char)ins[i]) :
			    ins[i];
	}
	out[o] = '\0';
	return true;
}

bool
conf_secret_fd_ok(int fd, const char *path, char *err, size_t errsz)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errsz, "%s: expected a readable file: %s", path,
		    strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: expected a regular file", path);
		return false;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errsz, "%s: expected a file owned by root or "
		    "uid %u, got uid %u", path, (unsigned)geteuid(),
		    (unsigned)st.st_uid);
		return false;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errsz, "%s: expected a file only its owner can "
		    "read (chmod 600), got mode %04o", path,
		    (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

char *
conf_secret_read(const char *path, char *err, size_t errsz)
{
	char line[1024], *p;
	ssize_t r;
	size_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!conf_secret_fd_ok(fd, path, err, errsz)) {
		close(fd);
		return NULL;
	}
	/* read(2), not stdio: no buffer with the secret left behind */
	for (n = 0; n < sizeof(line) - 1; n += (size_t)r)
		if ((r = read(fd, line + n, sizeof(line) - 1 - n)) <= 0)
			break;
	close(fd);
	line[n] = '\0';
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n == 0) {
		snprintf(err, errsz, "%s: expected the password on the first "
		    "line", path);
		return NULL;
	}
	p = xstrdup(line);
	wipe(line, sizeof(line));
	return p;
}

bool
conf_secret_file_ok(const char *path, char *err, size_t errsz)
{
	bool ok;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		snprintf(err, errsz, "%s: expected a readable file: %s", path,
		    strerror(errno));
		return false;
	}
	ok = conf_secret_fd_ok(fd, path, err, errsz);
	close(fd);
	return ok;
}

bool
conf_addr_format(const struct conf_addr *a, char *out, size_t outsz)
{
	if (strchr(a->host, ':') != NULL)
		return bsnprintf(out, outsz, "[%s]:%u", a->host,
		    (unsigned)a->port);
	return bsnprintf(out, outsz, "%s:%u", a->host, (unsigned)a->port);
}

static void
conf_dump_addrs(FILE *out, const char *key, const struct conf_addrs *as)
{
	char a[300];
	size_t i;

	for (i = 0; i < as->n; i++)
		if (conf_addr_format(&as->v[i], a, sizeof(a)))
			fprintf(out, "%s = %s\n", key, a);
}

/* conf_dump_nets - "key = NET NET ..." on one line, or "key = none" */
static void
conf_dump_nets(FILE *out, const char *key, const struct conf_nets *l)
{
	char a[CIDR_TEXT_MAX];
	size_t i;

	fprintf(out, "%s =", key);
	if (l->n == 0)
		fprintf(out, " none");
	for (i = 0; i < l->n; i++)
		if (cidr_format(&l->v[i], a, sizeof(a)))
			fprintf(out, " %s", a);
	fprintf(out, "\n");
}

/* conf_dump_acme - the [acme] section, present only when the file has it */
static void
conf_dump_acme(const struct conf *c, FILE *out)
{
	char v[300];
	size_t i;

	fprintf(out, "\n[acme]\ndirectory = %s\nca_file = %s\n",
	    c->acme.directory, c->acme.ca_file);
	if (c->acme.email != NULL)
		fprintf(out, "email = %s\n", c->acme.email);
	if (c->acme.account_key != NULL)
		fprintf(out, "account_key = %s\n", c->acme.account_key);
	if (c->acme.nnames > 0) {
		fprintf(out, "names =");
		for (i = 0; i < c->acme.nnames; i++)
			fprintf(out, " %s", c->acme.names[i]);
		fprintf(out, "\n");
	}
	if (conf_addr_format(&c->acme.http, v, sizeof(v)))
		fprintf(out, "http = %s\n", v);
	if (c->acme.webroot != NULL)
		fprintf(out, "webroot = %s\n", c->acme.webroot);
	fprintf(out, "renew_before = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->acme.renew_before));
	fprintf(out, "timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->acme.timeout));
}

void
conf_dump(const struct conf *c, FILE *out)
{
	static const char *const tls[] = { "starttls", "implicit", "none" };
	static const char *const spf_fail[] = { "mark", "junk", "reject" };
	char v[300];
	size_t i;

	fprintf(out, "hostname = %s\ndomains =", c->hostname);
	for (i = 0; i < c->ndomains; i++)
		fprintf(out, " %s", c->domains[i]);
	fprintf(out, "\nstate_dir = %s\nmail_dir = %s\nrun_dir = %s\n"
	    "user = %s\n%slog = %s\n", c->state_dir, c->mail_dir, c->run_dir,
	    c->user, c->single_account ? "single_account = yes\n" : "",
	    c->log_file != NULL ? c->log_file :
	    c->log_stderr ? "stderr" : "syslog");
	if (c->postmaster != NULL)
		fprintf(out, "postmaster = %s\n", c->postmaster);
	if (c->tls.cert != NULL || c->tls.key != NULL)
		fprintf(out, "\n[tls]\ncert = %s\nkey = %s\n",
		    c->tls.cert ? c->tls.cert : "", c->tls.key ? c->tls.key : "");
	fprintf(out, "\n[smtp]\n");
	conf_dump_addrs(out, "listen", &c->smtp.listen);
	conf_dump_addrs(out, "submission", &c->smtp.submission);
	conf_dump_addrs(out, "submissions", &c->smtp.submissions);
	fprintf(out, "max_size = %s\n",
	    conf_fmt_size(v, sizeof(v), c->smtp.max_size));
	fprintf(out, "max_rcpt = %u\nmax_clients = %u\n", c->smtp.max_rcpt,
	    c->smtp.max_clients);
	fprintf(out, "timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->smtp.timeout));
	fprintf(out, "max_per_addr = %u\nmax_submission = %u\nmax_local = %u\n",
	    c->smtp.max_per_addr, c->smtp.max_submission, c->smtp.max_local);
	conf_dump_nets(out, "trusted", &c->smtp.trusted);
	fprintf(out, "tls_timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->smtp.tls_timeout));
	fprintf(out, "login_timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->smtp.login_timeout));
	fprintf(out, "data_timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->smtp.data_timeout));
	if (c->smtp.nbackup_domains > 0) {
		fprintf(out, "backup_domains =");
		for (i = 0; i < c->smtp.nbackup_domains; i++)
			fprintf(out, " %s", c->smtp.backup_domains[i]);
		fprintf(out, "\n");
	}
	if (c->relay.enabled) {
		fprintf(out, "\n[relay]\nhost = %s\nport = %u\ntls = %s\n"
		    "verify = %s\nca_file = %s\n",
		    c->relay.host ? c->relay.host : "", (unsigned)c->relay.port,
		    tls[c->relay.tls], c->relay.verify ? "yes" : "no",
		    c->relay.ca_file);
		if (c->relay.user != NULL)
			fprintf(out, "user = %s\n", c->relay.user);
		if (c->relay.password_file != NULL)
			fprintf(out, "password_file = %s\n",
			    c->relay.password_file);
	}
	if (c->dkim.nsign > 0)
		fprintf(out, "\n[dkim]\n");
	for (i = 0; i < c->dkim.nsign; i++)
		fprintf(out, "sign = %s %s %s\n", c->dkim.sign[i].domain,
		    c->dkim.sign[i].selector, c->dkim.sign[i].keyfile);
	fprintf(out, "\n[imap]\n");
	conf_dump_addrs(out, "listen", &c->imap.listen);
	conf_dump_addrs(out, "listen_starttls", &c->imap.listen_starttls);
	fprintf(out, "max_literal = %s\n",
	    conf_fmt_size(v, sizeof(v), c->imap.max_literal));
	fprintf(out, "timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->imap.timeout));
	fprintf(out, "max_per_addr = %u\n", c->imap.max_per_addr);
	fprintf(out, "tls_timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->imap.tls_timeout));
	fprintf(out, "login_timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->imap.login_timeout));
	if (c->pop3.enabled) {
		fprintf(out, "\n[pop3]\n");
		conf_dump_addrs(out, "listen", &c->pop3.listen);
		conf_dump_addrs(out, "listen_starttls", &c->pop3.listen_starttls);
		fprintf(out, "timeout = %s\n",
		    conf_fmt_duration(v, sizeof(v), c->pop3.timeout));
	}
	fprintf(out, "\n[queue]\nretry = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->queue.retry));
	fprintf(out, "max_retry = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->queue.max_retry));
	fprintf(out, "expire = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->queue.expire));
	if (c->dns.resolver_set && conf_addr_format(&c->dns.resolver, v,
	    sizeof(v)))
		fprintf(out, "\n[dns]\nresolver = %s\n", v);
	fprintf(out, "\n[inbound]\nspf = %s\ndkim = %s\ndmarc = %s\n"
	    "authserv_id = %s\nspf_fail = %s\npsl = %s\njunk_folder = %s\n"
	    "max_signatures = %u\n", c->inbound.spf ? "yes" : "no",
	    c->inbound.dkim ? "yes" : "no", c->inbound.dmarc ? "yes" : "no",
	    c->inbound.authserv_id, spf_fail[c->inbound.spf_fail],
	    c->inbound.psl, c->inbound.junk_folder, c->inbound.max_signatures);
	fprintf(out, "timeout = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->inbound.timeout));
	fprintf(out, "\n[authd]\nhashers = %u\ncache_size = %u\n",
	    c->authd.hashers, c->authd.cache_size);
	fprintf(out, "cache_ttl = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->authd.cache_ttl));
	if (c->sendmail.nsender > 0)
		fprintf(out, "\n[sendmail]\n");
	for (i = 0; i < c->sendmail.nsender; i++) {
		size_t j;

		fprintf(out, "sender = %s", c->sendmail.sender[i].login);
		for (j = 0; j < c->sendmail.sender[i].naddrs; j++)
			fprintf(out, " %s", c->sendmail.sender[i].addrs[j]);
		fprintf(out, "\n");
	}
	if (c->fetch.n > 0)
		fprintf(out, "\n[fetch]\n");
	for (i = 0; i < c->fetch.n; i++) {
		char a[CONF_LINE_MAX];

		if (conf_fetch_format(&c->fetch.v[i], a, sizeof(a)))
			fprintf(out, "account = %s\n", a);
	}
	if (c->milter.socket.n > 0) {
		fprintf(out, "\n[milter]\n");
		for (i = 0; i < c->milter.socket.n; i++)
			fprintf(out, "socket = %s\n", c->milter.socket.v[i]);
		fprintf(out, "timeout = %s\ndefault_action = %s\n",
		    conf_fmt_duration(v, sizeof(v), c->milter.timeout),
		    c->milter.tempfail ? "tempfail" : "accept");
	}
	/* [screen] only when something is screened */
	if (c->screen.dnsbl.n + c->screen.dnswl.n > 0 || c->screen.pregreet ||
	    c->screen.helo_own || c->screen.helo_fqdn ||
	    c->screen.unknown_sender) {
		fprintf(out, "\n[screen]\n");
		for (i = 0; i < c->screen.dnsbl.n; i++)
			fprintf(out, "dnsbl = %s\n", c->screen.dnsbl.v[i]);
		for (i = 0; i < c->screen.dnswl.n; i++)
			fprintf(out, "dnswl = %s\n", c->screen.dnswl.v[i]);
		fprintf(out, "threshold = %u\n", c->screen.threshold);
		fprintf(out, "dns_timeout = %s\n",
		    conf_fmt_duration(v, sizeof(v), c->screen.dns_timeout));
		if (c->screen.pregreet)
			fprintf(out, "pregreet = %s\n",
			    conf_fmt_duration(v, sizeof(v), c->screen.pregreet));
		fprintf(out, "helo_own = %s\nhelo_fqdn = %s\n",
		    c->screen.helo_own ? "yes" : "no",
		    c->screen.helo_fqdn ? "yes" : "no");
		if (c->screen.unknown_sender)
			fprintf(out, "unknown_sender = %u\n", c->screen.unknown_sender);
		else
			fprintf(out, "unknown_sender = no\n");
	}
	if (c->doctor.given) {
		fprintf(out, "\n[doctor]\nmyip = %s\nmyip6 = %s\n",
		    c->doctor.myip, c->doctor.myip6);
		for (i = 0; i < c->doctor.dnsbl.n; i++)
			fprintf(out, "dnsbl = %s\n", c->doctor.dnsbl.v[i]);
		fprintf(out, "probe = %s\n", c->doctor.probe);
		if (c->doctor.smtp_set && conf_addr_format(&c->doctor.smtp, v,
		    sizeof(v)))
			fprintf(out, "smtp = %s\n", v);
		fprintf(out, "timeout = %s\nca_file = %s\n",
		    conf_fmt_duration(v, sizeof(v), c->doctor.timeout),
		    c->doctor.ca_file);
	}
	if (c->acme.enabled)
		conf_dump_acme(c, out);
	if (!c->greylist.enable)
		return;
	fprintf(out, "\n[greylist]\nenable = yes\ndelay = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->greylist.delay));
	fprintf(out, "retry_window = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->greylist.retry_window));
	fprintf(out, "allow_time = %s\nallow_clients = %s\nspf_skip = %s\n",
	    conf_fmt_duration(v, sizeof(v), c->greylist.allow_time),
	    c->greylist.allow_clients ? "yes" : "no",
	    c->greylist.spf_skip ? "yes" : "no");
}
