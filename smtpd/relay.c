/* SPDX-License-Identifier: ISC */
/*
 * relay.c - the relay role of facteur-smtpd: outbound SMTP (SPEC 5).
 *
 * Forked by the parent, which calls relay_prepare() as root (c-ares reads
 * /etc/resolv.conf, libsasl2 loads its plugins, both at init) and then
 * chroots the role into run_dir/empty as user-relay (lib/priv.h): names
 * only in /etc/hosts are not seen, the CA file was opened before the
 * chroot and is loaded (OpenSSL initialised) only when a session first
 * wants TLS (relay_tls), and freed after a minute without.  Talks
 * only to the queue role, over one socketpair (smtpd.h R_SEND, R_RESULT,
 * R_DONE).  Holds the [relay] password given by the parent, never logs
 * it; never opens queue files itself (each R_SEND brings its fd).
 *
 * Each R_SEND becomes a job; its recipients are grouped by destination
 * (the smarthost, or each recipient's domain) into transactions of at
 * most RELAY_RCPT_PER_TX recipients, handed to relay_dest.c.  Every
 * recipient gets exactly one R_RESULT and one log line:
 *
 *   relay: qid=Q to=<rcpt> relay=host[ip]:port tls=trusted TLSv1.3 CIPHER
 *       delay=1.2s status=sent (250 2.0.0 Ok: queued as X)
 *
 * then the job's R_DONE, and its fd is closed.  Result texts start with
 * an SMTP code and enhanced status, the server's or our own ("451 4.4.1
 * connect to ...: Connection refused").  A malformed R_SEND is logged and
 * answered with R_DONE alone; the queue treats missing results as
 * temporary.  When the queue closes the channel the role exits (the
 * parent restarts the set).
 *
 * On demand (issue 17): the parent forks the role when the queue asks
 * for it, and the role exits with status 0 once it has been idle for
 * relay_timeouts.exit (RELAY_IDLE_EXIT_MS): no job, no connection kept
 * for reuse, nothing written to the queue still unsent.  An R_SEND that
 * crosses the exit is never started here; the queue sees the channel
 * close, takes back every R_SEND without its R_DONE and asks for a new
 * relay role, so nothing is lost or sent twice by the exit.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "strnum.h"
#include "tls.h"
#include "xmem.h"
#include "smtpd/relay.h"

#define SCAN_CHUNK	65536

struct relay_cfg relay_cfg;
struct relay_timeouts relay_timeouts = {
	.connect = 30 * 1000,
	.tls = 60 * 1000,
	.greeting = 5 * 60 * 1000,
	.reply = 5 * 60 * 1000,
	.data = 2 * 60 * 1000,
	.block = 3 * 60 * 1000,
	.dot = 10 * 60 * 1000,
	.idle = 5 * 1000,
	.dns_ttl = 5 * 60 * 1000,
	.exit = RELAY_IDLE_EXIT_MS,
};
uint16_t relay_mx_port = 25;

static struct ipc relay_ipc;
static LIST_HEAD(, relay_job) relay_jobs = LIST_HEAD_INITIALIZER(relay_jobs);
static size_t relay_njobs;
static bool relay_stopping;
static struct ev_timer relay_idle_timer;
static uint64_t relay_busy_at;	/* ev_now() when it last had work */

static const char *const relay_status[] = {
	[RES_OK] = "sent", [RES_TEMPFAIL] = "deferred", [RES_PERMFAIL] = "bounced",
};

/* ---- results ------------------------------------------------------- */

static void
relay_job_free(struct relay_job *j)
{
	size_t i;

	LIST_REMOVE(j, entry);
	relay_njobs--;
	relay_busy_at = ev_now();
	if (j->fd != -1)
		close(j->fd);
	for (i = 0; i < j->nrcpt; i++)
		free(j->rcpt[i].addr);
	free(j->rcpt);
	free(j->from);
	free(j->prepend);
	free(j);
}

/* relay_job_check - R_DONE once no transaction refers to the job */
static void
relay_job_check(struct relay_job *j)
{
	struct ipc_out o;
	size_t i;

	if (j->nmsg > 0)
		return;
	for (i = 0; i < j->nrcpt; i++)	/* cannot happen; never leave one out */
		relay_result(j, &j->rcpt[i], RES_TEMPFAIL,
		    "451 4.3.0 no result (internal error)", NULL);
	if (!relay_stopping) {
		ipc_out_init(&o);
		(void)ipc_send(&relay_ipc, R_DONE, j->id, -1, &o);
	}
	relay_job_free(j);
}

void
relay_result(struct relay_job *j, struct relay_rcpt *r, enum deliver_res res,
    const char *text, const struct relay_sess *via)
{
	char esc[RELAY_TEXT_MAX], to[SMTP_PATH_MAX * 4 + 1], tls[128];
	struct ipc_out o;
	uint64_t ms = ev_now() - j->start;

	if (r->done || relay_stopping)
		return;
	r->done = true;
	j->open--;
	relay_sess_tls(via, tls, sizeof(tls));
	log_info("relay: qid=%s to=<%s> relay=%s tls=%s delay=%llu.%llus "
	    "status=%s (%s)", j->qid, log_escape(to, sizeof(to), r->addr,
	    strlen(r->addr)), via ? via->peer : "none", tls,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000 / 100),
	    relay_status[res], log_escape(esc, sizeof(esc), text, strlen(text)));
	ipc_out_init(&o);
	ipc_put_u32(&o, r->index);
	ipc_put_u32(&o, (uint32_t)res);
	ipc_put_strn(&o, text, strnlen(text, RELAY_TEXT_MAX - 1));
	(void)ipc_send(&relay_ipc, R_RESULT, j->id, -1, &o);
}

void
relay_msg_fail(struct relay_msg *m, enum deliver_res res, const char *text,
    const struct relay_sess *via)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++)
		relay_result(m->job, m->rcpt[i], res, text, via);
}

void
relay_msg_free(struct relay_msg **mp)
{
	struct relay_msg *m = *mp;
	struct relay_job *j;

	if (m == NULL)
		return;
	*mp = NULL;
	j = m->job;
	free(m->rcpt);
	free(m);
	j->nmsg--;
	relay_job_check(j);
}

/* ---- R_SEND ------------------------------------------------------- */

static bool
relay_utf8(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/*
 * relay_addr_ok - an address we can put in MAIL/RCPT: bounded, no
 * control characters or brackets, local@domain.  The queue checked it on
 * the way in; this keeps a broken queue file from injecting commands.
 */
static bool
relay_addr_ok(const char *a, bool empty_ok, const char **domain_r)
{
	size_t n = strlen(a), i;
	const char *at = strrchr(a, '@');

	if (n == 0)
		return empty_ok;
	if (n > SMTP_PATH_MAX || at == NULL || at == a || at[1] == '\0' ||
	    strlen(at + 1) > SMTP_DOMAIN_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
			return false;
	}
	for (i = 1; at[i]; i++) {	/* no space or '/' in the domain either */
		if (at[i] == ' ' || at[i] == '/' || at[i] == '\\')
			return false;
	}
	if (domain_r != NULL)
		*domain_r = at + 1;
	return true;
}

/* relay_scan_job - size and 8-bit content for MAIL parameters */
static int
relay_scan_job(struct relay_job *j)
{
	static char chunk[SCAN_CHUNK];
	uint64_t at = 0;

	relay_scan_init(&j->scan);
	relay_scan_feed(&j->scan, j->prepend, j->prependlen);
	while (at < j->msglen) {
		uint64_t want = j->msglen - at;
		ssize_t r = pread(j->fd, chunk, want > SCAN_CHUNK ? SCAN_CHUNK :
		    (size_t)want, (off_t)at);

		if (r <= 0)
			return -1;
		relay_scan_feed(&j->scan, chunk, (size_t)r);
		at += (uint64_t)r;
	}
	return 0;
}

/* relay_job_fail - every recipient of a job that cannot start */
static void
relay_job_fail(struct relay_job *j, enum deliver_res res, const char *text)
{
	size_t i;

	for (i = 0; i < j->nrcpt; i++)
		relay_result(j, &j->rcpt[i], res, text, NULL);
}

/* relay_job_split - recipients into transactions per destination */
static void
relay_job_split(struct relay_job *j)
{
	const struct conf *c = relay_cfg.conf;
	struct relay_msg **msgs = xcalloc(j->nrcpt, sizeof(*msgs));
	const char **names = xcalloc(j->nrcpt, sizeof(*names));
	bool *smart = xcalloc(j->nrcpt, sizeof(*smart)), viasmart;
	size_t nmsgs = 0, i, k;

	for (i = 0; i < j->nrcpt; i++) {
		struct relay_rcpt *r = &j->rcpt[i];
		const char *domain;
		struct relay_msg *m = NULL;

		if (!relay_addr_ok(r->addr, false, &domain)) {
			relay_result(j, r, RES_PERMFAIL,
			    "501 5.1.3 bad recipient address syntax", NULL);
			continue;
		}
		/* a domain we back up goes to its own better MX hosts,
		 * never through the smarthost (README, Backup MX) */
		viasmart = c->relay.enabled &&
		    !conf_is_backup_domain(c, domain, strlen(domain));
		if (viasmart)
			domain = c->relay.host;
		for (k = 0; k < nmsgs; k++)
			if (smart[k] == viasmart &&
			    strcasecmp(names[k], domain) == 0 &&
			    msgs[k]->nrcpt < RELAY_RCPT_PER_TX)
				m = msgs[k];
		if (m == NULL) {
			m = xcalloc(1, sizeof(*m));
			m->job = j;
			m->rcpt = xcalloc(RELAY_RCPT_PER_TX, sizeof(*m->rcpt));
			j->nmsg++;
			names[nmsgs] = domain;
			smart[nmsgs] = viasmart;
			msgs[nmsgs++] = m;
		}
		m->rcpt[m->nrcpt++] = r;
		m->utf8 |= relay_utf8(r->addr);
	}
	for (k = 0; k < nmsgs; k++)
		relay_dest_submit(msgs[k], names[k], smart[k]);
	free(smart);
	free(names);
	free(msgs);
}

/* relay_parse - the R_SEND payload into a new job; NULL if malformed */
static struct relay_job *
relay_parse(struct ipc_msg *m)
{
	struct relay_job *j = xcalloc(1, sizeof(*j));
	const char *qid, *from, *prepend, *addr;
	size_t qlen, flen, plen, alen;
	uint32_t n, i;

	j->id = m->hdr.id;
	j->fd = m->fd;
	m->fd = -1;
	j->start = ev_now();
	LIST_INSERT_HEAD(&relay_jobs, j, entry);
	relay_njobs++;
	if (!ipc_get_str(m, &qid, &qlen) || !ipc_get_str(m, &from, &flen) ||
	    !ipc_get_u64(m, &j->msglen) || !ipc_get_str(m, &prepend, &plen) ||
	    !ipc_get_u32(m, &n) || n == 0 || n > IPC_MAX_PAYLOAD / 8)
		goto fail;
	j->from = xstrdup(from);
	j->prepend = xstrdup(prepend);
	j->prependlen = plen;
	if (qlen == 0 || !bstrcpy(j->qid, qid, sizeof(j->qid)))
		goto fail;
	for (i = 0; i < qlen; i++)	/* it goes into every log line */
		if (!isalnum((unsigned char)qid[i]))
			goto fail;
	j->rcpt = xcalloc(n, sizeof(*j->rcpt));
	for (i = 0; i < n; i++) {
		if (!ipc_get_u32(m, &j->rcpt[i].index) ||
		    !ipc_get_str(m, &addr, &alen))
			goto fail;
		j->rcpt[i].addr = xstrdup(addr);
		j->nrcpt++;
	}
	if (!ipc_get_end(m) || j->fd == -1)
		goto fail;
	j->open = j->nrcpt;
	return j;
fail:
	log_warnx("relay: malformed R_SEND from the queue (id %u)", m->hdr.id);
	for (i = 0; i < j->nrcpt; i++)
		j->rcpt[i].done = true;	/* nothing to say but R_DONE */
	relay_job_check(j);
	return NULL;
}

static void
relay_send(struct ipc_msg *m)
{
	struct relay_job *j;
	struct stat st;

	if ((j = relay_parse(m)) == NULL)
		return;
	j->nmsg++;		/* hold the job while it is being set up */
	j->utf8from = relay_utf8(j->from);
	if (!relay_addr_ok(j->from, true, NULL))
		relay_job_fail(j, RES_PERMFAIL, "501 5.1.7 bad sender address syntax");
	else if (relay_njobs > RELAY_JOBS_MAX)
		relay_job_fail(j, RES_TEMPFAIL, "451 4.3.2 relay busy, try later");
	else if (fstat(j->fd, &st) == -1 || (uint64_t)st.st_size < j->msglen ||
	    relay_scan_job(j) == -1)
		relay_job_fail(j, RES_TEMPFAIL, "451 4.3.0 cannot read the queue file");
	else
		relay_job_split(j);
	j->nmsg--;
	relay_job_check(j);
}

/* ---- the role --------------------------------------------------------- */

static void
relay_on_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	if (m->hdr.type == R_SEND) {
		relay_send(m);
		return;
	}
	log_warnx("relay: unexpected message type %u from the queue",
	    m->hdr.type);
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
}

/*
 * relay_idle - the exit timer: the role leaves once it has had nothing
 * to do for relay_timeouts.exit.  A connection kept for reuse closes
 * after relay_timeouts.idle, so it only delays the exit.
 */
static void
relay_idle(struct ev_timer *t, void *arg)
{
	uint64_t now = ev_now(), quiet;

	(void)arg;
	if (relay_njobs > 0 || relay_cfg.nsess > 0 ||
	    ipc_pending(&relay_ipc) > 0)
		relay_busy_at = now;
	quiet = now - relay_busy_at;
	if (quiet < relay_timeouts.exit) {
		ev_timer_add(t, relay_timeouts.exit - quiet);
		return;
	}
	log_info("relay: idle for %u s, exiting (the queue asks for a new "
	    "relay role when it has mail to send)", relay_timeouts.exit / 1000);
	ev_break();
}

/* relay_idle_init - the exit delay: FACTEUR_RELAY_IDLE_MS, for tests */
static void
relay_idle_init(void)
{
	const char *env = getenv("FACTEUR_RELAY_IDLE_MS"), *err;
	long long v;

	if (env != NULL) {
		v = strnum(env, 0, 24LL * 3600 * 1000, &err);
		if (err == NULL)
			relay_timeouts.exit = (unsigned)v;
		else
			log_warnx("relay: FACTEUR_RELAY_IDLE_MS %s", err);
	}
	relay_busy_at = ev_now();
	ev_timer_init(&relay_idle_timer, relay_idle, NULL);
	if (relay_timeouts.exit > 0)
		ev_timer_add(&relay_idle_timer, relay_timeouts.exit);
}

static void
relay_on_close(struct ipc *ch, void *arg)
{
	log_info("relay: the queue closed the channel, exiting");
	ev_break();
}

/* relay_shutdown - free everything; no result is sent any more */
static void
relay_shutdown(void)
{
	struct relay_job *j;

	relay_stopping = true;
	relay_dest_shutdown();
	while ((j = LIST_FIRST(&relay_jobs)) != NULL)
		relay_job_free(j);
	relay_dns_shutdown();
	relay_sasl_shutdown();
	ipc_close(&relay_ipc);
}

static bool relay_prepared;
static int relay_ca_fd = -1;
static SSL_CTX *relay_tls_ctx;
static struct ev_timer relay_tls_timer;

#define RELAY_TLS_IDLE_MS	60000

static void
relay_tls_idle(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	SSL_CTX_free(relay_tls_ctx);	/* open sessions hold their own */
	relay_tls_ctx = NULL;
	malloc_trim(0);
}

/* the verification settings of the smarthost apply to MX hosts too */
SSL_CTX *
relay_tls(void)
{
	const struct conf *c = smtpd_conf;

	if (relay_tls_ctx == NULL) {
		relay_tls_ctx = tls_client_ctx_fd(c->relay.enabled &&
		    c->relay.verify, relay_ca_fd, tls_ca_name(c->relay.enabled ?
		    c->relay.ca_file : NULL));
		if (relay_tls_ctx == NULL)
			return NULL;
		ev_timer_init(&relay_tls_timer, relay_tls_idle, NULL);
	}
	ev_timer_add(&relay_tls_timer, RELAY_TLS_IDLE_MS);
	return relay_tls_ctx;
}

void
relay_prepare(bool login)
{
	const struct conf *c = smtpd_conf;

	if (relay_prepared)
		return;
	relay_prepared = true;
	relay_ca_fd = tls_ca_open(c->relay.enabled ? c->relay.ca_file : NULL);
	if (c->relay.enabled && c->relay.user != NULL && login)
		(void)relay_sasl_init();	/* if it fails, AUTH fails: deferred */
	(void)relay_dns_init(c);		/* if it fails, lookups defer */
}

static struct ipc relay_parent;
static char *relay_pw;		/* owned; relay_cfg.password points to it */

/* relay_parent_msg - P_RELAY_PASSWORD: the parent reread password_file */
static void
relay_parent_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	const char *pw;
	size_t n;

	if (m->fd != -1)
		close(m->fd);
	if (m->hdr.type != P_RELAY_PASSWORD || !ipc_get_str(m, &pw, &n) ||
	    !ipc_get_end(m) || n == 0) {
		log_warnx("relay: unexpected message %u from the parent",
		    m->hdr.type);
		return;
	}
	if (relay_pw != NULL) {
		wipe(relay_pw, strlen(relay_pw));
		free(relay_pw);
	}
	relay_pw = xstrdup(pw);
	relay_cfg.password = relay_pw;
	log_info("reload: relay password reread for %s (sessions already "
	    "logged in keep going)", smtpd_conf->relay.host);
}

static void
relay_parent_closed(struct ipc *ch, void *arg)
{
	ipc_close(ch);
}

void
relay_run(int queue_fd, int parent_fd, char *relay_password)
{
	const struct conf *c = smtpd_conf;

	relay_cfg.conf = c;
	relay_pw = relay_password;
	relay_cfg.password = relay_pw;
	relay_prepare(relay_password != NULL);
	ipc_init(&relay_ipc, queue_fd, relay_on_msg, relay_on_close, NULL);
	if (parent_fd != -1) {
		ipc_init(&relay_parent, parent_fd, relay_parent_msg,
		    relay_parent_closed, NULL);
		ipc_secret(&relay_parent);
	}
	if (c->relay.enabled)
		log_info("relay: ready, smarthost %s:%u tls=%s verify=%s%s%s",
		    c->relay.host, (unsigned)c->relay.port,
		    c->relay.tls == CONF_TLS_STARTTLS ? "starttls" :
		    c->relay.tls == CONF_TLS_IMPLICIT ? "implicit" : "none",
		    c->relay.verify ? "yes" : "no",
		    c->relay.user ? " user=" : "", c->relay.user ? c->relay.user : "");
	else
		log_info("relay: ready, direct delivery to MX hosts (port %u)",
		    (unsigned)relay_mx_port);
	relay_idle_init();
	malloc_trim(0);		/* what start-up freed */
	if (ev_run() == -1)
		log_warnx("relay: event loop failed");
	relay_shutdown();
	exit(0);
}
