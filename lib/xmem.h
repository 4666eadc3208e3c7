/* SPDX-License-Identifier: ISC */
/*
 * xmem.h - allocation that dies on failure, for startup and CLI tools, and
 * for server roles whose header says out-of-memory is fatal (the supervisor
 * restarts them).  Also bounded string helpers that report truncation.
 */
#ifndef FACTEUR_XMEM_H
#define FACTEUR_XMEM_H

#include <stdbool.h>
#include <stddef.h>

void	*xmalloc(size_t n);
void	*xcalloc(size_t nmemb, size_t size);
void	*xrealloc(void *p, size_t n);
void	*xreallocarray(void *p, size_t nmemb, size_t size);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bsnprintf - snprintf that returns false when the output was truncated. */
bool	 bsnprintf(char *buf, size_t size, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* strlcpy-alike that returns false on truncation (dst always terminated). */
bool	 bstrcpy(char *dst, const char *src, size_t size);

/* wipe - explicit_bzero that the compiler cannot drop (secrets). */
void	 wipe(void *p, size_t n);

#endif
