# SPDX-License-Identifier: ISC
# tests/dkim.mk - DKIM: lib/dkim.c, its unit test and fuzz target, authd's
# signing operation, keytool's dkim/dns/tls/doctor commands, and
# dkim_sign_tool (a test CLI used by tests/integration/test_dkim_sign.py).
# Included by the Makefile through `-include tests/*.mk`; appends only.

LIB_SRCS	+= lib/dkim.c
UNIT_TESTS	+= dkim_test
