# SPDX-License-Identifier: ISC
# tests/lib.mk - unit tests of lib/ modules that need no program sources
# and are not registered elsewhere: conn (plain and TLS on the event loop)
# and ipc (framing, bounded output).  Included by the Makefile through
# `-include tests/*.mk`; appends only.

UNIT_TESTS	+= conn_test ipc_test
# maildir: the listing crash recovery uses (lib/maildir.c)
UNIT_TESTS	+= maildir_test
# climit: connection counts and rates per client (lib/climit.c)
UNIT_TESTS	+= climit_test
# pwlookup: account lookups in a child, no NSS module in the caller
# (lib/pwlookup.c, issue 17)
UNIT_TESTS	+= pwlookup_test
# rcpt_cache: authd's RCPT answers kept in smtpd (lib/rcpt_cache.c, issue 17)
UNIT_TESTS	+= rcpt_cache_test
# fsyncv: fsyncs at once, background unlink and recycle (lib/fsyncv.c)
UNIT_TESTS	+= fsyncv_test
# cidr: address-in-network matching for [smtp] trusted (lib/cidr.c)
UNIT_TESTS	+= cidr_test
# crc32: the queue file footer's checksum (lib/crc32.c)
UNIT_TESTS	+= crc32_test
