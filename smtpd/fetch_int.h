/* SPDX-License-Identifier: ISC */
/*
 * fetch_int.h - between the files of the fetch role (fetch.c,
 * fetch_io.c, fetch_remote.c): blocking connections, the injector, the
 * state files.
 */
#ifndef FACTEUR_FETCH_INT_H
#define FACTEUR_FETCH_INT_H

#include <sys/socket.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"
#include "smtpd/fetch.h"
#include "smtpd/smtpd.h"		/* ONCE_KEY_LEN */

struct fconn {
	int		 fd;
	SSL		*ssl;		/* NULL: the local smtpd socket */
	char		 in[16384];
	size_t		 off, len;
	struct buf	 line;		/* the last line, without CRLF */
	time_t		 deadline;	/* CLOCK_MONOTONIC s the poll ends; 0: none */
	bool		 expired;	/* the deadline was reached */
};

typedef int fconn_sink(void *arg, const char *p, size_t n);

/* fetch_resolve.c: the server's addresses, through [dns] resolver if set */
#define FETCH_ADDRS_MAX	8
struct fetch_addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};
/* fetch_resolve_set - [dns] resolver (kept, not copied), or NULL: the
 * system's resolver */
void	fetch_resolve_set(const struct conf_addr *resolver);
/* fetch_resolve - up to max addresses of host:port into out, *n_r of
 * them; 0, or -1 with the reason in why */
int	fetch_resolve(const char *host, uint16_t port, struct fetch_addr *out,
	    size_t max, size_t *n_r, char *why, size_t whysz);

/* fconn_tls - TCP and TLS to the account's server, verified; every
 * read on it fails once the poll's deadline (FETCH_POLL_MAX_S) passed */
int	fconn_tls(struct fconn *c, const struct conf_fetch *a, char *why,
	    size_t whysz);
int	fconn_unix(struct fconn *c, const char *path);
/* fconn_line - one line into c->line (NUL-terminated, no CRLF) */
int	fconn_line(struct fconn *c);
/* fconn_bytes - exactly n bytes to sink */
int	fconn_bytes(struct fconn *c, size_t n, fconn_sink *sink, void *arg);
int	fconn_write(struct fconn *c, const void *p, size_t n);
int	fconn_printf(struct fconn *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	fconn_close(struct fconn *c);

enum fetch_res {
	FR_OK,
	FR_TEMP,		/* try again at the next poll */
	FR_PERM,		/* the queue refused this message for good */
};

/* one SMTP session on run_dir/smtpd.sock, for all messages of a poll */
struct inject {
	struct fconn	 c;
	bool		 open;
	struct fetch_stuff st;
	struct buf	 out;
	char		 why[512];
};

/* inject_begin - MAIL FROM:<> ONCE=once, RCPT TO:<local>, DATA (once:
 * the message's key, see fetch_once_key) */
enum fetch_res inject_begin(struct inject *in, const char *once,
	    const char *run_dir, const char *local);
/* inject_data - message bytes (fconn_sink) */
int	inject_data(void *arg, const char *p, size_t n);
/* inject_end - the final dot: FR_OK once the queue said 250 */
enum fetch_res inject_end(struct inject *in);
void	inject_close(struct inject *in);

/* the account being polled */
struct fetch_job {
	const struct conf_fetch *a;
	const char	*password;
	const char	*run_dir;
	int		 dirfd;		/* state_dir/fetch */
	struct inject	 in;
	size_t		 fetched, deleted, failed;
};

/* fetch.c: state files (written with fsync before anything relies on them) */
bool	fetch_state_imap(struct fetch_job *j, uint32_t *uv, uint32_t *last);
int	fetch_state_imap_save(struct fetch_job *j, uint32_t uv, uint32_t last);
/* POP3: the UIDLs already in the queue, one per line */
char  **fetch_state_pop3(struct fetch_job *j, size_t *n_r);
int	fetch_state_pop3_add(struct fetch_job *j, const char *id);
int	fetch_state_pop3_save(struct fetch_job *j, char **ids, size_t n);

/*
 * fetch_hold, fetch_release - SIGTERM and SIGINT wait from the final dot
 * until the state file records the message: a stop or restart never
 * falls between the queue's 250 and that record (only SIGKILL can).
 */
void	fetch_hold(void);
void	fetch_release(void);

/*
 * fetch_once_key - the ONCE key of a message (smtpd/queue_once.c): a hash
 * of the account and `what` ("imap UIDVALIDITY UID", "pop3 UIDL")
 */
void	fetch_once_key(const struct fetch_job *j, const char *what,
	    char out[ONCE_KEY_LEN + 1]);

/* fetch_remote.c */
void	fetch_imap(struct fetch_job *j);
void	fetch_pop3(struct fetch_job *j);

#endif
