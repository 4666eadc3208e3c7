/* SPDX-License-Identifier: ISC */
/*
 * compat.h - the few glibc extensions facteur uses, for C libraries that
 * lack them (musl: `make STATIC=1 LIBC=musl`, init/module.mk).  With
 * glibc this header adds nothing.
 *
 *   closefrom(lowfd)   closes every descriptor >= lowfd (lib/compat.c:
 *                      close_range(2), else one close() per possible fd)
 *   malloc_trim(pad)   gives free heap back to the system; musl's
 *                      allocator does that by itself: a no-op there
 *   COMPAT_MMAP_THRESHOLD(bytes)  mallopt(M_MMAP_THRESHOLD, bytes), or
 *                      nothing where there is no mallopt (musl maps big
 *                      blocks anyway)
 */
#ifndef FACTEUR_COMPAT_H
#define FACTEUR_COMPAT_H

#include <malloc.h>
#include <stddef.h>
#include <unistd.h>

#ifndef __GLIBC__
void	closefrom(int lowfd);

static inline int
malloc_trim(size_t pad)
{
	(void)pad;
	return 0;
}
#endif

#ifdef M_MMAP_THRESHOLD
#define COMPAT_MMAP_THRESHOLD(n)	((void)mallopt(M_MMAP_THRESHOLD, (n)))
#else
#define COMPAT_MMAP_THRESHOLD(n)	((void)(n))
#endif

#endif
