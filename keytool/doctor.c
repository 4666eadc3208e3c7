/* SPDX-License-Identifier: ISC */
/*
 * doctor.c - `facteur-keytool doctor`: checks what the outside world sees
 * and says what to fix, one line per check (doctor.h lists the files):
 *
 *   OK|WARN|FAIL|INFO  what was checked  [- what to do]
 *
 * A fix that is a DNS record names it as a DNS panel wants it (owner
 * relative to the domain, "@" for the domain itself, value unquoted) and
 * in zone-file form beside it.  Exit 1 if any FAIL, else 0; 2 on bad
 * usage.  Runs as the administrator; writes nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "xmem.h"
#include "keytool/keytool.h"
#include "keytool/doctor.h"

#define TXT_CHUNK	255	/* RFC 1035 3.3.14: one character-string */

bool
doctor_denied(const char *path)
{
	return access(path, R_OK) == -1 && (errno == EACCES || errno == EPERM);
}

void
doctor_report(struct doctor *d, enum doctor_verdict v, const char *fmt, ...)
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

void
doctor_owner(const char *name, const char *zone, char *out, size_t outsz)
{
	size_t nl = strlen(name), zl = strlen(zone);

	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (nl == zl && strncasecmp(name, zone, zl) == 0)
		snprintf(out, outsz, "@");
	else if (nl > zl + 1 && name[nl - zl - 1] == '.' &&
	    strncasecmp(name + nl - zl, zone, zl) == 0)
		snprintf(out, outsz, "%.*s", (int)(nl - zl - 1), name);
	else
		snprintf(out, outsz, "%.*s.", (int)nl, name);
}

void
doctor_publish(char *out, size_t outsz, const char *name, const char *zone,
    const char *type, const char *value)
{
	char rel[300];
	struct buf zv;
	size_t len = strlen(value), i;

	doctor_owner(name, zone, rel, sizeof(rel));
	buf_init(&zv, 0);
	if (strcmp(type, "TXT") == 0)
		for (i = 0; i == 0 || i < len; i += TXT_CHUNK) {
			buf_printf(&zv, "%s\"%.*s\"", i ? " " : "",
			    (int)(len - i < TXT_CHUNK ? len - i : TXT_CHUNK),
			    value + i);
			if (len == 0)
				break;
		}
	else
		buf_puts(&zv, value);
	snprintf(out, outsz, "publish: name %s, type %s, value %s (zone file:"
	    " %s. IN %s %s)", rel, type, value, name, type, buf_head(&zv));
	buf_free(&zv);
}

int
keytool_cmd_doctor(const struct conf *c, int argc, char **argv)
{
	struct doctor d;
	char desc[400];
	size_t i;

	if (argc != 1)
		return keytool_bad_arg("doctor", argv[1]);
	memset(&d, 0, sizeof(d));
	d.c = c;
	d.timeout_ms = c->doctor.timeout * 1000;
	if (doctor_dns_init(&d, desc, sizeof(desc)) == -1)
		return KEYTOOL_FAIL;
	printf("facteur doctor for %s - DNS answers from %s\n", c->hostname, desc);
	doctor_check_ip(&d);
	for (i = 0; i < c->ndomains; i++) {
		doctor_check_mx(&d, c->domains[i]);
		doctor_check_spf(&d, c->domains[i]);
		doctor_check_dmarc(&d, c->domains[i]);
	}
	for (i = 0; i < c->smtp.nbackup_domains; i++)
		doctor_check_backup_mx(&d, c->smtp.backup_domains[i]);
	doctor_check_dkim(&d);
	doctor_check_tls(&d);
	doctor_check_acme(&d);
	if (c->relay.enabled)
		doctor_check_relay(&d);
	else
		doctor_check_port25(&d);
	doctor_check_postmaster(&d);
	doctor_check_senders(&d);
	doctor_dns_free(&d);
	printf("%u OK, %u WARN, %u FAIL\n", d.count[DOC_OK], d.count[DOC_WARN],
	    d.count[DOC_FAIL]);
	return d.count[DOC_FAIL] ? KEYTOOL_FAIL : KEYTOOL_OK;
}
