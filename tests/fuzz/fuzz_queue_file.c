/* SPDX-License-Identifier: ISC */
/*
 * fuzz_queue_file.c - libFuzzer target for smtpd/queue_file.c, the queue
 * file reader and writer.
 *
 * The input is a whole queue file (message, envelope, footer).  It is
 * parsed with queue_file_parse_env() from memory, and read with
 * queue_file_read_env() from a memfd; both must agree.  An accepted
 * envelope must hold what the queue relies on (a valid id, sender, client,
 * helo, at least one recipient, sizes that add up) and, written again
 * with queue_file_trailer() after the same message, parse back to the
 * same envelope.  Seeds: tests/fuzz/corpus/fuzz_queue_file/.
 * The writer must also accept every envelope the reader accepts.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "smtpd/smtpd.h"
#include "tests/unit/queue_env_eq.h"


/* rewrite - the same message with a trailer written from e parses to e */
static void
rewrite(const uint8_t *data, const struct queue_env *e)
{
	struct queue_env again;
	struct buf b;
	const char *err;

	buf_init(&b, 0);
	if (buf_append(&b, data, e->msglen) == -1)
		__builtin_trap();
	if (queue_file_trailer(&b, e) == -1) {
		__builtin_trap();
		buf_free(&b);
		return;
	}
	if (queue_file_parse_env(buf_head(&b), b.len, b.len, &again, &err) == -1 ||
	    !queue_env_eq(e, &again))
		__builtin_trap();
	queue_env_free(&again);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env e, f;
	const char *err, *ferr;
	int r, fr, fd;

	r = queue_file_parse_env((const char *)data, size, size, &e, &err);
	if ((r == 0) != (err == NULL))
		__builtin_trap();
	if (r == 0) {
		if (!queue_id_valid(e.qid) || e.from == NULL || e.client == NULL ||
		    e.helo == NULL || e.nrcpt == 0 || e.msglen > size)
			__builtin_trap();
		rewrite(data, &e);
	} else if (e.from != NULL || e.rcpt != NULL || e.nrcpt != 0)
		__builtin_trap();

	/* the same bytes as a file */
	if ((fd = memfd_create("fuzz_queue_file", 0)) != -1) {
		if (write(fd, data, size) == (ssize_t)size) {
			fr = queue_file_read_env(fd, &f, &ferr);
			if (fr != r || (fr == 0 && !queue_env_eq(&e, &f)))
				__builtin_trap();
			if (fr == 0)
				queue_env_free(&f);
		}
		close(fd);
	}
	if (r == 0)
		queue_env_free(&e);
	return 0;
}
