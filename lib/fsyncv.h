/* SPDX-License-Identifier: ISC */
/*
 * fsyncv.h - fsync(2) many files at once; unlink(2) in the background.
 *
 * One fsync after another makes the disk flush its cache once per file;
 * issued together they share the flushes (the queue's commits of
 * concurrent sessions, a deliver batch).  On Linux with io_uring the
 * fsyncs are submitted in one system call and run in parallel in the
 * kernel; without it (an old kernel, io_uring disabled) they run one by
 * one.  Either way each file gets its own complete fsync: nothing is
 * weaker than calling fsync(2) on each.
 */
#ifndef FACTEUR_FSYNCV_H
#define FACTEUR_FSYNCV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * fsyncv - fsync fds[0..n); errs[i] is then 0 or the errno of fds[i]'s
 * fsync.  Returns the number of failures.  Blocks until every fsync is done.
 */
size_t	fsyncv(const int *fds, int *errs, size_t n);

/*
 * unlinkat_bg - unlinkat(dirfd, name, 0) without waiting for it.  Removing
 * a file's last name frees its blocks, and where the filesystem discards
 * freed blocks there and then (ext4 mounted with -o discard and without a
 * journal) that waits for the disk: 2-3 ms a file on a virtual disk.  With
 * io_uring the unlink runs in a kernel worker and the caller goes on; a
 * failure is logged later.  Use it only where nothing depends on the name
 * being gone at once (a file already removed from the caller's
 * bookkeeping), and close the caller's descriptors of the file first, or
 * the blocks are freed by the last close(2) instead.  Without io_uring it
 * is unlinkat(2).  dirfd must stay open: the worker uses it.  Returns -1
 * when the fallback failed (logged).
 */
int	unlinkat_bg(int dirfd, const char *name);

/*
 * recycle_bg - make a finished file an empty one under a new name, in the
 * background: ftruncate(fd, 0), then, only if that succeeded,
 * renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE), linked in the
 * io_uring ring (the truncate frees the blocks in a kernel worker, like
 * unlinkat_bg, and no inode is freed, so none has to be found again for
 * the next file: ext4 without a journal skips every inode freed in the
 * last seconds when it allocates one).  At every instant the file is
 * either the old one under its old name, or empty under either name.
 * false: not taken (no io_uring, a kernel before 6.9, too many in
 * flight): the caller removes the file as before.  Once taken, fd and
 * the names belong to the ring until recycle_reap hands them back.
 */
bool	recycle_bg(int fd, int dirfd, const char *from, const char *to);
/*
 * recycle_possible - would recycle_bg take one now?  false for good once
 * the kernel refused the ring's truncate (before Linux 6.9), so that the
 * caller does not open a file for nothing on every message
 */
bool	recycle_possible(void);

/*
 * recycle_reap - a finished recycle: *fd open on the empty file now named
 * to (tosz bytes).  A failed one is closed and unlinked in the background
 * here, and the next is looked at.  false: none finished (yet).  Nothing
 * about the new name is durable until the caller fsyncs the directory.
 */
bool	recycle_reap(int *fd, char *to, size_t tosz);

/*
 * fsyncv_collect - let background work move on.  Where the kernel allows
 * it the ring keeps a finished step's completion until this process asks
 * (fsyncv.c: no wake-up for it), and a recycle's rename starts only once
 * its truncate's completion is collected.  The functions here collect on
 * the way; a process with unlinks or recycles in flight calls this now and
 * then (the queue role: every second), so that the last ones of a burst
 * finish too.  No system call when nothing is in flight.
 */
void	fsyncv_collect(void);

/*
 * fsyncv_removed - how many names unlinkat_bg and recycle_bg have removed
 * so far (completions collected, or unlinks made at once).  None of those
 * removals is durable until the caller fsyncs the directory: a caller
 * that must not see a removed name come back after a power cut fsyncs it
 * when this number has moved (the queue role: on its 1 s tick).
 */
uint64_t fsyncv_removed(void);

#endif
