#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/deps.sh - install the Debian packages facteur needs to build and test
# (make deps; also the first step of make check and make run).
#
# Only what is missing is installed, checked one by one with dpkg -s;
# apt-get update runs only if something is missing.  Needs root (or sudo)
# for that; with nothing missing it needs nothing and prints nothing.
#
#   DEPS_CROSS=armhf|arm64   also install the cross toolchain and
#                            Debian's libraries for that architecture (hook;
#                            see "Building for ARM" in README.md)
set -e

BUILD="gcc make pkg-config libssl-dev libdb5.3-dev libc-ares-dev libsasl2-dev
libsasl2-modules clang libclang-rt-14-dev openssl"
TESTS="swaks curl python3-aiosmtpd python3-dkim opendkim-tools dnsmasq-base
isync procps iproute2 libnet-ssleay-perl libio-socket-ssl-perl"

cross_packages() {
	case "$1" in
	armhf)	echo "gcc-arm-linux-gnueabihf qemu-user
libssl-dev:armhf libdb5.3-dev:armhf libc-ares-dev:armhf libsasl2-dev:armhf" ;;
	arm64)	echo "gcc-aarch64-linux-gnu qemu-user
libssl-dev:arm64 libdb5.3-dev:arm64 libc-ares-dev:arm64 libsasl2-dev:arm64" ;;
	"")	;;
	*)	echo "deps.sh: DEPS_CROSS must be armhf or arm64" >&2; exit 2 ;;
	esac
}

missing=""
for p in $BUILD $TESTS $(cross_packages "${DEPS_CROSS:-}"); do
	if ! dpkg -s "$p" >/dev/null 2>&1; then
		missing="$missing $p"
	elif ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps.sh: not root and no sudo; please install:$missing" >&2
	exit 1
fi
if [ -n "${DEPS_CROSS:-}" ]; then
	$SUDO dpkg --add-architecture "$DEPS_CROSS"
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing </dev/null
