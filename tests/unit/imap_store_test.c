/* SPDX-License-Identifier: ISC */
/*
 * imap_store_test.c - the Maildir++ store: folder paths, first-login
 * folders, UID numbering and persistence, flags in file names, a lost or
 * corrupt UID list, delivery in CRLF/LF form, expunge, subscriptions.
 * Runs in a temporary directory; inotify is not started (polling mode).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "imapd/imap_store.h"

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
	CHECK(f->v[0].size == 17);	/* "Subject: a\r\n\r\nA\r\n" */
	CHECK(exists("cur/1000.A.host:2,"));
	uv = f->uidvalidity;
	CHECK(store_set_flags(f, 1, MF_SEEN | MF_FLAGGED, 7) == 0);
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
	CHECK(f->v[2].size == 17);	/* already CRLF */
	CHECK(store_expunge(f, 0) == 0 && f->n == 2);
	store_folder_close(&f);

	/* delivery: CRLF in, LF on disk, W= is the CRLF size */
	CHECK(store_deliver(root, "Subject: e\r\n\r\nE\r\n", 17, MF_DRAFT,
	    1600000000, &uv2, &uid) == 0);
	CHECK(uv2 == uv && uid == 5);
	f = store_folder_open(root);
	CHECK(f && f->n == 3);
	if (f == NULL)
		return;
	CHECK(f->v[2].uid == 5 && f->v[2].size == 17 && f->v[2].flags == MF_DRAFT);
	CHECK(strstr(f->v[2].name, ",W=17:2,D") != NULL);
	data = store_read(f, 2, &len);
	CHECK(data && len == 14 && memcmp(data, "Subject: e\n\nE\n", 14) == 0);
	free(data);
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
	f = store_folder_open(root);
	CHECK(f && f->n == 3 && f->uidvalidity > uv && f->v[0].uid == 1 &&
	    f->v[2].uid == 3);
	store_folder_close(&f);
}

/* only the header of a big message is read for header-only needs */
static void
test_read_header(void)
{
	size_t big = 4 << 20, len;
	char *msg = malloc(big), *data;
	uint32_t uv, uid;
	struct store_folder *f;

	memcpy(msg, "Subject: big\n\n", 14);
	memset(msg + 14, 'x', big - 14);
	CHECK(store_deliver(root, msg, big, 0, 1600000000, &uv, &uid) == 0);
	free(msg);
	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
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
	uint32_t uv, uid;
	char *data;
	size_t len;

	CHECK(store_spool_open(&sp, root, 42) == 0);
	CHECK(store_spool_write(&sp, "S: x\r", 5) == 0);
	CHECK(store_spool_write(&sp, "\n\r\nb\r", 5) == 0);
	CHECK(store_spool_write(&sp, "c\nd\r", 4) == 0);
	CHECK(sp.size == 14);
	CHECK(store_spool_deliver(&sp, root, MF_SEEN, 1600000000, &uv,
	    &uid) == 0);
	CHECK(sp.fd == -1);
	f = store_folder_open(root);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	data = store_read(f, f->n - 1, &len);
	/* "S: x\n\nb\rc\nd\r": CRLF became LF, the lone CRs stay */
	CHECK(data && len == 12 && memcmp(data, "S: x\n\nb\rc\nd\r", 12) == 0);
	CHECK(f->v[f->n - 1].uid == uid && f->v[f->n - 1].size == 15);
	free(data);
	store_folder_close(&f);
	CHECK(store_spool_open(&sp, root, 43) == 0);
	store_spool_discard(&sp);
	CHECK(access(sp.path, F_OK) == -1);
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

int
main(void)
{
	char cmd[300];
	int r;

	snprintf(root, sizeof(root), "/tmp/imap_store_test.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	memcpy(root + strlen(root), "/m", 3);	/* store_user_init makes it */
	test_paths();
	test_uids();
	test_read_header();
	test_spool();
	test_mailboxes();
	r = T_DONE();
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(root) - 2), root);
	if (r == 0)
		(void)system(cmd);
	return r;
}
