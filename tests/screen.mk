# SPDX-License-Identifier: ISC
# tests/screen.mk - the front door of port 25 (issue 11): lib/dnsbl (the
# postscreen site syntax, its matching and query names) with its unit
# test and fuzz target.  The smtp role's screening (smtpd/screen*.c) is
# tested by tests/integration/test_screen.py.  Included by the Makefile
# through `-include tests/*.mk`; appends only.

LIB_SRCS	+= lib/dnsbl.c
UNIT_TESTS	+= dnsbl_test
FUZZ_TARGETS	+= fuzz_dnsbl
