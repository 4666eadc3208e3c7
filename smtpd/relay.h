/* SPDX-License-Identifier: ISC */
/*
 * relay.h - the relay role's private structures (outbound SMTP client):
 * smarthost mode when [relay] is present, otherwise direct delivery to
 * each recipient domain's MX.  See relay.c for the role as a whole.
 *
 *   relay.c        role main loop: the queue channel, R_SEND -> jobs,
 *                  per-recipient results and log lines
 *   relay_dest.c   destinations (a domain, or the smarthost): DNS state,
 *                  waiting transactions, the session pool and reuse
 *   relay_smtp.c   one outbound SMTP session (connect, TLS, AUTH, MAIL...)
 *   relay_dns.c    c-ares on the event loop: MX with null MX, A/AAAA
 *   relay_sasl.c   libsasl2 client
 *   relay_reply.c  SMTP reply parser and EHLO keywords (no I/O)
 *   relay_data.c   LF -> CRLF + dot-stuffing encoder (no I/O)
 *
 * Out of memory kills the role (x* allocators); the queue takes back
 * what it had in flight and asks the parent for a new relay role.
 */
#ifndef FACTEUR_RELAY_H
#define FACTEUR_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "conn.h"
#include "ev.h"
#include "ipc.h"
#include "smtpd.h"

/* limits */
#define RELAY_DEST_SESSIONS	4	/* connections per destination */
#define RELAY_SESSIONS		32	/* connections in all */
#define RELAY_JOBS_MAX		1024	/* R_SENDs in progress (each holds an fd) */
#define RELAY_RCPT_PER_TX	100	/* RFC 5321 4.5.3.1.8 minimum */
#define RELAY_MX_MAX		10	/* MX hosts looked at */
#define RELAY_ADDR_MAX		16	/* addresses tried per destination */
#define RELAY_REUSE_MAX		1000	/* transactions per connection */
#define RELAY_IN_MAX		8192	/* reply bytes buffered */
#define RELAY_OUT_MAX		(256 * 1024)
#define RELAY_PUMP_BYTES	(64 * 1024)	/* DATA written per round */
#define RELAY_TEXT_MAX		512	/* reply text kept for results/logs */

/*
 * Timeouts in milliseconds (RFC 5321 4.5.3.2: 5 min for most replies,
 * 10 min after the final dot, 3 min per data block).  A struct so the
 * test driver can shorten them; the daemon never changes them.
 */
struct relay_timeouts {
	unsigned	connect;	/* TCP connect */
	unsigned	tls;		/* TLS handshake */
	unsigned	greeting;	/* 220 banner */
	unsigned	reply;		/* EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET */
	unsigned	data;		/* 354 to DATA */
	unsigned	block;		/* progress while sending the message */
	unsigned	dot;		/* reply to the final dot */
	unsigned	idle;		/* an idle connection is kept this long */
	unsigned	dns_ttl;	/* resolved addresses are reused this long */
	unsigned	exit;		/* the role exits idle this long (0: never) */
};
extern struct relay_timeouts relay_timeouts;
/* the SMTP port of MX hosts: 25, changed only by the test driver */
extern uint16_t relay_mx_port;

/* ---- relay_reply.c: SMTP replies and EHLO keywords, no I/O ------------ */

#define REPLY_LINE_MAX	2048	/* accepted reply line, without CRLF */
#define REPLY_LINES_MAX	200
#define REPLY_TEXT_MAX	4096	/* text kept, lines joined by '\n' */

enum reply_state {
	REPLY_MORE,		/* a continuation line: feed the next one */
	REPLY_DONE,		/* the last line: code and text are complete */
	REPLY_ERROR,		/* not an SMTP reply: drop the connection */
};

struct relay_reply {
	int		 code;		/* 200..599 */
	unsigned	 nlines;
	size_t		 len;		/* bytes in text */
	bool		 truncated;
	char		 text[REPLY_TEXT_MAX + 1];	/* printable ASCII */
};

struct relay_caps {
	bool		 esmtp;		/* EHLO was accepted */
	bool		 starttls;
	bool		 pipelining;
	bool		 eightbitmime;
	bool		 smtputf8;
	bool		 size_given;	/* SIZE advertised: send SIZE= */
	uint64_t	 size;		/* its limit, 0 = none given */
	char		 auth[256];	/* mechanisms, upper case, ' '-separated */
};

void	relay_reply_init(struct relay_reply *r);
/*
 * relay_reply_line - feed one reply line (without its CR LF).  On
 * REPLY_ERROR *err_r says why (static text).  Bytes outside printable
 * ASCII are stored as '?'.
 */
enum reply_state relay_reply_line(struct relay_reply *r, const char *line,
	    size_t len, const char **err_r);
/* relay_reply_format - "CODE line1 line2..." into out, cut to fit */
void	relay_reply_format(const struct relay_reply *r, char *out, size_t outsz);
/* relay_caps_parse - the keywords of a complete 250 reply to EHLO */
void	relay_caps_parse(const struct relay_reply *r, struct relay_caps *caps);

/* ---- relay_data.c: the message as sent after DATA, no I/O ------------- */

struct relay_enc {
	bool		 bol;		/* at the start of a line */
	bool		 cr;		/* a CR held back: CR LF or bare CR? */
};

struct relay_scan {
	uint64_t	 size;		/* bytes once LF became CR LF */
	bool		 eightbit;	/* a byte >= 0x80 anywhere */
	bool		 header8;	/* ... in the header (SMTPUTF8) */
	bool		 in_header;
	bool		 bol;
};

void	relay_enc_init(struct relay_enc *e);
/*
 * relay_enc_feed - LF-form input to SMTP DATA form: LF -> CR LF, a '.'
 * at a line start doubled (RFC 5321 4.5.2), CR LF kept as one line end,
 * a bare CR sent as a space (never a stray CR, STYLE 9).  `out` must hold
 * 2 * len + 1 bytes.  Returns the bytes written.
 */
size_t	relay_enc_feed(struct relay_enc *e, const char *in, size_t len, char *out);
/* relay_enc_end - close the last line if open, then ".\r\n"; out >= 6 bytes */
size_t	relay_enc_end(struct relay_enc *e, char *out);
void	relay_scan_init(struct relay_scan *s);
void	relay_scan_feed(struct relay_scan *s, const char *p, size_t n);

/* ---- relay_dns.c: c-ares on the event loop --------------------------- */

struct relay_addr {
	struct sockaddr_storage sa;
	socklen_t	 salen;
	char		 host[SMTP_DOMAIN_MAX + 1];	/* for SNI and logs */
	char		 ip[INET6_ADDRSTRLEN];
	bool		 literal;	/* from an address literal: no SNI */
};

/*
 * The answer: res RES_OK with n >= 1 addresses in the order to try
 * (the callee owns `addrs` and frees it), or RES_TEMPFAIL/RES_PERMFAIL
 * with an SMTP-style reason ("451 4.4.3 ...").  Never called from inside
 * the relay_dns_* call that asked.
 */
typedef void relay_dns_cb(void *arg, enum deliver_res res, const char *err,
	    struct relay_addr *addrs, size_t n);
struct relay_dns_q;

/* relay_dns_init - the resolver ([dns] resolver or /etc/resolv.conf) */
int	relay_dns_init(const struct conf *c);
void	relay_dns_shutdown(void);
/* relay_dns_mx - MX of domain (RFC 5321 5.1, RFC 7505), or a literal */
struct relay_dns_q *relay_dns_mx(const char *domain, uint16_t port,
	    relay_dns_cb *cb, void *arg);
/* relay_dns_mx_backup - the same for a domain we are backup MX for: only
 * the MX hosts better (lower preference) than `self`, never self; none
 * left is a temporary failure (the mail stays queued) */
struct relay_dns_q *relay_dns_mx_backup(const char *domain, const char *self,
	    uint16_t port, relay_dns_cb *cb, void *arg);
/* relay_dns_host - A/AAAA (or /etc/hosts, or an IP) of one host */
struct relay_dns_q *relay_dns_host(const char *host, uint16_t port,
	    relay_dns_cb *cb, void *arg);
/* relay_dns_cancel - the callback will not come */
void	relay_dns_cancel(struct relay_dns_q *q);
/* relay_dns_mx_order - sort MX preferences ascending, equal ones shuffled */
void	relay_dns_mx_order(unsigned *pref, size_t *idx, size_t n, uint32_t seed);

/* ---- relay_sasl.c: SMTP AUTH client through libsasl2 ----------------- */

struct relay_sasl;
int	relay_sasl_init(void);
void	relay_sasl_shutdown(void);
/*
 * relay_sasl_start - pick a mechanism among the server's (not ANONYMOUS,
 * EXTERNAL or Kerberos) and write "AUTH MECH [initial]\r\n" into out.
 * NULL with *err_r set when nothing fits.
 */
struct relay_sasl *relay_sasl_start(const char *host, const char *user,
	    const char *password, const char *server_mechs, unsigned ext_ssf,
	    struct buf *out, const char **mech_r, const char **err_r);
/* relay_sasl_step - answer a 334 challenge (base64 text) into out */
int	relay_sasl_step(struct relay_sasl *s, const char *chal, size_t len,
	    struct buf *out, const char **err_r);
void	relay_sasl_free(struct relay_sasl **sp);

/* ---- relay.c: jobs (one R_SEND each) and their results --------------- */

struct relay_rcpt {
	uint32_t	 index;		/* the queue's recipient index */
	char		*addr;
	bool		 done;
};

struct relay_job {
	uint32_t	 id;		/* the R_SEND's ipc id */
	int		 fd;		/* queue file; message in its first msglen bytes */
	char		 qid[QUEUE_ID_LEN + 1];
	char		*from;		/* "" = null sender */
	uint64_t	 msglen;
	char		*prepend;
	size_t		 prependlen;
	struct relay_scan scan;
	bool		 utf8from;
	uint64_t	 start;		/* ev_now() when it came */
	struct relay_rcpt *rcpt;
	size_t		 nrcpt;
	size_t		 open;		/* recipients without a result */
	size_t		 nmsg;		/* transactions still referring to it */
	LIST_ENTRY(relay_job) entry;
};

/* one SMTP transaction: some recipients of a job, one destination */
struct relay_msg {
	struct relay_job *job;
	struct relay_dest *dest;
	struct relay_rcpt **rcpt;
	size_t		 nrcpt;
	bool		 utf8;		/* an address is not ASCII */
	bool		 requeued;	/* once after a dead reused connection */
	TAILQ_ENTRY(relay_msg) entry;
};
TAILQ_HEAD(relay_msgq, relay_msg);

/*
 * relay_result - one recipient is finished: log line, R_RESULT, and the
 * job's R_DONE after its last.  `via` (may be NULL) names the session for
 * the log line.
 */
struct relay_sess;
void	relay_result(struct relay_job *j, struct relay_rcpt *r,
	    enum deliver_res res, const char *text, const struct relay_sess *via);
/* relay_msg_free - the transaction is over (its results were given) */
void	relay_msg_free(struct relay_msg **mp);
/* relay_msg_fail - every recipient of m without a result gets this one */
void	relay_msg_fail(struct relay_msg *m, enum deliver_res res,
	    const char *text, const struct relay_sess *via);

/* ---- relay_dest.c: destinations and the session pool ------------------ */

enum dest_state {
	DEST_RESOLVING,
	DEST_READY,
};

struct relay_dest {
	char		*name;		/* lower-case domain, or the smarthost */
	bool		 smarthost;
	uint16_t	 port;
	enum dest_state	 state;
	struct relay_dns_q *dns;
	struct relay_addr *addrs;
	size_t		 naddrs;
	uint64_t	 resolved;	/* ev_now() of the answer */
	struct relay_msgq queue;	/* transactions waiting for a session */
	size_t		 nqueue;
	size_t		 nsess;
	LIST_HEAD(, relay_sess) sessions;
	LIST_ENTRY(relay_dest) entry;
};

/* relay_dest_submit - queue a transaction for the smarthost or a domain */
void	relay_dest_submit(struct relay_msg *m, const char *name, bool smarthost);
/* relay_dest_next - a ready session asks for work: a transaction or NULL */
struct relay_msg *relay_dest_next(struct relay_dest *d);
/* relay_dest_requeue - put m back at the head (dead reused connection) */
void	relay_dest_requeue(struct relay_msg *m);
/* relay_dest_fail - no session could be set up: fail every waiting one */
void	relay_dest_fail(struct relay_dest *d, enum deliver_res res,
	    const char *text, const struct relay_sess *via);
/* relay_dest_session_gone - s was freed; start others if work waits */
void	relay_dest_session_gone(struct relay_dest *d);
/* relay_dest_shutdown - free every destination and session */
void	relay_dest_shutdown(void);

/* ---- relay_smtp.c: one outbound session ------------------------------ */

enum sess_state {
	S_CONNECT,		/* TCP connect in progress */
	S_TLS_WRAP,		/* implicit TLS handshake (port 465) */
	S_GREETING,
	S_EHLO,
	S_HELO,
	S_STARTTLS,		/* STARTTLS sent */
	S_TLS,			/* 220 to STARTTLS came: handshake next */
	S_AUTH,
	S_READY,		/* between transactions (idle when no msg) */
	S_MAIL,			/* waiting for the MAIL reply */
	S_RCPT,			/* ... for RCPT replies */
	S_DATA,			/* ... for the DATA reply (354) */
	S_BODY,			/* sending the message */
	S_DOT,			/* ... for the reply to the final dot */
	S_DOT_DISCARD,		/* 354 with no recipient: empty message sent */
	S_RSET,
	S_QUIT,			/* QUIT queued, closing */
	S_DEAD,			/* connection gone; the kick timer decides */
};

struct relay_sess {
	struct relay_dest *dest;
	LIST_ENTRY(relay_sess) entry;
	enum sess_state	 state;
	size_t		 ai;		/* index in dest->addrs being tried */
	struct relay_addr addr;		/* the address connected to */
	char		 peer[SMTP_DOMAIN_MAX + INET6_ADDRSTRLEN + 16];
	int		 fd;		/* while connecting, else -1 */
	struct ev_io	 cio;
	struct conn	 conn;
	bool		 conn_up;
	struct ev_timer	 timer;		/* the step's timeout, or idle */
	struct ev_timer	 kick;		/* work done outside conn callbacks */
	struct relay_reply reply;
	struct relay_caps caps;
	bool		 tls;
	bool		 trusted;
	bool		 plain;		/* opportunistic TLS failed: retry without */
	bool		 retry_same;	/* reconnect to the same address */
	bool		 tls_refused;	/* STARTTLS got an error reply */
	bool		 authed;
	bool		 ever_ready;
	bool		 quiet;		/* ending normally (QUIT, idle close) */
	char		 tlsdesc[96];
	struct relay_sasl *sasl;
	/* the failure to report when no address works */
	enum deliver_res err_res;
	int		 err_prio;
	char		 err[RELAY_TEXT_MAX];
	/* the transaction */
	struct relay_msg *msg;
	bool		*acc;		/* per recipient: RCPT accepted */
	size_t		 rcpt_sent;
	size_t		 rcpt_replies;
	size_t		 accepted;
	bool		 mail_ok;
	bool		 mail_replied;
	uint64_t	 off;		/* message bytes sent (prepend first) */
	struct relay_enc enc;
	unsigned	 ntx;		/* transactions on this connection */
};

/* relay_sess_new - connect to d's addresses from the first; works itself */
struct relay_sess *relay_sess_new(struct relay_dest *d);
/* relay_sess_idle - true when ready with no transaction (reusable) */
bool	relay_sess_idle(const struct relay_sess *s);
/* relay_sess_coming - being set up, or idle once its RSET is answered */
bool	relay_sess_coming(const struct relay_sess *s);
/* relay_sess_start - give an idle session a transaction */
void	relay_sess_start(struct relay_sess *s, struct relay_msg *m);
/* relay_sess_quit - QUIT and close an idle session */
void	relay_sess_quit(struct relay_sess *s);
/* relay_sess_free - immediately, without callbacks (shutdown) */
void	relay_sess_free(struct relay_sess **sp);
/* relay_sess_tls - "trusted TLSv1.3 CIPHER", "untrusted ...", "none" */
void	relay_sess_tls(const struct relay_sess *s, char *out, size_t outsz);

/* the role's configuration, set by relay_run */
struct relay_cfg {
	const struct conf *conf;
	const char	*password;	/* NULL: no AUTH */
	size_t		 nsess;		/* sessions alive, all destinations */
};
extern struct relay_cfg relay_cfg;

/*
 * relay_tls - the client TLS context, made when a session first needs
 * one (the CA file was opened before the chroot) and freed after a
 * minute without any (sessions keep their reference); NULL if it cannot
 * be made (logged)
 */
SSL_CTX	*relay_tls(void);

#endif
