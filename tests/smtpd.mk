# SPDX-License-Identifier: ISC
# tests/smtpd.mk - unit tests and fuzz targets for the pure parsers of
# facteur-smtpd: smtp_cmd (command lines, paths, parameters), smtp_data
# (the DATA stream), queue_file (the queue file trailer) and authres
# (Authentication-Results: our header, the filter of forged ones).  They link the
# parsers only ($(SMTPD_PARSERS) from smtpd/module.mk), not the daemon.
# Included by the Makefile through `-include tests/*.mk`; appends only.

UNIT_TESTS	+= smtp_cmd_test smtp_data_test queue_file_test authres_test
authres_test_DEPS	= $(SMTPD_PARSERS)
smtp_cmd_test_DEPS	= $(SMTPD_PARSERS)
smtp_data_test_DEPS	= $(SMTPD_PARSERS)
queue_file_test_DEPS	= $(SMTPD_PARSERS)

# fuzz targets (built by the pattern rule in tests/module.mk)
FUZZ_TARGETS	+= fuzz_smtp_cmd fuzz_smtp_data fuzz_queue_file fuzz_authres
fuzz_authres_DEPS	= $(SMTPD_PARSERS)
fuzz_smtp_cmd_DEPS	= $(SMTPD_PARSERS)
fuzz_smtp_data_DEPS	= $(SMTPD_PARSERS)
fuzz_queue_file_DEPS	= $(SMTPD_PARSERS)

# the milter protocol (smtpd/milter_proto.c): replies of milters
FUZZ_TARGETS	+= fuzz_milter
fuzz_milter_DEPS	= $(SMTPD_PARSERS)

# the session state machine (smtpd/smtp_session*.c) over a socketpair,
# with a fake queue and a fake authd (tests/fuzz/fuzz_smtp_session.c)
FUZZ_TARGETS	+= fuzz_smtp_session
fuzz_smtp_session_DEPS	= smtpd/smtp_session.c smtpd/smtp_session_data.c \
		   smtpd/smtp_session_auth.c smtpd/smtp_session_dkim.c \
		   smtpd/smtp_session_inbound.c smtpd/smtp_local.c \
		   smtpd/smtp_session_grey.c smtpd/greylist.c \
		   smtpd/milter.c smtpd/screen.c smtpd/screen_helo.c \
		   $(SMTPD_PARSERS) tests/fuzz/fuzz_feed.c
