/* SPDX-License-Identifier: ISC */
/*
 * keytool_doctor.c - `facteur-keytool doctor`: checks what the outside
 * world sees and says what to fix, one line per check:
 *
 *   OK|WARN|FAIL  what was checked  [- what to do]
 *
 * DNS (through c-ares, against `[dns] resolver` or /etc/resolv.conf): for
 * each local domain its MX (exists, names `hostname`), SPF (exactly one
 * v=spf1 TXT), DMARC (_dmarc TXT); the A record of `hostname`; for each
 * [dkim] sign line, that SELECTOR._domainkey.DOMAIN publishes the public
 * half of the configured key.  TLS: the [tls] certificate matches its key,
 * is valid now and for 30 more days, covers `hostname`, and whether it is
 * self-signed.  [relay]: the smarthost login is NOT checked by this
 * version; an INFO line says so.
 *
 * Runs as the administrator (reads the DKIM and TLS private keys to
 * compare public halves; prints nothing secret).  Exit 1 if any FAIL.
 */
#include <sys/select.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ares.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "conf.h"
#include "dkim.h"
#include "dns.h"
#include "xmem.h"
#include "keytool/keytool_dkim.h"

#define WARN_DAYS	30	/* certificate expiry warning */

enum verdict {
	V_OK,
	V_WARN,
	V_FAIL,
	V_INFO,
};

struct doctor {
	ares_channel	 ch;
	unsigned	 count[4];
};

static void report(struct doctor *, enum verdict, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct doctor *d, enum verdict v, const char *fmt, ...)
{
	static const char *const word[] = { "OK", "WARN", "FAIL", "INFO" };
	va_list ap;

	d->count[v]++;
	printf("%-5s", word[v]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* --- synchronous c-ares queries --- */

struct answer {
	bool		 done;
	int		 status;
	unsigned char	*abuf;
	int		 alen;
};

static void
query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct answer *a = arg;

	a->done = true;
	a->status = status;
	if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
		a->abuf = xmalloc((size_t)alen);
		memcpy(a->abuf, abuf, (size_t)alen);
		a->alen = alen;
	}
}

/*
 * query - one question, waited for.  ARES_SUCCESS with the answer in
 * a->abuf (caller frees), or an ARES_E* status (ENOTFOUND: no such name,
 * ENODATA: no record of that type).
 */
static int
query(struct doctor *d, const char *name, int type, struct answer *a)
{
	struct timeval tv, *tvp;
	fd_set r, w;
	int nfds;

	memset(a, 0, sizeof(*a));
	ares_query(d->ch, name, ns_c_in, type, query_cb, a);
	while (!a->done) {
		FD_ZERO(&r);
		FD_ZERO(&w);
		nfds = ares_fds(d->ch, &r, &w);
		if (nfds == 0)
			break;
		tvp = ares_timeout(d->ch, NULL, &tv);
		select(nfds, &r, &w, NULL, tvp);
		ares_process(d->ch, &r, &w);
	}
	return a->done ? a->status : ARES_ETIMEOUT;
}

/* txt_records - every TXT record of name, strings joined; NULL-terminated */
static char **
txt_records(struct doctor *d, const char *name, int *status_r)
{
	struct ares_txt_ext *txt = NULL, *t;
	struct answer a;
	struct buf cur;
	char **v = NULL;
	size_t n = 0;

	*status_r = query(d, name, ns_t_txt, &a);
	if (*status_r != ARES_SUCCESS)
		return NULL;
	*status_r = ares_parse_txt_reply_ext(a.abuf, a.alen, &txt);
	free(a.abuf);
	if (*status_r != ARES_SUCCESS)
		return NULL;
	buf_init(&cur, 0);
	v = xcalloc(1, sizeof(*v));
	for (t = txt; t != NULL; t = t->next) {
		if (t->record_start && cur.data != NULL) {
			v = xreallocarray(v, n + 2, sizeof(*v));
			v[n++] = xstrndup(buf_head(&cur), cur.len);
			v[n] = NULL;
			buf_reset(&cur);
		}
		buf_append(&cur, t->txt, t->length);
		buf_puts(&cur, "");
	}
	if (cur.data != NULL) {
		v = xreallocarray(v, n + 2, sizeof(*v));
		v[n++] = xstrndup(buf_head(&cur), cur.len);
		v[n] = NULL;
	}
	buf_free(&cur);
	ares_free_data(txt);
	return v;
}

static void
strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static const char *
dns_error(int status)
{
	if (status == ARES_ENOTFOUND)
		return "no such name";
	if (status == ARES_ENODATA)
		return "no record";
	return ares_strerror(status);
}

static bool
dns_missing(int status)
{
	return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

/* --- DNS checks --- */

static void
check_mx(struct doctor *d, const struct conf *c, const char *dom)
{
	struct ares_mx_reply *mx = NULL, *m;
	struct answer a;
	char list[512] = "";
	size_t len = 0;
	bool ours = false;
	int st;

	if ((st = query(d, dom, ns_t_mx, &a)) == ARES_SUCCESS) {
		st = ares_parse_mx_reply(a.abuf, a.alen, &mx);
		free(a.abuf);
	}
	if (st != ARES_SUCCESS || mx == NULL) {
		report(d, dns_missing(st) || mx == NULL ? V_FAIL : V_FAIL,
		    "MX %s: %s - publish: %s. IN MX 10 %s.", dom,
		    st == ARES_SUCCESS ? "no record" : dns_error(st), dom,
		    c->hostname);
		return;
	}
	for (m = mx; m != NULL; m = m->next) {
		if (dns_name_eq(m->host, c->hostname))
			ours = true;
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s (%u)", len ? ", " : "", m->host, m->priority);
	}
	ares_free_data(mx);
	if (ours)
		report(d, V_OK, "MX %s: %s", dom, list);
	else
		report(d, V_WARN, "MX %s: %s, not %s - mail for %s does not come "
		    "here unless that host forwards it; publish %s. IN MX 10 %s.",
		    dom, list, c->hostname, dom, dom, c->hostname);
}

static void
check_a(struct doctor *d, const struct conf *c)
{
	struct hostent *he = NULL;
	struct answer a;
	char addrs[256] = "", ip[INET_ADDRSTRLEN];
	size_t len = 0;
	int st, i;

	if ((st = query(d, c->hostname, ns_t_a, &a)) == ARES_SUCCESS) {
		st = ares_parse_a_reply(a.abuf, a.alen, &he, NULL, NULL);
		free(a.abuf);
	}
	if (st != ARES_SUCCESS || he == NULL) {
		report(d, V_FAIL, "A %s: %s - publish: %s. IN A <this server's "
		    "public IPv4 address>", c->hostname, dns_error(st), c->hostname);
		return;
	}
	for (i = 0; he->h_addr_list[i] != NULL && len < sizeof(addrs); i++) {
		inet_ntop(AF_INET, he->h_addr_list[i], ip, sizeof(ip));
		len += (size_t)snprintf(addrs + len, sizeof(addrs) - len, "%s%s",
		    len ? " " : "", ip);
	}
	ares_free_hostent(he);
	report(d, V_OK, "A %s: %s (check that this is this server's public "
	    "address)", c->hostname, addrs);
}

static void
check_spf(struct doctor *d, const char *dom)
{
	char **v;
	size_t i, n = 0;
	const char *spf = NULL;
	int st;

	v = txt_records(d, dom, &st);
	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strncasecmp(v[i], "v=spf1", 6) == 0 &&
		    (v[i][6] == ' ' || v[i][6] == '\0')) {
			n++;
			spf = v[i];
		}
	if (v == NULL && !dns_missing(st))
		report(d, V_FAIL, "SPF %s: cannot query TXT: %s", dom, dns_error(st));
	else if (n == 0)
		report(d, V_FAIL, "SPF %s: no v=spf1 TXT record - publish the one "
		    "`facteur-keytool dns` prints", dom);
	else if (n > 1)
		report(d, V_FAIL, "SPF %s: %zu v=spf1 records, receivers treat "
		    "that as an error (RFC 7208 4.5) - merge them into one", dom, n);
	else if (strstr(spf, "+all") != NULL)
		report(d, V_WARN, "SPF %s: \"%s\" allows everyone (+all) - use "
		    "-all or ~all", dom, spf);
	else
		report(d, V_OK, "SPF %s: \"%s\"", dom, spf);
	strv_free(v);
}

static void
check_dmarc(struct doctor *d, const char *dom)
{
	char name[300], **v;
	const char *rec = NULL;
	size_t i;
	int st;

	snprintf(name, sizeof(name), "_dmarc.%s", dom);
	v = txt_records(d, name, &st);
	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strncasecmp(v[i], "v=DMARC1", 8) == 0)
			rec = v[i];
	if (v == NULL && !dns_missing(st))
		report(d, V_FAIL, "DMARC %s: cannot query TXT: %s", dom,
		    dns_error(st));
	else if (rec == NULL)
		report(d, V_WARN, "DMARC %s: no v=DMARC1 record at %s - big "
		    "mailbox providers want one; publish the one `facteur-keytool"
		    " dns` prints", dom, name);
	else if (strstr(rec, "p=none") != NULL)
		report(d, V_WARN, "DMARC %s: \"%s\" - p=none asks receivers to do"
		    " nothing; use p=quarantine once DKIM verifies", dom, rec);
	else
		report(d, V_OK, "DMARC %s: \"%s\"", dom, rec);
	strv_free(v);
}

/* tag_value - the value of tag (e.g. "p") in a "t=v; t=v" list, into out */
static bool
tag_value(const char *rec, const char *tag, char *out, size_t outsz)
{
	const char *p = rec, *e;
	size_t tl = strlen(tag), o = 0;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		e = p + strcspn(p, ";");
		if (strncmp(p, tag, tl) == 0) {
			const char *q = p + tl;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '=') {
				for (q++; q < e && o + 1 < outsz; q++)
					if (*q != ' ' && *q != '\t')
						out[o++] = *q;
				out[o] = '\0';
				return true;
			}
		}
		p = e;
	}
	return false;
}

static void
check_dkim(struct doctor *d, const struct conf_dkim_sign *cs)
{
	char name[300], err[512] = "", want_p[2048], got_p[2048];
	char want_k[16], got_k[16], **v;
	const char *rec = NULL;
	enum dkim_alg alg;
	char *txt;
	size_t i;
	int st;

	snprintf(name, sizeof(name), "%s._domainkey.%s", cs->selector, cs->domain);
	if (keytool_dkim_txt(cs->keyfile, &alg, &txt, err, sizeof(err)) == -1) {
		report(d, V_FAIL, "DKIM %s: cannot read the key: %s - run "
		    "facteur-keytool dkim generate %s %s", name, err, cs->domain,
		    cs->selector);
		return;
	}
	tag_value(txt, "p", want_p, sizeof(want_p));
	tag_value(txt, "k", want_k, sizeof(want_k));
	v = txt_records(d, name, &st);
	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strstr(v[i], "p=") != NULL)
			rec = v[i];
	if (v == NULL && !dns_missing(st))
		report(d, V_FAIL, "DKIM %s: cannot query TXT: %s", name,
		    dns_error(st));
	else if (rec == NULL)
		report(d, V_FAIL, "DKIM %s: no record - publish: %s. IN TXT \"%s\"",
		    name, name, txt);
	else if (!tag_value(rec, "p", got_p, sizeof(got_p)) ||
	    strcmp(got_p, want_p) != 0)
		report(d, V_FAIL, "DKIM %s: the published key is not the one in "
		    "%s - publish: %s. IN TXT \"%s\"", name, cs->keyfile, name, txt);
	else if (!tag_value(rec, "k", got_k, sizeof(got_k)) ?
	    strcmp(want_k, "rsa") != 0 : strcmp(got_k, want_k) != 0)
		report(d, V_FAIL, "DKIM %s: the record says k=%s, the key is %s",
		    name, got_k, want_k);
	else
		report(d, V_OK, "DKIM %s: publishes the key in %s (%s)", name,
		    cs->keyfile, dkim_alg_name(alg));
	strv_free(v);
	free(txt);
}

/* --- TLS --- */

static X509 *
read_cert(const char *path, EVP_PKEY **key_r, const char *keypath)
{
	FILE *fp;
	X509 *x = NULL;

	*key_r = NULL;
	if ((fp = fopen(path, "r")) != NULL) {
		x = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	if ((fp = fopen(keypath, "r")) != NULL) {
		*key_r = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	ERR_clear_error();
	return x;
}

static void
check_tls(struct doctor *d, const struct conf *c)
{
	EVP_PKEY *key;
	X509 *x;
	int days, secs;

	if (c->tls.cert == NULL) {
		report(d, V_FAIL, "TLS certificate: no [tls] section - without it"
		    " there is no submission, IMAP or STARTTLS");
		return;
	}
	if ((x = read_cert(c->tls.cert, &key, c->tls.key)) == NULL) {
		report(d, V_FAIL, "TLS certificate %s: cannot read it - run "
		    "facteur-keytool tls selfsigned, or install one", c->tls.cert);
		EVP_PKEY_free(key);
		return;
	}
	if (key == NULL)
		report(d, V_FAIL, "TLS key %s: cannot read it", c->tls.key);
	else if (X509_check_private_key(x, key) != 1)
		report(d, V_FAIL, "TLS certificate %s does not match the key %s",
		    c->tls.cert, c->tls.key);
	else
		report(d, V_OK, "TLS certificate %s matches its key", c->tls.cert);
	ERR_clear_error();
	if (X509_check_host(x, c->hostname, 0, 0, NULL) == 1)
		report(d, V_OK, "TLS certificate covers %s", c->hostname);
	else
		report(d, V_FAIL, "TLS certificate does not cover %s - clients "
		    "will refuse it; get one for that name", c->hostname);
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		report(d, V_FAIL, "TLS certificate is not valid yet (check the "
		    "clock)");
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1 ||
	    days < 0 || (days == 0 && secs < 0))
		report(d, V_FAIL, "TLS certificate has expired - renew it");
	else if (days < WARN_DAYS)
		report(d, V_WARN, "TLS certificate will expire in %d days - renew"
		    " it", days);
	else
		report(d, V_OK, "TLS certificate valid for %d more days", days);
	if (X509_check_issued(x, x) == X509_V_OK)
		report(d, V_WARN, "TLS certificate is self-signed - mail clients "
		    "ask to trust it; a CA-issued one (Let's Encrypt) avoids that");
	X509_free(x);
	EVP_PKEY_free(key);
}

static int
doctor_init(struct doctor *d, const struct conf *c, char *desc, size_t descsz)
{
	struct ares_options o;
	char csv[300];
	int st;

	if ((st = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
		return st;
	memset(&o, 0, sizeof(o));
	o.timeout = 3000;
	o.tries = 2;
	o.flags = ARES_FLAG_NOSEARCH;
	if ((st = ares_init_options(&d->ch, &o, ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES | ARES_OPT_FLAGS)) != ARES_SUCCESS)
		return st;
	if (c->dns.resolver_set) {
		if (!conf_addr_format(&c->dns.resolver, csv, sizeof(csv)))
			return ARES_EBADSTR;
		if ((st = ares_set_servers_ports_csv(d->ch, csv)) != ARES_SUCCESS)
			return st;
		snprintf(desc, descsz, "%s ([dns] resolver)", csv);
	} else
		snprintf(desc, descsz, "the system resolver (/etc/resolv.conf)");
	return ARES_SUCCESS;
}

int
keytool_cmd_doctor(const struct conf *c, int argc, char **argv)
{
	struct doctor d;
	char desc[400];
	size_t i;
	int st;

	if (argc != 1) {
		fprintf(stderr, "usage: facteur-keytool [-c FILE] doctor\n");
		return KEYTOOL_USAGE;
	}
	memset(&d, 0, sizeof(d));
	if ((st = doctor_init(&d, c, desc, sizeof(desc))) != ARES_SUCCESS) {
		fprintf(stderr, "doctor: DNS resolver: %s\n", ares_strerror(st));
		return KEYTOOL_FAIL;
	}
	printf("facteur doctor for %s - DNS answers from %s\n", c->hostname, desc);
	check_a(&d, c);
	for (i = 0; i < c->ndomains; i++) {
		check_mx(&d, c, c->domains[i]);
		check_spf(&d, c->domains[i]);
		check_dmarc(&d, c->domains[i]);
	}
	for (i = 0; i < c->dkim.nsign; i++)
		check_dkim(&d, &c->dkim.sign[i]);
	if (c->dkim.nsign == 0)
		report(&d, V_FAIL, "DKIM: no [dkim] sign line - mail will not be "
		    "signed; run facteur-keytool dkim generate DOMAIN SELECTOR");
	check_tls(&d, c);
	if (c->relay.enabled)
		report(&d, V_INFO, "relay %s:%u: login not checked by this version"
		    " - send a test mail to an outside address and read the log",
		    c->relay.host, c->relay.port);
	ares_destroy(d.ch);
	ares_library_cleanup();
	printf("%u OK, %u WARN, %u FAIL\n", d.count[V_OK], d.count[V_WARN],
	    d.count[V_FAIL]);
	return d.count[V_FAIL] ? KEYTOOL_FAIL : KEYTOOL_OK;
}
