/* SPDX-License-Identifier: ISC */
/*
 * spf_zone.c - runs SPF checks (lib/spf.c, the code the server runs)
 * against zone tables through lib/dns's backend hook: no DNS server.
 * Used by tests/integration/test_spf_suite.py (the RFC 7208 test suite)
 * and test_spf_crosscheck.py (against pyspf), which write its input:
 *
 *	S <section>			a new zone (the previous one is dropped)
 *	Z <name> <type> <data>		a record: type A AAAA MX PTR TXT SPF
 *					CNAME TIMEOUT; data in hex (text), or
 *					<pref> <hex host> for MX, "-" for TIMEOUT
 *	T <test> <hex ip> <hex helo> <hex mailfrom>	one check
 *
 * and prints one line per T: "<test> <result> <hex explanation>" (hex of
 * "-" if none), then the trace of each check on stderr when -v is given.
 * Zone semantics are those of the suite's drivers: a name's TXT answer is
 * its TXT records, else its SPF ones; TIMEOUT before any record of the
 * type asked is a timeout; CNAMEs are followed (as a resolver would);
 * a name not in the zone is NXDOMAIN; the cache is flushed between checks.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dns.h"
#include "ev.h"
#include "log.h"
#include "spf.h"
#include "xmem.h"

#define T_SPF		99
#define T_TIMEOUT	1000

struct zrec {
	char		*name;
	int		 type;
	char		*data;		/* text: TXT/SPF bytes, names, addresses */
	size_t		 len;
	unsigned	 pref;
};

static struct zrec *zone;
static size_t nzone;
static bool verbose;

static int
unhex(const char *h, char **out, size_t *len_r)
{
	size_t n = strlen(h), i;
	char *o;

	if (strcmp(h, "-") == 0)
		n = 0;
	if (n % 2)
		return -1;
	o = xmalloc(n / 2 + 1);
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		o[i] = (char)v;
	}
	o[n / 2] = '\0';
	*out = o;
	if (len_r != NULL)
		*len_r = n / 2;
	return 0;
}

static void
lower_nodot(char *s)
{
	size_t n = strlen(s), i;

	if (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	for (i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}

static int
type_of(const char *t)
{
	static const struct { const char *n; int t; } types[] = {
		{ "A", DNS_T_A }, { "AAAA", DNS_T_AAAA }, { "MX", DNS_T_MX },
		{ "PTR", DNS_T_PTR }, { "TXT", DNS_T_TXT }, { "SPF", T_SPF },
		{ "CNAME", DNS_T_CNAME }, { "TIMEOUT", T_TIMEOUT },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i].n) == 0)
			return types[i].t;
	return -1;
}

static void
zone_clear(void)
{
	size_t i;

	for (i = 0; i < nzone; i++) {
		free(zone[i].name);
		free(zone[i].data);
	}
	free(zone);
	zone = NULL;
	nzone = 0;
}

static bool
has(const char *name, int type)
{
	size_t i;

	for (i = 0; i < nzone; i++)
		if (strcmp(zone[i].name, name) == 0 && zone[i].type == type)
			return true;
	return false;
}

static void
add_rr(struct dns_answer *ans, const struct zrec *z, enum dns_type type)
{
	uint8_t a[16];

	switch (type) {
	case DNS_T_TXT:
		dns_answer_add_txt(ans, 300, z->data, z->len);
		break;
	case DNS_T_A:
	case DNS_T_AAAA:
		if (inet_pton(type == DNS_T_A ? AF_INET : AF_INET6, z->data, a) == 1)
			dns_answer_add_addr(ans, 300, type == DNS_T_A ? AF_INET :
			    AF_INET6, a);
		break;
	case DNS_T_MX:
		dns_answer_add_mx(ans, 300, (uint16_t)z->pref, z->data);
		break;
	default:
		dns_answer_add_name(ans, 300, type, z->data);
	}
}

static void
zone_query(void *ctx, const char *qname, enum dns_type type,
    struct dns_answer *ans)
{
	char name[300];
	bool found = false, any = false, txt;
	int hops, want;
	size_t i;

	(void)bstrcpy(name, qname, sizeof(name));
	for (hops = 0; type != DNS_T_CNAME; hops++) {
		for (i = 0; i < nzone; i++)
			if (strcmp(zone[i].name, name) == 0 &&
			    zone[i].type == DNS_T_CNAME)
				break;
		if (i == nzone)
			break;
		if (hops == 8) {			/* a loop: SERVFAIL */
			dns_answer_status(ans, DNS_TEMPFAIL, 0);
			return;
		}
		(void)bstrcpy(name, zone[i].data, sizeof(name));
		lower_nodot(name);
	}
	/* SPF records stand for TXT ones after every other record */
	txt = type == DNS_T_TXT && !has(name, DNS_T_TXT);
	want = txt ? T_SPF : (int)type;
	for (i = 0; i < nzone; i++) {
		if (strcmp(zone[i].name, name) != 0)
			continue;
		found = true;
		if (zone[i].type == T_TIMEOUT && !any) {
			dns_answer_status(ans, DNS_TEMPFAIL, 0);
			return;
		}
		if (zone[i].type == T_TIMEOUT)
			break;
		if (zone[i].type == want && !txt && strcmp(zone[i].data, "NONE")) {
			add_rr(ans, &zone[i], type);
			any = true;
		}
	}
	for (i = 0; txt && i < nzone; i++)
		if (strcmp(zone[i].name, name) == 0 && zone[i].type == T_SPF &&
		    strcmp(zone[i].data, "NONE") != 0) {
			add_rr(ans, &zone[i], type);
			any = true;
		}
	if (!found)
		dns_answer_status(ans, DNS_NXDOMAIN, 0);
	else if (!any)
		dns_answer_status(ans, DNS_NODATA, 0);
}

static bool got;
static char result_line[2048];

static void
on_spf(void *arg, const struct spf_result *r)
{
	const char *test = arg;
	const char *e = r->explanation[0] ? r->explanation : "-";
	size_t o, i;

	o = (size_t)snprintf(result_line, sizeof(result_line), "%s %s ", test,
	    spf_result_name(r->result));
	for (i = 0; e[i] && o + 3 < sizeof(result_line); i++)
		o += (size_t)snprintf(result_line + o, sizeof(result_line) - o,
		    "%02x", (unsigned char)e[i]);
	if (verbose)
		fprintf(stderr, "== %s: %s (%s)\n%s", test,
		    spf_result_name(r->result), r->problem, r->trace);
	got = true;
	ev_break();
}

static void
run_test(char *test, const char *hip, const char *hhelo, const char *hfrom)
{
	struct spf_request req;
	char *ip = NULL, *helo = NULL, *from = NULL;

	if (unhex(hip, &ip, NULL) == -1 || unhex(hhelo, &helo, NULL) == -1 ||
	    unhex(hfrom, &from, NULL) == -1) {
		printf("%s bad-input -\n", test);
		goto done;
	}
	memset(&req, 0, sizeof(req));
	req.ip = ip;
	req.helo = helo;
	req.mailfrom = from;
	req.trace = verbose;
	req.now = 1234567890;
	dns_cache_flush();
	got = false;
	(void)spf_check_start_req(&req, on_spf, test);
	(void)ev_run();
	printf("%s\n", got ? result_line : "no-result");
done:
	free(ip);
	free(helo);
	free(from);
}

int
main(int argc, char **argv)
{
	static const struct dns_backend backend = { zone_query, NULL };
	char line[70000], *f[6];
	FILE *in;
	size_t n;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = true;
		argc--;
		argv++;
	}
	if (argc != 2 || (in = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "usage: spf_zone [-v] FILE\n");
		return 2;
	}
	log_init("spf_zone", true, false);
	ev_init();
	dns_set_backend(&backend);
	spf_set_receiver("receiver.example");
	while (fgets(line, sizeof(line), in) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		n = 0;
		for (char *p = strtok(line, " "); p && n < 6; p = strtok(NULL, " "))
			f[n++] = p;
		if (n >= 1 && strcmp(f[0], "S") == 0)
			zone_clear();
		else if (n == 4 && strcmp(f[0], "Z") == 0) {
			struct zrec z;

			memset(&z, 0, sizeof(z));
			if (unhex(f[1], &z.name, NULL) == -1 ||
			    (z.type = type_of(f[2])) == -1 ||
			    unhex(f[3], &z.data, &z.len) == -1)
				return 2;
			lower_nodot(z.name);
			if (z.type == DNS_T_A || z.type == DNS_T_AAAA ||
			    z.type == DNS_T_CNAME)
				lower_nodot(z.data);
			zone = xreallocarray(zone, nzone + 1, sizeof(*zone));
			zone[nzone++] = z;
		} else if (n == 5 && strcmp(f[0], "Z") == 0) {	/* MX */
			struct zrec z;

			memset(&z, 0, sizeof(z));
			if (unhex(f[1], &z.name, NULL) == -1 ||
			    unhex(f[4], &z.data, &z.len) == -1)
				return 2;
			z.type = DNS_T_MX;
			z.pref = (unsigned)atoi(f[3]);
			lower_nodot(z.name);
			zone = xreallocarray(zone, nzone + 1, sizeof(*zone));
			zone[nzone++] = z;
		} else if (n == 5 && strcmp(f[0], "T") == 0)
			run_test(f[1], f[2], f[3], f[4]);
		else if (n > 0) {
			fprintf(stderr, "spf_zone: bad line: %s\n", f[0]);
			return 2;
		}
		fflush(stdout);
	}
	zone_clear();
	fclose(in);
	return 0;
}
