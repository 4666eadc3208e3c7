/* SPDX-License-Identifier: ISC */
/*
 * store_test.c - the Maildir++ store: folder paths, first-login
 * folders, UID numbering and persistence, flags and keywords in file
 * names, \Recent, a lost or corrupt UID list, delivery in CRLF/LF form,
 * copy (link) and move (rename), expunge, RENAME INBOX, subscriptions.
 * Runs in a temporary directory; inotify is not started (polling mode).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "buf.h"
#include "store/store.h"

static char root[256];

static void
put_new(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/new/%s", root, name);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

/* exists - is ROOT/rel there? */
static bool
exists(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return stat(p, &st) == 0;
}

static void
test_paths(void)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{ "INBOX", true }, { "inbox", true }, { "Sent", true },
		{ "a.b", true }, { "caf\xc3\xa9", true }, { "../x", false },
		{ ".x", false }, { "x.", false }, { "a..b", false },
		{ "a/b", false }, { "", false }, { "a\nb", false },
		{ "INBOX.x", false },
	};
	char out[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(store_folder_path("/m", cases[i].name, out, sizeof(out)) ==
		    cases[i].ok);
	CHECK(store_folder_path("/m", "INBOX", out, sizeof(out)) &&
	    strcmp(out, "/m") == 0);
	CHECK(store_folder_path("/m", "a.b", out, sizeof(out)) &&
	    strcmp(out, "/m/.a.b") == 0);
	CHECK(store_special_use("Trash") && strcmp(store_special_use("Trash"),
	    "\\Trash") == 0);
	CHECK(store_special_use("Projects") == NULL);
}

static void
test_uids(void)
{
	struct store_folder *f;
	uint32_t uv, uv2, uid;
	char p[512], q[512], *data;
	const char *cdata;
	size_t len;
	struct stat st;
	FILE *fp;

	CHECK(store_user_init(root) == 0);
	CHECK(exists(".Sent/cur") && exists(".Archive/tmp"));
	CHECK(store_subscribed(root, "Junk"));
	put_new("1000.A.host", "Subject: a\n\nA\n");
	put_new("1001.B.host", "Subject: b\n\nB\n");
	put_new("1002.C.host", "Subject: c\n\nC\n");
	f = store_folder_open(root);
	CHECK(f != NULL && f->n == 3);
	if (f == NULL)
		return;
	CHECK(f->v[0].uid == 1 && f->v[2].uid == 3 && f->uidnext == 4);
	/* moved from new/: recent; the size is learnt when first asked */
	CHECK((f->v[0].flags & MF_RECENT) && (f->v[0].flags & MF_NOSIZE));
	CHECK(store_msg_size(f, 0, NULL, 0) == 17);	/* "Subject: a\r\n\r\nA\r\n" */
	CHECK(!(f->v[0].flags & MF_NOSIZE) && f->list_dirty);
	CHECK(exists("cur/1000.A.host:2,"));
	uv = f->uidvalidity;
	CHECK(store_set_flags(f, 1, MF_SEEN | MF_FLAGGED, 0, 7) == 0);
	CHECK(exists("cur/1001.B.host:2,FS"));
	CHECK((f->v[1].flags & MF_IMAP) == (MF_SEEN | MF_FLAGGED) &&
	    f->v[1].changer == 7);
	store_folder_close(&f);
	CHECK(f == NULL);

	/* another program changes flags and deletes one; a delivery comes */
	snprintf(p, sizeof(p), "%s/cur/1000.A.host:2,", root);
	snprintf(q, sizeof(q), "%s/cur/1000.A.host:2,RS", root);
	CHECK(rename(p, q) == 0);
	snprintf(p, sizeof(p), "%s/cur/1002.C.host:2,", root);
	unlink(p);
	put_new("1003.D.host", "Subject: d\r\n\r\nD\r\n");
	f = store_folder_open(root);
	CHECK(f && f->n == 3 && f->uidvalidity == uv);
	if (f == NULL)
		return;
	CHECK(f->v[0].uid == 1 &&
	    (f->v[0].flags & MF_IMAP) == (MF_ANSWERED | MF_SEEN));
	CHECK(f->v[1].uid == 2 && f->v[2].uid == 4);
	CHECK(store_find(f, 4) == 2 && store_find(f, 3) == -1);
	CHECK(f->v[0].size == 17 && !(f->v[0].flags & MF_NOSIZE));	/* kept */
	CHECK(store_msg_size(f, 2, NULL, 0) == 17);	/* already CRLF */
	CHECK(store_expunge(f, 0) == 0 && f->n == 2);
	store_folder_close(&f);

	/* delivery: CRLF in, LF on disk, W= is the CRLF size */
	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(store_deliver(f, "Subject: e\r\n\r\nE\r\n", 17, MF_DRAFT, 0,
	    1600000000, &uid) == 0);
	uv2 = f->uidvalidity;
	store_folder_close(&f);
	CHECK(uv2 == uv && uid == 5);
	f = store_folder_open(root);
	CHECK(f && f->n == 3);
	if (f == NULL)
		return;
	CHECK(f->v[2].uid == 5 && f->v[2].size == 17 &&
	    (f->v[2].flags & MF_FILE) == MF_DRAFT);
	CHECK(strstr(f->v[2].name, ",W=17:2,D") != NULL);
	cdata = store_map(f, 2, &len);
	CHECK(cdata && len == 14 && memcmp(cdata, "Subject: e\n\nE\n", 14) == 0);
	store_unmap(cdata, len);
	data = store_read_header(f, 2, &len);
	CHECK(data && len == 14 && strncmp(data, "Subject: e\n\n", 12) == 0);
	free(data);
	CHECK(store_msg_path(f, 2, p, sizeof(p)) && stat(p, &st) == 0 &&
	    st.st_mtime == 1600000000);
	store_folder_close(&f);

	/* a corrupt UID list: new, larger UIDVALIDITY, renumbered */
	snprintf(p, sizeof(p), "%s/%s", root, STORE_UIDLIST);
	fp = fopen(p, "r+");
	fseek(fp, 30, SEEK_SET);
	fputs("\ngarbage line\n", fp);
	fclose(fp);
	store_forget(root, false);	/* no cached index */
	f = store_folder_open(root);
	CHECK(f && f->n == 3 && f->uidvalidity > uv && f->v[0].uid == 1 &&
	    f->v[2].uid == 3);
	uv = f ? f->uidvalidity : 0;
	store_folder_close(&f);
	/* lost at once again (same second): still a new, larger one */
	CHECK(unlink(p) == 0);
	store_forget(root, false);
	f = store_folder_open(root);
	CHECK(f && f->uidvalidity > uv);
	store_folder_close(&f);
}

/* only the header of a big message is read for header-only needs */
static void
test_read_header(void)
{
	size_t big = 4 << 20, len;
	char *msg = malloc(big), *data;
	uint32_t uid;
	struct store_folder *f;

	memcpy(msg, "Subject: big\n\n", 14);
	memset(msg + 14, 'x', big - 14);
	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(store_deliver(f, msg, big, 0, 0, 1600000000, &uid) == 0);
	free(msg);
	data = store_read_header(f, f->n - 1, &len);
	CHECK(data && len < 100000 && strncmp(data, "Subject: big\n\n", 14) == 0);
	CHECK(f->v[f->n - 1].size == big + 2);
	free(data);
	store_folder_close(&f);
}

/* a spooled APPEND: CRLF split across writes, a lone CR kept */
static void
test_spool(void)
{
	struct store_spool sp;
	struct store_folder *f;
	uint32_t uid;
	char *data;
	size_t len;

	CHECK(store_spool_open(&sp, root, 42) == 0);
	CHECK(store_spool_write(&sp, "S: x\r", 5) == 0);
	CHECK(store_spool_write(&sp, "\n\r\nb\r", 5) == 0);
	CHECK(store_spool_write(&sp, "c\nd\r", 4) == 0);
	CHECK(sp.size == 14);
	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(store_spool_deliver(&sp, f, MF_SEEN, 0, 1600000000, &uid) == 0);
	CHECK(sp.fd == -1);
	data = (char *)store_map(f, f->n - 1, &len);
	/* "S: x\n\nb\rc\nd\r": CRLF became LF, the lone CRs stay */
	CHECK(data && len == 12 && memcmp(data, "S: x\n\nb\rc\nd\r", 12) == 0);
	CHECK(f->v[f->n - 1].uid == uid && f->v[f->n - 1].size == 15);
	store_unmap(data, len);
	store_folder_close(&f);
	CHECK(store_spool_open(&sp, root, 43) == 0);
	store_spool_discard(&sp);
	CHECK(access(sp.path, F_OK) == -1);
}


/* keywords: letters a-z in the name, names in facteur-keywords */
static void
test_keywords(void)
{
	struct store_folder *f;
	uint32_t a, b, uid;
	struct buf out;
	char p[512];
	size_t i;

	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(store_kw_valid("$Forwarded") && store_kw_valid("Junk"));
	CHECK(!store_kw_valid("\\Seen") && !store_kw_valid("a b") &&
	    !store_kw_valid("") && !store_kw_valid("x(y"));
	CHECK(store_kw_bit(f, "$Forwarded", false) == 0);
	a = store_kw_bit(f, "$Forwarded", true);
	b = store_kw_bit(f, "Junk", true);
	CHECK(a == 1 && b == 2 && store_kw_bit(f, "junk", false) == 2);
	CHECK(exists(STORE_KEYWORDS));
	CHECK(store_set_flags(f, 0, MF_SEEN, a | b, 0) == 0);
	CHECK(strstr(f->v[0].name, ":2,Sab") != NULL);
	buf_init(&out, 0);
	store_flags_put(f, MF_SEEN | MF_RECENT, a | b, &out);
	CHECK(strcmp(buf_head(&out), "\\Seen \\Recent $Forwarded Junk") == 0);
	buf_free(&out);
	/* APPEND with a keyword, kept across a reopen */
	CHECK(store_deliver(f, "S: k\n\nk\n", 8, 0, b, 1600000000, &uid) == 0);
	CHECK(strstr(f->v[f->n - 1].name, ":2,b") != NULL);
	store_folder_close(&f);
	store_forget(root, false);
	f = store_folder_open(root);
	CHECK(f && f->kw[0] && strcmp(f->kw[0], "$Forwarded") == 0 &&
	    f->v[0].kw == (a | b) && f->v[f->n - 1].kw == b);
	if (f == NULL)
		return;
	/* 26 at most */
	for (i = 2; i < STORE_MAX_KW; i++) {
		snprintf(p, sizeof(p), "kw%zu", i);
		CHECK(store_kw_bit(f, p, true) == 1u << i);
	}
	CHECK(store_kw_full(f) && store_kw_bit(f, "one-more", true) == 0);
	store_folder_close(&f);
}

/* \Recent: only what came through new/, appends and copies */
static void
test_recent_copy_move(void)
{
	struct store_folder *f, *t;
	uint32_t uid, uid2, kw;
	struct stat st1, st2;
	char p1[512], p2[512];
	size_t n;

	CHECK(store_create(root, "Box") == 0);
	snprintf(p1, sizeof(p1), "%s/.Box", root);
	put_new("2000.R.host", "Subject: r\n\nR\n");
	f = store_folder_open(root);
	t = store_folder_open(p1);
	CHECK(f && t);
	if (f == NULL || t == NULL)
		return;
	CHECK(f->v[f->n - 1].flags & MF_RECENT);
	CHECK(!(f->v[0].flags & MF_RECENT));	/* numbered from cur/ before */
	/* COPY: a hard link, flags, keywords by name, date kept */
	kw = store_kw_map(f, f->v[0].kw, t);
	CHECK(kw != 0 && t->kw[0] && strcmp(t->kw[0], "$Forwarded") == 0);
	CHECK(store_copy(f, 0, t, kw, &uid) == 0 && uid == 1 && t->n == 1);
	CHECK(store_msg_path(f, 0, p1, sizeof(p1)) &&
	    store_msg_path(t, 0, p2, sizeof(p2)) && stat(p1, &st1) == 0 &&
	    stat(p2, &st2) == 0 && st1.st_ino == st2.st_ino);
	CHECK((t->v[0].flags & MF_RECENT) && (t->v[0].flags & MF_SEEN) &&
	    t->v[0].itime == f->v[0].itime && t->v[0].size == f->v[0].size);
	/* MOVE: a rename; the message leaves f */
	n = f->n;
	uid = f->v[n - 1].uid;
	CHECK(store_move(f, n - 1, t, 0, &uid2) == 0 && uid2 == 2);
	CHECK(f->n == n - 1 && store_find(f, uid) == -1 && t->n == 2);
	CHECK(store_msg_path(t, 1, p2, sizeof(p2)) && access(p2, F_OK) == 0);
	store_folder_close(&t);
	store_folder_close(&f);
}

/* the UID list grows by appending; a torn tail is rewritten */
static void
test_uidlist_append(void)
{
	struct store_folder *f;
	char p[512], line[256];
	uint32_t uid;
	FILE *fp;
	int lines = 0;

	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(store_deliver(f, "S: 1\n\n1\n", 8, 0, 0, 1600000000, &uid) == 0);
	snprintf(p, sizeof(p), "%s/%s", root, STORE_UIDLIST);
	fp = fopen(p, "r");
	while (fp && fgets(line, sizeof(line), fp))
		lines++;
	if (fp)
		fclose(fp);
	CHECK(lines == (int)f->n + 1);
	store_folder_close(&f);
	/* a crash in the middle of an append */
	fp = fopen(p, "a");
	fputs("999999 12 16000", fp);
	fclose(fp);
	store_forget(root, false);
	f = store_folder_open(root);
	CHECK(f && f->v[f->n - 1].uid == uid && !f->list_dirty);
	if (f == NULL)
		return;
	CHECK(store_deliver(f, "S: 2\n\n2\n", 8, 0, 0, 1600000000, &uid) == 0);
	store_folder_close(&f);
	store_forget(root, false);
	f = store_folder_open(root);
	CHECK(f && f->v[f->n - 1].uid == uid && f->uidnext == uid + 1);
	store_folder_close(&f);
}

/* reopen - forget the folder's index and open it again */
static struct store_folder *
reopen(struct store_folder **fp)
{
	store_folder_close(fp);
	store_forget(root, false);
	return store_folder_open(root);
}

/* modseqs: bumped by changes, kept across a reopen with the tombstones,
 * a change made in the file names while closed gets a new one, a torn
 * record is cut, a lost file moves every modseq above the old ones */
static void
test_modseq(void)
{
	struct store_folder *f;
	char p[512], q[512], *c;
	uint64_t h, m1;
	uint32_t uid, u0;
	FILE *fp;

	f = store_folder_open(root);
	CHECK(f != NULL && f->n >= 2);
	if (f == NULL || f->n < 2)
		return;
	h = f->modseq;
	CHECK(store_deliver(f, "S: m\n\nm\n", 8, 0, 0, 1600000000, &uid) == 0);
	CHECK(f->v[f->n - 1].modseq == h + 1 && f->modseq == h + 1);
	CHECK(store_set_flags(f, 0, MF_ANSWERED, 0, 1) == 0);
	m1 = f->v[0].modseq;
	CHECK(m1 == h + 2);
	u0 = f->v[1].uid;
	CHECK(store_expunge(f, 1) == 0 && f->modseq == h + 3);
	CHECK(store_tomb_find(f, u0) && store_tomb_find(f, u0)->modseq == h + 3);
	CHECK(store_vanished_known(f, h));
	f = reopen(&f);
	CHECK(f && f->modseq == h + 3 && f->v[0].modseq == m1);
	if (f == NULL)
		return;
	CHECK(store_tomb_find(f, u0) && store_tomb_find(f, u0)->modseq == h + 3);
	/* another Maildir program flags message 0 while nobody watches */
	store_folder_close(&f);
	store_forget(root, false);
	f = store_folder_open(root);
	if (f == NULL)
		return;
	CHECK(store_msg_path(f, 0, p, sizeof(p)));
	snprintf(q, sizeof(q), "%s", p);
	if ((c = strstr(q, ":2,")) != NULL)
		snprintf(c, sizeof(q) - (size_t)(c - q), ":2,FR");
	store_folder_close(&f);
	store_forget(root, false);
	CHECK(rename(p, q) == 0);
	f = store_folder_open(root);
	CHECK(f && f->v[0].modseq == h + 4 && f->modseq == h + 4 &&
	    (f->v[0].flags & MF_FLAGGED));
	if (f == NULL)
		return;
	/* a torn record at the end (a crash while appending) */
	snprintf(p, sizeof(p), "%s/%s", root, STORE_MODSEQ);
	store_folder_close(&f);
	fp = fopen(p, "a");
	fputs("12 99999", fp);
	fclose(fp);
	store_forget(root, false);
	f = store_folder_open(root);
	CHECK(f && f->modseq == h + 4);
	if (f == NULL)
		return;
	/* lost: every modseq above the old ones, UIDVALIDITY kept */
	u0 = f->uidvalidity;
	store_folder_close(&f);
	CHECK(unlink(p) == 0);
	store_forget(root, false);
	f = store_folder_open(root);
	CHECK(f && f->uidvalidity == u0 && f->v[0].modseq > h + 4 &&
	    f->modseq_base >= (1ULL << 32) && !store_vanished_known(f, h + 4));
	if (f == NULL)
		return;
	h = f->modseq;
	f = reopen(&f);
	CHECK(f && f->modseq == h && f->modseq_base >= (1ULL << 32));
	store_folder_close(&f);
}

/* the header cache: filled on first read, reused, survives a reopen,
 * a torn tail is cut, a cache of another UIDVALIDITY is dropped */
static void
test_header_cache(void)
{
	struct store_folder *f;
	const char *h, *h2;
	char *own, p[512];
	size_t len, len2, k;
	FILE *fp;

	f = store_folder_open(root);
	CHECK(f != NULL && f->n > 2);
	if (f == NULL)
		return;
	h = store_header(f, 0, &len, &own);
	CHECK(h && own != NULL && f->v[0].hoff != 0);	/* read, then cached */
	free(own);
	h = store_header(f, 0, &len, &own);
	CHECK(h && own == NULL && len >= 2 && h[len - 1] == '\n' &&
	    strncmp(h, "Subject:", 8) == 0);
	for (k = 1; k < f->n; k++) {
		h2 = store_header(f, k, &len2, &own);
		free(own);
	}
	store_folder_close(&f);
	store_forget(root, false);
	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	h2 = store_header(f, 1, &len2, &own);
	CHECK(h2 && own == NULL);	/* from the file written before */
	store_folder_close(&f);
	store_forget(root, false);
	/* a crash in the middle of a record */
	snprintf(p, sizeof(p), "%s/facteur-cache", root);
	fp = fopen(p, "a");
	fwrite("\x05\x00\x00\x00\xff\x00\x00\x00" "abc", 1, 11, fp);
	fclose(fp);
	f = store_folder_open(root);
	CHECK(f && store_header(f, 1, &len2, &own) && own == NULL);
	if (f == NULL)
		return;
	CHECK((uint64_t)f->cache_size < 100000);
	store_folder_close(&f);
	store_forget(root, false);
	/* another UIDVALIDITY: nothing in it is used */
	fp = fopen(p, "r+");
	fputs("facteur-cache 1 7\n", fp);
	fclose(fp);
	f = store_folder_open(root);
	CHECK(f && store_header(f, 1, &len2, &own) && own != NULL);
	free(own);
	store_folder_close(&f);
}

static void
test_mailboxes(void)
{
	CHECK(store_create(root, "Projects") == 0);
	CHECK(store_create(root, "Projects") == -1);
	CHECK(store_create(root, "Projects.2024") == 0);
	CHECK(store_rename(root, "Projects", "Old") == 0);
	CHECK(exists(".Old.2024/cur") && !exists(".Projects"));
	CHECK(store_subscribe(root, "Old", true) == 0 && store_subscribed(root, "Old"));
	CHECK(store_subscribe(root, "Old", false) == 0 && !store_subscribed(root, "Old"));
	CHECK(store_delete(root, "Old.2024") == 0 && !exists(".Old.2024"));
	CHECK(store_delete(root, "INBOX") == -1);
	CHECK(store_create(root, "../evil") == -1);
}

/* RFC 3501 6.3.5: RENAME INBOX moves the messages, INBOX stays, empty */
static void
test_list_match(void)
{
	static const struct {
		const char *pat, *name;
		bool want;
	} c[] = {
		{ "*", "a.b.c", true }, { "%", "a.b", false }, { "%", "a", true },
		{ "a.%", "a.b", true }, { "a.%", "a.b.c", false },
		{ "a.%.%", "a.b.c", true }, { "a.*", "a.b.c", true },
		{ "a.*c", "a.b.c", true }, { "a.%c", "a.b.c", false },
		{ "%3.%", "test3.test4", true }, { "%t*4", "test3.test4", true },
		{ "", "", true }, { "", "a", false }, { "a", "", false },
		{ "*%*", "", true }, { "%%%%*x", "aaaaaaaa", false },
		{ "%%%%*x", "a.a.x", true }, { "%%%%%x", "a.x", false },
		{ "INBOX", "INBOX", true }, { "a[b", "a[b", true },
	};
	char name[STORE_NAME_MAX + 1], pat[STORE_PAT_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		CHECK(store_list_match(c[i].pat, c[i].name) == c[i].want);
	/* the worst case of the old backtracking matcher, now linear */
	memset(name, 'a', STORE_NAME_MAX);
	name[STORE_NAME_MAX] = '\0';
	for (i = 0; i + 2 < STORE_PAT_MAX; i += 2)
		memcpy(pat + i, "%*", 2);
	pat[i] = 'x';
	pat[i + 1] = '\0';
	CHECK(!store_list_match(pat, name));
}

static void
test_rename_inbox(void)
{
	struct store_folder *f;
	char p[512];
	size_t n;
	uint32_t uv, next;

	put_new("3000.N.host", "Subject: n\n\nN\n");
	f = store_folder_open(root);
	CHECK(f && f->n > 1);
	if (f == NULL)
		return;
	n = f->n;
	uv = f->uidvalidity;
	next = f->uidnext;
	put_new("3001.M.host", "Subject: m\n\nM\n");	/* still in new/ */
	CHECK(store_rename(root, "INBOX", "Old-Inbox") == 0);
	CHECK(f->n == 0 && f->uidvalidity == uv && f->uidnext == next);
	store_folder_close(&f);
	CHECK(store_rename(root, "INBOX", "Old-Inbox") == -1);	/* exists */
	snprintf(p, sizeof(p), "%s/.Old-Inbox", root);
	f = store_folder_open(p);
	CHECK(f && f->n == n + 1);
	store_folder_close(&f);
	CHECK(store_rename(root, "Old-Inbox", "INBOX") == -1);
}

int
main(void)
{
	char cmd[300];
	int r;

	snprintf(root, sizeof(root), "/tmp/store_test.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	memcpy(root + strlen(root), "/m", 3);	/* store_user_init makes it */
	test_paths();
	test_uids();
	test_read_header();
	test_spool();
	test_keywords();
	test_recent_copy_move();
	test_uidlist_append();
	test_modseq();
	test_header_cache();
	test_mailboxes();
	test_list_match();
	test_rename_inbox();
	r = T_DONE();
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(root) - 2), root);
	if (r == 0)
		(void)system(cmd);
	return r;
}
