/* SPDX-License-Identifier: ISC */
/*
 * keytool_setup.c - `facteur-keytool [-c FILE] setup DOMAIN [options]`: a
 * working first set-up in one step (README "First run").  In this order:
 * the configuration file, the directories (lib/daemon.c, with the owners
 * the daemons would give them), a self-signed certificate
 * (keytool_tls.c), RSA-2048 and Ed25519 DKIM keys (keytool_dkim.c), the
 * first user and a postmaster alias to it, then the DNS records
 * (keytool_dns.c) and the settings for mail clients on stdout.
 *
 * Layout: with --dir DIR everything lives under DIR (facteur.conf, tls/,
 * state/, mail/, run/: packages, tests, a NAS share); without it the
 * configuration is -c FILE (default /etc/facteur/facteur.conf) with tls/
 * next to it, state in /var/lib/facteur, mail in /var/mail, sockets in
 * /run/facteur.  Ports: 25, 587, 465 and 993 for root, 2525, 2587, 2465
 * and 2993 otherwise (an ordinary user cannot bind below 1024; forward the
 * real ports to them on the router), or --ports.
 *
 * An existing configuration file is never replaced without --force,
 * except the unconfigured placeholder a package ships (its first line is
 * CONF_PLACEHOLDER).  The first user's password is the first line of
 * stdin when stdin is not a terminal and has one; otherwise it is made up
 * here and printed once; one given shorter than KEYTOOL_PW_MIN characters
 * is refused before anything is written.  With --relay-user the
 * smarthost's password is the next line of stdin, or asked on the
 * terminal.
 *
 * The daemons log to syslog, or where --log says (a package without a
 * syslog of its own: a file in its data directory).
 *
 * DMARC checks of incoming mail need the Public Suffix List: --psl FILE
 * (the packages carry one), else Debian's if it is there, else the
 * configuration says dmarc = no, so that the daemons start on any box.
 *
 * Runs as the administrator (root, or a package's own user); exit status
 * 0, 1 (explained on stderr) or 2 (usage).
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "conf.h"
#include "daemon.h"
#include "keytool.h"
#include "userdb.h"
#include "xmem.h"
#include "keytool/keytool_dkim.h"

#define DEFAULT_CONF		"/etc/facteur/facteur.conf"
#define DEFAULT_ACCOUNT		"_facteur"
/* first line of the placeholder facteur.conf packages ship (init/openwrt) */
#define GEN_PW_LEN		16
#define DEFAULT_PSL		"/usr/share/publicsuffix/public_suffix_list.dat"

enum { P_SMTP, P_SUBMISSION, P_SUBMISSIONS, P_IMAPS, NPORTS };

struct setup {
	const char	*domain;	/* dom */
	char		 dom[USERDB_ADDR_MAX];
	char		 conf[PATH_MAX];
	char		 confdir[PATH_MAX];
	char		 state[PATH_MAX];
	char		 mail[PATH_MAX];
	char		 run[PATH_MAX];
	char		 hostname[256];
	char		 account[64];
	char		 addr[USERDB_ADDR_MAX];
	const char	*listen;
	unsigned	 port[NPORTS];
	char		 relay_host[256];
	unsigned	 relay_port;
	const char	*relay_user;
	const char	*psl;		/* --psl, or NULL */
	const char	*log;		/* --log: syslog, stderr or a file */
	char		 year[16];
	bool		 force;
	bool		 single;	/* single_account = yes */
	bool		 ports_given;	/* --ports */
};

void
keytool_setup_usage(void)
{
	fprintf(stderr, "usage: facteur-keytool [-c FILE] setup DOMAIN "
	    "[--user ADDRESS] [--dir DIR] [--hostname NAME]\n"
	    "           [--relay HOST:PORT [--relay-user USER]] "
	    "[--account NAME] [--listen ADDR]\n"
	    "           [--ports SMTP,SUBMISSION,SUBMISSIONS,IMAPS] "
	    "[--single-account] [--psl FILE] [--force]\n"
	    "           [--log syslog|stderr|FILE]\n");
}

/* setup_option - a setup option that takes a value */
static bool
setup_option(const char *a)
{
	static const char *const opts[] = { "--dir", "--user", "--hostname",
	    "--account", "--listen", "--ports", "--relay-user", "--psl",
	    "--log", "--relay" };
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(a, opts[i]) == 0)
			return true;
	return false;
}

/* absolute - path made absolute against the working directory */
static bool
absolute(char *out, size_t outsz, const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return bstrcpy(out, path, outsz);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return false;
	return bsnprintf(out, outsz, "%s/%s", cwd, path);
}

static bool
parse_ports(struct setup *s, const char *arg)
{
	char *end;
	const char *p = arg;
	unsigned long v;
	int i;

	for (i = 0; i < NPORTS; i++) {
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno != 0 || end == p || v == 0 || v > 65535 ||
		    *end != (i == NPORTS - 1 ? '\0' : ','))
			return false;
		s->port[i] = (unsigned)v;
		p = end + 1;
	}
	return true;
}

/* parse_relay - HOST:PORT or [V6]:PORT */
static bool
parse_relay(struct setup *s, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	char *end;
	unsigned long v;
	size_t hl;

	if (colon == NULL || colon == arg)
		return false;
	v = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		return false;
	hl = (size_t)(colon - arg);
	if (arg[0] == '[' && colon[-1] == ']') {
		arg++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(s->relay_host) ||
	    memchr(arg, ' ', hl) != NULL)
		return false;
	memcpy(s->relay_host, arg, hl);
	s->relay_host[hl] = '\0';
	s->relay_port = (unsigned)v;
	return true;
}

/* paths - where everything goes (see the comment at the top) */
static bool
paths(struct setup *s, const char *conf, bool conf_given, const char *dir)
{
	char d[PATH_MAX], *slash;

	if (dir != NULL) {
		if (!absolute(d, sizeof(d), dir))
			return false;
		if (!bsnprintf(s->state, sizeof(s->state), "%s/state", d) ||
		    !bsnprintf(s->mail, sizeof(s->mail), "%s/mail", d) ||
		    !bsnprintf(s->run, sizeof(s->run), "%s/run", d))
			return false;
		if (conf_given)
			return absolute(s->conf, sizeof(s->conf), conf) &&
			    bstrcpy(s->confdir, d, sizeof(s->confdir));
		return bsnprintf(s->conf, sizeof(s->conf), "%s/facteur.conf", d) &&
		    bstrcpy(s->confdir, d, sizeof(s->confdir));
	}
	if (!absolute(s->conf, sizeof(s->conf), conf) ||
	    !bstrcpy(s->confdir, s->conf, sizeof(s->confdir)))
		return false;
	slash = strrchr(s->confdir, '/');
	*(slash == s->confdir ? slash + 1 : slash) = '\0';
	return bstrcpy(s->state, "/var/lib/facteur", sizeof(s->state)) &&
	    bstrcpy(s->mail, "/var/mail", sizeof(s->mail)) &&
	    bstrcpy(s->run, "/run/facteur", sizeof(s->run));
}

static int
parse_args(struct setup *s, const char *conf, bool conf_given, int argc,
    char **argv)
{
	const char *dir = NULL, *user = NULL, *host = NULL, *ports = NULL;
	const char *account = NULL;
	char tmp[USERDB_ADDR_MAX + 16];
	struct passwd *pw;
	struct tm tm;
	time_t now;
	int i;

	memset(s, 0, sizeof(*s));
	s->listen = "0.0.0.0";
	s->log = "syslog";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--force") == 0) {
			s->force = true;
			continue;
		}
		if (strcmp(a, "--single-account") == 0) {
			s->single = true;
			continue;
		}
		if (a[0] != '-') {
			if (s->domain != NULL)
				return keytool_bad_arg("setup", a);
			s->domain = a;
			continue;
		}
		if (!setup_option(a))
			return keytool_bad_arg("setup", a);
		if (v == NULL) {
			fprintf(stderr, "facteur-keytool: setup: %s needs a "
			    "value\n", a);
			return KEYTOOL_USAGE;
		}
		i++;
		if (strcmp(a, "--dir") == 0)
			dir = v;
		else if (strcmp(a, "--user") == 0)
			user = v;
		else if (strcmp(a, "--hostname") == 0)
			host = v;
		else if (strcmp(a, "--account") == 0)
			account = v;
		else if (strcmp(a, "--listen") == 0)
			s->listen = v;
		else if (strcmp(a, "--ports") == 0)
			ports = v;
		else if (strcmp(a, "--relay-user") == 0)
			s->relay_user = v;
		else if (strcmp(a, "--psl") == 0)
			s->psl = v;
		else if (strcmp(a, "--log") == 0) {
			if (v[0] != '/' && strcmp(v, "syslog") != 0 &&
			    strcmp(v, "stderr") != 0) {
				fprintf(stderr, "setup: --log %s: expected "
				    "syslog, stderr or an absolute path\n", v);
				return KEYTOOL_USAGE;
			}
			s->log = v;
		}
		else if (strcmp(a, "--relay") == 0) {
			if (!parse_relay(s, v)) {
				fprintf(stderr, "setup: --relay %s: expected "
				    "HOST:PORT\n", v);
				return KEYTOOL_USAGE;
			}
		}
	}
	if (s->domain == NULL) {
		fprintf(stderr, "facteur-keytool: setup: give the domain, e.g. "
		    "setup example.org\n");
		return KEYTOOL_USAGE;
	}
	if (s->relay_user != NULL && s->relay_host[0] == '\0') {
		fprintf(stderr, "setup: --relay-user needs --relay\n");
		return KEYTOOL_USAGE;
	}
	/* the domain is valid if postmaster@DOMAIN is an address */
	if (!bsnprintf(tmp, sizeof(tmp), "postmaster@%s", s->domain) ||
	    !userdb_normalize(tmp, strlen(tmp), false, s->addr, sizeof(s->addr)) ||
	    strchr(s->domain, '.') == NULL) {
		fprintf(stderr, "setup: %s: expected a domain name such as "
		    "example.org\n", s->domain);
		return KEYTOOL_FAIL;
	}
	/* lower-cased */
	if (!bstrcpy(s->dom, strrchr(s->addr, '@') + 1, sizeof(s->dom)))
		return KEYTOOL_FAIL;
	s->domain = s->dom;
	if (user != NULL) {
		const char *at = strrchr(user, '@');

		if (at == NULL && bsnprintf(tmp, sizeof(tmp), "%s@%s", user,
		    s->domain))
			user = tmp;
		if (!userdb_normalize(user, strlen(user), false, s->addr,
		    sizeof(s->addr)) ||
		    strcmp(strrchr(s->addr, '@') + 1, s->domain) != 0) {
			fprintf(stderr, "setup: --user %s: expected an address "
			    "at %s\n", user, s->domain);
			return KEYTOOL_FAIL;
		}
	}
	if (!bsnprintf(s->hostname, sizeof(s->hostname), "%s%s",
	    host ? "" : "mail.", host ? host : s->domain) ||
	    strchr(s->hostname, ' ') != NULL) {
		fprintf(stderr, "setup: bad --hostname\n");
		return KEYTOOL_FAIL;
	}
	if (account == NULL && geteuid() != 0 &&
	    (pw = getpwuid(geteuid())) != NULL)
		account = pw->pw_name;
	if (!bstrcpy(s->account, account ? account : DEFAULT_ACCOUNT,
	    sizeof(s->account))) {
		fprintf(stderr, "setup: --account: name too long\n");
		return KEYTOOL_FAIL;
	}
	if (ports != NULL) {
		s->ports_given = true;
		if (!parse_ports(s, ports)) {
			fprintf(stderr, "setup: --ports %s: expected four port "
			    "numbers, e.g. 25,587,465,993\n", ports);
			return KEYTOOL_USAGE;
		}
	} else if (geteuid() == 0) {
		s->port[P_SMTP] = 25;
		s->port[P_SUBMISSION] = 587;
		s->port[P_SUBMISSIONS] = 465;
		s->port[P_IMAPS] = 993;
	} else {
		s->port[P_SMTP] = 2525;
		s->port[P_SUBMISSION] = 2587;
		s->port[P_SUBMISSIONS] = 2465;
		s->port[P_IMAPS] = 2993;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	snprintf(s->year, sizeof(s->year), "%04d", tm.tm_year + 1900);
	if (!paths(s, conf_given || dir == NULL ? conf : DEFAULT_CONF,
	    conf_given, dir)) {
		fprintf(stderr, "setup: path too long\n");
		return KEYTOOL_FAIL;
	}
	return KEYTOOL_OK;
}

/* set_up_already - the configuration exists and is not the placeholder */
static bool
set_up_already(const char *conf)
{
	char line[64];
	FILE *f;
	bool placeholder;

	if ((f = fopen(conf, "r")) == NULL)
		return errno != ENOENT;
	placeholder = fgets(line, sizeof(line), f) != NULL &&
	    strncmp(line, CONF_PLACEHOLDER, strlen(CONF_PLACEHOLDER)) == 0;
	fclose(f);
	return !placeholder;
}

/* make_password - GEN_PW_LEN characters nobody misreads (no 0/O, 1/l/I) */
static bool
make_password(char *out, size_t outsz)
{
	static const char set[] = "abcdefghijkmnopqrstuvwxyz"
	    "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char r;
	size_t n = 0;

	if (outsz <= GEN_PW_LEN)
		return false;
	while (n < GEN_PW_LEN) {
		if (RAND_bytes(&r, 1) != 1)
			return false;
		if (r >= 256 - 256 % (sizeof(set) - 1))
			continue;	/* no modulo bias */
		out[n++] = set[r % (sizeof(set) - 1)];
	}
	out[n] = '\0';
	return true;
}

/* first_password - stdin's first line if it has one, else made up */
static int
first_password(char *pw, size_t pwsz, size_t *len_r, bool *made_r)
{
	int ch;

	*made_r = false;
	if (!isatty(STDIN_FILENO)) {
		if ((ch = getc(stdin)) != EOF) {
			ungetc(ch, stdin);
			return keytool_read_password(pw, pwsz, len_r);
		}
	}
	if (!make_password(pw, pwsz))
		return -1;
	*len_r = strlen(pw);
	*made_r = true;
	return 0;
}

static char *
config_text(const struct setup *s)
{
	const char *l = s->listen;
	char *p = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&p, &len)) == NULL)
		return NULL;
	fprintf(f, "# facteur.conf for %s, written by `facteur-keytool setup`.\n"
	    "# Every key is explained in facteur.conf.example; check a change "
	    "with\n# `facteur-keytool -c %s doctor`.\n\n", s->domain, s->conf);
	fprintf(f, "hostname  = %s\ndomains   = %s\nstate_dir = %s\n"
	    "mail_dir  = %s/%%d/%%u\nrun_dir   = %s\nuser      = %s\n"
	    "log       = %s\n", s->hostname, s->domain, s->state, s->mail,
	    s->run, s->account, s->log);
	if (s->single)
		fprintf(f, "single_account = yes      # every role as `user`: "
		    "a platform with one account\n");
	fprintf(f, "\n# self-signed: replace by a CA's certificate (e.g. Let's "
	    "Encrypt) when you can\n[tls]\ncert = %s/tls/fullchain.pem\n"
	    "key  = %s/tls/privkey.pem\n", s->confdir, s->confdir);
	fprintf(f, "\n[smtp]\nlisten      = %s:%u      # mail from the Internet\n"
	    "submission  = %s:%u      # your mail programs: STARTTLS\n"
	    "submissions = %s:%u      # your mail programs: TLS\n"
	    "#trusted    = 127.0.0.0/8 ::1   # the default: programs on this box "
	    "skip the\n"
	    "                                # port 25 checks; add your LAN, or "
	    "none behind\n"
	    "                                # a port forwarder on this box "
	    "(README)\n", l,
	    s->port[P_SMTP], l, s->port[P_SUBMISSION], l, s->port[P_SUBMISSIONS]);
	if (s->relay_host[0] != '\0') {
		fprintf(f, "\n[relay]\nhost = %s\nport = %u\ntls  = %s\n",
		    s->relay_host, s->relay_port,
		    s->relay_port == 465 ? "implicit" : "starttls");
		if (s->relay_user != NULL)
			fprintf(f, "user = %s\npassword_file = %s/relay.secret\n",
			    s->relay_user, s->confdir);
	}
	fprintf(f, "\n[dkim]\nsign = %s rsa%s %s/dkim/%s.rsa%s.key\n"
	    "sign = %s ed%s %s/dkim/%s.ed%s.key\n", s->domain, s->year, s->state,
	    s->domain, s->year, s->domain, s->year, s->state, s->domain, s->year);
	fprintf(f, "\n[imap]\nlisten = %s:%u\n", l, s->port[P_IMAPS]);
	/* DMARC needs the Public Suffix List: the one given, Debian's, or none */
	if (s->psl != NULL)
		fprintf(f, "\n[inbound]\npsl = %s\n", s->psl);
	else if (access(DEFAULT_PSL, R_OK) == -1)
		fprintf(f, "\n# no Public Suffix List at %s: DMARC is off until "
		    "there is one\n# (Debian's publicsuffix package, or psl = "
		    "FILE)\n[inbound]\ndmarc = no\n", DEFAULT_PSL);
	if (fclose(f) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* relay_secret - the smarthost password, 0600 for the account */
static int
relay_secret(const struct conf *c, const char *pw, size_t len)
{
	char data[KEYTOOL_PW_MAX + 1];
	uid_t uid;
	gid_t gid;
	int rc;

	memcpy(data, pw, len);
	data[len] = '\n';
	rc = keytool_write_file(c->relay.password_file, data, len + 1, 0600,
	    true);
	wipe(data, sizeof(data));
	keytool_owner(c, &uid, &gid);
	if (rc == 0 && uid != (uid_t)-1 &&
	    chown(c->relay.password_file, uid, gid) == -1) {
		fprintf(stderr, "chown %s: %s\n", c->relay.password_file,
		    strerror(errno));
		rc = -1;
	}
	return rc;
}

/* make_all - directories, certificate, keys, user, alias */
static int
make_all(const struct setup *s, const struct conf *c, const char *pw,
    size_t pwlen)
{
	char err[512], pm[USERDB_ADDR_MAX];
	struct passwd *pw_acct = NULL;
	uid_t uid;
	gid_t gid;
	size_t i;

	if (geteuid() == 0)
		pw_acct = getpwnam(c->user);
	if (daemon_setup_dirs(c, pw_acct ? pw_acct->pw_uid : (uid_t)-1,
	    pw_acct ? pw_acct->pw_gid : (gid_t)-1) == -1)
		return -1;
	if (keytool_tls_write(c, s->force) != 0)
		return -1;
	for (i = 0; i < c->dkim.nsign; i++) {
		if (keytool_dkim_keygen(c->dkim.sign[i].keyfile, i == 0 ?
		    DKIM_RSA_SHA256 : DKIM_ED25519_SHA256, s->force) == -1)
			return -1;
		printf("wrote %s (%s, mode 0600)\n", c->dkim.sign[i].keyfile,
		    i == 0 ? "RSA 2048 bits" : "Ed25519");
	}
	if (keytool_user_put(c, s->addr, pw, pwlen) == -1)
		return -1;
	printf("added user %s\n", s->addr);
	if (!bsnprintf(pm, sizeof(pm), "postmaster@%s", s->domain))
		return -1;
	if (strcmp(pm, s->addr) != 0) {
		keytool_owner(c, &uid, &gid);
		if (userdb_update(c->state_dir, USERDB_ALIASES, pm, s->addr,
		    uid, gid, err, sizeof(err)) == -1) {
			fprintf(stderr, "facteur-keytool: %s\n", err);
			return -1;
		}
		printf("added alias %s -> %s\n", pm, s->addr);
	}
	return 0;
}

/*
 * print_clients - what to type into a mail program, for the services
 * other machines can reach (keytool_offered, as the SRV records), and
 * the port forwards they need
 */
static void
print_clients(const struct setup *s, const struct conf *c, const char *pw,
    bool made)
{
	bool imap = keytool_offered(&c->imap.listen);
	bool subs = keytool_offered(&c->smtp.submissions);
	bool sub = keytool_offered(&c->smtp.submission);
	char lead[256];

	printf("\n; ===== mail programs (Thunderbird, phones) =====\n"
	    ";   user name   %s\n", s->addr);
	if (made)
		printf(";   password    %s   (shown only this once: note it, or "
		    "change it with\n;               facteur-keytool -c %s user "
		    "passwd %s)\n", pw, s->conf, s->addr);
	else
		printf(";   password    the one given on stdin\n");
	/* the public ports, as the SRV records say (keytool_dns.c) */
	if (imap)
		printf(";   incoming    IMAP, %s port 993, SSL/TLS, normal "
		    "password\n", s->hostname);
	if (subs || sub)
		printf(";   outgoing    SMTP, %s port %s, normal password\n",
		    s->hostname, subs && sub ? "465 SSL/TLS (or 587 STARTTLS)" :
		    subs ? "465 SSL/TLS" : "587 STARTTLS");
	if (!imap && !subs && !sub)
		printf("; facteur listens on %s only (loopback): no mail program "
		    "on another\n; machine can reach it, only those on this "
		    "one (a webmail).\n", s->listen);
	/* why the ports differ: an ordinary user cannot bind below 1024,
	 * or --ports chose them (root or not) */
	if (bsnprintf(lead, sizeof(lead), "; facteur listens on other ports "
	    "than the standard ones (%s):\n; on your router, forward these "
	    "(public port -> this machine's; mail\n; programs use the public "
	    "ones):\n", s->ports_given ? "--ports" : "not root"))
		keytool_forwards(c, lead);
	if (geteuid() == 0 && !s->single)
		printf("; Each role runs as its own account: `facteur-keytool -c "
		    "%s accounts | sh`\n; creates those missing (the init "
		    "files do it too).\n", s->conf);
	printf("; Start the daemons (systemctl enable --now facteur-authd "
	    "facteur-smtpd facteur-imapd,\n; or /etc/init.d/facteur start), "
	    "publish the records above, then run\n; facteur-keytool -c %s "
	    "doctor\n", s->conf);
}

int
keytool_cmd_setup(const char *conf, bool conf_given, int argc, char **argv)
{
	char pw[KEYTOOL_PW_MAX], rpw[KEYTOOL_PW_MAX], *text = NULL;
	char *dns_argv[] = { (char *)"dns", NULL };
	struct setup s;
	struct conf *c = NULL;
	size_t pwlen = 0, rpwlen = 0;
	bool made = false, replace;
	int rc;

	if ((rc = parse_args(&s, conf, conf_given, argc, argv)) != KEYTOOL_OK)
		return rc;
	replace = s.force;
	if (set_up_already(s.conf)) {
		if (!s.force) {
			fprintf(stderr, "setup: %s exists: facteur is set up "
			    "already.  --force writes a new configuration, "
			    "certificate and DKIM keys and sets the first user's "
			    "password (other users and mail stay)\n",
			    s.conf);
			return KEYTOOL_FAIL;
		}
	} else
		replace = true;	/* absent, or the package's placeholder */
	if (geteuid() == 0 && getpwnam(s.account) == NULL) {
		fprintf(stderr, "setup: no account %s: create it first (useradd "
		    "--system --user-group %s, or busybox adduser -S %s), or "
		    "name another with --account\n", s.account, s.account,
		    s.account);
		return KEYTOOL_FAIL;
	}
	rc = KEYTOOL_FAIL;
	if (first_password(pw, sizeof(pw), &pwlen, &made) == -1 ||
	    !keytool_password_ok(pw, pwlen)) {
		/* nothing written yet: no advice to run it again --force */
		wipe(pw, sizeof(pw));
		return KEYTOOL_FAIL;
	}
	if (s.relay_user != NULL &&
	    keytool_read_password(rpw, sizeof(rpw), &rpwlen) == -1)
		goto done;
	/* the configuration's directory (and --dir) must let the account
	 * through to mail/ and state/: 0755, not keytool_write_file's 0700 */
	if (keytool_mkdirs(s.confdir) == -1 ||
	    (text = config_text(&s)) == NULL ||
	    keytool_write_file(s.conf, text, strlen(text), 0644, replace) == -1) {
		/* nothing written yet: no --force needed, but maybe --dir */
		if (geteuid() != 0 && strncmp(s.confdir, "/etc/", 5) == 0)
			fprintf(stderr, "setup: not root: give the set-up a "
			    "directory of yours, e.g. --dir ~/facteur (or run "
			    "it as root)\n");
		free(text);
		wipe(pw, sizeof(pw));
		wipe(rpw, sizeof(rpw));
		return KEYTOOL_FAIL;
	}
	printf("wrote %s\n", s.conf);
	fflush(stdout);
	if ((c = conf_load(s.conf, stderr)) == NULL)
		goto done;
	if (s.relay_user != NULL && relay_secret(c, rpw, rpwlen) == -1)
		goto done;
	if (make_all(&s, c, pw, pwlen) == -1)
		goto done;
	printf("\n");
	fflush(stdout);
	if (keytool_cmd_dns(c, 1, dns_argv) != 0)
		goto done;
	print_clients(&s, c, pw, made);
	rc = KEYTOOL_OK;
done:
	if (rc != KEYTOOL_OK)
		fprintf(stderr, "setup: stopped; after fixing the cause, run it "
		    "again with --force\n");
	wipe(pw, sizeof(pw));
	wipe(rpw, sizeof(rpw));
	free(text);
	conf_free(&c);
	return rc;
}
