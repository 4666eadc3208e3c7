/* SPDX-License-Identifier: ISC */
/*
 * authd_dkim.c - DKIM private keys and the signing operation of authd.
 *
 * Runs in facteur-authd's main process, which never starts OpenSSL
 * (issue 17: with the keys parsed here, an idle authd held 0.4 MB more
 * heap with the shared libcrypto, 1.5 MB more with the static one).  At
 * start and reload (authd_dkim_load) it reads the key files' bytes, as
 * root before the chroot, and keeps only those; a short-lived child
 * parses them (authd_dkim_key.c) and answers each key's algorithm and
 * size or exits with the reason logged, so a bad key is still an error
 * at start.  Signing requests go to the signer: one process forked on
 * the first request (as user-auth, in the chroot, like the hashers:
 * authd_child_shed), which parses the keys after the fork and answers
 * SIGN frames over a socketpair; authd closes its channel after
 * SIGNER_IDLE_MS without a request and it exits.  The exchange is
 * synchronous (a signature takes a millisecond or two, as long as the
 * signing in the main loop did; the first after an idle minute adds a
 * fork and the key parsing), bounded by SIGNER_TIMEOUT_MS.
 *
 * Callers hand in a SHA-256 digest computed by lib/dkim.c in smtpd and
 * get back the signature.  This file never parses a message and never
 * writes a key anywhere.
 *
 * Errors: -1 after one log line naming the key and the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "authd.h"
#include "authc.h"
#include "conf.h"
#include "ev.h"
#include "ipc.h"
#include "log.h"
#include "authd/authd_dkim.h"
#include "authd/authd_dkim_key.h"

#define KEY_FILE_MAX		(64 * 1024)	/* RSA 8192 PEM is 6.4 KB */
#define SIGNER_IDLE_MS		60000
#define SIGNER_TIMEOUT_MS	5000

struct dkim_key {
	char		*domain;
	char		*selector;
	int		 alg;		/* enum authd_alg */
	struct authd_dkim_pem pem;	/* path and bytes, malloc'd */
};

static struct dkim_key *keys;
static size_t nkeys;

static pid_t signer_pid;
static int signer_fd = -1;
static struct ev_timer signer_idle;
static bool signer_timer_init;
static uint32_t signer_id;

static void signer_stop(void);

static void
keys_free(struct dkim_key *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(k[i].domain);
		free(k[i].selector);
		free((char *)k[i].pem.path);
		if (k[i].pem.pem != NULL) {
			explicit_bzero((void *)k[i].pem.pem, k[i].pem.len);
			free((void *)k[i].pem.pem);
		}
	}
	free(k);
}

void
authd_dkim_free(void)
{
	signer_stop();
	keys_free(keys, nkeys);
	keys = NULL;
	nkeys = 0;
}

/* key_read - open and check a secret key file, then keep its bytes */
static int
key_read(struct authd_dkim_pem *k, const char *path)
{
	char err[512];
	unsigned char *b;
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("dkim key %s", path);
		return -1;
	}
	if (!conf_secret_fd_ok(fd, path, err, sizeof(err))) {
		log_warnx("dkim key %s", err);
		close(fd);
		return -1;
	}
	if ((b = malloc(KEY_FILE_MAX)) == NULL) {
		log_warn("dkim key %s", path);
		close(fd);
		return -1;
	}
	while (n < KEY_FILE_MAX &&
	    (r = read(fd, b + n, KEY_FILE_MAX - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			log_warn("dkim key %s", path);
			goto fail;
		}
		n += (size_t)r;
	}
	if (n == KEY_FILE_MAX) {
		log_warnx("dkim key %s: larger than %d bytes, not a key",
		    path, KEY_FILE_MAX);
		goto fail;
	}
	close(fd);
	k->pem = b;
	k->len = n;
	return 0;
fail:
	explicit_bzero(b, n);
	free(b);
	close(fd);
	return -1;
}

static struct dkim_key *
key_find(struct dkim_key *k, size_t n, const char *domain, const char *selector,
    size_t *idx_r)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(k[i].domain, domain) == 0 &&
		    strcasecmp(k[i].selector, selector) == 0) {
			if (idx_r != NULL)
				*idx_r = i;
			return &k[i];
		}
	return NULL;
}

/*
 * keys_check - parse the keys in a child that exits (OpenSSL stays out
 * of this process) and learn each one's algorithm; bits[i] its size
 */
static int
keys_check(struct dkim_key *k, size_t n, uint32_t *bits)
{
	struct authd_dkim_pem *pem;
	uint32_t got[2];
	size_t i;
	pid_t pid;
	int p[2], st, rc = 0;

	if ((pem = calloc(n, sizeof(*pem))) == NULL) {
		log_warn("dkim keys");
		return -1;
	}
	for (i = 0; i < n; i++)
		pem[i] = k[i].pem;
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		log_warn("dkim key check");
		free(pem);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		_exit(authd_dkim_key_check(pem, n, p[1]) == 0 ? 0 : 1);
	}
	free(pem);
	close(p[1]);
	for (i = 0; i < n && rc == 0; i++) {
		if (read(p[0], got, sizeof(got)) != (ssize_t)sizeof(got) ||
		    (got[0] != AUTHD_ALG_RSA_SHA256 &&
		    got[0] != AUTHD_ALG_ED25519_SHA256))
			rc = -1;	/* the child logged why */
		else {
			k[i].alg = (int)got[0];
			bits[i] = got[1];
		}
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	return rc;
}

int
authd_dkim_load(const struct conf *c)
{
	const struct conf_dkim_sign *cs;
	struct dkim_key *nk;
	uint32_t *bits = NULL;
	size_t i, n = 0;

	if (c->dkim.nsign == 0) {
		authd_dkim_free();
		return 0;
	}
	if ((nk = calloc(c->dkim.nsign, sizeof(*nk))) == NULL ||
	    (bits = calloc(c->dkim.nsign, sizeof(*bits))) == NULL) {
		log_warn("dkim keys");
		free(nk);
		return -1;
	}
	for (i = 0; i < c->dkim.nsign; i++) {
		cs = &c->dkim.sign[i];
		if (key_find(nk, n, cs->domain, cs->selector, NULL) != NULL) {
			log_warnx("dkim: domain %s selector %s given twice",
			    cs->domain, cs->selector);
			goto fail;
		}
		n++;
		if (key_read(&nk[n - 1].pem, cs->keyfile) == -1)
			goto fail;
		if ((nk[n - 1].pem.path = strdup(cs->keyfile)) == NULL ||
		    (nk[n - 1].domain = strdup(cs->domain)) == NULL ||
		    (nk[n - 1].selector = strdup(cs->selector)) == NULL) {
			log_warn("dkim keys");
			goto fail;
		}
	}
	if (keys_check(nk, n, bits) == -1)
		goto fail;
	for (i = 0; i < n; i++)
		log_info("dkim key loaded domain=%s selector=%s alg=%s bits=%u",
		    nk[i].domain, nk[i].selector,
		    nk[i].alg == AUTHD_ALG_RSA_SHA256 ? "rsa-sha256" :
		    "ed25519-sha256", bits[i]);
	free(bits);
	authd_dkim_free();	/* and the signer of the old keys */
	keys = nk;
	nkeys = n;
	return 0;
fail:
	free(bits);
	keys_free(nk, n);
	return -1;
}

/* signer_stop - close its channel: it reads EOF and exits (on_child in
 * authd_hash.c reaps it) */
static void
signer_stop(void)
{
	if (signer_timer_init)
		ev_timer_del(&signer_idle);
	if (signer_fd != -1)
		close(signer_fd);
	signer_fd = -1;
	signer_pid = 0;
}

static void
on_signer_idle(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	signer_stop();
}

/* signer_spawn - fork the signer; -1 (logged) if it could not */
static int
signer_spawn(void)
{
	struct authd_dkim_pem *pem;
	size_t i;
	pid_t pid;
	int sv[2];

	if ((pem = calloc(nkeys ? nkeys : 1, sizeof(*pem))) == NULL) {
		log_warn("dkim signer");
		return -1;
	}
	for (i = 0; i < nkeys; i++)
		pem[i] = keys[i].pem;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("dkim signer socketpair");
		free(pem);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("dkim signer fork");
		close(sv[0]);
		close(sv[1]);
		free(pem);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		authd_child_shed(sv[1], "authd-sign");
		authd_dkim_key_serve(pem, nkeys, 3);
	}
	free(pem);
	close(sv[1]);
	signer_fd = sv[0];
	signer_pid = pid;
	if (!signer_timer_init) {
		ev_timer_init(&signer_idle, on_signer_idle, NULL);
		signer_timer_init = true;
	}
	return 0;
}

/*
 * signer_call - one SIGN exchange with the signer, forking it if needed.
 * 1: a retry may help (it had exited), 0 done, -1 failed.
 */
static int
signer_call(size_t idx, int alg, const unsigned char digest[32],
    unsigned char *sig, size_t *siglen_r)
{
	static uint8_t store[IPC_MAX_PAYLOAD];
	struct ipc_out o;
	struct ipc_msg m;
	const void *p;
	uint32_t res;
	size_t n;

	if (signer_fd == -1 && signer_spawn() == -1)
		return -1;
	ev_timer_del(&signer_idle);
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)idx);
	ipc_put_u32(&o, (uint32_t)alg);
	ipc_put_data(&o, digest, 32);
	if (++signer_id == 0)
		signer_id = 1;
	if (ipc_write_sync(signer_fd, AUTHD_DKIM_SIGN_REQ, signer_id, -1,
	    &o) == -1 ||
	    ipc_read_sync(signer_fd, &m, store, SIGNER_TIMEOUT_MS) == -1) {
		if (errno == ETIMEDOUT) {
			log_warnx("dkim signer pid=%ld: no answer, killed",
			    (long)signer_pid);
			(void)kill(signer_pid, SIGKILL);
			signer_stop();
			return -1;
		}
		signer_stop();
		return 1;
	}
	ev_timer_add(&signer_idle, SIGNER_IDLE_MS);
	if (m.hdr.type != AUTHD_DKIM_SIGNED || m.hdr.id != signer_id ||
	    !ipc_get_u32(&m, &res)) {
		log_warnx("dkim signer: unexpected answer");
		signer_stop();
		return -1;
	}
	if (res != 0 || !ipc_get_data(&m, &p, &n) || !ipc_get_end(&m) ||
	    n > *siglen_r)
		return -1;	/* the signer logged why */
	memcpy(sig, p, n);
	*siglen_r = n;
	return 0;
}

int
authd_dkim_alg(const char *domain, const char *selector)
{
	struct dkim_key *k = key_find(keys, nkeys, domain, selector, NULL);

	return k ? k->alg : 0;
}

int
authd_dkim_sign(const char *domain, const char *selector, int alg,
    const unsigned char digest[32], unsigned char *sig, size_t *siglen_r)
{
	struct dkim_key *k;
	char d[128], s[128];
	size_t idx;
	int rc;

	log_escape(d, sizeof(d), domain, strlen(domain));
	log_escape(s, sizeof(s), selector, strlen(selector));
	if ((k = key_find(keys, nkeys, domain, selector, &idx)) == NULL) {
		log_warnx("dkim sign: no key for domain=%s selector=%s", d, s);
		return -1;
	}
	if (k->alg != alg) {
		log_warnx("dkim sign: key domain=%s selector=%s is not of"
		    " algorithm %d", d, s, alg);
		return -1;
	}
	if ((rc = signer_call(idx, alg, digest, sig, siglen_r)) == 1)
		rc = signer_call(idx, alg, digest, sig, siglen_r);
	if (rc != 0) {
		log_warnx("dkim sign: domain=%s selector=%s: the signer failed",
		    d, s);
		return -1;
	}
	return 0;
}
