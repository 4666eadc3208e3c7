# SPDX-License-Identifier: ISC
# tests/dkim.mk - DKIM: lib/dkim.c, its unit test and fuzz target, authd's
# signing operation, keytool's dkim/dns/tls/doctor commands, and
# dkim_sign_tool (a test CLI used by tests/integration/test_dkim_sign.py).
# Included by the Makefile through `-include tests/*.mk`; appends only.

LIB_SRCS	+= lib/dkim.c
UNIT_TESTS	+= dkim_test
facteur-authd_SRCS	+= authd/authd_dkim.c authd/authd_dkim_key.c

# dkim_sign_tool: sign/verify helper and benchmark, not a unit test (needs
# arguments), built with `all` so integration tests find it in $(B)/test/.
all: $(B)/test/dkim_sign_tool
$(B)/test/dkim_sign_tool: $(B)/obj/tests/unit/dkim_sign_tool.o \
    $(B)/obj/authd/authd_dkim.o $(B)/obj/authd/authd_dkim_key.o \
    $(B)/libfacteur.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# fuzz target (built by the pattern rule in tests/module.mk)
FUZZ_TARGETS	+= fuzz_dkim_header
