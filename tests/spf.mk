# SPDX-License-Identifier: ISC
# tests/spf.mk - SPF (RFC 7208, lib/spf*.c): its unit test, its fuzz
# target (record and macro parser), and spf_zone, which runs checks
# against zone tables through lib/dns's backend (built with `all` into
# $(B)/test/ for tests/integration/test_spf_suite.py and
# test_spf_crosscheck.py).  Included by the Makefile through
# `-include tests/*.mk`; appends only.

LIB_SRCS	+= lib/spf.c lib/spf_parse.c lib/spf_macro.c
UNIT_TESTS	+= spf_test
FUZZ_TARGETS	+= fuzz_spf

all: $(B)/test/spf_zone
$(B)/test/spf_zone: $(B)/obj/tests/unit/spf_zone.o $(B)/libfacteur.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
