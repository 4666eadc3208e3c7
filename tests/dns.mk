# SPDX-License-Identifier: ISC
# tests/dns.mk - lib/dns (asynchronous DNS on c-ares and lib/ev, with a
# TTL cache and a pluggable backend) and its unit test.  Included by the
# Makefile through `-include tests/*.mk`; appends only.

LIB_SRCS	+= lib/dns.c lib/dns_answer.c lib/dns_cache.c lib/dns_wait.c
UNIT_TESTS	+= dns_test
FUZZ_TARGETS	+= fuzz_dns_answer
