/* SPDX-License-Identifier: ISC */
/*
 * acme.c - `facteur-keytool acme issue|renew`: a certificate for
 * hostname (or [acme] names) from an ACME CA (RFC 8555; Let's Encrypt by
 * default), written to the [tls] cert and key, then SIGHUP to
 * facteur-smtpd and facteur-imapd so new connections get it.
 *
 * The order: directory; account (key at [acme] account_key, default
 * state_dir/acme/account.key, made on first use, mode 0600); newOrder;
 * each authorization's http-01 challenge served (acme_chal.c) and
 * answered, the authorization polled until valid; finalize with a CSR
 * for a new ECDSA P-256 key; the order polled; the chain downloaded,
 * checked (it must be for our key and names) and written: the key (0600)
 * and then the chain (0644), each by rename.  `renew` does all this only
 * when the certificate in place has less than [acme] renew_before (30
 * days) left, does not cover the names or is self-signed, and otherwise
 * says so and exits 0 without touching the network: cron can run it daily.
 *
 * Runs as the administrator (root for port 80); every answer of the CA is
 * untrusted (acme_httpp.c, acme_json.c).  Exit 0, 1 after "acme: ..." on
 * stderr, 2 for usage.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "conf.h"
#include "strnum.h"
#include "xmem.h"
#include "keytool/acme.h"
#include "keytool/acme_json.h"
#include "keytool/keytool.h"
#include "keytool/keytool_dkim.h"

#define POLL_MS		500

struct acme {
	const struct conf *c;
	struct acme_http http;
	EVP_PKEY	*key;
	char		*thumb;
	char		 kid[ACME_URL_MAX];
	char		 nonce[ACME_NONCE_MAX];
	char		 new_nonce[ACME_URL_MAX];
	char		 new_account[ACME_URL_MAX];
	char		 new_order[ACME_URL_MAX];
	char		**names;
	size_t		 nnames;
	/* the last answer */
	struct http_resp r;
	struct json	 j;
	struct json_tok	 toks[JSON_MAX_TOKENS];
};

/* url_ok - an https URL we may put into a JWS header (no quotes) */
static bool
url_ok(const char *s)
{
	size_t i;

	if (strncmp(s, "https://", 8) != 0)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
		    s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* got_answer - keep the nonce, parse a JSON body (if any) into a->j */
static void
got_answer(struct acme *a)
{
	const char *err;

	if (a->r.nonce[0] != '\0' && strspn(a->r.nonce, "ABCDEFGHIJKLMNOPQRS"
	    "TUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	    strlen(a->r.nonce))
		bstrcpy(a->nonce, a->r.nonce, sizeof(a->nonce));
	a->j.n = 0;
	if (strncmp(a->r.ctype, "application/json", 16) == 0 ||
	    strncmp(a->r.ctype, "application/problem+json", 24) == 0)
		(void)json_parse(&a->j, a->r.body, a->r.bodylen, a->toks,
		    JSON_MAX_TOKENS, &err);
}

/* problem - explain an error answer: the problem document's detail */
static void
problem(struct acme *a, const char *what, const char *url)
{
	char detail[512] = "", type[256] = "";

	if (a->j.n > 0) {
		(void)json_get_str(&a->j, 0, "detail", detail, sizeof(detail));
		(void)json_get_str(&a->j, 0, "type", type, sizeof(type));
	}
	fprintf(stderr, "acme: %s refused (%s: HTTP %d)%s%s%s%s\n", what, url,
	    a->r.status, detail[0] ? ": " : "", detail, type[0] ? " " : "",
	    type);
}

static int
request(struct acme *a, const char *method, const char *url,
    const char *body)
{
	http_resp_free(&a->r);
	a->j.n = 0;
	if (acme_http_req(&a->http, method, url, body, &a->r) == -1)
		return -1;
	got_answer(a);
	return 0;
}

/*
 * post - a JWS POST of payload ("" = POST-as-GET) to url, with a fresh
 * nonce, once more after a badNonce (RFC 8555 6.5); the answer in a->r
 * and a->j.  -1 when nothing came back (explained).
 */
static int
post(struct acme *a, const char *url, const char *payload)
{
	char type[128];
	char *jws;
	int attempt, rc;

	for (attempt = 0; attempt < 3; attempt++) {
		if (a->nonce[0] == '\0') {
			if (request(a, "HEAD", a->new_nonce, NULL) == -1)
				return -1;
			if (a->nonce[0] == '\0') {
				fprintf(stderr, "acme: %s gave no Replay-Nonce\n",
				    a->new_nonce);
				return -1;
			}
		}
		jws = acme_jws(a->key, a->kid[0] ? a->kid : NULL, a->nonce, url,
		    payload);
		a->nonce[0] = '\0';
		if (jws == NULL) {
			fprintf(stderr, "acme: cannot sign the request\n");
			return -1;
		}
		rc = request(a, "POST", url, jws);
		free(jws);
		if (rc == -1)
			return -1;
		if (a->r.status == 400 && json_get_str(&a->j, 0, "type", type,
		    sizeof(type)) && strcmp(type,
		    "urn:ietf:params:acme:error:badNonce") == 0)
			continue;
		break;
	}
	return 0;
}

/* get_url - member key of the answer's object as a checked URL */
static bool
get_url(struct acme *a, int obj, const char *key, char *out, size_t outsz)
{
	return json_get_str(&a->j, obj, key, out, outsz) && url_ok(out);
}

static int
directory(struct acme *a)
{
	const char *url = a->c->acme.directory;

	if (request(a, "GET", url, NULL) == -1)
		return -1;
	if (a->r.status != 200 || a->j.n == 0 ||
	    !get_url(a, 0, "newNonce", a->new_nonce, sizeof(a->new_nonce)) ||
	    !get_url(a, 0, "newAccount", a->new_account,
	    sizeof(a->new_account)) ||
	    !get_url(a, 0, "newOrder", a->new_order, sizeof(a->new_order))) {
		fprintf(stderr, "acme: %s (HTTP %d) is not an ACME directory; "
		    "see [acme] directory\n", url, a->r.status);
		return -1;
	}
	return 0;
}

static bool
email_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 2 && n < 200 && strchr(s, '@') != NULL &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789@._+-") == n;
}

static int
account(struct acme *a)
{
	const char *email = a->c->acme.email;
	char payload[512];

	if (email != NULL && !email_ok(email)) {
		fprintf(stderr, "acme: [acme] email %s: expected an address "
		    "like postmaster@example.org\n", email);
		return -1;
	}
	if (!bsnprintf(payload, sizeof(payload),
	    "{\"termsOfServiceAgreed\":true%s%s%s}", email ?
	    ",\"contact\":[\"mailto:" : "", email ? email : "",
	    email ? "\"]" : ""))
		return -1;
	if (post(a, a->new_account, payload) == -1)
		return -1;
	if ((a->r.status != 200 && a->r.status != 201) ||
	    !url_ok(a->r.location)) {
		problem(a, "account", a->new_account);
		return -1;
	}
	bstrcpy(a->kid, a->r.location, sizeof(a->kid));
	return 0;
}

/* order - newOrder for the names; the order URL, its authorizations */
static int
order(struct acme *a, char *order_url, size_t ousz, char authz[][ACME_URL_MAX],
    size_t *nauthz, char *finalize, size_t fsz)
{
	struct buf b;
	size_t i;
	int arr, rc;

	buf_init(&b, 0);
	(void)buf_puts(&b, "{\"identifiers\":[");
	for (i = 0; i < a->nnames; i++)
		(void)buf_printf(&b, "%s{\"type\":\"dns\",\"value\":\"%s\"}",
		    i ? "," : "", a->names[i]);
	(void)buf_puts(&b, "]}");
	rc = post(a, a->new_order, buf_head(&b));
	buf_free(&b);
	if (rc == -1)
		return -1;
	if (a->r.status != 201 || !url_ok(a->r.location)) {
		problem(a, "the order", a->new_order);
		return -1;
	}
	bstrcpy(order_url, a->r.location, ousz);
	arr = json_get(&a->j, 0, "authorizations");
	*nauthz = json_count(&a->j, arr);
	if (*nauthz == 0 || *nauthz > 16 ||
	    !get_url(a, 0, "finalize", finalize, fsz)) {
		fprintf(stderr, "acme: %s: malformed order\n", a->new_order);
		return -1;
	}
	for (i = 0; i < *nauthz; i++)
		if (!json_str(&a->j, json_elem(&a->j, arr, i), authz[i],
		    ACME_URL_MAX) || !url_ok(authz[i])) {
			fprintf(stderr, "acme: %s: malformed authorization URL\n",
			    a->new_order);
			return -1;
		}
	return 0;
}

/* sleep_ms - wait between polls: Retry-After (at most 10 s) or POLL_MS */
static void
sleep_ms(const struct acme *a)
{
	unsigned ms = a->r.retry_after ? a->r.retry_after * 1000 : POLL_MS;
	struct timespec ts;

	if (ms > 10000)
		ms = 10000;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	(void)nanosleep(&ts, NULL);
}

/* chal_error - why an authorization failed: the challenge's error */
static void
chal_error(struct acme *a, const char *name)
{
	char detail[512] = "the CA gave no reason";
	int chs = json_get(&a->j, 0, "challenges"), ch, err;
	size_t i;

	for (i = 0; i < json_count(&a->j, chs); i++) {
		ch = json_elem(&a->j, chs, i);
		if ((err = json_get(&a->j, ch, "error")) != -1 &&
		    json_get_str(&a->j, err, "detail", detail, sizeof(detail)))
			break;
	}
	fprintf(stderr, "acme: the CA could not validate %s: %s\n", name,
	    detail);
}

/*
 * authorize - every authorization: the http-01 challenges served, then
 * answered, then each polled until valid
 */
static int
authorize(struct acme *a, char authz[][ACME_URL_MAX], size_t nauthz)
{
	char status[32], token[256], keyauth[512], name[256];
	char chal_url[16][ACME_URL_MAX];
	bool pending[16];
	struct acme_chal ch;
	time_t deadline;
	size_t i, k;
	int chs, c = -1, rc = -1;

	memset(&ch, 0, sizeof(ch));
	ch.webroot = a->c->acme.webroot;
	for (i = 0; i < nauthz; i++) {
		pending[i] = false;
		if (post(a, authz[i], "") == -1)
			goto done;
		if (a->r.status != 200 ||
		    !json_get_str(&a->j, 0, "status", status, sizeof(status))) {
			problem(a, "the authorization", authz[i]);
			goto done;
		}
		if (strcmp(status, "valid") == 0)
			continue;	/* authorized recently: nothing to do */
		chs = json_get(&a->j, 0, "challenges");
		for (k = 0; k < json_count(&a->j, chs); k++) {
			c = json_elem(&a->j, chs, k);
			if (json_get_str(&a->j, c, "type", status,
			    sizeof(status)) && strcmp(status, "http-01") == 0)
				break;
		}
		if (k == json_count(&a->j, chs) ||
		    !json_get_str(&a->j, c, "token", token, sizeof(token)) ||
		    !get_url(a, c, "url", chal_url[i], ACME_URL_MAX)) {
			fprintf(stderr, "acme: %s offers no http-01 challenge\n",
			    authz[i]);
			goto done;
		}
		if (!bsnprintf(keyauth, sizeof(keyauth), "%s.%s", token,
		    a->thumb) || acme_chal_add(&ch, token, keyauth) == -1)
			goto done;
		pending[i] = true;
	}
	if (acme_chal_listen(&ch, a->c->acme.http.host,
	    a->c->acme.http.port) == -1)
		goto done;
	/* the CA may fetch from now on */
	for (i = 0; i < nauthz; i++) {
		if (!pending[i])
			continue;
		if (post(a, chal_url[i], "{}") == -1)
			goto done;
		if (a->r.status != 200) {
			problem(a, "the challenge", chal_url[i]);
			goto done;
		}
	}
	deadline = time(NULL) + (time_t)a->c->acme.timeout;
	for (i = 0; i < nauthz; i++) {
		while (pending[i]) {
			if (post(a, authz[i], "") == -1)
				goto done;
			if (!json_get_str(&a->j, 0, "status", status,
			    sizeof(status))) {
				problem(a, "the authorization", authz[i]);
				goto done;
			}
			if (strcmp(status, "valid") == 0)
				break;
			if (strcmp(status, "pending") != 0) {
				if (!json_get_str(&a->j, json_get(&a->j, 0,
				    "identifier"), "value", name, sizeof(name)))
					bstrcpy(name, "a name", sizeof(name));
				chal_error(a, name);
				goto done;
			}
			if (time(NULL) > deadline) {
				fprintf(stderr, "acme: %s still pending after "
				    "%u s\n", authz[i], a->c->acme.timeout);
				goto done;
			}
			sleep_ms(a);
		}
	}
	rc = 0;
done:
	acme_chal_done(&ch);
	return rc;
}

/* finalize - send the CSR, poll the order; the certificate URL */
static int
finalize(struct acme *a, EVP_PKEY *certkey, const char *order_url,
    const char *fin, char *cert_url, size_t csz)
{
	char status[32], *csr;
	struct buf b;
	time_t deadline = time(NULL) + (time_t)a->c->acme.timeout;
	int rc;

	if ((csr = acme_csr(certkey, a->names, a->nnames)) == NULL) {
		fprintf(stderr, "acme: cannot make the CSR\n");
		return -1;
	}
	buf_init(&b, 0);
	(void)buf_printf(&b, "{\"csr\":\"%s\"}", csr);
	free(csr);
	rc = post(a, fin, buf_head(&b));
	buf_free(&b);
	if (rc == -1)
		return -1;
	if (a->r.status != 200) {
		problem(a, "finalize", fin);
		return -1;
	}
	for (;;) {
		if (!json_get_str(&a->j, 0, "status", status, sizeof(status))) {
			problem(a, "the order", order_url);
			return -1;
		}
		if (strcmp(status, "valid") == 0)
			break;
		if (strcmp(status, "processing") != 0 &&
		    strcmp(status, "ready") != 0 &&
		    strcmp(status, "pending") != 0) {
			problem(a, "the order", order_url);
			return -1;
		}
		if (time(NULL) > deadline) {
			fprintf(stderr, "acme: %s still %s after %u s\n",
			    order_url, status, a->c->acme.timeout);
			return -1;
		}
		sleep_ms(a);
		if (post(a, order_url, "") == -1)
			return -1;
	}
	if (!get_url(a, 0, "certificate", cert_url, csz)) {
		fprintf(stderr, "acme: %s: valid but no certificate URL\n",
		    order_url);
		return -1;
	}
	return 0;
}

/*
 * chain_check - the PEM chain the CA sent, re-encoded (nothing but
 * certificates goes to disk): its first certificate must be for certkey
 * and cover every name.  NULL explained.
 */
static char *
chain_check(struct acme *a, EVP_PKEY *certkey, size_t *len_r)
{
	BIO *in, *out;
	X509 *x;
	char *p, *pem = NULL;
	size_t i, n = 0;
	long len;

	if ((in = BIO_new_mem_buf(a->r.body, (int)a->r.bodylen)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(in);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (n == 0) {
			if (X509_check_private_key(x, certkey) != 1) {
				fprintf(stderr, "acme: the certificate is not "
				    "for our key\n");
				X509_free(x);
				goto done;
			}
			for (i = 0; i < a->nnames; i++)
				if (X509_check_host(x, a->names[i], 0, 0,
				    NULL) != 1) {
					fprintf(stderr, "acme: the certificate "
					    "does not name %s\n", a->names[i]);
					X509_free(x);
					goto done;
				}
		}
		n++;
		(void)PEM_write_bio_X509(out, x);
		X509_free(x);
	}
	if (n == 0) {
		fprintf(stderr, "acme: the CA sent no certificate (HTTP %d, %s)\n",
		    a->r.status, a->r.ctype);
		goto done;
	}
	if ((len = BIO_get_mem_data(out, &p)) > 0) {
		pem = xmalloc((size_t)len);
		memcpy(pem, p, (size_t)len);
		*len_r = (size_t)len;
	}
done:
	BIO_free(in);
	BIO_free(out);
	return pem;
}

/* save - the key, then the chain: a reload between finds the old pair
 * mismatched and keeps running with what it has */
static int
save(const struct acme *a, EVP_PKEY *certkey, const char *chain, size_t clen)
{
	BIO *kb;
	char *kp;
	long klen;
	int rc = -1;

	if ((kb = BIO_new(BIO_s_secmem())) == NULL)
		return -1;
	if (PEM_write_bio_PrivateKey(kb, certkey, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (klen = BIO_get_mem_data(kb, &kp)) > 0 &&
	    keytool_write_file(a->c->tls.key, kp, (size_t)klen, 0600,
	    true) == 0 &&
	    keytool_write_file(a->c->tls.cert, chain, clen, 0644, true) == 0) {
		keytool_give(a->c, a->c->tls.key);
		rc = 0;
	}
	BIO_free(kb);
	return rc;
}

/* proc_is - /proc/PID/comm is facteur-NAME (or /proc cannot tell) */
static bool
proc_is(pid_t pid, const char *name)
{
	char path[64], comm[64], want[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return errno != ENOENT || access("/proc/self", F_OK) != 0;
	n = fread(comm, 1, sizeof(comm) - 1, f);
	fclose(f);
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(want, sizeof(want), "facteur-%s", name);
	return strncmp(comm, want, 15) == 0;	/* comm: 15 bytes at most */
}

/* reload_daemons - SIGHUP to smtpd and imapd by their pid files */
static void
reload_daemons(const struct conf *c)
{
	static const char *const names[] = { "smtpd", "imapd" };
	char path[PATH_MAX], line[32];
	const char *err;
	long long pid;
	size_t i;
	FILE *f;

	for (i = 0; i < 2; i++) {
		if (!bsnprintf(path, sizeof(path), "%s/%s.pid", c->run_dir,
		    names[i]))
			continue;
		if ((f = fopen(path, "re")) == NULL) {
			printf("facteur-%s is not running (no %s): it loads the "
			    "certificate when it starts\n", names[i], path);
			continue;
		}
		line[0] = '\0';
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		pid = strnum(line, 2, INT_MAX, &err);
		if (err != NULL || !proc_is((pid_t)pid, names[i]) ||
		    kill((pid_t)pid, SIGHUP) == -1) {
			printf("facteur-%s is not running (stale %s): it loads "
			    "the certificate when it starts\n", names[i], path);
			continue;
		}
		printf("told facteur-%s (pid %lld) to reload: new connections "
		    "get the new certificate\n", names[i], pid);
	}
}

/*
 * not_due - the certificate in place is not self-signed, covers the names
 * and has more than renew_before left: say so and return true
 */
static bool
not_due(const struct acme *a)
{
	int days = 0, secs = 0;
	char until[64];
	BIO *mem;
	X509 *x;
	FILE *f;
	size_t i;
	bool ok;
	int n;

	if ((f = fopen(a->c->tls.cert, "re")) == NULL)
		return false;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return false;
	/* self-signed (`tls selfsigned`, the demo): always replaced.  Not
	 * X509_check_issued(): that one also wants keyCertSign, which
	 * `tls selfsigned` rightly leaves out */
	ok = !(X509_NAME_cmp(X509_get_subject_name(x),
	    X509_get_issuer_name(x)) == 0 &&
	    X509_verify(x, X509_get0_pubkey(x)) == 1) &&
	    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) == 1 &&
	    (long long)days * 86400 + secs > (long long)a->c->acme.renew_before;
	for (i = 0; ok && i < a->nnames; i++)
		ok = X509_check_host(x, a->names[i], 0, 0, NULL) == 1;
	if (ok && (mem = BIO_new(BIO_s_mem())) != NULL) {
		n = 0;
		if (ASN1_TIME_print(mem, X509_get0_notAfter(x)) == 1)
			n = BIO_read(mem, until, sizeof(until) - 1);
		until[n > 0 ? n : 0] = '\0';
		BIO_free(mem);
		printf("%s: valid until %s (%d days left), renewal when under "
		    "%u days: nothing to do\n", a->c->tls.cert, until, days,
		    a->c->acme.renew_before / 86400);
	}
	X509_free(x);
	return ok;
}

static int
issue(struct acme *a)
{
	char order_url[ACME_URL_MAX], fin[ACME_URL_MAX], cert_url[ACME_URL_MAX];
	char (*authz)[ACME_URL_MAX] = xcalloc(16, ACME_URL_MAX);
	EVP_PKEY *certkey = NULL;
	char *chain = NULL;
	size_t nauthz = 0, clen = 0;
	int rc = -1;

	if (directory(a) == -1 || account(a) == -1 ||
	    order(a, order_url, sizeof(order_url), authz, &nauthz, fin,
	    sizeof(fin)) == -1 || authorize(a, authz, nauthz) == -1)
		goto done;
	if ((certkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		fprintf(stderr, "acme: cannot make the certificate key\n");
		goto done;
	}
	if (finalize(a, certkey, order_url, fin, cert_url,
	    sizeof(cert_url)) == -1 || post(a, cert_url, "") == -1)
		goto done;
	if (a->r.status != 200) {
		problem(a, "the certificate download", cert_url);
		goto done;
	}
	if ((chain = chain_check(a, certkey, &clen)) == NULL ||
	    save(a, certkey, chain, clen) == -1)
		goto done;
	printf("wrote %s (ECDSA P-256 key, mode 0600)\nwrote %s (certificate "
	    "for", a->c->tls.key, a->c->tls.cert);
	for (nauthz = 0; nauthz < a->nnames; nauthz++)
		printf(" %s", a->names[nauthz]);
	printf(" from %s)\n", a->c->acme.directory);
	reload_daemons(a->c);
	rc = 0;
done:
	free(chain);
	EVP_PKEY_free(certkey);
	free(authz);
	return rc;
}

int
keytool_cmd_acme(const struct conf *c, int argc, char **argv)
{
	char keypath[PATH_MAX], why[PATH_MAX + 128], *host[1];
	struct acme *a;
	bool renew;
	int rc = KEYTOOL_FAIL;

	if (argc < 2 || (strcmp(argv[1], "issue") != 0 &&
	    strcmp(argv[1], "renew") != 0))
		return keytool_bad_arg("acme", argc < 2 ? NULL : argv[1]);
	if (argc > 2)
		return keytool_bad_arg("acme", argv[2]);
	renew = strcmp(argv[1], "renew") == 0;
	if (c->tls.cert == NULL || c->tls.key == NULL) {
		fprintf(stderr, "acme: %s: expected a [tls] section with cert "
		    "and key (where the certificate goes)\n", c->file);
		return KEYTOOL_FAIL;
	}
	if (!c->acme.enabled) {
		fprintf(stderr, "acme: %s: expected an [acme] section (at least "
		    "an email line; see README \"Let's Encrypt "
		    "certificates\")\n", c->file);
		return KEYTOOL_FAIL;
	}
	a = xcalloc(1, sizeof(*a));
	a->c = c;
	host[0] = c->hostname;
	a->names = c->acme.nnames ? c->acme.names : host;
	a->nnames = c->acme.nnames ? c->acme.nnames : 1;
	if (renew && not_due(a)) {
		rc = KEYTOOL_OK;
		goto done;
	}
	/* before the CA is asked anything: an order it cannot validate
	 * counts against its rate limits (Let's Encrypt: 5 an hour) */
	if (c->acme.webroot != NULL &&
	    !acme_chal_webroot_ok(c->acme.webroot, why, sizeof(why))) {
		fprintf(stderr, "acme: %s:%u: [acme] webroot %s (it must be an "
		    "existing directory that the web server on port 80 serves "
		    "as http://%s/, writable by facteur-keytool)\n", c->file,
		    c->acme.webroot_line, why, a->names[0]);
		goto done;
	}
	if (keytool_state_dir(c) == -1)
		goto done;
	if (c->acme.account_key != NULL)
		bstrcpy(keypath, c->acme.account_key, sizeof(keypath));
	else if (!bsnprintf(keypath, sizeof(keypath), "%s/acme/account.key",
	    c->state_dir))
		goto done;
	if (acme_http_init(&a->http, c->acme.ca_file, c->acme.timeout) == -1 ||
	    (a->key = acme_account_key(keypath)) == NULL)
		goto done;
	if ((a->thumb = acme_thumbprint(a->key)) == NULL) {
		fprintf(stderr, "acme: %s: expected an EC P-256 key (ES256)\n",
		    keypath);
		goto done;
	}
	if (issue(a) == 0)
		rc = KEYTOOL_OK;
done:
	http_resp_free(&a->r);
	acme_http_free(&a->http);
	EVP_PKEY_free(a->key);
	free(a->thumb);
	free(a);
	return rc;
}
