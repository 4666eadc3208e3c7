/* SPDX-License-Identifier: ISC */
/*
 * relay_sasl.c - SMTP AUTH (RFC 4954) towards the smarthost through the
 * libsasl2 client: PLAIN, LOGIN and whatever else the server offers that
 * an installed libsasl2 plugin does with a user name and a password
 * (SCRAM-*, CRAM-MD5, DIGEST-MD5...); libsasl2 picks the strongest.
 * Mechanisms that do not prove our password (ANONYMOUS, EXTERNAL) or
 * need other credentials (Kerberos, OTP) are never offered to it.  No
 * SASL security layer is negotiated: TLS protects the session, and AUTH
 * is only sent over TLS (the configuration refuses a login with tls=none).
 *
 * Runs in the relay role as `user`.  The password stays in memory in the
 * role (given by the parent) and in a per-session copy that libsasl2
 * reads; the copy is wiped when the session ends.  Never logged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "log.h"
#include "xmem.h"
#include "smtpd/relay.h"

#define SASL_B64_MAX	12288	/* RFC 4954 4: AUTH line limit */

struct relay_sasl {
	sasl_conn_t	*conn;
	sasl_callback_t	 cb[5];
	char		*user;
	sasl_secret_t	*secret;
	size_t		 secretlen;
};

typedef int (*sasl_fn)(void);

static bool sasl_ready;

static int
sasl_log(void *ctx, int level, const char *msg)
{
	char esc[256];

	(void)ctx;
	(void)level;
	log_debug("relay: sasl: %s", log_escape(esc, sizeof(esc), msg, strlen(msg)));
	return SASL_OK;
}

static sasl_callback_t sasl_global_cb[] = {
	{ SASL_CB_LOG, (sasl_fn)(void (*)(void))sasl_log, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

int
relay_sasl_init(void)
{
	int rc;

	if (sasl_ready)
		return 0;
	if ((rc = sasl_client_init(sasl_global_cb)) != SASL_OK) {
		log_warnx("relay: sasl_client_init: %s",
		    sasl_errstring(rc, NULL, NULL));
		return -1;
	}
	sasl_ready = true;
	return 0;
}

void
relay_sasl_shutdown(void)
{
	if (sasl_ready)
		sasl_client_done();
	sasl_ready = false;
}

/* sasl_get_simple - SASL_CB_AUTHNAME is the login; SASL_CB_USER (authzid) empty */
static int
sasl_get_simple(void *ctx, int id, const char **result, unsigned *len)
{
	struct relay_sasl *s = ctx;

	*result = id == SASL_CB_AUTHNAME ? s->user : "";
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int
sasl_get_secret(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
	struct relay_sasl *s = ctx;

	(void)conn;
	(void)id;
	*psecret = s->secret;
	return SASL_OK;
}

/* sasl_mech_ok - a mechanism we let libsasl2 use with a password */
static bool
sasl_mech_ok(const char *m, size_t n)
{
	static const char *const refused[] = {
		"ANONYMOUS", "EXTERNAL", "GSSAPI", "GSS-SPNEGO", "KERBEROS_V4",
		"OTP", "SKEY", NULL,
	};
	size_t i;

	if (n >= 4 && strncasecmp(m, "GS2-", 4) == 0)
		return false;
	for (i = 0; refused[i] != NULL; i++)
		if (strlen(refused[i]) == n && strncasecmp(m, refused[i], n) == 0)
			return false;
	return true;
}

/* sasl_filter - the server's list without the refused mechanisms */
static void
sasl_filter(const char *list, char *out, size_t outsz)
{
	const char *p = list;
	size_t o = 0;

	out[0] = '\0';
	while (*p) {
		const char *w;
		size_t n;

		while (*p == ' ')
			p++;
		w = p;
		while (*p && *p != ' ')
			p++;
		n = (size_t)(p - w);
		if (n == 0 || !sasl_mech_ok(w, n) || o + n + 2 > outsz)
			continue;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, w, n);
		o += n;
		out[o] = '\0';
	}
}

/* sasl_put64 - base64 of (p, n) appended to out, "=" for an empty one */
static int
sasl_put64(struct buf *out, const char *p, unsigned n)
{
	unsigned len;

	if (n == 0)
		return buf_puts(out, "=");
	if (buf_reserve(out, SASL_B64_MAX) == -1 ||
	    sasl_encode64(p, n, buf_tail(out), SASL_B64_MAX, &len) != SASL_OK)
		return -1;
	buf_commit(out, len);
	return 0;
}

struct relay_sasl *
relay_sasl_start(const char *host, const char *user, const char *password,
    const char *server_mechs, unsigned ext_ssf, struct buf *out,
    const char **mech_r, const char **err_r)
{
	struct relay_sasl *s = xcalloc(1, sizeof(*s));
	sasl_security_properties_t sec;
	sasl_ssf_t ssf = ext_ssf;
	const char *cout = NULL, *mech = NULL;
	unsigned coutlen = 0;
	char mechs[sizeof(((struct relay_caps *)0)->auth)];
	size_t plen = strlen(password);
	int rc;

	*err_r = NULL;
	s->user = xstrdup(user);
	s->secretlen = sizeof(sasl_secret_t) + plen;
	s->secret = xcalloc(1, s->secretlen);
	s->secret->len = plen;
	memcpy(s->secret->data, password, plen);
	s->cb[0] = (sasl_callback_t){ SASL_CB_USER,
	    (sasl_fn)(void (*)(void))sasl_get_simple, s };
	s->cb[1] = (sasl_callback_t){ SASL_CB_AUTHNAME,
	    (sasl_fn)(void (*)(void))sasl_get_simple, s };
	s->cb[2] = (sasl_callback_t){ SASL_CB_PASS,
	    (sasl_fn)(void (*)(void))sasl_get_secret, s };
	s->cb[3] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	sasl_filter(server_mechs, mechs, sizeof(mechs));
	if (!sasl_ready || mechs[0] == '\0') {
		*err_r = "no usable AUTH mechanism offered";
		goto fail;
	}
	if (sasl_client_new("smtp", host, NULL, NULL, s->cb, 0, &s->conn) != SASL_OK) {
		*err_r = "sasl_client_new failed";
		goto fail;
	}
	memset(&sec, 0, sizeof(sec));
	sec.max_ssf = 0;		/* no security layer: TLS does that */
	sec.maxbufsize = 0;
	sec.security_flags = SASL_SEC_NOANONYMOUS;
	if (sasl_setprop(s->conn, SASL_SEC_PROPS, &sec) != SASL_OK ||
	    sasl_setprop(s->conn, SASL_SSF_EXTERNAL, &ssf) != SASL_OK) {
		*err_r = "sasl_setprop failed";
		goto fail;
	}
	rc = sasl_client_start(s->conn, mechs, NULL, &cout, &coutlen, &mech);
	if ((rc != SASL_OK && rc != SASL_CONTINUE) || mech == NULL) {
		*err_r = rc == SASL_NOMECH ? "no AUTH mechanism in common" :
		    "sasl_client_start failed";
		goto fail;
	}
	*mech_r = mech;
	if (buf_printf(out, "AUTH %s", mech) == -1 ||
	    (cout != NULL && (buf_puts(out, " ") == -1 ||
	    sasl_put64(out, cout, coutlen) == -1)) || buf_puts(out, "\r\n") == -1) {
		*err_r = "AUTH line too long";
		goto fail;
	}
	return s;
fail:
	relay_sasl_free(&s);
	return NULL;
}

int
relay_sasl_step(struct relay_sasl *s, const char *chal, size_t len,
    struct buf *out, const char **err_r)
{
	char *in = xmalloc(len + 1);
	const char *cout = NULL;
	unsigned inlen = 0, coutlen = 0;
	int rc, ret = -1;

	*err_r = NULL;
	if (len > SASL_B64_MAX ||
	    sasl_decode64(chal, (unsigned)len, in, (unsigned)len + 1, &inlen) != SASL_OK) {
		*err_r = "bad base64 in the server's challenge";
		goto done;
	}
	in[inlen] = '\0';
	rc = sasl_client_step(s->conn, in, inlen, NULL, &cout, &coutlen);
	if (rc != SASL_OK && rc != SASL_CONTINUE) {
		*err_r = "the SASL exchange failed";
		goto done;
	}
	if (cout == NULL)
		coutlen = 0;
	if (sasl_put64(out, cout, coutlen) == -1 || buf_puts(out, "\r\n") == -1) {
		*err_r = "SASL response too long";
		goto done;
	}
	ret = 0;
done:
	wipe(in, len + 1);
	free(in);
	return ret;
}

void
relay_sasl_free(struct relay_sasl **sp)
{
	struct relay_sasl *s = *sp;

	if (s == NULL)
		return;
	if (s->conn != NULL)
		sasl_dispose(&s->conn);
	wipe(s->secret, s->secretlen);
	free(s->secret);
	free(s->user);
	free(s);
	*sp = NULL;
}
