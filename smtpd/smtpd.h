/* SPDX-License-Identifier: ISC */
/*
 * smtpd.h - facteur-smtpd private structures and prototypes.
 *
 * Roles (one process each, one event loop each; SPEC 5, STYLE 5):
 *
 *   role     user        chroot         may open                 talks to
 *   -------  ----------  -------------  -----------------------  --------------
 *   parent   root        -              config, cert/key, binds  children
 *   smtp     user-smtp   run_dir/authd  nothing (fds from queue) queue, authd,
 *                                       greylist.db (handle)     DNS (inbound checks)
 *   queue    user-queue  state_dir/queue its own files           smtp, deliver,
 *                                                                 relay, parent
 *   deliver  user        -              Maildirs under mail_dir  queue
 *   relay    user-relay  run_dir/empty  network (outbound), DNS  queue
 *
 * (lib/priv.h.)  Only smtp keeps the TLS key, only relay the relay password.
 *
 * The parent binds every listener, loads the TLS certificate, creates the
 * socketpairs and forks the roles.  When smtp, queue, deliver or fetch
 * dies the parent stops the others and starts the set again with a
 * backoff: disk is the truth, so nothing accepted is lost and the queue
 * resumes at start.  The relay role is not part of the set: the parent
 * forks it when the queue asks (P_RELAY_START) and it exits after a
 * minute idle; if it dies, the queue takes back what it had in flight and
 * asks for another (started after a backoff when it crashed).
 * Started as an ordinary user nothing is dropped or chrooted (one warning).
 * Out of memory kills the role (x* allocators); the parent restarts it.
 */
#ifndef FACTEUR_SMTPD_H
#define FACTEUR_SMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "conf.h"
#include "ipc.h"

#define SMTP_CMD_MAX		512	/* RFC 5321 4.5.3.1.4, with CRLF */
#define SMTP_TEXT_MAX		1000	/* RFC 5321 4.5.3.1.6, with CRLF */
#define SMTP_PATH_MAX		256	/* RFC 5321 4.5.3.1.3 */
#define SMTP_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX		255	/* RFC 5321 4.5.3.1.2 */
#define QUEUE_ID_LEN		16

/* listener kinds (SPEC 3 [smtp]) */
enum smtp_port {
	PORT_MX,		/* listen: port 25, no AUTH needed to receive */
	PORT_SUBMISSION,	/* submission: STARTTLS, AUTH required */
	PORT_SUBMISSIONS,	/* submissions: implicit TLS, AUTH required */
	PORT_LOCAL,		/* run_dir/smtpd.sock: facteur-sendmail, trusted */
};

struct listener {
	int		 fd;
	enum smtp_port	 kind;
	char		 name[300];	/* "127.0.0.1:25" for logs */
};

/* IPC between the roles */
enum smtpd_ipc {
	Q_OPEN = 1,		/* smtp -> queue: a new message file, please;
				   u32 n: n files (id 0: the smtp role's spares) */
	Q_OPEN_OK,		/* queue -> smtp: fd + str qid, u64 size (a
				   recycled file holds an earlier message:
				   written over, queue_file.c) */
	Q_OPEN_FAIL,
	Q_COMMIT,		/* smtp -> queue: str qid, u64 size */
	Q_COMMIT_OK,		/* queue -> smtp: durable */
	Q_COMMIT_FAIL,		/* queue -> smtp: str reason */
	Q_ABORT,		/* smtp -> queue: str qid (no answer) */
	/*
	 * queue -> deliver: fd (the queue file), str qid, u32 rcpt index,
	 * str mailbox, str sender, str prepend, u64 msglen, u64 time (queued),
	 * u32 recovered (1: a delivery may have completed before a crash),
	 * u32 junk (1: into [inbound] junk_folder instead of INBOX).
	 */
	D_DELIVER = 20,
	D_RESULT,		/* deliver -> queue: str qid, u32 rcpt index, u32 res,
				   str text */
	/*
	 * queue -> relay: one message, its pending remote recipients.
	 *   fd: the queue file, read-only; its first msglen bytes are the
	 *       message in LF form (no dot-stuffing, "\n" line ends)
	 *   str qid, str from ("" = null sender), u64 msglen,
	 *   str prepend (header lines in LF form to send before the message,
	 *       e.g. DKIM-Signature; "" for none),
	 *   u32 n, n x (u32 rcpt index, str address)
	 * The relay answers one R_RESULT per recipient, then one R_DONE, all
	 * with the R_SEND's ipc id.  It closes the fd when done.
	 */
	R_SEND = 30,
	R_RESULT,		/* relay -> queue: u32 rcpt index, u32 res, str reply */
	R_DONE,			/* relay -> queue: nothing more for this R_SEND */
	/* facteur-ctl <-> queue, see queue_ctl.c */
	CTL_LIST = 40,
	CTL_FLUSH,
	CTL_REMOVE,
	CTL_STATUS,
	CTL_LINE,
	CTL_END,
	/*
	 * parent -> smtp and relay on SIGHUP with an unchanged configuration
	 * file (smtpd.c): the new certificate and key for new connections,
	 * the [relay] password reread.  Sessions in progress keep theirs.
	 */
	P_TLS_CERT = 50,	/* parent -> smtp: fd (certificate file), str path */
	P_TLS_KEY,		/* parent -> smtp: fd (key file), str path; load both */
	P_RELAY_PASSWORD,	/* parent -> relay: str password */
	/*
	 * The relay role runs on demand (smtpd.c): it exits once idle for
	 * RELAY_IDLE_EXIT_MS, and the queue, when remote mail is due and no
	 * relay is connected, asks the parent for a new one.  The queue can
	 * ask for nothing else; the parent forks the role as at start.
	 */
	P_RELAY_START = 60,	/* queue -> parent: start the relay role (empty) */
	P_RELAY_FD,		/* parent -> queue: fd, the new relay's channel */
};

#define CTL_SOCKET	"smtpd-ctl.sock"	/* in run_dir: facteur-ctl */
#define LOCAL_SOCKET	"smtpd.sock"		/* in run_dir: facteur-sendmail */

enum deliver_res {
	RES_OK = 0,
	RES_TEMPFAIL,
	RES_PERMFAIL,
};

/* smtpd.c */
extern struct conf	*smtpd_conf;
extern bool		 smtpd_privileged;	/* started as root */
/* the fetch role's uid: its sessions on smtpd.sock (EHLO facteur-fetch)
 * carry fetched mail, not a local account's (no From check, no DKIM) */
extern uid_t		 smtpd_fetch_uid;

/* smtp_cmd.c: command parsing, no I/O */
enum smtp_verb {
	CMD_UNKNOWN,
	CMD_HELO,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_VRFY,
	CMD_EXPN,
	CMD_HELP,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_BDAT,
};

/*
 * ONCE=KEY on MAIL FROM: the fetch role's name for a fetched message (32
 * lowercase hex digits), so that the queue takes it only once
 * (queue_once.c); accepted from the fetch role only.
 */
#define ONCE_KEY_LEN	32

struct smtp_path {
	char		 addr[SMTP_PATH_MAX + 1];	/* "" for the null path <> */
	size_t		 at;		/* index of '@' in addr, 0 if none */
	uint64_t	 size;		/* MAIL SIZE= (0 = not given) */
	bool		 body8;		/* BODY=8BITMIME */
	char		 once[ONCE_KEY_LEN + 1];	/* MAIL ONCE= ("" if none) */
};

enum smtp_verb	smtp_cmd_verb(const char *line, size_t len, const char **args_r);
/* smtp_cmd_path - parse "FROM:<a@b> PARAMS" / "TO:<a@b> PARAMS" (or a@b
 * without the brackets, as Postfix takes it).
 * Returns NULL on success, else the reply text to send (static). */
const char	*smtp_cmd_path(const char *args, bool mail, struct smtp_path *p);
bool		 smtp_cmd_valid_domain(const char *d, size_t len);
bool		 smtp_cmd_valid_helo(const char *s);

/* smtp_auth.c: AUTH response decoding, no I/O */
/* smtp_auth_b64 - strict base64 ("=" alone is empty); -1 if bad or too long */
int	 smtp_auth_b64(const char *in, char *out, size_t outsz, size_t *outlen);
/*
 * smtp_auth_plain - split a decoded PLAIN response (p holds len bytes and
 * room for one more) into user and password; NULL, or the reply to send.
 */
const char *smtp_auth_plain(char *p, size_t len, const char **user,
	    const char **pass);
/* smtp_auth_check - NULL if authd can take user/pass, else the reply */
const char *smtp_auth_check(const char *user, const char *pass);

/* smtp_data.c: DATA stream, no I/O */
#define DATA_ERR_BARE_LF	0x01
#define DATA_ERR_BARE_CR	0x02
#define DATA_ERR_NUL		0x04
#define DATA_ERR_LONG_LINE	0x08
#define DATA_ERR_TOO_BIG	0x10
#define DATA_ERR_LOOP		0x20	/* more than SMTP_HOPS_MAX Received */
/* RFC 5321 6.3: reject a message that has been through this many hops
 * (Received fields) already, "normally at least 100" */
#define SMTP_HOPS_MAX		100

struct smtp_data {
	int		 state;
	unsigned	 errors;	/* DATA_ERR_* seen so far */
	size_t		 linelen;
	bool		 body;		/* past the header's empty line */
	unsigned	 hmatch;	/* bytes of "Received:" starting the line */
	unsigned	 hops;		/* Received fields in the header */
	uint64_t	 size;		/* bytes of output (LF form) */
	uint64_t	 wire;		/* the same with CRLF: what max counts */
	uint64_t	 max;		/* max_size */
};

void	smtp_data_init(struct smtp_data *d, uint64_t max);
/*
 * smtp_data_feed - consume input up to and including the final
 * CRLF.CRLF; writes the unstuffed, LF-terminated message to `out`, which
 * must hold len + 1 bytes (a CR held back from the previous call may be
 * written with the next byte).  Returns bytes consumed; sets
 * *done_r when the end was seen and *outlen_r to the bytes written.
 */
size_t	smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
	    char *out, size_t *outlen_r, bool *done_r);
const char *smtp_data_error(unsigned errors);

/* smtp_server.c: the smtp role: listeners, session table, queue channel */
struct session;
/*
 * parent_fd: P_TLS_CERT and P_TLS_KEY from the parent (a reload);
 * cert_fd, key_fd: the [tls] pair, open (-1: no TLS), loaded when a
 * session first needs TLS
 */
void	smtp_server_run(struct listener *l, size_t nl, int queue_fd,
	    int parent_fd, int cert_fd, int key_fd) __attribute__((noreturn));
/*
 * smtp_server_tls - the server context, loaded from the [tls] files on
 * first use and freed a minute after the last session ended; NULL if
 * there is none or it does not load (logged).  A session that starts TLS
 * holds its own reference (through its SSL).
 */
SSL_CTX	*smtp_server_tls(void);
/* smtp_server_queue_send - a request to the queue for session s */
int	smtp_server_queue_send(struct session *s, uint32_t type,
	    const struct ipc_out *o);
void	smtp_server_session_done(struct session *s);

/* smtp_session_inbound.c: SPF, DKIM, DMARC of port 25 mail */
/* smtp_inbound_init - in the smtp role, before the chroot: DNS, the PSL */
void	smtp_inbound_init(void);
/* smtp_inbound_idle - no session for a while: free the loaded PSL */
void	smtp_inbound_idle(void);
/* smtp_session_grey.c: smtp_grey_init - before the chroot: greylist.db,
 * given to uid/gid ((uid_t)-1: not started as root) */
void	smtp_grey_init(uid_t uid, gid_t gid);

/* smtp_session.c: one SMTP server session */
/* tls: STARTTLS or implicit TLS are offered (smtp_server_tls) */
struct session	*smtp_session_new(int fd, const struct listener *l,
		    const char *addr, uint32_t id, bool tls);
void	smtp_session_free(struct session **sp);
/* smtp_session_trusted - a client of l from addr is in [smtp] trusted
 * (port 25 listeners only) */
bool	smtp_session_trusted(const struct listener *l, const char *addr);
uint32_t smtp_session_id(const struct session *s);
/* smtp_session_queue_reply - the queue answered request type for s */
void	smtp_session_queue_reply(struct session *s, struct ipc_msg *m);
/* smtp_session_shutdown - the server is stopping: 421 and close */
void	smtp_session_shutdown(struct session *s);

/* queue.c: the queue role; parent_fd: P_RELAY_START, P_RELAY_FD */
void	queue_run(int smtp_fd, int deliver_fd, int parent_fd, int ctl_fd)
	    __attribute__((noreturn));

/* queue_file.c: on-disk format, see the top of queue_file.c */
struct queue_rcpt {
	char		*addr;		/* where to deliver: a mailbox or remote address */
	char		*orig;		/* as given in RCPT TO */
	bool		 done;
};

/*
 * The prepend travels to the deliver and relay roles in one IPC message
 * (IPC_MAX_PAYLOAD, 16 KiB) beside the addresses: a longer one could
 * not be handed over, so queue_file.c neither writes nor reads it.
 */
#define QUEUE_PREPEND_MAX	(12 * 1024)

struct queue_env {
	char		 qid[QUEUE_ID_LEN + 1];
	int64_t		 time;
	char		*from;		/* "" for <> */
	char		*auth;		/* authenticated user or NULL */
	char		*ret;		/* the local mailbox bounces go to, or NULL */
	char		*client;
	char		*helo;
	char		*prepend;	/* header lines (LF form) added on the way out
					   (DKIM-Signature, Authentication-Results,
					   a milter's) or NULL; at most
					   QUEUE_PREPEND_MAX bytes */
	bool		 junk;		/* local copies go to the Junk folder */
	bool		 verified;	/* the sender is authenticated: AUTH, a local
					   uid, [smtp] trusted, or SPF pass at
					   reception; only then may a bounce go
					   back to it */
	char		 once[ONCE_KEY_LEN + 1];	/* fetched: its key, or "" */
	struct queue_rcpt *rcpt;
	size_t		 nrcpt;
	uint64_t	 msglen;	/* message bytes at the start of the file */
	uint32_t	 msgcrc;	/* writer: CRC-32 of the message bytes */
	/* reader (queue_file_parse_env): what the footer says */
	uint64_t	 envlen;	/* envelope bytes, before the footer */
	uint32_t	 crc;		/* CRC-32 of message and envelope */
	bool		 sum;		/* crc is there (FACTEUR-QUEUE-2) */
};

void	queue_id_new(char out[QUEUE_ID_LEN + 1]);
bool	queue_id_valid(const char *s);
/* queue_file_trailer - the trailer to append after msglen message bytes */
int	queue_file_trailer(struct buf *b, const struct queue_env *e);
/* queue_file_read_env - parse and validate the trailer of open file fd */
int	queue_file_read_env(int fd, struct queue_env *e, const char **err_r);
/* queue_file_read_env_size - the same, the file's size known (fstat) */
int	queue_file_read_env_size(int fd, uint64_t size, struct queue_env *e,
	    const char **err_r);
/* queue_file_verify - the message and envelope read back match the footer's CRC */
bool	queue_file_verify(int fd, uint64_t size, const struct queue_env *e,
	    const char **err_r);
/* once_key_ok - s[0..n) is a ONCE key: ONCE_KEY_LEN lowercase hex digits */
bool	once_key_ok(const char *s, size_t n);
int	queue_file_parse_env(const char *p, size_t len, uint64_t fsize,
	    struct queue_env *e, const char **err_r);
void	queue_env_free(struct queue_env *e);

/* deliver_maildir.c: the deliver role */
void	deliver_run(int queue_fd) __attribute__((noreturn));

/*
 * relay.c: the relay role (outbound SMTP: smarthost or MX via c-ares).
 * `relay_password` is the [relay] password read by the parent before
 * privileges were dropped (NULL without [relay] or without a login); the
 * role owns it and wipes it when P_RELAY_PASSWORD on parent_fd replaces it.
 * Results: RES_OK (sent), RES_TEMPFAIL (retry later), RES_PERMFAIL (bounce),
 * with the remote reply or the local reason as text.
 */
void	relay_run(int queue_fd, int parent_fd /* -1: none */,
	    char *relay_password) __attribute__((noreturn));
/*
 * The relay role exits (status 0) when it has had no job, no connection
 * and nothing unsent to the queue for this long; FACTEUR_RELAY_IDLE_MS
 * (tests only) changes it, 0 never exits.
 */
#define RELAY_IDLE_EXIT_MS	60000
/* relay_prepare - what needs files (resolver, SASL plugins, the CA file
 * opened for relay_tls): before the chroot; relay_run() does it if not
 * done (login: a password is set) */
void	relay_prepare(bool login);

#endif
