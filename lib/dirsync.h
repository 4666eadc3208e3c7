/* SPDX-License-Identifier: ISC */
/*
 * dirsync.h - directories whose new entries survive a power cut.
 *
 * mkdir(2) changes the parent directory; like any other entry, the new
 * one is on disk only once the parent is fsync'd (POSIX promises nothing
 * sooner; ext4 without a journal, among others, keeps it in memory).
 * A queue or Maildir directory made at first use holds mail that was
 * acknowledged: its entry must be durable before that.
 */
#ifndef FACTEUR_DIRSYNC_H
#define FACTEUR_DIRSYNC_H

#include <sys/types.h>

/* fsync_parent - fsync the directory holding path's last name; 0 or -1 */
int	fsync_parent(const char *path);

/*
 * fsync_parent_existing - fsync_parent() for an entry that was there
 * already: an earlier run may have made it and died (or seen its fsync
 * fail) before the fsync of its parent, and while the machine stays up
 * the entry looks as durable as any other, until a power cut takes it
 * and what was written below it.  A parent the caller may not read is
 * skipped (EACCES: the one who made the entry there fsync'd it).  0 or -1.
 */
int	fsync_parent_existing(const char *path);

/*
 * mkdir_durable - mkdir(path, mode), then the fsync of its parent, also
 * when path was there already (fsync_parent_existing).  0 if the
 * directory exists now and its entry is durable, -1 with errno otherwise.
 * One directory fsync per call, made or not: call it when a directory is
 * first used by a process (at start, at a Maildir's first delivery), not
 * for each message.
 */
int	mkdir_durable(const char *path, mode_t mode);

#endif
