/* SPDX-License-Identifier: ISC */
/*
 * authc.h - the client side of the facteur-authd protocol, used by smtpd
 * and imapd (and the request/answer types both sides share).
 *
 * authd listens on RUN_DIR/authd.sock.  Every request is one ipc frame
 * (lib/ipc.h) whose id the answer echoes.  The first frame on a connection
 * is AUTHD_HELLO carrying AUTHD_PROTO_VERSION; authd closes connections
 * that speak another version.  Answers are AUTHD_REPLY frames whose payload
 * starts with a u32 `enum authd_res`, followed by per-request data:
 *
 *   AUTHD_RCPT  str address                 -> OK: u32 n, n x str mailbox
 *                                              ("local@domain" of real users)
 *                                              NOTFOUND | TEMPFAIL (also for
 *                                              a domain not in authd's
 *                                              domains: its configuration
 *                                              is older than the asker's)
 *   AUTHD_LOGIN str service, str user,      -> OK: str canonical user
 *               str password, str client ip    [, data grant] (service "smtp",
 *                                              to a peer that may sign)
 *                                              FAIL: u32 delay_ms applied
 *                                              THROTTLED: u32 retry_after_s
 *                                              TEMPFAIL
 *   AUTHD_SENDERS str user                  -> OK: u32 n, n x str address
 *                                              (patterns "@domain" allowed)
 *   AUTHD_DKIM_SIGN str domain, str selector,
 *               u32 alg, data sha256 digest,
 *               data grant                  -> OK: data signature
 *                                              NOTFOUND (no such key) | TEMPFAIL
 *                                              FAIL (no such grant, or not
 *                                              for this domain)
 *   AUTHD_DKIM_ALG str domain, str selector -> OK: u32 alg | NOTFOUND
 *   AUTHD_LOCAL (a descriptor: facteur-sendmail's connection to smtpd)
 *                                           -> OK: data grant | FAIL
 *   AUTHD_RELEASE data grant                -> OK (the session ended)
 *
 * A grant (AUTHD_GRANT_LEN random bytes) is authd's proof that a session
 * of the asking process was authenticated by authd itself: a password
 * checked at AUTH, or the kernel's SO_PEERCRED of a facteur-sendmail
 * connection.  DKIM_SIGN signs only for a domain of that user's (or that
 * local account's) addresses, and only for the process it was given to.
 *
 * Details fixed by the implementation (authd/README.md): HELLO is sent
 * with id 0 and answered OK + u32 version + u32 flags; with
 * AUTHD_HELLO_NOTIFIES in flags, authd sends AUTHD_CHANGED (id 0, no
 * payload, no answer) whenever users.db or aliases.db changed or its
 * configuration was reloaded, and the client may keep RCPT answers until
 * then (lib/rcpt_cache.c); LOGIN lower-cases the user and
 * accepts a bare local part when exactly one domain is configured; RCPT
 * and SENDERS answer NOTFOUND for an unknown address or user.
 *
 * The client reconnects on demand; every request times out after
 * AUTHC_TIMEOUT_MS and then completes with AUTHD_TEMPFAIL, so a session
 * never waits forever for authd.
 */
#ifndef FACTEUR_AUTHC_H
#define FACTEUR_AUTHC_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"

#define AUTHD_PROTO_VERSION	3
#define AUTHD_HELLO_NOTIFIES	0x1	/* HELLO flags: AUTHD_CHANGED is sent */
#define AUTHD_GRANT_LEN		16
#define AUTHD_SOCKET		"authd.sock"
#define AUTHC_TIMEOUT_MS	10000

enum authd_type {
	AUTHD_HELLO = 1,
	AUTHD_RCPT,
	AUTHD_LOGIN,
	AUTHD_SENDERS,
	AUTHD_DKIM_SIGN,
	AUTHD_DKIM_ALG,
	AUTHD_LOCAL,
	AUTHD_RELEASE,
	AUTHD_REPLY = 100,
	AUTHD_CHANGED,		/* authd -> client: forget kept answers */
};

enum authd_res {
	AUTHD_OK = 0,
	AUTHD_NOTFOUND,
	AUTHD_FAIL,
	AUTHD_THROTTLED,
	AUTHD_TEMPFAIL,
};

enum authd_alg {
	AUTHD_ALG_RSA_SHA256 = 1,
	AUTHD_ALG_ED25519_SHA256,
};

/*
 * authc_cb - completion.  `m` is positioned after the result code and is
 * NULL for a TEMPFAIL produced locally (timeout, authd unreachable).  It is
 * valid only during the call.
 */
typedef void authc_cb(void *arg, enum authd_res res, struct ipc_msg *m);

/* authc_init - remember where authd is; connects lazily */
void		authc_init(const char *run_dir);
/*
 * Each request returns its id (never 0), or 0 when it could not even be
 * queued, in which case cb is not called and the caller answers a
 * temporary failure itself.
 */
uint32_t	authc_rcpt(const char *address, authc_cb *cb, void *arg);
uint32_t	authc_login(const char *service, const char *user,
		    const char *password, const char *client_ip,
		    authc_cb *cb, void *arg);
uint32_t	authc_senders(const char *user, authc_cb *cb, void *arg);
uint32_t	authc_dkim_sign(const char *domain, const char *selector,
		    enum authd_alg alg, const uint8_t digest[32],
		    const uint8_t grant[AUTHD_GRANT_LEN], authc_cb *cb, void *arg);
/* authc_local - a grant for the local session on fd (a copy is sent) */
uint32_t	authc_local(int fd, authc_cb *cb, void *arg);
/* authc_release - the session that held grant is over (no answer needed) */
void		authc_release(const uint8_t grant[AUTHD_GRANT_LEN]);
uint32_t	authc_dkim_alg(const char *domain, const char *selector,
		    authc_cb *cb, void *arg);
/*
 * authc_credentials_ok - would authd take this user and password?  A user
 * of 1-254 printable bytes without spaces, a password of 1-1024 bytes
 * without CR or LF (authd/README.md).  Anything else is a malformed frame
 * that makes authd drop the connection every session shares: callers
 * answer "bad credentials" themselves instead.
 */
bool		authc_credentials_ok(const char *user, const char *pass);
/*
 * authc_credentials_copy - user[0..ulen) and pass[0..plen) (from a
 * protocol parser: not strings) into u and p as strings, if they hold no
 * NUL, fit, and authd would take them (authc_credentials_ok).  p is
 * wiped on refusal; the caller wipes it after use.
 */
#define AUTHC_CRED_MAX	1025
bool		authc_credentials_copy(const char *user, size_t ulen,
		    const char *pass, size_t plen, char u[AUTHC_CRED_MAX],
		    char p[AUTHC_CRED_MAX]);
/*
 * authc_plain - split a decoded SASL PLAIN message (RFC 4616: authzid NUL
 * authcid NUL password) of len bytes at m, which has room for m[len]:
 * authcid and password become strings in place.  AUTHC_PLAIN_BAD unless
 * there are exactly two NULs; AUTHC_PLAIN_PROXY when an authzid is given
 * and is not the authcid (no proxy logins).  Shared by SMTP, IMAP, POP3.
 */
enum authc_plain { AUTHC_PLAIN_OK, AUTHC_PLAIN_BAD, AUTHC_PLAIN_PROXY };
enum authc_plain authc_plain(char *m, size_t len, const char **user,
		    const char **pass);
/* authc_cancel - the requester is gone: drop the callback of request id */
void		authc_cancel(uint32_t id);

#endif
