/* SPDX-License-Identifier: ISC */
/*
 * keytool_dns.c - `facteur-keytool dns`: every DNS record to publish for
 * every local domain, in zone-file syntax with comments: MX, A/AAAA of the
 * host name, SPF, DKIM (one TXT per [dkim] sign line), DMARC, the RFC 6186
 * / RFC 8314 SRV records for mail clients, and Thunderbird's autoconfig
 * file.  Reads the DKIM private keys (to derive the public half), so it
 * runs as the administrator; prints nothing secret.
 *
 * Ports: the SRV records and the autoconfig file name the standard port
 * of each service offered (submission 587, submissions 465, imap 143,
 * imaps 993, pop3 110, pop3s 995: RFC 6186, RFC 8314), not the port
 * facteur listens on.  They are read by clients outside, which reach
 * the public ports; a box behind a router listens on others (2587 for
 * 587, as `setup` makes it without root) and the router forwards them.
 * Where a listen port differs, a comment at the top lists the forwards
 * to make.  A service is offered when it has a listen address other
 * machines can reach: a wildcard (0.0.0.0, [::]) or any address but
 * loopback; one with none (no listen address, or only 127.0.0.0/8, ::1,
 * localhost: IMAP for a webmail on the same box) gets the "not offered"
 * SRV record (RFC 6186 3.4), stays out of the autoconfig file and needs
 * no forward.  Loopback and public addresses together: offered.
 *
 * SPF with [relay]: outgoing mail leaves from the provider's machines,
 * not from the smarthost name we submit to.  When the relay host resolves,
 * the record printed is built and evaluated by the doctor's SPF code
 * (doctor_spf.c): `include:` of the relay host's parent domain (the usual
 * place of a provider's SPF policy) when it has a record that passes for
 * the smarthost, else `a:HOST`, else its addresses, with `~all`; so it
 * is never a permerror.  Offline, we print that include as a guess, and
 * say to check the provider's documentation and to run the doctor.  Without a relay, mail leaves from this host,
 * which is the MX: `mx -all`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "conf.h"
#include "dkim.h"
#include "xmem.h"
#include "keytool/keytool_dkim.h"
#include "keytool/doctor.h"

#define TXT_CHUNK	255	/* RFC 1035 3.3.14: one character-string */

/* the public ports clients use (RFC 6186, RFC 8314 7.3) */
#define PORT_SMTP		25
#define PORT_SUBMISSION		587
#define PORT_SUBMISSIONS	465
#define PORT_IMAP		143
#define PORT_IMAPS		993
#define PORT_POP3		110
#define PORT_POP3S		995

bool
keytool_dkim_owner(char *out, size_t outsz, const char *domain,
    const char *selector)
{
	return bsnprintf(out, outsz, "%s._domainkey.%s.", selector, domain);
}

void
keytool_txt_print(const char *owner, const char *value)
{
	size_t len = strlen(value), i;

	if (len <= TXT_CHUNK) {
		printf("%-40s IN TXT  \"%s\"\n", owner, value);
		return;
	}
	printf("; longer than 255 bytes: web panels take it as one string,\n");
	printf("%-40s IN TXT  \"%s\"\n", owner, value);
	printf("; zone files need it split into strings of at most 255 bytes:\n");
	printf("%-40s IN TXT  ", owner);
	for (i = 0; i < len; i += TXT_CHUNK)
		printf("%s\"%.*s\"", i ? " " : "", (int)(len - i < TXT_CHUNK ?
		    len - i : TXT_CHUNK), value + i);
	printf("\n");
}

/* relay_spf_domain - "provider.example" of "smtp.provider.example" */
static const char *
relay_spf_domain(const char *host)
{
	const char *dot = strchr(host, '.');

	if (dot != NULL && strchr(dot + 1, '.') != NULL)
		return dot + 1;
	return host;
}

static void
print_dkim(const struct conf *c, const char *domain)
{
	const struct conf_dkim_sign *cs;
	char owner[300], err[512];
	enum dkim_alg alg;
	char *txt;
	size_t i;
	bool any = false;

	for (i = 0; i < c->dkim.nsign; i++) {
		cs = &c->dkim.sign[i];
		if (strcasecmp(cs->domain, domain) != 0)
			continue;
		any = true;
		err[0] = '\0';
		if (!keytool_dkim_owner(owner, sizeof(owner), cs->domain, cs->selector))
			continue;
		if (keytool_dkim_txt(cs->keyfile, &alg, &txt, err, sizeof(err)) == -1) {
			printf("; DKIM %s: cannot read the key (%s):\n;   run "
			    "facteur-keytool dkim generate %s %s\n", owner, err,
			    cs->domain, cs->selector);
			continue;
		}
		printf("; DKIM selector %s (%s)\n", cs->selector, dkim_alg_name(alg));
		keytool_txt_print(owner, txt);
		free(txt);
	}
	if (!any)
		printf("; DKIM: no [dkim] sign line for %s: run facteur-keytool "
		    "dkim generate %s SELECTOR\n", domain, domain);
}

bool
keytool_reachable(const struct conf_addr *a)
{
	size_t n = strlen(a->host);

	/* RFC 6761 6.3: localhost and names under it are loopback */
	if (strcasecmp(a->host, "localhost") == 0 || (n > 10 &&
	    strcasecmp(a->host + n - 10, ".localhost") == 0))
		return false;
	return !cidr_loopback(a->host);
}

bool
keytool_offered(const struct conf_addrs *as)
{
	size_t i;

	for (i = 0; i < as->n; i++)
		if (keytool_reachable(&as->v[i]))
			return true;
	return false;
}

/*
 * srv - one SRV record naming the standard port, or "0 0 0 ." (service
 * not offered, RFC 6186 3.4)
 */
static void
srv(const char *service, const char *domain, const struct conf_addrs *a,
    unsigned port, const char *host)
{
	char owner[300];

	snprintf(owner, sizeof(owner), "_%s._tcp.%s.", service, domain);
	if (keytool_offered(a))
		printf("%-40s IN SRV  0 1 %u %s.\n", owner, port, host);
	else
		printf("%-40s IN SRV  0 0 0 .\n", owner);
}

/*
 * forward_to - the port a router must forward the standard port std to:
 * that of the first reachable listen address, or 0 when the service is
 * not offered or a reachable address listens on std already
 */
static unsigned
forward_to(const struct conf_addrs *as, unsigned std)
{
	unsigned to = 0;
	size_t i;

	for (i = 0; i < as->n; i++) {
		if (!keytool_reachable(&as->v[i]))
			continue;
		if (as->v[i].port == std)
			return 0;
		if (to == 0)
			to = as->v[i].port;
	}
	return to;
}

bool
keytool_forwards(const struct conf *c, const char *lead)
{
	const struct {
		const struct conf_addrs *a;
		unsigned port;
	} svc[] = {
		{ &c->smtp.listen, PORT_SMTP },
		{ &c->smtp.submission, PORT_SUBMISSION },
		{ &c->smtp.submissions, PORT_SUBMISSIONS },
		{ &c->imap.listen, PORT_IMAPS },
		{ &c->imap.listen_starttls, PORT_IMAP },
		{ &c->pop3.listen, PORT_POP3S },
		{ &c->pop3.listen_starttls, PORT_POP3 },
	};
	size_t i, n = c->pop3.enabled ? 7 : 5;
	unsigned to;
	bool any = false;

	for (i = 0; i < n; i++) {
		if ((to = forward_to(svc[i].a, svc[i].port)) == 0)
			continue;
		if (!any)
			printf("%s;  ", lead);
		printf("%s %u -> %u", any ? "," : "", svc[i].port, to);
		any = true;
	}
	if (any)
		printf("\n");
	return any;
}

/* xml_server - one server of the autoconfig file */
static void
xml_server(const char *dir, const char *type, const char *host,
    unsigned port, const char *socket)
{
	printf("    <%sServer type=\"%s\">\n"
	    "      <hostname>%s</hostname>\n      <port>%u</port>\n"
	    "      <socketType>%s</socketType>\n"
	    "      <authentication>password-cleartext</authentication>\n"
	    "      <username>%%EMAILADDRESS%%</username>\n"
	    "    </%sServer>\n", dir, type, host, port, socket, dir);
}

static void
print_autoconfig(const struct conf *c, const char *domain)
{
	const char *h = c->hostname;
	bool imap = keytool_offered(&c->imap.listen);
	bool pop3 = c->pop3.enabled && keytool_offered(&c->pop3.listen);
	bool subs = keytool_offered(&c->smtp.submissions);
	bool sub = keytool_offered(&c->smtp.submission);

	if (!imap && !pop3 && !subs && !sub) {
		printf("; Thunderbird autoconfig: none, no mail program on "
		    "another machine can\n;   reach this one (no public IMAP, "
		    "POP3 or submission address)\n");
		return;
	}
	printf("; Thunderbird autoconfig: serve this file as\n"
	    ";   https://autoconfig.%s/mail/config-v1.1.xml  or\n"
	    ";   https://%s/.well-known/autoconfig/mail/config-v1.1.xml\n",
	    domain, domain);
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<clientConfig version=\"1.1\">\n"
	    "  <emailProvider id=\"%s\">\n"
	    "    <domain>%s</domain>\n"
	    "    <displayName>%s mail</displayName>\n", domain, domain, domain);
	if (imap)
		xml_server("incoming", "imap", h, PORT_IMAPS, "SSL");
	if (pop3)
		xml_server("incoming", "pop3", h, PORT_POP3S, "SSL");
	if (subs)
		xml_server("outgoing", "smtp", h, PORT_SUBMISSIONS, "SSL");
	if (sub)
		xml_server("outgoing", "smtp", h, PORT_SUBMISSION, "STARTTLS");
	printf("  </emailProvider>\n</clientConfig>\n");
}

static void
print_domain(const struct conf *c, const char *d)
{
	char owner[300], spf[2048];
	const char *h = c->hostname;

	snprintf(owner, sizeof(owner), "%s.", d);
	printf(";\n; ===== %s =====\n;\n", d);
	printf("; mail for %s is received by %s\n", d, h);
	printf("%-40s IN MX   10 %s.\n", owner, h);
	if (c->relay.enabled && doctor_spf_relay(c, d, spf, sizeof(spf))) {
		printf("; SPF: mail leaves through the smarthost %s; this record "
		    "passes\n;   for its addresses today (evaluated now; "
		    "facteur-keytool doctor\n;   checks it again once "
		    "published)\n", c->relay.host);
		printf("%-40s IN TXT  \"%s\"\n", owner, spf);
	} else if (c->relay.enabled) {
		printf("; SPF: mail leaves through the smarthost %s; its provider's"
		    " SPF is\n;   usually include:%s - check the provider's"
		    " documentation for\n;   the exact include (a:%s would cover"
		    " only the submission server);\n;   %s could not be "
		    "checked now (no DNS answer):\n;   run facteur-keytool doctor"
		    " once it is published\n", c->relay.host,
		    relay_spf_domain(c->relay.host), c->relay.host, c->relay.host);
		printf("%-40s IN TXT  \"v=spf1 mx include:%s ~all\"\n", owner,
		    relay_spf_domain(c->relay.host));
	} else {
		printf("; SPF: mail leaves from this host, which is the MX\n");
		printf("%-40s IN TXT  \"v=spf1 mx -all\"\n", owner);
	}
	print_dkim(c, d);
	printf("; DMARC: reports go to postmaster@%s; start with p=none if you"
	    " are unsure\n", d);
	snprintf(owner, sizeof(owner), "_dmarc.%s.", d);
	printf("%-40s IN TXT  \"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"\n",
	    owner, d);
	printf("; mail clients find the servers (RFC 6186, RFC 8314)\n");
	srv("submission", d, &c->smtp.submission, PORT_SUBMISSION, h);
	srv("submissions", d, &c->smtp.submissions, PORT_SUBMISSIONS, h);
	srv("imaps", d, &c->imap.listen, PORT_IMAPS, h);
	srv("imap", d, &c->imap.listen_starttls, PORT_IMAP, h);
	if (c->pop3.enabled) {		/* RFC 6186: POP3 is preferred less */
		srv("pop3s", d, &c->pop3.listen, PORT_POP3S, h);
		srv("pop3", d, &c->pop3.listen_starttls, PORT_POP3, h);
	}
	print_autoconfig(c, d);
}

/* print_backup - what the owner of a domain we back up must publish */
static void
print_backup(const struct conf *c, const char *d)
{
	char owner[300];

	snprintf(owner, sizeof(owner), "%s.", d);
	printf(";\n; ===== %s (we are its backup MX) =====\n;\n", d);
	printf("; its owner keeps the primary MX at a better (lower) preference"
	    " and adds\n; this server at a worse one; facteur holds the mail"
	    " while the primary\n; is down and hands it over when it is back\n");
	printf(";%-39s IN MX   10 PRIMARY.\n", owner);
	printf("%-40s IN MX   20 %s.\n", owner, c->hostname);
}

int
keytool_cmd_dns(const struct conf *c, int argc, char **argv)
{
	char owner[300];
	size_t i;

	if (argc != 1)
		return keytool_bad_arg("dns", argv[1]);
	printf("; DNS records for facteur on %s (from %s)\n", c->hostname, c->file);
	printf("; replace 192.0.2.1 by this server's public IPv4 address\n");
	snprintf(owner, sizeof(owner), "%s.", c->hostname);
	printf("%-40s IN A    192.0.2.1\n", owner);
	printf("; and if the server is reachable over IPv6:\n;%-39s IN AAAA "
	    "2001:db8::1\n", owner);
	printf("; reverse DNS (PTR) of these addresses should name %s: ask your"
	    " ISP\n", c->hostname);
	keytool_forwards(c, "; the records below name the standard ports, "
	    "which clients and other\n; servers reach from outside; facteur "
	    "listens on others here: forward\n; them on the router (public "
	    "port -> this machine's):\n");
	for (i = 0; i < c->ndomains; i++)
		print_domain(c, c->domains[i]);
	for (i = 0; i < c->smtp.nbackup_domains; i++)
		print_backup(c, c->smtp.backup_domains[i]);
	return 0;
}
