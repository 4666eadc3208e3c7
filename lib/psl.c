/* SPDX-License-Identifier: ISC */
/*
 * psl.c - the Public Suffix List as a sorted table of rule strings (one
 * blob, one offset array, binary search), Punycode for its IDN rules, and
 * the organizational domain (see psl.h).
 *
 * Loaded once per process (before any chroot, by whoever needs it);
 * lookups are pure and allocate nothing.  psl_load() reports errors in
 * err; out of memory while loading is a NULL return too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "psl.h"

#define PSL_FILE_MAX	(16 * 1024 * 1024)

struct psl {
	char		*blob;		/* rules, NUL-terminated, one after another */
	uint32_t	*off;		/* sorted by strcmp */
	size_t		 n;
};

/* --- Punycode (RFC 3492 6.3, encoding only) --- */

enum { PC_BASE = 36, PC_TMIN = 1, PC_TMAX = 26, PC_SKEW = 38, PC_DAMP = 700 };

static uint32_t
pc_adapt(uint32_t delta, uint32_t npoints, bool first)
{
	uint32_t k = 0;

	delta = first ? delta / PC_DAMP : delta / 2;
	delta += delta / npoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

/* utf8_decode - code points of p[0..n) into cp (at most max); -1 if bad */
static int
utf8_decode(const char *p, size_t n, uint32_t *cp, size_t max, size_t *ncp)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, k, len;
	uint32_t c, min;

	*ncp = 0;
	while (i < n) {
		c = s[i];
		if (c < 0x80)
			len = 1, min = 0;
		else if ((c & 0xe0) == 0xc0)
			len = 2, c &= 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			len = 3, c &= 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			len = 4, c &= 0x07, min = 0x10000;
		else
			return -1;
		if (i + len > n || *ncp == max)
			return -1;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return -1;
		cp[(*ncp)++] = c;
		i += len;
	}
	return 0;
}

static bool
pc_put(char *out, size_t outsz, size_t *o, char c)
{
	if (*o + 1 >= outsz)
		return false;
	out[(*o)++] = c;
	return true;
}

static char
pc_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* pc_encode_cp - the variable-length integer q (RFC 3492 6.3) */
static bool
pc_encode_cp(uint32_t q, uint32_t bias, char *out, size_t outsz, size_t *o)
{
	uint32_t k, t;

	for (k = PC_BASE;; k += PC_BASE) {
		t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
		if (q < t)
			break;
		if (!pc_put(out, outsz, o, pc_digit(t + (q - t) % (PC_BASE - t))))
			return false;
		q = (q - t) / (PC_BASE - t);
	}
	return pc_put(out, outsz, o, pc_digit(q));
}

bool
psl_punycode(const char *label, size_t n, char *out, size_t outsz)
{
	uint32_t cp[64], m, cur = 0x80, delta = 0, bias = 72, h, b = 0;
	size_t ncp, i, o = 0;

	if (utf8_decode(label, n, cp, 64, &ncp) == -1 || outsz < 5)
		return false;
	for (i = 0; i < ncp; i++)
		b += cp[i] < 0x80;
	if (b == ncp) {		/* ASCII: as it is */
		if (n >= outsz)
			return false;
		memcpy(out, label, n);
		out[n] = '\0';
		return true;
	}
	memcpy(out, "xn--", 4);
	o = 4;
	for (i = 0; i < ncp; i++)
		if (cp[i] < 0x80 && !pc_put(out, outsz, &o, (char)cp[i]))
			return false;
	if (b > 0 && !pc_put(out, outsz, &o, '-'))
		return false;
	for (h = b; h < ncp; cur++, delta++) {
		for (m = UINT32_MAX, i = 0; i < ncp; i++)
			if (cp[i] >= cur && cp[i] < m)
				m = cp[i];
		delta += (m - cur) * (h + 1);	/* at most 63 * 0x110000: fits */
		cur = m;
		for (i = 0; i < ncp; i++) {
			if (cp[i] < cur)
				delta++;
			if (cp[i] != cur)
				continue;
			if (!pc_encode_cp(delta, bias, out, outsz, &o))
				return false;
			bias = pc_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
	}
	out[o] = '\0';
	return true;
}

/* --- loading --- */

/* rule_alabel - rule with each non-ASCII label in A-label form; false if none */
static bool
rule_alabel(const char *rule, char *out, size_t outsz)
{
	const char *p = rule, *dot;
	size_t o = 0, len;
	bool idn = false;

	for (;;) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (o + 1 >= outsz || !psl_punycode(p, len, out + o, outsz - o))
			return false;
		idn |= strncmp(out + o, "xn--", 4) == 0 && strncmp(p, "xn--", 4) != 0;
		o += strlen(out + o);
		if (dot == NULL)
			break;
		out[o++] = '.';
		p = dot + 1;
	}
	return idn;
}

static int
add_rule(struct buf *blob, struct buf *offs, const char *rule)
{
	uint32_t off = (uint32_t)blob->len;

	if (buf_append(blob, rule, strlen(rule) + 1) == -1 ||
	    buf_append(offs, &off, sizeof(off)) == -1)
		return -1;
	return 0;
}

/* one_line - the rule on a line: its first word, lower-cased; "" if none */
static int
one_line(struct buf *blob, struct buf *offs, const char *line, size_t n)
{
	char rule[PSL_NAME_MAX + 2], alabel[PSL_NAME_MAX * 4 + 8];
	size_t i, len = 0;

	while (len < n && line[len] != ' ' && line[len] != '\t' &&
	    line[len] != '\r')
		len++;
	if (len == 0 || len > PSL_NAME_MAX + 1 || (len >= 2 &&
	    line[0] == '/' && line[1] == '/'))
		return 0;
	for (i = 0; i < len; i++)
		rule[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ?
		    line[i] - 'A' + 'a' : line[i]);
	rule[len] = '\0';
	if (memchr(rule, '\0', len) != NULL)
		return 0;
	if (add_rule(blob, offs, rule) == -1)
		return -1;
	if (rule_alabel(rule, alabel, sizeof(alabel)) &&
	    strlen(alabel) <= PSL_NAME_MAX + 1 && add_rule(blob, offs, alabel) == -1)
		return -1;
	return 0;
}

static int
cmp_rule(const void *a, const void *b, void *blob)
{
	return strcmp((const char *)blob + *(const uint32_t *)a,
	    (const char *)blob + *(const uint32_t *)b);
}

struct psl *
psl_load_mem(const char *text, size_t n)
{
	struct buf blob, offs;
	struct psl *p;
	const char *nl;
	size_t i, len;

	buf_init(&blob, UINT32_MAX);
	buf_init(&offs, 0);
	for (i = 0; i < n; i += len + 1) {
		nl = memchr(text + i, '\n', n - i);
		len = nl ? (size_t)(nl - (text + i)) : n - i;
		if (one_line(&blob, &offs, text + i, len) == -1)
			goto fail;
	}
	if (offs.len == 0 || (p = calloc(1, sizeof(*p))) == NULL)
		goto fail;
	p->blob = buf_head(&blob);
	p->off = (uint32_t *)(void *)buf_head(&offs);
	p->n = offs.len / sizeof(uint32_t);
	qsort_r(p->off, p->n, sizeof(uint32_t), cmp_rule, p->blob);
	return p;
fail:
	buf_free(&blob);
	buf_free(&offs);
	return NULL;
}

struct psl *
psl_load(const char *path, char *err, size_t errsz)
{
	struct psl *p;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	p = psl_load_fd(fd, path, err, errsz);
	close(fd);
	return p;
}

struct psl *
psl_load_fd(int fd, const char *path, char *err, size_t errsz)
{
	struct buf text;
	struct psl *p = NULL;
	FILE *fp;
	size_t got;
	int dfd;

	if (lseek(fd, 0, SEEK_SET) == -1 || (dfd = dup(fd)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((fp = fdopen(dfd, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(dfd);
		return NULL;
	}
	buf_init(&text, PSL_FILE_MAX);
	for (;;) {
		if (buf_reserve(&text, 65536) == -1) {
			snprintf(err, errsz, "%s: too large or out of memory", path);
			goto done;
		}
		if ((got = fread(buf_tail(&text), 1, 65536, fp)) == 0)
			break;
		buf_commit(&text, got);
	}
	if (ferror(fp))
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
	else if ((p = psl_load_mem(buf_head(&text), text.len)) == NULL)
		snprintf(err, errsz, "%s: no rules (or out of memory)", path);
done:
	fclose(fp);
	buf_free(&text);
	return p;
}

void
psl_free(struct psl **pp)
{
	struct psl *p = *pp;

	if (p == NULL)
		return;
	free(p->blob);
	free(p->off);
	free(p);
	*pp = NULL;
}

size_t
psl_rules(const struct psl *p)
{
	return p->n;
}

/* --- lookups --- */

static bool
has(const struct psl *p, const char *key)
{
	size_t lo = 0, hi = p->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(key, p->blob + p->off[mid]);
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/*
 * normalize - name lower-cased without a final dot into nm, the start of
 * each label into lab; the number of labels, 0 if not a usable name
 */
static size_t
normalize(const char *name, char nm[PSL_NAME_MAX + 1], size_t lab[128])
{
	size_t len = strlen(name), i, n = 0, start = 0;
	unsigned char c;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > PSL_NAME_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		c = i < len ? (unsigned char)name[i] : '.';
		if (c == '.') {
			if (i == start || i - start > 63)
				return 0;
			lab[n++] = start;
			start = i + 1;
		} else if (c <= 0x20 || c == 0x7f)
			return 0;
		nm[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	nm[len] = '\0';
	return n;
}

/* suffix - the label index where the public suffix of nm starts */
static size_t
suffix(const struct psl *p, const char *nm, const size_t *lab, size_t n)
{
	char key[PSL_NAME_MAX + 3];
	size_t k;

	for (k = 0; k < n; k++) {	/* an exception rule wins */
		snprintf(key, sizeof(key), "!%s", nm + lab[k]);
		if (has(p, key))
			return k + 1 < n ? k + 1 : k;
	}
	for (k = 0; k < n; k++) {	/* else the most labels */
		if (has(p, nm + lab[k]))
			return k;
		if (k + 1 < n) {
			snprintf(key, sizeof(key), "*.%s", nm + lab[k + 1]);
			if (has(p, key))
				return k;
		}
	}
	return n - 1;			/* the implicit rule "*" */
}

static bool
lookup(const struct psl *p, const char *name, char *out, size_t outsz,
    bool org)
{
	char nm[PSL_NAME_MAX + 1];
	size_t lab[128], n, k;
	int len;

	if ((n = normalize(name, nm, lab)) == 0)
		return false;
	k = suffix(p, nm, lab, n);
	if (org && k > 0)
		k--;
	len = snprintf(out, outsz, "%s", nm + lab[k]);
	return len >= 0 && (size_t)len < outsz;
}

bool
psl_org_domain(const struct psl *p, const char *name, char *out, size_t outsz)
{
	return lookup(p, name, out, outsz, true);
}

bool
psl_public_suffix(const struct psl *p, const char *name, char *out,
    size_t outsz)
{
	return lookup(p, name, out, outsz, false);
}
