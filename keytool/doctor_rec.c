/* SPDX-License-Identifier: ISC */
/*
 * doctor_rec.c - the doctor's edits and reads of TXT records as DNS
 * returned them (untrusted: any bytes but NUL, any length): SPF terms
 * inserted before the `all` or `redirect=` term, includes dropped, a
 * DKIM tag's value, and what a DNS panel did to a DKIM record.  Pure
 * functions, no I/O; fuzzed by tests/fuzz/fuzz_doctor_rec.c.  Output
 * always fits the buffer given (cut when it would not).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "xmem.h"
#include "keytool/doctor.h"

static bool
qualifier(char c)
{
	return c != '\0' && strchr("+-~?", c) != NULL;
}

void
doctor_spf_insert(const char *rec, const char *term, char *out, size_t outsz)
{
	const char *p = rec, *t, *at = NULL;
	size_t l;

	while (*p) {
		while (*p == ' ')
			p++;
		t = p;
		p += strcspn(p, " ");
		l = (size_t)(p - t);
		if (l > 0 && qualifier(*t))
			t++, l--;
		if (at == NULL && ((l == 3 && strncasecmp(t, "all", 3) == 0) ||
		    (l >= 9 && strncasecmp(t, "redirect=", 9) == 0)))
			at = t - (t > rec && qualifier(t[-1]) ? 1 : 0);
	}
	if (at == NULL)
		(void)bsnprintf(out, outsz, "%s %s", rec, term);
	else
		(void)bsnprintf(out, outsz, "%.*s%s %s", (int)(at - rec), rec,
		    term, at);
}

void
doctor_spf_drop(const char *rec, doctor_keep_fn *keep, void *arg, char *out,
    size_t outsz)
{
	const char *p = rec, *t, *dom;
	char name[256];
	struct buf b;
	size_t l;

	buf_init(&b, 0);
	while (*p) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		t = p;
		p += strcspn(p, " ");
		l = (size_t)(p - t);
		dom = t + (qualifier(*t) ? 1 : 0);
		if ((size_t)(p - dom) > 8 && strncasecmp(dom, "include:", 8) == 0 &&
		    (size_t)(p - dom) - 8 < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(p - dom - 8),
			    dom + 8);
			if (!keep(arg, name))
				continue;
		}
		buf_printf(&b, "%s%.*s", b.len ? " " : "", (int)l, t);
	}
	(void)bsnprintf(out, outsz, "%s", b.len ? buf_head(&b) : "v=spf1");
	buf_free(&b);
}

bool
doctor_tag_value(const char *rec, const char *tag, char *out, size_t outsz)
{
	const char *p = rec, *e, *q;
	size_t tl = strlen(tag), o = 0;

	if (outsz == 0)
		return false;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		e = p + strcspn(p, ";");
		if (strncmp(p, tag, tl) == 0) {
			for (q = p + tl; *q == ' ' || *q == '\t'; q++)
				;
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

const char *
doctor_dkim_mangled(const char *rec, const char *got_p, const char *want_p)
{
	size_t gl = strlen(got_p);

	if (strchr(rec, '"') != NULL)
		return "the panel kept the quotes (they are part of the value "
		    "now)";
	if (strchr(rec, '\\') != NULL)
		return "the panel added backslashes (escaped ; or \")";
	if (gl > 0 && gl < strlen(want_p) && strncmp(got_p, want_p, gl) == 0)
		return strlen(rec) == 255 ? "the panel truncated it at 255 "
		    "bytes (one TXT string); the key is cut short" :
		    "the key is cut short (truncated)";
	return NULL;
}
