/* SPDX-License-Identifier: ISC */
/*
 * authd_login.c - password checks through libsasl2 (SPEC 5: "check this
 * login (PLAIN/LOGIN through libsasl2)").
 *
 * Runs in the hashing processes of facteur-authd (authd_hash.c), never on
 * authd's event loop: one check costs one scrypt.  libsasl2 is initialised
 * once, before they fork, as application "facteur" with only PLAIN and
 * LOGIN, no sasldb, no saslauthd, no auxprop store: its password check is
 * our SASL_CB_SERVER_USERDB_CHECKPASS callback, which verifies the passwd.h
 * hash the main process read from users.db and sent along, and
 * pwcheck_method names no real method, so nothing else can ever say yes.
 * A login is accepted only if libsasl2 completed the PLAIN exchange AND our
 * callback verified that very user.  Never logs a password; the PLAIN
 * message that carries it is wiped after use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "authd.h"
#include "log.h"
#include "passwd.h"
#include "xmem.h"

/*
 * the server's name for sasl_server_new: given, so that libsasl2 does not
 * look the host name up itself (gethostname + getaddrinfo: in authd's
 * chroot, with no /etc/hosts, a DNS query that takes 5 s to time out where
 * nothing answers on 127.0.0.1:53, for every first login)
 */
static char login_fqdn[256];

/* what the callback found for the check in progress (one at a time) */
static struct {
	const char	*user;		/* the user we asked about */
	const char	*stored;	/* its hash, NULL: no such user */
	bool		 verified;	/* callback said yes for `user` */
	bool		 called;
} check;

static int
login_getopt(void *ctx, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	(void)ctx;
	(void)plugin;
	if (strcmp(option, "mech_list") == 0)
		*result = "PLAIN LOGIN";
	else if (strcmp(option, "pwcheck_method") == 0)
		*result = "facteur-userdb";	/* no such method: only our callback */
	else if (strcmp(option, "auxprop_plugin") == 0)
		*result = "facteur-none";	/* and no auxprop database either */
	else if (strcmp(option, "log_level") == 0)
		*result = "1";
	else
		return SASL_FAIL;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int
login_log(void *ctx, int level, const char *msg)
{
	char esc[256];

	(void)ctx;
	(void)level;
	/*
	 * debug only: every failed login makes libsasl2 complain that our
	 * pwcheck_method does not exist, which is the point; real trouble
	 * shows as a TEMPFAIL that authd_login_check() logs itself
	 */
	log_debug("sasl: %s", log_escape(esc, sizeof(esc), msg, strlen(msg)));
	return SASL_OK;
}

/* login_checkpass - SASL_CB_SERVER_USERDB_CHECKPASS against check.stored */
static int
login_checkpass(sasl_conn_t *conn, void *ctx, const char *user,
    const char *pass, unsigned passlen, struct propctx *propctx)
{
	(void)conn;
	(void)ctx;
	(void)propctx;
	check.called = true;
	if (check.user == NULL || strcmp(user, check.user) != 0) {
		/* libsasl2 rewrote the name: refuse rather than guess */
		passwd_verify_dummy(pass, passlen);
		return SASL_BADAUTH;
	}
	if (check.stored == NULL) {
		passwd_verify_dummy(pass, passlen);
		return SASL_NOUSER;
	}
	if (!passwd_verify(pass, passlen, check.stored))
		return SASL_BADAUTH;
	check.verified = true;
	return SASL_OK;
}

/*
 * login_verifyfile - of libsasl2's plugins only PLAIN and LOGIN are
 * loaded: the others (DIGEST-MD5, SCRAM, NTLM, sasldb...) could never be
 * used (mech_list) and each costs resident pages and relocations
 */
static int
login_verifyfile(void *ctx, const char *file, sasl_verify_type_t type)
{
	const char *base = strrchr(file, '/');

	(void)ctx;
	if (type != SASL_VRFY_PLUGIN)
		return SASL_OK;
	base = base != NULL ? base + 1 : file;
	if (strncmp(base, "libplain.", 9) == 0 ||
	    strncmp(base, "liblogin.", 9) == 0)
		return SASL_OK;
	return SASL_CONTINUE;
}

typedef int (*login_cb_fn)(void);

static sasl_callback_t login_callbacks[] = {
	{ SASL_CB_GETOPT, (login_cb_fn)(void (*)(void))login_getopt, NULL },
	{ SASL_CB_LOG, (login_cb_fn)(void (*)(void))login_log, NULL },
	{ SASL_CB_VERIFYFILE, (login_cb_fn)(void (*)(void))login_verifyfile,
	    NULL },
	{ SASL_CB_SERVER_USERDB_CHECKPASS,
	    (login_cb_fn)(void (*)(void))login_checkpass, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

int
authd_login_init(const char *hostname)
{
	int rc;

	if (strlen(hostname) >= sizeof(login_fqdn)) {
		log_warnx("hostname too long for libsasl2: %s", hostname);
		return -1;
	}
	strcpy(login_fqdn, hostname);
	if ((rc = sasl_server_init(login_callbacks, "facteur")) != SASL_OK) {
		log_warnx("sasl_server_init: %s", sasl_errstring(rc, NULL, NULL));
		return -1;
	}
	return 0;
}

void
authd_login_done(void)
{
	sasl_server_done();
}

/* login_plain - the PLAIN message "\0user\0password" (RFC 4616), malloced */
static char *
login_plain(const char *user, const char *password, size_t passlen,
    size_t *len_r)
{
	size_t ulen = strlen(user);
	char *msg;

	if ((msg = malloc(ulen + passlen + 2)) == NULL)
		return NULL;
	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[1 + ulen] = '\0';
	memcpy(msg + 2 + ulen, password, passlen);
	*len_r = ulen + passlen + 2;
	return msg;
}

enum authd_check
authd_login_check(const char *service, const char *user, const char *stored,
    const char *password, size_t passlen)
{
	sasl_security_properties_t sec;
	sasl_conn_t *conn = NULL;
	enum authd_check res = CHECK_TEMPFAIL;
	const char *out;
	unsigned outlen;
	size_t len = 0;
	char *msg = NULL;
	int rc;

	memset(&check, 0, sizeof(check));
	check.user = user;
	check.stored = stored;
	if (passlen == 0)
		return CHECK_FAIL;
	if ((rc = sasl_server_new(service, login_fqdn, NULL, NULL, NULL, NULL, 0,
	    &conn)) != SASL_OK) {
		log_warnx("sasl_server_new: %s", sasl_errstring(rc, NULL, NULL));
		goto done;
	}
	/* TLS is smtpd's and imapd's business: PLAIN must be allowed here */
	memset(&sec, 0, sizeof(sec));
	sec.max_ssf = 0;
	sec.maxbufsize = 0;
	sec.security_flags = 0;
	if (sasl_setprop(conn, SASL_SEC_PROPS, &sec) != SASL_OK)
		goto done;
	if ((msg = login_plain(user, password, passlen, &len)) == NULL)
		goto done;
	rc = sasl_server_start(conn, "PLAIN", msg, (unsigned)len, &out, &outlen);
	if (rc == SASL_OK && check.called && check.verified)
		res = CHECK_OK;
	else if (rc == SASL_OK || check.called || rc == SASL_BADAUTH ||
	    rc == SASL_NOUSER || rc == SASL_BADPROT)
		res = CHECK_FAIL;	/* SASL_OK without our yes is a no */
	else
		log_warnx("sasl_server_start: %s", sasl_errdetail(conn));
done:
	if (msg != NULL) {
		wipe(msg, len);
		free(msg);
	}
	if (conn != NULL)
		sasl_dispose(&conn);
	memset(&check, 0, sizeof(check));
	return res;
}
