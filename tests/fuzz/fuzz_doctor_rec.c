/* SPDX-License-Identifier: ISC */
/*
 * fuzz_doctor_rec.c - libFuzzer target for the doctor's reading and
 * editing of TXT records from DNS (keytool/doctor_rec.c).  The input, cut
 * at its first NUL (DNS strings reach the doctor as C strings), is an SPF
 * record to insert a term into and to drop includes from (every other
 * include is kept), and a DKIM record whose p= and k= tags are read and
 * compared with a fixed key.  Invariants: every output is NUL-terminated
 * within its buffer; an insert that fits holds the term and every byte of
 * the record; a drop never grows the record.
 * Seeds: tests/fuzz/corpus/fuzz_doctor_rec/.
 */
#include <stdlib.h>
#include <string.h>

#include "keytool/doctor.h"
#include "tests/fuzz/fuzz.h"

#define OUT	512

static bool
keep_odd(void *arg, const char *domain)
{
	unsigned *n = arg;

	(void)domain;
	return (*n)++ % 2 == 0;
}

static void
check_out(const char *out)
{
	if (memchr(out, '\0', OUT) == NULL)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char want[] = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";
	char *rec = malloc(size + 1), out[OUT], small[8];
	unsigned n = 0;
	size_t len;

	if (rec == NULL)
		return 0;
	memcpy(rec, data, size);
	rec[size] = '\0';
	len = strlen(rec);

	doctor_spf_insert(rec, "a:mail.example.org", out, sizeof(out));
	check_out(out);
	if (len + 20 < sizeof(out) && (strstr(out, "a:mail.example.org") ==
	    NULL || strlen(out) != len + 19))
		__builtin_trap();
	doctor_spf_insert(rec, "mx", small, sizeof(small));
	if (memchr(small, '\0', sizeof(small)) == NULL)
		__builtin_trap();

	doctor_spf_drop(rec, keep_odd, &n, out, sizeof(out));
	check_out(out);
	if (strlen(out) > (len > 6 ? len : 6))
		__builtin_trap();

	if (doctor_tag_value(rec, "p", out, sizeof(out))) {
		check_out(out);
		(void)doctor_dkim_mangled(rec, out, want);
	}
	if (doctor_tag_value(rec, "k", small, sizeof(small)) &&
	    memchr(small, '\0', sizeof(small)) == NULL)
		__builtin_trap();
	(void)doctor_dkim_mangled(rec, "", want);
	free(rec);
	return 0;
}
