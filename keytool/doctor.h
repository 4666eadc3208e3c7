/* SPDX-License-Identifier: ISC */
/*
 * doctor.h - `facteur-keytool doctor` (keytool/doctor*.c): the checks of
 * what the outside world sees, one line each:
 *
 *   OK|WARN|FAIL|INFO  what was checked [- what to do]
 *
 * doctor.c	 the command: order of the checks, the summary, exit status
 * doctor_dns.c	 synchronous DNS through c-ares (one channel for the
 *		 resolver, one per "what is my address" query), a lib/dns
 *		 backend over it so lib/spf runs unchanged, and an overlay
 *		 that answers one TXT record with a record to try
 * doctor_ip.c	 the public address (DNS "what is my address"), the A/AAAA
 *		 of hostname, PTR / forward-confirmed reverse DNS and HELO,
 *		 DNSBLs; MX records (CNAME, backup priority, ours)
 * doctor_spf.c	 SPF evaluated for real for every address that sends,
 *		 and a record that passes, itself evaluated before printing
 * doctor_rec.c	 TXT record text: SPF terms inserted and dropped, DKIM tags,
 *		 what a panel did to a DKIM record (pure, fuzzed)
 * doctor_dkim.c DKIM records (mangled by panels), key sizes, DMARC
 * doctor_tls.c	 the [tls] certificate: key, name, dates, chain
 * doctor_smtp.c the network: relay login, port 25 outbound, postmaster@
 * doctor_sender.c [sendmail] sender lines: accounts and mailboxes
 *
 * Runs as the administrator (reads DKIM, TLS keys and the relay password
 * to check them; prints nothing secret); never writes a file, but for a
 * probe in the [acme] webroot, removed at once (doctor_check_acme).  Out of
 * memory is fatal (x* functions).
 */
#ifndef FACTEUR_KEYTOOL_DOCTOR_H
#define FACTEUR_KEYTOOL_DOCTOR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include <ares.h>

#include "dns.h"
#include "spf.h"

struct conf;

enum doctor_verdict {
	DOC_OK,
	DOC_WARN,
	DOC_FAIL,
	DOC_INFO,
};

#define DOCTOR_ADDRS	8		/* addresses kept per name */
#define DOCTOR_IPLEN	INET6_ADDRSTRLEN

struct doctor {
	const struct conf *c;
	ares_channel	 ch;		/* the resolver */
	unsigned	 timeout_ms;	/* per network step */
	unsigned	 tries;		/* DNS tries per question; 0: 2 */
	unsigned	 count[4];
	/* overlay: name's TXT answered with txt (a record being tried) */
	const char	*over_name;
	const char	*over_txt;
	/*
	 * the public address found ([doctor] myip, IPv4), else the first
	 * A/AAAA of hostname; and the public IPv6 address ([doctor] myip6)
	 */
	char		 ip[DOCTOR_IPLEN];
	bool		 ip_known;
	char		 ip6[DOCTOR_IPLEN];
	bool		 ip6_known;
	/* the A/AAAA records of hostname */
	char		 host_ip[DOCTOR_ADDRS][DOCTOR_IPLEN];
	size_t		 nhost_ip;
};

/* doctor.c */
void	doctor_report(struct doctor *d, enum doctor_verdict v,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * doctor_denied - path is there but this account may not read it (the
 * doctor run without root on a root set-up): the fix is to run the doctor
 * as root, never to make a new key or certificate
 */
bool	doctor_denied(const char *path);
#define DOCTOR_AS_ROOT	"run facteur-keytool doctor as root (the daemons " \
	"read it as root)"
/*
 * doctor_owner - name relative to zone as a DNS panel wants it ("@",
 * "sel._domainkey"), or name itself with a final dot when outside zone
 */
void	doctor_owner(const char *name, const char *zone, char *out,
	    size_t outsz);
/*
 * doctor_publish - "publish: name REL, type TYPE, value VALUE (zone file:
 * NAME. IN TYPE ZVALUE)" into out: the value unquoted as panels take it,
 * the zone-file form quoted and cut in 255-byte strings for TXT
 */
void	doctor_publish(char *out, size_t outsz, const char *name,
	    const char *zone, const char *type, const char *value);

/* doctor_dns.c */
/* doctor_dns_init - c-ares on [dns] resolver or resolv.conf; -1 explained */
int	doctor_dns_init(struct doctor *d, char *desc, size_t descsz);
void	doctor_dns_free(struct doctor *d);
/*
 * doctor_query - the answer to (name, type), waited for; never NULL,
 * dns_answer_free() it.  doctor_query_at asks server ("HOST:PORT")
 * instead of the resolver.
 */
struct dns_answer *doctor_query(struct doctor *d, const char *name,
	    enum dns_type type);
struct dns_answer *doctor_query_at(struct doctor *d, const char *server,
	    const char *name, enum dns_type type);
/* doctor_addrs - the A and AAAA records of name as text; how many */
size_t	doctor_addrs(struct doctor *d, const char *name,
	    char out[][DOCTOR_IPLEN], size_t max, enum dns_status *st_r);
/* doctor_txt - the TXT records of name, NULL-terminated; NULL if none */
char  **doctor_txt(struct doctor *d, const char *name, enum dns_status *st_r);
void	doctor_strv_free(char **v);
/* doctor_status - "no such name", "no record", "timeout or SERVFAIL", ... */
const char *doctor_status(enum dns_status st);
struct doctor_spf {
	enum spf_res	 result;
	char		 mechanism[128];
	char		 problem[256];
};
/*
 * doctor_spf_eval - lib/spf's result for mail from ip with MAIL FROM
 * postmaster@domain and HELO hostname; with d->over_name set, that name's
 * TXT is d->over_txt
 */
void	doctor_spf_eval(struct doctor *d, const char *ip, const char *domain,
	    struct doctor_spf *r);

/* doctor_rec.c: no I/O; rec is NUL-terminated, out always terminated */
/* doctor_spf_insert - rec with term before its all or redirect= term */
void	doctor_spf_insert(const char *rec, const char *term, char *out,
	    size_t outsz);
/* doctor_spf_drop - rec without the include: terms keep() refuses */
typedef bool doctor_keep_fn(void *arg, const char *domain);
void	doctor_spf_drop(const char *rec, doctor_keep_fn *keep, void *arg,
	    char *out, size_t outsz);
/* doctor_tag_value - the value of tag in "t=v; t=v", blanks removed */
bool	doctor_tag_value(const char *rec, const char *tag, char *out,
	    size_t outsz);
/* doctor_dkim_mangled - what a panel did to rec (p= got, want), or NULL */
const char *doctor_dkim_mangled(const char *rec, const char *got_p,
	    const char *want_p);

/* doctor_ip.c */
void	doctor_check_ip(struct doctor *d);
void	doctor_check_mx(struct doctor *d, const char *domain);
/* doctor_check_backup_mx - a domain of [smtp] backup_domains lists this
 * server as an MX, at a worse preference than its primary */
void	doctor_check_backup_mx(struct doctor *d, const char *domain);
/* doctor_ip_in - ip (text) among n addresses */
bool	doctor_ip_in(const char *ip, char list[][DOCTOR_IPLEN], size_t n);

/* doctor_spf.c */
void	doctor_check_spf(struct doctor *d, const char *domain);
/*
 * doctor_spf_relay - for `facteur-keytool dns`: an SPF record for domain
 * that passes, evaluated now, for every address of the [relay] smarthost;
 * false when they cannot be found (no DNS): the caller guesses
 */
bool	doctor_spf_relay(const struct conf *c, const char *domain, char *out,
	    size_t outsz);

/* doctor_dkim.c */
void	doctor_check_dkim(struct doctor *d);
void	doctor_check_dmarc(struct doctor *d, const char *domain);

/* doctor_tls.c */
void	doctor_check_tls(struct doctor *d);
/* doctor_check_acme - [acme] webroot can take the challenge files */
void	doctor_check_acme(struct doctor *d);

/* doctor_sender.c: [sendmail] sender lines reach an account and a mailbox */
void	doctor_check_senders(struct doctor *d);

/* doctor_smtp.c */
void	doctor_check_relay(struct doctor *d);
void	doctor_check_port25(struct doctor *d);
void	doctor_check_postmaster(struct doctor *d);

#endif
