# SPDX-License-Identifier: ISC
# init/package.mk - packages of the static multi-call build (README
# "Installing on a box"), included by init/module.mk.
#
#   make ipk [CROSS=...] [IPK_ARCH=...] [IPK_OUTER=ar]
#                                 build-pkg/facteur_VERSION_ARCH.ipk (OpenWrt;
#                                 IPK_OUTER=ar: an ar archive, for Yocto's opkg)
#   make spk [CROSS=...] [SPK_ARCH=...]   build-pkg/facteur-VERSION-ARCH.spk (Synology DSM 7)
#   PKG_VERSION (default 0.1-1), PKG_OUT (default build-pkg),
#   PKG_PROFILE (default tiny; empty: the default profile, e.g. the
#   build-armhf-static that `make check` builds anyway), PKG_LIBC=musl or
#   glibc (the C library linked in: musl is OpenWrt's, and its build idles
#   in three fifths of glibc's memory; default: musl when that architecture's
#   musl libraries are built, `make musl-deps [CROSS=...]`, else glibc)
#
# Each first builds `make STATIC=1 PROFILE=$(PKG_PROFILE)` for CROSS (native: x86_64)
# in a sub-make, then packs its bin/ with init/openwrt/ipk.sh or
# init/synology/spk.sh.  The architecture names are the platforms' own:
# OpenWrt's package architectures (a static ARMv7 build runs on every
# arm_cortex-a7/a9/a15 target; set IPK_ARCH for another), Synology's
# `arch` values of INFO (SPK_ARCH: the list of platforms it installs on).

PKG_VERSION ?= 0.1-1
PKG_OUT	?= build-pkg
PKG_ARCH_NAME = $(if $(CROSS),$(CROSS_ARCH),x86_64)
PKG_PROFILE ?= tiny
PKG_LIBC ?= $(if $(wildcard $(MUSL_D)/.done),musl,glibc)
ifneq ($(filter-out musl glibc,$(PKG_LIBC)),)
$(error PKG_LIBC=$(PKG_LIBC): expected musl or glibc)
endif
PKG_MUSL = $(filter musl,$(PKG_LIBC))
PKG_B	 = build$(if $(CROSS),-$(CROSS_ARCH))$(if $(PKG_MUSL),-musl)$(if $(filter tiny,$(PKG_PROFILE)),-tiny)-static
IPK_ARCH ?= $(if $(filter armhf,$(PKG_ARCH_NAME)),arm_cortex-a7_neon-vfpv4,$(if \
	    $(filter arm64,$(PKG_ARCH_NAME)),aarch64_cortex-a53,x86_64))

SPK_NAME = $(if $(filter armhf,$(PKG_ARCH_NAME)),armv7,$(if \
	    $(filter arm64,$(PKG_ARCH_NAME)),aarch64,x86_64))
SPK_ARCH ?= $(if $(filter armv7,$(SPK_NAME)),armv7 armada370 armada375 armada38x armadaxp alpine alpine4k monaco,$(if \
	    $(filter aarch64,$(SPK_NAME)),aarch64 rtd1296 rtd1619b armada37xx,x86_64))

pkg-static:
	@$(MAKE) --no-print-directory STATIC=1 PROFILE=$(or $(PKG_PROFILE),default) $(if $(PKG_MUSL),LIBC=musl) B=$(PKG_B) all

ipk: pkg-static
	@IPK_OUTER=$(IPK_OUTER) sh init/openwrt/ipk.sh $(PKG_B)/bin $(PKG_OUT) $(IPK_ARCH) $(PKG_VERSION)

spk: pkg-static
	@sh init/synology/spk.sh $(PKG_B)/bin $(PKG_OUT) $(SPK_NAME) "$(SPK_ARCH)" $(PKG_VERSION)

.PHONY: pkg-static ipk spk
