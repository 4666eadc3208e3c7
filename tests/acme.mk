# SPDX-License-Identifier: ISC
# tests/acme.mk - facteur-keytool's ACME client (keytool/acme*.c): the
# libFuzzer target for what an ACME server (and a CA fetching a
# challenge) sends: JSON, HTTP/1.1 responses, HTTP-01 request lines.
# The client itself is proved against pebble by
# tests/integration/test_acme.py.  Included by the Makefile through
# `-include tests/*.mk`; appends only.

FUZZ_TARGETS	+= fuzz_acme
fuzz_acme_DEPS	 = keytool/acme_json.c keytool/acme_httpp.c

UNIT_TESTS	+= acme_test
acme_test_DEPS	 = keytool/acme_json.c keytool/acme_httpp.c keytool/acme_chal.c
