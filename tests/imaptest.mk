# SPDX-License-Identifier: ISC
# tests/imaptest.mk - Dovecot's imaptest, the IMAP compliance tester that
# tests/integration/test_imaptest.py runs against facteur-imapd, built from
# the sources vendored in tests/conformance/imaptest/ (README there) into
# $(B)/imaptest/imaptest: `make B=build-san imaptest` (make check does it).
#
# It links against Debian's libdovecot (dovecot-dev, tests/deps.sh), whose
# dovecot-config says how: its headers in one directory (config.h among
# them, hence -DHAVE_CONFIG_H) and -ldovecot in /usr/lib/dovecot, found at
# run time through the rpath.  No autotools: that is all their configure
# step finds out, and it costs half a minute where compiling the 19 files
# costs a few seconds.  Compiled with its own flags, not facteur's (its
# code is not ours to hold to -Werror, and the tester needs no sanitizer);
# not part of `all`, so cross and static builds never need libdovecot.
# Included by the Makefile through `-include tests/*.mk`; appends only.

DOVECOT_LIBDIR	?= /usr/lib/dovecot
DOVECOT_INCDIR	?= /usr/include/dovecot
IMAPTEST_SRC	 = tests/conformance/imaptest/imaptest/src
IMAPTEST_OBJS	 = $(patsubst $(IMAPTEST_SRC)/%.c,$(B)/imaptest/%.o,\
		   $(wildcard $(IMAPTEST_SRC)/*.c))

imaptest: $(B)/imaptest/imaptest

$(B)/imaptest/imaptest: $(IMAPTEST_OBJS)
	$(CC) -o $@ $^ -L$(DOVECOT_LIBDIR) -Wl,-rpath,$(DOVECOT_LIBDIR) \
	    -ldovecot -lm

$(B)/imaptest/%.o: $(IMAPTEST_SRC)/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu99 -O1 -w -MMD -MP -DHAVE_CONFIG_H -I$(DOVECOT_INCDIR) \
	    -c -o $@ $<

-include $(wildcard $(B)/imaptest/*.d)

.PHONY: imaptest
