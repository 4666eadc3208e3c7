/* SPDX-License-Identifier: ISC */
/*
 * compat.c - closefrom() for C libraries without it (musl); see
 * compat.h.  Empty with glibc.  Runs wherever it is called (authd's
 * hashing processes, right after fork); never fails: a descriptor that
 * is not open is simply not closed.
 */
#include "compat.h"

#ifndef __GLIBC__
#include <sys/resource.h>
#include <sys/syscall.h>

void
closefrom(int lowfd)
{
	struct rlimit rl;
	long fd, max = 1024;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	/* before Linux 5.9: every descriptor the limit allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	for (fd = lowfd; fd < max; fd++)
		(void)close((int)fd);
}
#else
/* ISO C wants a translation unit to declare something */
typedef int compat_glibc_has_closefrom;
#endif
