/* SPDX-License-Identifier: ISC */
/*
 * maildir.h - delivery into a Maildir (SPEC 5): the file is written in
 * tmp/, fsync'd, renamed into new/, and new/ is fsync'd, so a message is
 * either completely there or not at all.
 *
 * Symlinks (issue 16 item 8): the Maildir, its tmp/ and new/ are opened
 * with O_NOFOLLOW and the file is made with openat(O_CREAT | O_EXCL |
 * O_NOFOLLOW) and moved with renameat() relative to those descriptors, so
 * a symlink planted by whoever owns the Maildir fails the delivery (it is
 * retried, then bounced) instead of sending the writes elsewhere.
 *
 * Names are "TIME.UNIQUE.HOST" (the Maildir convention); the caller
 * chooses UNIQUE so that a delivery repeated after a crash gets the same
 * name and maildir_exists() can tell it was already done.
 */
#ifndef FACTEUR_MAILDIR_H
#define FACTEUR_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * maildir_create - dir and its tmp/ new/ cur/ (and missing parents), 0700,
 * every entry on the path fsync'd into its parent, whether made now or
 * found (lib/dirsync.h mkdir_durable): one directory fsync per level.
 */
int	maildir_create(const char *dir);
/*
 * maildir_create_once - maildir_create() the first time this process
 * asks for dir, nothing after (a list in memory): a Maildir made by an
 * earlier run that died before its fsyncs is made durable before the
 * first message of this run goes into it, at no cost per message.
 */
int	maildir_create_once(const char *dir);
/*
 * maildir_folder - the Maildir++ folder `name` of the Maildir root
 * (root/.name, as facteur-imapd lays folders out) into out, created with
 * the root if missing: tmp/ new/ cur/ 0700 and an empty `maildirfolder`
 * file; a folder made here is also added to root/subscriptions (one name
 * per line, imapd's LSUB).  name is a plain folder name (no '/', no
 * leading '.').  0, or -1 with errno set.
 */
int	maildir_folder(const char *root, const char *name, char *out,
	    size_t outsz);
/* maildir_exists - a message whose name starts with base in new/ or cur/ */
bool	maildir_exists(const char *dir, const char *base);
/*
 * The names in new/ and cur/ of one Maildir, read once and sorted, for
 * the many maildir_exists() questions of a crash recovery (one listing per
 * Maildir, not one per recovered message).
 */
struct maildir_index {
	char	*dir;
	char   **names;
	size_t	 n;
};
/* maildir_index_load - list dir (missing subdirectories are empty); -1 on error */
int	maildir_index_load(struct maildir_index *ix, const char *dir);
/* maildir_index_has - maildir_exists() against the listing */
bool	maildir_index_has(const struct maildir_index *ix, const char *base);
void	maildir_index_free(struct maildir_index *ix);
/* a message written into tmp/, not yet in new/ */
struct maildir_tmp {
	int	 fd;
	int	 tmpdir;	/* dir/tmp, opened without following a symlink */
	int	 newdir;	/* dir/new, likewise */
	char	*dir;		/* the Maildir, as given to maildir_write() */
	char	*tmp;		/* base, in tmpdir */
	char	*dst;		/* base,W=SIZE, in newdir */
	bool	 shared;	/* tmpdir and newdir are another one's */
};

/*
 * maildir_write - write hdr, then len bytes of srcfd from offset 0, into
 * dir/tmp/base and start its writeback.  SIZE in the final name is the
 * message's size with CRLF line ends (IMAP's RFC822.SIZE; the file keeps
 * LF).  0, or -1 with errno set and nothing left behind.  same: NULL, or
 * a message of the same batch written before and not freed yet; if it
 * went to the same dir, its directory descriptors are used instead of
 * opening them again (three path lookups and five system calls less), so
 * it must be freed with t or after it (maildir_commitv frees both).
 */
int	maildir_write(const char *dir, const char *base, const char *hdr,
	    size_t hdrlen, int srcfd, uint64_t len, struct maildir_tmp *t,
	    const struct maildir_tmp *same);
/*
 * maildir_commitv - make n written messages durable together: fsync every
 * file (all at once, lib/fsyncv.h), rename each synced one into new/, then
 * fsync each distinct new/ once.  A message is delivered only when all
 * three succeeded: errs[i] is then 0, else the errno, and steps[i] names
 * the step that failed.  Every t[i] is freed (a failed one leaves nothing
 * in tmp/; one that failed at the last step may stay in new/, which is
 * harmless: its name is fixed, so a retry finds it or replaces it).
 */
void	maildir_commitv(struct maildir_tmp **t, int *errs, const char **steps,
	    size_t n);
/* maildir_tmp_free - give up a written message (removes it from tmp/) */
void	maildir_tmp_free(struct maildir_tmp *t);
/* maildir_host - the host part of a name: '/' and ':' escaped (\057 \072) */
void	maildir_host(char *out, size_t outsz, const char *host);

#endif
