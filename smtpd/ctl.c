/* SPDX-License-Identifier: ISC */
/*
 * ctl.c - facteur-ctl: look at and steer the queue of a running
 * facteur-smtpd through run_dir/smtpd-ctl.sock (protocol: queue_ctl.c).
 *
 *   facteur-ctl -c FILE queue list | queue flush | queue remove ID | status
 *
 * Exit 0 on success, 1 on a failure explained on stderr, 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "xmem.h"
#include "smtpd.h"

#define CTL_TIMEOUT_MS	30000

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: facteur-ctl [-c FILE] queue list | queue flush | "
	    "queue remove ID | status\n");
	exit(2);
}

/* talk - one request, print the answer; the CTL_END status, or 1 */
static uint32_t
talk(const char *sock, uint32_t type, const struct ipc_out *o)
{
	static uint8_t store[IPC_MAX_PAYLOAD];
	uint32_t status = 1;
	struct ipc_msg m;
	const char *line;
	size_t n;
	int fd;

	if ((fd = ipc_connect_unix(sock)) == -1) {
		/*
		 * the socket is root's, 0600, when smtpd started as root (not
		 * `user`'s, whatever the old message said); else it belongs to
		 * the account that started smtpd
		 */
		if (errno == EACCES || errno == EPERM)
			fprintf(stderr, "facteur-ctl: %s: %m: run it as root "
			    "(or, if facteur-smtpd was not started as root, as "
			    "the account that started it)\n", sock);
		else
			fprintf(stderr, "facteur-ctl: cannot reach facteur-smtpd "
			    "at %s: %m (is it running?)\n", sock);
		return 1;
	}
	if (ipc_write_sync(fd, type, 1, -1, o) == -1) {
		fprintf(stderr, "facteur-ctl: %s: %m\n", sock);
		close(fd);
		return 1;
	}
	for (;;) {
		if (ipc_read_sync(fd, &m, store, CTL_TIMEOUT_MS) == -1) {
			fprintf(stderr, "facteur-ctl: no complete answer from "
			    "facteur-smtpd: %m\n");
			break;
		}
		if (m.fd != -1)
			close(m.fd);
		if (m.hdr.type == CTL_LINE && ipc_get_str(&m, &line, &n))
			printf("%s\n", line);
		else if (m.hdr.type == CTL_END && ipc_get_u32(&m, &status))
			break;
		else {
			fprintf(stderr, "facteur-ctl: unexpected answer from facteur-smtpd\n");
			status = 1;
			break;
		}
	}
	close(fd);
	return status;
}

int
main(int argc, char **argv)
{
	const char *path = CONF_DEFAULT_PATH;
	struct conf *c;
	struct ipc_out o;
	char sock[4096];
	uint32_t type, status;
	int ch;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			usage();
		path = optarg;
	}
	argc -= optind;
	argv += optind;
	ipc_out_init(&o);
	if (argc == 1 && strcmp(argv[0], "status") == 0)
		type = CTL_STATUS;
	else if (argc == 2 && strcmp(argv[0], "queue") == 0 && strcmp(argv[1], "list") == 0)
		type = CTL_LIST;
	else if (argc == 2 && strcmp(argv[0], "queue") == 0 && strcmp(argv[1], "flush") == 0)
		type = CTL_FLUSH;
	else if (argc == 3 && strcmp(argv[0], "queue") == 0 && strcmp(argv[1], "remove") == 0) {
		if (!queue_id_valid(argv[2])) {
			fprintf(stderr, "facteur-ctl: %s: not a queue id (16 hex digits, "
			    "as shown by queue list)\n", argv[2]);
			return 1;
		}
		type = CTL_REMOVE;
		ipc_put_str(&o, argv[2]);
	} else
		usage();
	log_init("facteur-ctl", true, false);
	c = conf_load_or_die(path);
	if (!bsnprintf(sock, sizeof(sock), "%s/%s", c->run_dir, CTL_SOCKET))
		fatalx("run_dir too long");
	status = talk(sock, type, &o);
	conf_free(&c);
	return status == 0 ? 0 : 1;
}
