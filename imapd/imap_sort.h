/* SPDX-License-Identifier: ISC */
/*
 * imap_sort.h - the job behind SORT and THREAD (imap_sort.c,
 * imap_thread.c): it walks the session's view in batches, matches the
 * search keys, reads each match's header block (header cache first) and
 * hands it to the command's callback; between batches the worker serves
 * its other sessions.  When the view is done the command's `done` builds
 * the reply.  The session is paused meanwhile (SW_JOB), so its view does
 * not change under the job; a message that vanished is skipped.
 */
#ifndef FACTEUR_IMAP_SORT_H
#define FACTEUR_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapd.h"

struct sort_job;

/* one matching message as the callback sees it */
struct sort_msg {
	uint32_t	 seq, uid;
	size_t		 fi;		/* index in s->f->v */
	const char	*hdr;		/* header block, valid during the call */
	size_t		 hlen;
};

struct sort_job {
	struct search_node *search;
	bool		 uid;		/* UID SORT / UID THREAD */
	bool		 need_hdr;	/* the callback reads the header */
	size_t		 pos;		/* next view index */
	void		(*each)(struct imap_session *, struct sort_job *,
			    const struct sort_msg *);
	void		(*done)(struct imap_session *, struct sort_job *);
	void		(*free)(struct sort_job *);
	void		*ctx;		/* the command's state */
};

/*
 * sort_search_args - "charset search-keys" at a: charset checked (NO
 * [BADCHARSET] otherwise), keys compiled into j->search; replies itself
 * and returns false on error.
 */
bool	 sort_search_args(struct imap_session *s, const struct imap_arg *a,
	    struct sort_job *j);
/* sort_job_start - take j (the session owns it from now) and run it */
void	 sort_job_start(struct imap_session *s, struct sort_job *j);
/* sort_header - the unfolded value of field `name` of m into v (reset);
 * false when absent */
bool	 sort_header(const struct sort_msg *m, const char *name, struct buf *v);
/* sort_sent_date - Date: as UTC seconds, else INTERNALDATE (RFC 5256 2.2) */
int64_t	 sort_sent_date(struct imap_session *s, const struct sort_msg *m,
	    struct buf *tmp);

#endif
