/* SPDX-License-Identifier: ISC */
/*
 * fuzz_authd.c - libFuzzer target for facteur-authd's request decoder
 * (authd/authd_proto.c): the input is a frame as a peer would send it,
 * a struct ipc_hdr then the payload; whatever the decoder accepts must
 * point inside the payload and respect the field limits.
 */
#include <stdlib.h>
#include <string.h>

#include "authd/authd.h"
#include "fuzz.h"

static void
check_str(const char *s, const uint8_t *p, size_t n, size_t max)
{
	size_t len;

	if (s == NULL)
		return;
	if ((const uint8_t *)s < p || (const uint8_t *)s >= p + n)
		abort();
	len = strlen(s);
	if ((const uint8_t *)s + len >= p + n + 1 || len > max)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg m;
	struct authd_req r;
	uint8_t *p;

	if (size < sizeof(m.hdr))
		return 0;
	memset(&m, 0, sizeof(m));
	memcpy(&m.hdr, data, sizeof(m.hdr));
	size -= sizeof(m.hdr);
	if (size > IPC_MAX_PAYLOAD)
		size = IPC_MAX_PAYLOAD;
	/* ipc.c has checked the length against the bytes received */
	m.hdr.len = (uint32_t)size;
	m.hdr.type %= 10;
	/* a copy of exactly `size` bytes, so ASan sees any overread */
	if ((p = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(p, data + sizeof(m.hdr), size);
	m.p = p;
	m.fd = -1;
	if (authd_req_decode(&m, &r) == NULL) {
		check_str(r.address, p, size, USERDB_ADDR_MAX);
		check_str(r.service, p, size, AUTHD_SERVICE_MAX);
		check_str(r.user, p, size, USERDB_ADDR_MAX);
		check_str(r.password, p, size, AUTHD_PASSWORD_MAX);
		check_str(r.ip, p, size, AUTHD_IP_MAX);
		check_str(r.domain, p, size, USERDB_ADDR_MAX);
		check_str(r.selector, p, size, 63);
		if (r.type == AUTHD_DKIM_SIGN && (r.digest == NULL ||
		    r.digest < p || r.digest + 32 > p + size))
			abort();
		if ((r.type == AUTHD_DKIM_SIGN || r.type == AUTHD_RELEASE) &&
		    (r.grant == NULL || r.grant < p ||
		    r.grant + AUTHD_GRANT_LEN > p + size))
			abort();
		if (r.fd != -1)
			abort();
		if (m.pos != size)
			abort();
	}
	free(p);
	return 0;
}
