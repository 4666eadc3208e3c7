# SPDX-License-Identifier: ISC
# facteur - the one build entry point (SPEC 2, STYLE 13).
#
#   make                 build/bin/facteur-*           (default profile)
#   make SAN=1           build-san/bin/facteur-*       (ASan + UBSan, used by make check)
#   make PROFILE=tiny    -Os, gc-sections, LTO, stripped (NOSTRIP=1: not stripped)
#   make check           deps, both builds, unit, golden, fuzz and integration tests
#   make run             deps, build, a demo setup under ./run/, daemons in the foreground
#
# Non-recursive: each directory's module.mk appends its sources to the
# variables below; lib/ becomes one static archive.

PROFILE	?= default
CROSS	?=
SAN	?=
CC	 = $(CROSS)gcc
AR	 = $(CROSS)ar
PKG_CONFIG ?= pkg-config
include init/module.mk

ifeq ($(SAN),1)
B	?= build-san
else ifeq ($(PROFILE),tiny)
B	?= build-tiny
else
B	?= build
endif

WARN	 = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wmissing-prototypes \
	   -Wno-unused-parameter
CPPFLAGS += -D_DEFAULT_SOURCE -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. -Ilib -Iconf -Istore
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 $(WARN) -MMD -MP
ifeq ($(PROFILE),tiny)
CFLAGS	:= $(filter-out -O2 -g,$(CFLAGS)) -Os -ffunction-sections -fdata-sections -flto
LDFLAGS	+= -Wl,--gc-sections -flto -ffunction-sections $(if $(NOSTRIP),,-s)
endif
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
endif

PKGS	 = openssl libcares libsasl2
LIBS	 = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lcares -lsasl2) -ldb

BINS	 =
LIB_SRCS =
UNIT_TESTS =
FUZZ_TARGETS =

all:

include lib/module.mk
include conf/module.mk
include authd/module.mk
include smtpd/module.mk
include store/module.mk
include imapd/module.mk
include keytool/module.mk
include tests/module.mk
-include $(filter-out tests/module.mk,$(wildcard tests/*.mk))

LIB_OBJS = $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIBA	 = $(B)/libfacteur.a

all: $(BINS:%=$(B)/bin/%)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $(filter $(LIB_OBJS),$^)

# one rule per program: $(prog)_SRCS lists its own sources
define PROG_RULE
$(B)/bin/$(1): $$($(1)_SRCS:%.c=$(B)/obj/%.o) $(LIBA)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach p,$(BINS),$(eval $(call $(if $(MULTICALL),MULTI_RULE,PROG_RULE),$(p))))

# unit tests: tests/unit/NAME.c linked with the library and whatever
# $(NAME)_DEPS lists (program sources that are not in lib/)
define UNIT_RULE
$(B)/test/$(1): $(B)/obj/tests/unit/$(1).o $$($(1)_DEPS:%.c=$(B)/obj/%.o) $(LIBA)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_RULE,$(t))))

units: $(UNIT_TESTS:%=$(B)/test/%)

clean:
	rm -rf build build-san build-tiny build-fuzz

-include $(shell find $(B)/obj $(B)/multi -name '*.d' 2>/dev/null)

.PHONY: all units clean check run deps install
