/* SPDX-License-Identifier: ISC */
/*
 * pop3.h - POP3 (RFC 1939) in facteur-imapd: the session shared by the
 * login role (AUTHORIZATION state: TLS, STLS, CAPA, USER/PASS, AUTH
 * PLAIN through authd, then a byte relay) and the worker role
 * (TRANSACTION and UPDATE states on the user's INBOX).  Same processes,
 * users and chroot as IMAP (imapd.h); prototypes grouped by file.
 */
#ifndef FACTEUR_POP3_H
#define FACTEUR_POP3_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "ev.h"
#include "pop3_proto.h"
#include "relay.h"

#define POP3_IN_MAX	65536
#define POP3_OUT_SOFT	(256 * 1024)	/* stop producing above this */
#define POP3_OUT_MAX	(4 * 1024 * 1024)
#define POP3_CHUNK	65536		/* RETR bytes produced per step */

enum pop3_state {
	P3_AUTHORIZATION,
	P3_TRANSACTION,		/* worker */
	P3_PROXY,		/* login: logged in, relaying to the worker */
	P3_CLOSED,
};

enum pop3_wait {
	PW_NONE,
	PW_HANDSHAKE,		/* implicit TLS or STLS in progress */
	PW_AUTHD,		/* a login check is out */
	PW_AUTH_CONT,		/* AUTH PLAIN waits for the response line */
	PW_DELAY,		/* failed login: the answer waits */
	PW_JOB,			/* LIST, UIDL, RETR or TOP output in progress */
	PW_OUTPUT,		/* output above POP3_OUT_SOFT: wait for the client */
	PW_CLOSING,
};

enum pop3_job {
	PJ_NONE,
	PJ_LIST,
	PJ_UIDL,
	PJ_RETR,		/* RETR and TOP */
};

/* one message of the maildrop, as numbered when the session started */
struct pop3_msg {
	uint32_t	 uid;
	uint32_t	 size;		/* CRLF octets */
	bool		 deleted;
	bool		 retrieved;
};

struct store_folder;

struct pop3_session {
	uint32_t	 id;
	struct conn	 conn;
	struct ev_timer	 timer;
	struct ev_timer	 login_timer;	/* login process: TLS, then login */
	char		 addr[64];
	bool		 tls;
	bool		 starttls_port;
	enum pop3_state	 state;
	enum pop3_wait	 wait;
	struct pop3_reader rd;
	unsigned	 fails;
	uint32_t	 authreq;
	char		*user;		/* login: USER's name; worker: the user */
	struct relay	*relay;		/* login role after the hand-over */
	/* worker: the maildrop */
	struct store_folder *f;
	struct pop3_msg	*v;
	size_t		 n;
	enum pop3_job	 job;
	size_t		 pos;		/* LIST, UIDL: next message */
	const char	*map;		/* RETR, TOP: the mapped file */
	size_t		 maplen;
	struct pop3_stuff st;
};

/* pop3_session.c: both roles */
/* pop3_start - a connection accepted by the login process */
void	pop3_start(int fd, const char *addr, bool implicit_tls);
/* pop3_start_worker - a logged-in session handed over to the worker */
void	pop3_start_worker(int fd, const char *addr, uint32_t id);
void	pop3_reply(struct pop3_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	pop3_write(struct pop3_session *s, const void *p, size_t n);
void	pop3_close(struct pop3_session *s);
/* pop3_login_deadline - login process: login_timeout from now */
void	pop3_login_deadline(struct pop3_session *s);
/* pop3_resume - a wait ended: read the commands already buffered */
void	pop3_resume(struct pop3_session *s);
/* pop3_capa - the CAPA listing for the session's state */
void	pop3_capa(struct pop3_session *s);

/* pop3_login.c: AUTHORIZATION state in the login process */
void	pop3_login_cmd(struct pop3_session *s, struct pop3_cmd *c);
/* pop3_login_auth_line - the AUTH PLAIN response line */
void	pop3_login_auth_line(struct pop3_session *s, char *line, size_t len);
void	pop3_login_delay_done(struct pop3_session *s);

/* pop3_maildrop.c: TRANSACTION and UPDATE states in a worker */
/* pop3_maildrop_open - lock and number INBOX; false: replied -ERR */
bool	pop3_maildrop_open(struct pop3_session *s);
void	pop3_maildrop_cmd(struct pop3_session *s, struct pop3_cmd *c);
/* pop3_maildrop_job - produce more output; true when the job is done */
bool	pop3_maildrop_job(struct pop3_session *s);
void	pop3_maildrop_close(struct pop3_session *s);

#endif
