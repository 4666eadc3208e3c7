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
 * mkdir_durable - mkdir(path, mode) and, if it made the directory, the
 * fsync of its parent.  0 if the directory exists now (made or there
 * already), -1 with errno otherwise.
 */
int	mkdir_durable(const char *path, mode_t mode);

#endif
