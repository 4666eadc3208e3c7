/* SPDX-License-Identifier: ISC */
/*
 * fsyncv.h - fsync(2) many files at once.
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

#include <stddef.h>

/*
 * fsyncv - fsync fds[0..n); errs[i] is then 0 or the errno of fds[i]'s
 * fsync.  Returns the number of failures.  Blocks until every fsync is done.
 */
size_t	fsyncv(const int *fds, int *errs, size_t n);

#endif
