/* SPDX-License-Identifier: ISC */
/*
 * log.h - one log line per event, to syslog, stderr or a file (SPEC 3 `log`).
 *
 * Every process calls log_init() once at start.  log_warn() appends the
 * errno text; log_warnx() does not.  fatal()/fatalx() are for startup and
 * CLI tools only (they exit 1); a server role that finds a broken invariant
 * calls log_panic(), which aborts so the supervisor restarts it.
 * Untrusted text must go through log_escape() before it is logged.
 */
#ifndef FACTEUR_LOG_H
#define FACTEUR_LOG_H

#include <stdbool.h>
#include <stddef.h>

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

void	log_init(const char *ident, bool to_stderr, bool debug);
void	log_set_ident(const char *ident);

/*
 * log_open_file - from now on stderr is `path`, opened for appending
 * (created 0640, not through a symbolic link), and lines go there as they
 * would to stderr; forked processes inherit it.  -1 with errno if it
 * cannot be opened (nothing changed).  log_is_file() says it was done, so
 * that detaching (lib/daemon.c) keeps that stderr.
 */
int	log_open_file(const char *path);
bool	log_is_file(void);
void	log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void	log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void	log_warnx(const char *fmt, ...) PRINTF_LIKE(1, 2);
void	log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
void	fatal(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((noreturn));
void	fatalx(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((noreturn));
void	log_panic(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((noreturn));

/*
 * log_escape - copy at most `len` bytes of untrusted `s` into `out` (size
 * `outsz`), replacing control and non-ASCII bytes by \xNN and cutting with
 * "..." when it does not fit.  Returns `out`, always NUL-terminated.
 */
char	*log_escape(char *out, size_t outsz, const char *s, size_t len);

#endif
