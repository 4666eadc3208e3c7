/* SPDX-License-Identifier: ISC */
/*
 * imap_store.h - Maildir++ mail store for facteur-imapd: folders, the
 * per-folder UID list, flags in file names, append/copy/expunge.
 *
 * One struct store_folder per open folder per process, shared by every
 * session that selected it (sessions keep only their UID view).  The
 * folder index is a cache of the directory: store_sync() rescans new/ and
 * cur/ and is what makes it true again.
 */
#ifndef FACTEUR_IMAP_STORE_H
#define FACTEUR_IMAP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <time.h>

#define MF_SEEN		0x01
#define MF_ANSWERED	0x02
#define MF_FLAGGED	0x04
#define MF_DELETED	0x08
#define MF_DRAFT	0x10
#define MF_PASSED	0x20	/* Maildir 'P', kept but not shown */
#define MF_RECENT	0x40	/* in memory: moved from new/ by us */
#define MF_IMAP		(MF_SEEN | MF_ANSWERED | MF_FLAGGED | MF_DELETED | MF_DRAFT)

#define STORE_UIDLIST	"facteur-uidlist"

struct store_msg {
	uint32_t	 uid;
	uint32_t	 size;		/* RFC822.SIZE: bytes in CRLF form */
	int64_t		 itime;		/* INTERNALDATE, seconds */
	uint32_t	 gen;		/* folder gen of the last flag change */
	uint32_t	 changer;	/* session id that made it, 0 = outside */
	uint8_t		 flags;
	char		*name;		/* file name in cur/ */
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
	uint32_t	 gen;		/* bumped by every change */
	unsigned	 refs;
	int		 wd_new, wd_cur;	/* inotify watches, -1 = none */
	bool		 dirty;		/* the directory changed since the last sync */
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
/* store_set_flags - rename the file to carry `flags`; -1 on failure */
int		 store_set_flags(struct store_folder *f, size_t i, uint8_t flags,
		    uint32_t changer);
/* store_expunge - unlink message i and drop it from the index */
int		 store_expunge(struct store_folder *f, size_t i);
/*
 * store_deliver - write data (CRLF or LF) durably into dir's cur/ with flags
 * and internal date; *uidvalidity_r and *uid_r from the folder's UID list.
 */
int		 store_deliver(const char *dir, const char *data, size_t len,
		    uint8_t flags, time_t itime, uint32_t *uidvalidity_r,
		    uint32_t *uid_r);
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
int		 store_spool_deliver(struct store_spool *sp, const char *dir,
		    uint8_t flags, time_t itime, uint32_t *uidvalidity_r,
		    uint32_t *uid_r);
void		 store_spool_discard(struct store_spool *sp);

/* store_copy - copy message i of f into dir */
int		 store_copy(struct store_folder *f, size_t i, const char *dir,
		    uint32_t *uidvalidity_r, uint32_t *uid_r);
/* store_read - the whole message file into a malloc'd buffer */
char		*store_read(const struct store_folder *f, size_t i, size_t *len_r);
/* store_read_header - at least the header block (and maybe some body):
 * enough for ENVELOPE and HEADER.FIELDS without reading attachments */
char		*store_read_header(const struct store_folder *f, size_t i,
		    size_t *len_r);

/* mailbox management */
typedef void store_list_cb(const char *name, void *arg);
void		 store_list(const char *root, store_list_cb *cb, void *arg);
int		 store_create(const char *root, const char *name);
int		 store_delete(const char *root, const char *name);
int		 store_rename(const char *root, const char *from, const char *to);
bool		 store_subscribed(const char *root, const char *name);
int		 store_subscribe(const char *root, const char *name, bool on);

/* flags <-> text */
void		 store_flags_str(uint8_t flags, char *out, size_t outsz);

#endif
