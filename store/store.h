/* SPDX-License-Identifier: ISC */
/*
 * store.h - the Maildir++ mail store shared by IMAP and POP3 (facteur-imapd): folders, the
 * per-folder UID list, flags and keywords in file names, delivery,
 * copy/move, expunge and mailbox management.
 *
 * One struct store_folder per open folder per process, shared by every
 * session that selected it (sessions keep only their UID view); a few
 * closed folders stay cached (inotify keeps them honest).  The folder
 * index is a cache of the directory: store_sync() rescans new/ and cur/
 * and is what makes it true again.
 */
#ifndef FACTEUR_STORE_H
#define FACTEUR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>
#include <time.h>

struct buf;

#define MF_SEEN		0x01
#define MF_ANSWERED	0x02
#define MF_FLAGGED	0x04
#define MF_DELETED	0x08
#define MF_DRAFT	0x10
#define MF_PASSED	0x20	/* Maildir 'P', kept but not shown */
#define MF_RECENT	0x40	/* index: recent, no session claimed it yet;
				 * output: recent for this session */
#define MF_NOSIZE	0x80	/* index: size not computed yet */
#define MF_IMAP		(MF_SEEN | MF_ANSWERED | MF_FLAGGED | MF_DELETED | MF_DRAFT)
#define MF_FILE		(MF_IMAP | MF_PASSED)	/* what the file name holds */

#define STORE_UIDLIST	"facteur-uidlist"
#define STORE_KEYWORDS	"facteur-keywords"
#define STORE_UIDVALIDITY "facteur-uidvalidity"
#define STORE_MODSEQ	"facteur-modseq"
#define STORE_TOMBS	4096	/* expunged UIDs remembered per folder */
#define STORE_MAX_KW	26	/* Maildir letters a-z */
#define STORE_NOTIME	INT64_MIN
#define STORE_KW_LEN	100	/* longest keyword kept */

struct store_msg {
	uint32_t	 uid;
	uint32_t	 size;		/* RFC822.SIZE: bytes in CRLF form */
	int64_t		 itime;		/* INTERNALDATE, seconds; STORE_NOTIME:
					 * not read yet (the file's mtime) */
	uint64_t	 modseq;	/* RFC 7162 MODSEQ: of its last change */
	uint32_t	 changer;	/* session id that made it, 0 = outside */
	uint32_t	 kw;		/* keyword bits: 1 << (letter - 'a') */
	uint32_t	 hoff;		/* its header in the cache file, 0: not */
	uint8_t		 flags;
	char		*name;		/* file name in cur/ */
};

enum store_cache_state {
	CACHE_NONE,		/* not loaded yet */
	CACHE_ON,
	CACHE_OFF,		/* an error: files are read instead */
};

/* an expunged message (RFC 7162 VANISHED; the flags it had, for
 * sessions not told yet) */
struct store_tomb {
	uint32_t	 uid;
	uint32_t	 kw;
	uint64_t	 modseq;	/* of the expunge */
	uint8_t		 flags;
};

typedef void store_notify_cb(void *arg);

struct store_watch {
	store_notify_cb	*cb;
	void		*arg;
	struct store_watch *next;
};

struct store_folder {
	char		*dir;		/* the Maildir directory of this folder */
	uint32_t	 uidvalidity;
	uint32_t	 uidnext;
	struct store_msg *v;		/* sorted by uid */
	size_t		 n, cap;
	uint64_t	 modseq;	/* HIGHESTMODSEQ: bumped by every change */
	uint64_t	 modseq_base;	/* every modseq given out is below
					 * base + 2^32 (kept in the UID list) */
	struct store_tomb *tomb;	/* the last expunges, by modseq */
	size_t		 ntomb, captomb;
	uint64_t	 tomb_floor;	/* expunges up to this may be forgotten */
	struct buf	*mlog;		/* modseq records not written yet */
	size_t		 mlog_lines;	/* records in the file */
	bool		 mlog_hold;	/* opening: no record written yet */
	unsigned	 refs;		/* 0: closed, kept as a cache */
	uint64_t	 used;		/* LRU stamp of the folder cache */
	int		 wd_new, wd_cur;	/* inotify watches, -1 = none */
	bool		 dirty;		/* the directory changed since the last sync */
	bool		 gone;		/* deleted or renamed: left the list */
	bool		 durable;	/* its entry and cur/'s fsync'd by this
					 * process (store_msg.c) */
	bool		 list_dirty;	/* the UID list file must be rewritten */
	size_t		 list_stale;	/* its lines for vanished messages */
	char		*kw[STORE_MAX_KW];	/* keyword names by letter, or NULL */
	unsigned	 kw_gen;	/* bumped when a keyword is defined */
	/* the header cache (store_cache.c) */
	enum store_cache_state cache_state;
	int		 cache_fd;
	const char	*cache_map;
	size_t		 cache_maplen;
	uint64_t	 cache_size;
	struct store_watch *watchers;
	struct store_folder *next;
};

/* store_init - once per process; inotify when available, else polling */
void		 store_init(void);
/* store_user_init - create the Maildir and the special folders if missing */
int		 store_user_init(const char *root);
/*
 * store_folder_path - IMAP mailbox name -> directory under root ("INBOX"
 * is root itself, "a.b" is root/.a.b).  False for names that could leave
 * root or are not valid Maildir++ names.
 */
bool		 store_folder_path(const char *root, const char *name, char *out,
		    size_t outsz);
/* store_special_use - "\\Sent" etc. for a top-level folder name, or NULL */
const char	*store_special_use(const char *name);
/* store_junk_folder - the name of the \Junk folder, [inbound] junk_folder
 * (smtpd delivers DMARC quarantine there); name must outlive its use */
void		 store_junk_folder(const char *name);

/* store_folder_open - shared, reference-counted; NULL if it does not exist */
struct store_folder *store_folder_open(const char *dir);
void		 store_folder_close(struct store_folder **fp);
/* store_sync - rescan if dirty (or force); calls the watchers on change */
int		 store_sync(struct store_folder *f, bool force);
void		 store_watch_add(struct store_folder *f, store_notify_cb *cb, void *arg);
void		 store_watch_del(struct store_folder *f, store_notify_cb *cb, void *arg);
/* store_find - index of uid in f->v, or -1 */
ssize_t		 store_find(const struct store_folder *f, uint32_t uid);
/* store_msg_path - full path of message i into out */
bool		 store_msg_path(const struct store_folder *f, size_t i, char *out,
		    size_t outsz);
/* store_msg_size - RFC822.SIZE of message i, computed now if unknown
 * (data: the file's bytes when the caller has them, else NULL) */
uint32_t	 store_msg_size(struct store_folder *f, size_t i, const char *data,
		    size_t len);
/* store_msg_itime - INTERNALDATE of message i, its file's mtime read now
 * if unknown (0 if it vanished) */
int64_t		 store_msg_itime(struct store_folder *f, size_t i);
/* store_set_flags - rename the file to carry flags and keywords */
int		 store_set_flags(struct store_folder *f, size_t i, uint8_t flags,
		    uint32_t kw, uint32_t changer);
/* store_expunge - unlink message i and drop it from the index */
int		 store_expunge(struct store_folder *f, size_t i);
/* store_flush - write the modseq records of the changes made so far
 * (before their modseqs are shown to anyone) */
void		 store_flush(struct store_folder *f);
/* store_tomb_find - what an expunged uid looked like, or NULL */
const struct store_tomb *store_tomb_find(const struct store_folder *f,
		    uint32_t uid);
/* store_vanished_known - the tombstones hold every expunge after since */
bool		 store_vanished_known(const struct store_folder *f,
		    uint64_t since);

/* keywords (RFC 3501 2.3.2), per folder, kept in FOLDER/facteur-keywords */
bool		 store_kw_valid(const char *name);
/* store_kw_bit - the bit of keyword `name`; with add, define it if new.
 * 0 when unknown, or when adding: errno 0 if the folder's 26 are used up,
 * else why FOLDER/facteur-keywords could not be written (ENOSPC...) */
uint32_t	 store_kw_bit(struct store_folder *f, const char *name, bool add);
/* store_kw_map - keyword bits of src as bits of dst (defining them there) */
uint32_t	 store_kw_map(const struct store_folder *src, uint32_t kw,
		    struct store_folder *dst);
/* store_kw_full - no letter left for a new keyword (no \* in PERMANENTFLAGS) */
bool		 store_kw_full(const struct store_folder *f);
/* store_flags_put - "\Seen \Flagged $Label1" (no parentheses) into out */
void		 store_flags_put(const struct store_folder *f, uint8_t flags,
		    uint32_t kw, struct buf *out);
/* store_kw_put - the defined keywords, each preceded by a space */
void		 store_kw_put(const struct store_folder *f, struct buf *out);

/*
 * store_deliver - write data (CRLF or LF) durably into folder t's cur/
 * with flags, keywords (t's bits) and internal date; *uid_r is its UID.
 */
int		 store_deliver(struct store_folder *t, const char *data, size_t len,
		    uint8_t flags, uint32_t kw, time_t itime, uint32_t *uid_r);
/*
 * A big APPEND literal goes to a spool file in ROOT/tmp while it arrives
 * (CRLF made LF on the way), then store_spool_deliver() renames it into
 * the target folder: memory stays small whatever the message size.
 */
struct store_spool {
	int		 fd;
	char		 path[PATH_MAX];
	size_t		 size;		/* bytes received */
	size_t		 crlf;		/* their CRLF size (RFC822.SIZE) */
	char		 prev;
	bool		 cr;		/* a CR is held back: LF may follow */
	bool		 failed;
};
int		 store_spool_open(struct store_spool *sp, const char *root,
		    uint32_t id);
int		 store_spool_write(struct store_spool *sp, const char *p, size_t n);
int		 store_spool_deliver(struct store_spool *sp, struct store_folder *t,
		    uint8_t flags, uint32_t kw, time_t itime, uint32_t *uid_r);
void		 store_spool_discard(struct store_spool *sp);

/* store_copy - message i of f into t (a hard link when possible; t's
 * keyword bits in kw); store_move - the same by rename, and i leaves f */
int		 store_copy(struct store_folder *f, size_t i, struct store_folder *t,
		    uint32_t kw, uint32_t *uid_r);
int		 store_move(struct store_folder *f, size_t i, struct store_folder *t,
		    uint32_t kw, uint32_t *uid_r);

/*
 * store_map - the message file mapped read-only (*len_r bytes; an empty
 * file gives "" and 0); NULL if it vanished.  Release with store_unmap().
 * Maildir files are never rewritten in place, so the mapping stays valid.
 */
const char	*store_map(const struct store_folder *f, size_t i, size_t *len_r);
void		 store_unmap(const char *p, size_t len);
/* store_read_header - at least the header block (and maybe some body):
 * enough for ENVELOPE and HEADER.FIELDS without reading attachments;
 * malloc'd, NUL-terminated */
char		*store_read_header(const struct store_folder *f, size_t i,
		    size_t *len_r);
/*
 * store_header - the header block of message i from the header cache, or
 * read from its file (and cached).  *owned_r is what the caller frees:
 * NULL when the bytes are the cache's, valid until the next store call
 * on f.  NULL if the message vanished.
 */
const char	*store_header(struct store_folder *f, size_t i, size_t *len_r,
		    char **owned_r);

/* store_cache.c: the header cache behind store_header() */
const char	*store_cache_get(struct store_folder *f, size_t i, size_t *len_r);
void		 store_cache_put(struct store_folder *f, size_t i, const char *hdr,
		    size_t len);
/* store_cache_close - unmap, close (compact first when asked and due) */
void		 store_cache_close(struct store_folder *f, bool compact);

/* mailbox management */
#define STORE_NAME_MAX	200	/* bytes in a mailbox name */
#define STORE_PAT_MAX	512	/* bytes in a LIST pattern (reference too) */
#define STORE_MAX_SUBS	10000	/* subscriptions read */
typedef void store_list_cb(const char *name, void *arg);
void		 store_list(const char *root, store_list_cb *cb, void *arg);
/* store_list_match - LIST pattern matching, linear in both lengths */
bool		 store_list_match(const char *pat, const char *name);
/* store_subscriptions - every subscribed name (mailbox or not) */
void		 store_subscriptions(const char *root, store_list_cb *cb,
		    void *arg);
int		 store_create(const char *root, const char *name);
int		 store_delete(const char *root, const char *name);
/* store_rename - with children; "INBOX" moves its messages (RFC 3501
 * 6.3.5); EINVAL for a new name under the old one ("a" to "a.b") */
int		 store_rename(const char *root, const char *from, const char *to);
bool		 store_subscribed(const char *root, const char *name);
int		 store_subscribe(const char *root, const char *name, bool on);

/* used by the store files among themselves */
int		 store_maildir_make(const char *dir, bool sub);
uint32_t	 store_uidvalidity_next(const char *dir, uint32_t old);
struct store_folder *store_folder_find(const char *dir);
/* store_forget - DIR (and DIR.* with children) was deleted or renamed:
 * drop its index; open ones are marked gone and look empty from then on */
void		 store_forget(const char *dir, bool children);
/* store_take - message i of f now lives in another folder (MOVE) */
void		 store_take(struct store_folder *f, size_t i);
/*
 * store_register - number a file just put into t's cur/.  -1 (errno) when
 * its UID cannot be made durable (the UID list cannot be written: a full
 * disk): it is then not in the index, and the caller takes the file out
 * of cur/ again, so that a refused APPEND, COPY or MOVE leaves nothing
 */
int		 store_register(struct store_folder *t, const char *name,
		    uint8_t flags, uint32_t kw, int64_t itime, uint32_t size,
		    bool size_known, uint32_t *uid_r);
/* store_name_flags - system flags and keyword bits of a file name */
uint8_t		 store_name_flags(const char *name, uint32_t *kw_r);
int		 store_uidlist_write(struct store_folder *f);
/* store_modseq.c: modseqs and tombstones behind CONDSTORE and QRESYNC */
struct store_mload;
struct store_mload *store_modseq_load(struct store_folder *f, bool fresh);
void		 store_modseq_open(struct store_folder *f, struct store_mload *ld);
void		 store_modseq_msg(struct store_folder *f, const struct store_msg *m);
void		 store_tomb_add(struct store_folder *f, const struct store_msg *m,
		    uint64_t modseq);
void		 store_modseq_free(struct store_folder *f);
/* store_info - the ":2,FLAGS" part for flags and keywords into out */
void		 store_info(uint8_t flags, uint32_t kw, char *out, size_t outsz);
size_t		 store_base_len(const char *name);

#endif
