/* SPDX-License-Identifier: ISC */
/*
 * conf_fetch.c - the `[fetch] account` value (conf_fetch.h): a URL, the
 * local user and options.  Pure code on untrusted text (the file may be
 * anyone's typo): every field is checked, nothing is guessed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "conf_fetch.h"
#include "xmem.h"
#include "strnum.h"

#define FETCH_MAX_TOKENS	8

void
conf_fetch_clear(struct conf_fetch *f)
{
	free(f->login);
	free(f->host);
	free(f->folder);
	free(f->local);
	free(f->password_file);
	free(f->ca_file);
	free(f->name);
	free(f->state);
	memset(f, 0, sizeof(*f));
}

/* decode - %XX-decoded copy of s[0..n); NULL if malformed or empty */
static char *
decode(const char *s, size_t n)
{
	char *o = xmalloc(n + 1), *q = o;
	size_t i;
	int h, l;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			*q++ = s[i];
			continue;
		}
		if (i + 2 >= n)
			break;
		if ((h = hex_digit((unsigned char)s[i + 1])) < 0 ||
		    (l = hex_digit((unsigned char)s[i + 2])) < 0 || h * 16 + l == 0)
			break;
		*q++ = (char)(h * 16 + l);
		i += 2;
	}
	*q = '\0';
	if (i < n || q == o) {
		free(o);
		return NULL;
	}
	return o;
}

static bool
host_ok(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' &&
		    h[i] != ':')
			return false;
	return true;
}

/* parse_url - the URL token into f; false with *err_r */
static bool
parse_url(const char *u, struct conf_fetch *f, const char **err_r)
{
	const char *rest, *at, *hp, *slash, *colon;
	char port[8];
	size_t n;
	long v;
	char *end;

	if (strncmp(u, "imaps://", 8) == 0) {
		f->proto = FETCH_IMAPS;
		f->port = 993;
		rest = u + 8;
	} else if (strncmp(u, "pop3s://", 8) == 0) {
		f->proto = FETCH_POP3S;
		f->port = 995;
		rest = u + 8;
	} else {
		*err_r = "a URL imaps://LOGIN@HOST[:PORT][/FOLDER] or "
		    "pop3s://LOGIN@HOST[:PORT]";
		return false;
	}
	if ((at = strrchr(rest, '@')) == NULL || at == rest ||
	    (f->login = decode(rest, (size_t)(at - rest))) == NULL) {
		*err_r = "a login in the URL (LOGIN@HOST, %40 for an @ in it)";
		return false;
	}
	hp = at + 1;
	slash = strchr(hp, '/');
	n = slash ? (size_t)(slash - hp) : strlen(hp);
	colon = memchr(hp, ':', n);
	f->host = xstrndup(hp, colon ? (size_t)(colon - hp) : n);
	if (!host_ok(f->host) || strchr(f->host, ':') != NULL) {
		*err_r = "a host name in the URL";
		return false;
	}
	if (colon) {
		if ((size_t)(hp + n - colon - 1) >= sizeof(port) ||
		    hp + n == colon + 1) {
			*err_r = "a port from 1 to 65535 in the URL";
			return false;
		}
		memcpy(port, colon + 1, (size_t)(hp + n - colon - 1));
		port[hp + n - colon - 1] = '\0';
		v = strtol(port, &end, 10);
		if (*end != '\0' || v < 1 || v > 65535 ||
		    !isdigit((unsigned char)port[0])) {
			*err_r = "a port from 1 to 65535 in the URL";
			return false;
		}
		f->port = (uint16_t)v;
	}
	if (slash && slash[1] != '\0') {
		if (f->proto != FETCH_IMAPS ||
		    (f->folder = decode(slash + 1, strlen(slash + 1))) == NULL ||
		    strpbrk(f->folder, "\"\\\r\n") != NULL) {
			*err_r = "a folder only in imaps:// URLs, without quotes "
			    "or backslashes";
			return false;
		}
	} else
		f->folder = xstrdup("INBOX");
	return true;
}

static bool
duration(const char *s, unsigned *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	long mul = 1;

	if (!isdigit((unsigned char)s[0]) || v < 0)
		return false;
	if (*end == 's' || *end == '\0')
		mul = 1;
	else if (*end == 'm')
		mul = 60;
	else if (*end == 'h')
		mul = 3600;
	else
		return false;
	if (*end != '\0' && end[1] != '\0')
		return false;
	if (v * mul < 1 || v * mul > 86400)
		return false;
	*out = (unsigned)(v * mul);
	return true;
}

/* parse_opt - one KEY=VALUE */
static bool
parse_opt(char *t, struct conf_fetch *f, const char **err_r)
{
	char *v = strchr(t, '=');

	if (v == NULL) {
		*err_r = "options like password_file=PATH interval=5m keep=no "
		    "ca_file=PATH";
		return false;
	}
	*v++ = '\0';
	if (strcmp(t, "password_file") == 0 && v[0] == '/' && !f->password_file)
		f->password_file = xstrdup(v);
	else if (strcmp(t, "ca_file") == 0 && v[0] == '/' && !f->ca_file)
		f->ca_file = xstrdup(v);
	else if (strcmp(t, "interval") == 0 && duration(v, &f->interval))
		;
	else if (strcmp(t, "keep") == 0 && (strcmp(v, "yes") == 0 ||
	    strcmp(v, "no") == 0))
		f->keep = strcmp(v, "yes") == 0;
	else {
		*err_r = "options password_file=/PATH, ca_file=/PATH, "
		    "interval=1s to 1d, keep=yes|no, each once";
		return false;
	}
	return true;
}

/* make_names - LOGIN@HOST for logs, a file name for the state */
static void
make_names(struct conf_fetch *f)
{
	size_t n, i;
	char *s;

	n = strlen(f->login) + strlen(f->host) + strlen(f->folder) + 32;
	f->name = xmalloc(n);
	(void)bsnprintf(f->name, n, "%s@%s", f->login, f->host);
	s = xmalloc(n);
	(void)bsnprintf(s, n, "%s-%s-%s-%u-%s", f->proto == FETCH_IMAPS ?
	    "imap" : "pop3", f->login, f->host, (unsigned)f->port, f->folder);
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '@' && s[i] != '.' &&
		    s[i] != '-')
			s[i] = '_';
	f->state = s;
}

bool
conf_fetch_parse(const char *val, struct conf_fetch *f, const char **err_r)
{
	char *copy = xstrdup(val), *t[FETCH_MAX_TOKENS], *p = copy;
	size_t n = 0, i;
	bool ok = false;

	memset(f, 0, sizeof(*f));
	f->interval = 300;
	while (*p && n < FETCH_MAX_TOKENS) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		t[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
	*err_r = "URL LOCAL-USER password_file=PATH [interval=5m] [keep=no] "
	    "[ca_file=PATH]";
	if (n < 3 || *p != '\0' || !parse_url(t[0], f, err_r))
		goto done;
	if (strchr(t[1], '@') == NULL || t[1][0] == '@' ||
	    strpbrk(t[1], "<>\"\\") != NULL) {
		*err_r = "a local user like alice@example.org after the URL";
		goto done;
	}
	f->local = xstrdup(t[1]);
	for (i = 2; i < n; i++)
		if (!parse_opt(t[i], f, err_r))
			goto done;
	if (f->password_file == NULL) {
		*err_r = "password_file=PATH (the password alone on its first line)";
		goto done;
	}
	if (f->ca_file == NULL)
		f->ca_file = xstrdup(CONF_FETCH_CA);
	make_names(f);
	ok = true;
done:
	free(copy);
	if (!ok)
		conf_fetch_clear(f);
	return ok;
}

/* enc - s with '%', '@', '/' and blanks as %XX, appended to out */
static void
enc(char *out, size_t outsz, const char *s)
{
	size_t o = strlen(out);

	for (; *s && o + 4 < outsz; s++) {
		if (*s == '%' || *s == '@' || *s == '/' || *s == ' ' ||
		    *s == '\t') {
			(void)bsnprintf(out + o, outsz - o, "%%%02X",
			    (unsigned char)*s);
			o += 3;
		} else {
			out[o++] = *s;
			out[o] = '\0';
		}
	}
}

bool
conf_fetch_format(const struct conf_fetch *f, char *out, size_t outsz)
{
	size_t o;

	(void)bsnprintf(out, outsz, "%s://", f->proto == FETCH_IMAPS ?
	    "imaps" : "pop3s");
	enc(out, outsz, f->login);
	o = strlen(out);
	if (!bsnprintf(out + o, outsz - o, "@%s:%u", f->host,
	    (unsigned)f->port))
		return false;
	if (f->proto == FETCH_IMAPS) {
		o = strlen(out);
		if (!bsnprintf(out + o, outsz - o, "/"))
			return false;
		enc(out, outsz, f->folder);
	}
	o = strlen(out);
	return bsnprintf(out + o, outsz - o, " %s password_file=%s "
	    "interval=%us keep=%s ca_file=%s", f->local, f->password_file,
	    f->interval, f->keep ? "yes" : "no", f->ca_file);
}
