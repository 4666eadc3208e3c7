/* SPDX-License-Identifier: ISC */
/*
 * climit.c - per-client connection counts and the accept() back-off (see
 * climit.h).
 *
 * Runs in smtpd-smtp and imapd-login, as `user`.  The table is a small
 * hash of address keys to counts, entries freed when their count drops to
 * zero, so it holds at most one entry per open connection.  Never exits;
 * out of memory refuses the connection (climit_take returns false).
 */
#include <sys/mman.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "climit.h"
#include "log.h"
#include "xmem.h"

#define CLIMIT_BUCKETS	256

struct climit_entry {
	struct climit_entry *next;
	unsigned	 n;
	char		 key[CLIMIT_KEY_MAX];
};

struct climit {
	struct climit_entry *b[CLIMIT_BUCKETS];
};

void
climit_addr_key(const char *ip, char *key, size_t keysz)
{
	struct in6_addr a;

	/* one attacker holds a whole IPv6 /64: count it as one address */
	if (inet_pton(AF_INET6, ip, &a) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			if (inet_ntop(AF_INET, a.s6_addr + 12, key,
			    (socklen_t)keysz) != NULL)
				return;
		} else {
			memset(a.s6_addr + 8, 0, 8);
			if (inet_ntop(AF_INET6, &a, key, (socklen_t)keysz) != NULL &&
			    strlen(key) + 3 < keysz) {
				strncat(key, "/64", keysz - strlen(key) - 1);
				return;
			}
		}
	}
	(void)bstrcpy(key, ip, keysz);
}

struct climit *
climit_new(void)
{
	return xcalloc(1, sizeof(struct climit));
}

void
climit_free(struct climit **tp)
{
	struct climit *t = *tp;
	struct climit_entry *e;
	size_t i;

	if (t == NULL)
		return;
	*tp = NULL;
	for (i = 0; i < CLIMIT_BUCKETS; i++)
		while ((e = t->b[i]) != NULL) {
			t->b[i] = e->next;
			free(e);
		}
	free(t);
}

/* climit_find - the entry of ip (its key in key), and its bucket */
static struct climit_entry **
climit_find(const struct climit *t, const char *ip, char key[CLIMIT_KEY_MAX])
{
	struct climit_entry *const *ep;
	uint32_t h = 2166136261u;	/* FNV-1a */
	const char *p;

	climit_addr_key(ip, key, CLIMIT_KEY_MAX);
	for (p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (ep = &t->b[h % CLIMIT_BUCKETS]; *ep != NULL; ep = &(*ep)->next)
		if (strcmp((*ep)->key, key) == 0)
			break;
	return (struct climit_entry **)ep;
}

struct climit_rate_slot {
	uint64_t	 start;		/* ms: start of its minute */
	unsigned	 n;
	char		 key[CLIMIT_KEY_MAX];
};

struct climit_rate {
	struct climit_rate_slot s[CLIMIT_RATE_SLOTS];
};

/*
 * an anonymous mapping: zero, and resident only where slots were used
 * (80 KiB that an idle smtp role would otherwise carry)
 */
struct climit_rate *
climit_rate_new(void)
{
	void *p = mmap(NULL, sizeof(struct climit_rate), PROT_READ |
	    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fatal("climit_rate_new");
	return p;
}

void
climit_rate_free(struct climit_rate **rp)
{
	if (*rp != NULL)
		(void)munmap(*rp, sizeof(struct climit_rate));
	*rp = NULL;
}

bool
climit_rate_take(struct climit_rate *r, const char *ip, unsigned per_minute,
    uint64_t now_ms)
{
	char key[CLIMIT_KEY_MAX];
	struct climit_rate_slot *s;
	uint32_t h = 2166136261u;	/* FNV-1a */
	const char *p;

	if (per_minute == 0)
		return true;
	climit_addr_key(ip, key, sizeof(key));
	for (p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	s = &r->s[h % CLIMIT_RATE_SLOTS];
	if (strcmp(s->key, key) != 0 || now_ms - s->start >= 60000) {
		if (strcmp(s->key, key) != 0 && s->n >= per_minute &&
		    now_ms - s->start < 60000)
			return true;	/* a busy slot of another key: let it be */
		memcpy(s->key, key, sizeof(s->key));
		s->start = now_ms;
		s->n = 0;
	}
	if (s->n >= per_minute)
		return false;
	s->n++;
	return true;
}

bool
climit_take(struct climit *t, const char *ip, unsigned max)
{
	char key[CLIMIT_KEY_MAX];
	struct climit_entry **ep = climit_find(t, ip, key), *e = *ep;

	if (e == NULL) {
		if (max == 0 || (e = calloc(1, sizeof(*e))) == NULL)
			return false;
		memcpy(e->key, key, sizeof(e->key));
		*ep = e;
	} else if (e->n >= max)
		return false;
	e->n++;
	return true;
}

void
climit_release(struct climit *t, const char *ip)
{
	char key[CLIMIT_KEY_MAX];
	struct climit_entry **ep = climit_find(t, ip, key), *e = *ep;

	if (e == NULL)
		return;
	if (--e->n == 0) {
		*ep = e->next;
		free(e);
	}
}

unsigned
climit_count(const struct climit *t, const char *ip)
{
	char key[CLIMIT_KEY_MAX];
	struct climit_entry **ep = climit_find(t, ip, key);

	return *ep != NULL ? (*ep)->n : 0;
}

static void
climit_pause_end(struct ev_timer *t, void *arg)
{
	struct climit_pause *p = arg;

	(void)t;
	p->resume(p->arg);
}

void
climit_pause_init(struct climit_pause *p, void (*stop)(void *),
    void (*resume)(void *), void *arg)
{
	memset(p, 0, sizeof(*p));
	p->stop = stop;
	p->resume = resume;
	p->arg = arg;
	ev_timer_init(&p->t, climit_pause_end, p);
}

bool
climit_accept_failed(struct climit_pause *p, int err, const char *what)
{
	uint64_t now = ev_now();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return false;
	if (p->logged == 0 || now - p->logged >= CLIMIT_LOG_MS) {
		errno = err;
		log_warn("accept on %s (%u more since the last report); not "
		    "accepting for %d ms", what, p->quiet, CLIMIT_PAUSE_MS);
		p->logged = now;
		p->quiet = 0;
	} else
		p->quiet++;
	p->stop(p->arg);
	ev_timer_add(&p->t, CLIMIT_PAUSE_MS);
	return true;
}
