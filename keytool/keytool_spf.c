/* SPDX-License-Identifier: ISC */
/*
 * keytool_spf.c - `facteur-keytool spf IP MAILFROM [HELO]`: the SPF result
 * (RFC 7208) the server would get for mail from client IP with this MAIL
 * FROM (or, for an empty MAIL FROM "" or "<>", the HELO name), and the
 * chain of records and terms that led to it: lib/spf.c, the code the
 * server runs, over lib/dns with [dns] resolver (else /etc/resolv.conf).
 *
 * Runs as whoever calls it; reads nothing but the configuration; talks
 * only to the resolver.  Exit status: 0 when the check ran (whatever its
 * result, temperror included), 1 when the resolver cannot be set up, 2 on
 * bad arguments.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "dns.h"
#include "ev.h"
#include "spf.h"
#include "xmem.h"
#include "keytool/keytool.h"

static void
on_spf(void *arg, const struct spf_result *r)
{
	const char *t, *nl;

	printf("result: %s\n", spf_result_name(r->result));
	printf("identity: %s (%s)\n", spf_identity_name(r->identity), r->sender);
	printf("domain: %s\n", r->domain);
	if (r->mechanism[0])
		printf("decided by: %s\n", r->mechanism);
	if (r->explanation[0])
		printf("explanation: %s\n", r->explanation);
	if (r->problem[0])
		printf("problem: %s\n", r->problem);
	printf("Authentication-Results: spf=%s smtp.%s=%s\n",
	    spf_result_name(r->result), spf_identity_name(r->identity),
	    r->identity == SPF_ID_HELO ? r->domain : r->sender);
	printf("\nrecords and terms evaluated:\n");
	for (t = r->trace; *t; t = nl + 1) {
		if ((nl = strchr(t, '\n')) == NULL)
			nl = t + strlen(t) - 1;
		printf("  %.*s\n", (int)(nl - t), t);
	}
	*(bool *)arg = true;
	ev_break();
}

/* mailfrom_arg - "<a@b>" -> "a@b", "<>" -> "" into out */
static bool
mailfrom_arg(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n >= outsz)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

int
keytool_cmd_spf(const struct conf *c, int argc, char **argv)
{
	struct spf_request req;
	char from[1024];
	uint8_t bin[16];
	bool done = false;

	if (argc < 3 || argc > 4)
		return keytool_bad_arg("spf", argc < 3 ? NULL : argv[4]);
	if (inet_pton(AF_INET, argv[1], bin) != 1 &&
	    inet_pton(AF_INET6, argv[1], bin) != 1) {
		fprintf(stderr, "facteur-keytool: spf: %s is not an IP address\n",
		    argv[1]);
		return KEYTOOL_USAGE;
	}
	if (!mailfrom_arg(argv[2], from, sizeof(from))) {
		fprintf(stderr, "facteur-keytool: spf: MAIL FROM too long\n");
		return KEYTOOL_USAGE;
	}
	if (from[0] == '\0' && (argc < 4 || argv[3][0] == '\0')) {
		fprintf(stderr, "facteur-keytool: spf: an empty MAIL FROM is "
		    "checked as postmaster@HELO: give HELO\n");
		return KEYTOOL_USAGE;
	}
	ev_init();
	if (dns_init(c->dns.resolver_set ? &c->dns.resolver : NULL) == -1) {
		fprintf(stderr, "facteur-keytool: spf: no DNS resolver (see "
		    "[dns] resolver in %s)\n", c->file);
		return KEYTOOL_FAIL;
	}
	spf_set_receiver(c->hostname);
	memset(&req, 0, sizeof(req));
	req.ip = argv[1];
	req.mailfrom = from;
	req.helo = argc == 4 ? argv[3] : "";
	req.trace = true;
	(void)spf_check_start_req(&req, on_spf, &done);
	(void)ev_run();
	dns_shutdown();
	return done ? KEYTOOL_OK : KEYTOOL_FAIL;
}
