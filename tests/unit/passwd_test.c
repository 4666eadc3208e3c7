/* SPDX-License-Identifier: ISC */
/*
 * passwd_test.c - lib/passwd.c: round trip, malformed stored strings,
 * rehash decisions, and a speed figure (hashes/s) printed for the report.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "passwd.h"
#include "t.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* strings that must never verify, whatever the password */
static const char *const bad[] = {
	"",
	"secret",
	"$scrypt$",
	"$scrypt$ln=14,r=8,p=1$",
	"$scrypt$ln=14,r=8,p=1$c2FsdHNhbHQ$",
	"$scrypt$ln=14,r=8$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$scrypt$ln=14,r=8,p=1,x=2$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$scrypt$ln=014,r=8,p=1$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$scrypt$ln=-1,r=8,p=1$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$scrypt$ln=14,r=8,p=1$c2Fs dHNhbHQ$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$scrypt$ln=14,r=8,p=1$c2FsdHNhbHRzYWx0==$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$scrypt$ln=14,r=8,p=1$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgF",
	"$md5$x$y$z",
	"$pbkdf2-sha256$i=10$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE",
	"$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0$qQTfHUvL7bUwR9yHIjS1bUPrH1dS6jTnq3M3D1yQJgE$",
};

int
main(void)
{
	char h1[PASSWD_HASH_MAX], h2[PASSWD_HASH_MAX], small[40];
	double t0, dt;
	size_t i;
	int n;

	CHECK(passwd_hash("correct horse", 13, h1, sizeof(h1)) == 0);
	CHECK(strncmp(h1, "$scrypt$ln=14,r=8,p=1$", 22) == 0);
	CHECK(passwd_valid(h1));
	CHECK(passwd_verify("correct horse", 13, h1));
	CHECK(!passwd_verify("correct hors", 12, h1));
	CHECK(!passwd_verify("correct horsf", 13, h1));
	CHECK(!passwd_verify("", 0, h1));
	CHECK(!passwd_needs_rehash(h1));
	/* same password, fresh salt: different strings */
	CHECK(passwd_hash("correct horse", 13, h2, sizeof(h2)) == 0);
	CHECK(strcmp(h1, h2) != 0);
	/* NUL inside a password is part of it */
	CHECK(passwd_hash("a\0b", 3, h2, sizeof(h2)) == 0);
	CHECK(passwd_verify("a\0b", 3, h2));
	CHECK(!passwd_verify("a", 1, h2));
	CHECK(passwd_hash("x", 1, small, sizeof(small)) == -1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (passwd_verify("secret", 6, bad[i]) || passwd_valid(bad[i]))
			fprintf(stderr, "accepted bad[%zu] %s\n", i, bad[i]);
		CHECK(!passwd_valid(bad[i]));
		CHECK(passwd_needs_rehash(bad[i]));
	}

	/* RFC 7914 section 12 vector 2, in PHC form (N=1024 r=8 p=16) */
	CHECK(passwd_verify("password", 8,
	    "$scrypt$ln=10,r=8,p=16$TmFDbA$"
	    "/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA"));
	/* an older, cheaper scrypt still verifies but wants a rehash */
	CHECK(passwd_needs_rehash("$scrypt$ln=10,r=8,p=16$TmFDbA$"
	    "/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA"));
	/* PBKDF2-HMAC-SHA256, RFC 7914 section 11 vector 1 (c=1 is below our floor) */
	CHECK(!passwd_valid("$pbkdf2-sha256$i=1$c2FsdA$"
	    "VfuK0VJb4GvrKYCu5sHRdwp6hb0ONQatKLHMvmHEYl0"));
	/* PBKDF2 at 1000 iterations, value computed with python hashlib */
	CHECK(passwd_verify("password", 8, "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$"
	    "E196ZhRPzw+wA84EjzHwJO1cv/MFJdO6C/sxmUeTYqY"));
	CHECK(passwd_needs_rehash("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$"
	    "E196ZhRPzw+wA84EjzHwJO1cv/MFJdO6C/sxmUeTYqY"));

	/* the dummy check costs about as much as a real one */
	t0 = now_s();
	for (n = 0; n < 5; n++)
		passwd_verify_dummy("guess", 5);
	dt = now_s() - t0;
	t0 = now_s();
	for (n = 0; n < 5; n++)
		(void)passwd_verify("guess", 5, h1);
	CHECK(dt > 0.5 * (now_s() - t0));

	t0 = now_s();
	for (n = 0; n < 20; n++)
		(void)passwd_verify("correct horse", 13, h1);
	dt = now_s() - t0;
	printf("passwd: scrypt ln=14 r=8 p=1: %.1f verifications/s (%.1f ms each)\n",
	    n / dt, 1000 * dt / n);
	return T_DONE();
}
