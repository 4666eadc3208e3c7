# SPDX-License-Identifier: ISC
# tests/doctor.mk - `facteur-keytool doctor` (keytool/doctor*.c): the
# libFuzzer target of its TXT record reading and editing
# (keytool/doctor_rec.c); the command itself is tested by
# tests/integration/test_doctor.py.  Included by the Makefile through
# `-include tests/*.mk`; appends only.

FUZZ_TARGETS		+= fuzz_doctor_rec
fuzz_doctor_rec_DEPS	 = keytool/doctor_rec.c
