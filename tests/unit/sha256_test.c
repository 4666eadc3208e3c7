/* SPDX-License-Identifier: ISC */
/*
 * sha256_test.c - lib/sha256.c: the FIPS 180-2 appendix B examples, RFC
 * 4231's HMAC-SHA256 test cases 1-4, 6 and 7 (short, long and hashed
 * keys), then OpenSSL's answers for every length up to five blocks, fed
 * whole and in uneven pieces; rand_bytes and ct_equal.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sha256.h"
#include "t.h"

static void
hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void
test_vectors(void)
{
	uint8_t d[SHA256_LEN], key[131], data[50];
	char h[2 * SHA256_LEN + 1];
	struct sha256 s;
	int i;

	sha256("abc", 3, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	sha256("", 0, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	sha256_init(&s);
	memset(data, 'a', sizeof(data));
	for (i = 0; i < 20000; i++)	/* a million 'a' */
		sha256_update(&s, data, sizeof(data));
	sha256_final(&s, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");

	/* RFC 4231 4.2: 20 bytes 0x0b, "Hi There" */
	memset(key, 0x0b, 20);
	hmac_sha256(key, 20, "Hi There", 8, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
	/* 4.3 */
	hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	/* 4.4: 20 x 0xaa, 50 x 0xdd */
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	hmac_sha256(key, 20, data, 50, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe");
	/* 4.5: 0x01..0x19, 50 x 0xcd */
	for (i = 0; i < 25; i++)
		key[i] = (uint8_t)(i + 1);
	memset(data, 0xcd, 50);
	hmac_sha256(key, 25, data, 50, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b");
	/* 4.7 and 4.8: a 131-byte key (hashed first) */
	memset(key, 0xaa, 131);
	hmac_sha256(key, 131, "Test Using Larger Than Block-Size Key - "
	    "Hash Key First", 54, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54");
	hmac_sha256(key, 131, "This is a test using a larger than "
	    "block-size key and a larger than block-size data. The key "
	    "needs to be hashed before being used by the HMAC algorithm.",
	    152, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2");
}

/* every length up to five blocks, whole and in pieces of 1, 7, 63, 64 */
static void
test_against_openssl(void)
{
	static const size_t steps[] = { 1, 7, 63, 64 };
	uint8_t buf[5 * SHA256_BLOCK + 1], want[SHA256_LEN], got[SHA256_LEN];
	unsigned wl;
	size_t n, i, k, bad = 0;
	struct sha256 s;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (n = 0; n <= sizeof(buf); n++) {
		if (EVP_Digest(buf, n, want, &wl, EVP_sha256(), NULL) != 1)
			bad++;
		sha256(buf, n, got);
		bad += memcmp(want, got, sizeof(got)) != 0;
		for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			sha256_init(&s);
			for (i = 0; i < n; i += steps[k])
				sha256_update(&s, buf + i,
				    n - i < steps[k] ? n - i : steps[k]);
			sha256_final(&s, got);
			bad += memcmp(want, got, sizeof(got)) != 0;
		}
		/* the message as the key too: short, block-sized, long keys */
		if (HMAC(EVP_sha256(), buf, (int)n, buf, n, want, &wl) == NULL)
			bad++;
		hmac_sha256(buf, n, buf, n, got);
		bad += memcmp(want, got, sizeof(got)) != 0;
	}
	CHECK(bad == 0);
}

static void
test_misc(void)
{
	uint8_t a[64], b[64];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	CHECK(rand_bytes(a, sizeof(a)) == 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);	/* 2^-512 */
	CHECK(rand_bytes(b, 0) == 0);
	memcpy(b, a, sizeof(b));
	CHECK(ct_equal(a, b, sizeof(a)));
	CHECK(ct_equal(a, b, 0));
	b[63] ^= 1;
	CHECK(!ct_equal(a, b, sizeof(a)));
	CHECK(ct_equal(a, b, 63));
	b[63] ^= 1;
	b[0] ^= 0x80;
	CHECK(!ct_equal(a, b, sizeof(a)));
}

int
main(void)
{
	test_vectors();
	test_against_openssl();
	test_misc();
	return T_DONE();
}
