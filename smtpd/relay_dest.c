/* SPDX-License-Identifier: ISC */
/*
 * relay_dest.c - destinations of the relay role: the smarthost, or one
 * recipient domain.  A destination holds its resolved addresses (reused
 * for relay_timeouts.dns_ttl), its transactions waiting for a session,
 * and its sessions.  Work goes first to an idle connection (reuse), then
 * to new connections while more transactions wait than connections are
 * being set up (or finishing a RSET), up to RELAY_DEST_SESSIONS per destination and
 * RELAY_SESSIONS in all (an idle connection elsewhere is closed to make
 * room).  A destination with nothing waiting and no session is freed.
 *
 * Runs in the relay role as `user`; no I/O of its own.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmem.h"
#include "smtpd/relay.h"

static LIST_HEAD(, relay_dest) dests = LIST_HEAD_INITIALIZER(dests);

static void dest_kick(struct relay_dest *d);

static void
dest_free(struct relay_dest *d)
{
	struct relay_msg *m;

	relay_dns_cancel(d->dns);
	while ((m = TAILQ_FIRST(&d->queue)) != NULL) {
		TAILQ_REMOVE(&d->queue, m, entry);
		relay_msg_free(&m);
	}
	LIST_REMOVE(d, entry);
	free(d->addrs);
	free(d->name);
	free(d);
}

/* dest_gc - free d when nothing refers to it */
static void
dest_gc(struct relay_dest *d)
{
	if (d->nsess == 0 && d->nqueue == 0 && d->dns == NULL)
		dest_free(d);
}

static void
dest_on_dns(void *arg, enum deliver_res res, const char *err,
    struct relay_addr *addrs, size_t n)
{
	struct relay_dest *d = arg;

	d->dns = NULL;
	d->state = DEST_READY;
	if (res != RES_OK) {
		free(addrs);
		relay_dest_fail(d, res, err, NULL);
		dest_gc(d);
		return;
	}
	free(d->addrs);
	d->addrs = addrs;
	d->naddrs = n;
	d->resolved = ev_now();
	dest_kick(d);
	dest_gc(d);
}

static void
dest_resolve(struct relay_dest *d)
{
	const struct conf *c = relay_cfg.conf;

	d->state = DEST_RESOLVING;
	if (d->smarthost)
		d->dns = relay_dns_host(d->name, d->port, dest_on_dns, d);
	else if (conf_is_backup_domain(c, d->name, strlen(d->name)))
		d->dns = relay_dns_mx_backup(d->name, c->hostname, d->port,
		    dest_on_dns, d);
	else
		d->dns = relay_dns_mx(d->name, d->port, dest_on_dns, d);
}

static struct relay_dest *
dest_get(const char *name, bool smarthost)
{
	struct relay_dest *d;
	size_t i;

	LIST_FOREACH(d, &dests, entry)
		if (d->smarthost == smarthost && strcmp(d->name, name) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	if (!smarthost)		/* domains are case-insensitive */
		for (i = 0; d->name[i]; i++)
			d->name[i] = (char)tolower((unsigned char)d->name[i]);
	d->smarthost = smarthost;
	d->port = smarthost ? relay_cfg.conf->relay.port : relay_mx_port;
	TAILQ_INIT(&d->queue);
	LIST_INIT(&d->sessions);
	LIST_INSERT_HEAD(&dests, d, entry);
	dest_resolve(d);
	return d;
}

/* dest_coming - sessions that will take work soon (being set up, RSET) */
static size_t
dest_coming(const struct relay_dest *d)
{
	const struct relay_sess *s;
	size_t n = 0;

	LIST_FOREACH(s, &d->sessions, entry)
		if (relay_sess_coming(s))
			n++;
	return n;
}

/* dest_make_room - close one idle session anywhere; false if none */
static bool
dest_make_room(void)
{
	struct relay_dest *d;
	struct relay_sess *s;

	LIST_FOREACH(d, &dests, entry)
		LIST_FOREACH(s, &d->sessions, entry)
			if (relay_sess_idle(s)) {
				relay_sess_quit(s);
				return true;
			}
	return false;
}

static void
dest_kick(struct relay_dest *d)
{
	struct relay_sess *s;
	struct relay_msg *m;

	if (d->state == DEST_RESOLVING)
		return;
	LIST_FOREACH(s, &d->sessions, entry) {
		if (d->nqueue == 0)
			return;
		if (relay_sess_idle(s) && (m = relay_dest_next(d)) != NULL)
			relay_sess_start(s, m);
	}
	while (d->nqueue > dest_coming(d) && d->nsess < RELAY_DEST_SESSIONS) {
		if (d->naddrs == 0 ||
		    ev_now() - d->resolved > relay_timeouts.dns_ttl) {
			if (dest_coming(d) == 0)
				dest_resolve(d);	/* stale: look again first */
			return;
		}
		if (relay_cfg.nsess >= RELAY_SESSIONS) {
			(void)dest_make_room();	/* its end kicks us again */
			return;
		}
		(void)relay_sess_new(d);
	}
}

void
relay_dest_submit(struct relay_msg *m, const char *name, bool smarthost)
{
	struct relay_dest *d = dest_get(name, smarthost);

	m->dest = d;
	TAILQ_INSERT_TAIL(&d->queue, m, entry);
	d->nqueue++;
	dest_kick(d);
}

struct relay_msg *
relay_dest_next(struct relay_dest *d)
{
	struct relay_msg *m = TAILQ_FIRST(&d->queue);

	if (m != NULL) {
		TAILQ_REMOVE(&d->queue, m, entry);
		d->nqueue--;
	}
	return m;
}

void
relay_dest_requeue(struct relay_msg *m)
{
	struct relay_dest *d = m->dest;

	TAILQ_INSERT_HEAD(&d->queue, m, entry);
	d->nqueue++;
}

void
relay_dest_fail(struct relay_dest *d, enum deliver_res res, const char *text,
    const struct relay_sess *via)
{
	struct relay_msg *m;

	while ((m = relay_dest_next(d)) != NULL) {
		relay_msg_fail(m, res, text, via);
		relay_msg_free(&m);
	}
}

void
relay_dest_session_gone(struct relay_dest *d)
{
	struct relay_dest *o, *next;

	dest_kick(d);
	/* a connection slot is free: whoever waits for one may go */
	LIST_FOREACH(o, &dests, entry)
		if (o != d && o->nqueue > 0)
			dest_kick(o);
	for (o = LIST_FIRST(&dests); o != NULL; o = next) {
		next = LIST_NEXT(o, entry);
		dest_gc(o);
	}
}

void
relay_dest_shutdown(void)
{
	struct relay_dest *d;
	struct relay_sess *s;

	while ((d = LIST_FIRST(&dests)) != NULL) {
		while ((s = LIST_FIRST(&d->sessions)) != NULL)
			relay_sess_free(&s);
		d->nsess = 0;
		dest_free(d);
	}
}
