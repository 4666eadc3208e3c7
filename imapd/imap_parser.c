/* SPDX-License-Identifier: ISC */
/*
 * imap_parser.c - incremental IMAP command parser (RFC 3501 9, RFC 7888).
 *
 * Runs in facteur-imapd's session code, on bytes straight from the
 * network.  Pure: no I/O, no logging.  Collects one command into `raw`:
 * each line with its CR stripped and a '\n' kept after a literal marker,
 * each literal's bytes followed by one added NUL so it can be used as a C
 * string.  Limits: max_line for all non-literal bytes of the command,
 * max_literal for all its literal bytes (checked when the "{n}" is seen,
 * before a continuation or allocation), max_depth for nested lists and
 * max_args for the number of arguments.  An over-long line is skipped to
 * its end without being stored.  Errors are fixed strings.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_parser.h"
#include "xmem.h"

enum pstate {
	PS_LINE,
	PS_LITERAL,
	PS_SKIP,
};

struct imap_parser {
	size_t		 max_line;
	uint64_t	 max_literal;
	unsigned	 max_depth;
	unsigned	 max_args;

	struct buf	 raw;
	size_t		 line_bytes;	/* non-literal bytes so far */
	uint64_t	 lit_total;	/* literal bytes so far */
	uint64_t	 lit_left;	/* bytes of the current literal to come */
	size_t		 line_start;	/* offset in raw of the current line */
	enum pstate	 state;
	bool		 want_cont;
	bool		 fatal;
	const char	*error;
	char		 tag[64];

	/* the result, valid after DONE */
	struct imap_arg	*nodes;
	unsigned	 nnodes, nodes_cap;
	char		*strs;
	size_t		 strs_len, strs_cap;
	bool		 secret;	/* login: wipe lines and strings */
	struct imap_cmd	 cmd;

	/* tokenizer position */
	const char	*tp, *tend;
	unsigned	 in_section;	/* inside BODY[...]: ']' ends an atom */

	/* spooling of big literals */
	uint64_t	 spool_min;
	imap_spool_begin_cb *spool_begin;
	imap_spool_write_cb *spool_write;
	void		*spool_arg;
	bool		 spooling;	/* the current literal goes to the spool */
	bool		 spooled;	/* this command has one already */
	bool		 spool_failed;
};

void
imap_parser_set_spool(struct imap_parser *p, uint64_t threshold,
    imap_spool_begin_cb *begin, imap_spool_write_cb *write, void *arg)
{
	p->spool_min = threshold;
	p->spool_begin = begin;
	p->spool_write = write;
	p->spool_arg = arg;
}

struct imap_parser *
imap_parser_create(size_t max_line, uint64_t max_literal, unsigned max_depth,
    unsigned max_args)
{
	struct imap_parser *p;

	p = xcalloc(1, sizeof(*p));
	p->max_line = max_line;
	p->max_literal = max_literal;
	p->max_depth = max_depth;
	p->max_args = max_args;
	buf_init(&p->raw, 0);
	return p;
}

void
imap_parser_secret(struct imap_parser *p)
{
	p->secret = p->raw.secret = true;
}

/* strs_free - the decoded strings go; zeroed first in a secret parser */
static void
strs_free(struct imap_parser *p)
{
	if (p->secret && p->strs != NULL)
		explicit_bzero(p->strs, p->strs_cap);
	free(p->strs);
	p->strs = NULL;
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	buf_free(&p->raw);
	free(p->nodes);
	strs_free(p);
	free(p);
	*pp = NULL;
}

void
imap_parser_release(struct imap_parser *p)
{
	if (p->raw.cap > 16384 && p->state == PS_LINE && p->raw.len == 0)
		buf_free(&p->raw);
	if (p->strs_cap > 16384) {
		strs_free(p);
		p->strs_cap = 0;
	}
}

bool
imap_parser_want_cont(struct imap_parser *p)
{
	bool w = p->want_cont;

	p->want_cont = false;
	return w;
}

const struct imap_cmd *
imap_parser_cmd(const struct imap_parser *p)
{
	return &p->cmd;
}

const char *
imap_parser_error(const struct imap_parser *p)
{
	return p->error ? p->error : "syntax error";
}

const char *
imap_parser_tag(const struct imap_parser *p)
{
	return p->tag[0] ? p->tag : "*";
}

bool
imap_parser_fatal(const struct imap_parser *p)
{
	return p->fatal;
}

static bool
is_tag_char(unsigned char c)
{
	/* ASTRING-CHAR minus "+" (RFC 3501 9 "tag") */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\+", c) == NULL;
}

/* remember the tag of the command being collected, for error replies */
static void
parser_grab_tag(struct imap_parser *p)
{
	const char *s = buf_head(&p->raw);
	size_t i, n = p->raw.len;

	p->tag[0] = '\0';
	for (i = 0; i < n && i < sizeof(p->tag) - 1; i++) {
		if (!is_tag_char((unsigned char)s[i]))
			break;
	}
	if (i > 0 && (i == n || s[i] == ' ')) {
		memcpy(p->tag, s, i);
		p->tag[i] = '\0';
	}
}

/* parser_keep_start - a refused first line still names its tag */
static void
parser_keep_start(struct imap_parser *p, const char *s, size_t n)
{
	if (p->raw.len == 0) {
		const char *z = memchr(s, '\0', n);

		if (z)
			n = (size_t)(z - s);
		(void)buf_append(&p->raw, s, n < 64 ? n : 64);
	}
	parser_grab_tag(p);
}

static void
parser_reset(struct imap_parser *p)
{
	buf_reset(&p->raw);
	p->line_bytes = 0;
	p->lit_total = 0;
	p->lit_left = 0;
	p->line_start = 0;
	p->state = PS_LINE;
	p->want_cont = false;
	p->spooling = p->spooled = p->spool_failed = false;
}

static enum imap_parse_res
parser_fail(struct imap_parser *p, const char *msg, bool fatal)
{
	parser_grab_tag(p);
	p->error = msg;
	p->fatal = fatal;
	parser_reset(p);
	return IMAP_PARSE_ERROR;
}

/*
 * parser_literal_marker - does the line [line_start, raw.len) end with
 * "{n}" or "{n+}"?  Sets *size_r (capped parse: digits beyond the limit
 * stop counting) and *sync_r.  Returns 0 none, 1 found, -1 malformed size.
 */
static int
parser_literal_marker(struct imap_parser *p, uint64_t *size_r, bool *sync_r)
{
	const char *s = buf_head(&p->raw) + p->line_start;
	size_t n = p->raw.len - p->line_start, i, j;
	uint64_t v = 0;

	if (n < 3 || s[n - 1] != '}')
		return 0;
	i = n - 1;
	*sync_r = true;
	if (s[i - 1] == '+') {
		*sync_r = false;
		i--;
	}
	j = i;
	while (j > 0 && isdigit((unsigned char)s[j - 1]))
		j--;
	if (j == 0 || s[j - 1] != '{')
		return 0;
	if (j == i)
		return -1;
	for (; j < i; j++) {
		unsigned d = (unsigned)(s[j] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		if (v > UINT32_MAX)		/* RFC 3501 number: 32 bits */
			return -1;
	}
	*size_r = v;
	return 1;
}

static enum imap_parse_res parser_tokenize(struct imap_parser *p);

/* a whole line is in raw: literal marker or end of command */
static enum imap_parse_res
parser_end_line(struct imap_parser *p)
{
	uint64_t size = 0;
	bool sync = true;
	int r;

	if (p->raw.len > p->line_start &&
	    buf_head(&p->raw)[p->raw.len - 1] == '\r') {
		p->raw.len--;
		p->raw.data[p->raw.off + p->raw.len] = '\0';
	}
	r = parser_literal_marker(p, &size, &sync);
	if (r == 0)
		return parser_tokenize(p);
	if (r < 0 || size > p->max_literal ||
	    p->lit_total + size > p->max_literal)
		/* a LITERAL+ sender is already sending the bytes: stop here */
		return parser_fail(p, "literal too big", !sync);
	if (p->spool_begin && size >= p->spool_min && size > 0 && !p->spooled) {
		/* "{n}" becomes "{n~}": the tokenizer knows the bytes are gone */
		if (p->spool_begin(p->spool_arg, size) == -1)
			return parser_fail(p, "cannot store literal", !sync);
		p->raw.len--;
		if (buf_append(&p->raw, "~}", 2) == -1)
			return parser_fail(p, "out of memory", true);
		p->spooling = p->spooled = true;
	}
	if (buf_append(&p->raw, "\n", 1) == -1)
		return parser_fail(p, "out of memory", true);
	p->lit_total += size;
	p->lit_left = size;
	p->state = PS_LITERAL;
	p->want_cont = sync;
	if (size == 0) {
		if (buf_append(&p->raw, "", 1) == -1)
			return parser_fail(p, "out of memory", true);
		p->state = PS_LINE;
		p->line_start = p->raw.len;
	}
	return IMAP_PARSE_NEED_MORE;
}

enum imap_parse_res
imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
    size_t *used_r)
{
	size_t i = 0, n;
	const char *nl;

	p->error = NULL;
	p->fatal = false;
	if (p->state == PS_LINE && p->raw.len == 0)
		p->cmd.args = NULL;
	while (i < len) {
		switch (p->state) {
		case PS_LITERAL:
			n = len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			if (p->spooling) {
				if (!p->spool_failed && p->spool_write(p->spool_arg,
				    data + i, n) == -1)
					p->spool_failed = true;
			} else if (buf_append(&p->raw, data + i, n) == -1) {
				*used_r = i + n;
				return parser_fail(p, "out of memory", true);
			}
			i += n;
			p->lit_left -= n;
			if (p->lit_left == 0) {
				p->spooling = false;
				if (buf_append(&p->raw, "", 1) == -1) {
					*used_r = i;
					return parser_fail(p, "out of memory", true);
				}
				p->state = PS_LINE;
				p->line_start = p->raw.len;
			}
			break;
		case PS_SKIP:
			nl = memchr(data + i, '\n', len - i);
			if (nl == NULL) {
				i = len;
				break;
			}
			*used_r = (size_t)(nl - data) + 1;
			return parser_fail(p, "line too long", false);
		case PS_LINE:
			nl = memchr(data + i, '\n', len - i);
			n = nl ? (size_t)(nl - (data + i)) : len - i;
			if (p->line_bytes + n > p->max_line) {
				parser_keep_start(p, data + i, n);
				p->state = PS_SKIP;
				i += n;
				if (nl) {
					*used_r = i + 1;
					return parser_fail(p, "line too long", false);
				}
				break;
			}
			if (memchr(data + i, '\0', n) != NULL) {
				/* keep going to the end of the line, then refuse */
				parser_keep_start(p, data + i, n);
				p->state = PS_SKIP;
				i += n;
				if (nl) {
					*used_r = i + 1;
					return parser_fail(p, "NUL in command", false);
				}
				break;
			}
			if (buf_append(&p->raw, data + i, n) == -1) {
				*used_r = i + n;
				return parser_fail(p, "out of memory", true);
			}
			p->line_bytes += n;
			i += n;
			if (nl == NULL)
				break;
			i++;
			*used_r = i;
			{
				enum imap_parse_res r = parser_end_line(p);

				if (r != IMAP_PARSE_NEED_MORE || p->want_cont)
					return r;
			}
			break;
		}
	}
	*used_r = i;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- tokenizer: raw -> tree ---- */

static struct imap_arg *
tok_node(struct imap_parser *p, enum imap_arg_type t)
{
	struct imap_arg *a;

	if (p->nnodes >= p->nodes_cap) {
		p->error = "too many arguments";
		return NULL;
	}
	a = &p->nodes[p->nnodes++];
	memset(a, 0, sizeof(*a));
	a->type = t;
	return a;
}

static char *
tok_str(struct imap_parser *p, const char *s, size_t n)
{
	char *d;

	if (p->strs_len + n + 1 > p->strs_cap)
		return NULL;	/* cannot happen: sized from raw */
	d = p->strs + p->strs_len;
	memcpy(d, s, n);
	d[n] = '\0';
	p->strs_len += n + 1;
	return d;
}

static bool
is_atom_char(unsigned char c, bool in_section)
{
	if (c <= 0x20 || c >= 0x7f || (in_section && c == ']'))
		return false;
	return strchr("(){\"", c) == NULL;
}

/*
 * section_kw - does "[" after these n bytes open a section?  Only after
 * the FETCH items that take one (BODY[...], BINARY[...], RFC 3516);
 * elsewhere '[' is an atom character (RFC 3501 9: not an atom-special),
 * as in a mailbox name.
 */
static bool
section_kw(const char *s, size_t n)
{
	static const char *kw[] = { "BODY", "BODY.PEEK", "BINARY",
		"BINARY.PEEK", "BINARY.SIZE" };
	size_t i;

	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (strlen(kw[i]) == n && strncasecmp(s, kw[i], n) == 0)
			return true;
	return false;
}

static struct imap_arg *tok_list(struct imap_parser *p, char close,
    unsigned depth);

static struct imap_arg *
tok_quoted(struct imap_parser *p)
{
	struct imap_arg *a;
	char *d;
	const char *s = p->tp + 1;

	if ((a = tok_node(p, IMAP_ARG_STRING)) == NULL)
		return NULL;
	d = p->strs + p->strs_len;
	a->s = d;
	for (;;) {
		if (s >= p->tend || *s == '\n') {
			p->error = "unterminated quoted string";
			return NULL;
		}
		if (*s == '"')
			break;
		if (*s == '\0') {
			p->error = "NUL in quoted string";
			return NULL;
		}
		if (*s == '\\') {
			s++;
			if (s >= p->tend || (*s != '\\' && *s != '"')) {
				p->error = "bad escape in quoted string";
				return NULL;
			}
		}
		*d++ = *s++;
	}
	*d++ = '\0';
	a->len = (size_t)(d - a->s) - 1;
	p->strs_len += a->len + 1;
	p->tp = s + 1;
	return a;
}

static struct imap_arg *
tok_literal(struct imap_parser *p)
{
	struct imap_arg *a;
	const char *s = p->tp + 1;
	uint64_t v = 0;

	while (s < p->tend && isdigit((unsigned char)*s))
		v = v * 10 + (uint64_t)(*s++ - '0');	/* checked when collected */
	if (s < p->tend && *s == '+')
		s++;
	if (s < p->tend && *s == '~') {		/* spooled: only the NUL is here */
		s++;
		if (s + 2 >= p->tend || s[0] != '}' || s[1] != '\n') {
			p->error = "bad literal";
			return NULL;
		}
		if ((a = tok_node(p, IMAP_ARG_LITERAL)) == NULL)
			return NULL;
		a->s = (char *)(s + 2);
		a->len = (size_t)v;
		a->spooled = true;
		p->tp = s + 3;
		return a;
	}
	if (s + 1 >= p->tend || s[0] != '}' || s[1] != '\n' ||
	    (uint64_t)(p->tend - (s + 2)) < v + 1) {
		p->error = "bad literal";
		return NULL;
	}
	if ((a = tok_node(p, IMAP_ARG_LITERAL)) == NULL)
		return NULL;
	a->s = (char *)(s + 2);
	a->len = (size_t)v;
	p->tp = s + 2 + v + 1;		/* the added NUL */
	return a;
}

static struct imap_arg *
tok_atom(struct imap_parser *p, unsigned depth)
{
	struct imap_arg *a;
	const char *s = p->tp, *start = p->tp, *pe;

	while (s < p->tend && is_atom_char((unsigned char)*s, p->in_section > 0) &&
	    !(*s == '[' && section_kw(start, (size_t)(s - start))))
		s++;
	if (s == start) {
		p->error = "unexpected character";
		return NULL;
	}
	if ((a = tok_node(p, IMAP_ARG_ATOM)) == NULL)
		return NULL;
	a->s = tok_str(p, start, (size_t)(s - start));
	a->len = (size_t)(s - start);
	p->tp = s;
	if (s < p->tend && *s == '[') {
		if (depth + 1 > p->max_depth) {
			p->error = "too deeply nested";
			return NULL;
		}
		a->section = true;
		p->tp = s + 1;
		p->in_section++;
		a->child = tok_list(p, ']', depth + 1);
		p->in_section--;
		if (p->error)
			return NULL;
		s = p->tp;
		if (s < p->tend && *s == '<') {
			pe = s + 1;
			while (pe < p->tend && (isdigit((unsigned char)*pe) ||
			    *pe == '.'))
				pe++;
			if (pe >= p->tend || *pe != '>') {
				p->error = "bad partial";
				return NULL;
			}
			a->partial = tok_str(p, s + 1, (size_t)(pe - s - 1));
			p->tp = pe + 1;
		}
	}
	return a;
}

static struct imap_arg *tok_any(struct imap_parser *p, unsigned depth);

/*
 * tok_list - elements up to `close` (')' or ']', or '\0' for the top
 * level); returns the first element (NULL for an empty list, p->error
 * tells failure apart).  The caller's node gets it as child.
 */
static struct imap_arg *
tok_list(struct imap_parser *p, char close, unsigned depth)
{
	struct imap_arg *first = NULL, *last = NULL, *a;

	for (;;) {
		while (p->tp < p->tend && *p->tp == ' ')
			p->tp++;
		if (p->tp >= p->tend) {
			if (close != '\0')
				p->error = "unterminated list";
			return first;
		}
		if (close != '\0' && *p->tp == close) {
			p->tp++;
			return first;
		}
		if ((a = tok_any(p, depth)) == NULL)
			return NULL;
		if (last)
			last->next = a;
		else
			first = a;
		last = a;
		/* a token ends at a space, a closing bracket or the end */
		if (p->tp < p->tend && *p->tp != ' ' && *p->tp != ')' &&
		    *p->tp != ']') {
			p->error = "missing space";
			return NULL;
		}
	}
}

static struct imap_arg *
tok_any(struct imap_parser *p, unsigned depth)
{
	struct imap_arg *a;

	switch (*p->tp) {
	case '"':
		return tok_quoted(p);
	case '{':
		return tok_literal(p);
	case '~':
		/* literal8 (RFC 3516 7): the bytes may hold NUL */
		if (p->tp + 1 < p->tend && p->tp[1] == '{') {
			p->tp++;
			if ((a = tok_literal(p)) != NULL)
				a->literal8 = true;
			return a;
		}
		return tok_atom(p, depth);
	case '(':
		if (depth + 1 > p->max_depth) {
			p->error = "too deeply nested";
			return NULL;
		}
		if ((a = tok_node(p, IMAP_ARG_LIST)) == NULL)
			return NULL;
		p->tp++;
		a->child = tok_list(p, ')', depth + 1);
		if (p->error)
			return NULL;
		return a;
	case ')':
	case ']':
		p->error = "unexpected close bracket";
		return NULL;
	case '\n':
		p->error = "unexpected line break";
		return NULL;
	default:
		return tok_atom(p, depth);
	}
}

static enum imap_parse_res
parser_tokenize(struct imap_parser *p)
{
	const char *s = buf_head(&p->raw), *e;
	size_t n = p->raw.len, need;
	unsigned want;

	parser_grab_tag(p);
	/* every node takes at least one byte of raw: n + 1 is enough */
	want = n + 1 < p->max_args ? (unsigned)n + 1 : p->max_args;
	if (want > p->nodes_cap || p->nodes_cap > 4 * want + 256) {
		free(p->nodes);
		p->nodes = xreallocarray(NULL, want, sizeof(*p->nodes));
		p->nodes_cap = want;
	}
	need = n + 2;
	if (need > p->strs_cap) {
		strs_free(p);
		p->strs = xmalloc(need);
		p->strs_cap = need;
	} else if (p->secret && p->strs != NULL)
		explicit_bzero(p->strs, p->strs_len);
	p->strs_len = 0;
	p->nnodes = 0;
	p->in_section = 0;
	p->error = NULL;
	memset(&p->cmd, 0, sizeof(p->cmd));
	if (p->tag[0] == '\0')
		return parser_fail(p, n == 0 ? "empty command" : "bad tag", false);
	p->cmd.tag = tok_str(p, p->tag, strlen(p->tag));
	s += strlen(p->tag) + 1;
	if (s > buf_head(&p->raw) + n)
		return parser_fail(p, "missing command", false);
	e = s;
	while (e < buf_head(&p->raw) + n && isalnum((unsigned char)*e))
		e++;
	if (e == s || (e < buf_head(&p->raw) + n && *e != ' '))
		return parser_fail(p, "bad command name", false);
	p->cmd.name = tok_str(p, s, (size_t)(e - s));
	p->tp = e;
	p->tend = buf_head(&p->raw) + n;
	if (p->tp < p->tend)
		p->tp++;
	p->cmd.args = tok_list(p, '\0', 0);
	if (p->spool_failed && p->error == NULL)
		p->error = "cannot store literal";
	if (p->error) {
		const char *err = p->error;

		return parser_fail(p, err, false);
	}
	parser_reset(p);
	return IMAP_PARSE_DONE;
}

/* ---- helpers on arguments ---- */

bool
imap_arg_is(const struct imap_arg *a, const char *atom)
{
	return a != NULL && a->type == IMAP_ARG_ATOM && !a->section &&
	    strcasecmp(a->s, atom) == 0;
}

bool
imap_arg_astring(const struct imap_arg *a)
{
	return a != NULL && !a->spooled && (a->type == IMAP_ARG_STRING ||
	    a->type == IMAP_ARG_LITERAL ||
	    (a->type == IMAP_ARG_ATOM && !a->section));
}

size_t
imap_arg_count(const struct imap_arg *a)
{
	size_t n = 0;

	for (; a; a = a->next)
		n++;
	return n;
}

/* ---- sequence sets (RFC 3501 9 sequence-set) ---- */

static bool
seq_number(const char **sp, uint32_t *v_r)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s == '*') {
		*v_r = 0;
		*sp = s + 1;
		return true;
	}
	if (!isdigit((unsigned char)*s) || *s == '0')
		return false;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*v_r = (uint32_t)v;
	*sp = s;
	return true;
}

bool
imap_partial_parse(const char *s, uint32_t *lo_r, uint32_t *hi_r)
{
	uint32_t t;

	if (*s == '*' || !seq_number(&s, lo_r) || *s++ != ':' || *s == '*' ||
	    !seq_number(&s, hi_r) || *s != '\0')
		return false;
	if (*lo_r > *hi_r) {
		t = *lo_r;
		*lo_r = *hi_r;
		*hi_r = t;
	}
	return true;
}

bool
imap_seqset_parse(const char *s, struct imap_seqset *set)
{
	size_t cap = 1;
	const char *c;
	struct imap_range r;

	set->v = NULL;
	set->n = 0;
	set->sorted = false;
	for (c = s; *c; c++)
		if (*c == ',')
			cap++;
	if (cap > 1000000)
		return false;
	set->v = xreallocarray(NULL, cap, sizeof(*set->v));
	for (;;) {
		if (!seq_number(&s, &r.lo))
			goto fail;
		r.hi = r.lo;
		if (*s == ':') {
			s++;
			if (!seq_number(&s, &r.hi))
				goto fail;
		}
		set->v[set->n++] = r;
		if (*s == '\0')
			return true;
		if (*s != ',')
			goto fail;
		s++;
	}
fail:
	imap_seqset_free(set);
	return false;
}

bool
imap_seqset_has(const struct imap_seqset *set, uint32_t n, uint32_t star)
{
	size_t i, b, e, mid;
	uint32_t lo, hi, t;

	if (set->sorted) {	/* ascending, disjoint, no "*" */
		for (b = 0, e = set->n; b < e;) {
			mid = b + (e - b) / 2;
			if (n < set->v[mid].lo)
				e = mid;
			else if (n > set->v[mid].hi)
				b = mid + 1;
			else
				return true;
		}
		return false;
	}
	for (i = 0; i < set->n; i++) {
		lo = set->v[i].lo ? set->v[i].lo : star;
		hi = set->v[i].hi ? set->v[i].hi : star;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

/* ---- FETCH attributes ---- */

static bool
section_part_numbers(const char **sp, struct imap_section *s)
{
	const char *c = *sp;
	uint64_t v;

	while (isdigit((unsigned char)*c)) {
		v = 0;
		while (isdigit((unsigned char)*c)) {
			v = v * 10 + (uint64_t)(*c++ - '0');
			if (v > UINT32_MAX)
				return false;
		}
		if (v == 0 || s->npart >= IMAP_SEC_MAXPART)
			return false;
		s->part[s->npart++] = (uint32_t)v;
		if (*c == '.')
			c++;
		else if (*c != '\0')
			return false;
	}
	*sp = c;
	return true;
}

bool
imap_section_parse(const struct imap_arg *a, struct imap_section *s)
{
	const char *c, *t;
	const struct imap_arg *f;

	s->npart = 0;
	s->nfields = 0;
	s->kind = IMAP_SEC_ALL;
	if (a == NULL)
		return true;
	if (a->type != IMAP_ARG_ATOM || a->section)
		return false;
	c = a->s;
	if (!section_part_numbers(&c, s))
		return false;
	t = c;
	if (*t == '\0')
		return a->next == NULL;
	if (strcasecmp(t, "HEADER") == 0)
		s->kind = IMAP_SEC_HEADER;
	else if (strcasecmp(t, "TEXT") == 0)
		s->kind = IMAP_SEC_TEXT;
	else if (strcasecmp(t, "MIME") == 0 && s->npart > 0)
		s->kind = IMAP_SEC_MIME;
	else if (strcasecmp(t, "HEADER.FIELDS") == 0)
		s->kind = IMAP_SEC_HEADER_FIELDS;
	else if (strcasecmp(t, "HEADER.FIELDS.NOT") == 0)
		s->kind = IMAP_SEC_HEADER_FIELDS_NOT;
	else
		return false;
	if (s->kind != IMAP_SEC_HEADER_FIELDS &&
	    s->kind != IMAP_SEC_HEADER_FIELDS_NOT)
		return a->next == NULL;
	a = a->next;
	if (a == NULL || a->type != IMAP_ARG_LIST || a->child == NULL ||
	    a->next != NULL)
		return false;
	for (f = a->child; f; f = f->next) {
		if (!imap_arg_astring(f) || s->nfields >= IMAP_SEC_MAXFIELDS ||
		    f->len == 0 || memchr(f->s, '\0', f->len) ||
		    memchr(f->s, ':', f->len))
			return false;
		s->fields[s->nfields++] = f->s;
	}
	return true;
}

static bool
fetch_partial(const char *txt, struct imap_section *s)
{
	const char *c = txt;
	uint64_t v[2] = { 0, 0 };
	int i;

	for (i = 0; i < 2; i++) {
		if (!isdigit((unsigned char)*c))
			return false;
		while (isdigit((unsigned char)*c)) {
			v[i] = v[i] * 10 + (uint64_t)(*c++ - '0');
			if (v[i] > UINT32_MAX)
				return false;
		}
		if (i == 0 && *c++ != '.')
			return false;
	}
	if (*c != '\0' || v[1] == 0)
		return false;
	s->partial = true;
	s->off = (uint32_t)v[0];
	s->cnt = (uint32_t)v[1];
	return true;
}

/* fetch_section_name - the reply's item name, e.g. BODY[1.HEADER.FIELDS (A B)]<0> */
static bool
fetch_section_name(struct imap_section *s, const char *kw)
{
	char *o = s->name;
	size_t left = sizeof(s->name);
	static const char *kinds[] = { "", "HEADER", "HEADER.FIELDS",
	    "HEADER.FIELDS.NOT", "TEXT", "MIME" };
	unsigned i;

#define ADD(...) do { if (!bsnprintf(o, left, __VA_ARGS__)) return false; \
	left -= strlen(o); o += strlen(o); } while (0)
	ADD("%s[", kw);
	for (i = 0; i < s->npart; i++)
		ADD("%s%u", i ? "." : "", s->part[i]);
	if (s->kind != IMAP_SEC_ALL)
		ADD("%s%s", s->npart ? "." : "", kinds[s->kind]);
	if (s->nfields) {
		ADD(" (");
		for (i = 0; i < s->nfields; i++)
			ADD("%s\"%s\"", i ? " " : "", s->fields[i]);
		ADD(")");
	}
	ADD("]");
	if (s->partial)
		ADD("<%u>", s->off);
#undef ADD
	return true;
}

static bool
fetch_one(const struct imap_arg *a, struct imap_fetch *f, const char **err_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} simple[] = {
		{ "UID", IMAP_F_UID }, { "FLAGS", IMAP_F_FLAGS },
		{ "INTERNALDATE", IMAP_F_INTERNALDATE },
		{ "RFC822.SIZE", IMAP_F_SIZE }, { "ENVELOPE", IMAP_F_ENVELOPE },
		{ "BODYSTRUCTURE", IMAP_F_BODYSTRUCTURE },
		{ "RFC822", IMAP_F_RFC822 },
		{ "RFC822.HEADER", IMAP_F_RFC822_HEADER },
		{ "RFC822.TEXT", IMAP_F_RFC822_TEXT },
		{ "MODSEQ", IMAP_F_MODSEQ },
	};
	struct imap_section *s;
	size_t i;

	if (a->type != IMAP_ARG_ATOM) {
		*err_r = "bad fetch attribute";
		return false;
	}
	if (!a->section) {
		if (strcasecmp(a->s, "BODY") == 0) {
			f->items |= IMAP_F_BODY;
			return true;
		}
		for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
			if (strcasecmp(a->s, simple[i].name) == 0) {
				f->items |= simple[i].bit;
				return true;
			}
		}
		*err_r = "unknown fetch attribute";
		return false;
	}
	if (f->nsec >= IMAP_FETCH_MAXSEC) {
		*err_r = "too many sections";
		return false;
	}
	s = &f->sec[f->nsec];
	memset(s, 0, sizeof(*s));
	if (strcasecmp(a->s, "BODY.PEEK") == 0)
		s->peek = true;
	else if (strcasecmp(a->s, "BINARY") == 0)
		s->binary = IMAP_BIN_CONTENT;
	else if (strcasecmp(a->s, "BINARY.PEEK") == 0) {
		s->binary = IMAP_BIN_CONTENT;
		s->peek = true;
	} else if (strcasecmp(a->s, "BINARY.SIZE") == 0) {
		s->binary = IMAP_BIN_SIZE;
		s->peek = true;		/* RFC 3516 4.3: \Seen is not set */
	} else if (strcasecmp(a->s, "BODY") != 0) {
		*err_r = "unknown fetch attribute";
		return false;
	}
	/* section-binary = "[" [section-part] "]" (RFC 3516 7) */
	if (!imap_section_parse(a->child, s) ||
	    (s->binary && s->kind != IMAP_SEC_ALL)) {
		*err_r = "bad section";
		return false;
	}
	if (a->partial && (s->binary == IMAP_BIN_SIZE ||
	    !fetch_partial(a->partial, s))) {
		*err_r = "bad partial";
		return false;
	}
	if (!fetch_section_name(s, s->binary == IMAP_BIN_SIZE ? "BINARY.SIZE" :
	    s->binary ? "BINARY" : "BODY")) {
		*err_r = "section too long";
		return false;
	}
	f->nsec++;
	return true;
}

bool
imap_fetch_parse(const struct imap_arg *a, struct imap_fetch *f,
    const char **err_r)
{
	memset(f, 0, sizeof(*f));
	*err_r = "bad fetch attributes";
	if (a == NULL || a->next != NULL)
		return false;
	if (a->type == IMAP_ARG_ATOM && !a->section) {
		if (strcasecmp(a->s, "ALL") == 0) {
			f->items = IMAP_F_FLAGS | IMAP_F_INTERNALDATE |
			    IMAP_F_SIZE | IMAP_F_ENVELOPE;
			return true;
		}
		if (strcasecmp(a->s, "FAST") == 0) {
			f->items = IMAP_F_FLAGS | IMAP_F_INTERNALDATE |
			    IMAP_F_SIZE;
			return true;
		}
		if (strcasecmp(a->s, "FULL") == 0) {
			f->items = IMAP_F_FLAGS | IMAP_F_INTERNALDATE |
			    IMAP_F_SIZE | IMAP_F_ENVELOPE | IMAP_F_BODY;
			return true;
		}
	}
	if (a->type != IMAP_ARG_LIST)
		return fetch_one(a, f, err_r);
	if (a->child == NULL)
		return false;
	for (a = a->child; a; a = a->next)
		if (!fetch_one(a, f, err_r))
			return false;
	return true;
}
