# SPDX-License-Identifier: ISC
# tests/relay.mk - the relay role of facteur-smtpd (smtpd/relay*.c): the
# unit test of its reply parser and message encoder, the libFuzzer target
# for SMTP replies, and relay_drive, a stand-in for the queue role used by
# tests/integration/test_relay.py (built with `all` into $(B)/test/, like
# dkim_sign_tool).  Included by the Makefile through `-include tests/*.mk`;
# appends only.

RELAY_SRCS	 = $(sort $(wildcard smtpd/relay*.c))

UNIT_TESTS	+= relay_test
relay_test_DEPS	 = smtpd/relay_reply.c smtpd/relay_data.c smtpd/relay_dns.c

FUZZ_TARGETS	+= fuzz_smtp_reply
fuzz_smtp_reply_DEPS = smtpd/relay_reply.c smtpd/relay_data.c

all: $(B)/test/relay_drive
$(B)/test/relay_drive: $(B)/obj/tests/unit/relay_drive.o \
    $(RELAY_SRCS:%.c=$(B)/obj/%.o) $(B)/libfacteur.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
