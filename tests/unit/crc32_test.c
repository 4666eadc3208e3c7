/* SPDX-License-Identifier: ISC */
/* crc32_test - lib/crc32.c gives zlib's values, in one call or in pieces */
#include <stdint.h>
#include <string.h>

#include "crc32.h"
#include "t.h"

int
main(void)
{
	char big[10007];
	uint32_t whole, c;
	size_t i, step;

	CHECK(crc32_update(0, "", 0) == 0);
	CHECK(crc32_update(0, "123456789", 9) == 0xCBF43926U);
	CHECK(crc32_update(0, "The quick brown fox jumps over the lazy dog",
	    43) == 0x414FA339U);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 13);
	whole = crc32_update(0, big, sizeof(big));
	for (step = 1; step < 40; step += 3) {
		c = 0;
		for (i = 0; i < sizeof(big); i += step)
			c = crc32_update(c, big + i, sizeof(big) - i < step ?
			    sizeof(big) - i : step);
		CHECK(c == whole);
	}
	big[5000] ^= 1;
	CHECK(crc32_update(0, big, sizeof(big)) != whole);
	return T_DONE();
}
