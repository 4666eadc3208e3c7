# SPDX-License-Identifier: ISC
# tests/greylist.mk - unit test of smtpd/greylist.c (the greylisting
# database and its rules, with a clock given by the test).
# Included by the Makefile through `-include tests/*.mk`; appends only.

UNIT_TESTS		+= greylist_test
greylist_test_DEPS	 = smtpd/greylist.c
