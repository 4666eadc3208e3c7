/* SPDX-License-Identifier: ISC */
/*
 * base64.c - base64 decoding, strict and lenient (see base64.h).
 */
#include <stdbool.h>

#include "base64.h"

int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int
base64_decode(const char *in, size_t n, void *outp, size_t outsz, size_t *outlen)
{
	unsigned char *out = outp;
	size_t i, o = 0, pad = 0;

	*outlen = 0;
	if (n == 0)
		return 0;
	if (n % 4 != 0)
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	if (n / 4 * 3 - pad > outsz)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], k;
		bool last = i + 4 == n;

		for (k = 0; k < 4; k++) {
			if (last && k >= 4 - (int)pad) {
				v[k] = 0;
				continue;
			}
			if ((v[k] = base64_value((unsigned char)in[i + (size_t)k])) < 0)
				return -1;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (!last || pad < 2)
			out[o++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (!last || pad < 1)
			out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	*outlen = o;
	return 0;
}

size_t
base64_decode_lenient(const char *in, size_t n, void *outp)
{
	unsigned char *out = outp;
	unsigned acc = 0;
	int bits = 0, v;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if ((v = base64_value((unsigned char)in[i])) < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(acc >> bits);
		}
	}
	return k;
}
