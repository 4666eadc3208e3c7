# SPDX-License-Identifier: ISC
# init/module.mk - putting facteur on a box: cross builds for armhf and
# arm64 against a sysroot of Debian's packages, fully static builds, and
# `make install` (README "Installing on a box").  Included by the Makefile
# before the build directory is chosen, so it may choose it.
#
#   make sysroot CROSS=arm-linux-gnueabihf-     build-sysroot/armhf (init/sysroot.sh)
#   make CROSS=arm-linux-gnueabihf- [PROFILE=tiny] [STATIC=1]
#                                 build-armhf[-tiny][-static]/bin/facteur*
#   make CROSS=aarch64-linux-gnu- ...           build-arm64...
#   make MULTICALL=1 ...          one bin/facteur, facteur-* links (STATIC=1: default)
#   make musl-deps                OpenSSL, c-ares, DB, libsasl2 for musl, once
#                                 (init/musl-deps.sh, into $(MUSL_DEPS): by
#                                 default a cache shared by every checkout)
#   make STATIC=1 LIBC=musl [PROFILE=tiny]   build-musl[-tiny]-static/, with
#                                 Debian's musl-gcc against those libraries
#   make musl-deps CROSS=...; make STATIC=1 LIBC=musl CROSS=...
#                                 build-armhf-musl[-tiny]-static/ (arm64 too)
#   make install [DESTDIR=] [PREFIX=/usr/local] [SYSCONFDIR=] [SBINDIR=]
#                [INIT="systemd sysv"|openwrt|synology]
#
# STATIC=1 links everything, glibc included, from Debian's .a files:
# lib/static_glue.c gives getpwnam() and friends without NSS and stubs for the
# libsasl2.a plugins facteur does not use, so the binaries neither dlopen
# nor need NSS modules at run time (OpenWrt's musl, old NAS glibc).

STATIC	?=
# Default for STATIC=1, where it matters most: each static program
# carries its own libcrypto (sizes: README "Installing on a box").
MULTICALL ?= $(STATIC)
# build directory suffix: -tiny, -static, and how the programs are linked
# when that is not the default for the build (-multi, -separate)
B_SUFFIX = $(if $(filter tiny,$(PROFILE)),-tiny)$(if $(STATIC),-static)$(if \
	   $(STATIC),$(if $(MULTICALL),,-separate),$(if $(MULTICALL),-multi))

all:		# the default goal stays the Makefile's

# LIBC=musl: static only; x86_64 with Debian's musl-gcc, armhf and arm64
# with Debian's glibc cross compilers run on Debian's musl-dev:ARCH
# (init/musl-deps.sh puts a musl-gcc for them in the libraries' directory)
LIBC	?=
ifneq ($(CROSS),)
CROSS_TRIPLET	:= $(patsubst %-,%,$(CROSS))
CROSS_ARCH	:= $(if $(findstring aarch64,$(CROSS)),arm64,$(if $(findstring arm-,$(CROSS)),armhf,))
ifeq ($(CROSS_ARCH),)
$(error CROSS=$(CROSS): expected arm-linux-gnueabihf- or aarch64-linux-gnu-)
endif
endif
# The musl libraries take long to build (README): by default they go to a
# cache outside the tree, ~/.cache/facteur/musl-deps ($XDG_CACHE_HOME),
# that every checkout and clean CI run of this account reuses; a tree that
# has its own build-musl-deps/ (built there before) keeps using it, and
# without a home directory they go there.  One directory per architecture:
# MUSL_DEPS (x86_64), MUSL_DEPS_armhf, MUSL_DEPS_arm64 (musl-deps-armhf ...).
MUSL_CACHE = $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(if $(HOME),$(HOME)/.cache))
MUSL_DIR = $(if $(wildcard $(CURDIR)/build-$(1)/.done),$(CURDIR)/build-$(1),$(if \
	     $(MUSL_CACHE),$(MUSL_CACHE)/facteur/$(1),$(CURDIR)/build-$(1)))
MUSL_DEPS ?= $(call MUSL_DIR,musl-deps)
MUSL_DEPS_armhf ?= $(call MUSL_DIR,musl-deps-armhf)
MUSL_DEPS_arm64 ?= $(call MUSL_DIR,musl-deps-arm64)
# the one for this build
MUSL_D	 = $(if $(CROSS),$(MUSL_DEPS_$(CROSS_ARCH)),$(MUSL_DEPS))
ifeq ($(LIBC),musl)
ifeq ($(STATIC),)
$(error LIBC=musl needs STATIC=1: a musl build is for boxes without our libraries)
endif
ifeq ($(filter musl-deps,$(MAKECMDGOALS))$(wildcard $(MUSL_D)/.done),)
$(error LIBC=musl: no libraries in $(MUSL_D): run `make musl-deps$(if $(CROSS), CROSS=$(CROSS))` first)
endif
CC	 = $(if $(CROSS),$(MUSL_D)/bin/musl-gcc,musl-gcc)
# musl has no <sys/queue.h> nor the kernel's headers (<linux/io_uring.h>):
# musl-deps.sh puts them there too
CPPFLAGS += -isystem $(MUSL_D)/include
LDFLAGS	+= -L$(MUSL_D)/lib
PKG_CONFIG = PKG_CONFIG_LIBDIR=$(MUSL_D)/lib/pkgconfig pkg-config
B	?= build$(if $(CROSS),-$(CROSS_ARCH))-musl$(B_SUFFIX)
else ifneq ($(LIBC),)
$(error LIBC=$(LIBC): expected musl, or nothing for the system's glibc)
endif

musl-deps:
	@sh init/musl-deps.sh $(MUSL_D) $(or $(CROSS_ARCH),x86_64)

ifneq ($(CROSS),)
ifeq ($(SAN),1)
$(error SAN=1 is for native builds: sanitizers do not run under qemu-user)
endif
SYSROOT	?= $(CURDIR)/build-sysroot/$(CROSS_ARCH)
# `make check` runs the binaries with $(QEMU) -L $(SYSROOT) (tests/cross.mk)
QEMU	 = $(if $(filter arm64,$(CROSS_ARCH)),qemu-aarch64 -cpu cortex-a53,qemu-arm -cpu cortex-a7)
ifneq ($(LIBC),musl)
CC	 = $(CROSS)gcc --sysroot=$(SYSROOT)
PKG_CONFIG = PKG_CONFIG_SYSROOT_DIR=$(SYSROOT) \
	PKG_CONFIG_LIBDIR=$(SYSROOT)/usr/lib/$(CROSS_TRIPLET)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig \
	pkg-config
endif
B	?= build-$(CROSS_ARCH)$(B_SUFFIX)
else ifneq ($(STATIC)$(MULTICALL),)
B	?= build$(B_SUFFIX)
endif

ifneq ($(STATIC),)
# LIBS (set by the Makefile) asks $(PKG_CONFIG) --libs: add the private
# libraries.  The glue is a whole object, so its position does not matter;
# it is built before the archive every program links, and a change to it
# remakes that archive (which leaves it out), so every program is relinked.
PKG_CONFIG := $(PKG_CONFIG) --static
STATIC_OBJS = $(B)/obj/lib/static_glue.o
LDFLAGS	+= -static -Wl,--wrap=getpwnam,--wrap=getpwuid,--wrap=setpwent \
	   -Wl,--wrap=getpwent,--wrap=endpwent,--wrap=dlopen,--wrap=dlerror \
	   $(STATIC_OBJS)
$(B)/libfacteur.a: $(STATIC_OBJS)
# the code and constants the idle daemons touch, ours and the libraries',
# side by side (init/idle.ld: most of a static build's idle memory); a
# change relinks, as the glue does, through the archive every program links
LDFLAGS	+= -Wl,-T,init/idle.ld
$(B)/libfacteur.a: init/idle.ld
# ld's --wrap does not see symbols inside LTO objects: keep the glue plain
$(STATIC_OBJS): CFLAGS += -fno-lto
endif

# MULTICALL=1: one executable $(B)/bin/facteur with every program in it
# (lib/multicall.c dispatches on argv[0]) and facteur-NAME symbolic links
# to it, instead of one executable per program.  Each program's sources are
# compiled again under $(B)/multi/PROG/ with main renamed facteur_PROG_main,
# then linked into one relocatable $(B)/multi/PROG.prog.o in which every
# other symbol is made local: two programs may well both have a global
# session_reply().
ifneq ($(MULTICALL),)
MULTI_NAME = $(subst -,_,$(patsubst facteur-%,%,$(1)))
OBJCOPY	 = $(CROSS)objcopy

all: $(B)/bin/facteur
# the per-program objects come from a chain of pattern rules, which make
# deletes as intermediate after the first build; the next make reads
# their .d files, wants them back and recompiles every program (seen:
# `make ipk` after make check's build, 100 s): keep them
.PRECIOUS: $(B)/multi/%.o
.SECONDEXPANSION:
$(B)/multi/%.o: $$(subst $$(firstword $$(subst /, ,$$*))/,,$$*).c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) \
	    -Dmain=facteur_$(call MULTI_NAME,$(firstword $(subst /, ,$*)))_main \
	    -Wno-missing-prototypes \
	    -c -o $@ $<
$(B)/multi/%.prog.o: $$(addprefix $(B)/multi/$$*/,$$(subst .c,.o,$$($$*_SRCS)))
	$(CC) $(filter -flto -ffunction-sections -fdata-sections,$(CFLAGS)) $(if $(filter -flto,$(CFLAGS)),-flinker-output=nolto-rel) \
	    -r -nostdlib -o $@.r $^
	$(OBJCOPY) -G facteur_$(call MULTI_NAME,$*)_main $@.r $@
	@rm -f $@.r
$(B)/multi/multicall.o: lib/multicall.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) '-DMULTICALL_PROGS=$(foreach p,$(BINS),X($(call MULTI_NAME,$(p))))' -c -o $@ $<
$(B)/bin/facteur: $$(addsuffix .prog.o,$$(addprefix $(B)/multi/,$$(BINS))) \
    $(B)/multi/multicall.o $(B)/libfacteur.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
endif
# the Makefile's rule for each program under MULTICALL=1: a link to the one
define MULTI_RULE
$(B)/bin/$(1): $(B)/bin/facteur
	ln -sf facteur $$@
endef

sysroot:
ifeq ($(CROSS),)
	@echo "make sysroot: give CROSS=arm-linux-gnueabihf- or CROSS=aarch64-linux-gnu-" >&2; exit 2
else
	@sh init/sysroot.sh $(CROSS_ARCH) $(SYSROOT)
endif

# ---- make install (init/install.sh) ----
PREFIX	?= /usr/local
INIT	?= systemd sysv
# INSTALL_NOBUILD=1: install what $(B)/bin has (tests), without `all`
install: $(if $(INSTALL_NOBUILD),,all)
	@B="$(B)" DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" \
	    SYSCONFDIR="$(SYSCONFDIR)" SBINDIR="$(SBINDIR)" INIT="$(INIT)" \
	    INSTALL="$(or $(INSTALL),install)" sh init/install.sh

.PHONY: sysroot install musl-deps

include init/package.mk
