/* SPDX-License-Identifier: ISC */
/*
 * smtp_session.h - the state of one SMTP server session, shared by the
 * files that implement it: smtp_session.c (I/O, command dispatch),
 * smtp_session_data.c (DATA into the queue), smtp_session_auth.c (AUTH and
 * the sender checks of submission), smtp_session_dkim.c (signing of
 * submissions), smtp_session_inbound.c (SPF, DKIM, DMARC of port 25 mail),
 * smtp_session_grey.c (greylisting).
 *
 * A session is a small state machine.  Commands are read one CRLF line at
 * a time; a command that needs an answer from authd or the queue puts the
 * session in S_WAIT, which stops reading: pipelined commands stay in the
 * input buffer and run, in order, when the answer came.
 */
#ifndef FACTEUR_SMTP_SESSION_H
#define FACTEUR_SMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "authc.h"
#include "conn.h"
#include "dkim.h"
#include "smtpd.h"
#include "smtpd/authres.h"

#define SESSION_IN_MAX		16384
#define SESSION_OUT_MAX		16384
#define SASL_LINE_MAX		2048	/* AUTH lines: base64 of user + password */

enum session_state {
	S_CMD,		/* reading command lines */
	S_AUTH,		/* reading a SASL response line */
	S_WAIT,		/* waiting for authd or the queue; not reading */
	S_DATA,		/* reading the message */
	S_SCREEN,	/* port 25 before the final 220 (screen.c): no command runs */
};

enum auth_step {
	AUTH_NONE,
	AUTH_PLAIN,	/* 334 sent, waiting for the PLAIN response */
	AUTH_LOGIN_USER,
	AUTH_LOGIN_PASS,
};

struct session_rcpt {
	char		*addr;	/* mailbox (local) or the remote address */
	char		*orig;	/* as given in RCPT TO */
};

struct session {
	struct conn	 c;
	uint32_t	 id;
	const struct listener *l;
	bool		 tls_avail;	/* smtp_server_tls() has a context */
	char		 addr[64];	/* client IP */
	bool		 trusted;	/* port 25 from [smtp] trusted: not
					 * screened, greylisted, limited per
					 * address or checked (SPF, DKIM,
					 * DMARC); relaying still refused */
	char		 helo[SMTP_DOMAIN_MAX + 1];
	bool		 esmtp;
	bool		 tls;
	char		 tls_info[128];	/* "TLSv1.3 TLS_AES_..." */
	enum session_state state;
	bool		 closing;
	bool		 skipping;	/* discarding the rest of an over-long line */
	uint32_t	 authc_id;	/* pending authd request, 0 = none */

	/* deadlines that bytes do not extend (smtp_session.c) */
	struct ev_timer	 deadline;	/* this command, DATA, or TLS handshake */
	const char	*deadline_what;
	struct ev_timer	 login_timer;	/* until MAIL (25) or AUTH (587/465) */

	/* AUTH (smtp_session_auth.c) */
	enum auth_step	 auth_step;
	char		*auth_user;	/* after 235: the canonical user */
	char		*login_user;	/* AUTH LOGIN: user between the two steps */
	char		**senders;	/* addresses the user may send as */
	size_t		 nsenders;
	bool		 local_unknown;	/* uid not in the accounts read at start */
	/* authd's grant for this session: what DKIM_SIGN must show */
	uint8_t		 grant[AUTHD_GRANT_LEN];
	bool		 have_grant;

	/* the transaction */
	bool		 have_from;
	struct smtp_path from;
	char		*pending_rcpt;	/* RCPT waiting for authd */
	char		*ret;		/* local mailbox for bounces (queue_env.ret) */
	struct session_rcpt *rcpts;
	size_t		 nrcpt;
	size_t		 nrcpt_tried;	/* counts refused ones too (max_rcpt) */

	/* DATA (smtp_session_data.c) */
	int		 qfd;		/* the queue file, -1 */
	char		 qid[QUEUE_ID_LEN + 1];
	struct smtp_data d;
	uint64_t	 written;	/* bytes in the queue file */
	uint64_t	 qsize;		/* its size when handed over (a recycled
					   file: the earlier message, written over) */
	uint32_t	 qcrc;		/* CRC-32 of the message written so far */
	struct buf	 qhead;		/* Received, written with the first bytes
					 * of the message (qwrite) */
	const char	*data_error;	/* local failure while writing */
	struct dkim_sign *dkim;		/* signing this message (submission) */
	char		*prepend;	/* DKIM-Signature header(s), LF form */
	struct sign_round *sign_round;	/* DKIM requests out */
	struct inbound	*inbound;	/* checks of this transaction, or NULL */
	bool		 junk;		/* deliver into the Junk folder */
	bool		 spf_pass;	/* MAIL FROM's domain passed SPF (inbound) */
	uint64_t	 msg_start;	/* the message in the file, after Received */
	struct milter_run *milter;	/* milters of this message (milter.c) */
	struct grey_wait *grey;		/* greylisting of this transaction */

	struct screen	*screen;	/* port 25's front door (screen.c), or NULL */
};

/* smtp_session.c */
void	session_reply(struct session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	session_wait(struct session *s);
void	session_resume(struct session *s);
void	session_reset_transaction(struct session *s);
void	session_add_rcpt(struct session *s, const char *addr, const char *orig);
void	session_deadline(struct session *s, unsigned seconds, const char *what);
/* session_rcpt - RCPT once greylisting has what it needs (cmd_rcpt) */
void	session_rcpt(struct session *s, const char *args);
/* session_mail_accept - MAIL FROM passed every check: 250, SPF starts */
void	session_mail_accept(struct session *s);

/* session_from_fetch - our fetch role hands over mail it fetched
 * (smtpd/fetch.c): run_dir/smtpd.sock, its uid, EHLO facteur-fetch */
bool	session_from_fetch(const struct session *s);
/* smtp_local.c - facteur-sendmail's callers */
/* smtp_local_load - uid -> addresses, from /etc/passwd: before the chroot */
void	smtp_local_load(const struct conf *c);
/* smtp_local_bind - the addresses local uid may send as, into s->senders */
void	smtp_local_bind(struct session *s, uid_t uid);

/* smtp_session_data.c */
void	session_data_start(struct session *s);
void	session_data_input(struct session *s);
void	session_data_queue_reply(struct session *s, struct ipc_msg *m);
void	session_data_abort(struct session *s);
void	session_data_commit(struct session *s);
/* session_data_write - message bytes into the queue file (and the signer) */
void	session_data_write(struct session *s, const char *p, size_t n);

/* smtp_session_dkim.c */
void	session_dkim_start(struct session *s);
void	session_dkim_feed(struct session *s, const char *p, size_t n);
const char *session_dkim_end(struct session *s);
void	session_dkim_sign(struct session *s);
void	session_dkim_cancel(struct session *s);

/* smtp_session_inbound.c */
void	session_inbound_mail(struct session *s);
void	session_inbound_data(struct session *s);
void	session_inbound_feed(struct session *s, const char *p, size_t n);
void	session_inbound_end(struct session *s);
void	session_inbound_free(struct session *s);
int	session_inbound_spf(struct session *s, const char **domain_r);
void	session_inbound_spf_notify(struct session *s,
	    void (*cb)(struct session *));

/* smtp_session_grey.c - greylisting of port 25 recipients */
bool	session_grey_wait(struct session *s, const char *args);
bool	session_grey_rcpt(struct session *s, const char *rcpt);
void	session_grey_free(struct session *s);

/* milter.c */
bool	session_milter_end(struct session *s);
void	session_milter_free(struct session *s);

/* smtp_session_auth.c */
void	session_auth_start(struct session *s, const char *args);
void	session_auth_line(struct session *s, const char *line);
void	session_mail_check_sender(struct session *s);
bool	session_sender_allowed(const struct session *s, const char *addr);
void	session_auth_free(struct session *s);

#endif
