/* SPDX-License-Identifier: ISC */
/*
 * authd.h - facteur-authd private structures and prototypes, grouped by
 * source file.
 *
 * Roles (STYLE 5; also in authd/README.md):
 *
 *   role   user             chroot      opens                  peers
 *   authd  root -> user-auth state_dir  users.db, aliases.db   smtpd smtp role,
 *          (start only:     (as root)   (read-only, reopened   imapd login role,
 *          conf, DKIM keys,             when replaced)         root, over
 *          the socket)                                         run_dir/authd/authd.sock
 *
 * Who may ask what (SO_PEERCRED, authd_peer.c): root and authd's own uid
 * anything; user-smtp RCPT, LOGIN, SENDERS, DKIM_SIGN (with a grant,
 * authd_grant.c), DKIM_ALG, LOCAL, RELEASE;
 * user-login LOGIN; any other uid is closed at accept.
 *
 * One event loop answers every request from memory or one database read;
 * a password check (one scrypt, ~40 ms on the development machine) goes
 * to a small pool of hashing processes forked at start ([authd] hashers,
 * authd_hash.c), so recipient and sender lookups never wait behind a
 * login flood; checks waiting for a hasher take turns by client network
 * (authd_fairq.c), so a flood cannot lock real users out.  Recent good logins are remembered (authd_cache.c) so a
 * repeated login costs no scrypt.  Out of memory in a request closes that
 * peer (ipc_send itself dies on OOM: then init restarts authd).  authd
 * never logs a password.
 */
#ifndef FACTEUR_AUTHD_H
#define FACTEUR_AUTHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "authc.h"
#include "ev.h"
#include "ipc.h"
#include "userdb.h"

#include "authd_dkim.h"

struct conf;

/* limits on request fields, checked by the decoder */
#define AUTHD_SERVICE_MAX	16
#define AUTHD_PASSWORD_MAX	1024
#define AUTHD_IP_MAX		64
#define AUTHD_MAX_PEERS		256
#define AUTHD_MAX_DELAYED	1024	/* failed replies waiting on a timer */
#define AUTHD_OUT_MAX		(256 * 1024)	/* unread answers before we drop a peer */

/* authd_proto.c - request decoding (pure: no I/O, fuzzed) */
struct authd_req {
	uint32_t	 type;		/* enum authd_type */
	uint32_t	 id;
	uint32_t	 version;	/* HELLO */
	const char	*address;	/* RCPT */
	const char	*service;	/* LOGIN */
	const char	*user;		/* LOGIN, SENDERS */
	const char	*password;	/* LOGIN */
	size_t		 passlen;
	const char	*ip;		/* LOGIN */
	const char	*domain;	/* DKIM_SIGN */
	const char	*selector;
	uint32_t	 alg;
	const uint8_t	*digest;	/* 32 bytes */
	const uint8_t	*grant;		/* DKIM_SIGN, RELEASE: AUTHD_GRANT_LEN bytes */
	int		 fd;		/* LOCAL: the session's socket, else -1 */
};

/*
 * authd_req_decode - read the payload of `m` into `r` (pointers into the
 * payload, valid while it is).  Returns NULL, or a static reason why the
 * frame is malformed (the peer is then closed).
 */
const char	*authd_req_decode(struct ipc_msg *m, struct authd_req *r);
/* authd_printable - no control bytes, space or DEL in s[0..n) */
bool		 authd_printable(const char *s, size_t n);

/* authd_throttle.c - failure counting per client address and per user */
struct authd_throttle_conf {
	unsigned	 delay_after;	/* failures before replies are delayed (3) */
	unsigned	 block_after;	/* failures that block an address (10) */
	unsigned	 user_after;	/* failures before a user's replies are delayed (20) */
	unsigned	 net_after;	/* failures before a network's replies are delayed (100) */
	uint64_t	 window_ms;	/* failures older than this are forgotten (15 min) */
	uint64_t	 block_ms;	/* how long a blocked address stays blocked (15 min) */
	unsigned	 max_delay_ms;	/* 8000 */
};

enum authd_action {
	ACTION_NONE,
	ACTION_DELAY,
	ACTION_BLOCK,
};

struct authd_throttle;

/* authd_throttle_new - a table of at most `cap` keys (LRU); NULL: no memory */
struct authd_throttle	*authd_throttle_new(size_t cap, const uint8_t seed[16]);
void		 authd_throttle_free(struct authd_throttle **tp);
/* authd_throttle_blocked - ms left of a block on key, 0 if none */
uint64_t	 authd_throttle_blocked(struct authd_throttle *t, const char *key,
		    uint64_t now);
/* authd_throttle_fail - count one failure, return the count in the window */
unsigned	 authd_throttle_fail(struct authd_throttle *t, const char *key,
		    uint64_t now, uint64_t window_ms);
/* authd_throttle_block - block key until now + ms */
void		 authd_throttle_block(struct authd_throttle *t, const char *key,
		    uint64_t until);
/* authd_throttle_reset - forget key (a successful login) */
void		 authd_throttle_reset(struct authd_throttle *t, const char *key);
/* authd_throttle_count - events of key in the window, without counting one */
unsigned	 authd_throttle_count(struct authd_throttle *t, const char *key,
		    uint64_t now, uint64_t window_ms);
/* authd_throttle_touch - one event of key now, a new window (a good login) */
void		 authd_throttle_touch(struct authd_throttle *t, const char *key,
		    uint64_t now);
/* authd_throttle_delay - the delay ladder: 1 s after `after` failures, doubling */
unsigned	 authd_throttle_delay(unsigned failures, unsigned after,
		    unsigned max_ms);
/*
 * authd_throttle_conf_env - defaults, overridden by
 * FACTEUR_AUTHD_THROTTLE="delay_after,block_after,window_s,block_s" (tests).
 * -1 if the variable is malformed.
 */
int		 authd_throttle_conf_env(struct authd_throttle_conf *tc);
/* authd_throttle_addr_key - the key of a client address: IPv6 by /64 */
void		 authd_throttle_addr_key(const char *ip, char *key, size_t keysz);
/*
 * authd_throttle_net_key - the key of a client network: IPv4 (and
 * IPv4-mapped IPv6) by /24, IPv6 by /64, anything else as it is
 */
void		 authd_throttle_net_key(const char *ip, char *key, size_t keysz);

/* authd_login.c - password checks through libsasl2 */
enum authd_check {
	CHECK_OK,
	CHECK_FAIL,
	CHECK_TEMPFAIL,
};
/*
 * authd_login_init - sasl_server_init, hostname: the server's name as
 * libsasl2 sees it; -1 with a message on failure
 */
int		 authd_login_init(const char *hostname);
void		 authd_login_done(void);
/*
 * authd_login_check - does `password` open `user` (normalized), whose hash
 * in users.db is `stored` (NULL: no such user, the same scrypt is spent)?
 * Runs the SASL PLAIN exchange for `service`.  Called in a hashing process.
 */
enum authd_check authd_login_check(const char *service, const char *user,
		    const char *stored, const char *password, size_t passlen);

/* authd_fairq.c - checks waiting for a hasher, round-robin by network */
#define AUTHD_NETKEY_MAX	(AUTHD_IP_MAX + 8)
struct authd_fq_item {
	struct authd_fq_item *next;
	int		 net;		/* the queue's slot of its network */
	bool		 prio;
};
enum authd_fq_res {
	FQ_QUEUED,
	FQ_NET_FULL,		/* its network has per_net items waiting */
	FQ_FULL,		/* cap items wait, none could be pushed out */
};
struct authd_fairq;
/* authd_fairq_new - room for cap items, per_net of one network; NULL: no memory */
struct authd_fairq *authd_fairq_new(size_t cap, unsigned per_net);
void		 authd_fairq_free(struct authd_fairq **qp);
/*
 * authd_fairq_push - queue `it` for network `key` (authd_throttle_net_key),
 * first in line when `prio`.  When the queue is full, *evicted_r is the
 * item pushed out to make room (the oldest ordinary one of the network
 * with the most waiting; the caller fails it), else NULL.
 */
enum authd_fq_res authd_fairq_push(struct authd_fairq *q,
		    struct authd_fq_item *it, const char *key, bool prio,
		    struct authd_fq_item **evicted_r);
/* authd_fairq_room - what authd_fairq_push would answer for key now */
enum authd_fq_res authd_fairq_room(const struct authd_fairq *q,
		    const char *key);
/* authd_fairq_pop - the next item to serve, NULL if none waits */
struct authd_fq_item *authd_fairq_pop(struct authd_fairq *q);
size_t		 authd_fairq_len(const struct authd_fairq *q);
/* authd_fairq_foreach - call fn on every waiting item (fn must not push or pop) */
void		 authd_fairq_foreach(struct authd_fairq *q,
		    void (*fn)(struct authd_fq_item *, void *), void *arg);

/* authd_hash.c - the hashing processes */
#define AUTHD_HASH_QUEUE_MAX	512	/* checks waiting for a free hasher */
#define AUTHD_HASH_NET_MAX	8	/* of them from one client network */
#define AUTHD_HASH_WAIT_MS	5000	/* then TEMPFAIL without hashing */
#define AUTHD_HASH_REFUSE_MS	1000	/* a refused check's TEMPFAIL is held so long */
/*
 * authd_hash_cb - a check is done.  `cancelled`: the owner went away
 * (authd_hash_cancel); the callback then only frees `arg`.
 */
typedef void authd_hash_cb(void *arg, enum authd_check res, bool cancelled);
/* authd_hash_start - fork n hashers (after the privilege drop); -1: fork failed */
int		 authd_hash_start(unsigned n);
/* authd_hash_stop - at exit: close the channels, reap the hashers */
void		 authd_hash_stop(void);
/*
 * authd_hash_submit - queue one check from client network `net` (the
 * password is copied, and wiped once sent), ahead of the others when
 * `prio` (authd_fairq.c).  A check identical to one queued or running
 * (service, user, stored hash, password) joins it instead and gets its
 * result.  The callback comes later, from the event loop,
 * never from inside this call.  Another answer than FQ_QUEUED (network or
 * queue full, or memory short: FQ_FULL): the callback will not come and
 * the caller answers TEMPFAIL.
 */
enum authd_fq_res authd_hash_submit(const void *owner, const char *net,
		    bool prio, const char *service, const char *user,
		    const char *stored, const char *password, size_t passlen,
		    authd_hash_cb *cb, void *arg);
/* authd_hash_room - would a check from network `net` be queued now? */
enum authd_fq_res authd_hash_room(const char *net);
/* authd_hash_cancel - the owner is gone: its callbacks get cancelled = true */
void		 authd_hash_cancel(const void *owner);
/* authd_hash_busy - checks queued or running (tests, logs) */
size_t		 authd_hash_busy(void);
/*
 * authd_child_shed - in a process authd forked (a hasher, the DKIM
 * signer): wipe the passwords of waiting checks, default signals, fd
 * becomes 3 and every other descriptor above 2 is closed, log as ident
 */
void		 authd_child_shed(int fd, const char *ident);

/* authd_cache.c - recent successful logins */
struct authd_cache;
/* authd_cache_new - cap entries (0: a cache that never hits), ttl in ms */
struct authd_cache *authd_cache_new(size_t cap, uint64_t ttl_ms);
void		 authd_cache_free(struct authd_cache **cp);
/*
 * authd_cache_hit - was this user and password verified within the ttl
 * against this very `stored` hash?  A stale entry (expired, or the hash
 * changed: a new password) is dropped.
 */
bool		 authd_cache_hit(struct authd_cache *c, const char *user,
		    const char *password, size_t passlen, const char *stored,
		    uint64_t now);
/* authd_cache_put - remember a good login (least recently used goes) */
void		 authd_cache_put(struct authd_cache *c, const char *user,
		    const char *password, size_t passlen, const char *stored,
		    uint64_t now);

/* authd_grant.c - what a process's authenticated sessions may get signed */
#define AUTHD_GRANTS_MAX	4096
#define AUTHD_GRANT_IDLE_MS	(3600 * 1000ULL)	/* unused for an hour: gone */
struct authd_grant {
	uint8_t		 token[AUTHD_GRANT_LEN];
	pid_t		 pid;		/* the process it was given to */
	uid_t		 uid;
	bool		 local;		/* a facteur-sendmail session */
	uid_t		 local_uid;	/* local: the account on the other end */
	char		 user[USERDB_ADDR_MAX];	/* else: the user authd logged in */
	uint64_t	 used;
};
/*
 * authd_grant_new - a grant for process pid/uid: for `user` (canonical),
 * or with user NULL for local account local_uid.  -1: no memory or
 * randomness.
 */
int		 authd_grant_new(pid_t pid, uid_t uid, const char *user,
		    uid_t local_uid, uint64_t now, uint8_t token_r[AUTHD_GRANT_LEN]);
/* authd_grant_use - the live grant with this token of process pid/uid, or NULL */
const struct authd_grant *authd_grant_use(pid_t pid, uid_t uid,
		    const uint8_t *token, uint64_t now);
/* authd_grant_release - the session is over */
void		 authd_grant_release(pid_t pid, uid_t uid, const uint8_t *token,
		    uint64_t now);
void		 authd_grant_free_all(void);

/* authd_peer.c - the listening socket and the clients on it */
struct authd {
	const struct conf	*conf;
	struct userdb		*udb;
	struct authd_throttle	*ip_fail;
	struct authd_throttle	*user_fail;
	struct authd_throttle	*net_fail;	/* failures per network */
	struct authd_throttle	*good;		/* "network user" logged in lately */
	struct authd_cache	*cache;
	struct authd_throttle_conf tc;
	struct authd_allow {
		uid_t		 uid;
		uint32_t	 types;	/* 1 << enum authd_type it may ask */
	}			 allow[8];
	size_t			 nallow;
	uid_t			 nogrant[4];	/* role uids that get no local grant */
	size_t			 nnogrant;
	int			 listen_fd;
	struct ev_io		 listen_io;
	size_t			 npeers;
	size_t			 ndelayed;
};

extern struct authd authd;

#define AUTHD_ALL_TYPES		0xffffffffu
#define AUTHD_TYPE_BIT(t)	(1u << (t))

/* authd_peer_allow - uid may ask the request types in mask (added up) */
void		 authd_peer_allow(uid_t uid, uint32_t types);
/* authd_peer_listen - watch the listening socket fd */
void		 authd_peer_listen(int fd);
/*
 * authd_peer_changed - users.db, aliases.db or the configuration changed:
 * AUTHD_CHANGED to every client that may ask RCPT.  unwatched: changes
 * can no longer be told, so they are disconnected instead (authd_watch.c).
 */
void		 authd_peer_changed(bool unwatched);
/* authd_watch_open - watch dir for the databases' changes (before the chroot) */
int		 authd_watch_open(const char *dir);
void		 authd_watch_start(void);
bool		 authd_watch_active(void);
/* authd_peer_close_all - at exit */
void		 authd_peer_close_all(void);

/* authd_req.c - one function per request type */
struct authd_peer;
void		 authd_req_dispatch(struct authd_peer *p, const struct authd_req *r);
/* authd_peer_kill - log why (NULL: quietly) and close the peer; freed later */
void		 authd_peer_kill(struct authd_peer *p, const char *why);
/* authd_peer_name - "pid=N uid=N" of the peer, for log lines */
const char	*authd_peer_name(const struct authd_peer *p);
/* authd_peer_cred - the peer's pid and uid (SO_PEERCRED at accept) */
void		 authd_peer_cred(const struct authd_peer *p, pid_t *pid_r,
		    uid_t *uid_r);
/* authd_peer_may - may the peer ask requests of this type? */
bool		 authd_peer_may(const struct authd_peer *p, uint32_t type);
/* authd_peer_reply - send an answer; closes the peer on failure */
void		 authd_peer_reply(struct authd_peer *p, uint32_t id,
		    const struct ipc_out *o);
/*
 * authd_peer_fail_later - answer FAIL + delay_ms after delay_ms, unless
 * the peer goes (THROTTLED at once when AUTHD_MAX_DELAYED answers wait)
 */
void		 authd_peer_fail_later(struct authd_peer *p, uint32_t id,
		    unsigned delay_ms);
/* authd_peer_tempfail_later - the same for TEMPFAIL (at once when too many wait) */
void		 authd_peer_tempfail_later(struct authd_peer *p, uint32_t id,
		    unsigned delay_ms);

#endif
