#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/deps.sh - install the Debian packages facteur needs to build and test
# (make deps; also the first step of make check), or with the argument
# `run` only those the demo needs (the first step of make run).
#
# Only what is missing is installed, checked one by one with dpkg -s;
# apt-get update runs only if something is missing.  Needs root (or sudo)
# for that; with nothing missing it needs nothing and prints nothing.
#
# Cross builds get their toolchain and libraries from `make sysroot`
# (init/sysroot.sh), not from here: multiarch co-installation breaks on
# version skew.
set -e

# RUN: what `make run` needs: the build with gcc, what the daemons read
# (CA bundle, Public Suffix List), and what the demo tells you to use:
# swaks (its --tls needs the two Perl TLS modules, only recommended) and
# curl to send and read, init/dkim-check.py (dkimpy, OpenDKIM's
# opendkim-testmsg, dnspython for its DNS server, ip for its namespace)
RUN="gcc make pkg-config libssl-dev libdb5.3-dev libc-ares-dev libsasl2-dev
libsasl2-modules openssl ca-certificates publicsuffix swaks
libnet-ssleay-perl libio-socket-ssl-perl curl python3-dkim python3-dnspython
opendkim-tools iproute2"
BUILD="clang libclang-rt-14-dev musl-tools dpkg-dev autoconf automake libtool"
# dovecot-dev: the headers and libdovecot that tests/imaptest.mk builds
# Dovecot's imaptest against (dovecot-core, which dovecot-imapd brings,
# has the TLS module it loads at run time)
TESTS="python3-aiosmtpd dnsmasq-base python3-pyfuse3 fuse3
isync procps busybox-static msmtp s-nail mutt sendemail
python3-cryptography rspamd
python3-yaml python3-spf fetchmail getmail6 dovecot-imapd dovecot-pop3d
dovecot-dev
spamd spamc spamass-milter clamav-daemon clamav-milter pebble
fail2ban"

# `deps.sh run`: only RUN (make run); otherwise everything (make check)
if [ "${1:-}" = run ]; then
	ALL=$RUN
else
	ALL="$RUN $BUILD $TESTS"
fi

missing=""
for p in $ALL; do
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
