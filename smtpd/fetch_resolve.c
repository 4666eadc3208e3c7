/* SPDX-License-Identifier: ISC */
/*
 * fetch_resolve.c - the addresses of a [fetch] account's server, asked of
 * `[dns] resolver` when the configuration names one (as every other
 * lookup of smtpd does), else of the system's resolver (getaddrinfo:
 * /etc/hosts, /etc/resolv.conf).
 *
 * Runs in the fetch role, which blocks on its connections anyway: the
 * c-ares channel is made for one lookup, waited for with dns_wait()
 * (lib/dns_wait.c: select(2); c-ares bounds it: FETCH_DNS_TIMEOUT_MS per
 * try, FETCH_DNS_TRIES tries) and destroyed.  Errors are returned and explained in `why`, never fatal.
 */
#include <sys/socket.h>

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ares.h>

#include "conf.h"
#include "dns_wait.h"
#include "smtpd/fetch_int.h"

#define FETCH_DNS_TIMEOUT_MS	5000
#define FETCH_DNS_TRIES		2

static const struct conf_addr *fetch_resolver;	/* NULL: getaddrinfo */

void
fetch_resolve_set(const struct conf_addr *resolver)
{
	fetch_resolver = resolver;
}

/* add - one address into out[], if there is room and it fits */
static void
add(struct fetch_addr *out, size_t max, size_t *n, const struct sockaddr *sa,
    socklen_t len)
{
	if (*n >= max || len > sizeof(out[*n].ss))
		return;
	memcpy(&out[*n].ss, sa, len);
	out[*n].len = len;
	(*n)++;
}

static int
by_system(const char *host, const char *port, struct fetch_addr *out,
    size_t max, size_t *n_r, char *why, size_t whysz)
{
	struct addrinfo hints, *res, *ai;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, whysz, "cannot resolve %s: %s", host,
		    gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		add(out, max, n_r, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

struct ares_wait {
	bool			 done;
	int			 status;
	struct ares_addrinfo	*ai;
};

static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct ares_wait *w = arg;

	(void)timeouts;
	w->done = true;
	w->status = status;
	w->ai = ai;
}

static int
by_resolver(const char *host, const char *port, struct fetch_addr *out,
    size_t max, size_t *n_r, char *why, size_t whysz)
{
	struct ares_addrinfo_hints hints;
	struct ares_addrinfo_node *nd;
	struct ares_options o;
	struct ares_wait w = { false, ARES_ETIMEOUT, NULL };
	ares_channel ch;
	char csv[300];
	int st;

	memset(&o, 0, sizeof(o));
	o.timeout = FETCH_DNS_TIMEOUT_MS;
	o.tries = FETCH_DNS_TRIES;
	if ((st = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS ||
	    (st = ares_init_options(&ch, &o, ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES)) != ARES_SUCCESS) {
		snprintf(why, whysz, "cannot resolve %s: %s", host,
		    ares_strerror(st));
		return -1;
	}
	if (!conf_addr_format(fetch_resolver, csv, sizeof(csv)) ||
	    (st = ares_set_servers_ports_csv(ch, csv)) != ARES_SUCCESS) {
		snprintf(why, whysz, "[dns] resolver %s: %s",
		    fetch_resolver->host, ares_strerror(st));
		ares_destroy(ch);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	ares_getaddrinfo(ch, host, port, &hints, on_addrinfo, &w);
	dns_wait(ch, &w.done);
	ares_destroy(ch);	/* an unfinished lookup ends: ARES_EDESTRUCTION */
	if (w.status != ARES_SUCCESS || w.ai == NULL) {
		snprintf(why, whysz, "cannot resolve %s with [dns] resolver "
		    "%s: %s", host, csv, ares_strerror(w.status));
		ares_freeaddrinfo(w.ai);
		return -1;
	}
	for (nd = w.ai->nodes; nd != NULL; nd = nd->ai_next)
		add(out, max, n_r, nd->ai_addr, nd->ai_addrlen);
	ares_freeaddrinfo(w.ai);
	return 0;
}

int
fetch_resolve(const char *host, uint16_t port, struct fetch_addr *out,
    size_t max, size_t *n_r, char *why, size_t whysz)
{
	char p[8];
	int r;

	*n_r = 0;
	snprintf(p, sizeof(p), "%u", (unsigned)port);
	r = fetch_resolver != NULL ?
	    by_resolver(host, p, out, max, n_r, why, whysz) :
	    by_system(host, p, out, max, n_r, why, whysz);
	if (r == 0 && *n_r == 0) {
		snprintf(why, whysz, "cannot resolve %s: no address", host);
		return -1;
	}
	return r;
}
