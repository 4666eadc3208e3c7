# SPDX-License-Identifier: ISC
# tests/submission.mk - mail submission (issue 3): the unit test and the
# libFuzzer target of smtpd/smtp_auth.c (base64 and PLAIN decoding of
# AUTH responses).  The end-to-end proof is
# tests/integration/test_submission.py.  Included by the Makefile through
# `-include tests/*.mk`; appends only.

UNIT_TESTS	+= smtp_auth_test
smtp_auth_test_DEPS	= smtpd/smtp_auth.c

FUZZ_TARGETS	+= fuzz_smtp_auth
fuzz_smtp_auth_DEPS	= smtpd/smtp_auth.c
