/* SPDX-License-Identifier: ISC */
/*
 * queue.h - the queue role's in-memory state, shared by queue.c (the
 * files, accepting, scheduling), queue_bounce.c (DSNs) and queue_ctl.c
 * (facteur-ctl).  Everything here can be rebuilt from state_dir/queue.
 */
#ifndef FACTEUR_QUEUE_H
#define FACTEUR_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "smtpd.h"

enum rcpt_status {
	RCPT_PENDING,		/* waiting for its next attempt */
	RCPT_INFLIGHT,		/* with the deliver or relay role */
	RCPT_FAILED,		/* failed for good, bounce not yet written */
	RCPT_DONE,		/* delivered, or bounced, or given up */
};

struct rcpt_state {
	enum rcpt_status status;
	bool		 local;		/* deliver role, else relay role */
	unsigned	 attempts;
	bool		 expired;	/* failed because [queue] expire passed */
	uint64_t	 next_try;	/* ev_now() ms */
	char		*last;		/* the last reply or reason */
};

struct qmsg {
	struct queue_env env;
	struct rcpt_state *state;	/* one per env.rcpt */
	size_t		 ndone;
	size_t		 ninflight;	/* local deliveries out */
	bool		 relaying;	/* an R_SEND is out */
	unsigned	 relay_lost;	/* R_SENDs lost with a relay role */
	uint32_t	 relay_id;
	bool		 recovered;	/* found at start */
	bool		 waiting;	/* in the deliver FIFO */
	int		 fd;
	int		 wfd;		/* its pool descriptor, kept for the recycle */
	uint64_t	 fsize;		/* the file's size (recycled files grow) */
	uint64_t	 bounce_next_try;	/* a bounce that could not be
					 * written: again at (ev_now) */
	unsigned	 bounce_tries;
	struct qmsg	*next, *prev;	/* arrival order */
	struct qmsg	*hnext;		/* hash chain */
	struct qmsg	*wnext;		/* deliver FIFO */
};

#define POOL_SIZE	32
#define WFD_KEEP	128	/* pool descriptors kept by queued messages */
#define RENAMED_MAX	64	/* recycled by rename, waiting for the pool */
/* a finished file up to this size is recycled by a rename alone */
#define RECYCLE_OVER_MAX (64 * 1024)
#define RELAY_INFLIGHT	128	/* R_SEND out at once */

struct queue {
	char		*dir;		/* state_dir/queue, "" when chrooted into it */
	char		*msgdir;
	struct qfile {
		char	 qid[QUEUE_ID_LEN + 1];
		int	 fd;
		uint64_t size;		/* > 0: an earlier message, written over */
	}		 pool[POOL_SIZE],	/* files made ahead, see q_open */
			 renamed[RENAMED_MAX];	/* msg_recycle: for the pool */
	size_t		 npool, nrenamed;
	uint64_t	 nrename;	/* recycles by rename so far (sync_removals) */
	bool		 trim_due;	/* the pool may hold earlier messages */
	uint64_t	 last_commit;	/* ev_now() of the last commit */
	unsigned	 nwfd;		/* qmsg.wfd open, at most WFD_KEEP */
	int		 dirfd;
	struct qmsg	*table[1024];
	struct qmsg	*head, *tail;
	struct qmsg	*whead, *wtail;
	size_t		 nmsg;
	unsigned	 deliver_inflight;
	unsigned	 relay_inflight;
	struct qmsg	*relaying[RELAY_INFLIGHT];	/* by R_SEND id - 1 */
	bool		 busy;		/* mail came since the queue was last empty */
	uint64_t	 removed_synced;	/* queue_removed() at the last fsync of msg/ */
};

extern struct queue q;

/* queue.c */
bool		 queue_path(char *out, size_t outsz, const char *qid, const char *suffix);
bool		 queue_is_local(const char *addr);
/* queue_msg_fd - the message file, opened read-only on demand; -1 */
int		 queue_msg_fd(struct qmsg *m);
struct qmsg	*queue_add(struct queue_env *env, bool recovered,
		    uint64_t fsize);
void		 queue_keep_wfd(struct qmsg *m, int fd);
/* queue_removed - names removed from msg/ so far (renames, unlinks) */
uint64_t	 queue_removed(void);
/* queue_pool_trim - idle: recycle the files holding earlier messages */
void		 queue_pool_trim(void);
void		 queue_rcpt_done(struct qmsg *m, size_t i);
void		 queue_schedule(struct qmsg *m);
void		 queue_flush(void);
struct qmsg	*queue_find(const char *qid);
/* queue_once.c: keys of fetched messages taken (MAIL ONCE=) */
bool		 queue_once_seen(const char *key);
/* queue_once_record - remember key (fdatasync'd when sync); -1 on error */
int		 queue_once_record(const char *key, bool sync);
int		 queue_once_sync(void);
/* queue_remove_msg - drop m (facteur-ctl); -1 while a delivery is out */
int		 queue_remove_msg(struct qmsg *m);

/* queue_peer_gone - a role's channel closed: exit, the parent restarts all */
void		 queue_peer_gone(struct ipc *ch, void *arg);

/* queue_accept.c */
void		 queue_accept_init(int smtp_fd);

/* queue_ctl.c */
void		 queue_ctl_init(int listen_fd);

/* queue_bounce.c */
/* queue_bounce_write - one DSN for every RCPT_FAILED recipient of m; -1 if
 * it could not be made durable (the recipients stay FAILED, retried later) */
int		 queue_bounce_write(struct qmsg *m);

#endif
