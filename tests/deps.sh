#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/deps.sh - install the Debian packages facteur needs to build and test
# (make deps; also the first step of make check and make run).
#
# Only what is missing is installed, checked one by one with dpkg -s;
# apt-get update runs only if something is missing.  Needs root (or sudo)
# for that; with nothing missing it needs nothing and prints nothing.
#
# Cross builds get their toolchain and libraries from `make sysroot`
# (init/sysroot.sh), not from here: multiarch co-installation breaks on
# version skew.
set -e

BUILD="gcc make pkg-config libssl-dev libdb5.3-dev libc-ares-dev libsasl2-dev
libsasl2-modules clang libclang-rt-14-dev openssl ca-certificates publicsuffix
musl-tools dpkg-dev"
TESTS="swaks curl python3-aiosmtpd python3-dkim opendkim-tools dnsmasq-base
isync procps iproute2 libnet-ssleay-perl libio-socket-ssl-perl busybox-static
python3-dnspython python3-cryptography rspamd
python3-yaml python3-spf fetchmail getmail6 dovecot-imapd dovecot-pop3d
spamd spamc spamass-milter clamav-daemon clamav-milter pebble
fail2ban"

missing=""
for p in $BUILD $TESTS; do
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
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing </dev/null
