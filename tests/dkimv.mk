# SPDX-License-Identifier: ISC
# tests/dkimv.mk - DKIM verification (lib/dkim_verify*.c, lib/taglist.c),
# the Public Suffix List and DMARC (lib/psl.c, lib/dmarc*.c): their unit
# tests, fuzz targets and dkim_verify_tool (a test CLI used by
# tests/integration/test_dkim_verify.py).  Included by the Makefile
# through `-include tests/*.mk`; appends only.

LIB_SRCS	+= lib/taglist.c lib/dkim_vparse.c lib/dkim_verify.c lib/dkim_verify_dns.c
UNIT_TESTS	+= dkim_verify_test

# dkim_verify_tool: verify a message with keys from a file; built with
# `all` so the integration test finds it in $(B)/test/.
all: $(B)/test/dkim_verify_tool
$(B)/test/dkim_verify_tool: $(B)/obj/tests/unit/dkim_verify_tool.o $(B)/libfacteur.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

FUZZ_TARGETS	+= fuzz_dkim_verify

# the Public Suffix List and DMARC
LIB_SRCS	+= lib/psl.c lib/dmarc.c lib/dmarc_dns.c
UNIT_TESTS	+= psl_test dmarc_test
FUZZ_TARGETS	+= fuzz_dmarc

# dmarc_tool: DMARC checks against a zone file, for test_dmarc.py
all: $(B)/test/dmarc_tool
$(B)/test/dmarc_tool: $(B)/obj/tests/unit/dmarc_tool.o $(B)/libfacteur.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
