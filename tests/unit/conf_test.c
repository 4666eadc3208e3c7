/* SPDX-License-Identifier: ISC */
/*
 * conf_test.c - unit tests for conf/conf.c (SPEC 3, STYLE 11).
 *
 * Table-driven: each bad configuration comes with the exact error output
 * it must produce ("t.conf:LINE: expected ..."), each good one with a
 * function that checks the parsed values.  Also covers conf_load() from a
 * real file, conf_maildir_path(), conf_is_local_domain(),
 * conf_secret_file_ok(), conf_addr_format(), conf_dump() (its output
 * loads back to the same configuration) and conf/facteur.conf.example.
 *
 * Golden mode (tests/golden/conf_test/CASE.in, STYLE 12): with one argument
 * FILE, loads it with conf_load() from its own directory and prints to
 * stdout either every error message or, when it loads, conf_dump(); exit 0
 * either way.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "t.h"

/* load - parse text as "t.conf"; *errs_r gets the error output (free it) */
static struct conf *
load(const char *text, size_t len, char **errs_r)
{
	struct conf *c;
	size_t n;
	FILE *f = open_memstream(errs_r, &n);

	c = conf_load_mem("t.conf", text, len, f);
	fclose(f);
	return c;
}

static const struct bad {
	const char	*text;
	const char	*errs;	/* the whole error output */
} bad[] = {
	/* the file as a whole */
	{ "", "t.conf: expected a \"domains\" line\n" },
	{ "# nothing\n\n   \n", "t.conf: expected a \"domains\" line\n" },
	{ "hostname = a.example\n", "t.conf: expected a \"domains\" line\n" },
	/* line syntax */
	{ "domains = example.org\nhostname mail\n",
	  "t.conf:2: expected \"key = value\", got \"hostname mail\"\n" },
	{ "domains = example.org\n= x\n",
	  "t.conf:2: expected a key before \"=\"\n" },
	{ "domains = example.org\nhost name = x\n",
	  "t.conf:2: expected one lower-case key like max_size before \"=\", got \"host name\"\n" },
	{ "domains = example.org\nHostname = x\n",
	  "t.conf:2: expected one lower-case key like max_size before \"=\", got \"Hostname\"\n" },
	{ "domains = example.org\nhostname =\n",
	  "t.conf:2: expected a value for hostname\n" },
	{ "domains = example.org\nhostname = # empty\n",
	  "t.conf:2: expected a value for hostname\n" },
	{ "domains = example.org\nhostname = mail.example.org extra\n",
	  "t.conf:2: expected one value for hostname, got \"mail.example.org extra\"\n" },
	{ "domains = example.org\nuser = a\x01" "b\n",
	  "t.conf:2: expected printable text for user, got \"a\\x01b\"\n" },
	{ "domains = example.org\nuser = a\rb\n",
	  "t.conf:2: expected printable text for user, got \"a\\x0db\"\n" },
	/* unknown keys and sections */
	{ "domains = example.org\nhostnme = x\n",
	  "t.conf:2: unknown key \"hostnme\" in the top section\n" },
	{ "domains = example.org\nmax_size = 1M\n",
	  "t.conf:2: unknown key \"max_size\" in the top section, expected it in [smtp]\n" },
	{ "domains = example.org\n[smtp]\nhostname = x.example\n",
	  "t.conf:3: unknown key \"hostname\" in [smtp], expected it before the first [section]\n" },
	{ "domains = example.org\n[queue]\nfoo = 1\n",
	  "t.conf:3: unknown key \"foo\" in [queue]\n" },
	{ "domains = example.org\n[smpt]\nlisten = 0.0.0.0:25\nbogus = 1\n[smtp]\nbogus = 2\n",
	  "t.conf:2: unknown section [smpt], expected one of [tls] [smtp] [relay] [dkim] [imap] [pop3] [queue] [dns] [inbound] [authd] [sendmail] [fetch] [milter] [screen] [doctor] [greylist] [acme]\n"
	  "t.conf:6: unknown key \"bogus\" in [smtp]\n" },
	{ "domains = example.org\n[smtp\n",
	  "t.conf:2: expected \"]\" to close the section header, got \"[smtp\"\n" },
	{ "domains = example.org\n[smtp] junk\n",
	  "t.conf:2: expected nothing after [smtp], got \"junk\"\n" },
	{ "domains = example.org\n[]\n",
	  "t.conf:2: unknown section [], expected one of [tls] [smtp] [relay] [dkim] [imap] [pop3] [queue] [dns] [inbound] [authd] [sendmail] [fetch] [milter] [screen] [doctor] [greylist] [acme]\n" },
	{ "domains = example.org\n[top]\n",
	  "t.conf:2: unknown section [top], expected one of [tls] [smtp] [relay] [dkim] [imap] [pop3] [queue] [dns] [inbound] [authd] [sendmail] [fetch] [milter] [screen] [doctor] [greylist] [acme]\n" },
	/* repeated keys */
	{ "domains = example.org\n[smtp]\nmax_size = 1M\n\nmax_size = 2M\n",
	  "t.conf:5: max_size given twice (first on line 3)\n" },
	{ "domains = example.org\ndomains = example.net\n",
	  "t.conf:2: domains given twice (first on line 1)\n" },
	{ "domains = example.org\n[smtp]\nmax_size = 1M\n[smtp]\nmax_size = 1M\n",
	  "t.conf:5: max_size given twice (first on line 3)\n" },
	/* [screen] (lib/dnsbl.c says what is wrong in a site) */
	{ "domains = example.org\n[screen]\ndnsbl = zen.spamhaus.org=127.0.0.[2..1]\n",
	  "t.conf:3: expected filter parts that are a number up to 255 or a list like [2..11;20] for dnsbl, got \"zen.spamhaus.org=127.0.0.[2..1]\"\n" },
	{ "domains = example.org\n[screen]\ndnswl = list.dnswl.org*x\n",
	  "t.conf:3: expected a weight from -1000 to 1000 after '*' for dnswl, got \"list.dnswl.org*x\"\n" },
	{ "domains = example.org\n[screen]\nunknown_sender = 451\n",
	  "t.conf:3: expected no, 450 or 550 for unknown_sender, got \"451\"\n" },
	/* value types */
	{ "domains = example.org\n[smtp]\nmax_size = lots\n",
	  "t.conf:3: expected a size like 35M for max_size, got \"lots\"\n" },
	{ "domains = example.org\n[smtp]\nmax_size = 35MB\n",
	  "t.conf:3: expected a size like 35M for max_size, got \"35MB\"\n" },
	{ "domains = example.org\n[smtp]\nmax_size = -1\n",
	  "t.conf:3: expected a size like 35M for max_size, got \"-1\"\n" },
	{ "domains = example.org\n[smtp]\nmax_size = 3G\n",
	  "t.conf:3: expected a size from 1K to 2G for max_size, got \"3G\"\n" },
	{ "domains = example.org\n[smtp]\nmax_size = 100\n",
	  "t.conf:3: expected a size from 1K to 2G for max_size, got \"100\"\n" },
	{ "domains = example.org\n[smtp]\nmax_size = 99999999999999999999999K\n",
	  "t.conf:3: expected a size from 1K to 2G for max_size, got \"99999999999999999999999K\"\n" },
	{ "domains = example.org\n[smtp]\nmax_rcpt = 0\n",
	  "t.conf:3: expected a number from 1 to 100000 for max_rcpt, got \"0\"\n" },
	{ "domains = example.org\n[smtp]\nmax_rcpt = 1e3\n",
	  "t.conf:3: expected a number from 1 to 100000 for max_rcpt, got \"1e3\"\n" },
	{ "domains = example.org\n[smtp]\nmax_clients = 99999999999999999999\n",
	  "t.conf:3: expected a number from 1 to 100000 for max_clients, got \"99999999999999999999\"\n" },
	{ "domains = example.org\n[smtp]\ntimeout = soon\n",
	  "t.conf:3: expected a duration like 5m for timeout, got \"soon\"\n" },
	{ "domains = example.org\n[smtp]\ntimeout = 0\n",
	  "t.conf:3: expected a duration from 1s to 1d for timeout, got \"0\"\n" },
	{ "domains = example.org\n[queue]\nexpire = 61d\n",
	  "t.conf:3: expected a duration from 1m to 60d for expire, got \"61d\"\n" },
	{ "domains = example.org\n[queue]\nretry = 5w\n",
	  "t.conf:3: expected a duration like 5m for retry, got \"5w\"\n" },
	{ "domains = example.org\nlog = file\n",
	  "t.conf:2: expected syslog, stderr or an absolute path for log, got \"file\"\n" },
	{ "domains = example.org\nstate_dir = var/lib\n",
	  "t.conf:2: expected an absolute path for state_dir, got \"var/lib\"\n" },
	{ "domains = example.org\nmail_dir = /var/mail/%d\n",
	  "t.conf:2: expected an absolute path with %u (and %d, %%) like /var/mail/%d/%u for mail_dir, got \"/var/mail/%d\"\n" },
	{ "domains = example.org\nmail_dir = /var/mail/%x/%u\n",
	  "t.conf:2: expected an absolute path with %u (and %d, %%) like /var/mail/%d/%u for mail_dir, got \"/var/mail/%x/%u\"\n" },
	{ "domains = example.org\nmail_dir = /var/mail/%u%\n",
	  "t.conf:2: expected an absolute path with %u (and %d, %%) like /var/mail/%d/%u for mail_dir, got \"/var/mail/%u%\"\n" },
	{ "domains = example.org\nmail_dir = mail/%u\n",
	  "t.conf:2: expected an absolute path with %u (and %d, %%) like /var/mail/%d/%u for mail_dir, got \"mail/%u\"\n" },
	{ "domains = example.org\nhostname = -mail.example.org\n",
	  "t.conf:2: expected a host name like mail.example.org for hostname, got \"-mail.example.org\"\n" },
	{ "domains = example.org\nhostname = mail..example.org\n",
	  "t.conf:2: expected a host name like mail.example.org for hostname, got \"mail..example.org\"\n" },
	{ "domains = example.org\nhostname = mail_x.example.org\n",
	  "t.conf:2: expected a host name like mail.example.org for hostname, got \"mail_x.example.org\"\n" },
	{ "domains = example.org\nhostname = mail.example.org.\n",
	  "t.conf:2: expected a host name like mail.example.org for hostname, got \"mail.example.org.\"\n" },
	{ "domains = example.org\nhostname = "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org\n",
	  "t.conf:2: expected a host name like mail.example.org for hostname, got \""
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org\"\n" },
	{ "domains = example.org bad_one.net also-.bad\n",
	  "t.conf:1: expected domain names like example.org for domains, got \"bad_one.net\"\n"
	  "t.conf:1: expected domain names like example.org for domains, got \"also-.bad\"\n" },
	{ "domains = example.org,example.net\n",
	  "t.conf:1: expected domain names like example.org for domains, got \"example.org,example.net\"\n" },
	/* host:port */
	{ "domains = example.org\n[smtp]\nlisten = 0.0.0.0\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"0.0.0.0\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = 0.0.0.0:0\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"0.0.0.0:0\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = 0.0.0.0:65536\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"0.0.0.0:65536\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = 0.0.0.0:+25\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"0.0.0.0:+25\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = 300.1.1.1:25\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"300.1.1.1:25\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = ::1:25\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"::1:25\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = [::1:25\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"[::1:25\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = [::1]25\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"[::1]25\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = [1.2.3.4]:25\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \"[1.2.3.4]:25\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = :25\n",
	  "t.conf:3: expected an address like 0.0.0.0:25 or [::]:25 for listen, got \":25\"\n" },
	{ "domains = example.org\n[smtp]\nlisten = 0.0.0.0:25 0.0.0.0:26\n",
	  "t.conf:3: expected one value for listen, got \"0.0.0.0:25 0.0.0.0:26\"\n" },
	{ "domains = example.org\n[dns]\nresolver = 127.0.0.1\n",
	  "t.conf:3: expected an address like 127.0.0.1:53 or [::1]:53 for resolver, got \"127.0.0.1\"\n" },
	/* [relay] */
	{ "domains = example.org\n[relay]\nport = 587\n",
	  "t.conf:2: expected a \"host\" line in [relay]\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\nport = +25\n",
	  "t.conf:4: expected a port number from 1 to 65535 for port, got \"+25\"\n" },
	{ "domains = example.org\n[smtp]\nmax_rcpt = +5\n",
	  "t.conf:3: expected a number from 1 to 100000 for max_rcpt, got \"+5\"\n" },
	{ "domains = example.org\n[tls]\ncert = c.pem\nkey = k.pem\n[smtp]\nsubmission = 0.0.0.0:587\n",
	  "t.conf:3: expected an absolute path for cert, got \"c.pem\"\n"
	  "t.conf:4: expected an absolute path for key, got \"k.pem\"\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\nport = 0\n",
	  "t.conf:4: expected a port number from 1 to 65535 for port, got \"0\"\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\ntls = ssl\n",
	  "t.conf:4: expected starttls, implicit or none for tls, got \"ssl\"\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\nverify = true\n",
	  "t.conf:4: expected yes or no for verify, got \"true\"\n" },
	{ "domains = example.org\n[relay]\nhost = smtp_x\n",
	  "t.conf:3: expected a host name like smtp.example.net or an IP address for host, got \"smtp_x\"\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\nuser = me@example.net\n",
	  "t.conf:4: expected a \"password_file\" line in [relay] with user\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\npassword_file = /etc/x\n",
	  "t.conf:4: expected a \"user\" line in [relay] with password_file\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\nuser = me\n"
	  "password_file = /etc/x\ntls = none\n",
	  "t.conf:6: expected tls = starttls or implicit in [relay] when a user logs in\n" },
	{ "domains = example.org\n[relay]\nhost = smtp.example.net\nca_file = certs.pem\n",
	  "t.conf:4: expected an absolute path for ca_file, got \"certs.pem\"\n" },
	/* [tls] and listeners that need it */
	{ "domains = example.org\n[tls]\ncert = /etc/c.pem\n",
	  "t.conf:2: expected both cert and key in [tls]\n" },
	{ "domains = example.org\n[tls]\nkey = /etc/k.pem\n",
	  "t.conf:2: expected both cert and key in [tls]\n" },
	{ "domains = example.org\n[smtp]\nsubmission = 0.0.0.0:587\nsubmissions = 0.0.0.0:465\n"
	  "[imap]\nlisten = 0.0.0.0:993\nlisten_starttls = 127.0.0.1:143\n",
	  "t.conf:3: expected a [tls] section with cert and key for [smtp] submission\n"
	  "t.conf:4: expected a [tls] section with cert and key for [smtp] submissions\n"
	  "t.conf:6: expected a [tls] section with cert and key for [imap] listen\n"
	  "t.conf:7: expected a [tls] section with cert and key for [imap] listen_starttls\n" },
	{ "domains = example.org\n[tls]\ncert = /c\n[smtp]\nsubmission = 0.0.0.0:587\n",
	  "t.conf:2: expected both cert and key in [tls]\n"
	  "t.conf:5: expected a [tls] section with cert and key for [smtp] submission\n" },
	/* [dkim] */
	{ "domains = example.org\n[dkim]\nsign = example.org rsa2026\n",
	  "t.conf:3: expected \"DOMAIN SELECTOR KEYFILE\" for sign, got \"example.org rsa2026\"\n" },
	{ "domains = example.org\n[dkim]\nsign = example.org rsa2026 /k extra\n",
	  "t.conf:3: expected \"DOMAIN SELECTOR KEYFILE\" for sign, got \"example.org rsa2026 /k extra\"\n" },
	{ "domains = example.org\n[dkim]\nsign = example..org rsa2026 /k\n",
	  "t.conf:3: expected a domain name like example.org for sign, got \"example..org\"\n" },
	{ "domains = example.org\n[dkim]\nsign = example.org rsa_2026 /k\n",
	  "t.conf:3: expected a DKIM selector like rsa2026 for sign, got \"rsa_2026\"\n" },
	{ "domains = example.org\n[dkim]\nsign = example.org rsa2026 k.pem\n",
	  "t.conf:3: expected an absolute key file path for sign, got \"k.pem\"\n" },
	{ "domains = example.org\n[dkim]\nsign = example.org rsa /k1\nsign = Example.ORG RSA /k2\n",
	  "t.conf:4: sign for example.org selector rsa given twice\n" },
	/* [smtp] trusted */
	{ "domains = example.org\n[smtp]\ntrusted = 10.0.0.0/33\n",
	  "t.conf:3: expected an IPv4 prefix length from /0 to /32 for trusted, got \"10.0.0.0/33\"\n" },
	{ "domains = example.org\n[smtp]\ntrusted = ::1 2001:db8::/129\n",
	  "t.conf:3: expected an IPv6 prefix length from /0 to /128 for trusted, got \"2001:db8::/129\"\n" },
	{ "domains = example.org\n[smtp]\ntrusted = 192.168.1.5/24\n",
	  "t.conf:3: expected 192.168.1.0/24 or 192.168.1.5 (no address bits "
	  "past /24) for trusted, got \"192.168.1.5/24\"\n" },
	{ "domains = example.org\n[smtp]\ntrusted = lan 10.0.0.0/8x\n",
	  "t.conf:3: expected networks like 192.168.1.0/24 or 2001:db8::/32, "
	  "addresses, or none for trusted, got \"lan\"\n"
	  "t.conf:3: expected a prefix length like /24 after the / for trusted, got \"10.0.0.0/8x\"\n" },
	{ "domains = example.org\n[smtp]\ntrusted = no\n",
	  "t.conf:3: expected networks like 192.168.1.0/24 or 2001:db8::/32, "
	  "addresses, or none for trusted, got \"no\"\n" },
	{ "domains = example.org\n[smtp]\ntrusted = none 127.0.0.1\n",
	  "t.conf:3: expected trusted = none alone, without networks on this or another trusted line\n" },
	{ "domains = example.org\n[smtp]\ntrusted = ::1\ntrusted = none\n",
	  "t.conf:4: expected trusted = none alone, without networks on this or another trusted line\n" },
	{ "domains = example.org\n[smtp]\ntrusted = none\ntrusted = 10.0.0.0/8\n",
	  "t.conf:4: expected trusted = none alone, without networks on this or another trusted line\n" },
	{ "domains = example.org\n[smtp]\ntrusted = none\ntrusted = bad\n",
	  "t.conf:4: expected trusted = none alone, without networks on this or another trusted line\n" },
	{ "domains = example.org\n[smtp]\ntrusted = fe80::1%eth0\n",
	  "t.conf:3: expected networks like 192.168.1.0/24 or 2001:db8::/32, "
	  "addresses, or none for trusted, got \"fe80::1%eth0\"\n" },
	{ "domains = example.org\ntrusted = 10.0.0.0/8\n",
	  "t.conf:2: unknown key \"trusted\" in the top section, expected it in [smtp]\n" },
	/* [queue] relations */
	{ "domains = example.org\n[queue]\nretry = 5h\n",
	  "t.conf:3: expected retry (5h) to be at most max_retry (4h)\n" },
	{ "domains = example.org\n[queue]\nmax_retry = 6d\n",
	  "t.conf:3: expected max_retry (6d) to be at most expire (5d)\n" },
	/* [doctor] */
	{ "domains = example.org\n[doctor]\nmyip = 208.67.222.222:53\n",
	  "t.conf:3: expected myip = NAME@ADDRESS:PORT like "
	  "myip.opendns.com@208.67.222.222:53, or no, got \"208.67.222.222:53\"\n" },
	{ "domains = example.org\n[doctor]\nmyip6 = @[::1]:53\n",
	  "t.conf:3: expected myip6 = NAME@ADDRESS:PORT like "
	  "myip.opendns.com@[2620:119:35::35]:53, or no, got \"@[::1]:53\"\n" },
	{ "domains = example.org\n[doctor]\nprobe = mx.example\n",
	  "t.conf:3: expected probe = HOST:PORT like "
	  "gmail-smtp-in.l.google.com:25, or no, got \"mx.example\"\n" },
	/* several errors, all reported, in order */
	{ "hostnme = x\n[smtp]\nmax_size = lots\nmax_rcpt = many\n[smpt]\n",
	  "t.conf:1: unknown key \"hostnme\" in the top section\n"
	  "t.conf:3: expected a size like 35M for max_size, got \"lots\"\n"
	  "t.conf:4: expected a number from 1 to 100000 for max_rcpt, got \"many\"\n"
	  "t.conf:5: unknown section [smpt], expected one of [tls] [smtp] [relay] [dkim] [imap] [pop3] [queue] [dns] [inbound] [authd] [sendmail] [fetch] [milter] [screen] [doctor] [greylist] [acme]\n"
	  "t.conf: expected a \"domains\" line\n" },
	/* '#' inside a value is not a comment */
	{ "domains = example.org\nstate_dir = /a#b # real comment\nlog = syslog#x\n",
	  "t.conf:3: expected syslog, stderr or an absolute path for log, got \"syslog#x\"\n" },
	/* escaping of what is echoed */
	{ "domains = example.org\nlog = \x1b[31mred\n",
	  "t.conf:2: expected printable text for log, got \"\\x1b[31mred\"\n" },
	{ "domains = example.org\nlog = \xc3\xa9t\xc3\xa9\n",
	  "t.conf:2: expected syslog, stderr or an absolute path for log, got \"\\xc3\\xa9t\\xc3\\xa9\"\n" },
	{ "domains = example.org\nlog = "
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	  "t.conf:2: expected syslog, stderr or an absolute path for log, got \""
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"\n" },
};

static void
test_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *errs = NULL;
		struct conf *c = load(bad[i].text, strlen(bad[i].text), &errs);

		if (c != NULL || strcmp(errs, bad[i].errs) != 0)
			fprintf(stderr, "bad[%zu]: %s\n", i, bad[i].text);
		CHECK(c == NULL);
		CHECK_STR(errs, bad[i].errs);
		conf_free(&c);
		free(errs);
	}
}

/* trusted_is - [smtp] trusted holds exactly the networks of text */
static bool
trusted_is(const struct conf *c, const char *want)
{
	char got[1024], a[CIDR_TEXT_MAX];
	size_t i, n = 0;

	got[0] = '\0';
	for (i = 0; i < c->smtp.trusted.n; i++) {
		if (!cidr_format(&c->smtp.trusted.v[i], a, sizeof(a)))
			return false;
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s",
		    i ? " " : "", a);
	}
	if (strcmp(got, want) != 0)
		fprintf(stderr, "trusted: got \"%s\", want \"%s\"\n", got, want);
	return strcmp(got, want) == 0;
}

/* check_trusted_default - loopback, IPv4 (also mapped) and IPv6 */
static void
check_trusted_default(const struct conf *c)
{
	CHECK(trusted_is(c, "127.0.0.0/8 ::1"));
	CHECK(!c->smtp.trusted.none);
	CHECK(cidr_match(c->smtp.trusted.v, c->smtp.trusted.n, "127.0.0.2"));
	CHECK(cidr_match(c->smtp.trusted.v, c->smtp.trusted.n,
	    "::ffff:127.0.0.1"));
	CHECK(cidr_match(c->smtp.trusted.v, c->smtp.trusted.n, "::1"));
	CHECK(!cidr_match(c->smtp.trusted.v, c->smtp.trusted.n, "192.0.2.1"));
}

static void
check_trusted_none(const struct conf *c)
{
	CHECK(c->smtp.trusted.n == 0 && c->smtp.trusted.none);
	CHECK(!cidr_match(c->smtp.trusted.v, c->smtp.trusted.n, "127.0.0.1"));
}

/* lines add up, duplicates go, the default is not added */
static void
check_trusted_list(const struct conf *c)
{
	CHECK(trusted_is(c, "192.168.1.0/24 2001:db8::/48 10.0.0.7 ::1"));
	CHECK(cidr_match(c->smtp.trusted.v, c->smtp.trusted.n, "10.0.0.7"));
	CHECK(!cidr_match(c->smtp.trusted.v, c->smtp.trusted.n, "127.0.0.1"));
}

/* defaults - the SPEC 3 defaults with just a domains line */
static void
check_defaults(const struct conf *c)
{
	char host[256];

	CHECK_STR(c->file, "t.conf");
	CHECK(gethostname(host, sizeof(host)) == 0);
	CHECK(strcasecmp(c->hostname, host) == 0);
	CHECK(c->ndomains == 1);
	CHECK_STR(c->domains[0], "example.org");
	CHECK(c->domains[1] == NULL);
	CHECK_STR(c->state_dir, "/var/lib/facteur");
	CHECK_STR(c->mail_dir, "/var/mail/%d/%u");
	CHECK_STR(c->run_dir, "/run/facteur");
	CHECK_STR(c->user, "_facteur");
	CHECK(!c->log_stderr && c->log_file == NULL);
	CHECK(c->tls.cert == NULL && c->tls.key == NULL);
	CHECK(c->smtp.listen.n == 0 && c->smtp.submission.n == 0 &&
	    c->smtp.submissions.n == 0);
	CHECK(c->smtp.max_size == 35 * 1024 * 1024);
	CHECK(c->smtp.max_rcpt == 100);
	CHECK(c->smtp.max_clients == 64);
	CHECK(c->smtp.timeout == 300);
	CHECK(!c->relay.enabled);
	CHECK(c->relay.host == NULL);
	CHECK(c->relay.port == 587);
	CHECK(c->relay.tls == CONF_TLS_STARTTLS);
	CHECK(c->relay.verify);
	CHECK_STR(c->relay.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	CHECK(c->relay.user == NULL && c->relay.password_file == NULL);
	CHECK(c->dkim.nsign == 0);
	CHECK(c->imap.listen.n == 0 && c->imap.listen_starttls.n == 0);
	CHECK(c->imap.max_literal == 35 * 1024 * 1024);
	CHECK(c->imap.timeout == 1800);
	CHECK(c->queue.retry == 300);
	CHECK(c->queue.max_retry == 4 * 3600);
	CHECK(c->queue.expire == 5 * 86400);
	CHECK(!c->dns.resolver_set);
	check_trusted_default(c);
}

/* the SPEC 3 example, verbatim, with the two listeners it implies */
static const char spec_example[] =
"hostname  = mail.example.org          # HELO/EHLO name and Received headers\n"
"domains   = example.org example.net   # local domains\n"
"state_dir = /var/lib/facteur          # queue/, users.db, aliases.db, per-mailbox state\n"
"mail_dir  = /var/mail/%d/%u           # each user's Maildir; %d = domain, %u = local part\n"
"run_dir   = /run/facteur              # sockets and pid files\n"
"user      = _facteur                  # unprivileged account for network-facing processes\n"
"log       = syslog                    # syslog | stderr\n"
"\n"
"[tls]\n"
"cert = /etc/facteur/tls/fullchain.pem\n"
"key  = /etc/facteur/tls/privkey.pem\n"
"\n"
"[smtp]\n"
"listen      = 0.0.0.0:25              # repeatable\n"
"submission  = 0.0.0.0:587             # STARTTLS, AUTH required; repeatable\n"
"submissions = 0.0.0.0:465             # implicit TLS, AUTH required; repeatable\n"
"max_size    = 35M\n"
"max_rcpt    = 100\n"
"max_clients = 64\n"
"\n"
"[relay]                               # present: all non-local mail goes through this smarthost\n"
"host          = smtp.example.net\n"
"port          = 587\n"
"tls           = starttls              # starttls | implicit | none\n"
"verify        = yes                   # certificate chain and host name\n"
"ca_file       = /etc/ssl/certs/ca-certificates.crt\n"
"user          = me@example.net\n"
"password_file = /etc/facteur/relay.secret\n"
"                                      # absent: direct delivery to the recipient domain's MX\n"
"\n"
"[dkim]\n"
"sign = example.org rsa2026 /etc/facteur/dkim/example.org.rsa2026.key   # DOMAIN SELECTOR KEYFILE; repeatable\n"
"sign = example.org ed2026  /etc/facteur/dkim/example.org.ed2026.key\n"
"\n"
"[imap]\n"
"listen          = 0.0.0.0:993         # implicit TLS; repeatable\n"
"listen_starttls = 127.0.0.1:143       # optional; LOGINDISABLED until STARTTLS\n"
"\n"
"[queue]\n"
"retry  = 5m                           # first retry; backs off to max_retry\n"
"max_retry = 4h\n"
"expire = 5d                           # then a bounce (DSN) to the sender\n"
"\n"
"[dns]\n"
"resolver = 127.0.0.1:5353             # optional; default: /etc/resolv.conf\n";

static void
check_spec_common(const struct conf *c)
{
	CHECK_STR(c->hostname, "mail.example.org");
	CHECK(c->ndomains == 2);
	CHECK_STR(c->domains[0], "example.org");
	CHECK_STR(c->domains[1], "example.net");
	CHECK(c->domains[2] == NULL);
	CHECK_STR(c->tls.cert, "/etc/facteur/tls/fullchain.pem");
	CHECK_STR(c->tls.key, "/etc/facteur/tls/privkey.pem");
	CHECK_STR(c->smtp.listen.v[0].host, "0.0.0.0");
	CHECK(c->smtp.listen.v[0].port == 25);
	CHECK(c->smtp.submission.n == 1 && c->smtp.submission.v[0].port == 587);
	CHECK(c->smtp.submissions.n == 1 && c->smtp.submissions.v[0].port == 465);
	CHECK(c->relay.enabled);
	CHECK_STR(c->relay.host, "smtp.example.net");
	CHECK(c->relay.port == 587);
	CHECK(c->relay.tls == CONF_TLS_STARTTLS);
	CHECK(c->relay.verify);
	CHECK_STR(c->relay.user, "me@example.net");
	CHECK_STR(c->relay.password_file, "/etc/facteur/relay.secret");
	CHECK(c->dkim.nsign == 2);
	CHECK_STR(c->dkim.sign[0].domain, "example.org");
	CHECK_STR(c->dkim.sign[0].selector, "rsa2026");
	CHECK_STR(c->dkim.sign[0].keyfile, "/etc/facteur/dkim/example.org.rsa2026.key");
	CHECK_STR(c->dkim.sign[1].selector, "ed2026");
	CHECK_STR(c->dkim.sign[1].keyfile, "/etc/facteur/dkim/example.org.ed2026.key");
	CHECK(c->imap.listen.n == 1 && c->imap.listen.v[0].port == 993);
	CHECK(c->imap.listen_starttls.n == 1);
	CHECK_STR(c->imap.listen_starttls.v[0].host, "127.0.0.1");
	CHECK(c->imap.listen_starttls.v[0].port == 143);
	CHECK(c->dns.resolver_set);
	CHECK_STR(c->dns.resolver.host, "127.0.0.1");
	CHECK(c->dns.resolver.port == 5353);
}

static void
check_spec(const struct conf *c)
{
	check_spec_common(c);
	CHECK(c->smtp.listen.n == 1);
}

static const char odd_example[] =
"\t# tabs, CRLF, odd spacing\r\n"
"  domains=Example.ORG   example.net example.org\r\n"
"hostname\t=\tMail.Example.ORG\t\n"
"log = stderr\n"
"mail_dir = /home/%u/Maildir%%1\n"
"[ smtp ]   # spaces inside the brackets\n"
"listen = [::]:25\n"
"listen = [2001:DB8::1]:2525\n"
"listen = localhost:25\n"
"listen = 127.0.0.1:65535\n"
"max_size = 1g\n"
"max_rcpt = 1\n"
"max_clients = 100000\n"
"timeout = 2m\n"
"[tls]\n"
"key = /k\n"
"cert = /c\n"
"[smtp]\n"
"submissions = [::1]:465\n"
"[relay]\n"
"host = 2001:db8::25\n"
"tls = implicit\n"
"verify = no\n"
"[imap]\n"
"max_literal = 64K\n"
"timeout = 1d\n"
"[queue]\n"
"retry = 30s\n"
"max_retry = 30s\n"
"expire = 60\n"
"[dns]\n"
"resolver = [::1]:53";	/* no final newline */

static void
check_odd(const struct conf *c)
{
	CHECK(c->ndomains == 2);
	CHECK_STR(c->domains[0], "example.org");
	CHECK_STR(c->domains[1], "example.net");
	CHECK_STR(c->hostname, "mail.example.org");
	CHECK(c->log_stderr);
	CHECK_STR(c->mail_dir, "/home/%u/Maildir%%1");
	CHECK(c->smtp.listen.n == 4);
	CHECK_STR(c->smtp.listen.v[0].host, "::");
	CHECK_STR(c->smtp.listen.v[1].host, "2001:db8::1");
	CHECK(c->smtp.listen.v[1].port == 2525);
	CHECK_STR(c->smtp.listen.v[2].host, "localhost");
	CHECK(c->smtp.listen.v[3].port == 65535);
	CHECK(c->smtp.max_size == 1024ULL * 1024 * 1024);
	CHECK(c->smtp.max_rcpt == 1);
	CHECK(c->smtp.max_clients == 100000);
	CHECK(c->smtp.timeout == 120);
	CHECK(c->smtp.submissions.n == 1);
	CHECK_STR(c->relay.host, "2001:db8::25");
	CHECK(c->relay.tls == CONF_TLS_IMPLICIT);
	CHECK(c->relay.port == 465);	/* implicit TLS without a port */
	CHECK(!c->relay.verify);
	CHECK(c->imap.max_literal == 64 * 1024);
	CHECK(c->imap.timeout == 86400);
	CHECK(c->queue.retry == 30 && c->queue.max_retry == 30);
	CHECK(c->queue.expire == 60);
	CHECK(c->dns.resolver_set);
	CHECK_STR(c->dns.resolver.host, "::1");
}

static void
check_relay_none(const struct conf *c)
{
	CHECK(c->relay.enabled);
	CHECK(c->relay.tls == CONF_TLS_NONE);
	CHECK(c->relay.port == 25);
	CHECK_STR(c->relay.host, "192.0.2.1");
	CHECK(c->imap.max_literal == 10 * 1024 * 1024);	/* = max_size */
}

static void
check_doctor(const struct conf *c)
{
	CHECK(c->doctor.given);
	CHECK_STR(c->doctor.myip, "myip.test@127.0.0.1:5353");
	CHECK_STR(c->doctor.myip6, "myip.test@[::1]:5353");
	CHECK(c->doctor.dnsbl.n == 2);
	CHECK_STR(c->doctor.dnsbl.v[1], "bl2.test");
	CHECK_STR(c->doctor.probe, "no");
	CHECK(c->doctor.smtp_set && c->doctor.smtp.port == 2525);
	CHECK(c->doctor.timeout == 2);
	CHECK_STR(c->doctor.ca_file, "/etc/ssl/certs/ca-certificates.crt");
}

/* log = FILE: lines as on stderr, appended to FILE (the DSM package) */
static void
check_log_file(const struct conf *c)
{
	CHECK(c->log_stderr);
	CHECK_STR(c->log_file, "/volume1/@appdata/facteur/facteur.log");
}

static void
check_screen(const struct conf *c)
{
	CHECK(c->screen.dnsbl.n == 2 && c->screen.dnswl.n == 1);
	CHECK_STR(c->screen.dnsbl.v[0], "zen.spamhaus.org=127.0.0.[2..11]*3");
	CHECK(c->screen.threshold == 3 && c->screen.pregreet == 2);
	CHECK(c->screen.dns_timeout == 5);
	CHECK(c->screen.helo_own && !c->screen.helo_fqdn);
	CHECK(c->screen.unknown_sender == 450);
}

static const struct good {
	const char	*text;
	void		(*check)(const struct conf *);
} good[] = {
	{ "domains = example.org\n", check_defaults },
	{ "domains = example.org", check_defaults },
	{ "# comment\n   # indented comment\n\t\ndomains = example.org # c\n",
	  check_defaults },
	{ spec_example, check_spec },
	{ odd_example, check_odd },
	{ "domains = example.org\n[smtp]\nmax_size = 10M\n"
	  "[relay]\nhost = 192.0.2.1\nport = 25\ntls = none\n", check_relay_none },
	{ "domains = example.org\n[screen]\n"
	  "dnsbl = zen.spamhaus.org=127.0.0.[2..11]*3\ndnsbl = bl.spamcop.net\n"
	  "dnswl = list.dnswl.org=127.0.[0..255].[1..3]*2\nthreshold = 3\n"
	  "pregreet = 2s\nhelo_own = yes\nunknown_sender = 450\n", check_screen },
	/* an empty section is fine, except [relay] (needs host) */
	{ "domains = example.org\n[smtp]\n[imap]\n[queue]\n[dns]\n[dkim]\n",
	  check_defaults },
	{ "domains = example.org\n[doctor]\nmyip = myip.test@127.0.0.1:5353\n"
	  "myip6 = myip.test@[::1]:5353\n"
	  "dnsbl = bl1.test\ndnsbl = bl2.test\nprobe = no\n"
	  "smtp = 127.0.0.1:2525\ntimeout = 2s\n", check_doctor },
	{ "domains = example.org\nlog = /volume1/@appdata/facteur/facteur.log\n",
	  check_log_file },
	{ "domains = example.org\n[smtp]\ntrusted = none\n", check_trusted_none },
	{ "domains = example.org\n[smtp]\ntrusted = 192.168.1.0/24  2001:DB8::/48\n"
	  "trusted = 10.0.0.7/32 ::1/128 192.168.1.0/24\ntrusted = ::1\n",
	  check_trusted_list },
};

/* dump - conf_dump() into a string (free it) */
static char *
dump(const struct conf *c)
{
	char *out = NULL;
	size_t n;
	FILE *f = open_memstream(&out, &n);

	conf_dump(c, f);
	fclose(f);
	return out;
}

/* check_round_trip - conf_dump() output loads to the same dump */
static void
check_round_trip(const struct conf *c)
{
	char *d1 = dump(c), *d2 = NULL, *errs = NULL;
	struct conf *c2 = load(d1, strlen(d1), &errs);

	CHECK(c2 != NULL);
	CHECK_STR(errs, "");
	if (c2 != NULL) {
		d2 = dump(c2);
		CHECK_STR(d2, d1);
	}
	conf_free(&c2);
	free(d1);
	free(d2);
	free(errs);
}

static void
test_good(void)
{
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *errs = NULL;
		struct conf *c = load(good[i].text, strlen(good[i].text), &errs);

		if (c == NULL)
			fprintf(stderr, "good[%zu]: %s", i, errs);
		CHECK(c != NULL);
		CHECK_STR(errs, "");
		if (c != NULL) {
			good[i].check(c);
			check_round_trip(c);
		}
		conf_free(&c);
		CHECK(c == NULL);
		free(errs);
	}
}

#define NUL1 "domains = example.org\nlog = std\0err\n"
#define NUL2 "domains = example.org\n# \0\n"

/* lines: too long, NUL bytes, many errors */
static void
test_lines(void)
{
	char text[3 * CONF_LINE_MAX], *errs = NULL, want[256];
	struct conf *c;
	size_t n;
	int i;

	/* exactly CONF_LINE_MAX bytes (a comment) is fine, one more is not */
	n = (size_t)snprintf(text, sizeof(text), "domains = example.org\n");
	memset(text + n, '#', CONF_LINE_MAX);
	n += CONF_LINE_MAX;
	text[n++] = '\n';
	c = load(text, n, &errs);
	CHECK(c != NULL);
	conf_free(&c);
	free(errs);
	memset(text + n, ' ', CONF_LINE_MAX + 1);
	n += CONF_LINE_MAX + 1;
	memcpy(text + n, "\nlog = x\n", 9);
	n += 9;
	c = load(text, n, &errs);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "t.conf:3: expected a line of at most %d "
	    "bytes, got %d\nt.conf:4: expected syslog, stderr or an absolute "
	    "path for log, got \"x\"\n", CONF_LINE_MAX, CONF_LINE_MAX + 1);
	CHECK_STR(errs, want);
	free(errs);

	/* a NUL byte anywhere in a line */
	c = load(NUL1, sizeof(NUL1) - 1, &errs);
	CHECK(c == NULL);
	CHECK_STR(errs, "t.conf:2: expected text, got a NUL byte\n");
	free(errs);
	c = load(NUL2, sizeof(NUL2) - 1, &errs);
	CHECK(c == NULL);
	CHECK_STR(errs, "t.conf:2: expected text, got a NUL byte\n");
	free(errs);

	/* a flood of errors is cut after 50 lines and counted */
	n = (size_t)snprintf(text, sizeof(text), "domains = example.org\n");
	for (i = 0; i < 60; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "x%d = 1\n", i);
	c = load(text, n, &errs);
	CHECK(c == NULL);
	CHECK(strstr(errs, "t.conf:51: unknown key \"x49\" in the top section\n")
	    != NULL);
	CHECK(strstr(errs, "x50") == NULL);
	CHECK(strstr(errs, "t.conf: 10 more errors not shown\n") != NULL);
	free(errs);

	/* errs may be NULL */
	CHECK(conf_load_mem("t.conf", "bogus", 5, NULL) == NULL);
	c = conf_load_mem("t.conf", "domains = a.b", 13, NULL);
	CHECK(c != NULL);
	conf_free(&c);
	conf_free(&c);	/* twice is harmless */
}

/* [milter] socket: Sendmail's inet:PORT@IP, as the milters write it */
static void
test_milter_at(void)
{
	static const char text[] = "domains = example.org\n[milter]\n"
	    "socket = inet:8893@127.0.0.1\nsocket = inet:7357@::1\n"
	    "socket = inet:127.0.0.1:11332\n";
	struct conf *c;
	char *errs;
	size_t n;
	FILE *e;

	c = conf_load_mem("t.conf", text, sizeof(text) - 1, NULL);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK(c->milter.socket.n == 3);
		CHECK_STR(c->milter.socket.v[0], "inet:127.0.0.1:8893");
		CHECK_STR(c->milter.socket.v[1], "inet:[::1]:7357");
		CHECK_STR(c->milter.socket.v[2], "inet:127.0.0.1:11332");
	}
	conf_free(&c);
	e = open_memstream(&errs, &n);
	c = conf_load_mem("t.conf", "domains = a.b\n[milter]\nsocket = "
	    "inet:99999@127.0.0.1\n", 53, e);
	fclose(e);
	CHECK(c == NULL);
	CHECK(strstr(errs, "t.conf:3: expected unix:/path or inet:IP:port like "
	    "inet:127.0.0.1:11332 for socket, got \"inet:99999@127.0.0.1\"")
	    != NULL);
	free(errs);
}

/* conf_load - from a real file, a missing one and an oversized one */
static void
test_file(void)
{
	char dir[] = "/tmp/conf_test.XXXXXX", path[64], *errs, want[256];
	size_t n;
	struct conf *c;
	FILE *f, *e;
	int i;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/facteur.conf", dir);
	f = fopen(path, "w");
	fputs("domains = example.org\n[smtp]\nmax_size = lots\n", f);
	fclose(f);
	e = open_memstream(&errs, &n);
	c = conf_load(path, e);
	fclose(e);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "%s:3: expected a size like 35M for "
	    "max_size, got \"lots\"\n", path);
	CHECK_STR(errs, want);
	free(errs);

	f = fopen(path, "w");
	fputs("domains = example.org\n[smtp]\nmax_size = 1M\n", f);
	fclose(f);
	c = conf_load(path, stderr);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->file, path);
		CHECK(c->smtp.max_size == 1024 * 1024);
	}
	conf_free(&c);

	f = fopen(path, "w");	/* 1M + comment lines: refused, not parsed */
	for (i = 0; i < CONF_FILE_MAX / 64 + 1; i++)
		fprintf(f, "# %061d\n", i);
	fclose(f);
	e = open_memstream(&errs, &n);
	c = conf_load(path, e);
	fclose(e);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "%s: expected a file of at most %d "
	    "bytes\n", path, CONF_FILE_MAX);
	CHECK_STR(errs, want);
	free(errs);
	unlink(path);

	e = open_memstream(&errs, &n);
	c = conf_load(path, e);
	fclose(e);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "%s: expected a readable file: No such "
	    "file or directory\n", path);
	CHECK_STR(errs, want);
	free(errs);
	rmdir(dir);
}

static const struct maildir {
	const char	*mail_dir, *local, *domain;
	size_t		 outsz;
	const char	*want;	/* NULL: refused */
} maildirs[] = {
	{ "/var/mail/%d/%u", "alice", "Example.ORG", 256, "/var/mail/example.org/alice" },
	{ "/var/mail/%d/%u", "Alice.Smith", "example.org", 256, "/var/mail/example.org/Alice.Smith" },
	{ "/home/%u/Maildir", "bob", "example.org", 256, "/home/bob/Maildir" },
	{ "/m/%%/%u%%d", "bob", "x.org", 256, "/m/%/bob%d" },
	{ "/var/mail/%d/%u", "a", "b", 15, "/var/mail/b/a" },	/* 13 + NUL */
	{ "/var/mail/%d/%u", "a", "b", 14, "/var/mail/b/a" },
	{ "/var/mail/%d/%u", "a", "b", 13, NULL },
	{ "/var/mail/%d/%u", "a", "b", 1, NULL },
	{ "/var/mail/%d/%u", "a", "b", 0, NULL },
	{ "/var/mail/%d/%u", "", "example.org", 256, NULL },
	{ "/var/mail/%d/%u", "alice", "", 256, NULL },
	{ "/var/mail/%d/%u", "../etc", "example.org", 256, NULL },
	{ "/var/mail/%d/%u", ".alice", "example.org", 256, NULL },
	{ "/var/mail/%d/%u", "a/b", "example.org", 256, NULL },
	{ "/var/mail/%d/%u", "alice", "..", 256, NULL },
	{ "/var/mail/%d/%u", "alice", "ex/ample.org", 256, NULL },
	{ "/var/mail/%d/%u", "al\rice", "example.org", 256, NULL },
	{ "/var/mail/%d/%u", "alice", "example.org\n", 256, NULL },
};

static void
test_maildir(void)
{
	char text[128], out[256];
	size_t i;
	struct conf *c;

	for (i = 0; i < sizeof(maildirs) / sizeof(maildirs[0]); i++) {
		const struct maildir *m = &maildirs[i];
		bool ok;

		snprintf(text, sizeof(text), "domains = example.org\n"
		    "mail_dir = %s\n", m->mail_dir);
		c = conf_load_mem("t.conf", text, strlen(text), stderr);
		CHECK(c != NULL);
		if (c == NULL)
			continue;
		memset(out, 'Z', sizeof(out));
		ok = conf_maildir_path(c, m->local, m->domain, out, m->outsz);
		if (ok != (m->want != NULL))
			fprintf(stderr, "maildirs[%zu]\n", i);
		CHECK(ok == (m->want != NULL));
		if (ok && m->want)
			CHECK_STR(out, m->want);
		if (m->outsz < sizeof(out))
			CHECK(out[m->outsz] == 'Z');	/* nothing past outsz */
		conf_free(&c);
	}
}

static void
test_local_domain(void)
{
	static const char text[] = "domains = example.org Example.NET\n";
	struct conf *c = conf_load_mem("t.conf", text, strlen(text), stderr);
	const char *s = "EXAMPLE.org.uk";

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(conf_is_local_domain(c, "example.org", 11));
	CHECK(conf_is_local_domain(c, "EXAMPLE.ORG", 11));
	CHECK(conf_is_local_domain(c, "example.net", 11));
	CHECK(conf_is_local_domain(c, s, 11));		/* not NUL-terminated */
	CHECK(!conf_is_local_domain(c, s, 14));
	CHECK(!conf_is_local_domain(c, s, 10));
	CHECK(!conf_is_local_domain(c, "example.or", 10));
	CHECK(!conf_is_local_domain(c, "", 0));
	CHECK(!conf_is_local_domain(c, "example.org\0x", 13));
	CHECK(!conf_is_local_domain(c, "example\0org", 11));
	CHECK(!conf_is_local_domain(c, "sub.example.org", 15));
	conf_free(&c);
}

static void
test_secret(void)
{
	char dir[] = "/tmp/conf_test.XXXXXX", path[64], err[256], want[256];
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/relay.secret", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd != -1);
	close(fd);
	CHECK(chmod(path, 0600) == 0);
	CHECK(conf_secret_file_ok(path, err, sizeof(err)));
	CHECK(chmod(path, 0400) == 0);
	CHECK(conf_secret_file_ok(path, err, sizeof(err)));
	CHECK(chmod(path, 0640) == 0);
	CHECK(!conf_secret_file_ok(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: expected a file only its owner can "
	    "read (chmod 600), got mode 0640", path);
	CHECK_STR(err, want);
	CHECK(chmod(path, 0604) == 0);
	CHECK(!conf_secret_file_ok(path, err, sizeof(err)));
	CHECK(chmod(path, 0620) == 0);
	CHECK(!conf_secret_file_ok(path, err, sizeof(err)));
	unlink(path);
	CHECK(!conf_secret_file_ok(path, err, sizeof(err)));
	CHECK(strstr(err, "expected a readable file") != NULL);
	CHECK(!conf_secret_file_ok(dir, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: expected a regular file", dir);
	CHECK_STR(err, want);
	rmdir(dir);
}

static void
test_addr_format(void)
{
	struct conf_addr a = { "0.0.0.0", 25 }, b = { "::1", 993 };
	char out[32];

	CHECK(conf_addr_format(&a, out, sizeof(out)));
	CHECK_STR(out, "0.0.0.0:25");
	CHECK(conf_addr_format(&b, out, sizeof(out)));
	CHECK_STR(out, "[::1]:993");
	CHECK(conf_addr_format(&b, out, 10));
	CHECK(!conf_addr_format(&b, out, 9));
}

/* test_example - conf/facteur.conf.example loads and sets every key */
static void
test_example(void)
{
	const char *src = getenv("FACTEUR_SRC");
	char path[4096];
	struct conf *c;

	snprintf(path, sizeof(path), "%s/conf/facteur.conf.example",
	    src && *src ? src : ".");
	if (access(path, R_OK) == -1) {
		fprintf(stderr, "%s: not found, run from the source root\n", path);
		CHECK(0);
		return;
	}
	c = conf_load(path, stderr);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	check_spec_common(c);
	CHECK(c->smtp.listen.n == 2);
	CHECK_STR(c->smtp.listen.v[1].host, "::");
	CHECK(c->smtp.timeout == 300);
	check_trusted_default(c);
	CHECK(c->smtp.nbackup_domains == 1 &&
	    conf_is_backup_domain(c, "Friend.Example", 14) &&
	    !conf_is_backup_domain(c, "friend.exampl", 13));
	CHECK(c->imap.max_literal == 35 * 1024 * 1024);
	CHECK(c->imap.timeout == 1800);
	CHECK(c->pop3.enabled && c->pop3.listen.n == 1 &&
	    c->pop3.listen.v[0].port == 995 && c->pop3.listen_starttls.n == 1 &&
	    c->pop3.timeout == 600);
	CHECK(c->queue.retry == 300 && c->queue.max_retry == 4 * 3600 &&
	    c->queue.expire == 5 * 86400);
	CHECK(!c->greylist.enable && c->greylist.delay == 300 &&
	    c->greylist.retry_window == 2 * 86400 &&
	    c->greylist.allow_time == 35 * 86400 && c->greylist.allow_clients &&
	    c->greylist.spf_skip);
	CHECK(c->acme.enabled && c->acme.http.port == 80 &&
	    strcmp(c->acme.http.host, "::") == 0 &&
	    c->acme.renew_before == 30 * 86400 && c->acme.webroot == NULL &&
	    c->acme.email != NULL && c->acme.nnames == 0);
	check_round_trip(c);
	conf_free(&c);
}

/* golden - one tests/golden/conf_test/CASE.in: errors or the dump, on stdout */
static int
golden(const char *path)
{
	char dir[4096], *slash;
	const char *base = path;
	struct conf *c;

	if ((slash = strrchr(path, '/')) != NULL) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (chdir(dir) == -1) {
			perror(dir);
			return 1;
		}
		base = slash + 1;
	}
	if ((c = conf_load(base, stdout)) == NULL)
		printf("refused\n");
	else
		conf_dump(c, stdout);
	conf_free(&c);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 2)
		return golden(argv[1]);
	test_bad();
	test_example();
	test_good();
	test_lines();
	test_file();
	test_milter_at();
	test_maildir();
	test_local_domain();
	test_secret();
	test_addr_format();
	return T_DONE();
}
