/* SPDX-License-Identifier: ISC */
/*
 * imapd.h - facteur-imapd private structures and prototypes, grouped by
 * source file (STYLE 1).
 *
 * Roles (STYLE 5), one event loop each:
 *   role    user    chroot     may open                  peers
 *   master  root*   no         nothing after startup     login, workers
 *   login   user-   run_dir/   listening sockets, TLS    master, authd,
 *           login   authd*     key (loaded by master)    workers (relay)
 *   worker  `user`  the user's that Maildir only         master, login
 *                   Maildir*                             (relay)
 * (*) when started as root.  The login process never opens mail; it is
 * forked for the first client and exits when idle, as a worker does, which
 * serves every session of one user.  Out of memory is
 * fatal (x* allocators): the master restarts login, workers are forked
 * again on the next login.
 */
#ifndef FACTEUR_IMAPD_H
#define FACTEUR_IMAPD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "conn.h"
#include "ev.h"
#include "imap_mime.h"
#include "imap_parser.h"
#include "store.h"

#define IMAP_MAX_LINE		65536
#define IMAP_MAX_DEPTH		16
#define IMAP_MAX_ARGS		10000
#define IMAP_IN_MAX		65536
#define IMAP_OUT_SOFT		(256 * 1024)	/* pause producing above this */
#define IMAP_LOGIN_MAX_LITERAL	8192	/* before login: enough for LOGIN */
#define IMAP_SPOOL_MIN		65536	/* bigger literals go to a file */
#define IMAP_MAX_FAILS		3
#define IMAP_FAIL_DELAY_MS	5000
#define IMAP_MAX_FAILS_CLOSE	10

enum sess_state {
	SS_NOAUTH,
	SS_AUTH,
	SS_SELECTED,
	SS_PROXY,	/* login process: logged in, relaying to the worker */
	SS_LOGOUT,
};

enum imapd_role {
	IMAPD_ROLE_MASTER,	/* root (when started so): forks the others */
	IMAPD_ROLE_LOGIN,	/* `user`: TLS, pre-login, then a relay */
	IMAPD_ROLE_WORKER,	/* `user`, chrooted in one user's Maildir */
};

/* login -> master -> worker: str user, str addr, str tag, u32 id + fd */
#define IMAPD_MSG_SESSION	1
/* worker -> master: no session for a while; master -> worker: exit now
 * if still idle (empty payloads) */
#define IMAPD_MSG_IDLE		2
#define IMAPD_MSG_EXIT		3
/* login -> master -> worker: a POP3 session, payload as SESSION (tag "") */
#define IMAPD_MSG_POP3		4

enum sess_wait {
	SW_NONE,
	SW_HANDSHAKE,	/* implicit TLS or STARTTLS in progress */
	SW_STARTTLS,	/* the STARTTLS OK is being flushed in clear */
	SW_AUTHD,	/* a login check is out */
	SW_AUTH_CONT,	/* AUTHENTICATE PLAIN waits for the response line */
	SW_IDLE,
	SW_JOB,		/* a FETCH is producing output */
	SW_DELAY,	/* failed login: the answer waits */
	SW_CLOSING,	/* LOGOUT or BYE: flushing, then close */
	SW_PROXY,	/* relaying; the timer resumes a paused side */
};

struct ipc;

struct imapd {
	struct conf	*conf;
	SSL_CTX		*tls;		/* login only */
	int		 cert_fd, key_fd; /* master and login: the [tls] pair */
	uint32_t	 next_id;
	unsigned	 nsessions;
	enum imapd_role	 role;
	struct ipc	*master;	/* login: the channel to the master */
	char		*worker_user;	/* worker: whose mail */
	char		*worker_root;	/* worker: that Maildir ("/." if chrooted) */
};

extern struct imapd imapd;

struct fetch_stream;
struct sort_job;
struct search_ctx;
struct search_node;

struct fetch_job {
	struct imap_fetch fa;
	struct imap_seqset set;
	uint64_t	 changedsince;	/* RFC 7162 CHANGEDSINCE, 0: none */
	bool		 uid;
	size_t		 pos;		/* next view index */
	struct fetch_stream *st;	/* big literals being written */
	bool		 unknown_cte;	/* BINARY met one: NO [UNKNOWN-CTE] */
};

struct imap_session {
	uint32_t	 id;
	struct conn	 conn;
	struct ev_timer	 timer;		/* delays, job kicks, IDLE polling */
	struct ev_timer	 login_timer;	/* TLS handshake, then login deadline */
	bool		 addr_counted;	/* against [imap] max_per_addr */
	char		 addr[64];
	bool		 tls;
	bool		 starttls_port;
	struct imap_parser *parser;
	enum sess_state	 state;
	enum sess_wait	 wait;
	char		 tag[64];	/* tag of the command in progress */
	uint32_t	 authreq;
	unsigned	 fails;
	char		*user;
	char		*root;		/* the user's Maildir */
	/* selected folder: the shared index plus this session's view */
	struct store_folder *f;
	char		*fname;
	bool		 readonly;
	uint32_t	*view;		/* UIDs by sequence number - 1 */
	size_t		 nview, capview;
	uint64_t	 seen_modseq;	/* the folder's modseq last told */
	unsigned	 seen_kw_gen;	/* keywords announced in FLAGS */
	uint32_t	*recent;	/* UIDs that are \Recent for us, sorted */
	size_t		 nrecent, caprecent;
	size_t		 told_recent;	/* the last RECENT count sent */
	bool		 expunge_pending;
	bool		 condstore;	/* RFC 7162: enabled by the client */
	bool		 qresync;	/* VANISHED instead of EXPUNGE */
	bool		 rev2;		/* ENABLE IMAP4rev2 (RFC 9051): UTF-8
					 * names, ESEARCH, no \Recent */
	/* SEARCHRES (RFC 5182): the result saved by SEARCH RETURN (SAVE),
	 * UIDs in ascending order, what "$" stands for */
	uint32_t	*saved;
	size_t		 nsaved;
	struct search_ctx *ctxs;	/* CONTEXT=SEARCH: updating searches */
	/* messages expunged by others, not announced yet, that this
	 * session stored flags on: they keep them until announced */
	struct store_tomb *ghost;
	size_t		 nghost, capghost;
	bool		 cmd_expunges;	/* the command in progress may EXPUNGE */
	struct fetch_job *job;
	struct sort_job	*sort;		/* a SORT or THREAD reading keys */
	struct buf	 resp;		/* one FETCH response being built */
	struct conn	*proxy;		/* login role: the worker's end */
	struct store_spool *spool;	/* worker: a big literal being received */
	int		 spool_errno;	/* why it could not be stored, or 0 */
	bool		 proxied;	/* the worker has answered */
};

/* imapd.c */
/*
 * imapd_session_gone - a session of this process ended; addr: its client
 * address if it still counts against [imap] max_per_addr, else NULL.
 * imapd_addr_release - it stops counting (logged in: the cap is for
 * connections that have not).
 */
void	imapd_session_gone(const char *addr);
/*
 * imapd_tls - login: the TLS context, loaded from the [tls] pair when a
 * session first needs it and freed a minute after the last session
 * ended (each TLS session holds a reference); NULL if it does not load
 */
SSL_CTX	*imapd_tls(void);
void	imapd_addr_release(const char *addr);

/* imap_session.c */
void	session_start(int fd, const char *addr, bool implicit_tls);
/* session_start_worker - a logged-in session handed over by login */
void	session_start_worker(int fd, const char *addr, const char *tag,
	    uint32_t id);
void	session_reply(struct imap_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	session_write(struct imap_session *s, const void *p, size_t n);
void	session_write_buf(struct imap_session *s, struct buf *b);
/* session_tagged - the command's tagged reply ("OK ...", no tag: s->tag),
 * preceded by the untagged updates it must carry */
void	session_tagged(struct imap_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	session_tagged_updates(struct imap_session *s);
void	session_updates(struct imap_session *s, bool expunges);
/* session_claim_recent - m is new to this session: \Recent here if no
 * session had it (and, read-write, for no other session from now) */
void	session_claim_recent(struct imap_session *s, struct store_msg *m);
bool	session_is_recent(const struct imap_session *s, uint32_t uid);
void	session_recent_prune(struct imap_session *s);
/* session_put_flags - "FLAGS (...)" of m as this session sees it */
void	session_put_flags(struct imap_session *s, struct buf *b,
	    const struct store_msg *m);
/* session_write_crlf - n bytes of rd into the output buffer; fewer when
 * the session is closing */
size_t	session_write_crlf(struct imap_session *s, struct mime_crlf *rd,
	    size_t n);
void	session_unselect(struct imap_session *s);
bool	session_out_full(struct imap_session *s);
void	session_spool_end(struct imap_session *s);
/* session_continue - run commands already buffered (after a wait ended) */
void	session_continue(struct imap_session *s);

/* imap_cmd.c: commands of the authenticated and selected states */
void	cmd_select(struct imap_session *s, const struct imap_cmd *c, bool ro);
/* cmd_put_flag_lists - untagged FLAGS and PERMANENTFLAGS of the folder */
void	cmd_put_flag_lists(struct imap_session *s);
void	cmd_status(struct imap_session *s, const struct imap_cmd *c);
/* cmd_status_items_ok - a STATUS item list we know every item of */
bool	cmd_status_items_ok(const struct imap_arg *items);
/* cmd_status_put - "* STATUS name (...)" of the folder at dir; false if
 * it does not exist */
bool	cmd_status_put(struct imap_session *s, const char *name,
	    const char *dir, const struct imap_arg *items);
void	cmd_mailbox(struct imap_session *s, const struct imap_cmd *c);
void	cmd_append(struct imap_session *s, const struct imap_cmd *c);
void	cmd_expunge(struct imap_session *s, const struct imap_cmd *c,
	    const struct imap_arg *uidset, bool silent);
void	cmd_store(struct imap_session *s, const struct imap_cmd *c, bool uid);
void	cmd_copy(struct imap_session *s, const struct imap_cmd *c, bool uid,
	    bool move);
void	cmd_search(struct imap_session *s, const struct imap_cmd *c, bool uid);
/* imap_cmd_arg_str - an astring argument as C string, no NUL inside */
const char *cmd_arg_str(const struct imap_arg *a);
/* cmd_parse_set - a sequence set argument, or "$" (SEARCHRES: the saved
 * result by UID or by number); replies BAD itself */
bool	cmd_parse_set(struct imap_session *s, const struct imap_arg *a,
	    bool uid, struct imap_seqset *set);
/*
 * cmd_set_next - the next view index >= *pos in the set (by sequence
 * number or UID); false at the end.  *fi is the folder index (-1: gone).
 */
bool	cmd_set_next(struct imap_session *s, const struct imap_seqset *set,
	    bool uid, size_t *pos, ssize_t *fi);

/* imap_condstore.c: CONDSTORE and QRESYNC (RFC 7162) */
/* a UID set being built in ascending order ("1:3,7") */
struct uidset {
	struct buf	 b;
	uint32_t	 last, start;
};
void	uidset_init(struct uidset *u);
void	uidset_add(struct uidset *u, uint32_t uid);
/* uidset_text - the set as text (valid until the next add or free) */
const char *uidset_text(struct uidset *u);
void	uidset_free(struct uidset *u);
/* session_vanished - "* VANISHED [(EARLIER)] set" if u is not empty */
void	session_vanished(struct imap_session *s, struct uidset *u,
	    bool earlier);
void	cmd_enable(struct imap_session *s, const struct imap_cmd *c);
/* condstore_on - a CONDSTORE enabling command (RFC 7162 3.1): say
 * HIGHESTMODSEQ if a mailbox is selected and it was not on */
void	condstore_on(struct imap_session *s);
/* condstore_select - the SELECT/EXAMINE parameters; false: replied BAD */
struct qresync_args;
bool	condstore_select_args(struct imap_session *s, const struct imap_arg *a,
	    struct qresync_args **q_r);
void	qresync_args_free(struct qresync_args **qp);
/* condstore_select_end - HIGHESTMODSEQ, then QRESYNC's VANISHED and
 * FETCH responses (RFC 7162 3.2.5); frees q */
void	condstore_select_end(struct imap_session *s, struct qresync_args *q);
/* condstore_vanished_earlier - "* VANISHED (EARLIER)" for the UIDs of
 * set (NULL: all) expunged after since */
void	condstore_vanished_earlier(struct imap_session *s,
	    const struct imap_seqset *set, uint64_t since);
/* session_msg - message state as this session sees it: the folder's
 * message fi, or for fi < 0 the flags an expunged UID had (ghost) */
bool	session_msg(struct imap_session *s, uint32_t uid, ssize_t fi,
	    struct store_msg *out);
/* session_ghost_set - this session stores flags on an expunged uid */
void	session_ghost_set(struct imap_session *s, const struct store_msg *m);
void	session_ghosts_clear(struct imap_session *s);

/* imap_list.c */
void	cmd_list(struct imap_session *s, const struct imap_cmd *c, bool lsub);
/* list_selected - SELECT's "* LIST" of the folder (RFC 9051 6.3.2):
 * name as the client wrote it, store its name in the store */
void	list_selected(struct imap_session *s, const char *name,
	    const char *store);

/* imap_rev2.c: IMAP4rev2 (RFC 9051) and SEARCHRES (RFC 5182) */
/* name_in - a mailbox name from the client into the store's spelling
 * (modified UTF-7; from UTF-8 once IMAP4rev2 is on); false: invalid */
bool	name_in(struct imap_session *s, const char *name, char *out,
	    size_t outsz);
/* name_out - a name of the store as the client reads it (UTF-8 once
 * IMAP4rev2 is on); out has MBOX_NAME_SZ * 2 bytes */
#define MBOX_OUT_SZ	(MBOX_NAME_SZ * 2)
const char *name_out(struct imap_session *s, const char *name, char *out);
/* saved_set - "$" as a sequence set (by UID or by sequence number) */
void	saved_set(struct imap_session *s, bool uid, struct imap_seqset *set);
/* saved_put - the new saved result (UIDs, ascending); NULL, 0: empty */
void	saved_put(struct imap_session *s, uint32_t *uids, size_t n);
void	saved_clear(struct imap_session *s);
/* uid_index - index of uid in v (n UIDs ascending), or -1 */
ssize_t	uid_index(const uint32_t *v, size_t n, uint32_t uid);
/* session_view_pos - index of uid in the session's view, or -1 */
ssize_t	session_view_pos(const struct imap_session *s, uint32_t uid);

/* imap_context.c: CONTEXT=SEARCH updates (RFC 5267 4) */
/* ctx_add - keep *np (taken) and its result v (UIDs ascending, taken)
 * updated under tag; false (nothing taken) when there are too many */
bool	ctx_add(struct imap_session *s, const char *tag, bool uid,
	    struct search_node **np, uint32_t *v, size_t nv);
void	ctx_clear(struct imap_session *s);
/* ctx_expunged - REMOVEFROM for results gone from the folder; the view
 * still holds them (before their EXPUNGE) */
void	ctx_expunged(struct imap_session *s);
/* ctx_refresh - ADDTO and REMOVEFROM for changed and new messages */
void	ctx_refresh(struct imap_session *s);
void	cmd_cancelupdate(struct imap_session *s, const struct imap_cmd *c);

/* imap_fetch.c */
void	cmd_fetch(struct imap_session *s, const struct imap_cmd *c, bool uid);
void	cmd_fetch_resume(struct imap_session *s);
void	cmd_fetch_free(struct imap_session *s);
/* mailbox name argument -> directory and the store's name for it
 * (MBOX_NAME_SZ bytes); replies BAD or NO itself on failure */
#define MBOX_NAME_SZ	(STORE_NAME_MAX + 1)
bool	cmd_mailbox_dir(struct imap_session *s, const struct imap_arg *a,
	    char *dir, size_t dirsz, char *name);

/* imap_sort.c: SORT, ESORT (RETURN) and the job SORT and THREAD run in */
void	cmd_sort(struct imap_session *s, const struct imap_cmd *c, bool uid);
void	cmd_sort_resume(struct imap_session *s);
void	cmd_sort_free(struct imap_session *s);
/* imap_catenate.c: the message of APPEND CATENATE (RFC 4469) into out
 * (max_literal bounds it); replies BAD/NO itself and returns false */
bool	cat_build(struct imap_session *s, const struct imap_arg *a,
	    struct buf *out);
/* imap_thread.c */
void	cmd_thread(struct imap_session *s, const struct imap_cmd *c, bool uid);

/* imap_search.c */
struct search_node;
/* search_compile - saved: the UIDs "$" stands for (SEARCHRES), NULL if
 * "$" is not allowed */
struct search_node *search_compile(const struct imap_arg *a,
	    const struct imap_seqset *saved, const char **err_r);
void	search_free(struct search_node **np);
bool	search_match(struct search_node *n, struct store_folder *f, size_t idx,
	    uint32_t seq, uint32_t maxseq, bool recent);
/* search_has_modseq - a MODSEQ key is in the tree (RFC 7162 3.1.5) */
bool	search_has_modseq(const struct search_node *n);
/* search_parse_date - "1-Feb-1994" -> UTC midnight; false if malformed */
bool	search_parse_date(const char *s, int64_t *t_r);

#endif
